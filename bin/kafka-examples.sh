#!/usr/bin/env bash
# Runs one of the Kafka client demos of examples/kafka-examples, building it
# first when needed. KAFKA_CLIENTS_VERSION picks the kafka-clients release
# (default 2.0.0). Usage: bin/kafka-examples.sh ClassName [args...]
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
exec java -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$jar" "io.kop.examples.$class" "$@"
