"""Fetch: whole batches from the requested offsets, with long polling and fetch sessions.

A fetch answers at once when it has `min_bytes` of data or a partition's read fails (an
offset out of range), otherwise it waits until an append to one of its partitions or
`max_wait` ms. As in Kafka, a partition it cannot look up (an unknown topic, partition or
topic id, or a topic it may not read) is answered with its error but does not end the wait
of the others; a partition that goes away meanwhile (its topic deleted) does. Fetch v13+
names topics by id.
Sessions (KIP-227, broker/fetch_session.py): a full fetch with epoch 0 may open one; an
incremental fetch reads the session's partitions and answers only those with news, and an
unchanged partition costs a few attribute reads, not a read of its log.
"""

from __future__ import annotations

import asyncio

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.fetch_session import FINAL_EPOCH, INITIAL_EPOCH, NO_SESSION, CachedPartition, next_epoch
from broker.protocol import apis
from broker.protocol.errors import code
from broker.storage.log import OffsetOutOfRange

READ_COMMITTED = 1
TOPIC_IDS_FROM = 13  # Fetch v13 (KIP-516) names topics by id
_UNRESOLVED = object()


def _error(index: int, error: str, partition=None) -> dict:
    return {
        "partition_index": index, "error_code": code(error),
        "high_watermark": partition.high_watermark if partition else -1,
        "last_stable_offset": partition.last_stable_offset if partition else -1,
        "log_start_offset": partition.log_start_offset if partition else -1,
        "aborted_transactions": None, "records": b"",  # librdkafka rejects null records
    }


def _session_error(error: str) -> dict:
    """A fetch refused as a whole (its session): no partitions, no session."""
    return {"throttle_time": 0, "error_code": code(error), "session_id": NO_SESSION, "responses": []}


def _replica_id(request) -> int:
    """Who fetches: a follower's id (>= 0) or -1 for a consumer; v15+ carry it in replica_state."""
    state = request.get("replica_state")
    if state is not None:
        return state.get("replica_id", -1)
    return request.get("replica_id", -1)


async def _requested(ctx, topics, by_id: bool) -> list[CachedPartition]:
    """The request's partitions, each once: Kafka keys a fetch by partition (a map), so a
    partition asked for twice is read once, with its last entry."""
    topic_key = "topic_id" if by_id else "topic"
    wanted = {}
    async for t in ctx.paced(topics):
        key = t[topic_key]
        async for p in ctx.paced(t["partitions"]):
            index = p["partition"]
            wanted[(key, index)] = CachedPartition(key, index, p["fetch_offset"], p["partition_max_bytes"])
    return list(wanted.values())


def _forgotten(request, by_id: bool) -> list[tuple]:
    topic_key = "topic_id" if by_id else "topic"
    return [(t[topic_key], index) for t in request.get("forgotten_topics_data") or () for index in t["partitions"]]


class _Topics:
    """Topic keys (names, or ids from v13) to topics, each looked up once per pass."""

    def __init__(self, broker, by_id: bool):
        self._broker = broker
        self.by_id = by_id
        self._lookup = broker.topics.by_id if by_id else broker.topics.get
        self._known: dict = {}
        self.missing_error = "UNKNOWN_TOPIC_ID" if by_id else "UNKNOWN_TOPIC_OR_PARTITION"

    def fresh(self) -> "_Topics":
        return _Topics(self._broker, self.by_id)

    def get(self, key):
        topic = self._known.get(key, _UNRESOLVED)
        if topic is _UNRESOLVED:
            topic = self._known[key] = self._lookup(key)
        return topic


def _denied_topics(broker, ctx, request, names) -> set[str]:
    """Topics this fetch may not read: a follower (replica_id >= 0) needs CLUSTER_ACTION on the
    cluster for all of them, a consumer READ on each topic."""
    authorizer = broker.authorizer
    if _replica_id(request) >= 0:
        if authorizer.authorize(ctx, Operation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME):
            return set()
        return set(names)
    return {name for name in names if not authorizer.authorize(ctx, Operation.READ, ResourceType.TOPIC, name)}


