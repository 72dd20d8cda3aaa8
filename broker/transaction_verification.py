"""KIP-890 on the produce path: a transactional batch is appended only to a partition of its
producer's ongoing transaction.

Without the check, a produce delayed past its transaction's end (a retry, a zombie's write)
would open a transaction in the partition that no coordinator knows of: no marker would ever
end it, and the partition's last stable offset would stay behind it for good (the "hanging
transaction"). Kafka asks the coordinator with AddPartitionsToTxn(verify_only); here the
coordinator is in the same process, so it is a dict lookup, done only for a partition's
first batch of a transaction (later ones find the transaction open in the partition).

A `transaction.version` 2 producer (Produce v12+) never adds partitions itself: its produce
adds the partition to its transaction instead (KIP-890 part 2).
"""

from __future__ import annotations

import struct

# A RecordBatch's attributes (int16 at byte 21, the transactional bit in its low byte) and
# its producer id and epoch (int64 at 43, int16 at 51).
_ATTRIBUTES_LOW_BYTE, _TRANSACTIONAL_BIT = 22, 0x10
_PRODUCER = struct.Struct(">qh")
_PRODUCER_AT = 43
_HEADER_END = _PRODUCER_AT + _PRODUCER.size

# Produce v11+ clients handle TRANSACTION_ABORTABLE; v12+ are transaction.version 2 producers.
ABORTABLE_FROM, IMPLICIT_ADD_FROM = 11, 12

# Coordinator errors an older producer would not retry: Kafka answers NOT_ENOUGH_REPLICAS
# instead, which every producer retries without refreshing its metadata.
_RETRIABLE = frozenset({"CONCURRENT_TRANSACTIONS", "COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE",
                        "NOT_COORDINATOR"})


def is_transactional(data) -> bool:
    return len(data) > _ATTRIBUTES_LOW_BYTE and bool(data[_ATTRIBUTES_LOW_BYTE] & _TRANSACTIONAL_BIT)


def refusal(broker, partition, topic: str, transactional_id: str | None, data,
            version: int) -> tuple[str, str] | None:
    """(error, message) if the transactional batch `data` may not be appended to `partition`
    of `topic`, else None. Call it only for a transactional batch."""
    if transactional_id is None:
        # Kafka refuses transactional records in a request without a transactional id as it
        # would an unauthorized one.
        return "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "Transactional Id authorization failed."
    if len(data) < _HEADER_END:
        return None  # too short for a header: the append refuses it
    adds = version >= IMPLICIT_ADD_FROM
    # Only the check can be turned off: a TV2 producer's partitions join its transaction this way.
    if not adds and not broker.config["transaction.partition.verification.enable"]:
        return None
    producer_id, epoch = _PRODUCER.unpack_from(data, _PRODUCER_AT)
    if producer_id in partition.producers.ongoing:
        return None  # verified (or added) with its transaction's first batch here
    coordinator = broker.transactions
    tp = (topic, partition.index)
    if adds:
        error = coordinator.add_partition_implicitly(transactional_id, producer_id, epoch, tp)
    else:
        error = coordinator.verify_partition(transactional_id, producer_id, epoch, tp)
    return None if error is None else _produce_error(error, version)


def _produce_error(error: str, version: int) -> tuple[str, str]:
    """The coordinator's answer as Kafka's produce path reports it to a client of `version`."""
    if error == "PRODUCER_FENCED":  # what producers expect from a produce
        return "INVALID_PRODUCER_EPOCH", "Producer's epoch is no longer valid: there is probably a newer producer."
    if error == "TRANSACTION_ABORTABLE" and version < ABORTABLE_FROM:
        return "INVALID_TXN_STATE", "Partition was not added to the transaction"
    if error in _RETRIABLE:
        return "NOT_ENOUGH_REPLICAS", ("Unable to verify the partition has been added to the transaction. "
                                       f"Underlying error: {error}")
    return error, "Partition was not added to the transaction" if error == "TRANSACTION_ABORTABLE" else None
