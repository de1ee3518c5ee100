#!/usr/bin/env bash
# The Kafka transactions demo (kafka-clients ${KAFKA_CLIENTS_VERSION:-2.0.0}):
# --mode commit-abort | consume-transform-produce | fence | hang | check-aborted.
# See examples/kafka-examples/src/main/java/io/kop/examples/TransactionalDemo.java for its flags.
exec "$(dirname "$0")/kafka-examples.sh" TransactionalDemo "$@"
