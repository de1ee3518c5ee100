package io.kop.examples;

import java.util.Collections;
import java.util.Map;
import org.apache.kafka.clients.admin.AdminClient;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.ConfigResource;
import java.util.Properties;

/**
 * Creates a topic, describes it, the cluster and the topic's configs, and
 * deletes the topic again unless {@code --keep} is given.
 *
 * <pre>AdminDemo [--bootstrap localhost:9092] [--topic admin-demo] [--partitions 3] [--keep] [--client-config FILE]</pre>
 */
public final class AdminDemo {
    public static void main(String[] argv) throws Exception {
        Args args = new Args(argv);
        String topic = args.get("topic", "admin-demo");
        int partitions = (int) args.getLong("partitions", 3);
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args.get("bootstrap", "localhost:9092"));
        try (AdminClient admin = AdminClient.create(args.withClientConfig(props))) {
            DescribeClusterResult cluster = admin.describeCluster();
            System.out.printf("cluster %s, controller %s, brokers %s%n",
                    cluster.clusterId().get(), cluster.controller().get(), cluster.nodes().get());

            NewTopic nt = new NewTopic(topic, partitions, (short) 1)
                    .configs(Collections.singletonMap("retention.ms", "3600000"));
            admin.createTopics(Collections.singletonList(nt)).all().get();
            System.out.printf("created topic %s%n", topic);

            Map<String, TopicDescription> topics = admin.describeTopics(Collections.singletonList(topic)).all().get();
            TopicDescription td = topics.get(topic);
            System.out.printf("topic %s has %d partitions%n", td.name(), td.partitions().size());
            if (td.partitions().size() != partitions) {
                throw new IllegalStateException("wrong partition count " + td.partitions().size());
            }

            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config cfg = admin.describeConfigs(Collections.singletonList(res)).all().get().get(res);
            String retention = cfg.get("retention.ms").value();
            System.out.printf("topic config retention.ms=%s%n", retention);
            if (!"3600000".equals(retention)) {
                throw new IllegalStateException("retention.ms is " + retention);
            }
            System.out.printf("listed topics: %s%n", admin.listTopics().names().get());

            if (!args.has("keep")) {
                admin.deleteTopics(Collections.singletonList(topic)).all().get();
                System.out.printf("deleted topic %s%n", topic);
            }
        }
        System.out.println("admin done");
    }
}
