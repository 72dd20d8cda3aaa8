// Kafka's Java Admin and producer against a broker with SASL and an authorizer (super user
// "admin"): SCRAM users through alterUserScramCredentials/describeUserScramCredentials, ACLs
// through createAcls/describeAcls/deleteAcls, producers of a user allowed to WRITE and of one
// denied it, the operations each user is told it may do, and refusals of a topic creation, a
// group join and ACL reads without the rights. Prints "RESULT key=value" lines with the run's names replaced by $BASE, so that the
// lines of two brokers compare equal.
// Usage: java JavaSecurityScenario <bootstrap> <base name> <admin client properties>

import java.io.FileReader;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class JavaSecurityScenario {
    static final long WAIT_MS = 30_000;
    static String base;

    static void result(String key, Object value) {
        System.out.println(("RESULT " + key + "=" + value).replace(base, "$BASE"));
    }

    static Throwable cause(Exception e) {
        return e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    }

    // Apache Kafka applies an ACL or SCRAM change on the broker once the controller's metadata
    // record reaches it, a moment after the Admin call returns (ours: before it returns). The
    // checks that follow a change first wait, bounded, until the broker reports it.
    interface Probe<T> { T get() throws Exception; }

    static <T> T waitFor(String what, Probe<T> probe, Predicate<T> done) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            T value;
            try {
                value = probe.get();
            } catch (Exception e) {
                value = null;
                if (System.currentTimeMillis() > deadline) throw new IllegalStateException("timed out: " + what, e);
            }
            if (value != null && done.test(value)) return value;
            if (System.currentTimeMillis() > deadline) throw new IllegalStateException("timed out: " + what + ", last: " + value);
            Thread.sleep(200);
        }
    }

    static String describe(AclBinding b) {
        ResourcePattern p = b.pattern();
        AccessControlEntry e = b.entry();
        return p.resourceType() + ":" + p.patternType() + ":" + p.name() + ":" + e.principal() + ":" + e.host()
                + ":" + e.operation() + ":" + e.permissionType();
    }

    static List<String> sorted(Collection<AclBinding> bindings) {
        List<String> lines = new ArrayList<>();
        for (AclBinding b : bindings) lines.add(describe(b));
        Collections.sort(lines);
        return lines;
    }

    static Properties as(Properties connection, String user, String mechanism, String password) {
        Properties p = new Properties();
        p.putAll(connection);
        p.put("sasl.mechanism", mechanism);
        p.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + user + "\" password=\"" + password + "\";");
        return p;
    }

    static String produce(Properties connection, String topic, int n) {
        Properties p = new Properties();
        p.putAll(connection);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        // The producer's defaults otherwise (idempotent, acks=all): InitProducerId needs WRITE on
        // some topic (KIP-679), which both users have through their ALLOW ACLs.
        try (Producer<String, String> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < n; i++) {
                producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i)).get(45, TimeUnit.SECONDS);
            }
            return "sent " + n;
        } catch (Exception e) {
            Throwable c = cause(e);
            String detail = c instanceof TopicAuthorizationException
                    ? " " + new TreeSet<>(((TopicAuthorizationException) c).unauthorizedTopics()) : "";
            return c.getClass().getSimpleName() + detail;
        }
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        base = args[1];
        Properties connection = new Properties();
        try (FileReader reader = new FileReader(args[2])) {
            connection.load(reader);
        }
        connection.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        String topic = base + "-data";
        String writer = base + "-writer", denied = base + "-denied";

        try (Admin admin = Admin.create(connection)) {
            admin.alterUserScramCredentials(List.of(
                    new UserScramCredentialUpsertion(writer, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), "writer-pw"),
                    new UserScramCredentialUpsertion(denied, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), "denied-pw")))
                    .all().get(30, TimeUnit.SECONDS);
            Map<String, UserScramCredentialsDescription> users = waitFor("both SCRAM users described",
                    () -> admin.describeUserScramCredentials(List.of(writer, denied)).all().get(30, TimeUnit.SECONDS),
                    m -> m.size() == 2);
            for (String user : List.of(writer, denied)) {
                List<String> infos = new ArrayList<>();
                for (ScramCredentialInfo info : users.get(user).credentialInfos()) {
                    infos.add(info.mechanism() + "/" + info.iterations());
                }
                result("scram " + user, infos);
            }

            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
            ResourcePattern literal = new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL);
            ResourcePattern prefixed = new ResourcePattern(ResourceType.TOPIC, base + "-", PatternType.PREFIXED);
            List<AclBinding> acls = List.of(
                    new AclBinding(literal, new AccessControlEntry("User:" + writer, "*", AclOperation.WRITE, AclPermissionType.ALLOW)),
                    // The denied user may do anything with the run's topics but WRITE to this one:
                    // a matching DENY wins over any ALLOW.
                    new AclBinding(prefixed, new AccessControlEntry("User:" + denied, "*", AclOperation.ALL, AclPermissionType.ALLOW)),
                    new AclBinding(literal, new AccessControlEntry("User:" + denied, "*", AclOperation.WRITE, AclPermissionType.DENY)));
            admin.createAcls(acls).all().get(30, TimeUnit.SECONDS);
            AclBindingFilter matching = new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.TOPIC, topic, PatternType.MATCH), AccessControlEntryFilter.ANY);
            Collection<AclBinding> described = waitFor("the three ACLs described",
                    () -> admin.describeAcls(matching).values().get(30, TimeUnit.SECONDS), c -> c.size() == 3);
            result("acls matching the topic", sorted(described));
            AclBindingFilter deniedOnly = new AclBindingFilter(ResourcePatternFilter.ANY,
                    new AccessControlEntryFilter("User:" + denied, null, AclOperation.ANY, AclPermissionType.DENY));
            result("deny acls of the denied user", sorted(admin.describeAcls(deniedOnly).values().get(30, TimeUnit.SECONDS)));

            result("writer produces", produce(as(connection, writer, "SCRAM-SHA-256", "writer-pw"), topic, 10));
            result("denied produces", produce(as(connection, denied, "SCRAM-SHA-512", "denied-pw"), topic, 1));

            // What each user may do, as Metadata and DescribeCluster report it.
            DescribeTopicsOptions withOperations = new DescribeTopicsOptions().includeAuthorizedOperations(true);
            DescribeClusterOptions clusterOperations = new DescribeClusterOptions().includeAuthorizedOperations(true);
            result("admin cluster operations", new TreeSet<>(
                    admin.describeCluster(clusterOperations).authorizedOperations().get(30, TimeUnit.SECONDS)));
            for (String[] user : new String[][] {{writer, "SCRAM-SHA-256", "writer-pw"}, {denied, "SCRAM-SHA-512", "denied-pw"}}) {
                try (Admin asUser = Admin.create(as(connection, user[0], user[1], user[2]))) {
                    result(user[0] + " topic operations", new TreeSet<>(asUser.describeTopics(List.of(topic), withOperations)
                            .allTopicNames().get(30, TimeUnit.SECONDS).get(topic).authorizedOperations()));
                    result(user[0] + " cluster operations", new TreeSet<>(
                            asUser.describeCluster(clusterOperations).authorizedOperations().get(30, TimeUnit.SECONDS)));
                }
            }

            try (Admin asWriter = Admin.create(as(connection, writer, "SCRAM-SHA-256", "writer-pw"))) {
                // Not a super user and no cluster ACL: the ACLs are not the writer's to read.
                try {
                    asWriter.describeAcls(AclBindingFilter.ANY).values().get(30, TimeUnit.SECONDS);
                    result("writer describes acls", "allowed");
                } catch (Exception e) {
                    result("writer describes acls", cause(e).getClass().getSimpleName());
                }
                // No CREATE on the cluster or the topic.
                try {
                    asWriter.createTopics(List.of(new NewTopic(base + "-new", 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
                    result("writer creates a topic", "created");
                } catch (Exception e) {
                    result("writer creates a topic", cause(e).getClass().getSimpleName());
                }
            }

            // No ACL names the group: the writer's consumer may not join it.
            Properties c = as(connection, writer, "SCRAM-SHA-256", "writer-pw");
            c.put(ConsumerConfig.GROUP_ID_CONFIG, base + "-group");
            c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            try (Consumer<String, String> consumer = new KafkaConsumer<>(c)) {
                consumer.subscribe(List.of(topic));
                String outcome = "no error within 30 s";
                long deadline = System.currentTimeMillis() + 30_000;
                while (System.currentTimeMillis() < deadline) {
                    try {
                        consumer.poll(Duration.ofMillis(500));
                    } catch (Exception e) {
                        outcome = e.getClass().getSimpleName() + " " + ((e instanceof GroupAuthorizationException)
                                ? ((GroupAuthorizationException) e).groupId() : "");
                        break;
                    }
                }
                result("writer joins a group", outcome);
            }

            Collection<AclBinding> deleted = admin.deleteAcls(List.of(matching)).all().get(30, TimeUnit.SECONDS);
            result("acls deleted", sorted(deleted));
            result("acls left", sorted(waitFor("the ACLs gone",
                    () -> admin.describeAcls(matching).values().get(30, TimeUnit.SECONDS), Collection::isEmpty)));

            admin.alterUserScramCredentials(List.of(
                    new UserScramCredentialDeletion(writer, ScramMechanism.SCRAM_SHA_256),
                    new UserScramCredentialDeletion(denied, ScramMechanism.SCRAM_SHA_512))).all().get(30, TimeUnit.SECONDS);
            String gone = waitFor("the SCRAM users gone", () -> {
                try {
                    admin.describeUserScramCredentials(List.of(writer)).description(writer).get(30, TimeUnit.SECONDS);
                    return "still there";
                } catch (ExecutionException e) {
                    return cause(e).getClass().getSimpleName();
                }
            }, s -> !s.equals("still there"));
            result("writer after deletion", gone);
        }
    }
}
