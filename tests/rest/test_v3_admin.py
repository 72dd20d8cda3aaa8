"""kafka-rest v3's admin API through a real proxy and broker: every write checked against the broker
with confluent-kafka's AdminClient, lags against a real consumer's commits, ACLs on a broker with
StandardAuthorizer, and kafka-rest's answers to what clients get wrong."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ConfigResource, NewTopic, ResourcePatternType,
    ResourceType,
)

from tests.conftest import BrokerProcess, free_port, unique_topic, wait_until
from tests.rest.conftest import RestProcess

JSON = "application/json"
TIMEOUT = 15
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


# -- helpers ----------------------------------------------------------------------------------


def call(method: str, url: str, body=None, content_type: str = JSON, data: bytes | None = None,
         status: int | None = None) -> requests.Response:
    headers = {"Content-Type": content_type} if body is not None or data is not None else {}
    if body is not None:
        data = json.dumps(body).encode()
    answer = requests.request(method, url, data=data, headers=headers, timeout=TIMEOUT)
    if status is not None:
        assert answer.status_code == status, (method, url, answer.status_code, answer.text)
    if answer.content:
        assert answer.headers["Content-Type"] == JSON, answer.headers
    return answer


def get(url: str, status: int = 200) -> dict:
    return call("GET", url, status=status).json()


def error(answer: requests.Response, status: int, code: int, message: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == JSON
    body = answer.json()
    assert body["error_code"] == code, body
    if message is not None:
        assert body["message"] == message, body
    return body


def admin_of(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def cluster_id_of(admin: AdminClient) -> str:
    return admin.describe_cluster(request_timeout=TIMEOUT).result(TIMEOUT).cluster_id


def describe_topic(admin: AdminClient, name: str):
    return admin.describe_topics(TopicCollection([name]))[name].result(TIMEOUT)


def topic_configs(admin: AdminClient, name: str) -> dict:
    (future,) = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)]).values()
    return future.result(TIMEOUT)


def create_topic(admin: AdminClient, name: str, partitions: int = 1) -> None:
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(TIMEOUT)


def produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition, count in per_partition.items():
        for i in range(count):
            producer.produce(topic, f"v{i}".encode(), partition=partition)
    assert producer.flush(TIMEOUT) == 0


class Base:
    """The proxy's v3 URLs for one cluster."""

    def __init__(self, rest_url: str, cluster_id: str):
        self.root = f"{rest_url}/v3"
        self.cluster_id = cluster_id
        self.cluster = f"{self.root}/clusters/{cluster_id}"

    def __call__(self, *segments) -> str:
        return "/".join([self.cluster, *map(str, segments)])


@pytest.fixture(scope="module")
def v3(platform):
    broker, rest, _ = platform
    admin = admin_of(broker.bootstrap)
    return Base(rest.url, cluster_id_of(admin)), admin, broker


# -- cluster and brokers ----------------------------------------------------------------------


def test_clusters_and_brokers(v3):
    base, admin, broker = v3
    listed = get(f"{base.root}/clusters")
    assert listed["kind"] == "KafkaClusterList"
    assert listed["metadata"] == {"self": f"{base.root}/clusters", "next": None}
    (cluster,) = listed["data"]
    assert cluster == get(base.cluster)
    assert cluster == {
        "kind": "KafkaCluster",
        "metadata": {"self": base.cluster, "resource_name": f"crn:///kafka={base.cluster_id}"},
        "cluster_id": base.cluster_id,
        "controller": {"related": base("brokers", 1)},
        "acls": {"related": base("acls")},
        "brokers": {"related": base("brokers")},
        "broker_configs": {"related": base("broker-configs")},
        "consumer_groups": {"related": base("consumer-groups")},
        "topics": {"related": base("topics")},
        "partition_reassignments": {"related": base("topics", "-", "partitions", "-", "reassignment")},
    }
    brokers = get(base("brokers"))
    assert brokers["kind"] == "KafkaBrokerList" and len(brokers["data"]) == 1
    assert brokers["data"][0] == get(base("brokers", 1)) == {
        "kind": "KafkaBroker",
        "metadata": {"self": base("brokers", 1), "resource_name": f"crn:///kafka={base.cluster_id}/broker=1"},
        "cluster_id": base.cluster_id, "broker_id": 1, "host": "127.0.0.1", "port": int(broker.bootstrap.rsplit(":", 1)[1]), "rack": None,
        "configs": {"related": base("brokers", 1, "configs")},
        "partition_replicas": {"related": base("brokers", 1, "partition-replicas")},
    }
    error(call("GET", base("brokers", 7)), 404, 404, "Broker 7 cannot be found.")
    error(call("GET", base("brokers", "x")), 404, 404)


