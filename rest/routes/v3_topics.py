"""kafka-rest v3: topics (list, create, get, add partitions, delete), their configs, partitions with
their offsets and replicas, the replicas a broker holds, and partition reassignments.

As kafka-rest: the topic list leaves out Kafka's internal topics (Admin listTopics), which can
still be read by name (`is_internal: true`); create answers 201 with a Location (200 with
`validate_only`); an unknown topic is 404 `Topic <t> cannot be found.`.

Where this differs from kafka-rest, and why:
- A created topic's partitions_count and replication_factor come from the request, the
  replicas_assignments, or else the broker's defaults (`num.partitions`,
  `default.replication.factor`): confluent-kafka does not hand back CreateTopics's counts.
- A broker's partition-replicas are read from the cluster metadata (every partition whose
  replicas include the broker) rather than DescribeLogDirs, which confluent-kafka lacks.
- Reassignments: confluent-kafka has no ListPartitionReassignments, so the proxy answers as a
  cluster with none in progress, which a single schemabus broker always is: both lists are empty
  and a partition's reassignment is 404, as kafka-rest answers for a partition none is moving.
"""

from __future__ import annotations

import re

from confluent_kafka.admin import ConfigResource, NewTopic
from flask import Blueprint, request

from rest.errors import RestError
from rest.v3 import (
    INT32, admin, alter_commands, answer, checked_commands, cluster, collection, config_fields, controller_id, crn,
    field, install, json_request, no_content, not_found, path_int, path_partition, related, resource, url,
)

bp = install(Blueprint("v3_topics", __name__))

TOPIC = ConfigResource.Type.TOPIC
NULL_PAYLOAD = "Null input provided. Data is required."
LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
MAX_TOPIC_LENGTH = 249


# -- topics -----------------------------------------------------------------------------------


def _topic_data(cluster_id: str, name: str, is_internal: bool, replication_factor: int, partitions_count: int,
                authorized_operations: list[str]) -> dict:
    return resource(
        "KafkaTopic", url("clusters", cluster_id, "topics", name), crn(cluster_id, "topic", name),
        cluster_id=cluster_id, topic_name=name, is_internal=is_internal,
        replication_factor=replication_factor, partitions_count=partitions_count,
        partitions=related("clusters", cluster_id, "topics", name, "partitions"),
        authorized_operations=authorized_operations,
        configs=related("clusters", cluster_id, "topics", name, "configs"),
        partition_reassignments=related("clusters", cluster_id, "topics", name, "partitions", "-", "reassignment"),
    )


def _described_topic_data(cluster_id: str, described) -> dict:
    partitions = described.partitions
    operations = sorted(op.name for op in described.authorized_operations or [])
    return _topic_data(cluster_id, described.name, bool(described.is_internal),
                       len(partitions[0].replicas) if partitions else 0, len(partitions), operations)


def _authorized_operations_asked() -> bool:
    """kafka-rest's list takes `includeAuthorizedOperations`, its get `include_authorized_operations`."""
    text = request.args.get("include_authorized_operations", request.args.get("includeAuthorizedOperations", ""))
    return text.lower() == "true"


@bp.get("/clusters/<cluster_id>/topics")
def list_topics(cluster_id: str):
    cluster(cluster_id)
    topics = [t for t in admin().topics(_authorized_operations_asked()) if not t.is_internal]
    return answer(collection("KafkaTopicList", url("clusters", cluster_id, "topics"),
                             [_described_topic_data(cluster_id, t) for t in topics]))


@bp.get("/clusters/<cluster_id>/topics/<topic_name>")
def get_topic(cluster_id: str, topic_name: str):
    cluster(cluster_id)
    return answer(_described_topic_data(cluster_id, admin().topic(topic_name, _authorized_operations_asked())))


def _topic_name(body) -> str:
    name = field(body, "topic_name", str, required=True)
    if name in ("", ".", "..") or len(name) > MAX_TOPIC_LENGTH or not LEGAL_TOPIC.fullmatch(name):
        raise RestError(42206, "Payload error. Invalid topic name.")
    return name


def _assignments(body) -> list[list[int]]:
    """replicas_assignments `{"<partition>": [broker, ...]}` as confluent-kafka's list by partition,
    which needs the partitions 0..n-1."""
    given = field(body, "replicas_assignments", dict) or {}
    assignments = {}
    for key, brokers in given.items():
        if not re.fullmatch(r"\d+", key):
            raise RestError(400, f"replicas_assignments: {key!r} is not a partition id")
        if not isinstance(brokers, list) or not brokers or \
                not all(isinstance(b, int) and not isinstance(b, bool) and b in INT32 for b in brokers):
            raise RestError(400, f"replicas_assignments[{key}] must be a non-empty array of broker ids")
        assignments[int(key)] = brokers
    if sorted(assignments) != list(range(len(assignments))):
        raise RestError(40002, "replicas_assignments must name the partitions 0 to N-1")
    return [assignments[p] for p in range(len(assignments))]


