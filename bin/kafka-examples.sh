#!/usr/bin/env bash
# Runs one of the Kafka client demos of examples/kafka-examples, building it
# first when needed. KAFKA_CLIENTS_VERSION picks the kafka-clients release
# (default 2.0.0). Usage: bin/kafka-examples.sh ClassName [args...]
#
# Besides the demo's own options, it takes
#   --security PROTOCOL[:MECHANISM:USER:PASSWORD][:CA_PEM]
# which connects the demo's clients over that security protocol:
#   --security SASL_SSL:SCRAM-SHA-256:alice:secret:/path/ca.pem
#   --security SASL_PLAINTEXT:SCRAM-SHA-512:alice:secret
#   --security SSL:/path/ca.pem
# MECHANISM is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; the password may hold
# ':' (for SASL_SSL the CA file is what follows the last ':'). CA_PEM holds
# the PEM CA certificate(s) the broker's certificate chains to (empty: the
# JVM's default trust store). kafka-clients before 2.7 cannot read PEM trust
# stores, so the certificates are imported with keytool into a PKCS12 trust
# store in a temporary directory, removed when the demo ends. The settings
# reach the demo as --client-config FILE (a properties file the demo adds to
# each client's configuration), which can also be given directly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${KAFKA_CLIENTS_VERSION:-2.0.0}
dir="$root/examples/kafka-examples"
jar="$dir/target/$version/kafka-examples.jar"
newest_src=$(find "$dir/src" "$dir/pom.xml" -newer "$jar" 2>/dev/null | head -n 1 || true)
if [ ! -f "$jar" ] || [ -n "$newest_src" ]; then
  echo "building kafka-examples against kafka-clients $version" >&2
  (cd "$dir" && mvn -q -B -Dkafka.version="$version" package) >&2
fi
class=$1
shift
java_cmd=(java -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$jar" "io.kop.examples.$class")

security=""
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --security)
      [ $# -ge 2 ] || { echo "--security needs a value" >&2; exit 2; }
      security=$2
      shift 2
      ;;
    --security=*)
      security=${1#--security=}
      shift
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done
if [ -z "$security" ]; then
  exec "${java_cmd[@]}" ${args[@]+"${args[@]}"}
fi

die() {
  echo "--security $1" >&2
  exit 2
}
# Escapes for a Java properties value, and for a quoted JAAS option value.
prop_escape() {
  local s=$1
  printf '%s' "${s//\\/\\\\}"
}
jaas_escape() {
  local s=$1
  s=${s//\\/\\\\}
  printf '%s' "${s//\"/\\\"}"
}

proto=${security%%:*}
rest=""
case $security in *:*) rest=${security#*:} ;; esac
mech="" user="" password="" ca="" tls=false sasl=false
case $proto in
  PLAINTEXT) ;;
  SSL) tls=true ca=$rest ;;
  SASL_PLAINTEXT | SASL_SSL)
    sasl=true
    if [ "$proto" = SASL_SSL ]; then tls=true; fi
    [[ $rest == *:*:* ]] || die "$proto needs MECHANISM:USER:PASSWORD (then :CA_PEM for SASL_SSL)"
    mech=${rest%%:*}
    rest=${rest#*:}
    user=${rest%%:*}
    rest=${rest#*:}
    if $tls; then
      [[ $rest == *:* ]] || die "SASL_SSL needs MECHANISM:USER:PASSWORD:CA_PEM (CA_PEM may be empty)"
      ca=${rest##*:}
      password=${rest%:*}
    else
      password=$rest
    fi
    ;;
  *) die "protocol '$proto' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL" ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kop-demo-security.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
props="$tmp/client.properties"
{
  echo "security.protocol=$proto"
  if $sasl; then
    case $mech in
      PLAIN) module=org.apache.kafka.common.security.plain.PlainLoginModule ;;
      SCRAM-SHA-256 | SCRAM-SHA-512) module=org.apache.kafka.common.security.scram.ScramLoginModule ;;
      *) die "mechanism '$mech' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512" ;;
    esac
    echo "sasl.mechanism=$mech"
    echo "sasl.jaas.config=$(prop_escape "$module required username=\"$(jaas_escape "$user")\" password=\"$(jaas_escape "$password")\";")"
  fi
} >"$props"
if $tls && [ -n "$ca" ]; then
  [ -r "$ca" ] || die "cannot read the CA file $ca"
  # keytool -importcert takes one certificate per alias: split the PEM.
  awk -v dir="$tmp" '
    /-----BEGIN CERTIFICATE-----/ { n++; f = sprintf("%s/ca-%d.pem", dir, n) }
    f != "" { print > f }
    /-----END CERTIFICATE-----/ { if (f != "") close(f); f = "" }' "$ca"
  shopt -s nullglob
  pems=("$tmp"/ca-*.pem)
  [ ${#pems[@]} -gt 0 ] || die "no PEM certificate in $ca"
  storepass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  for pem in "${pems[@]}"; do
    if ! keytool -importcert -noprompt -alias "$(basename "$pem" .pem)" -file "$pem" \
      -keystore "$tmp/truststore.p12" -storetype PKCS12 -storepass "$storepass" >"$tmp/keytool.out" 2>&1; then
      cat "$tmp/keytool.out" >&2
      die "keytool could not import the certificates of $ca"
    fi
  done
  {
    echo "ssl.truststore.location=$(prop_escape "$tmp/truststore.p12")"
    echo "ssl.truststore.type=PKCS12"
    echo "ssl.truststore.password=$storepass"
  } >>"$props"
fi

# Not exec: the temporary directory goes when the demo ends. Signals are
# passed on to it; its status is the script's.
"${java_cmd[@]}" ${args[@]+"${args[@]}"} --client-config "$props" <&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM HUP
while :; do
  wait "$child" && rc=0 || rc=$?
  kill -0 "$child" 2>/dev/null || break
done
exit "$rc"
