"""ApiVersions, Metadata and DescribeCluster: what the cluster looks like to a client."""

from __future__ import annotations

import asyncio
import struct
from functools import lru_cache

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.protocol import apis
from broker.protocol.codec import Encoded, FieldSpec, encode, uvarint
from broker.protocol.errors import code
from broker.topics import TopicError, validate_topic_name

NO_TOPIC_ID = bytes(16)
# Metadata's "authorized operations" fields when not requested.
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)


@apis.handler(18, 0, 4)
async def api_versions(broker, ctx, request):
    return {
        "error_code": 0,
        "api_keys": [{"api_key": a.key, "min_version": a.min_version, "max_version": a.max_version}
                     for a in sorted(apis.REGISTRY.values(), key=lambda a: a.key)],
        **broker.features.api_versions_fields(ctx.api_version),
    }


def broker_entry(broker, ctx) -> dict:
    """This broker as reached through the listener the request came in on (Kafka answers each
    client with the endpoints of its own listener)."""
    host, port = ctx.listener.advertised()
    return {"node_id": broker.node_id, "host": host, "port": port, "rack": None}


def partition_entry(node: int, index: int) -> dict:
    return {
        "error_code": 0, "partition_index": index, "leader_id": node, "leader_epoch": 0,
        "replica_nodes": [node], "isr_nodes": [node], "offline_replicas": [],
    }


def partition_entries(broker, topic) -> list[dict]:
    return [partition_entry(broker.node_id, p.index) for p in topic.partitions]