def test_broker_configs(v3):
    base, admin, broker = v3
    configs = get(base("brokers", 1, "configs"))
    assert configs["kind"] == "KafkaBrokerConfigList"
    names = [c["name"] for c in configs["data"]]
    assert names == sorted(names) and "num.partitions" in names
    (described,) = admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, "1")]).values()
    expected = described.result(TIMEOUT)["num.partitions"]
    one = get(base("brokers", 1, "configs", "num.partitions"))
    assert one == next(c for c in configs["data"] if c["name"] == "num.partitions")
    assert one["kind"] == "KafkaBrokerConfig" and one["broker_id"] == 1 and one["value"] == expected.value == "1"
    assert one["metadata"]["resource_name"] == f"crn:///kafka={base.cluster_id}/broker=1/config=num.partitions"
    assert {"is_default", "is_read_only", "is_sensitive", "source", "synonyms"} <= set(one)
    everyone = get(base("brokers", "-", "configs"))
    assert [c["name"] for c in everyone["data"]] == names
    error(call("GET", base("brokers", 1, "configs", "no.such.config")), 404, 404,
          f"Config no.such.config cannot be found for BROKER 1 in cluster {base.cluster_id}.")
    # num.partitions is not dynamic on either broker: Kafka's INVALID_REQUEST is kafka-rest's 400/40002.
    error(call("PUT", base("brokers", 1, "configs", "num.partitions"), {"value": "4"}), 400, 40002)
    error(call("POST", base("brokers", 1, "configs:alter"), {"data": [{"name": "num.partitions", "value": "4"}]}),
          400, 40002)
    error(call("DELETE", base("brokers", 1, "configs", "nope")), 404, 404)
    # A dynamic config changes and comes back to its default, on both brokers.
    retention = base("brokers", 1, "configs", "log.retention.ms")
    call("PUT", retention, {"value": "7200000"}, status=204)
    try:
        settled(lambda: (get(retention)["value"], get(retention)["source"]), ("7200000", "DYNAMIC_BROKER_CONFIG"))
    finally:
        call("DELETE", retention, status=204)
    settled(lambda: get(retention)["source"] != "DYNAMIC_BROKER_CONFIG", True)
    # cluster-wide configs: those set at the cluster default (none on ours; Kafka's KRaft sets
    # min.insync.replicas there); changes are refused
    cluster_wide = get(base("broker-configs"))
    assert cluster_wide["kind"] == "KafkaClusterConfigList" and cluster_wide["metadata"]["next"] is None
    assert all(c["config_type"] == "BROKER" and c["source"] == "DYNAMIC_DEFAULT_BROKER_CONFIG"
               for c in cluster_wide["data"]), cluster_wide
    if isinstance(broker, BrokerProcess):
        assert cluster_wide["data"] == []
    error(call("GET", base("broker-configs", "num.partitions")), 404, 404)
    error(call("PUT", base("broker-configs", "num.partitions"), {"value": "4"}), 400, 40002)
    error(call("POST", base("broker-configs:alter"), {"data": [{"name": "num.partitions", "value": "4"}]}), 400, 40002)


# -- topics -----------------------------------------------------------------------------------


