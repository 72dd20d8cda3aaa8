// One consumer-protocol (KIP-848) group member on Kafka's Java client, run as its own process
// so a test can kill it. Arguments: bootstrap, group, subscription (a topic, or an RE2/J
// pattern starting with ^), optional group.instance.id. With -Dgroup.protocol=classic it is a
// classic member instead (cooperative-sticky, 0.5 s heartbeats), for the migration tests. Prints
// the same JSON lines as tests/interop/consumer_protocol_member.py; a "close" line on stdin makes
// it leave and exit.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ConsumerProtocolMember {
    static double now() {
        return System.nanoTime() / 1e9;  // CLOCK_MONOTONIC, as Python's time.monotonic()
    }

    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static void emitPartitions(String event, Collection<TopicPartition> partitions) {
        StringJoiner list = new StringJoiner(",", "[", "]");
        for (TopicPartition tp : partitions) {
            list.add("[" + quote(tp.topic()) + "," + tp.partition() + "]");
        }
        System.out.println("{\"event\":" + quote(event) + ",\"partitions\":" + list + ",\"t\":" + now() + "}");
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, args[1]);
        String protocol = System.getProperty("group.protocol", "consumer");
        p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        if (protocol.equals("classic")) {
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        }
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, "200");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        if (args.length > 3) {
            p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, args[3]);
        }
        AtomicBoolean closing = new AtomicBoolean(false);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            Thread stdin = new Thread(() -> {
                try {
                    new BufferedReader(new InputStreamReader(System.in)).readLine();
                } catch (Exception ignored) {
                }
                closing.set(true);
                consumer.wakeup();
            });
            stdin.setDaemon(true);
            stdin.start();
            ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    emitPartitions("assigned", partitions);
                }

                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    emitPartitions("revoked", partitions);
                }

                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    emitPartitions("revoked", partitions);
                }
            };
            if (args[2].startsWith("^")) {
                consumer.subscribe(new SubscriptionPattern(args[2]), listener);
            } else {
                consumer.subscribe(List.of(args[2]), listener);
            }
            System.out.println("{\"event\":\"started\",\"t\":" + now() + "}");
            System.out.flush();
            while (!closing.get()) {
                try {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        System.out.println("{\"event\":\"record\",\"topic\":" + quote(r.topic()) + ",\"partition\":"
                            + r.partition() + ",\"value\":" + quote(r.value()) + ",\"t\":" + now() + "}");
                    }
                    System.out.flush();
                } catch (org.apache.kafka.common.errors.WakeupException e) {
                    // closing
                }
            }
        }
        System.out.println("{\"event\":\"closed\",\"t\":" + now() + "}");
        System.out.flush();
    }
}
