#!/usr/bin/env bash
# make run-pulsar: a real Apache Pulsar standalone (deploy/pulsar, jars from
# Maven Central, built on first use) and `kop standalone` storing its data
# in it, in the foreground. Ctrl-C (or SIGTERM) stops KOP, then Pulsar, each
# by its process id.
#
# Pulsar's ports and data: PULSAR_BROKER_PORT (6650), PULSAR_WEB_PORT
# (8080), PULSAR_BOOKIE_PORT (3181), PULSAR_DATA (deploy/pulsar/data).
# KOP: conf/kop_standalone.conf with its data in KOP_DATA
# (data/standalone-pulsar); arguments are passed to kop as flags
# (--kafkaListeners=PLAINTEXT://127.0.0.1:9093, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$root/bin/kop}
broker_port=${PULSAR_BROKER_PORT:-6650}
web_port=${PULSAR_WEB_PORT:-8080}
kop_data=${KOP_DATA:-$root/data/standalone-pulsar}

"$root/deploy/pulsar/pulsar.sh" up

kop_pid=
stop() {
  trap - INT TERM
  if [ -n "$kop_pid" ] && kill -0 "$kop_pid" 2>/dev/null; then
    kill -TERM "$kop_pid" 2>/dev/null || true
    wait "$kop_pid" 2>/dev/null || true
  fi
  "$root/deploy/pulsar/pulsar.sh" down || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM

# In the background so this shell can act on Ctrl-C (a background job of
# a script ignores SIGINT: it is stopped by the trap, with SIGTERM).
"$bin" standalone --config "$root/conf/kop_standalone.conf" --dataDir "$kop_data" \
  --brokerServiceUrl "pulsar://127.0.0.1:$broker_port" --webServiceUrl "http://127.0.0.1:$web_port" "$@" &
kop_pid=$!
set +e
wait "$kop_pid"
rc=$?
set -e
# KOP exited by itself (a bad flag, Pulsar gone): stop Pulsar too.
kop_pid=
stop
exit "$rc"
