"""Committed offsets: OffsetCommit, OffsetFetch and OffsetDelete.

As in Kafka, partitions of topics that do not exist are answered
UNKNOWN_TOPIC_OR_PARTITION here, before the coordinator sees the rest; an empty group id
is legal for OffsetCommit/OffsetFetch (old clients used it), not for OffsetDelete.
"""

from __future__ import annotations

from broker.authorizer import Operation, ResourceType
from broker.config import LONG_MAX
from broker.coordinator.group_coordinator import LOADING
from broker.coordinator.messages import OffsetValue
from broker.coordinator.metadata_manager import now_ms
from broker.protocol import apis
from broker.protocol.errors import code

DEFAULT_RETENTION_TIME = -1
INVALID_OFFSET = -1


async def by_topic(ctx, order: list[tuple[str, int]], entry) -> list[dict]:
    """[(topic, partition)] in request order -> [{"name", "partitions": [entry(tp)...]}],
    each partition once however often the request named it."""
    topics: dict[str, list] = {}
    async for tp in ctx.paced(dict.fromkeys(order)):
        topics.setdefault(tp[0], []).append(entry(tp))
    return [{"name": name, "partitions": parts} for name, parts in topics.items()]


def group_allowed(broker, ctx, operation: Operation, group_id: str | None) -> bool:
    return group_id is None or broker.authorizer.authorize(ctx, operation, ResourceType.GROUP, group_id)


class TopicAccess:
    """Per-topic ACL answers for one request: each topic checked once however many of its
    partitions the request names."""

    def __init__(self, broker, ctx, operation: Operation):
        self.authorizer, self.ctx, self.operation = broker.authorizer, ctx, operation
        self.everything = not broker.authorizer.enabled
        self.answers: dict[str, bool] = {}

    def allowed(self, topic: str) -> bool:
        if self.everything:
            return True
        answer = self.answers.get(topic)
        if answer is None:
            answer = self.answers[topic] = self.authorizer.authorize(self.ctx, self.operation,
                                                                     ResourceType.TOPIC, topic)
        return answer


@apis.handler(8, 2, 9)
async def offset_commit(broker, ctx, request):
    group_id = request["group_id"]
    group_denied = not group_allowed(broker, ctx, Operation.READ, group_id)
    readable = TopicAccess(broker, ctx, Operation.READ)
    now = now_ms()
    retention = request.get("retention_time", DEFAULT_RETENTION_TIME)  # v2-v4 only
    # Clamped to an int64: the sum of a huge retention_time and now must still be storable.
    expire = max(0, min(now + retention, LONG_MAX)) if retention != DEFAULT_RETENTION_TIME else -1
    order, errors, offsets = [], {}, {}
    async for t in ctx.paced(request["topics"]):
        async for p in ctx.paced(t["partitions"]):
            tp = (t["name"], p["partition_index"])
            order.append(tp)
            if group_id is None:
                errors[tp] = "INVALID_GROUP_ID"
            elif group_denied:
                errors[tp] = "GROUP_AUTHORIZATION_FAILED"
            elif not readable.allowed(tp[0]):
                errors[tp] = "TOPIC_AUTHORIZATION_FAILED"
            elif broker.topics.partition(*tp) is None:
                errors[tp] = "UNKNOWN_TOPIC_OR_PARTITION"
            else:
                offsets[tp] = OffsetValue(p["committed_offset"], p.get("committed_leader_epoch", -1),
                                          p.get("committed_metadata") or "", now, expire)
    if offsets:
        errors.update(broker.group_coordinator.commit_offsets(
            group_id, request.get("generation_id_or_member_epoch", -1), request.get("member_id") or "",
            request.get("group_instance_id"), offsets))
    return {"throttle_time": 0,
            "topics": await by_topic(ctx, order, lambda tp: {"partition_index": tp[1], "error_code": code(errors[tp])})}


