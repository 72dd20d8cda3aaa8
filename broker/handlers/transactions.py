"""InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit.

A producer of `transaction.version` 2 (KIP-890 part 2) shows itself by the versions it sends:
EndTxn v5+ ends its transactions with an epoch bump, TxnOffsetCommit v5+ adds the group
itself, and it sends neither AddPartitionsToTxn nor AddOffsetsToTxn.
"""

from __future__ import annotations

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.coordinator.messages import OffsetValue
from broker.coordinator.metadata_manager import now_ms
from broker.coordinator.transaction import TxnError
from broker.handlers.offsets_commit import TopicAccess, by_topic, group_allowed
from broker.protocol import apis
from broker.protocol.errors import code
from broker.topics import INTERNAL_TOPICS

MAX_EPOCH = 32767


def fenced_error(ctx, first_version_with_producer_fenced: int) -> str:
    """KIP-588: newer request versions say PRODUCER_FENCED, older ones INVALID_PRODUCER_EPOCH."""
    return "PRODUCER_FENCED" if ctx.api_version >= first_version_with_producer_fenced else "INVALID_PRODUCER_EPOCH"


TXN_DENIED = "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"


def txn_allowed(broker, ctx, transactional_id: str | None) -> bool:
    """WRITE on the transactional id: what every transactional request needs first."""
    return transactional_id is not None and broker.authorizer.authorize(
        ctx, Operation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id)


def _init_refusal(broker, ctx, transactional_id: str | None) -> str | None:
    """A transactional producer needs WRITE on its id; an idempotent one IDEMPOTENT_WRITE on the
    cluster or WRITE on some topic (KIP-679, Kafka 3.0+)."""
    authorizer = broker.authorizer
    if transactional_id is not None:
        return None if txn_allowed(broker, ctx, transactional_id) else TXN_DENIED
    if (authorizer.authorize(ctx, Operation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, CLUSTER_NAME)
            or authorizer.authorize_by_resource_type(ctx, Operation.WRITE, ResourceType.TOPIC)):
        return None
    return "CLUSTER_AUTHORIZATION_FAILED"


@apis.handler(22, 0, 5)
async def init_producer_id(broker, ctx, request):
    producer_id = request.get("producer_id", -1)
    epoch = request.get("producer_epoch", -1)
    transactional_id = request.get("transactional_id")
    refused = _init_refusal(broker, ctx, transactional_id)
    if refused is not None:
        return {"error_code": code(refused), "producer_id": -1, "producer_epoch": -1}
    if (producer_id == -1) != (epoch == -1):  # both given or neither, as Kafka's KafkaApis requires
        return {"error_code": code("INVALID_REQUEST"), "producer_id": -1, "producer_epoch": -1}
    if transactional_id is None:
        if producer_id >= 0 and 0 <= epoch < MAX_EPOCH - 1:
            # KIP-360: an idempotent producer recovering from an error bumps its own epoch,
            # which resets its sequence numbers on every partition.
            return {"error_code": 0, "producer_id": producer_id, "producer_epoch": epoch + 1}
        return {"error_code": 0, "producer_id": broker.producer_ids.next_id(), "producer_epoch": 0}
    try:
        pid, new_epoch = broker.transactions.init_producer_id(
            transactional_id, request["transaction_timeout"], producer_id, epoch, fenced_error(ctx, 4))
    except TxnError as exc:
        return {"error_code": code(exc.error), "producer_id": -1, "producer_epoch": -1}
    return {"error_code": 0, "producer_id": pid, "producer_epoch": new_epoch}


def _add_partitions_refusal(broker, ctx, transactional_id: str, wanted: list) -> dict | None:
    """Per-partition errors when the request may not be served: WRITE on the transactional id,
    then WRITE on every topic (internal ones never); one failure fails them all, the rest
    OPERATION_NOT_ATTEMPTED, as in Kafka."""
    if not broker.authorizer.enabled:
        return None
    if not txn_allowed(broker, ctx, transactional_id):
        return {tp: TXN_DENIED for tp in wanted}
    writable = TopicAccess(broker, ctx, Operation.WRITE)
    denied = {tp for tp in wanted if tp[0] in INTERNAL_TOPICS or not writable.allowed(tp[0])}
    if not denied:
        return None
    return {tp: "TOPIC_AUTHORIZATION_FAILED" if tp in denied
            else "UNKNOWN_TOPIC_OR_PARTITION" if broker.topics.partition(*tp) is None
            else "OPERATION_NOT_ATTEMPTED" for tp in wanted}


@apis.handler(24, 0, 5)
async def add_partitions_to_txn(broker, ctx, request):
    if ctx.api_version >= BATCHED_ADD_PARTITIONS:
        return await _add_partitions_for_brokers(broker, ctx, request)
    topics = request["v3_and_below_topics"]
    wanted = await _partitions_of(ctx, topics)
    transactional_id = request["v3_and_below_transactional_id"]
    errors = _add_partitions_refusal(broker, ctx, transactional_id, wanted)
    if errors is None:
        try:
            errors = broker.transactions.add_partitions(
                transactional_id, request["v3_and_below_producer_id"],
                request["v3_and_below_producer_epoch"], wanted, fenced_error(ctx, 2))
        except TxnError as exc:
            errors = {tp: exc.error for tp in wanted}
    return {"results_by_topic_v3_and_below": await _results_by_topic(ctx, wanted, errors)}


# AddPartitionsToTxn v4+ is the brokers' form (KIP-890): transactions batched, each one either
# verified (verify_only: are these partitions in it?) or added to.
BATCHED_ADD_PARTITIONS = 4


