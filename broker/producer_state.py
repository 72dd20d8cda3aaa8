"""Idempotent-producer state of one partition: epochs and sequence numbers per producer id.

Kafka's rules (ProducerStateManager): per producer id the broker keeps the current epoch
and the last five appended batches. A batch with an older epoch is fenced; a new epoch
must start at sequence 0; within an epoch each batch continues the last sequence (int32
wrap-around); a retry of one of the last five batches is answered with its original
offset and not appended again. The state is rebuilt from the batch headers in the log
on start, so deduplication survives a restart.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from broker.records import BatchHeader, NO_SEQUENCE

MAX_CACHED_BATCHES = 5
_INT32_MAX = 0x7FFFFFFF


@dataclass(slots=True)
class CachedBatch:
    first_seq: int
    last_seq: int
    base_offset: int
    last_offset: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int
    batches: deque = field(default_factory=lambda: deque(maxlen=MAX_CACHED_BATCHES))
    last_timestamp: int = -1

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE


class SequenceError(Exception):
    def __init__(self, error: str, message: str):
        super().__init__(message)
        self.error = error


class Duplicate(Exception):
    """A retry of a batch already in the log; `base_offset` is where it went."""

    def __init__(self, base_offset: int):
        super().__init__(base_offset)
        self.base_offset = base_offset


def _next_seq(seq: int) -> int:
    return 0 if seq == _INT32_MAX else seq + 1


class ProducerStateManager:
    def __init__(self):
        self.producers: dict[int, ProducerEntry] = {}

    def check(self, header: BatchHeader) -> None:
        """Raise Duplicate or SequenceError if this batch must not be appended."""
        pid = header.producer_id
        if pid < 0:
            return
        entry = self.producers.get(pid)
        if entry is None:
            return  # no state for this producer (new, or expired): accept
        epoch = header.producer_epoch
        seq = header.base_sequence
        if epoch < entry.epoch:
            raise SequenceError(
                "INVALID_PRODUCER_EPOCH",
                f"Producer {pid}'s epoch {epoch} is older than the current epoch {entry.epoch}")
        if epoch > entry.epoch:
            if seq != 0:
                raise SequenceError(
                    "OUT_OF_ORDER_SEQUENCE_NUMBER",
                    f"Producer {pid} started epoch {epoch} at sequence {seq}, expected 0")
            return
        for cached in entry.batches:
            if cached.first_seq == seq and cached.last_seq == header.last_sequence:
                raise Duplicate(cached.base_offset)
        if entry.batches and seq != _next_seq(entry.last_seq):
            raise SequenceError(
                "OUT_OF_ORDER_SEQUENCE_NUMBER",
                f"Producer {pid} epoch {epoch}: sequence {seq} does not follow {entry.last_seq}")

    def update(self, header: BatchHeader) -> None:
        """Record an appended batch (header carries its assigned base offset)."""
        pid = header.producer_id
        if pid < 0:
            return
        entry = self.producers.get(pid)
        if entry is None or header.producer_epoch != entry.epoch:
            entry = self.producers[pid] = ProducerEntry(header.producer_epoch)
        entry.last_timestamp = max(entry.last_timestamp, header.max_timestamp)
        if header.base_sequence != NO_SEQUENCE and not header.is_control:
            entry.batches.append(
                CachedBatch(header.base_sequence, header.last_sequence, header.base_offset, header.last_offset))

    def expire(self, now_ms: int, expiration_ms: int) -> None:
        """Forget producers silent for `producer.id.expiration.ms`."""
        stale = [pid for pid, e in self.producers.items() if now_ms - e.last_timestamp > expiration_ms]
        for pid in stale:
            del self.producers[pid]
