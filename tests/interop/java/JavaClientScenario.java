// The Java Kafka client against a broker: Admin, idempotent and transactional producers,
// a read_committed group consumer. Prints "RESULT key=value" lines that the test checks.

import java.time.Duration;
import java.util.*;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class JavaClientScenario {
    // Client properties every client takes (security.protocol, ssl.*, ...): the optional 4th argument.
    static final Properties connection = new Properties();

    static void result(String key, Object value) {
        System.out.println("RESULT " + key + "=" + value);
    }

    static Properties producerProps(String bootstrap) {
        Properties p = new Properties();
        p.putAll(connection);
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        return p;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        String group = args[2];
        if (args.length > 3) {
            try (java.io.FileReader reader = new java.io.FileReader(args[3])) {
                connection.load(reader);
            }
        }

        Properties adminProps = new Properties();
        adminProps.putAll(connection);
        adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(adminProps)) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
                    .configs(Map.of("retention.ms", "86400000")))).all().get(30, TimeUnit.SECONDS);
            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = admin.describeConfigs(List.of(res)).all().get(30, TimeUnit.SECONDS).get(res);
            result("retention.ms", config.get("retention.ms").value());
            result("partitions", admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS)
                    .get(topic).partitions().size());
        }

        try (Producer<String, String> producer = new KafkaProducer<>(producerProps(bootstrap))) {
            for (int i = 0; i < 100; i++) {
                producer.send(new ProducerRecord<>(topic, "k-" + i, "idempotent-" + i)).get(30, TimeUnit.SECONDS);
            }
            result("idempotent_sent", 100);
        }

        Properties txProps = producerProps(bootstrap);
        txProps.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "java-txn-" + topic);
        try (Producer<String, String> producer = new KafkaProducer<>(txProps)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 50; i++) producer.send(new ProducerRecord<>(topic, "t-" + i, "committed-" + i));
            producer.commitTransaction();
            producer.beginTransaction();
            for (int i = 0; i < 50; i++) producer.send(new ProducerRecord<>(topic, "t-" + i, "aborted-" + i));
            producer.flush();
            producer.abortTransaction();
            result("transactions", "done");
        }

        Properties c = new Properties();
        c.putAll(connection);
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        int idempotent = 0, committed = 0, aborted = 0;
        try (Consumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 60_000;
            while (idempotent + committed < 150 && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    if (r.value().startsWith("idempotent-")) idempotent++;
                    else if (r.value().startsWith("committed-")) committed++;
                    else if (r.value().startsWith("aborted-")) aborted++;
                }
            }
            // Anything aborted would have arrived with the committed records that follow it.
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(1000))) {
                if (r.value().startsWith("aborted-")) aborted++;
            }
            consumer.commitSync();
            result("group_committed_partitions", consumer.committed(consumer.assignment()).size());
        }
        result("consumed_idempotent", idempotent);
        result("consumed_committed", committed);
        result("consumed_aborted", aborted);

        try (Admin admin = Admin.create(adminProps)) {
            boolean listed = admin.listConsumerGroups().all().get(30, TimeUnit.SECONDS).stream()
                    .anyMatch(g -> g.groupId().equals(group));
            result("group_listed", listed);
        }
    }
}
