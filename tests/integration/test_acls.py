"""ACLs with real clients: a broker with StandardAuthorizer behind an mTLS listener, where each
client certificate is a principal (User:admin is a super user, User:app is restricted).
confluent-kafka's AdminClient manages the ACLs; producers, consumers and Metadata of the
restricted principal see Kafka's authorization errors; `schemabus acls` does the same from
the command line."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient, NewTopic, ResourcePatternType,
    ResourceType,
)

from tests.cli.test_schemabus_command import schemabus
from tests.conftest import BrokerProcess, free_port, unique_topic
from tests.tls import CertificateAuthority

STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
TIMEOUT = 15


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("acl-ca"))


def secured_broker(directory, ca) -> BrokerProcess:
    port = free_port()
    server = ca.issue("broker", server=True)
    return BrokerProcess(directory / "data", {
        "listeners": f"SSL://127.0.0.1:{port}", "ssl.keystore.location": str(server.keystore),
        "ssl.truststore.location": str(ca.ca_file), "ssl.client.auth": "required",
        # CN=app,O=...,C=PT -> User:app
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+),.*$/$1/,DEFAULT",
        "authorizer.class.name": STANDARD_AUTHORIZER, "super.users": "User:admin",
    }, port=port)


@pytest.fixture(scope="module")
def broker(tmp_path_factory, ca):
    b = secured_broker(tmp_path_factory.mktemp("acls"), ca).start()
    yield b
    b.stop()


def client_conf(broker: BrokerProcess, ca, who: str, **extra) -> dict:
    issued = ca.issue(who)
    return {"bootstrap.servers": broker.bootstrap, "security.protocol": "SSL", "ssl.ca.location": str(ca.ca_file),
            "ssl.certificate.location": str(issued.cert), "ssl.key.location": str(issued.key), **extra}


@pytest.fixture(scope="module")
def admin(broker, ca) -> AdminClient:
    return AdminClient(client_conf(broker, ca, "admin"))


@pytest.fixture(scope="module")
def app(broker, ca) -> dict:
    return client_conf(broker, ca, "app")


def create_topic(admin: AdminClient, prefix: str) -> str:
    topic = unique_topic(prefix)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(TIMEOUT)
    return topic


def allow(admin: AdminClient, rtype: ResourceType, name: str, *operations: AclOperation,
          principal: str = "User:app", pattern=ResourcePatternType.LITERAL) -> None:
    bindings = [AclBinding(rtype, name, pattern, principal, "*", op, AclPermissionType.ALLOW) for op in operations]
    for future in admin.create_acls(bindings).values():
        future.result(TIMEOUT)


def error_of(future) -> KafkaError:
    with pytest.raises(KafkaException) as exc:
        future.result(TIMEOUT)
    return exc.value.args[0]


def test_admin_client_creates_describes_and_deletes_acls(admin):
    topic = unique_topic("acl-admin")
    allow(admin, ResourceType.TOPIC, topic, AclOperation.READ, AclOperation.WRITE)
    allow(admin, ResourceType.TOPIC, topic[:8], AclOperation.DESCRIBE, pattern=ResourcePatternType.PREFIXED)
    exact = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    described = admin.describe_acls(exact).result(TIMEOUT)
    assert sorted((b.name, b.principal, b.operation) for b in described) == [
        (topic, "User:app", AclOperation.READ), (topic, "User:app", AclOperation.WRITE)]
    # MATCH: every ACL that applies to the topic, the prefixed one included.
    matching = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.MATCH, None, None,
                                AclOperation.ANY, AclPermissionType.ANY)
    assert {b.resource_pattern_type for b in admin.describe_acls(matching).result(TIMEOUT)} == {
        ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED}
    deleted = admin.delete_acls([matching])[matching].result(TIMEOUT)
    assert len(deleted) == 3
    assert admin.describe_acls(matching).result(TIMEOUT) == []


def test_invalid_bindings_are_refused_with_invalid_request(admin):
    bad = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "app-without-type", "*",
                     AclOperation.READ, AclPermissionType.ALLOW)
    err = error_of(admin.create_acls([bad])[bad])
    assert err.code() == KafkaError.INVALID_REQUEST and "Could not parse principal" in err.str()


def kafka_python_describe_everything(**connection):
    """kafka-python's describe_acls: librdkafka (2.x) answers a DescribeAcls refused with a
    top-level error as an empty list, kafka-python raises the error."""
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, KafkaAdminClient, ResourcePatternFilter
    from kafka.admin import ACLResourcePatternType, ResourceType as KPResourceType

    client = KafkaAdminClient(request_timeout_ms=TIMEOUT * 1000, **connection)
    try:
        return client.describe_acls(ACLFilter(None, "*", ACLOperation.ANY, ACLPermissionType.ANY,
                                              ResourcePatternFilter(KPResourceType.ANY, None,
                                                                    ACLResourcePatternType.ANY)))
    finally:
        client.close()


def test_a_principal_without_cluster_rights_cannot_manage_acls(broker, ca, app):
    from kafka.errors import ClusterAuthorizationFailedError

    issued = ca.issue("app")
    with pytest.raises(ClusterAuthorizationFailedError):
        kafka_python_describe_everything(bootstrap_servers=broker.bootstrap, security_protocol="SSL",
                                         ssl_cafile=str(ca.ca_file), ssl_certfile=str(issued.cert),
                                         ssl_keyfile=str(issued.key))
    restricted = AdminClient(app)
    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:app", "*",
                         AclOperation.ALL, AclPermissionType.ALLOW)
    assert error_of(restricted.create_acls([binding])[binding]).code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def delivery_errors(conf: dict, topic: str, n: int = 3) -> list:
    results = []
    producer = Producer({**conf, "message.timeout.ms": 10_000})
    for i in range(n):
        producer.produce(topic, b"v%d" % i, on_delivery=lambda err, msg: results.append(err))
    assert producer.flush(TIMEOUT) == 0, "records still undelivered"
    return results


def test_producer_without_write_gets_topic_authorization_failed_then_writes_once_allowed(admin, app):
    topic = create_topic(admin, "acl-produce")
    allow(admin, ResourceType.TOPIC, topic, AclOperation.DESCRIBE)
    errors = delivery_errors(app, topic)
    assert [e.code() if e else None for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED] * 3
    allow(admin, ResourceType.TOPIC, topic, AclOperation.WRITE)
    assert delivery_errors(app, topic) == [None] * 3


def test_idempotent_and_transactional_producers_need_their_rights(admin, app):
    topic = create_topic(admin, "acl-txn")
    allow(admin, ResourceType.TOPIC, topic, AclOperation.WRITE)
    # Idempotence: WRITE on some topic stands for IDEMPOTENT_WRITE on the cluster (KIP-679).
    assert delivery_errors({**app, "enable.idempotence": True}, topic) == [None] * 3
    transactional_id = unique_topic("acl-txn-id")
    allow(admin, ResourceType.TRANSACTIONAL_ID, transactional_id, AclOperation.DESCRIBE)
    refused = Producer({**app, "transactional.id": transactional_id})
    with pytest.raises(KafkaException) as exc:
        refused.init_transactions(TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    allow(admin, ResourceType.TRANSACTIONAL_ID, transactional_id, AclOperation.WRITE)
    producer = Producer({**app, "transactional.id": transactional_id})
    producer.init_transactions(TIMEOUT)
    producer.begin_transaction()
    producer.produce(topic, b"in a transaction")
    producer.commit_transaction(TIMEOUT)


def test_kafka_python_producer_without_write_is_refused(broker, ca, admin):
    from kafka import KafkaProducer
    from kafka.errors import TopicAuthorizationFailedError

    topic = create_topic(admin, "acl-kp")
    issued = ca.issue("app-kp")
    allow(admin, ResourceType.TOPIC, topic, AclOperation.DESCRIBE, principal="User:app-kp")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, security_protocol="SSL", ssl_cafile=str(ca.ca_file),
                             ssl_certfile=str(issued.cert), ssl_keyfile=str(issued.key), retries=0,
                             max_block_ms=10_000)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(topic, b"refused", partition=0).get(TIMEOUT)
    finally:
        producer.close(5)


def test_consumer_without_group_read_gets_group_authorization_failed(admin, app):
    topic = create_topic(admin, "acl-consume")
    group = unique_topic("acl-group")
    allow(admin, ResourceType.TOPIC, topic, AclOperation.READ)
    allow(admin, ResourceType.GROUP, group, AclOperation.DESCRIBE)  # finds its coordinator, may not join
    consumer = Consumer({**app, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        error = None
        for _ in range(20):  # bounded: librdkafka reports the refusal within a few polls
            message = consumer.poll(1)
            if message is not None and message.error():
                error = message.error()
                break
        assert error is not None, "the consumer was never told it may not join the group"
        assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, error
    finally:
        consumer.close()


def first_error(consumer: Consumer) -> KafkaError | None:
    for _ in range(20):  # bounded: librdkafka reports a refusal within a few polls
        message = consumer.poll(1)
        if message is not None and message.error():
            return message.error()
    return None


def test_consumer_protocol_members_need_group_read_and_topic_describe(admin, app):
    """KIP-848 members (ConsumerGroupHeartbeat): READ on the group, DESCRIBE on each topic."""
    topic = create_topic(admin, "acl-848")
    denied_group, group = unique_topic("acl-848-denied"), unique_topic("acl-848")
    allow(admin, ResourceType.GROUP, denied_group, AclOperation.DESCRIBE)
    allow(admin, ResourceType.GROUP, group, AclOperation.READ)
    # librdkafka reports a heartbeat's authorization error as fatal, naming it.
    for group_id, expected in ((denied_group, "Group authorization failed"),
                               (group, "Topic authorization failed")):
        consumer = Consumer({**app, "group.id": group_id, "group.protocol": "consumer",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        try:
            error = first_error(consumer)
            assert error is not None and expected in error.str(), error
        finally:
            consumer.close()


def test_a_regex_subscription_matches_only_topics_the_member_may_describe(broker, ca, admin, app):
    prefix = unique_topic("acl-848rx")
    visible, hidden = f"{prefix}-visible", f"{prefix}-hidden"
    admin.create_topics([NewTopic(visible, 2, 1), NewTopic(hidden, 2, 1)])[visible].result(TIMEOUT)
    group = unique_topic("acl-848rx-group")
    allow(admin, ResourceType.GROUP, group, AclOperation.READ, AclOperation.DESCRIBE)
    allow(admin, ResourceType.TOPIC, visible, AclOperation.READ, AclOperation.DESCRIBE)
    consumer = Consumer({**app, "group.id": group, "group.protocol": "consumer", "auto.offset.reset": "earliest"})
    consumer.subscribe([f"^{prefix}-.*"])
    try:
        for _ in range(40):  # bounded: the regex is matched within a second or two
            consumer.poll(0.25)
            if consumer.assignment():
                break
        assert sorted((tp.topic, tp.partition) for tp in consumer.assignment()) == [(visible, 0), (visible, 1)]
        app_admin = AdminClient(app)  # held: its futures need it
        described = app_admin.describe_consumer_groups([group])[group].result(TIMEOUT)
        assert [m.client_id for m in described.members]
        # Who may not describe a topic of the group's assignment is not shown the group.
        allow(admin, ResourceType.GROUP, group, AclOperation.DESCRIBE, principal="User:other")
        other = AdminClient(client_conf(broker, ca, "other"))
        with pytest.raises(KafkaException, match="TOPIC_AUTHORIZATION_FAILED|Topic authorization failed"):
            other.describe_consumer_groups([group])[group].result(TIMEOUT)
    finally:
        consumer.close()


def test_metadata_hides_topics_the_principal_may_not_describe(admin, app):
    visible, hidden = create_topic(admin, "acl-visible"), create_topic(admin, "acl-hidden")
    allow(admin, ResourceType.TOPIC, visible, AclOperation.READ)  # READ implies DESCRIBE
    restricted = AdminClient(app)
    listed = restricted.list_topics(timeout=TIMEOUT).topics
    assert visible in listed and hidden not in listed
    assert admin.list_topics(timeout=TIMEOUT).topics.keys() >= {visible, hidden}
    named = restricted.list_topics(topic=hidden, timeout=TIMEOUT).topics[hidden]
    assert named.error is not None and named.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_acls_survive_a_restart(tmp_path, ca):
    broker = secured_broker(tmp_path, ca).start()
    try:
        admin = AdminClient(client_conf(broker, ca, "admin"))
        allow(admin, ResourceType.GROUP, "kept", AclOperation.READ, pattern=ResourcePatternType.PREFIXED)
        broker.restart()
        admin = AdminClient(client_conf(broker, ca, "admin"))
        everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                      AclOperation.ANY, AclPermissionType.ANY)
        kept = admin.describe_acls(everything).result(TIMEOUT)
        assert [(b.restype, b.name, b.resource_pattern_type, b.operation) for b in kept] == [
            (ResourceType.GROUP, "kept", ResourcePatternType.PREFIXED, AclOperation.READ)]
    finally:
        broker.stop()


def test_without_an_authorizer_the_acl_apis_answer_security_disabled(shared_broker):
    from kafka.errors import SecurityDisabledError

    with pytest.raises(SecurityDisabledError):
        kafka_python_describe_everything(bootstrap_servers=shared_broker.bootstrap)
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:app", "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    assert error_of(admin.create_acls([binding])[binding]).code() == KafkaError.SECURITY_DISABLED


def test_an_unknown_authorizer_class_stops_the_broker_at_start(tmp_path):
    broker = BrokerProcess(tmp_path / "data", {"authorizer.class.name": "com.example.Nope"})
    with pytest.raises(RuntimeError, match="authorizer.class.name"):
        broker.start(timeout=30)


# -- schemabus acls ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def command_config(tmp_path_factory, ca) -> str:
    """The admin's client properties with Java's names, as kafka-acls' --command-config takes them."""
    issued = ca.issue("admin")
    path = tmp_path_factory.mktemp("acl-cli") / "admin.properties"
    path.write_text(f"security.protocol=SSL\nssl.truststore.location={ca.ca_file}\n"
                    f"ssl.truststore.type=PEM\nssl.keystore.location={issued.keystore}\nssl.keystore.type=PEM\n")
    return str(path)