def test_topic_lifecycle(v3):
    base, admin, _ = v3
    name = unique_topic("v3-life")
    created = call("POST", base("topics"), {"topic_name": name, "partitions_count": 3, "replication_factor": 1,
                                            "configs": [{"name": "retention.ms", "value": "123456"},
                                                        {"name": "cleanup.policy", "value": "compact"}]}, status=201)
    assert created.headers["Location"] == base("topics", name)
    assert created.json() == {
        "kind": "KafkaTopic",
        "metadata": {"self": base("topics", name), "resource_name": f"crn:///kafka={base.cluster_id}/topic={name}"},
        "cluster_id": base.cluster_id, "topic_name": name, "is_internal": False, "replication_factor": 1,
        "partitions_count": 3, "partitions": {"related": base("topics", name, "partitions")},
        "authorized_operations": [], "configs": {"related": base("topics", name, "configs")},
        "partition_reassignments": {"related": base("topics", name, "partitions", "-", "reassignment")},
    }
    assert len(describe_topic(admin, name).partitions) == 3
    configs = topic_configs(admin, name)
    assert configs["retention.ms"].value == "123456" and configs["cleanup.policy"].value == "compact"
    assert get(base("topics", name)) == created.json()

    listed = get(base("topics"))
    assert listed["kind"] == "KafkaTopicList" and listed["metadata"]["next"] is None
    names = [t["topic_name"] for t in listed["data"]]
    assert name in names and names == sorted(names) and "__consumer_offsets" not in names
    internal = get(base("topics", "__consumer_offsets"))
    assert internal["is_internal"] is True
    assert internal["partitions_count"] == len(describe_topic(admin, "__consumer_offsets").partitions)
    operations = get(base("topics", name) + "?include_authorized_operations=true")["authorized_operations"]
    assert {"READ", "WRITE", "DESCRIBE"} <= set(operations)

    error(call("POST", base("topics"), {"topic_name": name}), 400, 40002, f"Topic '{name}' already exists.")

    grown = call("PATCH", base("topics", name), {"partitions_count": 5}, status=200).json()
    assert grown["partitions_count"] == 5
    settled(lambda: len(describe_topic(admin, name).partitions), 5)
    error(call("PATCH", base("topics", name), {"partitions_count": 2}), 400, 40002)
    error(call("PATCH", base("topics", name), {"partitions_count": -1}), 400, 40002)
    error(call("PATCH", base("topics", name + "-missing"), {"partitions_count": 9}), 404, 404,
          f"Topic {name}-missing cannot be found.")

    assert call("DELETE", base("topics", name), status=204).content == b""
    settled(lambda: name in admin.list_topics(timeout=TIMEOUT).topics, False)
    error(call("GET", base("topics", name)), 404, 404, f"Topic {name} cannot be found.")
    error(call("DELETE", base("topics", name)), 404, 404, f"Topic {name} cannot be found.")


def test_create_topic_validate_only_and_assignments(v3):
    base, admin, _ = v3
    checked = unique_topic("v3-validate")
    answer = call("POST", base("topics"), {"topic_name": checked, "validate_only": True}, status=200).json()
    # partitions and replication factor not given: the broker's defaults (num.partitions=1 here)
    assert (answer["partitions_count"], answer["replication_factor"]) == (1, 1)
    assert checked not in admin.list_topics(timeout=TIMEOUT).topics
    error(call("POST", base("topics"), {"topic_name": checked, "partitions_count": 0, "validate_only": True}),
          400, 40002)

    assigned = unique_topic("v3-assigned")
    answer = call("POST", base("topics"), {"topic_name": assigned, "replicas_assignments": {"0": [1], "1": [1]}},
                  status=201).json()
    assert (answer["partitions_count"], answer["replication_factor"]) == (2, 1)
    described = describe_topic(admin, assigned)
    assert [[r.id for r in p.replicas] for p in described.partitions] == [[1], [1]]
    error(call("POST", base("topics"), {"topic_name": unique_topic("v3-rf"), "replication_factor": 3}), 400, 40002)


def settled(read, expected, timeout: float = 15.0) -> None:
    """`read()` comes to `expected`: Apache Kafka applies config changes through its metadata log,
    so a describe right after an alter can still show the old value."""
    seen = []
    wait_until(lambda: seen.append(read()) or seen[-1] == expected, timeout, f"expected {expected!r}, saw {seen[-1:]}")