def topic_entry(broker, topic) -> dict:
    return {
        "error_code": 0, "name": topic.name, "topic_id": topic.topic_id, "is_internal": topic.internal,
        "partitions": partition_entries(broker, topic),
        "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }


# -- encoding ------------------------------------------------------------------------
# A Metadata response for all topics repeats the same partition entry tens of thousands of
# times: each topic's entry is encoded once per version and partition count and kept on the
# topic; a partition entry differs from its neighbour only in its index, so the partitions
# array is the encoding of partition 0 with the index spliced in.

_INT32 = struct.Struct(">i")


def _field(spec, name: str) -> FieldSpec:
    return next(f for f in spec.fields if f.name == name)


@lru_cache(maxsize=None)
def _topic_field(version: int) -> FieldSpec:
    return _field(apis.response_spec(3, version), "topics")


def _array_prefix(n: int, flexible: bool) -> bytes:
    return uvarint(n + 1) if flexible else _INT32.pack(n)


@lru_cache(maxsize=64)
def _partition_template(version: int, node: int) -> tuple[bytes, bytes]:
    """(bytes before, bytes after) the partition index in one encoded partition entry."""
    spec = _field(_topic_field(version).struct, "partitions").struct
    assert [f.name for f in spec.fields[:2]] == ["error_code", "partition_index"]
    encoded = b"".join(encode(spec, partition_entry(node, 0)))
    return encoded[:2], encoded[6:]


def _encoded_partitions(version: int, node: int, count: int, flexible: bool) -> Encoded:
    head, tail = _partition_template(version, node)
    pack = _INT32.pack
    return Encoded(_array_prefix(count, flexible) + b"".join([head + pack(i) + tail for i in range(count)]))


def encoded_topic_entry(broker, topic, version: int) -> bytes:
    """One element of the response's topics array, cached on the topic."""
    key = ("metadata", version)
    count = len(topic.partitions)
    cached = topic.derived.get(key)
    if cached is not None and cached[0] == count:
        return cached[1]
    field = _topic_field(version)
    entry = topic_entry(broker, topic)
    entry["partitions"] = _encoded_partitions(version, broker.node_id, count, field.struct.flexible)
    encoded = b"".join(encode(field.struct, entry))
    topic.derived[key] = (count, encoded)
    return encoded


def _encoded_topics(version: int, entries: list) -> Encoded:
    """The topics array from cached topic encodings (bytes) and fresh entries (dicts)."""
    field = _topic_field(version)
    parts = [_array_prefix(len(entries), field.struct.flexible)]
    for entry in entries:
        parts.append(entry if isinstance(entry, bytes) else b"".join(encode(field.struct, entry)))
    return Encoded(b"".join(parts))


# Topics one Metadata request may auto-create; the rest are answered LEADER_NOT_AVAILABLE
# (retriable, as Kafka answers a topic still being created) and created by the client's
# next refresh. Without a bound, one request naming 100,000 topics creates them all.
AUTO_CREATE_PER_REQUEST = 100


def _may_create(broker, ctx, name: str) -> bool:
    """Auto-creation needs CREATE on the cluster or on the topic, as in Kafka."""
    authorizer = broker.authorizer
    return (authorizer.authorize(ctx, Operation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME)
            or authorizer.authorize(ctx, Operation.CREATE, ResourceType.TOPIC, name))


def _missing_topic(broker, ctx, name: str, auto_create: bool, created: list) -> dict:
    """Metadata for a topic that does not exist: create it when allowed, else an error."""
    try:
        validate_topic_name(name)
    except TopicError as exc:
        return {"error_code": code(exc.error), "name": name, "partitions": []}
    if auto_create and broker.config["auto.create.topics.enable"]:
        if not _may_create(broker, ctx, name):
            return _unauthorized_topic(name)
        if len(created) >= AUTO_CREATE_PER_REQUEST:
            return {"error_code": code("LEADER_NOT_AVAILABLE"), "name": name, "partitions": []}
        created.append(name)
        try:
            return topic_entry(broker, broker.topics.create(name))
        except TopicError as exc:
            return {"error_code": code(exc.error), "name": name, "partitions": []}
    return {"error_code": code("UNKNOWN_TOPIC_OR_PARTITION"), "name": name, "partitions": []}


def _unauthorized_topic(name: str | None, topic_id: bytes = bytes(16)) -> dict:
    """A topic the client may not describe: nothing about it, not even whether it exists."""
    return {"error_code": code("TOPIC_AUTHORIZATION_FAILED"), "name": name, "topic_id": topic_id,
            "is_internal": False, "partitions": []}


def _describable(broker, ctx, name: str) -> bool:
    return broker.authorizer.authorize(ctx, Operation.DESCRIBE, ResourceType.TOPIC, name)


def _existing_topic_entry(broker, ctx, topic, version: int, with_operations: bool):
    """The cached encoding, or a fresh entry carrying this principal's authorized operations."""
    if not with_operations:
        return encoded_topic_entry(broker, topic, version)
    entry = topic_entry(broker, topic)
    entry["topic_authorized_operations"] = broker.authorizer.authorized_operations(ctx, ResourceType.TOPIC, topic.name)
    return entry


def cluster_authorized_operations(broker, ctx, requested: bool) -> int:
    """Kafka's rule: the cluster's operations for a principal that may DESCRIBE it, else 0."""
    if not requested:
        return AUTHORIZED_OPERATIONS_OMITTED
    if not broker.authorizer.authorize(ctx, Operation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return 0
    return broker.authorizer.authorized_operations(ctx, ResourceType.CLUSTER, CLUSTER_NAME)


@apis.handler(3, 0, 13)
async def metadata(broker, ctx, request):
    requested = request.get("topics")
    # v0: an empty list means all topics; v1+: null means all topics.
    all_topics = requested is None or (ctx.api_version == 0 and not requested)
    auto_create = request.get("allow_auto_topic_creation", True)
    with_operations = bool(request.get("include_topic_authorized_operations"))
    secured = broker.authorizer.enabled
    topics = []
    created: list[str] = []
    version = ctx.api_version
    if all_topics:
        # Topics the client may not describe are left out of a listing, as in Kafka.
        topics = [_existing_topic_entry(broker, ctx, t, version, with_operations)
                  for t in broker.topics.topics.values() if not secured or _describable(broker, ctx, t.name)]
    else:
        # Each topic is answered once however often it is asked for, as Kafka does
        # (it reads the request's topics into a set).
        requested = {(item.get("name"), item.get("topic_id")): item for item in requested}.values()
        async for item in ctx.paced(requested):
            name = item.get("name")
            # By id when the name is null, or empty beside a real id (the Java client's way).
            if name is None or (name == "" and item.get("topic_id", NO_TOPIC_ID) != NO_TOPIC_ID):
                topic = broker.topics.by_id(item["topic_id"])
                if topic is None:
                    topics.append({"error_code": code("UNKNOWN_TOPIC_ID"), "name": None,
                                   "topic_id": item["topic_id"], "partitions": []})
                    continue
                if secured and not _describable(broker, ctx, topic.name):
                    # Topic ids are not secret (Kafka answers them); the name is.
                    topics.append(_unauthorized_topic(None, item["topic_id"]))
                    continue
                name = topic.name
            if secured and not _describable(broker, ctx, name):
                topics.append(_unauthorized_topic(name))
                continue
            topic = broker.topics.get(name)
            if topic is not None:
                topics.append(_existing_topic_entry(broker, ctx, topic, version, with_operations))
                continue
            before = len(created)
            topics.append(_missing_topic(broker, ctx, name, auto_create, created))
            if len(created) > before:
                await asyncio.sleep(0)  # creating a topic touches the disk: let others in between
    return {
        "brokers": [broker_entry(broker, ctx)],
        "cluster_id": broker.cluster_id,
        "controller_id": broker.node_id,
        "topics": _encoded_topics(version, topics),
        # Asked for by v8-v10 only; later versions use DescribeCluster.
        "cluster_authorized_operations": cluster_authorized_operations(
            broker, ctx, bool(request.get("include_cluster_authorized_operations"))),
    }


@apis.handler(60, 0, 2)
async def describe_cluster(broker, ctx, request):
    return {
        "error_code": 0, "error_message": None,
        "endpoint_type": request.get("endpoint_type", 1),
        "cluster_id": broker.cluster_id, "controller_id": broker.node_id,
        "brokers": [{"broker_id": broker.node_id, "host": ctx.listener.advertised()[0],
                     "port": ctx.listener.advertised()[1], "rack": None, "is_fenced": False}],
        "cluster_authorized_operations": cluster_authorized_operations(
            broker, ctx, bool(request.get("include_cluster_authorized_operations"))),
    }


# -- DescribeTopicPartitions (KIP-966) -------------------------------------------------------

# Kafka's max.request.partition.size.limit: the most partitions one response describes.
MAX_PARTITIONS_PER_RESPONSE = 2000


def _described_topics(broker, ctx, requested: list[dict]) -> list[tuple[str, object]]:
    """(name, Topic, or an error entry) in name order: the requested topics, or every topic
    the client may describe when none is named."""
    if not requested:
        return sorted((t.name, t) for t in broker.topics.topics.values() if _describable(broker, ctx, t.name))
    answers = {}
    for item in requested:
        name = item["name"]
        topic = broker.topics.get(name)
        if not _describable(broker, ctx, name):
            answers[name] = _unauthorized_topic(name)
        elif topic is None:
            answers[name] = {"error_code": code("UNKNOWN_TOPIC_OR_PARTITION"), "name": name, "topic_id": bytes(16),
                             "is_internal": False, "partitions": []}
        else:
            answers[name] = topic
    return sorted(answers.items(), key=lambda item: item[0])


@apis.handler(75, 0, 0)
async def describe_topic_partitions(broker, ctx, request):
    """Topics a page at a time: at most `response_partition_limit` partitions, then a cursor
    naming where the next page starts."""
    limit = min(max(request.get("response_partition_limit") or MAX_PARTITIONS_PER_RESPONSE, 1),
                MAX_PARTITIONS_PER_RESPONSE)
    cursor = request.get("cursor")
    topics, next_cursor = [], None
    async for name, topic in ctx.paced(_described_topics(broker, ctx, request.get("topics") or [])):
        if cursor is not None and name < cursor["topic_name"]:
            continue
        if isinstance(topic, dict):
            topics.append(topic)
            continue
        first = cursor["partition_index"] if cursor is not None and name == cursor["topic_name"] else 0
        if limit == 0:
            next_cursor = {"topic_name": name, "partition_index": first}
            break
        indexes = range(first, len(topic.partitions))
        taken = indexes[:limit]
        limit -= len(taken)
        partitions = [partition_entry(broker.node_id, i) | {"eligible_leader_replicas": [], "last_known_elr": []}
                      for i in taken]
        topics.append({"error_code": 0, "name": name, "topic_id": topic.topic_id, "is_internal": topic.internal,
                       "partitions": partitions,
                       "topic_authorized_operations": broker.authorizer.authorized_operations(
                           ctx, ResourceType.TOPIC, name)})
        if len(taken) < len(indexes):
            next_cursor = {"topic_name": name, "partition_index": taken.stop}
            break
    return {"throttle_time": 0, "topics": topics, "next_cursor": next_cursor}