def _unchanged(cp: CachedPartition, partition) -> bool:
    """Nothing to read and nothing new to tell: the common case of an incremental fetch,
    decided without touching the log's segments."""
    hw, last_stable, log_start = partition.fetch_offsets()
    return (cp.fetch_offset == hw == cp.high_watermark and last_stable == cp.last_stable_offset
            and log_start == cp.log_start_offset)


def _has_news(cp: CachedPartition, entry: dict) -> bool:
    """Whether an incremental response must carry this partition."""
    return bool(entry["error_code"] or len(entry["records"]) or entry["high_watermark"] != cp.high_watermark
                or entry["last_stable_offset"] != cp.last_stable_offset
                or entry["log_start_offset"] != cp.log_start_offset)


async def _read_once(broker, ctx, partitions: list[CachedPartition], topics: _Topics, request,
                     denied: set[str], incremental: bool) -> tuple[list, int, bool, list]:
    """One pass over the partitions: ([(partition, its response entry)], bytes, whether a read
    failed, partitions to wait on). An incremental pass leaves out partitions without news.
    Partitions that could not be looked up come last, as in Kafka's answers: those of unknown
    topic ids, then the others (Kafka sets them aside in two passes, in this order)."""
    committed = request.get("isolation_level", 0) == READ_COMMITTED
    budget = request.get("max_bytes", 0x7FFFFFFF)
    total = 0
    failed = False
    watched = []
    selected = []
    unknown_ids, set_aside = [], []
    for cp in partitions:
        if ctx.tick():
            await asyncio.sleep(0)
        index = cp.index
        topic = topics.get(cp.topic)
        if topic is None:
            (unknown_ids if topics.by_id else set_aside).append((cp, _error(index, topics.missing_error)))
            continue
        if topic.name in denied:
            set_aside.append((cp, _error(index, "TOPIC_AUTHORIZATION_FAILED")))
            continue
        partition = topic.partitions[index] if 0 <= index < len(topic.partitions) else None
        if partition is None:
            set_aside.append((cp, _error(index, "UNKNOWN_TOPIC_OR_PARTITION")))
            continue
        watched.append(partition)
        if incremental and _unchanged(cp, partition):
            continue
        limit = min(cp.max_bytes, max(budget - total, 0))
        try:
            data = partition.read_for_fetch(cp.fetch_offset, limit, committed_only=committed, min_one=total == 0)
        except OffsetOutOfRange:
            selected.append((cp, _error(index, "OFFSET_OUT_OF_RANGE", partition)))
            failed = True
            continue
        total += len(data)
        entry = {
            "partition_index": index, "error_code": 0,
            "high_watermark": partition.high_watermark,
            "last_stable_offset": partition.last_stable_offset,
            "log_start_offset": partition.log_start_offset,
            "aborted_transactions": partition.aborted_transactions(cp.fetch_offset, data) if committed else None,
            "preferred_read_replica": -1,
            "records": data,
        }
        if not incremental or _has_news(cp, entry):
            selected.append((cp, entry))
    return selected + unknown_ids + set_aside, total, failed, watched


def _topic_responses(selected: list, topics: _Topics, by_id: bool) -> list[dict]:
    """Partition entries grouped by topic, in fetch order (a topic whose partitions are not
    next to each other appears more than once, as in Kafka's responses)."""
    responses = []
    last = _UNRESOLVED
    for cp, entry in selected:
        if cp.topic != last:
            last = cp.topic
            parts = []
            if by_id:
                topic = topics.get(cp.topic)
                # "topic" is not encoded from v13; the metrics count bytes by name.
                responses.append({"topic_id": cp.topic, "topic": topic.name if topic else None, "partitions": parts})
            else:
                responses.append({"topic": cp.topic, "partitions": parts})
        parts.append(entry)
    return responses


