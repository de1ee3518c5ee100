package io.kop.examples;

import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * A stateful Kafka Streams app, as a new user writes one: lines from --input
 * are split into words, grouped by word and counted in the state store
 * "counts" (a persistent RocksDB store whose changelog is a compacted topic
 * Streams creates), and the counts go to --output.
 *
 * <p>It runs until the latest counts it has emitted add up to --expect
 * words (each run's input should hold every word, so that every count is
 * emitted, restored ones included), then closes cleanly and prints
 * "count WORD N" per word and "wordcount done: TOTAL". A run with a fresh
 * --state-dir must restore the store from the changelog to count right.
 *
 * <pre>
 * --bootstrap HOST:PORT  --input TOPIC  --output TOPIC  --app-id ID
 * --state-dir DIR  --expect N  [--guarantee at_least_once|exactly_once]  [--timeout-s 120]
 * </pre>
 */
public final class WordCountDemo {
    public static void main(String[] argv) throws Exception {
        Args a = new Args(argv);
        long expect = a.getLong("expect", -1);
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("bootstrap", "localhost:9092"));
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.get("app-id", "kop-wordcount"));
        p.put(StreamsConfig.STATE_DIR_CONFIG, a.get("state-dir", "/tmp/kop-wordcount"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, a.get("guarantee", "at_least_once"));
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.String().getClass());
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.String().getClass());
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        // Forward every update, so the last count of each word is seen.
        p.put(StreamsConfig.CACHE_MAX_BYTES_BUFFERING_CONFIG, 0);
        p.put("consumer.auto.offset.reset", "earliest");
        // Streams does not leave its group on close: a restarted app waits
        // for the old member's session to time out (45 s by default in 3.x).
        p.put("consumer.session.timeout.ms", a.get("session-timeout-ms", "6000"));
        p.put("consumer.heartbeat.interval.ms", "1000");

        Map<String, Long> latest = new TreeMap<>();
        CountDownLatch done = new CountDownLatch(1);
        StreamsBuilder b = new StreamsBuilder();
        KTable<String, Long> counts = b.<String, String>stream(a.get("input", "wordcount-input"))
                .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\W+")))
                .filter((k, w) -> !w.isEmpty())
                .groupBy((k, w) -> w)
                .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts"));
        counts.toStream().foreach((w, n) -> {
            synchronized (latest) {
                latest.put(w, n);
                long sum = latest.values().stream().mapToLong(Long::longValue).sum();
                if (sum == expect) {
                    done.countDown();
                }
            }
        });
        counts.toStream().to(a.get("output", "wordcount-output"), Produced.with(Serdes.String(), Serdes.Long()));

        KafkaStreams streams = new KafkaStreams(b.build(), a.withClientConfig(p));
        streams.setUncaughtExceptionHandler((t, e) -> {
            System.out.println("wordcount failed: " + e);
            e.printStackTrace(System.out);
            System.exit(2);
        });
        streams.start();
        boolean ok = done.await(a.getLong("timeout-s", 120), TimeUnit.SECONDS);
        streams.close(); // close(long, TimeUnit) is gone in 3.x, close(Duration) is not in 2.0
        synchronized (latest) {
            for (Map.Entry<String, Long> e : latest.entrySet()) {
                System.out.println("count " + e.getKey() + " " + e.getValue());
            }
            long sum = latest.values().stream().mapToLong(Long::longValue).sum();
            if (!ok) {
                System.out.println("wordcount timed out: counted " + sum + " of " + expect + " words");
                System.exit(1);
            }
            System.out.println("wordcount done: " + sum);
        }
    }
}
