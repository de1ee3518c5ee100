#!/usr/bin/env bash
# The Kafka Java client producer demo (kafka-clients ${KAFKA_CLIENTS_VERSION:-2.0.0}),
# against localhost:9092 unless --bootstrap HOST:PORT is given.
# See examples/kafka-examples/src/main/java/io/kop/examples/ProducerDemo.java for its flags.
exec "$(dirname "$0")/kafka-examples.sh" ProducerDemo "$@"
