"""Fetch: whole batches from the requested offsets, with long polling.

A fetch answers at once when it has `min_bytes` of data or an error, otherwise it waits
until an append to one of its partitions or `max_wait` ms. Sessions (KIP-227) are not
kept: the response carries session id 0, so clients send full fetch requests.
"""

from __future__ import annotations

import asyncio

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.protocol import apis
from broker.protocol.errors import code
from broker.storage.log import OffsetOutOfRange

READ_COMMITTED = 1


def _error(index: int, error: str, partition=None) -> dict:
    return {
        "partition_index": index, "error_code": code(error),
        "high_watermark": partition.high_watermark if partition else -1,
        "last_stable_offset": partition.last_stable_offset if partition else -1,
        "log_start_offset": partition.log_start_offset if partition else -1,
        "aborted_transactions": None, "records": b"",  # librdkafka rejects null records
    }


async def _distinct_partitions(ctx, topics) -> dict[str, list[dict]]:
    """Topic -> its partition entries, each partition once: Kafka keys a fetch by partition
    (a map), so a partition asked for twice is read once, with its last entry."""
    wanted = {}
    async for t in ctx.paced(topics):
        async for p in ctx.paced(t["partitions"]):
            wanted[(t["topic"], p["partition"])] = p
    grouped: dict[str, list[dict]] = {}
    for (name, _), p in wanted.items():
        grouped.setdefault(name, []).append(p)
    return grouped


def _denied_topics(broker, ctx, request, wanted: dict[str, list[dict]]) -> set[str]:
    """Topics this fetch may not read: a follower (replica_id >= 0) needs CLUSTER_ACTION on the
    cluster for all of them, a consumer READ on each topic."""
    authorizer = broker.authorizer
    if request.get("replica_id", -1) >= 0:
        if authorizer.authorize(ctx, Operation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME):
            return set()
        return set(wanted)
    return {name for name in wanted if not authorizer.authorize(ctx, Operation.READ, ResourceType.TOPIC, name)}


async def _read_once(broker, ctx, wanted: dict[str, list[dict]], request,
                     denied: set[str]) -> tuple[dict, int, bool, list]:
    """One pass over the requested partitions: (response, bytes, any error, partitions)."""
    committed = request.get("isolation_level", 0) == READ_COMMITTED
    budget = request.get("max_bytes", 0x7FFFFFFF)
    total = 0
    failed = False
    watched = []
    responses = []
    for name, partitions in wanted.items():
        topic = broker.topics.get(name)
        parts = []
        async for p in ctx.paced(partitions):
            index = p["partition"]
            if name in denied:
                parts.append(_error(index, "TOPIC_AUTHORIZATION_FAILED"))
                failed = True
                continue
            partition = topic.partitions[index] if topic and 0 <= index < len(topic.partitions) else None
            if partition is None:
                parts.append(_error(index, "UNKNOWN_TOPIC_OR_PARTITION"))
                failed = True
                continue
            watched.append(partition)
            limit = min(p["partition_max_bytes"], max(budget - total, 0))
            try:
                data = partition.read_for_fetch(p["fetch_offset"], limit, committed_only=committed,
                                                min_one=total == 0)
            except OffsetOutOfRange:
                parts.append(_error(index, "OFFSET_OUT_OF_RANGE", partition))
                failed = True
                continue
            total += len(data)
            parts.append({
                "partition_index": index, "error_code": 0,
                "high_watermark": partition.high_watermark,
                "last_stable_offset": partition.last_stable_offset,
                "log_start_offset": partition.log_start_offset,
                "aborted_transactions": partition.aborted_transactions(p["fetch_offset"], data) if committed else None,
                "preferred_read_replica": -1,
                "records": data,
            })
        responses.append({"topic": name, "partitions": parts})
    body = {"throttle_time": 0, "error_code": 0, "session_id": 0, "responses": responses}
    return body, total, failed, watched


@apis.handler(1, 4, 12)
async def fetch(broker, ctx, request):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(request.get("max_wait", 0), 0) / 1000
    min_bytes = request.get("min_bytes", 1)
    wanted = await _distinct_partitions(ctx, request["topics"])
    denied = _denied_topics(broker, ctx, request, wanted) if broker.authorizer.enabled else set()
    while True:
        body, total, failed, watched = await _read_once(broker, ctx, wanted, request, denied)
        remaining = deadline - loop.time()
        if total >= min_bytes or failed or remaining <= 0 or not watched:
            if total:
                broker.metrics.fetched(body)
            return body
        waiters = [p.wait_for_data() for p in watched]
        await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        for fut in waiters:
            fut.cancel()
