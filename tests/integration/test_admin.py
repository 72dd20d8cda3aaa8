"""Topic administration through confluent_kafka.admin.AdminClient and offset queries."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewPartitions, NewTopic,
    OffsetSpec,
)

from broker.protocol.errors import code
from tests.conftest import unique_topic, wait_until
from tests.kafka_wire import RawClient


@pytest.fixture
def admin(any_broker):
    return AdminClient({"bootstrap.servers": any_broker.bootstrap})


def _describe(admin, topic: str):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([res])[res].result(10)


def _settled(admin, topic: str, name: str, value: str):
    """The topic's configs once `name` reads `value`, else None (UNKNOWN_TOPIC counts as not yet)."""
    try:
        configs = _describe(admin, topic)
    except KafkaException:
        return None
    return configs if configs[name].value == value else None


def test_create_list_delete_topic(admin):
    topic = unique_topic("adm")
    admin.create_topics([NewTopic(topic, 4, 1)])[topic].result(10)
    md = admin.list_topics(timeout=10)
    assert topic in md.topics and len(md.topics[topic].partitions) == 4

    with pytest.raises(KafkaException) as exc:
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    assert exc.value.args[0].name() == "TOPIC_ALREADY_EXISTS"

    admin.delete_topics([topic])[topic].result(10)
    # Apache Kafka removes a deleted topic from metadata asynchronously.
    wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, 15, "the topic left the metadata")
    with pytest.raises(KafkaException) as exc:
        admin.delete_topics([topic])[topic].result(10)
    assert exc.value.args[0].name() == "UNKNOWN_TOPIC_OR_PART"


def test_create_topic_errors(admin):
    topic = unique_topic("bad")
    with pytest.raises(KafkaException) as exc:
        admin.create_topics([NewTopic(topic, 1, 3)])[topic].result(10)
    assert exc.value.args[0].name() == "INVALID_REPLICATION_FACTOR"
    with pytest.raises(KafkaException) as exc:
        admin.create_topics([NewTopic(topic, 1, 1, config={"no.such.config": "1"})])[topic].result(10)
    assert exc.value.args[0].name() == "INVALID_CONFIG"
    with pytest.raises(KafkaException) as exc:
        admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "soon"})])[topic].result(10)
    assert exc.value.args[0].name() == "INVALID_CONFIG"
    admin.create_topics([NewTopic(topic, 1, 1)], validate_only=True)[topic].result(10)
    assert topic not in admin.list_topics(timeout=10).topics


def test_describe_configs_reports_defaults_and_sources(admin):
    topic = unique_topic("cfg")
    admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "1000000"})])[topic].result(10)
    # Apache Kafka serves a new topic's configs from metadata that can lag its creation under load.
    configs = wait_until(lambda: _settled(admin, topic, "retention.ms", "1000000"), 15,
                         "the new topic's retention.ms to be described")
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["segment.bytes"].value == "1073741824"
    assert configs["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["cleanup.policy"].value == "delete"
    assert configs["max.message.bytes"].value == "1048588"

    res = ConfigResource(ConfigResource.Type.BROKER, "1")
    broker_configs = admin.describe_configs([res])[res].result(10)
    assert broker_configs["num.partitions"].value == "1"
    assert broker_configs["log.segment.bytes"].value == "1073741824"


def test_alter_and_incremental_alter_configs(admin):
    topic = unique_topic("alter")
    admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "1000000"})])[topic].result(10)

    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"segment.ms": "3600000"})
    admin.alter_configs([res])[res].result(10)
    configs = _describe(admin, topic)
    assert configs["segment.ms"].value == "3600000"
    # AlterConfigs replaces the whole set: retention.ms is back to its default.
    assert configs["retention.ms"].value == "604800000"

    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.bytes", "123456", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("segment.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
    ])
    admin.incremental_alter_configs([res])[res].result(10)
    configs = _describe(admin, topic)
    assert configs["retention.bytes"].value == "123456"
    assert configs["segment.ms"].value == "604800000"
    assert configs["cleanup.policy"].value == "delete,compact"

    bad = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.bytes", "lots", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        admin.incremental_alter_configs([bad])[bad].result(10)
    assert exc.value.args[0].name() == "INVALID_CONFIG"


