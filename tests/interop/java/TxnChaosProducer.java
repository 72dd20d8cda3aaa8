// A Java client transactional producer for the chaos test (transaction.version 2 where the
// broker finalizes it): transactions until it is killed, each of RECORDS records on random
// partitions, committed or aborted at random. Prints "open N" while transaction N is open (the
// test kills it there) and "committed N" once transaction N has committed.
//
// java TxnChaosProducer BOOTSTRAP TOPIC TRANSACTIONAL_ID PARTITIONS

import java.util.Properties;
import java.util.Random;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnChaosProducer {
    static final int RECORDS = 5;

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], transactionalId = args[2];
        int partitions = Integer.parseInt(args[3]);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "3000");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
        Random rng = new Random(transactionalId.hashCode());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            producer.initTransactions();
            for (int n = 0; ; n++) {
                producer.beginTransaction();
                for (int i = 0; i < RECORDS; i++)
                    producer.send(new ProducerRecord<>(topic, rng.nextInt(partitions), null,
                                                       transactionalId + "/" + n + "/" + i));
                producer.flush();
                System.out.println("open " + n);
                System.out.flush();
                if (rng.nextBoolean()) {
                    producer.commitTransaction();
                    System.out.println("committed " + n);
                    System.out.flush();
                } else {
                    producer.abortTransaction();
                }
            }
        }
    }
}
