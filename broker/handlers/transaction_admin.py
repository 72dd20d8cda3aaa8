"""What kafka-transactions needs: DescribeProducers, ListTransactions, DescribeTransactions, and
WriteTxnMarkers, with which an operator's admin client aborts a hanging transaction (Kafka's
Admin.abortTransaction writes the ABORT marker straight to the partition's leader)."""

from __future__ import annotations

import re
import time

from broker import records
from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.coordinator.transaction import (
    COMPLETE_ABORT, COMPLETE_COMMIT, EMPTY, OFFSETS_TOPIC, ONGOING, PREPARE_ABORT, PREPARE_COMMIT)
from broker.handlers.offsets_commit import TopicAccess, by_topic
from broker.protocol import apis
from broker.protocol.errors import code

# Kafka's transaction states by name (TransactionState); ListTransactions names unknown ones back.
STATES = (EMPTY, ONGOING, PREPARE_COMMIT, PREPARE_ABORT, COMPLETE_COMMIT, COMPLETE_ABORT, "Dead", "PrepareEpochFence")
# In these states a transaction has partitions (Kafka clears them when it completes).
OPEN_STATES = (ONGOING, PREPARE_COMMIT, PREPARE_ABORT)


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- DescribeProducers -------------------------------------------------------------------


def _active_producers(partition) -> list[dict]:
    state = partition.producers
    return [{"producer_id": pid, "producer_epoch": entry.epoch, "last_sequence": entry.last_seq,
             "last_timestamp": entry.last_timestamp, "coordinator_epoch": entry.coordinator_epoch,
             "current_txn_start_offset": state.ongoing.get(pid, -1)}
            for pid, entry in state.producers.items()]


@apis.handler(61, 0, 0)
async def describe_producers(broker, ctx, request):
    readable = TopicAccess(broker, ctx, Operation.READ)
    order = []
    async for t in ctx.paced(request["topics"]):
        order.extend((t["name"], p) for p in t["partition_indexes"])

    def entry(tp) -> dict:
        result = {"partition_index": tp[1], "error_code": 0, "error_message": None, "active_producers": []}
        partition = broker.topics.partition(*tp)
        if not readable.allowed(tp[0]):
            result.update(error_code=code("TOPIC_AUTHORIZATION_FAILED"))
        elif partition is None:
            result.update(error_code=code("UNKNOWN_TOPIC_OR_PARTITION"),
                          error_message="This server does not host this topic-partition.")
        else:
            result["active_producers"] = _active_producers(partition)
        return result

    return {"throttle_time": 0, "topics": await by_topic(ctx, order, entry)}


# -- ListTransactions / DescribeTransactions ----------------------------------------------


def _describable(broker, ctx, transactional_id: str) -> bool:
    return broker.authorizer.authorize(ctx, Operation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, transactional_id)


def _listed(meta, states: set[str], producer_ids: set[int], min_start_ms: int | None, pattern) -> bool:
    """Kafka's filters: all of them must match; an empty one matches everything."""
    return ((not states or meta.state in states)
            and (not producer_ids or meta.producer_id in producer_ids)
            and (min_start_ms is None or meta.start_ms <= min_start_ms)
            and (pattern is None or pattern.fullmatch(meta.transactional_id) is not None))


@apis.handler(66, 0, 2)
async def list_transactions(broker, ctx, request):
    answer = {"throttle_time": 0, "error_code": 0, "unknown_state_filters": [], "transaction_states": []}
    coordinator = broker.transactions
    if coordinator is None or coordinator.loading:
        return {**answer, "error_code": code("COORDINATOR_LOAD_IN_PROGRESS")}
    pattern = request.get("transactional_id_pattern")
    try:
        pattern = re.compile(pattern) if pattern else None
    except re.error:
        return {**answer, "error_code": code("INVALID_REGULAR_EXPRESSION")}
    states = set(request.get("state_filters") or ())
    answer["unknown_state_filters"] = sorted(states - set(STATES))
    duration = request.get("duration_filter", -1)
    min_start_ms = _now_ms() - duration if duration >= 0 else None
    producer_ids = set(request.get("producer_id_filters") or ())
    async for meta in ctx.paced(list(coordinator.transactions.values())):
        if _listed(meta, states, producer_ids, min_start_ms, pattern) and _describable(broker, ctx, meta.transactional_id):
            answer["transaction_states"].append({"transactional_id": meta.transactional_id,
                                                 "producer_id": meta.producer_id, "transaction_state": meta.state})
    return answer


