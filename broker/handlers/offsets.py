"""ListOffsets, OffsetForLeaderEpoch and DeleteRecords."""

from __future__ import annotations

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.protocol import apis
from broker.protocol.errors import code
from broker.storage.log import OffsetOutOfRange

LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, LATEST_TIERED = -1, -2, -3, -4, -5
# The ListOffsets version from which each special timestamp is understood (KIP-734,
# KIP-405, KIP-1005); any other negative value, or one older than its version, is answered
# UNSUPPORTED_VERSION as Kafka 4.1 answers it.
SPECIAL_SINCE = {LATEST: 0, EARLIEST: 0, MAX_TIMESTAMP: 7, EARLIEST_LOCAL: 8, LATEST_TIERED: 9}
READ_COMMITTED = 1
LEADER_EPOCH = 0  # a single node that never changes leader: epoch 0 throughout


def _list_offset(partition, timestamp: int, committed: bool) -> tuple[int, int]:
    """(offset, timestamp) for one ListOffsets query, Kafka's answers for each special value."""
    if timestamp == LATEST:
        return (partition.last_stable_offset if committed else partition.high_watermark), -1
    if timestamp in (EARLIEST, EARLIEST_LOCAL):  # no tiered storage: every record is local
        return partition.log_start_offset, -1
    if timestamp == LATEST_TIERED:  # nothing is tiered
        return -1, -1
    if timestamp == MAX_TIMESTAMP:
        found = partition.log.offset_of_max_timestamp()
        return found if found else (-1, -1)
    found = partition.log.offset_for_timestamp(timestamp)
    return (found[0], found[1]) if found else (-1, -1)


def _topic_allowed(broker, ctx, operation: Operation, name: str) -> bool:
    return broker.authorizer.authorize(ctx, operation, ResourceType.TOPIC, name)


@apis.handler(2, 1, 10)
async def list_offsets(broker, ctx, request):
    committed = request.get("isolation_level", 0) == READ_COMMITTED
    topics = []
    async for t in ctx.paced(request["topics"]):
        parts = []
        allowed = _topic_allowed(broker, ctx, Operation.DESCRIBE, t["name"])
        async for p in ctx.paced(t["partitions"]):
            index = p["partition_index"]
            partition = broker.topics.partition(t["name"], index) if allowed else None
            if partition is None:
                error = "UNKNOWN_TOPIC_OR_PARTITION" if allowed else "TOPIC_AUTHORIZATION_FAILED"
                parts.append({"partition_index": index, "error_code": code(error),
                              "timestamp": -1, "offset": -1, "leader_epoch": -1})
                continue
            timestamp = p["timestamp"]
            if timestamp < 0 and SPECIAL_SINCE.get(timestamp, ctx.api_version + 1) > ctx.api_version:
                parts.append({"partition_index": index, "error_code": code("UNSUPPORTED_VERSION"),
                              "timestamp": -1, "offset": -1, "leader_epoch": -1})
                continue
            offset, ts = _list_offset(partition, timestamp, committed)
            parts.append({"partition_index": index, "error_code": 0, "timestamp": ts, "offset": offset,
                          "leader_epoch": LEADER_EPOCH if offset >= 0 else -1})
        topics.append({"name": t["name"], "partitions": parts})
    return {"throttle_time": 0, "topics": topics}


@apis.handler(23, 2, 4)
async def offset_for_leader_epoch(broker, ctx, request):
    topics = []
    # Once a follower's API (CLUSTER_ACTION); consumers use it since KIP-320 with DESCRIBE.
    replica = broker.authorizer.authorize(ctx, Operation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME)
    async for t in ctx.paced(request["topics"]):
        parts = []
        allowed = replica or _topic_allowed(broker, ctx, Operation.DESCRIBE, t["topic"])
        async for p in ctx.paced(t["partitions"]):
            index = p["partition"]
            partition = broker.topics.partition(t["topic"], index) if allowed else None
            if partition is None:
                error = "UNKNOWN_TOPIC_OR_PARTITION" if allowed else "TOPIC_AUTHORIZATION_FAILED"
                parts.append({"partition": index, "error_code": code(error),
                              "leader_epoch": -1, "end_offset": -1})
            elif p.get("current_leader_epoch", -1) > LEADER_EPOCH:
                parts.append({"partition": index, "error_code": code("UNKNOWN_LEADER_EPOCH"),
                              "leader_epoch": -1, "end_offset": -1})
            else:
                # Every offset was written in epoch 0, so epoch 0 ends at the log end.
                parts.append({"partition": index, "error_code": 0, "leader_epoch": LEADER_EPOCH,
                              "end_offset": partition.high_watermark})
        topics.append({"topic": t["topic"], "partitions": parts})
    return {"throttle_time": 0, "topics": topics}


@apis.handler(21, 0, 2)
async def delete_records(broker, ctx, request):
    topics = []
    async for t in ctx.paced(request["topics"]):
        parts = []
        allowed = _topic_allowed(broker, ctx, Operation.DELETE, t["name"])
        async for p in ctx.paced(t["partitions"]):
            index = p["partition_index"]
            partition = broker.topics.partition(t["name"], index) if allowed else None
            if partition is None:
                error = "UNKNOWN_TOPIC_OR_PARTITION" if allowed else "TOPIC_AUTHORIZATION_FAILED"
                parts.append({"partition_index": index, "low_watermark": -1, "error_code": code(error)})
                continue
            offset = p["offset"]
            if offset == -1:
                offset = partition.high_watermark
            try:
                low = partition.log.delete_records_before(offset)
            except OffsetOutOfRange:
                parts.append({"partition_index": index, "low_watermark": -1,
                              "error_code": code("OFFSET_OUT_OF_RANGE")})
                continue
            parts.append({"partition_index": index, "low_watermark": low, "error_code": 0})
        topics.append({"name": t["name"], "partitions": parts})
    return {"throttle_time": 0, "topics": topics}
