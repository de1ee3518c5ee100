#!/usr/bin/env bash
# A real Apache Kafka 3.9 broker (KRaft, combined broker+controller, jars
# from Maven Central) and Kafka's perf tools, for side-by-side benchmarks
# with KOP, on 127.0.0.1 with configurable ports.
#
#   kafka.sh build                      resolve the jars into target/lib
#   kafka.sh up   [--data DIR] [--port P] [--controller-port P] [--fsync]
#   kafka.sh down [--data DIR]
#   kafka.sh perf-producer ARGS...      org.apache.kafka.tools.ProducerPerformance
#   kafka.sh perf-consumer ARGS...      org.apache.kafka.tools.ConsumerPerformance
#
# Defaults: KAFKA_DATA (deploy/kafka/data), KAFKA_PORT (9094),
# KAFKA_CONTROLLER_PORT (9095). `up` formats DIR/logs on first use, returns
# once the broker has started and accepts connections (KAFKA_START_TIMEOUT,
# 120 s), and prints its address; the log is DIR/kafka.log, the process id is
# in DIR/kafka.pid, which `down` uses to stop it. --fsync flushes the log
# before every acknowledgement (log.flush.interval.messages=1), as KOP does.
# The perf tools log warnings to stderr: stdout holds only their results.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${KAFKA_DATA:-$here/data}
port=${KAFKA_PORT:-9094}
controller_port=${KAFKA_CONTROLLER_PORT:-9095}
start_timeout=${KAFKA_START_TIMEOUT:-120}
fsync=false

# The JVM options of Kafka's kafka-run-class.sh.
jvm_perf=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
  -XX:MaxInlineLevel=15 -Djava.awt.headless=true)
tools_log=-Dlog4j.configuration=file:$here/tools-log4j.properties

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

build() {
  if [ -d "$here/target/lib" ] && [ "$here/target/lib" -nt "$here/pom.xml" ]; then
    return
  fi
  echo "kafka.sh: resolving Apache Kafka from Maven Central" >&2
  rm -rf "$here/target/lib"
  mvn -B -q -s "$here/settings.xml" -f "$here/pom.xml" package >&2
  touch "$here/target/lib"
}

# A Kafka tool in the foreground, with kafka-*-perf-test.sh's heap.
tool() {
  build
  exec java -Xmx512M "${jvm_perf[@]}" "$tools_log" -cp "$here/target/lib/*" "$@"
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case "$cmd" in
  perf-producer) tool org.apache.kafka.tools.ProducerPerformance "$@" ;;
  perf-consumer) tool org.apache.kafka.tools.ConsumerPerformance "$@" ;;
esac
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --controller-port) controller_port=$2; shift 2 ;;
    --fsync) fsync=true; shift ;;
    *) echo "kafka.sh: unknown argument $1" >&2; usage ;;
  esac
done

write_config() {
  cat >"$data/server.properties" <<EOF
# Written by kafka.sh up: a single KRaft node, broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data/logs
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.partitions=1
auto.create.topics.enable=true
EOF
  if $fsync; then
    echo "log.flush.interval.messages=1" >>"$data/server.properties"
  fi
}

started() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
    tail -c "+$log_start" "$data/kafka.log" 2>/dev/null | grep -q 'Kafka Server started'
}

# This start's output and errors (with their exception's message), then the
# log's last lines, on stderr.
show_log() {
  {
    tail -n 20 "$data/stdout.log"
    tail -c "+$log_start" "$data/kafka.log" |
      grep -A1 -E '^\[[^]]*\] (ERROR|FATAL)' | grep -v '^--$' | head -n 20
    echo ...
    tail -n 20 "$data/kafka.log"
  } >&2 2>/dev/null || true
}

up() {
  build
  mkdir -p "$data"
  data=$(cd "$data" && pwd)
  pidfile="$data/kafka.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "kafka.sh: already running (pid $(cat "$pidfile"))" >&2
    exit 1
  fi
  write_config
  cp="$here/target/lib/*"
  if [ ! -f "$data/logs/meta.properties" ]; then
    id=$(java "$tools_log" -cp "$cp" kafka.tools.StorageTool random-uuid)
    java "$tools_log" -cp "$cp" kafka.tools.StorageTool format -t "$id" \
      -c "$data/server.properties" >>"$data/stdout.log" 2>&1 ||
      { tail -n 20 "$data/stdout.log" >&2; exit 1; }
  fi
  # Only log lines written from now on count as this start's.
  log_start=$(($(stat -c %s "$data/kafka.log" 2>/dev/null || echo 0) + 1))
  (exec nohup java -Xmx1G -Xms1G "${jvm_perf[@]}" \
    -Dlog4j.configuration="file:$here/log4j.properties" -Dkafka.logs.dir="$data" \
    -cp "$cp" kafka.Kafka "$data/server.properties" \
    >>"$data/stdout.log" 2>&1 </dev/null) &
  echo $! >"$pidfile"
  pid=$(cat "$pidfile")
  deadline=$((SECONDS + start_timeout))
  until started; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "kafka.sh: Kafka exited during start-up" >&2
      show_log
      rm -f "$pidfile"
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "kafka.sh: Kafka did not start within ${start_timeout}s" >&2
      show_log
      stop
      exit 1
    fi
    sleep 0.2
  done
  echo "kafka.sh: Kafka up (pid $pid): 127.0.0.1:$port"
}

stop() {
  pidfile="$data/kafka.pid"
  [ -f "$pidfile" ] || { echo "kafka.sh: not running (no $pidfile)"; return 0; }
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
  echo "kafka.sh: Kafka stopped (pid $pid)"
}

case "$cmd" in
  build) build ;;
  up) up ;;
  down) stop ;;
  *) usage ;;
esac