def _configs(body) -> dict[str, str]:
    """CreateTopicRequest's configs `[{name, value?}]`; a null value leaves the config unset."""
    entries = field(body, "configs", list) or []
    configs = {}
    for index, entry in enumerate(entries):
        name = field(entry, "name", str, required=True, where=f"configs[{index}].")
        value = field(entry, "value", str, where=f"configs[{index}].")
        if value is not None:
            configs[name] = value
    return configs


def _broker_default(described, name: str) -> int:
    """A broker default that decides a new topic's counts; 0 when the broker will not say (kafka-rest's
    fallback when CreateTopics's counts are hidden from the client)."""
    try:
        broker = str(controller_id(described))
        entries = admin().configs(ConfigResource.Type.BROKER, [broker])[broker]
    except RestError:
        return 0
    for entry in entries:
        if entry.name == name and entry.value is not None and entry.value.lstrip("-").isdigit():
            return int(entry.value)
    return 0


@bp.post("/clusters/<cluster_id>/topics")
def create_topic(cluster_id: str):
    body = json_request()
    name = _topic_name(body)
    partitions_count = field(body, "partitions_count", int)
    replication_factor = field(body, "replication_factor", int)
    assignments = _assignments(body)
    configs = _configs(body)
    validate_only = bool(field(body, "validate_only", bool))
    described = cluster(cluster_id)
    if assignments:
        # librdkafka wants the partition count (not the default, -1) with an assignment
        new_topic = NewTopic(name, num_partitions=len(assignments), replication_factor=-1,
                             replica_assignment=assignments, config=configs)
        partitions_count, replication_factor = len(assignments), len(assignments[0])
    else:
        new_topic = NewTopic(name, num_partitions=-1 if partitions_count is None else partitions_count,
                             replication_factor=-1 if replication_factor is None else replication_factor,
                             config=configs)
    admin().create_topic(new_topic, validate_only)
    if partitions_count is None:
        partitions_count = _broker_default(described, "num.partitions")
    if replication_factor is None:
        replication_factor = _broker_default(described, "default.replication.factor")
    data = _topic_data(cluster_id, name, False, replication_factor, partitions_count, [])
    if validate_only:
        return answer(data)
    return answer(data, 201, headers={"Location": data["metadata"]["self"]})


@bp.patch("/clusters/<cluster_id>/topics/<topic_name>")
def update_partitions_count(cluster_id: str, topic_name: str):
    body = json_request("Request body is empty. Partitions_count is required.")
    count = field(body, "partitions_count", int, required=True)
    cluster(cluster_id)
    admin().create_partitions(topic_name, count)
    data = _described_topic_data(cluster_id, admin().topic(topic_name))
    # Kafka's metadata can lag the change it just accepted: the count is the one asked for.
    data["partitions_count"] = count
    return answer(data)


@bp.delete("/clusters/<cluster_id>/topics/<topic_name>")
def delete_topic(cluster_id: str, topic_name: str):
    cluster(cluster_id)
    admin().delete_topic(topic_name)
    return no_content()


# -- topic configs ----------------------------------------------------------------------------


def _topic_config_data(cluster_id: str, topic: str, entry) -> dict:
    return resource(
        "KafkaTopicConfig", url("clusters", cluster_id, "topics", topic, "configs", entry.name),
        crn(cluster_id, "topic", topic, "config", entry.name),
        **config_fields(cluster_id, entry, topic_name=topic))


def _topic_configs(topic: str) -> list:
    return admin().configs(TOPIC, [topic])[topic]


@bp.get("/clusters/<cluster_id>/topics/-/configs")
def list_all_topic_configs(cluster_id: str):
    cluster(cluster_id)
    names = [t.name for t in admin().topics() if not t.is_internal]
    configs = admin().configs(TOPIC, names)
    data = [_topic_config_data(cluster_id, name, e) for name in names for e in configs.get(name, [])]
    return answer(collection("KafkaTopicConfigList", url("clusters", cluster_id, "topics", "-", "configs"), data))


@bp.get("/clusters/<cluster_id>/topics/<topic_name>/configs")
def list_topic_configs(cluster_id: str, topic_name: str):
    cluster(cluster_id)
    data = [_topic_config_data(cluster_id, topic_name, e) for e in _topic_configs(topic_name)]
    return answer(collection("KafkaTopicConfigList", url("clusters", cluster_id, "topics", topic_name, "configs"),
                             data))