def test_topic_configs(v3):
    base, admin, _ = v3
    name, other = unique_topic("v3-cfg"), unique_topic("v3-cfg2")
    create_topic(admin, name)
    create_topic(admin, other)
    listed = get(base("topics", name, "configs"))
    assert listed["kind"] == "KafkaTopicConfigList"
    names = [c["name"] for c in listed["data"]]
    assert names == sorted(names) and set(names) == set(topic_configs(admin, name))
    retention = get(base("topics", name, "configs", "retention.ms"))
    assert retention["kind"] == "KafkaTopicConfig" and retention["topic_name"] == name
    assert retention["metadata"] == {"self": base("topics", name, "configs", "retention.ms"),
                                     "resource_name": f"crn:///kafka={base.cluster_id}/topic={name}/config=retention.ms"}
    assert retention["source"] == "DEFAULT_CONFIG" and retention["is_default"] is True
    default = retention["value"]

    call("PUT", base("topics", name, "configs", "retention.ms"), {"value": "5000"}, status=204)
    settled(lambda: topic_configs(admin, name)["retention.ms"].value, "5000")
    changed = get(base("topics", name, "configs", "retention.ms"))
    assert changed["value"] == "5000" and changed["source"] == "DYNAMIC_TOPIC_CONFIG" and not changed["is_default"]
    assert changed["synonyms"][0] == {"name": "retention.ms", "value": "5000", "source": "DYNAMIC_TOPIC_CONFIG"}

    call("DELETE", base("topics", name, "configs", "retention.ms"), status=204)
    settled(lambda: topic_configs(admin, name)["retention.ms"].value, default)

    call("POST", base("topics", name, "configs:alter"), {"data": [
        {"name": "retention.ms", "value": "7000"}, {"name": "cleanup.policy", "value": "compact", "operation": "SET"},
    ]}, status=204)
    settled(lambda: tuple(topic_configs(admin, name)[c].value for c in ("retention.ms", "cleanup.policy")),
            ("7000", "compact"))
    call("POST", base("topics", name, "configs:alter"), {"data": [{"name": "retention.ms", "operation": "DELETE"}],
                                                        "validate_only": True}, status=204)
    assert topic_configs(admin, name)["retention.ms"].value == "7000"
    call("POST", base("topics", name, "configs:alter"), {"data": [{"name": "retention.ms", "operation": "DELETE"}]},
         status=204)
    settled(lambda: topic_configs(admin, name)["retention.ms"].value, default)

    error(call("PUT", base("topics", name, "configs", "no.such"), {"value": "1"}), 404, 404,
          f"Config no.such cannot be found for TOPIC {name} in cluster {base.cluster_id}.")
    error(call("PUT", base("topics", name, "configs", "retention.ms"), {"value": "soon"}), 400, 40002)
    error(call("GET", base("topics", name, "configs", "no.such")), 404, 404)
    error(call("GET", base("topics", name + "-x", "configs")), 404, 404, f"Topic {name}-x cannot be found.")

    every = get(base("topics", "-", "configs"))
    assert every["metadata"]["self"] == base("topics", "-", "configs")
    assert {c["topic_name"] for c in every["data"]} >= {name, other}

    call("POST", base("topics", "-", "configs:alter"), {"data": [
        {"topic_name": name, "configs": [{"name": "retention.ms", "value": "8000"}]},
        {"topic_name": other, "configs": [{"name": "retention.ms", "value": "9000"}]},
    ]}, status=204)
    assert topic_configs(admin, name)["retention.ms"].value == "8000"
    assert topic_configs(admin, other)["retention.ms"].value == "9000"
    partial = call("POST", base("topics", "-", "configs:alter"), {"data": [
        {"topic_name": name, "configs": [{"name": "retention.ms", "value": "8500"}]},
        {"topic_name": other, "configs": [{"name": "retention.ms", "value": "never"}]},
    ]}, status=207).json()
    assert [(f["topic_name"], f["error_code"]) for f in partial["failures"]] == [(other, 40002)]
    assert topic_configs(admin, name)["retention.ms"].value == "8500"
    assert topic_configs(admin, other)["retention.ms"].value == "9000"


# -- partitions, replicas, reassignments --------------------------------------------------------