def test_schemabus_acls_add_list_remove(broker, command_config):
    b = ["--bootstrap-server", broker.bootstrap, "--command-config", command_config]
    topic = unique_topic("acl-cli")
    added = schemabus("acls", "add", "--allow-principal", "User:cli", "--operation", "Read",
                      "--operation", "DescribeConfigs", "--topic", topic, *b, "--output", "json")
    assert added.returncode == 0, added.stderr
    listed = json.loads(schemabus("acls", "list", "--topic", topic, *b, "--output", "json").stdout)
    assert [(r["principal"], r["operation"], r["permission"], r["pattern_type"]) for r in listed] == [
        ("User:cli", "READ", "ALLOW", "LITERAL"), ("User:cli", "DESCRIBE_CONFIGS", "ALLOW", "LITERAL")]
    table = schemabus("acls", "list", "--principal", "User:cli", *b)
    assert table.returncode == 0 and topic in table.stdout and table.stdout.split()[0] == "RESOURCE_TYPE"
    removed = schemabus("acls", "remove", "--topic", topic, "--operation", "Read", *b, "--output", "json")
    assert [r["operation"] for r in json.loads(removed.stdout)] == ["READ"]
    left = json.loads(schemabus("acls", "list", "--topic", topic, *b, "--output", "json").stdout)
    assert [r["operation"] for r in left] == ["DESCRIBE_CONFIGS"]


def test_schemabus_acls_usage_errors(broker, command_config):
    b = ["--bootstrap-server", broker.bootstrap, "--command-config", command_config]
    no_principal = schemabus("acls", "add", "--topic", "t", *b)
    assert no_principal.returncode == 2 and "--allow-principal" in no_principal.stderr
    bad_op = schemabus("acls", "add", "--allow-principal", "User:x", "--operation", "Fly", "--topic", "t", *b)
    assert bad_op.returncode == 2 and "unknown operation 'Fly'" in bad_op.stderr
    everything = schemabus("acls", "remove", *b)
    assert everything.returncode == 2 and "--all" in everything.stderr


def test_schemabus_acls_against_a_broker_without_authorizer(shared_broker):
    result = schemabus("acls", "add", "--allow-principal", "User:x", "--topic", "t",
                       "--bootstrap-server", shared_broker.bootstrap)
    assert result.returncode == 1 and "SECURITY_DISABLED" in result.stderr