async def _long_poll(broker, ctx, request, partitions, topics: _Topics, denied, incremental) -> tuple[list, _Topics]:
    """Read until there is min_bytes of data, a failed read, one of the partitions found at
    the start is gone, or max_wait has passed: the last pass's selection, and the topics it saw."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(request.get("max_wait", 0), 0) / 1000
    min_bytes = request.get("min_bytes", 1)
    found = None
    while True:
        selected, total, failed, watched = await _read_once(broker, ctx, partitions, topics, request, denied,
                                                            incremental)
        found = len(watched) if found is None else found
        remaining = deadline - loop.time()
        if total >= min_bytes or failed or remaining <= 0 or not watched or len(watched) < found:
            return selected, topics
        appended = loop.create_future()
        for partition in watched:
            partition.wait_for_data(appended)
        try:
            await asyncio.wait_for(appended, remaining)
        except asyncio.TimeoutError:
            pass
        topics = topics.fresh()  # topics may have been created or deleted meanwhile


def _close_records(selected: list) -> None:
    """The record files of entries that will not be sent."""
    for _, entry in selected:
        file = getattr(entry["records"], "file", None)
        if file is not None:
            file.close()


@apis.handler(1, 4, 18)
async def fetch(broker, ctx, request):
    by_id = ctx.api_version >= TOPIC_IDS_FROM
    requested = await _requested(ctx, request["topics"], by_id)
    sessions = broker.fetch_sessions
    session_id, epoch = request.get("session_id", NO_SESSION), request.get("session_epoch", FINAL_EPOCH)
    now_ms = int(asyncio.get_running_loop().time() * 1000)
    session = None
    if epoch in (INITIAL_EPOCH, FINAL_EPOCH):  # a full fetch: it replaces (or closes) any session
        if session_id != NO_SESSION:
            sessions.remove(session_id)
        partitions = requested
    else:
        session = sessions.get(session_id)
        if session is None:
            return _session_error("FETCH_SESSION_ID_NOT_FOUND")
        if session.epoch != epoch:
            return _session_error("INVALID_FETCH_SESSION_EPOCH")
        if session.uses_topic_ids != by_id:
            return _session_error("FETCH_SESSION_TOPIC_ID_ERROR")
        session.update(requested, _forgotten(request, by_id))
        session.epoch = next_epoch(epoch)
        sessions.touch(session, now_ms)
        partitions = list(session.partitions.values())
    topics = _Topics(broker, by_id)
    denied = set()
    if broker.authorizer.enabled:
        names = {t.name for t in map(topics.get, {cp.topic for cp in partitions}) if t is not None}
        denied = _denied_topics(broker, ctx, request, names)
    selected, topics = await _long_poll(broker, ctx, request, partitions, topics, denied, incremental=session is not None)
    throttle_ms = broker.quotas.fetch_throttle(ctx.principal, ctx.client_id,
                                               sum(len(entry["records"]) for _, entry in selected))
    if throttle_ms:
        # Kafka answers a fetch over its consumer_byte_rate empty and tells its session nothing:
        # a full fetch opens none (session id 0), an incremental one keeps its session as it
        # was, but for the epoch, which has moved on.
        _close_records(selected)
        return {"throttle_time": throttle_ms, "error_code": 0,
                "session_id": session.id if session is not None else NO_SESSION, "responses": []}
    if session is not None or epoch == INITIAL_EPOCH:
        # What the client was told, for the next incremental fetch of the session (open or
        # about to be): a full fetch without a session (librdkafka's, every time) keeps none.
        for cp, entry in selected:
            cp.remember(entry["error_code"], entry["high_watermark"], entry["last_stable_offset"],
                        entry["log_start_offset"])
    if session is not None:
        for cp, entry in selected:
            if len(entry["records"]):
                session.sent_records(cp)
        response_session = session.id
    elif epoch == INITIAL_EPOCH:
        response_session = sessions.create(_replica_id(request) >= 0, by_id, requested, now_ms)
    else:
        response_session = NO_SESSION
    body = {"throttle_time": 0, "error_code": 0, "session_id": response_session,
            "responses": _topic_responses(selected, topics, by_id)}
    broker.metrics.fetched(body)
    return body