def test_create_partitions(admin, any_broker):
    topic = unique_topic("grow")
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(10)
    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(10)
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 5
    with pytest.raises(KafkaException) as exc:
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(10)
    assert exc.value.args[0].name() == "INVALID_PARTITIONS"
    p = Producer({"bootstrap.servers": any_broker.bootstrap})
    p.produce(topic, value=b"to-new-partition", partition=4)
    assert p.flush(10) == 0


def test_list_offsets_earliest_latest_and_by_timestamp(admin, any_broker):
    topic = unique_topic("offsets")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    p = Producer({"bootstrap.servers": any_broker.bootstrap, "linger.ms": 0})
    for i in range(10):
        p.produce(topic, value=b"%d" % i, timestamp=1_000_000 + i * 1000)
        p.flush(10)
    tp = TopicPartition(topic, 0)
    result = admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(10)
    assert result.offset == 0
    result = admin.list_offsets({tp: OffsetSpec.latest()})[tp].result(10)
    assert result.offset == 10
    result = admin.list_offsets({tp: OffsetSpec.for_timestamp(1_004_500)})[tp].result(10)
    assert result.offset == 5
    result = admin.list_offsets({tp: OffsetSpec.max_timestamp()})[tp].result(10)
    assert result.offset == 9

    c = Consumer({"bootstrap.servers": any_broker.bootstrap, "group.id": "ts"})
    found = c.offsets_for_times([TopicPartition(topic, 0, 1_007_000)], timeout=10)
    c.close()
    assert found[0].offset == 7


# (version, special timestamp) -> (error, offset, timestamp, leader epoch) on a partition
# holding 5 records stamped 1000..5000: Apache Kafka 4.1.1's answers (no tiered storage).
UNSUPPORTED = (code("UNSUPPORTED_VERSION"), -1, -1, -1)
SPECIAL_ANSWERS = {
    -1: (0, 5, -1, 0), -2: (0, 0, -1, 0), -3: (0, 4, 5000, 0), -4: (0, 0, -1, 0), -5: (0, -1, -1, -1),
}
SPECIAL_SINCE = {-1: 1, -2: 1, -3: 7, -4: 8, -5: 9}


@pytest.mark.parametrize("version", [7, 8, 9, 10])
def test_list_offsets_special_timestamps_by_version(admin, any_broker, version):
    """Earliest-local (-4, KIP-405) is the log start without tiered storage; latest-tiered
    (-5, KIP-1005) finds nothing; a special value newer than the request's version, or
    unknown, is UNSUPPORTED_VERSION for its partition."""
    topic = unique_topic("special-offsets")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    p = Producer({"bootstrap.servers": any_broker.bootstrap})
    for i in range(5):
        p.produce(topic, value=b"%d" % i, timestamp=1000 * (i + 1))
    assert p.flush(10) == 0
    client = RawClient(any_broker.bootstrap)
    try:
        for timestamp in (-1, -2, -3, -4, -5, -6, -100):
            answer = client.call(2, version, {"replica_id": -1, "isolation_level": 0, "timeout_ms": 1000,
                                              "topics": [{"name": topic, "partitions": [
                                                  {"partition_index": 0, "timestamp": timestamp,
                                                   "current_leader_epoch": -1}]}]})
            got = answer["topics"][0]["partitions"][0]
            expected = SPECIAL_ANSWERS[timestamp] if SPECIAL_SINCE.get(timestamp, 99) <= version else UNSUPPORTED
            assert (got["error_code"], got["offset"], got["timestamp"], got["leader_epoch"]) == expected, timestamp
    finally:
        client.close()

