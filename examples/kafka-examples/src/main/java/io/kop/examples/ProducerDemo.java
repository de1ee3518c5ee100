package io.kop.examples;

import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Produces "message-N" records keyed "key-N". Asynchronous by default;
 * the argument {@code sync} waits for each acknowledgement. Runs until
 * stopped unless {@code --count N} is given.
 *
 * <pre>ProducerDemo [--bootstrap localhost:9092] [--topic test] [--count N] [--idempotent] [sync] [--client-config FILE]</pre>
 */
public final class ProducerDemo {
    public static void main(String[] argv) throws Exception {
        Args args = new Args(argv);
        String topic = args.get("topic", "test");
        long count = args.getLong("count", -1);
        boolean sync = args.has("sync");

        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args.get("bootstrap", "localhost:9092"));
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "kop-producer-demo");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, String.valueOf(args.has("idempotent")));
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());

        AtomicLong acked = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(args.withClientConfig(props))) {
            CountDownLatch done = new CountDownLatch(count < 0 ? 1 : (int) count);
            for (long i = 0; count < 0 || i < count; i++) {
                ProducerRecord<String, String> record = new ProducerRecord<>(topic, "key-" + i, "message-" + i);
                if (sync) {
                    RecordMetadata md = producer.send(record).get();
                    acked.incrementAndGet();
                    System.out.printf("sent key-%d to %s-%d at offset %d%n", i, md.topic(), md.partition(), md.offset());
                } else {
                    final long n = i;
                    producer.send(record, (md, err) -> {
                        if (err != null) {
                            failed.incrementAndGet();
                            System.err.printf("send key-%d failed: %s%n", n, err);
                        } else {
                            acked.incrementAndGet();
                            System.out.printf("sent key-%d to %s-%d at offset %d%n", n, md.topic(), md.partition(), md.offset());
                        }
                        done.countDown();
                    });
                }
            }
            producer.flush();
            if (!sync) {
                done.await();
            }
        }
        System.out.printf("producer done: %d acknowledged, %d failed%n", acked.get(), failed.get());
        System.exit(failed.get() == 0 ? 0 : 1);
    }
}
