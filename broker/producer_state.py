"""Producer state of one partition: idempotence (epochs, sequences) and open transactions.

Kafka's rules (ProducerStateManager): per producer id the broker keeps the current epoch
and the last five appended batches. A batch with an older epoch is fenced; a new epoch
must start at sequence 0; within an epoch each batch continues the last sequence (int32
wrap-around); a retry of one of the last five batches is answered with its original
offset and not appended again.

For transactions it keeps, per producer, the first offset of its open transaction (the
last stable offset is the smallest of them) and the list of aborted transactions, which
read_committed fetches return so consumers can drop aborted records.

The state is snapshotted to `<offset>.snapshot` in the partition directory (at clean
shutdown and periodically) and rebuilt on start from the latest snapshot plus the batch
headers after it, so deduplication and open transactions survive restarts and compaction.
"""

from __future__ import annotations

import bisect
import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from broker.records import NO_SEQUENCE, BatchHeader

MAX_CACHED_BATCHES = 5
_INT32_MAX = 0x7FFFFFFF
SNAPSHOT_SUFFIX = ".snapshot"


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
    coordinator_epoch: int = -1

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int  # offset of the ABORT marker


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
        self.ongoing: dict[int, int] = {}  # producer id -> first offset of its open transaction
        self.aborted: list[AbortedTxn] = []  # ordered by first offset
        self.changed = False

    # -- idempotence ----------------------------------------------------------------

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
        if seq == NO_SEQUENCE:
            return  # written by a coordinator (transactional offsets): fenced by epoch, no sequence
        if epoch > entry.epoch or not entry.batches:
            if epoch > entry.epoch and seq != 0:
                raise SequenceError(
                    "OUT_OF_ORDER_SEQUENCE_NUMBER",
                    f"Producer {pid} started epoch {epoch} at sequence {seq}, expected 0")
            return
        for cached in entry.batches:
            if cached.first_seq == seq and cached.last_seq == header.last_sequence:
                raise Duplicate(cached.base_offset)
        if seq != _next_seq(entry.last_seq):
            raise SequenceError(
                "OUT_OF_ORDER_SEQUENCE_NUMBER",
                f"Producer {pid} epoch {epoch}: sequence {seq} does not follow {entry.last_seq}")

    def update(self, header: BatchHeader) -> None:
        """Record an appended batch (its header carries the assigned base offset)."""
        pid = header.producer_id
        if pid < 0:
            return
        self.changed = True
        entry = self.producers.get(pid)
        if entry is None or header.producer_epoch != entry.epoch:
            entry = self.producers[pid] = ProducerEntry(header.producer_epoch)
        entry.last_timestamp = max(entry.last_timestamp, header.max_timestamp)
        if header.is_control:
            return
        if header.base_sequence != NO_SEQUENCE:
            entry.batches.append(
                CachedBatch(header.base_sequence, header.last_sequence, header.base_offset, header.last_offset))
        if header.is_transactional:
            self.ongoing.setdefault(pid, header.base_offset)

    # -- transactions ---------------------------------------------------------------

    def complete_transaction(self, producer_id: int, epoch: int, marker_offset: int, aborted: bool,
                             timestamp: int, coordinator_epoch: int = -1) -> None:
        """A COMMIT/ABORT marker was appended at `marker_offset`."""
        self.changed = True
        entry = self.producers.get(producer_id)
        if entry is None or epoch > entry.epoch:
            # A marker with a bumped epoch fences the producer's older epoch.
            entry = self.producers[producer_id] = ProducerEntry(epoch)
        entry.last_timestamp = max(entry.last_timestamp, timestamp)
        entry.coordinator_epoch = max(entry.coordinator_epoch, coordinator_epoch)
        first = self.ongoing.pop(producer_id, None)
        if aborted and first is not None:
            self.aborted.append(AbortedTxn(producer_id, first, marker_offset))

    def first_unstable_offset(self) -> int | None:
        return min(self.ongoing.values()) if self.ongoing else None

    def aborted_between(self, start: int, end: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping offsets [start, end]."""
        return [t for t in self.aborted if t.first_offset <= end and t.last_offset >= start]

    def truncate_before(self, log_start_offset: int) -> None:
        """Forget aborted transactions wholly below the log start (retention, DeleteRecords)."""
        if self.aborted and self.aborted[0].last_offset < log_start_offset:
            self.aborted = [t for t in self.aborted if t.last_offset >= log_start_offset]

    # -- expiry ---------------------------------------------------------------------

    def expire(self, now_ms: int, expiration_ms: int) -> None:
        """Forget producers silent for `producer.id.expiration.ms` (not those mid-transaction)."""
        stale = [pid for pid, e in self.producers.items()
                 if now_ms - e.last_timestamp > expiration_ms and pid not in self.ongoing]
        for pid in stale:
            del self.producers[pid]
        if stale:
            self.changed = True

    # -- snapshots ------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "producers": {str(pid): {"epoch": e.epoch, "last_timestamp": e.last_timestamp,
                                     "coordinator_epoch": e.coordinator_epoch,
                                     "batches": [[b.first_seq, b.last_seq, b.base_offset, b.last_offset]
                                                 for b in e.batches]}
                          for pid, e in self.producers.items()},
            "ongoing": {str(pid): first for pid, first in self.ongoing.items()},
            "aborted": [[t.producer_id, t.first_offset, t.last_offset] for t in self.aborted],
        }

    @classmethod
    def from_json(cls, data: dict) -> "ProducerStateManager":
        state = cls()
        for pid, e in data["producers"].items():
            entry = ProducerEntry(e["epoch"], last_timestamp=e["last_timestamp"],
                                  coordinator_epoch=e.get("coordinator_epoch", -1))
            for b in e["batches"]:
                entry.batches.append(CachedBatch(*b))
            state.producers[int(pid)] = entry
        state.ongoing = {int(pid): first for pid, first in data["ongoing"].items()}
        state.aborted = [AbortedTxn(*t) for t in data["aborted"]]
        return state


def snapshot_path(directory: Path, offset: int) -> Path:
    return directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def write_snapshot(directory: Path, offset: int, state: ProducerStateManager, keep: int = 2) -> None:
    """Write the state as of `offset` (the log end) and keep only the newest `keep` snapshots."""
    path = snapshot_path(directory, offset)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_json(), separators=(",", ":")))
    os.replace(tmp, path)
    state.changed = False
    for old in list_snapshots(directory)[:-keep]:
        snapshot_path(directory, old).unlink(missing_ok=True)


def list_snapshots(directory: Path) -> list[int]:
    offsets = []
    for path in directory.glob(f"*{SNAPSHOT_SUFFIX}"):
        stem = path.name[: -len(SNAPSHOT_SUFFIX)]
        if stem.isdigit():
            offsets.append(int(stem))
    return sorted(offsets)


def load_snapshot(directory: Path, log_end_offset: int) -> tuple[int, ProducerStateManager]:
    """The newest readable snapshot at or below the log end, else (0, empty state)."""
    offsets = list_snapshots(directory)
    for stale in offsets[bisect.bisect_right(offsets, log_end_offset):]:
        # Written before a torn tail was truncated away: it describes offsets that are gone.
        snapshot_path(directory, stale).unlink(missing_ok=True)
    for offset in reversed(offsets[: bisect.bisect_right(offsets, log_end_offset)]):
        try:
            return offset, ProducerStateManager.from_json(json.loads(snapshot_path(directory, offset).read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a torn snapshot: fall back to an older one or a full scan
    return 0, ProducerStateManager()