@bp.get("/clusters/<cluster_id>/topics/<topic_name>/configs/<name>")
def get_topic_config(cluster_id: str, topic_name: str, name: str):
    cluster(cluster_id)
    for entry in _topic_configs(topic_name):
        if entry.name == name:
            return answer(_topic_config_data(cluster_id, topic_name, entry))
    raise not_found(f"Config {name} cannot be found for TOPIC {topic_name} in cluster {cluster_id}.")


def _alter_topic(cluster_id: str, topic: str, commands, validate_only: bool = False) -> None:
    cluster(cluster_id)
    checked_commands(commands, {e.name for e in _topic_configs(topic)}, f"TOPIC {topic}", cluster_id)
    admin().alter_config(TOPIC, topic, commands, validate_only)


@bp.put("/clusters/<cluster_id>/topics/<topic_name>/configs/<name>")
def update_topic_config(cluster_id: str, topic_name: str, name: str):
    value = field(json_request(NULL_PAYLOAD), "value", str)
    _alter_topic(cluster_id, topic_name, alter_commands([{"name": name, "value": value}]))
    return no_content()


@bp.delete("/clusters/<cluster_id>/topics/<topic_name>/configs/<name>")
def reset_topic_config(cluster_id: str, topic_name: str, name: str):
    _alter_topic(cluster_id, topic_name, alter_commands([{"name": name, "operation": "DELETE"}]))
    return no_content()


@bp.post("/clusters/<cluster_id>/topics/<topic_name>/configs:alter")
def alter_topic_configs(cluster_id: str, topic_name: str):
    body = json_request(NULL_PAYLOAD)
    commands = alter_commands(field(body, "data", list, required=True))
    _alter_topic(cluster_id, topic_name, commands, bool(field(body, "validate_only", bool)))
    return no_content()


@bp.post("/clusters/<cluster_id>/topics/-/configs:alter")
def alter_many_topic_configs(cluster_id: str):
    """kafka-rest's multi-topic alter: every name checked first (404), then one
    IncrementalAlterConfigs; 204, or 207 with the topics that failed."""
    body = json_request(NULL_PAYLOAD)
    by_topic = {}
    for index, entry in enumerate(field(body, "data", list, required=True)):
        where = f"data[{index}]."
        topic = field(entry, "topic_name", str, required=True, where=where)
        by_topic[topic] = alter_commands(field(entry, "configs", list, required=True, where=where), where)
    validate_only = bool(field(body, "validate_only", bool))
    cluster(cluster_id)
    known = admin().configs(TOPIC, list(by_topic))
    for topic, commands in by_topic.items():
        checked_commands(commands, {e.name for e in known[topic]}, f"TOPIC {topic}", cluster_id)
    failures = admin().alter_configs(TOPIC, by_topic, validate_only)
    if not failures:
        return no_content()
    return answer({"failures": [{"topic_name": topic, "error_code": exc.error_code, "message": exc.message}
                                for topic, exc in failures.items()]}, 207)


# -- partitions -------------------------------------------------------------------------------


def _partition_data(cluster_id: str, topic: str, partition) -> dict:
    base = ("clusters", cluster_id, "topics", topic, "partitions", partition.id)
    leader = partition.leader
    return resource(
        "KafkaPartition", url(*base), crn(cluster_id, "topic", topic, "partition", partition.id),
        cluster_id=cluster_id, topic_name=topic, partition_id=partition.id,
        leader=related(*base, "replicas", leader.id) if leader is not None and leader.id >= 0 else None,
        replicas=related(*base, "replicas"),
        reassignment=related(*base, "reassignment"),
    )


def _partition(cluster_id: str, topic: str, partition_text: str):
    """The TopicPartitionInfo of the path, after the cluster check; 40402 when the topic has no such partition."""
    wanted = path_partition(partition_text)
    cluster(cluster_id)
    for partition in admin().topic(topic).partitions:
        if partition.id == wanted:
            return partition
    raise RestError(40402, "Partition not found.")


@bp.get("/clusters/<cluster_id>/topics/<topic_name>/partitions")
def list_partitions(cluster_id: str, topic_name: str):
    cluster(cluster_id)
    partitions = sorted(admin().topic(topic_name).partitions, key=lambda p: p.id)
    return answer(collection("KafkaPartitionList", url("clusters", cluster_id, "topics", topic_name, "partitions"),
                             [_partition_data(cluster_id, topic_name, p) for p in partitions]))


@bp.get("/clusters/<cluster_id>/topics/<topic_name>/partitions/<partition>")
def get_partition(cluster_id: str, topic_name: str, partition: str):
    return answer(_partition_data(cluster_id, topic_name, _partition(cluster_id, topic_name, partition)))


