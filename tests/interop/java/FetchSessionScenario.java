// The Java consumer (which fetches with KIP-227 sessions) assigned every partition of a topic,
// while a few partitions receive records round after round. Prints "RESULT key=value" lines:
// records produced and received, duplicates and records out of order per partition.
// Arguments: bootstrap, topic (already created), partition count, comma-separated busy partitions.

import java.time.Duration;
import java.time.Instant;
import java.util.*;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class FetchSessionScenario {
    static final int ROUNDS = 5;
    static final int PER_ROUND = 20;

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        int partitions = Integer.parseInt(args[2]);
        List<Integer> busy = new ArrayList<>();
        for (String p : args[3].split(",")) busy.add(Integer.parseInt(p));

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");

        Map<Integer, Integer> next = new HashMap<>();  // per partition: the sequence number expected next
        int produced = 0, received = 0, duplicates = 0, outOfOrder = 0;
        try (Producer<String, String> producer = new KafkaProducer<>(pp);
             Consumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            List<TopicPartition> all = new ArrayList<>();
            for (int p = 0; p < partitions; p++) all.add(new TopicPartition(topic, p));
            consumer.assign(all);
            consumer.seekToBeginning(all);
            consumer.poll(Duration.ofMillis(500));  // the first, full fetch: nothing there yet
            for (int round = 0; round < ROUNDS; round++) {
                for (int p : busy) {
                    for (int i = 0; i < PER_ROUND; i++) {
                        int seq = round * PER_ROUND + i;
                        producer.send(new ProducerRecord<>(topic, p, null, p + ":" + seq));
                        produced++;
                    }
                }
                producer.flush();
                Instant deadline = Instant.now().plusSeconds(30);
                while (received < produced && Instant.now().isBefore(deadline)) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        received++;
                        String[] parts = r.value().split(":");
                        int p = Integer.parseInt(parts[0]), seq = Integer.parseInt(parts[1]);
                        int expected = next.getOrDefault(p, 0);
                        if (p != r.partition()) outOfOrder++;
                        else if (seq < expected) duplicates++;
                        else if (seq > expected) outOfOrder++;
                        next.put(p, Math.max(expected, seq + 1));
                    }
                }
            }
            // Nothing more may come.
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                received++;
                duplicates++;
            }
        }
        System.out.println("RESULT produced=" + produced);
        System.out.println("RESULT received=" + received);
        System.out.println("RESULT duplicates=" + duplicates);
        System.out.println("RESULT out_of_order=" + outOfOrder);
    }
}
