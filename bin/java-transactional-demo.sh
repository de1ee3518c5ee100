#!/usr/bin/env bash
# The Kafka transactions demo (kafka-clients ${KAFKA_CLIENTS_VERSION:-2.0.0}):
# --mode commit-abort | consume-transform-produce | fence | hang | check-aborted.
# See examples/kafka-examples/src/main/java/io/kop/examples/TransactionalDemo.java for its flags.
# --security PROTOCOL[:MECHANISM:USER:PASSWORD][:CA_PEM] connects over TLS and/or SASL
# (e.g. SASL_SSL:SCRAM-SHA-256:alice:secret:/path/ca.pem); see kafka-examples.sh.
exec "$(dirname "$0")/kafka-examples.sh" TransactionalDemo "$@"