@bp.get("/clusters/<cluster_id>/topics/<topic_name>/partitions/<partition>/offset")
def partition_offsets(cluster_id: str, topic_name: str, partition: str):
    offset_type = request.args.get("offset_type", "earliest_and_latest")
    if offset_type != "earliest_and_latest":
        raise RestError(400, f"Bad Request: offset_type:{offset_type} is invalid")
    found = _partition(cluster_id, topic_name, partition)
    earliest, latest = admin().earliest_and_latest(topic_name, found.id)
    return answer(resource(
        "KafkaPartitionWithOffsets", url("clusters", cluster_id, "topics", topic_name, "partitions", found.id, "offset"),
        crn(cluster_id, "topic", topic_name, "partition", found.id, "offset_type", offset_type),
        cluster_id=cluster_id, topic_name=topic_name, partition_id=found.id,
        earliest_offset=earliest, latest_offset=latest))


# -- replicas ---------------------------------------------------------------------------------


def _replica_data(cluster_id: str, topic: str, partition: int, broker_id: int, leader_id: int,
                  in_sync: set[int]) -> dict:
    return resource(
        "KafkaReplica",
        url("clusters", cluster_id, "topics", topic, "partitions", partition, "replicas", broker_id),
        crn(cluster_id, "topic", topic, "partition", partition, "replica", broker_id),
        cluster_id=cluster_id, topic_name=topic, partition_id=partition, broker_id=broker_id,
        is_leader=broker_id == leader_id, is_in_sync=broker_id in in_sync,
        broker=related("clusters", cluster_id, "brokers", broker_id),
    )


def _replicas(cluster_id: str, topic: str, partition) -> list[dict]:
    leader = partition.leader.id if partition.leader is not None else -1
    in_sync = {node.id for node in partition.isr}
    return [_replica_data(cluster_id, topic, partition.id, node.id, leader, in_sync) for node in partition.replicas]


@bp.get("/clusters/<cluster_id>/topics/<topic_name>/partitions/<partition>/replicas")
def list_replicas(cluster_id: str, topic_name: str, partition: str):
    found = _partition(cluster_id, topic_name, partition)
    return answer(collection(
        "KafkaReplicaList", url("clusters", cluster_id, "topics", topic_name, "partitions", found.id, "replicas"),
        _replicas(cluster_id, topic_name, found)))


@bp.get("/clusters/<cluster_id>/topics/<topic_name>/partitions/<partition>/replicas/<broker_id>")
def get_replica(cluster_id: str, topic_name: str, partition: str, broker_id: str):
    wanted = path_int(broker_id)
    found = _partition(cluster_id, topic_name, partition)
    for replica in _replicas(cluster_id, topic_name, found):
        if replica["broker_id"] == wanted:
            return answer(replica)
    raise not_found(f"Replica {wanted} of partition {found.id} of topic {topic_name} cannot be found.")


@bp.get("/clusters/<cluster_id>/brokers/<broker_id>/partition-replicas")
def broker_partition_replicas(cluster_id: str, broker_id: str):
    wanted = path_int(broker_id)
    if wanted not in {node.id for node in cluster(cluster_id).nodes}:
        raise not_found(f"Broker {wanted} cannot be found.")
    data = []
    for name, topic in sorted(admin().metadata().topics.items()):
        for p in sorted(topic.partitions.values(), key=lambda p: p.id):
            if wanted in p.replicas:
                data.append(_replica_data(cluster_id, name, p.id, wanted, p.leader, set(p.isrs)))
    return answer(collection("KafkaReplicaList",
                             url("clusters", cluster_id, "brokers", wanted, "partition-replicas"), data))


# -- reassignments ----------------------------------------------------------------------------


@bp.get("/clusters/<cluster_id>/topics/-/partitions/-/reassignment")
def list_all_reassignments(cluster_id: str):
    cluster(cluster_id)
    return answer(collection("KafkaReassignmentList",
                             url("clusters", cluster_id, "topics", "-", "partitions", "-", "reassignment"), []))


@bp.get("/clusters/<cluster_id>/topics/<topic_name>/partitions/-/reassignment")
def list_topic_reassignments(cluster_id: str, topic_name: str):
    cluster(cluster_id)
    return answer(collection("KafkaReassignmentList",
                             url("clusters", cluster_id, "topics", topic_name, "partitions", "-", "reassignment"), []))


@bp.get("/clusters/<cluster_id>/topics/<topic_name>/partitions/<partition>/reassignment")
def get_reassignment(cluster_id: str, topic_name: str, partition: str):
    found = _partition(cluster_id, topic_name, partition)
    raise not_found(f"No reassignment is in progress for partition {found.id} of topic {topic_name}.")