def test_partitions_offsets_replicas(v3):
    base, admin, broker = v3
    name = unique_topic("v3-parts")
    create_topic(admin, name, 2)
    produce(broker.bootstrap, name, {0: 3, 1: 5})
    listed = get(base("topics", name, "partitions"))
    assert listed["kind"] == "KafkaPartitionList" and [p["partition_id"] for p in listed["data"]] == [0, 1]
    one = get(base("topics", name, "partitions", 1))
    assert one == listed["data"][1] == {
        "kind": "KafkaPartition",
        "metadata": {"self": base("topics", name, "partitions", 1),
                     "resource_name": f"crn:///kafka={base.cluster_id}/topic={name}/partition=1"},
        "cluster_id": base.cluster_id, "topic_name": name, "partition_id": 1,
        "leader": {"related": base("topics", name, "partitions", 1, "replicas", 1)},
        "replicas": {"related": base("topics", name, "partitions", 1, "replicas")},
        "reassignment": {"related": base("topics", name, "partitions", 1, "reassignment")},
    }
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": name})
    try:
        watermarks = [consumer.get_watermark_offsets(TopicPartition(name, p), TIMEOUT) for p in (0, 1)]
    finally:
        consumer.close()
    assert watermarks == [(0, 3), (0, 5)]
    offsets = get(base("topics", name, "partitions", 1, "offset") + "?offset_type=earliest_and_latest")
    assert offsets == get(base("topics", name, "partitions", 1, "offset")) == {
        "kind": "KafkaPartitionWithOffsets",
        "metadata": {"self": base("topics", name, "partitions", 1, "offset"),
                     "resource_name": f"crn:///kafka={base.cluster_id}/topic={name}/partition=1"
                                      "/offset_type=earliest_and_latest"},
        "cluster_id": base.cluster_id, "topic_name": name, "partition_id": 1, "earliest_offset": 0,
        "latest_offset": 5,
    }
    error(call("GET", base("topics", name, "partitions", 1, "offset") + "?offset_type=latest"), 400, 400,
          "Bad Request: offset_type:latest is invalid")
    error(call("GET", base("topics", name, "partitions", 2)), 404, 40402, "Partition not found.")
    error(call("GET", base("topics", name, "partitions", -1, "offset")), 404, 40402, "Partition not found.")

    replicas = get(base("topics", name, "partitions", 0, "replicas"))
    assert replicas["kind"] == "KafkaReplicaList"
    assert replicas["data"] == [get(base("topics", name, "partitions", 0, "replicas", 1))]
    assert replicas["data"][0] == {
        "kind": "KafkaReplica",
        "metadata": {"self": base("topics", name, "partitions", 0, "replicas", 1),
                     "resource_name": f"crn:///kafka={base.cluster_id}/topic={name}/partition=0/replica=1"},
        "cluster_id": base.cluster_id, "topic_name": name, "partition_id": 0, "broker_id": 1,
        "is_leader": True, "is_in_sync": True, "broker": {"related": base("brokers", 1)},
    }
    error(call("GET", base("topics", name, "partitions", 0, "replicas", 2)), 404, 404)
    held = get(base("brokers", 1, "partition-replicas"))
    mine = [(r["topic_name"], r["partition_id"]) for r in held["data"] if r["topic_name"] == name]
    assert mine == [(name, 0), (name, 1)]
    error(call("GET", base("brokers", 3, "partition-replicas")), 404, 404, "Broker 3 cannot be found.")

    empty = {"kind": "KafkaReassignmentList", "next": None, "data": []}
    for path in (base("topics", "-", "partitions", "-", "reassignment"),
                 base("topics", name, "partitions", "-", "reassignment")):
        answer = get(path)
        assert (answer["kind"], answer["metadata"], answer["data"]) == (empty["kind"], {"self": path, "next": None}, [])
    error(call("GET", base("topics", name, "partitions", 0, "reassignment")), 404, 404)


# -- consumer groups --------------------------------------------------------------------------


def test_consumer_groups_and_lags(v3):
    base, admin, broker = v3
    name = unique_topic("v3-lag")
    group = unique_topic("v3-group")
    create_topic(admin, name, 2)
    produce(broker.bootstrap, name, {0: 4, 1: 6})
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "client.id": "lagger",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([name])
        read = 0
        while read < 3:
            message = consumer.poll(TIMEOUT)
            assert message is not None, "no records"
            if message.error() is None:
                read += 1
        consumer.commit(asynchronous=False)
        committed = {(tp.topic, tp.partition): tp.offset
                     for tp in consumer.committed([TopicPartition(name, 0), TopicPartition(name, 1)], TIMEOUT)
                     if tp.offset >= 0}
        assert committed
        member_id = consumer.memberid()
        assignment = sorted((tp.topic, tp.partition) for tp in consumer.assignment())
        check_groups(base, group, name, member_id, assignment, committed, {0: 4, 1: 6})
    finally:
        consumer.close()


