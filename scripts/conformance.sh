#!/usr/bin/env bash
# Runs franz-go's own kgo integration suite (module github.com/twmb/franz-go,
# package pkg/kgo) against a fresh `kop standalone` on free loopback ports.
# Nothing is skipped by default (KGO_SKIP takes a -skip pattern). Share-group (KIP-932) and
# KIP-848 tests skip themselves when the broker does not offer those APIs, the
# SCRAM tests without KGO_TEST_SCRAM settings.
# With PULSAR=1 the broker stores its data in a Pulsar standalone
# (deploy/pulsar) started on free ports and stopped afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
FRANZ_GO=${FRANZ_GO:-$(cd "$root" && go list -m -f '{{.Version}}' github.com/twmb/franz-go)}
SKIP=${KGO_SKIP:-}
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  fi
  if [ -f "$work/pulsar/pulsar.pid" ]; then
    "$root/deploy/pulsar/pulsar.sh" down --data "$work/pulsar" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Five distinct free loopback ports, chosen while all five are held open.
read -r kport rport hport pb pw < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()')

if [ "${PULSAR:-0}" = 1 ]; then
  "$root/deploy/pulsar/pulsar.sh" up --data "$work/pulsar" --broker-port "$pb" --web-port "$pw"
  EXTRA_KOP_ARGS="${EXTRA_KOP_ARGS:-} --brokerServiceUrl=pulsar://127.0.0.1:$pb --webServiceUrl=http://127.0.0.1:$pw"
fi

dir=$(cd "$root" && go mod download -json "github.com/twmb/franz-go@$FRANZ_GO" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$dir" "$work/franz-go"
chmod -R u+w "$work/franz-go"

"$root/bin/kop" standalone --config "$root/conf/kop_standalone.conf" \
  --kafkaListeners="PLAINTEXT://127.0.0.1:$kport" --raftBindAddress="127.0.0.1:$rport" \
  --httpAddress="127.0.0.1:$hport" --dataDir="$work/data" --logLevel=warn \
  --logRetentionCheckIntervalMs=5000 ${EXTRA_KOP_ARGS:-} >"$work/kop.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null || { cat "$work/kop.log"; exit 1; }

echo "kgo suite $FRANZ_GO against kop on 127.0.0.1:$kport (skipping: ${SKIP:-nothing})"
status=0
(cd "$work/franz-go/pkg/kgo" && KGO_SEEDS="127.0.0.1:$kport" KGO_TEST_RF=1 KGO_TEST_RECORDS=50000 \
  go test -count=1 -timeout 25m ${SKIP:+-skip "$SKIP"} ${KGO_RUN:+-run "$KGO_RUN"} ${KGO_VERBOSE:+-v} .) || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- kop log tail"; tail -n 50 "$work/kop.log"
fi
exit "$status"