def _described(broker, ctx, transactional_id: str) -> dict:
    result = {"error_code": 0, "transactional_id": transactional_id, "transaction_state": "",
              "transaction_timeout": 0, "transaction_start_time": -1, "producer_id": -1, "producer_epoch": -1,
              "topics": []}
    coordinator = broker.transactions
    meta = coordinator.describe(transactional_id) if coordinator is not None else None
    if not _describable(broker, ctx, transactional_id):
        error = "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
    elif coordinator is None or coordinator.loading:
        error = "COORDINATOR_LOAD_IN_PROGRESS"
    elif meta is None:
        error = "TRANSACTIONAL_ID_NOT_FOUND"
    else:
        partitions: dict[str, list[int]] = {}
        if meta.state in OPEN_STATES:
            describable_topics = TopicAccess(broker, ctx, Operation.DESCRIBE)
            for topic, index in sorted(meta.partitions):
                if describable_topics.allowed(topic):
                    partitions.setdefault(topic, []).append(index)
        result.update(transaction_state=meta.state, transaction_timeout=meta.timeout_ms,
                      transaction_start_time=meta.start_ms, producer_id=meta.producer_id,
                      producer_epoch=meta.producer_epoch,
                      topics=[{"topic": t, "partitions": ps} for t, ps in partitions.items()])
        return result
    result["error_code"] = code(error)
    return result


@apis.handler(65, 0, 0)
async def describe_transactions(broker, ctx, request):
    states = [_described(broker, ctx, tid) async for tid in ctx.paced(request["transactional_ids"])]
    return {"throttle_time": 0, "transaction_states": states}


# -- WriteTxnMarkers -----------------------------------------------------------------------


def _marker_error(partition, producer_id: int, producer_epoch: int, coordinator_epoch: int) -> str | None:
    if partition is None:
        return "UNKNOWN_TOPIC_OR_PARTITION"
    entry = partition.producers.producers.get(producer_id)
    if entry is not None and producer_epoch < entry.epoch:
        return "INVALID_PRODUCER_EPOCH"
    if entry is not None and coordinator_epoch < entry.coordinator_epoch:
        return "TRANSACTION_COORDINATOR_FENCED"
    return None


@apis.handler(27, 1, 1)
async def write_txn_markers(broker, ctx, request):
    allowed = broker.authorizer.authorize(ctx, Operation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME)
    answers = []
    async for marker in ctx.paced(request["markers"]):
        kind = records.CONTROL_COMMIT if marker["transaction_result"] else records.CONTROL_ABORT
        topics = []
        for t in marker["topics"]:
            partitions = []
            for index in t["partition_indexes"]:
                partition = broker.topics.partition(t["name"], index)
                error = ("CLUSTER_AUTHORIZATION_FAILED" if not allowed
                         else _marker_error(partition, marker["producer_id"], marker["producer_epoch"],
                                            marker["coordinator_epoch"]))
                if error is None:
                    partition.append_marker(kind, marker["producer_id"], marker["producer_epoch"],
                                            marker["coordinator_epoch"])
                    if t["name"] == OFFSETS_TOPIC:
                        broker.group_coordinator.complete_transaction_in(index, marker["producer_id"],
                                                                         kind == records.CONTROL_COMMIT)
                partitions.append({"partition_index": index, "error_code": code(error) if error else 0})
            topics.append({"name": t["name"], "partitions": partitions})
        answers.append({"producer_id": marker["producer_id"], "topics": topics})
    return {"markers": answers}