def check_groups(base: Base, group: str, topic: str, member_id: str, assignment, committed, ends) -> None:
    listed = get(base("consumer-groups"))
    assert listed["kind"] == "KafkaConsumerGroupList"
    described = get(base("consumer-groups", group))
    assert described in listed["data"]
    assert described == {
        "kind": "KafkaConsumerGroup",
        "metadata": {"self": base("consumer-groups", group),
                     "resource_name": f"crn:///kafka={base.cluster_id}/consumer-group={group}"},
        "cluster_id": base.cluster_id, "consumer_group_id": group, "is_simple": False,
        "partition_assignor": "range", "state": "STABLE", "type": "CLASSIC", "is_mixed_consumer_group": False,
        "coordinator": {"related": base("brokers", 1)},
        "consumers": {"related": base("consumer-groups", group, "consumers")},
        "lag_summary": {"related": base("consumer-groups", group, "lag-summary")},
    }
    consumers = get(base("consumer-groups", group, "consumers"))
    assert consumers["data"] == [get(base("consumer-groups", group, "consumers", member_id))]
    assert consumers["data"][0] == {
        "kind": "KafkaConsumer",
        "metadata": {"self": base("consumer-groups", group, "consumers", member_id),
                     "resource_name": f"crn:///kafka={base.cluster_id}/consumer-group={group}/consumer={member_id}"},
        "cluster_id": base.cluster_id, "consumer_group_id": group, "consumer_id": member_id,
        "instance_id": None, "client_id": "lagger",
        "assignments": {"related": base("consumer-groups", group, "consumers", member_id, "assignments")},
    }
    assignments = get(base("consumer-groups", group, "consumers", member_id, "assignments"))
    assert [(a["topic_name"], a["partition_id"]) for a in assignments["data"]] == assignment
    first = assignments["data"][0]
    assert first == get(base("consumer-groups", group, "consumers", member_id, "assignments", topic, "partitions", 0))
    assert first["partition"] == {"related": base("topics", topic, "partitions", 0)}
    assert first["lag"] == {"related": base("consumer-groups", group, "lags", topic, "partitions", 0)}

    lags = get(base("consumer-groups", group, "lags"))
    assert lags["kind"] == "KafkaConsumerLagList"
    expected = {(topic, p): (offset, ends[p], ends[p] - offset) for (_, p), offset in committed.items()}
    assert {(lag["topic_name"], lag["partition_id"]): (lag["current_offset"], lag["log_end_offset"], lag["lag"])
            for lag in lags["data"]} == expected
    assert [lag["lag"] for lag in lags["data"]] == sorted((lag["lag"] for lag in lags["data"]), reverse=True)
    (some_topic, some_partition), _ = next(iter(committed.items()))
    single = get(base("consumer-groups", group, "lags", some_topic, "partitions", some_partition))
    assert single["consumer_id"] == member_id and single["client_id"] == "lagger"
    assert single["metadata"]["resource_name"] == \
        f"crn:///kafka={base.cluster_id}/consumer-group={group}/lag={topic}/partition={some_partition}"

    summary = get(base("consumer-groups", group, "lag-summary"))
    top = max(expected.items(), key=lambda item: (item[1][2], -item[0][1]))
    assert summary == {
        "kind": "KafkaConsumerGroupLagSummary",
        "metadata": {"self": base("consumer-groups", group, "lag-summary"),
                     "resource_name": f"crn:///kafka={base.cluster_id}/consumer-group={group}/lag-summary"},
        "cluster_id": base.cluster_id, "consumer_group_id": group,
        "max_lag": top[1][2], "total_lag": sum(v[2] for v in expected.values()),
        "max_lag_consumer_id": member_id,
        "max_lag_consumer": {"related": base("consumer-groups", group, "consumers", member_id)},
        "max_lag_client_id": "lagger", "max_lag_instance_id": None,
        "max_lag_topic_name": topic, "max_lag_partition_id": top[0][1],
        "max_lag_partition": {"related": base("topics", topic, "partitions", top[0][1])},
    }

    error(call("GET", base("consumer-groups", group + "-none")), 404, 404)
    error(call("GET", base("consumer-groups", group, "consumers", "nobody")), 404, 404, "Consumer nobody does not exist.")
    error(call("GET", base("consumer-groups", group, "lags", topic, "partitions", 9)), 404, 404)


def test_group_without_commits_has_no_lags(v3):
    base, admin, broker = v3
    name, group = unique_topic("v3-nolag"), unique_topic("v3-idle")
    create_topic(admin, name)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.subscribe([name])
        for _ in range(40):
            consumer.poll(0.25)
            if consumer.assignment():
                break
        assert get(base("consumer-groups", group))["state"] == "STABLE"
        error(call("GET", base("consumer-groups", group, "lags")), 404, 404, "Consumer group offsets could not be found.")
        error(call("GET", base("consumer-groups", group, "lag-summary")), 404, 404)
    finally:
        consumer.close()


# -- what clients get wrong -------------------------------------------------------------------


