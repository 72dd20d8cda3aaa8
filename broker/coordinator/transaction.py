"""The transaction coordinator: transactional ids, producer epochs, markers, timeouts.

Kafka's classic transaction protocol: a producer gets its id and epoch from InitProducerId,
registers partitions (AddPartitionsToTxn) and consumer groups (AddOffsetsToTxn), then ends
the transaction (EndTxn): the coordinator records PrepareCommit/PrepareAbort, writes a
COMMIT/ABORT control batch to every partition, and records CompleteCommit/CompleteAbort.

KIP-890 hardens it. Part 1: before a transactional batch is appended the partition's
broker asks the coordinator whether the partition is in the producer's ongoing transaction
(`verify_partition`), so a late write can never open a transaction nobody will end.
Part 2 (`transaction.version` 2, EndTxn v5+): the producer no longer adds partitions or
groups itself (its produce and TxnOffsetCommit do: `add_partition_implicitly`, `add_group`),
and every EndTxn bumps the producer epoch: the markers carry the new epoch, which fences
any write of the ended transaction still in flight. When the epoch runs out the producer
continues under a new producer id.

Every state change is a record in the compacted internal topic `__transaction_state`
(key: Kafka's layout, int16 version 0 + the transactional id; value: JSON of the
metadata), replayed on start, once the group coordinator has loaded (its APIs answer
COORDINATOR_LOAD_IN_PROGRESS until then); a transaction found half-way through its markers is
finished then. On this single node markers are local appends, so Prepare* states are
only ever seen on disk after a crash.
"""

from __future__ import annotations

import json
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Callable

from broker import records

log = logging.getLogger("schemabus.transactions")

TOPIC = "__transaction_state"
OFFSETS_TOPIC = "__consumer_offsets"
COORDINATOR_EPOCH = 0
MAX_EPOCH = 32767
# From this epoch on a bump would exhaust the producer id: the next epoch comes with a new id
# (Kafka's TransactionMetadata.isEpochExhausted).
LAST_USABLE_EPOCH = MAX_EPOCH - 1

EMPTY, ONGOING = "Empty", "Ongoing"
PREPARE_COMMIT, PREPARE_ABORT = "PrepareCommit", "PrepareAbort"
COMPLETE_COMMIT, COMPLETE_ABORT = "CompleteCommit", "CompleteAbort"


class TxnError(Exception):
    def __init__(self, error: str, message: str = ""):
        super().__init__(message or error)
        self.error = error


@dataclass
class TransactionMetadata:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: str = EMPTY
    partitions: set[tuple[str, int]] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    start_ms: int = -1
    last_update_ms: int = -1
    # The id and epoch before the last bump: a TV2 EndTxn retried after its bump carries them.
    last_producer_id: int = -1
    last_producer_epoch: int = -1
    # Set while a TV2 transaction ends with the epoch exhausted: the id it continues under.
    next_producer_id: int = -1

    def to_json(self) -> bytes:
        return json.dumps({
            "producerId": self.producer_id, "producerEpoch": self.producer_epoch, "timeoutMs": self.timeout_ms,
            "state": self.state, "partitions": sorted([t, p] for t, p in self.partitions),
            "groups": sorted(self.groups), "startMs": self.start_ms, "lastUpdateMs": self.last_update_ms,
            "lastProducerId": self.last_producer_id, "lastProducerEpoch": self.last_producer_epoch,
            "nextProducerId": self.next_producer_id,
        }, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, transactional_id: str, data: bytes) -> "TransactionMetadata":
        v = json.loads(data)
        # Records written before KIP-890 lack the last three fields: their defaults are what they meant.
        return cls(transactional_id, v["producerId"], v["producerEpoch"], v["timeoutMs"], v["state"],
                   {(t, p) for t, p in v["partitions"]}, set(v.get("groups", [])), v["startMs"], v["lastUpdateMs"],
                   v.get("lastProducerId", -1), v.get("lastProducerEpoch", -1), v.get("nextProducerId", -1))

    @property
    def open(self) -> bool:
        return self.state == ONGOING