async def _fetch_group(broker, ctx, group_id: str | None, topics: list | None,
                       require_stable: bool = False) -> tuple[int, list[dict]]:
    """(group error code, response topics) for one group of an OffsetFetch."""
    if group_id is None:
        return code("INVALID_GROUP_ID"), []
    if not group_allowed(broker, ctx, Operation.DESCRIBE, group_id):
        return await _group_error(ctx, "GROUP_AUTHORIZATION_FAILED", topics)
    describable = TopicAccess(broker, ctx, Operation.DESCRIBE)
    wanted = None
    if topics is not None:
        wanted = {}
        async for t in ctx.paced(topics):
            async for p in ctx.paced(t["partition_indexes"]):
                wanted[(t["name"], p)] = None
        wanted = list(wanted)
    if broker.group_coordinator.loading:
        # No offsets rather than "nothing committed"; v1 (no top-level error) carries the
        # error on each requested partition, which the caller fills in, as Kafka does.
        partitions = (wanted or []) if ctx.api_version < 2 else []
        return code(LOADING), await by_topic(ctx, partitions, lambda tp: {
            "partition_index": tp[1], "error_code": 0, "committed_offset": INVALID_OFFSET,
            "committed_leader_epoch": -1, "metadata": ""})
    found = broker.group_coordinator.fetch_offsets(group_id, [tp for tp in wanted if describable.allowed(tp[0])]
                                                   if wanted is not None else None)
    values = {(t, p): v for t, p, v in found}
    # Partitions asked for by name are all answered (TOPIC_AUTHORIZATION_FAILED when their topic
    # may not be described); of all the group's offsets, those of such topics are left out.
    order = wanted if wanted is not None else [(t, p) for t, p, _ in found if describable.allowed(t)]

    def entry(tp):
        if not describable.allowed(tp[0]):
            return {"partition_index": tp[1], "error_code": code("TOPIC_AUTHORIZATION_FAILED"),
                    "committed_offset": INVALID_OFFSET, "committed_leader_epoch": -1, "metadata": ""}
        value = values[tp]
        if require_stable and broker.group_coordinator.unstable(group_id, *tp):
            return {"partition_index": tp[1], "error_code": code("UNSTABLE_OFFSET_COMMIT"),
                    "committed_offset": INVALID_OFFSET, "committed_leader_epoch": -1, "metadata": ""}
        return {"partition_index": tp[1], "error_code": 0,
                "committed_offset": value.offset if value else INVALID_OFFSET,
                "committed_leader_epoch": value.leader_epoch if value else -1,
                "metadata": value.metadata if value else ""}

    return 0, await by_topic(ctx, order, entry)


async def _group_error(ctx, error: str, topics: list | None) -> tuple[int, list[dict]]:
    """A group-level error; v1 (no top-level error) carries it on each requested partition,
    which the caller fills in, so those partitions are listed."""
    partitions = []
    if ctx.api_version < 2:
        async for t in ctx.paced(topics or []):
            partitions += [(t["name"], p) for p in t["partition_indexes"]]
    return code(error), await by_topic(ctx, partitions, lambda tp: {
        "partition_index": tp[1], "error_code": 0, "committed_offset": INVALID_OFFSET,
        "committed_leader_epoch": -1, "metadata": ""})


@apis.handler(9, 1, 9)
async def offset_fetch(broker, ctx, request):
    # require_stable (v7+): offsets still pending in a transaction answer UNSTABLE_OFFSET_COMMIT.
    stable = bool(request.get("require_stable", False))
    if ctx.api_version >= 8:
        groups = []
        async for g in ctx.paced(request["groups"]):
            # v9: a consumer group member's fetch carries its member id and epoch (KIP-848).
            member_error = None if broker.group_coordinator.loading or not g["group_id"] else \
                broker.group_coordinator.validate_offset_fetch(g["group_id"], g.get("member_id"), g.get("member_epoch", -1))
            if member_error is not None:
                groups.append({"group_id": g["group_id"], "topics": [], "error_code": code(member_error)})
                continue
            error, topics = await _fetch_group(broker, ctx, g["group_id"], g["topics"], stable)
            groups.append({"group_id": g["group_id"], "topics": topics, "error_code": error})
        return {"throttle_time": 0, "groups": groups}
    error, topics = await _fetch_group(broker, ctx, request["group_id"], request["topics"], stable)
    if error and ctx.api_version < 2:  # v1 has no top-level error: every partition carries it
        for t in topics:
            for p in t["partitions"]:
                p["error_code"] = error
    return {"throttle_time": 0, "topics": topics, "error_code": error}


@apis.handler(47, 0, 0)
async def offset_delete(broker, ctx, request):
    group_id = request["group_id"]
    if not group_id:
        return {"error_code": code("INVALID_GROUP_ID"), "throttle_time": 0, "topics": []}
    if not group_allowed(broker, ctx, Operation.DELETE, group_id):
        return {"error_code": code("GROUP_AUTHORIZATION_FAILED"), "throttle_time": 0, "topics": []}
    readable = TopicAccess(broker, ctx, Operation.READ)
    order, errors, known = [], {}, []
    async for t in ctx.paced(request["topics"]):
        async for p in ctx.paced(t["partitions"]):
            tp = (t["name"], p["partition_index"])
            order.append(tp)
            if not readable.allowed(tp[0]):
                errors[tp] = "TOPIC_AUTHORIZATION_FAILED"
            elif broker.topics.partition(*tp) is None:
                errors[tp] = "UNKNOWN_TOPIC_OR_PARTITION"
            else:
                known.append(tp)
    group_error, deleted = broker.group_coordinator.delete_offsets(group_id, known)
    if group_error != "NONE":
        return {"error_code": code(group_error), "throttle_time": 0, "topics": []}
    errors.update(deleted)
    return {"error_code": 0, "throttle_time": 0,
            "topics": await by_topic(ctx, order, lambda tp: {"partition_index": tp[1], "error_code": code(errors[tp])})}
