package io.kop.examples;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.AdminClient;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Kafka transactions as applications use them, one scenario per --mode, each
 * ending in one line to check: "transactional done: ..." (or "transactional
 * hanging"), or "transactional failed: ..." and a non-zero exit. Only APIs
 * of kafka-clients 2.0.0 are used, so it builds against 2.0.0 and 3.9.1.
 *
 * <ul>
 * <li>{@code commit-abort}: three transactions of --count records each on
 *     --topic: "committed-i" committed, "aborted-i" aborted, "committed2-i"
 *     committed. A read_committed reader sees exactly the 2N committed values,
 *     in order per partition; a read_uncommitted one sees all 3N.
 *     Prints "transactional done: committed=2N aborted=N".</li>
 * <li>{@code consume-transform-produce}: a read_committed member of --group
 *     reads --count records of --input and, one transaction per poll, writes
 *     them upper-cased to --output with the consumed offsets
 *     (sendOffsetsToTransaction). Then the group's committed offsets equal
 *     --input's end offsets (produce --input non-transactionally) and a
 *     read_committed reader finds the N values on --output.
 *     Prints "transactional done: transformed=N".</li>
 * <li>{@code fence}: p1 opens a transaction and writes; p2, with the same
 *     --transactional-id, initializes, which fences p1: p1's commit fails
 *     with ProducerFencedException (or InvalidProducerEpochException), as
 *     does its send first with --fenced-op send; p2
 *     commits --count records that read_committed readers alone see.
 *     Prints "transactional done: fenced".</li>
 * <li>{@code hang}: opens a transaction with --transaction-timeout-ms
 *     (default 5000 here), writes --count records "&lt;--value-prefix&gt;i"
 *     (default "hung-"), flushes, prints "transactional hanging" and halts
 *     the JVM without committing, as a producer killed mid-transaction.</li>
 * <li>{@code check-aborted}: a read_committed reader waits until it reads
 *     to the end of --topic (its last stable offset reaches the high
 *     watermark, as once a hung transaction times out and is aborted), and
 *     fails on any value starting with --absent-prefix (default "hung-").
 *     Prints "transactional done: visible=K", K the records it read
 *     (checked against --expect K when given).</li>
 * </ul>
 *
 * <pre>
 * --mode MODE  [--bootstrap localhost:9092]  [--topic transactional]  [--count 10]
 * [--transactional-id kop-transactional-demo]  [--input T --output T --group G]
 * [--partitions P (create the topics first)]  [--max-poll-records 10]
 * [--fenced-op commit|send (fence: what p1 tries once fenced)]  [--transaction-timeout-ms 60000]  [--value-prefix hung-]  [--absent-prefix hung-]  [--expect K]
 * [--timeout-ms 60000 (each wait)]  [--max-block-ms 30000]  [--watchdog-ms 200000 (whole run)]
 * </pre>
 */
public final class TransactionalDemo {
    private static volatile String phase = "starting";
    /** Numbers client.id, which each client (its JMX beans) needs its own of. */
    private static final AtomicInteger clients = new AtomicInteger();

    private final Args a;
    private final String bootstrap;
    private final long timeoutMs;
    private final long maxBlockMs;

    private TransactionalDemo(Args a) {
        this.a = a;
        this.bootstrap = a.get("bootstrap", "localhost:9092");
        this.timeoutMs = a.getLong("timeout-ms", 60_000);
        this.maxBlockMs = a.getLong("max-block-ms", 30_000);
    }

    public static void main(String[] argv) {
        Args a = new Args(argv);
        String mode = a.get("mode", "");
        long watchdogMs = a.getLong("watchdog-ms", 200_000);
        // Each wait is bounded on its own; the watchdog bounds the whole run
        // whatever a client does.
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(watchdogMs);
            } catch (InterruptedException e) {
                return;
            }
            fail("timed out after " + watchdogMs + " ms while " + phase, null);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            TransactionalDemo d = new TransactionalDemo(a);
            String result;
            switch (mode) {
                case "commit-abort":
                    result = d.commitAbort();
                    break;
                case "consume-transform-produce":
                    result = d.consumeTransformProduce();
                    break;
                case "fence":
                    result = d.fence();
                    break;
                case "hang":
                    d.hang();
                    return; // not reached: hang halts the JVM
                case "check-aborted":
                    result = d.checkAborted();
                    break;
                default:
                    throw new Failure("unknown --mode '" + mode
                            + "': want commit-abort, consume-transform-produce, fence, hang or check-aborted");
            }
            System.out.println("transactional done: " + result);
            System.out.flush();
            System.exit(0);
        } catch (Failure f) {
            fail(f.getMessage(), f.getCause());
        } catch (Throwable t) {
            fail(t + " while " + phase, t);
        }
    }

    /** A check that did not hold. */
    private static final class Failure extends RuntimeException {
        Failure(String message) {
            super(message);
        }

        Failure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private static void fail(String message, Throwable cause) {
        System.out.println("transactional failed: " + message);
        System.err.println("transactional failed: " + message);
        if (cause != null) {
            cause.printStackTrace();
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(1);
    }

    private static void step(String what) {
        phase = what;
    }

    /** A producer call, run by bounded. */
    private interface Call {
        void run() throws Exception;
    }

    private static final ExecutorService calls = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "producer-call");
        t.setDaemon(true);
        return t;
    });

    /**
     * Runs call, failing when it takes longer than --max-block-ms and 10 s:
     * in kafka-clients 2.0.0 initTransactions, commitTransaction,
     * abortTransaction, flush and close wait without bound. The client's own
     * errors (3.x times out after max.block.ms) are thrown as they are.
     * When it fails, the producer is left unclosed: main halts the JVM.
     */
    private void bounded(String what, Call call) throws Exception {
        step(what);
        Future<?> f = calls.submit(() -> {
            call.run();
            return null;
        });
        long limit = maxBlockMs + 10_000;
        try {
            f.get(limit, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new Failure(what + " did not return in " + limit + " ms");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            throw c instanceof Exception ? (Exception) c : e;
        }
    }

    // ---- commit-abort ------------------------------------------------------

    private String commitAbort() throws Exception {
        String topic = a.get("topic", "transactional");
        int n = (int) a.getLong("count", 10);
        createTopics(topic);
        KafkaProducer<String, String> p = producer(a.get("transactional-id", "kop-transactional-demo"));
        bounded("initTransactions", p::initTransactions);
        transaction(p, topic, "committed-", n, true);
        transaction(p, topic, "aborted-", n, false);
        transaction(p, topic, "committed2-", n, true);
        bounded("closing the producer", p::close);

        List<String> committed = new ArrayList<>();
        List<String> all = new ArrayList<>();
        for (String prefix : new String[] {"committed-", "aborted-", "committed2-"}) {
            for (int i = 0; i < n; i++) {
                all.add(prefix + i);
                if (!prefix.equals("aborted-")) {
                    committed.add(prefix + i);
                }
            }
        }
        Read rc = read(topic, "read_committed", 2 * n, null);
        rc.requireEnd(topic);
        for (ConsumerRecord<String, String> r : rc.records) {
            if (r.value().startsWith("aborted-")) {
                throw new Failure("read_committed consumer saw aborted record " + describe(r));
            }
        }
        checkExactlyInOrder("read_committed", rc.records, committed);
        Read ru = read(topic, "read_uncommitted", 3 * n, null);
        ru.requireEnd(topic);
        checkExactlyInOrder("read_uncommitted", ru.records, all);
        return "committed=" + 2 * n + " aborted=" + n;
    }

    private void transaction(KafkaProducer<String, String> p, String topic, String prefix, int n, boolean commit)
            throws Exception {
        bounded("beginTransaction (" + prefix + "*)", p::beginTransaction);
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            step("sending " + prefix + i);
            sent.add(p.send(new ProducerRecord<>(topic, "key-" + i, prefix + i)));
        }
        awaitSends(p, sent);
        if (commit) {
            bounded("commitTransaction (" + prefix + "*)", p::commitTransaction);
        } else {
            bounded("abortTransaction (" + prefix + "*)", p::abortTransaction);
        }
        System.out.printf("%s transaction of %d records %s*%n", commit ? "committed" : "aborted", n, prefix);
    }

    private void awaitSends(KafkaProducer<String, String> p, List<Future<RecordMetadata>> sent) throws Exception {
        bounded("flushing", p::flush);
        for (Future<RecordMetadata> f : sent) {
            step("awaiting a send");
            try {
                f.get(timeoutMs, TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                throw new Failure("send failed: " + e.getCause(), e.getCause());
            }
        }
    }

    /**
     * Checks that records hold each of want exactly once and that, per
     * partition, they come in want's order.
     */
    private static void checkExactlyInOrder(String who, List<ConsumerRecord<String, String>> records, List<String> want) {
        Map<String, Integer> rank = new HashMap<>();
        for (int i = 0; i < want.size(); i++) {
            rank.put(want.get(i), i);
        }
        Map<String, Integer> seen = new HashMap<>();
        Map<Integer, Integer> lastRank = new HashMap<>();
        for (ConsumerRecord<String, String> r : records) {
            Integer k = rank.get(r.value());
            if (k == null) {
                throw new Failure(who + " consumer saw unexpected record " + describe(r));
            }
            if (seen.put(r.value(), k) != null) {
                throw new Failure(who + " consumer saw " + r.value() + " twice, the second time " + describe(r));
            }
            Integer prev = lastRank.put(r.partition(), k);
            if (prev != null && prev > k) {
                throw new Failure(who + " consumer saw " + describe(r) + " after " + want.get(prev) + " in the same partition");
            }
        }
        if (seen.size() != want.size()) {
            List<String> missing = new ArrayList<>();
            for (String w : want) {
                if (!seen.containsKey(w)) {
                    missing.add(w);
                }
            }
            throw new Failure(who + " consumer saw " + seen.size() + " of " + want.size() + " records; missing " + missing);
        }
        System.out.printf("%s consumer saw the %d expected records%n", who, want.size());
    }

    // ---- consume-transform-produce ------------------------------------------

    private String consumeTransformProduce() throws Exception {
        String input = a.get("input", "transactional-input");
        String output = a.get("output", "transactional-output");
        String group = a.get("group", "kop-transactional-group");
        int n = (int) a.getLong("count", 10);
        createTopics(input, output);
        Map<TopicPartition, Long> outputStart = highWatermarks(output);

        List<String> produced = new ArrayList<>();
        int transactions = 0;
        Properties cp = consumerProps(group, "read_committed");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, a.get("max-poll-records", "10"));
        KafkaProducer<String, String> p = producer(a.get("transactional-id", "kop-transactional-demo"));
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
            bounded("initTransactions", p::initTransactions);
            c.subscribe(Collections.singletonList(input));
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (produced.size() < n) {
                if (System.currentTimeMillis() > deadline) {
                    throw new Failure("processed " + produced.size() + " of " + n + " records of " + input
                            + " in " + timeoutMs + " ms");
                }
                step("polling " + input);
                ConsumerRecords<String, String> records = c.poll(Duration.ofMillis(500));
                if (records.isEmpty()) {
                    continue;
                }
                bounded("beginTransaction", p::beginTransaction);
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                for (ConsumerRecord<String, String> r : records) {
                    String v = r.value() == null ? "" : r.value().toUpperCase(Locale.ROOT);
                    sent.add(p.send(new ProducerRecord<>(output, r.key(), v)));
                    produced.add(v);
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                awaitSends(p, sent);
                bounded("sendOffsetsToTransaction", () -> p.sendOffsetsToTransaction(offsets, group));
                bounded("commitTransaction", p::commitTransaction);
                transactions++;
                System.out.printf("transaction %d: %d records, offsets %s%n", transactions, records.count(), offsets(offsets));
            }
            step("closing the consumer");
        }
        bounded("closing the producer", p::close);
        if (produced.size() != n) {
            throw new Failure("processed " + produced.size() + " records of " + input + ", want " + n);
        }
        System.out.printf("processed %d records in %d transactions%n", n, transactions);

        // The group's offsets, committed with the transactions, reach the end.
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(group, "read_committed"))) {
            List<TopicPartition> tps = partitions(c, input, System.currentTimeMillis() + timeoutMs);
            long deadline = System.currentTimeMillis() + timeoutMs;
            Map<TopicPartition, Long> committed = new TreeMap<>(TransactionalDemo::compare);
            Map<TopicPartition, Long> ends = new TreeMap<>(TransactionalDemo::compare);
            while (true) {
                step("checking the group's committed offsets");
                ends.putAll(c.endOffsets(tps, Duration.ofMillis(maxBlockMs)));
                boolean same = true;
                for (TopicPartition tp : tps) {
                    OffsetAndMetadata om = c.committed(tp, Duration.ofMillis(maxBlockMs));
                    committed.put(tp, om == null ? -1L : om.offset());
                    same &= committed.get(tp).equals(ends.get(tp));
                }
                if (same) {
                    break;
                }
                if (System.currentTimeMillis() > deadline) {
                    throw new Failure("group " + group + " committed offsets " + committed + " on " + input
                            + ", its end offsets are " + ends);
                }
                Thread.sleep(200);
            }
            System.out.printf("group %s committed offsets %s on %s: its end offsets%n", group, committed, input);
        }

        Read out = read(output, "read_committed", n, outputStart);
        out.requireEnd(output);
        List<String> got = new ArrayList<>();
        for (ConsumerRecord<String, String> r : out.records) {
            got.add(r.value());
        }
        List<String> want = new ArrayList<>(produced);
        Collections.sort(got);
        Collections.sort(want);
        if (!got.equals(want)) {
            throw new Failure("read_committed consumer saw " + got.size() + " records on " + output + ": " + got
                    + "; want " + want);
        }
        System.out.printf("read_committed consumer saw the %d transformed records on %s%n", n, output);
        return "transformed=" + n;
    }

    // ---- fence ---------------------------------------------------------------

    private String fence() throws Exception {
        String topic = a.get("topic", "transactional-fence");
        String txid = a.get("transactional-id", "kop-transactional-demo");
        int n = (int) a.getLong("count", 1);
        createTopics(topic);
        List<String> p1Values = new ArrayList<>();
        List<String> p2Values = new ArrayList<>();
        KafkaProducer<String, String> p1 = producer(txid);
        bounded("p1 initTransactions", p1::initTransactions);
        bounded("p1 beginTransaction", p1::beginTransaction);
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            p1Values.add("fenced-p1-" + i);
            sent.add(p1.send(new ProducerRecord<>(topic, "key-" + i, "fenced-p1-" + i)));
        }
        awaitSends(p1, sent);
        System.out.printf("p1 wrote %d records in an open transaction%n", n);

        KafkaProducer<String, String> p2 = producer(txid);
        bounded("p2 initTransactions (fencing p1)", p2::initTransactions);
        System.out.println("p2 initialized the same transactional.id");

        String op = a.get("fenced-op", "commit");
        try {
            if (op.equals("send")) {
                step("p1 send after being fenced");
                try {
                    p1.send(new ProducerRecord<>(topic, "key-0", "fenced-p1-late")).get(timeoutMs, TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    throw e.getCause() instanceof KafkaException ? (KafkaException) e.getCause() : new KafkaException(e.getCause());
                }
                System.out.println("p1's send after being fenced succeeded");
            }
            bounded("p1 commitTransaction after being fenced", p1::commitTransaction);
            throw new Failure("p1 committed after p2 initialized the same transactional.id: it was not fenced");
        } catch (KafkaException e) {
            if (fencedCause(e) == null) {
                throw new Failure("p1's " + op + " failed, but not as fenced: " + chain(e), e);
            }
            System.out.printf("p1 fenced (%s): %s%n", op, chain(e));
        }
        bounded("closing p1", p1::close);

        bounded("p2 beginTransaction", p2::beginTransaction);
        sent.clear();
        for (int i = 0; i < n; i++) {
            p2Values.add("fencer-p2-" + i);
            sent.add(p2.send(new ProducerRecord<>(topic, "key-" + i, "fencer-p2-" + i)));
        }
        awaitSends(p2, sent);
        bounded("p2 commitTransaction", p2::commitTransaction);
        System.out.printf("p2 committed %d records%n", n);
        bounded("closing p2", p2::close);

        Read rc = read(topic, "read_committed", n, null);
        rc.requireEnd(topic);
        checkExactlyInOrder("read_committed", rc.records, p2Values);
        List<String> all = new ArrayList<>(p1Values);
        all.addAll(p2Values);
        Read ru = read(topic, "read_uncommitted", 2 * n, null);
        ru.requireEnd(topic);
        checkExactlyInOrder("read_uncommitted", ru.records, all);
        return "fenced";
    }

    /** The fenced error in e's cause chain, or null. */
    private static Throwable fencedCause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            // InvalidProducerEpochException is not in kafka-clients 2.0.0.
            if (t instanceof ProducerFencedException
                    || t.getClass().getSimpleName().equals("InvalidProducerEpochException")) {
                return t;
            }
        }
        return null;
    }

    private static String chain(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (b.length() > 0) {
                b.append(" <- caused by ");
            }
            b.append(t.getClass().getName()).append(": ").append(t.getMessage());
        }
        return b.toString();
    }

    // ---- hang and check-aborted ---------------------------------------------

    private void hang() throws Exception {
        String topic = a.get("topic", "transactional-hang");
        String prefix = a.get("value-prefix", "hung-");
        int n = (int) a.getLong("count", 10);
        createTopics(topic);
        KafkaProducer<String, String> p = producer(a.get("transactional-id", "kop-transactional-demo"));
        bounded("initTransactions", p::initTransactions);
        bounded("beginTransaction", p::beginTransaction);
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            sent.add(p.send(new ProducerRecord<>(topic, "key-" + i, prefix + i)));
        }
        awaitSends(p, sent);
        System.out.printf("wrote %d records %s* in a transaction left open (transaction.timeout.ms=%s)%n",
                n, prefix, transactionTimeoutMs());
        System.out.println("transactional hanging");
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    private String checkAborted() throws Exception {
        String topic = a.get("topic", "transactional-hang");
        String absent = a.get("absent-prefix", "hung-");
        long expect = a.getLong("expect", -1);
        long began = System.currentTimeMillis();
        Read rc = read(topic, "read_committed", 0, null);
        if (!rc.reachedEnd) {
            throw new Failure("read_committed consumer did not reach the end of " + topic + " in " + timeoutMs
                    + " ms (a transaction still open?): positions " + rc.positions + ", high watermarks "
                    + rc.ends + ", " + rc.records.size() + " records read");
        }
        System.out.printf("read_committed consumer reached the end of %s (%s) after %d ms%n",
                topic, rc.ends, System.currentTimeMillis() - began);
        for (ConsumerRecord<String, String> r : rc.records) {
            if (r.value() != null && r.value().startsWith(absent)) {
                throw new Failure("read_committed consumer saw " + describe(r) + " of an aborted transaction");
            }
        }
        if (expect >= 0 && rc.records.size() != expect) {
            throw new Failure("read_committed consumer saw " + rc.records.size() + " records, want " + expect);
        }
        return "visible=" + rc.records.size();
    }

    // ---- clients and reading -------------------------------------------------

    private String transactionTimeoutMs() {
        return a.get("transaction-timeout-ms", "hang".equals(a.get("mode", "")) ? "5000" : "60000");
    }

    private KafkaProducer<String, String> producer(String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "kop-transactional-demo-producer-" + clients.incrementAndGet());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, transactionTimeoutMs());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(maxBlockMs));
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(maxBlockMs));
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(a.withClientConfig(p));
    }

    private Properties consumerProps(String group, String isolation) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "kop-transactional-demo-consumer-" + clients.incrementAndGet());
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(maxBlockMs));
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(maxBlockMs));
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return a.withClientConfig(p);
    }

    /** With --partitions P, creates the topics (P partitions, one replica) unless they exist. */
    private void createTopics(String... topics) throws Exception {
        long partitions = a.getLong("partitions", -1);
        if (partitions < 0) {
            return;
        }
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(maxBlockMs));
        try (AdminClient admin = AdminClient.create(a.withClientConfig(p))) {
            for (String topic : topics) {
                step("creating topic " + topic);
                try {
                    admin.createTopics(Collections.singletonList(new NewTopic(topic, (int) partitions, (short) 1)))
                            .all().get(timeoutMs, TimeUnit.MILLISECONDS);
                    System.out.printf("created topic %s with %d partitions%n", topic, partitions);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new Failure("create topic " + topic + ": " + e.getCause(), e.getCause());
                    }
                }
            }
        }
    }

    private List<TopicPartition> partitions(KafkaConsumer<String, String> c, String topic, long deadline)
            throws InterruptedException {
        while (true) {
            step("looking up the partitions of " + topic);
            List<PartitionInfo> infos = null;
            Exception err = null;
            try {
                infos = c.partitionsFor(topic, Duration.ofMillis(Math.min(maxBlockMs, 5_000)));
            } catch (KafkaException e) {
                err = e;
            }
            if (infos != null && !infos.isEmpty()) {
                List<TopicPartition> tps = new ArrayList<>();
                for (PartitionInfo pi : infos) {
                    tps.add(new TopicPartition(topic, pi.partition()));
                }
                tps.sort(TransactionalDemo::compare);
                return tps;
            }
            if (System.currentTimeMillis() > deadline) {
                throw new Failure("found no partitions of " + topic + (err == null ? "" : ": " + err), err);
            }
            Thread.sleep(200);
        }
    }

    private Map<TopicPartition, Long> highWatermarks(String topic) throws InterruptedException {
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(null, "read_uncommitted"))) {
            List<TopicPartition> tps = partitions(c, topic, System.currentTimeMillis() + timeoutMs);
            step("reading the end offsets of " + topic);
            Map<TopicPartition, Long> ends = new TreeMap<>(TransactionalDemo::compare);
            ends.putAll(c.endOffsets(tps, Duration.ofMillis(maxBlockMs)));
            return ends;
        }
    }

    /** What read saw. */
    private final class Read {
        final List<ConsumerRecord<String, String>> records = new ArrayList<>();
        final Map<TopicPartition, Long> positions = new TreeMap<>(TransactionalDemo::compare);
        final Map<TopicPartition, Long> ends = new TreeMap<>(TransactionalDemo::compare);
        final String isolation;
        boolean reachedEnd;

        Read(String isolation) {
            this.isolation = isolation;
        }

        void requireEnd(String topic) {
            if (!reachedEnd) {
                List<String> values = new ArrayList<>();
                for (ConsumerRecord<String, String> r : records) {
                    values.add(r.value());
                }
                throw new Failure(isolation + " consumer did not reach the end of " + topic + " in " + timeoutMs
                        + " ms: positions " + positions + ", high watermarks " + ends + ", read "
                        + records.size() + " records " + values);
            }
        }
    }

    /**
     * Reads topic with a consumer of the isolation level (no group) from
     * start (the beginning when null) until it has read at least min records
     * and its position reaches the high watermark in every partition, or
     * --timeout-ms passes. A read_committed consumer only gets there once no
     * transaction is open on the topic (its last stable offset is the high
     * watermark).
     */
    private Read read(String topic, String isolation, int min, Map<TopicPartition, Long> start)
            throws InterruptedException {
        Read res = new Read(isolation);
        long deadline = System.currentTimeMillis() + timeoutMs;
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(null, isolation));
             KafkaConsumer<String, String> probe = new KafkaConsumer<>(consumerProps(null, "read_uncommitted"))) {
            List<TopicPartition> tps = partitions(c, topic, deadline);
            c.assign(tps);
            if (start == null) {
                c.seekToBeginning(tps);
            } else {
                for (TopicPartition tp : tps) {
                    c.seek(tp, start.getOrDefault(tp, 0L));
                }
            }
            while (true) {
                step(isolation + " consumer reading " + topic);
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    res.records.add(r);
                }
                if (res.records.size() >= min) {
                    res.ends.putAll(probe.endOffsets(tps, Duration.ofMillis(maxBlockMs)));
                    boolean atEnd = true;
                    for (TopicPartition tp : tps) {
                        res.positions.put(tp, c.position(tp, Duration.ofMillis(maxBlockMs)));
                        atEnd &= res.positions.get(tp) >= res.ends.get(tp);
                    }
                    if (atEnd) {
                        res.reachedEnd = true;
                        System.out.printf("%s consumer read %d records of %s to its end %s%n",
                                isolation, res.records.size(), topic, res.ends);
                        return res;
                    }
                }
                if (System.currentTimeMillis() > deadline) {
                    for (TopicPartition tp : tps) {
                        res.positions.put(tp, c.position(tp, Duration.ofMillis(maxBlockMs)));
                    }
                    res.ends.putAll(probe.endOffsets(tps, Duration.ofMillis(maxBlockMs)));
                    return res;
                }
            }
        }
    }

    private static int compare(TopicPartition x, TopicPartition y) {
        int c = x.topic().compareTo(y.topic());
        return c != 0 ? c : Integer.compare(x.partition(), y.partition());
    }

    private static String describe(ConsumerRecord<String, String> r) {
        return r.value() + " at " + r.topic() + "-" + r.partition() + "@" + r.offset();
    }

    private static String offsets(Map<TopicPartition, OffsetAndMetadata> offsets) {
        Map<String, Long> m = new TreeMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
            m.put(e.getKey().toString(), e.getValue().offset());
        }
        return m.toString();
    }
}
