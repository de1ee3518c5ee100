package io.kop.examples;

import java.time.Duration;
import java.util.Collections;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Consumes a topic as a member of a consumer group, from the earliest
 * offset when the group has none committed, committing as it goes. Runs
 * until stopped unless {@code --count N} is given; exits non-zero when
 * {@code --timeout-ms} passes first.
 *
 * <pre>ConsumerDemo [--bootstrap localhost:9092] [--topic test] [--group demo-group] [--count N] [--timeout-ms 60000] [--client-config FILE]</pre>
 */
public final class ConsumerDemo {
    public static void main(String[] argv) {
        Args args = new Args(argv);
        String topic = args.get("topic", "test");
        long count = args.getLong("count", -1);
        long timeoutMs = args.getLong("timeout-ms", 60_000);

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args.get("bootstrap", "localhost:9092"));
        props.put(ConsumerConfig.GROUP_ID_CONFIG, args.get("group", "demo-group"));
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "kop-consumer-demo");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());

        long received = 0;
        long deadline = System.currentTimeMillis() + timeoutMs;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(args.withClientConfig(props))) {
            consumer.subscribe(Collections.singletonList(topic));
            while (count < 0 || received < count) {
                if (count >= 0 && System.currentTimeMillis() > deadline) {
                    System.err.printf("consumer timed out after %d of %d records%n", received, count);
                    System.exit(1);
                }
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<String, String> r : records) {
                    received++;
                    System.out.printf("received %s=%s from %s-%d at offset %d%n", r.key(), r.value(), r.topic(), r.partition(), r.offset());
                }
                if (!records.isEmpty()) {
                    consumer.commitSync();
                }
            }
        }
        System.out.printf("consumer done: %d received%n", received);
    }
}