def state_key(transactional_id: str) -> bytes:
    raw = transactional_id.encode()
    return struct.pack(">hh", 0, len(raw)) + raw


def parse_state_key(key: bytes) -> str | None:
    if key is None or len(key) < 4:
        return None
    version, length = struct.unpack_from(">hh", key)
    return key[4:4 + length].decode() if version == 0 else None


def java_string_hash(s: str) -> int:
    """Java's String.hashCode, so ids map to the partition Kafka would choose."""
    data = s.encode("utf-16-be")  # Java hashes UTF-16 code units
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: str, partitions: int) -> int:
    return (java_string_hash(key) & 0x7FFFFFFF) % partitions


def _now() -> int:
    return int(time.time() * 1000)


class TransactionCoordinator:
    def __init__(self, broker, num_partitions: int):
        self.broker = broker
        self.num_partitions = num_partitions
        self.transactions: dict[str, TransactionMetadata] = {}
        # Set by the broker from the group coordinator: the __consumer_offsets partition of a
        # group (its markers go there too), and what to do with a group's pending offsets
        # when a transaction ends: (group_id, producer_id, commit).
        self.offsets_partition_for: Callable[[str], int] | None = None
        self.complete_group_offsets: Callable[[str, int, bool], None] | None = None
        self.loading = True  # until start() has replayed __transaction_state

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        topics = self.broker.topics
        if topics.get(TOPIC) is None:
            topics.create(TOPIC, self.num_partitions, 1, {"cleanup.policy": "compact", "segment.bytes": "104857600"})
        self._replay()
        for meta in list(self.transactions.values()):
            if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
                log.info("finishing transaction %s left in %s", meta.transactional_id, meta.state)
                self._write_markers_and_complete(meta, meta.state == PREPARE_COMMIT)
        self.loading = False

    def _replay(self) -> None:
        for partition in self.broker.topics.get(TOPIC).partitions:
            for _, batch in partition.scan():
                for rec in batch:
                    self._apply_record(rec)

    def _apply_record(self, rec: records.Record) -> None:
        txn_id = parse_state_key(rec.key)
        if txn_id is None:
            return
        if rec.value is None:
            self.transactions.pop(txn_id, None)
            return
        try:
            self.transactions[txn_id] = TransactionMetadata.from_json(txn_id, rec.value)
        except (ValueError, KeyError) as exc:
            log.error("skipping unreadable __transaction_state record for %s: %s", txn_id, exc)

    def _persist(self, meta: TransactionMetadata) -> None:
        meta.last_update_ms = _now()
        partition = self.broker.topics.partition(TOPIC, partition_for(meta.transactional_id, self.num_partitions))
        batch = records.encode_batch([records.Record(0, meta.last_update_ms, state_key(meta.transactional_id),
                                                     meta.to_json())])
        partition.append(bytes(batch), max_message_bytes=1 << 30, log_append_time=False, compacted=True)
        self.transactions[meta.transactional_id] = meta

    # -- checks ---------------------------------------------------------------------

    def _check_loaded(self) -> None:
        if self.loading:
            raise TxnError("COORDINATOR_LOAD_IN_PROGRESS", "The transaction coordinator is loading")

    def _active(self, transactional_id: str, producer_id: int, epoch: int, fenced_error: str) -> TransactionMetadata:
        self._check_loaded()
        meta = self.transactions.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            raise TxnError("INVALID_PRODUCER_ID_MAPPING",
                           f"The producer id {producer_id} is not the current one of {transactional_id!r}")
        if epoch != meta.producer_epoch:
            raise TxnError(fenced_error, f"Producer epoch {epoch} of {transactional_id!r} is not the current "
                                         f"epoch {meta.producer_epoch}: fenced by a newer producer")
        if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
            raise TxnError("CONCURRENT_TRANSACTIONS", "The previous transaction is still completing")
        return meta

    # -- API operations -------------------------------------------------------------

    def init_producer_id(self, transactional_id: str, timeout_ms: int, producer_id: int, epoch: int,
                         fenced_error: str) -> tuple[int, int]:
        """Kafka's TransactionCoordinator.handleInitProducerId: a new producer instance (id -1)
        or the current producer bumping its own epoch (KIP-360) gets the next epoch. An open
        transaction is first aborted under a bumped epoch, which fences its producer, and the
        request answered CONCURRENT_TRANSACTIONS: the client retries, and the retry bumps once
        more (a new instance) or, from the producer that asked, is a retry of a bump that
        succeeded and gets the fencing epoch itself."""
        self._check_loaded()
        if not 0 < timeout_ms <= self.broker.config["transaction.max.timeout.ms"]:
            raise TxnError("INVALID_TRANSACTION_TIMEOUT",
                           f"transaction.timeout.ms {timeout_ms} is outside 1..transaction.max.timeout.ms")
        meta = self.transactions.get(transactional_id)
        if meta is None:
            meta = TransactionMetadata(transactional_id, self.broker.producer_ids.next_id(), 0, timeout_ms)
            self._persist(meta)
            return meta.producer_id, meta.producer_epoch
        if producer_id >= 0 and not self._same_producer(meta, producer_id, epoch):
            raise TxnError(fenced_error, f"Producer {producer_id} is not the current producer of {transactional_id!r}")
        if meta.state == ONGOING:
            # Kafka checks only the producer id here: even a stale epoch of it aborts the open
            # transaction (and is fenced when it retries).
            self._abort_with_bumped_epoch(meta)
            raise TxnError("CONCURRENT_TRANSACTIONS", f"Aborting the open transaction of {transactional_id!r}")
        if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
            self._write_markers_and_complete(meta, meta.state == PREPARE_COMMIT)
        if producer_id >= 0 and (producer_id, epoch) == (meta.last_producer_id, meta.last_producer_epoch):
            # A retry of the bump that gave this producer its current epoch (its answer was
            # lost, or it was answered CONCURRENT_TRANSACTIONS): that epoch again, no new bump.
            meta.timeout_ms = timeout_ms
            self._persist(meta)
            return meta.producer_id, meta.producer_epoch
        if producer_id >= 0 and (producer_id, epoch) != (meta.producer_id, meta.producer_epoch):
            raise TxnError(fenced_error, f"Producer {producer_id} epoch {epoch} is not the current producer "
                                         f"of {transactional_id!r}")
        self._bump_epoch(meta)
        if producer_id < 0:
            # A new instance: no earlier epoch may claim this bump as its own (Kafka's
            # NO_PRODUCER_EPOCH as the last epoch), so the fenced producer stays fenced.
            meta.last_producer_epoch = -1
        meta.timeout_ms = timeout_ms
        meta.state = EMPTY
        meta.partitions.clear()
        meta.groups.clear()
        self._persist(meta)
        return meta.producer_id, meta.producer_epoch

    @staticmethod
    def _same_producer(meta: TransactionMetadata, producer_id: int, epoch: int) -> bool:
        """Kafka's isValidProducerId: the current id, or the one before it when that ran out of
        epochs (a retry of the bump that moved the producer to a new id)."""
        return producer_id == meta.producer_id or (
            producer_id == meta.last_producer_id and epoch >= LAST_USABLE_EPOCH)

    def _bump_epoch(self, meta: TransactionMetadata) -> None:
        meta.last_producer_id, meta.last_producer_epoch = meta.producer_id, meta.producer_epoch
        if meta.producer_epoch + 1 >= MAX_EPOCH:
            meta.producer_id, meta.producer_epoch = self.broker.producer_ids.next_id(), 0
        else:
            meta.producer_epoch += 1

    def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                       partitions: list[tuple[str, int]], fenced_error: str) -> dict[tuple[str, int], str]:
        """Per-partition error names ("NONE" on success); raises TxnError for the whole request."""
        meta = self._active(transactional_id, producer_id, epoch, fenced_error)
        unknown = {tp for tp in partitions if self.broker.topics.partition(*tp) is None}
        if unknown:
            return {tp: "UNKNOWN_TOPIC_OR_PARTITION" if tp in unknown else "OPERATION_NOT_ATTEMPTED"
                    for tp in partitions}
        self._add_partitions(meta, partitions)
        return {tp: "NONE" for tp in partitions}

    def _add_partitions(self, meta: TransactionMetadata, partitions: list[tuple[str, int]]) -> None:
        """Into the ongoing transaction (one is started if none is open); a retry changes nothing."""
        if not (meta.open and meta.partitions.issuperset(partitions)):
            self._begin(meta)
            meta.partitions.update(partitions)
            self._persist(meta)

    def verify_partition(self, transactional_id: str, producer_id: int, epoch: int,
                         tp: tuple[str, int]) -> str | None:
        """KIP-890 part 1 (AddPartitionsToTxn's verify_only): None if `tp` is in the producer's
        ongoing transaction, else the error Kafka's coordinator answers. Changes nothing."""
        try:
            meta = self._active(transactional_id, producer_id, epoch, "PRODUCER_FENCED")
        except TxnError as exc:
            return exc.error
        return None if meta.open and tp in meta.partitions else "TRANSACTION_ABORTABLE"

    def add_partition_implicitly(self, transactional_id: str, producer_id: int, epoch: int,
                                 tp: tuple[str, int]) -> str | None:
        """KIP-890 part 2: a TV2 producer's produce adds its partition to the transaction,
        starting one if none is open. None on success, else the error."""
        try:
            meta = self._active(transactional_id, producer_id, epoch, "PRODUCER_FENCED")
        except TxnError as exc:
            return exc.error
        self._add_partitions(meta, [tp])
        return None

    def add_offsets(self, transactional_id: str, producer_id: int, epoch: int, group_id: str,
                    fenced_error: str) -> None:
        meta = self._active(transactional_id, producer_id, epoch, fenced_error)
        self._add_group(meta, group_id)

    def _add_group(self, meta: TransactionMetadata, group_id: str) -> None:
        if meta.open and group_id in meta.groups:
            return
        self._begin(meta)
        meta.groups.add(group_id)
        if self.offsets_partition_for is not None:
            meta.partitions.add((OFFSETS_TOPIC, self.offsets_partition_for(group_id)))
        self._persist(meta)

    def check_offset_commit(self, transactional_id: str, producer_id: int, epoch: int, group_id: str,
                            fenced_error: str, implicit_add: bool = False) -> None:
        """TxnOffsetCommit is valid only inside an ongoing transaction that added the group; a
        TV2 producer's (TxnOffsetCommit v5+) adds the group itself."""
        meta = self._active(transactional_id, producer_id, epoch, fenced_error)
        if implicit_add:
            self._add_group(meta, group_id)
        elif not meta.open or group_id not in meta.groups:
            raise TxnError("INVALID_TXN_STATE", f"Group {group_id!r} was not added to the transaction")

    def _begin(self, meta: TransactionMetadata) -> None:
        if meta.state != ONGOING:
            meta.state = ONGOING
            meta.partitions.clear()
            meta.groups.clear()
            meta.start_ms = _now()

    def end_transaction(self, transactional_id: str, producer_id: int, epoch: int, commit: bool,
                        fenced_error: str) -> None:
        meta = self._active(transactional_id, producer_id, epoch, fenced_error)
        if meta.state == (COMPLETE_COMMIT if commit else COMPLETE_ABORT):
            return  # a retry of the request that completed it
        if meta.state != ONGOING:
            raise TxnError("INVALID_TXN_STATE",
                           f"Cannot {'commit' if commit else 'abort'} {transactional_id!r} in state {meta.state}")
        meta.state = PREPARE_COMMIT if commit else PREPARE_ABORT
        self._persist(meta)
        self._write_markers_and_complete(meta, commit)

    def end_transaction_v2(self, transactional_id: str, producer_id: int, epoch: int,
                           commit: bool) -> tuple[int, int]:
        """EndTxn v5+ (KIP-890 part 2): the transaction ends with the epoch bumped, its markers
        written with the new epoch. Returns the id and epoch the producer continues with."""
        self._check_loaded()
        meta = self.transactions.get(transactional_id)
        completed = COMPLETE_COMMIT if commit else COMPLETE_ABORT
        if meta is not None and (producer_id, epoch) == (meta.last_producer_id, meta.last_producer_epoch) and \
                meta.state in (COMPLETE_COMMIT, COMPLETE_ABORT):
            # A retry of the EndTxn that bumped the epoch (its answer was lost).
            if meta.state != completed:
                raise TxnError("INVALID_TXN_STATE", f"{transactional_id!r} already ended in {meta.state}")
            return meta.producer_id, meta.producer_epoch
        meta = self._active(transactional_id, producer_id, epoch, "PRODUCER_FENCED")
        if meta.state == ONGOING:
            self._prepare_bumped(meta, PREPARE_COMMIT if commit else PREPARE_ABORT)
            self._write_markers_and_complete(meta, commit)
        elif not commit:
            # Aborting with nothing open (the producer hit an error before anything was added)
            # still bumps the epoch: whatever it sent before is fenced.
            self._prepare_bumped(meta, PREPARE_ABORT)
            meta.partitions.clear()
            meta.groups.clear()
            self._write_markers_and_complete(meta, commit=False)
        else:
            raise TxnError("INVALID_TXN_STATE", f"Cannot commit {transactional_id!r} in state {meta.state}")
        return meta.producer_id, meta.producer_epoch

    def _prepare_bumped(self, meta: TransactionMetadata, state: str) -> None:
        """Enter Prepare* with the next epoch, the one the markers carry; with the epoch
        exhausted the producer continues under a new id once the transaction is complete."""
        meta.last_producer_id, meta.last_producer_epoch = meta.producer_id, meta.producer_epoch
        meta.producer_epoch += 1
        if meta.producer_epoch >= LAST_USABLE_EPOCH:
            meta.next_producer_id = self.broker.producer_ids.next_id()
        meta.state = state
        self._persist(meta)

    def _write_markers_and_complete(self, meta: TransactionMetadata, commit: bool) -> None:
        marker = records.CONTROL_COMMIT if commit else records.CONTROL_ABORT
        for topic, index in sorted(meta.partitions):
            partition = self.broker.topics.partition(topic, index)
            if partition is not None:  # a topic deleted mid-transaction has nothing to mark
                partition.append_marker(marker, meta.producer_id, meta.producer_epoch, COORDINATOR_EPOCH)
        if self.complete_group_offsets is not None:
            for group in sorted(meta.groups):
                self.complete_group_offsets(group, meta.producer_id, commit)
        meta.state = COMPLETE_COMMIT if commit else COMPLETE_ABORT
        if meta.next_producer_id >= 0:
            # The old id ended on its exhausted epoch: it is never used again.
            meta.producer_id, meta.producer_epoch, meta.next_producer_id = meta.next_producer_id, 0, -1
        self._persist(meta)

    def _abort_with_bumped_epoch(self, meta: TransactionMetadata) -> None:
        """Abort an open transaction with epoch + 1, so its producer is fenced everywhere. The
        markers go out under the id the transaction's data has, even when that id's epochs
        run out with this bump: markers under a new id would leave the transaction open."""
        self._prepare_bumped(meta, PREPARE_ABORT)
        self._write_markers_and_complete(meta, commit=False)

    def abort_timed_out(self, now_ms: int | None = None) -> int:
        """Abort transactions open longer than their transaction.timeout.ms."""
        if self.loading:
            return 0
        now_ms = _now() if now_ms is None else now_ms
        expired = [m for m in self.transactions.values()
                   if m.state == ONGOING and now_ms - m.start_ms > m.timeout_ms]
        for meta in expired:
            log.info("aborting transaction %s: open for more than %d ms", meta.transactional_id, meta.timeout_ms)
            self._abort_with_bumped_epoch(meta)
        return len(expired)

    def describe(self, transactional_id: str) -> TransactionMetadata | None:
        return self.transactions.get(transactional_id)