async def _partitions_of(ctx, topics) -> list[tuple[str, int]]:
    wanted = {}
    async for t in ctx.paced(topics or ()):
        async for p in ctx.paced(t["partitions"] or ()):
            wanted[(t["name"], p)] = None
    return list(wanted)


async def _results_by_topic(ctx, wanted: list, errors: dict) -> list[dict]:
    results = await by_topic(ctx, wanted, lambda tp: {"partition_index": tp[1],
                                                      "partition_error_code": code(errors[tp])})
    return [{"name": r["name"], "results_by_partition": r["partitions"]} for r in results]


async def _add_partitions_for_brokers(broker, ctx, request):
    if not broker.authorizer.authorize(ctx, Operation.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": code("CLUSTER_AUTHORIZATION_FAILED"), "results_by_transaction": []}
    coordinator = broker.transactions
    results = []
    async for txn in ctx.paced(request["transactions"] or ()):
        wanted = await _partitions_of(ctx, txn["topics"])
        transactional_id, pid, epoch = txn["transactional_id"], txn["producer_id"], txn["producer_epoch"]
        if not transactional_id:
            errors = {tp: "INVALID_REQUEST" for tp in wanted}
        elif txn["verify_only"]:
            errors = {tp: coordinator.verify_partition(transactional_id, pid, epoch, tp) or "NONE" for tp in wanted}
        else:
            try:
                errors = coordinator.add_partitions(transactional_id, pid, epoch, wanted, "PRODUCER_FENCED")
            except TxnError as exc:
                errors = {tp: exc.error for tp in wanted}
        results.append({"transactional_id": transactional_id,
                        "topic_results": await _results_by_topic(ctx, wanted, errors)})
    return {"throttle_time": 0, "error_code": 0, "results_by_transaction": results}


@apis.handler(25, 0, 4)
async def add_offsets_to_txn(broker, ctx, request):
    if not txn_allowed(broker, ctx, request["transactional_id"]):
        return {"error_code": code(TXN_DENIED)}
    if not group_allowed(broker, ctx, Operation.READ, request["group_id"]):
        return {"error_code": code("GROUP_AUTHORIZATION_FAILED")}
    try:
        broker.transactions.add_offsets(request["transactional_id"], request["producer_id"],
                                        request["producer_epoch"], request["group_id"], fenced_error(ctx, 2))
    except TxnError as exc:
        return {"error_code": code(exc.error)}
    return {"error_code": 0}


# EndTxn v5+: a TV2 producer's; the epoch is bumped and the answer carries the new one.
END_TXN_WITH_EPOCH_BUMP = 5


@apis.handler(26, 0, 5)
async def end_txn(broker, ctx, request):
    if not txn_allowed(broker, ctx, request["transactional_id"]):
        return {"error_code": code(TXN_DENIED)}
    args = (request["transactional_id"], request["producer_id"], request["producer_epoch"], request["committed"])
    try:
        if ctx.api_version >= END_TXN_WITH_EPOCH_BUMP:
            producer_id, epoch = broker.transactions.end_transaction_v2(*args)
            return {"error_code": 0, "producer_id": producer_id, "producer_epoch": epoch}
        broker.transactions.end_transaction(*args, fenced_error(ctx, 2))
    except TxnError as exc:
        return {"error_code": code(exc.error)}
    return {"error_code": 0}


# TxnOffsetCommit v5+: a TV2 producer's, which adds the group to the transaction itself.
TXN_OFFSET_COMMIT_ADDS_GROUP = 5


@apis.handler(28, 0, 5)
async def txn_offset_commit(broker, ctx, request):
    group_id = request["group_id"]
    order, errors, offsets = [], {}, {}
    now = now_ms()
    # WRITE on the transactional id, READ on the group, then READ on each topic, as in Kafka.
    refused = (TXN_DENIED if not txn_allowed(broker, ctx, request["transactional_id"])
               else "GROUP_AUTHORIZATION_FAILED" if not group_allowed(broker, ctx, Operation.READ, group_id)
               else None)
    readable = TopicAccess(broker, ctx, Operation.READ)
    async for t in ctx.paced(request["topics"]):
        async for p in ctx.paced(t["partitions"]):
            tp = (t["name"], p["partition_index"])
            order.append(tp)
            if refused is not None:
                errors[tp] = refused
            elif not readable.allowed(tp[0]):
                errors[tp] = "TOPIC_AUTHORIZATION_FAILED"
            elif broker.topics.partition(*tp) is None:
                errors[tp] = "UNKNOWN_TOPIC_OR_PARTITION"
            else:
                offsets[tp] = OffsetValue(p["committed_offset"], p.get("committed_leader_epoch", -1),
                                          p.get("committed_metadata") or "", now, -1)
    try:
        broker.transactions.check_offset_commit(request["transactional_id"], request["producer_id"],
                                                request["producer_epoch"], group_id, fenced_error(ctx, 3),
                                                implicit_add=bool(offsets)
                                                and ctx.api_version >= TXN_OFFSET_COMMIT_ADDS_GROUP)
    except TxnError as exc:
        errors.update({tp: exc.error for tp in offsets})
    else:
        if offsets:
            errors.update(broker.group_coordinator.txn_commit_offsets(
                group_id, request["producer_id"], request["producer_epoch"], request.get("generation_id", -1),
                request.get("member_id") or "", request.get("group_instance_id"), offsets))
    return {"throttle_time": 0,
            "topics": await by_topic(ctx, order, lambda tp: {"partition_index": tp[1], "error_code": code(errors[tp])})}