def test_describe_cluster(admin, any_broker):
    cluster = admin.describe_cluster().result(10)
    assert len(cluster.nodes) == 1
    assert cluster.nodes[0].port == any_broker.port
    assert cluster.cluster_id



def test_describe_cluster_v2_reports_no_fenced_broker(any_broker):
    client = RawClient(any_broker.bootstrap)
    try:
        answer = client.call(60, 2, {"include_cluster_authorized_operations": False, "endpoint_type": 1,
                                     "include_fenced_brokers": True})
    finally:
        client.close()
    assert [(b["port"], b["is_fenced"]) for b in answer["brokers"]] == [(any_broker.port, False)]


@pytest.mark.parametrize("allow", [False, True])
def test_alter_partition_reassignments_v1_as_a_single_node_answers(admin, any_broker, allow):
    topic = unique_topic("reassign-v1")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    node = admin.describe_cluster().result(10).nodes[0].id
    client = RawClient(any_broker.bootstrap)
    answers = []
    try:
        for replicas in ([node, node + 1], [node], None):
            answer = client.call(45, 1, {"timeout": 10_000, "allow_replication_factor_change": allow, "topics": [
                {"name": topic, "partitions": [{"partition_index": 0, "replicas": replicas}]}]})
            assert (answer["error_code"], answer["allow_replication_factor_change"]) == (0, allow)
            p = answer["responses"][0]["partitions"][0]
            answers.append((p["error_code"], p["error_message"]))
    finally:
        client.close()
    assert answers == [
        (code("INVALID_REPLICA_ASSIGNMENT"),
         f"The manual partition assignment includes broker {node + 1}, but no such broker is registered."),
        (0, None), (code("NO_REASSIGNMENT_IN_PROGRESS"), None)]

def test_more_than_1000_partitions_in_one_request_is_a_policy_violation(shared_broker):
    """Kafka's controller rule (at 10,000 there); without it one small request asks for
    100,000 partitions."""
    from tests.kafka_wire import RawClient

    name = unique_topic("too-many-partitions")
    response = RawClient(shared_broker.bootstrap, timeout=60).call(19, 7, {
        "topics": [{"name": name, "num_partitions": 1_001, "replication_factor": 1, "assignments": [],
                    "configs": []}], "timeout": 30_000, "validate_only": True})
    assert response["topics"][0]["error_code"] == 44  # POLICY_VIOLATION


def test_describe_topic_partitions_pages_with_a_cursor(admin, any_broker):
    """DescribeTopicPartitions (KIP-966, what kafka-topics --describe uses): at most
    response_partition_limit partitions per answer and a cursor naming where the next starts."""
    first, second = sorted([unique_topic("dtp-a"), unique_topic("dtp-b")])
    for topic, count in ((first, 3), (second, 2)):
        admin.create_topics([NewTopic(topic, count, 1)])[topic].result(10)
    missing = unique_topic("zz-dtp-missing")  # sorts last
    client = RawClient(any_broker.bootstrap)
    pages, cursor = [], None
    try:
        while True:
            answer = wait_until(lambda: _page(client, [first, second, missing], cursor), 15,
                                "the new topics to be described")
            pages.append([(t["name"], t["error_code"], [p["partition_index"] for p in t["partitions"]])
                          for t in answer["topics"]])
            cursor = answer["next_cursor"]
            if cursor is None:
                break
            cursor = {"topic_name": cursor["topic_name"], "partition_index": cursor["partition_index"]}
    finally:
        client.close()
    unknown = code("UNKNOWN_TOPIC_OR_PARTITION")
    assert pages == [[(first, 0, [0, 1])], [(first, 0, [2]), (second, 0, [0])], [(second, 0, [1]), (missing, unknown, [])]]


def _page(client, names: list[str], cursor: dict | None) -> dict | None:
    answer = client.call(75, 0, {"topics": [{"name": n} for n in names], "response_partition_limit": 2,
                                 "cursor": cursor})
    # Apache Kafka may not know a topic just created for a moment.
    listed = {t["name"]: t["error_code"] for t in answer["topics"]}
    return None if any(listed.get(n, 0) != 0 for n in names[:2]) else answer