def test_bad_input(v3):
    base, admin, _ = v3
    name = unique_topic("v3-bad")
    create_topic(admin, name)
    unknown = f"{base.root}/clusters/no-such-cluster"
    for path in ("", "/brokers", "/topics", f"/topics/{name}", f"/topics/{name}/configs", "/consumer-groups",
                 "/acls", "/broker-configs", "/topics/-/partitions/-/reassignment"):
        error(call("GET", unknown + path), 404, 404, "Cluster no-such-cluster cannot be found.")
    error(call("POST", unknown + "/topics", {"topic_name": "x"}), 404, 404, "Cluster no-such-cluster cannot be found.")
    error(call("DELETE", unknown + f"/topics/{name}"), 404, 404, "Cluster no-such-cluster cannot be found.")
    assert name in admin.list_topics(timeout=TIMEOUT).topics

    topics = base("topics")
    error(call("POST", topics, data=b'{"topic_name": "x",'), 400, 400)
    error(call("POST", topics, data=b'{"topic_name": "x"}', content_type="text/plain"), 415, 415,
          "HTTP 415 Unsupported Media Type")
    error(call("POST", topics, data=b'{"topic_name": "x"}', content_type="application/vnd.kafka.v2+json"), 415, 415)
    error(call("POST", topics, data=b"", content_type=JSON), 422, 42206,
          "Payload error. Request body is empty. Data is required.")
    error(call("POST", topics, {"partitions_count": 1}), 400, 400, "topic_name is required")
    error(call("POST", topics, ["topic_name"]), 400, 400)
    error(call("POST", topics, {"topic_name": unique_topic("v3-x"), "partitions_count": "three"}), 400, 400)
    error(call("POST", topics, {"topic_name": unique_topic("v3-x"), "validate_only": "yes"}), 400, 400)
    error(call("POST", topics, {"topic_name": unique_topic("v3-x"), "configs": [{"value": "1"}]}), 400, 400)
    error(call("POST", topics, {"topic_name": unique_topic("v3-x"), "replicas_assignments": {"a": [1]}}), 400, 400)
    error(call("POST", topics, {"topic_name": unique_topic("v3-x"), "replicas_assignments": {"1": [1]}}), 400, 40002)
    error(call("POST", topics, {"topic_name": "bad name!"}), 422, 42206, "Payload error. Invalid topic name.")
    error(call("POST", topics, {"topic_name": unique_topic("v3-x"), "configs": [{"name": "retention.ms",
                                                                                  "value": "x"}]}), 400, 40002)
    error(call("POST", topics, {"topic_name": unique_topic("v3-x"), "configs": [{"name": "no.such",
                                                                                  "value": "x"}]}), 400, 40002)

    topic = base("topics", name)
    error(call("PATCH", topic, data=b"", content_type=JSON), 422, 42206,
          "Payload error. Request body is empty. Partitions_count is required.")
    error(call("PATCH", topic, {}), 400, 400, "partitions_count is required")
    error(call("PATCH", topic, {"partitions_count": True}), 400, 400)
    error(call("PATCH", topic, {"partitions_count": -3}), 400, 40002)
    assert len(describe_topic(admin, name).partitions) == 1
    error(call("PUT", base("topics", name, "configs", "retention.ms"), {"value": 5}), 400, 400)
    error(call("PUT", base("topics", name, "configs", "retention.ms"), {"value": None}), 400, 40002)
    error(call("POST", base("topics", name, "configs:alter"), {"data": [{"name": "retention.ms",
                                                                         "operation": "APPEND"}]}), 400, 400)
    error(call("POST", base("topics", name, "configs:alter"), {"data": "retention.ms"}), 400, 400)
    error(call("POST", base("topics", name, "configs:alter"), {}), 400, 400, "data is required")
    error(call("GET", base("topics", name, "partitions", "zero")), 404, 404)
    # no authorizer on this broker: Kafka's SECURITY_DISABLED is kafka-rest's 400/40002
    error(call("GET", base("acls")), 400, 40002)
    error(call("POST", base("acls"), acl_body("x")), 400, 40002)
    error(call("DELETE", base("acls") + "?resource_type=TOPIC&pattern_type=ANY&operation=ANY&permission=ANY"),
          400, 40002)


# -- ACLs -------------------------------------------------------------------------------------


def acl_body(resource_name: str, principal: str = "User:alice", operation: str = "READ", **extra) -> dict:
    return {"resource_type": "TOPIC", "resource_name": resource_name, "pattern_type": "LITERAL",
            "principal": principal, "host": "*", "operation": operation, "permission": "ALLOW", **extra}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A broker with StandardAuthorizer; the proxy's unauthenticated client (User:ANONYMOUS) is a super user."""
    work = tmp_path_factory.mktemp("rest-acls")
    broker = BrokerProcess(work / "data", {"authorizer.class.name": STANDARD_AUTHORIZER,
                                           "super.users": "User:ANONYMOUS",
                                           "allow.everyone.if.no.acl.found": "true"}).start()
    rest = RestProcess(work, broker.bootstrap).start()
    try:
        admin = admin_of(broker.bootstrap)
        yield Base(rest.url, cluster_id_of(admin)), admin
    finally:
        rest.stop()
        broker.stop()


