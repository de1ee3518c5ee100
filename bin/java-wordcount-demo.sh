#!/usr/bin/env bash
# The Kafka Streams word count demo (kafka-streams ${KAFKA_CLIENTS_VERSION:-2.0.0}),
# a stateful app whose store's changelog is a compacted topic.
# See examples/kafka-examples/src/main/java/io/kop/examples/WordCountDemo.java for its flags.
# --security PROTOCOL[:MECHANISM:USER:PASSWORD][:CA_PEM] connects over TLS and/or SASL
# (e.g. SASL_SSL:SCRAM-SHA-256:alice:secret:/path/ca.pem); see kafka-examples.sh.
exec "$(dirname "$0")/kafka-examples.sh" WordCountDemo "$@"
