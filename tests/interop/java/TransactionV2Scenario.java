// The Java client's transactions under transaction.version 2 (KIP-890 part 2): ten transactions,
// committed and aborted in turn, each with records on three partitions and the group's offsets;
// the producer epoch the coordinator reports after each; a zombie fenced by a new instance; then
// what a read_committed consumer and the group's committed offsets show.
// Prints "RESULT key=value" lines that the test checks.

import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TransactionV2Scenario {
    static final int TRANSACTIONS = 10, RECORDS_PER_PARTITION = 4, PARTITIONS = 3;

    static void result(String key, Object value) {
        System.out.println("RESULT " + key + "=" + value);
    }

    static KafkaProducer<String, String> producer(String bootstrap, String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        return new KafkaProducer<>(p);
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], group = args[2], transactionalId = args[3];
        Properties adminProps = new Properties();
        adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(adminProps)) {
            admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get();
            List<Integer> epochs = new ArrayList<>();
            KafkaProducer<String, String> producer = producer(bootstrap, transactionalId);
            producer.initTransactions();
            for (int t = 0; t < TRANSACTIONS; t++) {
                boolean commit = t % 2 == 0;
                producer.beginTransaction();
                for (int p = 0; p < PARTITIONS; p++)
                    for (int i = 0; i < RECORDS_PER_PARTITION; i++)
                        producer.send(new ProducerRecord<>(topic, p, "k",
                                                           (commit ? "commit-" : "abort-") + t + "-" + i));
                producer.sendOffsetsToTransaction(Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(t * 10L)),
                                                  new ConsumerGroupMetadata(group));
                if (commit) producer.commitTransaction(); else producer.abortTransaction();
                epochs.add(admin.describeTransactions(List.of(transactionalId)).description(transactionalId).get()
                           .producerEpoch());
            }
            result("epochs", epochs);

            // A second instance fences the first: its next transaction cannot commit.
            KafkaProducer<String, String> successor = producer(bootstrap, transactionalId);
            successor.initTransactions();
            String fenced = "none";
            try {
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(topic, 0, "k", "zombie")).get();
                producer.commitTransaction();
            } catch (Exception e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                fenced = cause.getClass().getSimpleName();
            }
            result("zombie", fenced);
            producer.close(Duration.ofSeconds(5));
            successor.beginTransaction();
            successor.send(new ProducerRecord<>(topic, 1, "k", "successor"));
            successor.commitTransaction();
            successor.close();

            Map<TopicPartition, OffsetAndMetadata> offsets =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            result("group_offset", offsets.get(new TopicPartition(topic, 0)).offset());
        }

        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) partitions.add(new TopicPartition(topic, p));
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
            int committed = 0, aborted = 0, other = 0;
            long deadline = System.currentTimeMillis() + 30000;
            while (partitions.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))
                   && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    if (r.value().startsWith("commit-")) committed++;
                    else if (r.value().startsWith("abort-") || r.value().equals("zombie")) aborted++;
                    else other++;
                }
            }
            result("consumed_committed", committed);
            result("consumed_aborted", aborted);
            result("consumed_successor", other);
        }
    }
}
