#!/usr/bin/env bash
# A real Apache Pulsar standalone (jars from Maven Central) for KOP's
# development and tests, on 127.0.0.1 with configurable ports.
#
#   pulsar.sh build                     resolve the jars into target/lib
#   pulsar.sh up   [--data DIR] [--broker-port P] [--web-port P] [--bookie-port P] [--extra-conf FILE]
#   pulsar.sh down [--data DIR]
#
# Defaults: PULSAR_DATA (deploy/pulsar/data), PULSAR_BROKER_PORT (6650),
# PULSAR_WEB_PORT (8080), PULSAR_BOOKIE_PORT (3181). `up` returns once the
# admin API answers and public/default exists, and prints the service URLs;
# the process id is in DIR/pulsar.pid, which `down` uses to stop it.
# --extra-conf appends FILE's keys to standalone.conf (later keys win: token
# authentication, TLS); PULSAR_ADMIN_TOKEN is then the token `up` checks the
# admin API with.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${PULSAR_DATA:-$here/data}
broker_port=${PULSAR_BROKER_PORT:-6650}
web_port=${PULSAR_WEB_PORT:-8080}
bookie_port=${PULSAR_BOOKIE_PORT:-3181}
start_timeout=${PULSAR_START_TIMEOUT:-180}
extra_conf=

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --broker-port) broker_port=$2; shift 2 ;;
    --web-port) web_port=$2; shift 2 ;;
    --bookie-port) bookie_port=$2; shift 2 ;;
    --extra-conf) extra_conf=$2; shift 2 ;;
    *) echo "pulsar.sh: unknown argument $1" >&2; usage ;;
  esac
done

build() {
  if [ -d "$here/target/lib" ] && [ "$here/target/lib" -nt "$here/pom.xml" ]; then
    return
  fi
  echo "pulsar.sh: resolving Apache Pulsar from Maven Central (first time: a few minutes)"
  rm -rf "$here/target/lib"
  mvn -B -q -s "$here/settings.xml" -f "$here/pom.xml" package
  touch "$here/target/lib"
}

admin_ok() {
  local auth=()
  if [ -n "${PULSAR_ADMIN_TOKEN:-}" ]; then
    auth=(-H "Authorization: Bearer $PULSAR_ADMIN_TOKEN")
  fi
  curl -fsS "${auth[@]}" "http://127.0.0.1:$web_port/admin/v2/clusters" >/dev/null 2>&1 &&
    curl -fsS "${auth[@]}" "http://127.0.0.1:$web_port/admin/v2/namespaces/public" 2>/dev/null | grep -q 'public/default'
}

up() {
  build
  mkdir -p "$data"
  pidfile="$data/pulsar.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "pulsar.sh: already running (pid $(cat "$pidfile"))" >&2
    exit 1
  fi
  sed -e "s/@BROKER_PORT@/$broker_port/" -e "s/@WEB_PORT@/$web_port/" \
    "$here/standalone.conf" >"$data/standalone.conf"
  if [ -n "$extra_conf" ]; then
    cat "$extra_conf" >>"$data/standalone.conf"
  fi
  # Run from the data directory: standalone writes relative paths there.
  (cd "$data" && exec nohup java -Xms256m -Xmx1g -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$here/log4j2.xml" -Dpulsar.log.dir="$data" \
    -Djava.net.preferIPv4Stack=true \
    -cp "$here/target/lib/*" org.apache.pulsar.PulsarStandaloneStarter \
    --config "$data/standalone.conf" --no-functions-worker --no-stream-storage \
    --bookkeeper-dir "$data/bookkeeper" --metadata-dir "$data/metadata" \
    --bookkeeper-port "$bookie_port" -a 127.0.0.1 \
    >"$data/stdout.log" 2>&1 </dev/null) &
  echo $! >"$pidfile"
  pid=$(cat "$pidfile")
  deadline=$((SECONDS + start_timeout))
  until admin_ok; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "pulsar.sh: Pulsar exited during start-up" >&2
      tail -n 50 "$data/stdout.log" "$data/pulsar.log" >&2 2>/dev/null || true
      rm -f "$pidfile"
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "pulsar.sh: Pulsar did not answer within ${start_timeout}s" >&2
      tail -n 50 "$data/pulsar.log" >&2 || true
      stop
      exit 1
    fi
    sleep 1
  done
  echo "pulsar.sh: Pulsar up (pid $pid): pulsar://127.0.0.1:$broker_port http://127.0.0.1:$web_port"
}

stop() {
  pidfile="$data/pulsar.pid"
  [ -f "$pidfile" ] || { echo "pulsar.sh: not running (no $pidfile)"; return 0; }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pidfile"
  echo "pulsar.sh: Pulsar stopped (pid $pid)"
}

case "$cmd" in
  build) build ;;
  up) up ;;
  down) stop ;;
  *) usage ;;
esac