def kafka_acls(admin: AdminClient, resource_name: str) -> set[tuple]:
    found = admin.describe_acls(AclBindingFilter(ResourceType.ANY, resource_name, ResourcePatternType.ANY, None,
                                                 None, AclOperation.ANY, AclPermissionType.ANY)).result(TIMEOUT)
    return {(b.restype.name, b.name, b.resource_pattern_type.name, b.principal, b.host, b.operation.name,
             b.permission_type.name) for b in found}


def test_acls(secured):
    base, admin = secured
    topic = unique_topic("v3-acl")
    assert get(base("acls"))["data"] == []
    created = call("POST", base("acls"), acl_body(topic), status=201)
    assert created.content == b""
    location = urlsplit(created.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == base("acls")
    assert dict(parse_qsl(location.query)) == acl_body(topic)
    assert kafka_acls(admin, topic) == {("TOPIC", topic, "LITERAL", "User:alice", "*", "READ", "ALLOW")}

    call("POST", base("acls:batch"), {"data": [acl_body(topic, "User:bob", "WRITE"),
                                              {**acl_body(topic + "-", "User:bob", "DESCRIBE"),
                                               "pattern_type": "PREFIXED"}]}, status=204)
    assert len(kafka_acls(admin, topic)) == 2 and len(kafka_acls(admin, topic + "-")) == 1

    found = get(base("acls") + f"?resource_type=topic&resource_name={topic}")
    assert found["kind"] == "KafkaAclList"
    assert [(a["principal"], a["operation"]) for a in found["data"]] == [("User:alice", "READ"), ("User:bob", "WRITE")]
    alice = found["data"][0]
    assert alice == {"kind": "KafkaAcl", "metadata": {"self": alice["metadata"]["self"]},
                     "cluster_id": base.cluster_id, **acl_body(topic)}
    self_url = urlsplit(alice["metadata"]["self"])
    assert self_url.path == urlsplit(base("acls")).path and dict(parse_qsl(self_url.query)) == acl_body(topic)
    assert [a["principal"] for a in get(base("acls") + "?principal=User:bob&pattern_type=PREFIXED")["data"]] == \
        ["User:bob"]
    assert get(base("acls") + f"?resource_name={topic}&operation=DESCRIBE")["data"] == []

    error(call("GET", base("acls") + "?resource_type=UNKNOWN"), 400, 400, "Bad Request: resource_type cannot be UNKNOWN")
    error(call("GET", base("acls") + "?operation=FLY"), 400, 400)
    error(call("DELETE", base("acls") + f"?resource_name={topic}"), 400, 400,
          "Bad Request: resource_type cannot be unspecified or UNKNOWN")
    error(call("POST", base("acls"), acl_body(topic, pattern_type="MATCH")), 400, 400,
          "Bad Request: pattern_type cannot be MATCH")
    error(call("POST", base("acls"), acl_body(topic, operation="ANY")), 400, 400, "Bad Request: operation cannot be ANY")
    error(call("POST", base("acls"), {"resource_type": "TOPIC"}), 400, 400)
    error(call("POST", base("acls:batch"), {"data": [acl_body(topic), {"resource_type": "GROUP"}]}), 400, 400)
    assert len(kafka_acls(admin, topic)) == 2

    deleted = call("DELETE", base("acls") + f"?resource_type=TOPIC&resource_name={topic}&pattern_type=LITERAL"
                   "&principal=User:bob&operation=ANY&permission=ANY", status=200).json()
    assert [(a["principal"], a["operation"]) for a in deleted["data"]] == [("User:bob", "WRITE")]
    assert kafka_acls(admin, topic) == {("TOPIC", topic, "LITERAL", "User:alice", "*", "READ", "ALLOW")}
    cluster_acl = call("POST", base("acls"), {**acl_body("kafka-cluster", "User:carol", "DESCRIBE"),
                                              "resource_type": "CLUSTER"}, status=201)
    assert "resource_type=CLUSTER" in cluster_acl.headers["Location"]
    assert [a["resource_type"] for a in get(base("acls") + "?resource_type=CLUSTER")["data"]] == ["CLUSTER"]


def test_unreachable_kafka_is_a_server_error(tmp_path):
    """No broker behind the proxy: kafka-rest's retriable-error answer (500/50003), not a hang."""
    rest = RestProcess(tmp_path, f"127.0.0.1:{free_port()}").start()
    try:
        error(call("GET", f"{rest.url}/v3/clusters"), 500, 50003)
    finally:
        rest.kill()  # its clients would wait out their timeouts against the missing broker
