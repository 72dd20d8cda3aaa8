// A Java consumer (Fetch with KIP-227 sessions) assigned every partition of a topic while a
// producer in the same process writes a steady trickle to a few of them: the consumer stays
// caught up, so each fetch carries a little data and many unchanged partitions.
// Arguments: bootstrap, topic, partition count, comma-separated busy partitions, records per
// second, seconds, value size. Prints "RESULT key=value": bytes received, fetch requests sent.

import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class FetchSessionBench {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1];
        int partitions = Integer.parseInt(args[2]);
        int[] busy = Arrays.stream(args[3].split(",")).mapToInt(Integer::parseInt).toArray();
        int perSecond = Integer.parseInt(args[4]), seconds = Integer.parseInt(args[5]);
        byte[] value = new byte[Integer.parseInt(args[6])];
        new Random(1).nextBytes(value);
        long total = (long) perSecond * seconds;

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");

        try (Producer<byte[], byte[]> producer = new KafkaProducer<>(pp);
             Consumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp)) {
            List<TopicPartition> all = new ArrayList<>();
            for (int p = 0; p < partitions; p++) all.add(new TopicPartition(topic, p));
            consumer.assign(all);
            consumer.seekToBeginning(all);
            consumer.poll(Duration.ofMillis(1000));
            Thread writer = new Thread(() -> {
                long start = System.nanoTime();
                for (long i = 0; i < total; i++) {
                    long due = start + i * 1_000_000_000L / perSecond;
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        try { Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000)); }
                        catch (InterruptedException e) { return; }
                    }
                    producer.send(new ProducerRecord<>(topic, busy[(int) (i % busy.length)], null, value));
                }
                producer.flush();
            });
            writer.start();
            long received = 0, bytes = 0;
            long deadline = System.currentTimeMillis() + seconds * 1000L + 60_000;
            while (received < total && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    received++;
                    bytes += r.serializedValueSize();
                }
            }
            writer.join();
            double fetches = 0;
            for (Map.Entry<MetricName, ? extends Metric> m : consumer.metrics().entrySet()) {
                if (m.getKey().name().equals("fetch-total") && m.getKey().group().equals("consumer-fetch-manager-metrics")) {
                    fetches = (Double) m.getValue().metricValue();
                }
            }
            System.out.println("RESULT received=" + received);
            System.out.println("RESULT bytes=" + bytes);
            System.out.println("RESULT fetches=" + (long) fetches);
        }
    }
}
