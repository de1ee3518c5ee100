#!/usr/bin/env bash
# The Kafka Streams word count demo (kafka-streams ${KAFKA_CLIENTS_VERSION:-2.0.0}),
# a stateful app whose store's changelog is a compacted topic.
# See examples/kafka-examples/src/main/java/io/kop/examples/WordCountDemo.java for its flags.
exec "$(dirname "$0")/kafka-examples.sh" WordCountDemo "$@"