def _create(client: RawClient, names: list[str], timeout: int, version: int = 7, validate_only: bool = False) -> list:
    answer = client.call(19, version, {"topics": [
        {"name": name, "num_partitions": 2, "replication_factor": 1, "assignments": [], "configs": []}
        for name in names], "timeout": timeout, "validate_only": validate_only})
    return [(t["name"], t["error_code"], t.get("error_message")) for t in answer["topics"]]


@pytest.mark.parametrize("timeout", [0, -1])
def test_create_and_delete_topics_with_no_time_left_time_out_and_do_nothing(any_broker, timeout):
    """Kafka's controller drops a CreateTopics/DeleteTopics/CreatePartitions whose deadline (now +
    timeout) has passed: a timeout <= 0 is answered REQUEST_TIMED_OUT for every topic named, one
    that would fail anyway included, and nothing is created, deleted or added."""
    timed_out = code("REQUEST_TIMED_OUT")
    client = RawClient(any_broker.bootstrap)
    try:
        new, existing = unique_topic("t0-new"), unique_topic("t0-existing")
        assert _create(client, [existing], 10_000) == [(existing, 0, None)]
        assert _create(client, [new, existing, "bad name!"], timeout) == [
            (new, timed_out, None), (existing, timed_out, None), ("bad name!", timed_out, None)]
        assert _create(client, [new], timeout, version=2) == [(new, timed_out, None)]
        assert _create(client, [new], timeout, validate_only=True) == [(new, timed_out, None)]
        # Nothing was created: the topic is created now, not TOPIC_ALREADY_EXISTS.
        assert _create(client, [new], 10_000) == [(new, 0, None)]

        def topic_id(name):
            return wait_until(lambda: (lambda t: t["error_code"] == 0 and t["topic_id"])(client.call(3, 12, {
                "topics": [{"name": name, "topic_id": bytes(16)}], "allow_auto_topic_creation": False})["topics"][0]),
                30, f"{name} in the metadata")
        new_id, unknown_id = topic_id(new), bytes(range(16))
        answer = client.call(20, 6, {"timeout": timeout, "topics": [
            {"name": existing, "topic_id": bytes(16)}, {"name": None, "topic_id": new_id},
            {"name": "no-such-topic-t0", "topic_id": bytes(16)}, {"name": None, "topic_id": unknown_id}]})
        assert [(r["name"], r["topic_id"], r["error_code"], r["error_message"]) for r in answer["responses"]] == [
            (existing, bytes(16), timed_out, None), (None, new_id, timed_out, None),
            ("no-such-topic-t0", bytes(16), timed_out, None), (None, unknown_id, timed_out, None)]
        answer = client.call(20, 1, {"timeout": timeout, "topic_names": [existing]})
        assert [(r["name"], r["error_code"]) for r in answer["responses"]] == [(existing, timed_out)]
        answer = client.call(37, 3, {"timeout": timeout, "validate_only": False, "topics": [
            {"name": existing, "count": 4, "assignments": None}, {"name": "no-such-topic-t0", "count": 4,
                                                                  "assignments": None}]})
        assert [(r["name"], r["error_code"], r["error_message"]) for r in answer["results"]] == [
            (existing, timed_out, None), ("no-such-topic-t0", timed_out, None)]
        assert len(client.call(3, 12, {"topics": [{"name": existing, "topic_id": bytes(16)}],
                                       "allow_auto_topic_creation": False})["topics"][0]["partitions"]) == 2
        # Nothing was deleted: both topics are deleted now.
        answer = client.call(20, 6, {"timeout": 10_000, "topics": [
            {"name": existing, "topic_id": bytes(16)}, {"name": None, "topic_id": new_id}]})
        assert sorted((r["error_code"], r["topic_id"] == new_id) for r in answer["responses"]) == [
            (0, False), (0, True)]
    finally:
        client.close()
