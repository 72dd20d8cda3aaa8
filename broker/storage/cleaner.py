"""Log compaction (cleanup.policy=compact): keep the latest record per key.

The work is split so the broker's event loop never does the heavy part:

  job = log.clean_job(now)        main thread: choose segments, cheap (plan_clean)
  result = run_clean(job)         worker process: read, decide, write "<base>.*.cleaned"
  log.apply_clean(result)         main thread: verify nothing changed, swap files in
                                  (the broker: log.prepare_swap, then the fsyncs of
                                  SwapPlan.commit/make_durable in a thread around
                                  log.install_swap, so the event loop never waits on them)

Every pass re-cleans all closed segments from the log start up to the first segment
that is too recent (min.compaction.lag.ms) or the active one, building its key map
from all of them; the "clean offset" checkpoint only feeds the dirty-ratio trigger.
The key map holds every distinct key of those segments in memory (Kafka bounds it
with a dedupe buffer and cleans in rounds; we do not).

Tombstones: Kafka keeps a tombstone for delete.retention.ms after the cleaner first
saw it (KIP-534 stores that "delete horizon" in the batch). We keep the same rule but
store the horizon in the checkpoint instead, leaving batches untouched: each pass
appends (upper offset, time). A tombstone at offset o was first cleaned by the first
pass whose upper offset exceeds o, so it may go once some pass with upper > o is at
least delete.retention.ms old, i.e. o < max(upper of passes older than the retention).
Record timestamps are not used: a producer's clock must not shorten the window in
which consumers can see a delete.

Transactions: data of aborted transactions is dropped, and never shadows older values;
a transaction whose marker is not inside the cleaned range is left untouched (its
batches kept verbatim and kept out of the key map) until a later pass sees its marker.
Control batches are kept as they are. Batches left empty are dropped.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..records import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    TIMESTAMP_TYPE_BIT,
    BatchHeader,
    check_batch,
    control_marker,
    decode_records,
    encode_batch,
    parse_header,
)
from .checkpoint import fsync_directory, read_text, write_atomically
from .segment import SEGMENT_SUFFIXES, LogSegment, iter_batches_in_file, segment_file_name

CLEANED_SUFFIX = ".cleaned"
SWAP_MANIFEST = "cleaner-swap.json"
CHECKPOINT_FILE = "cleaner-offset-checkpoint"
MAX_PASSES_KEPT = 1000


@dataclass(frozen=True)
class SegmentRef:
    """What a job saw of a closed segment; apply_clean checks it is still so."""

    base_offset: int
    size: int
    next_offset: int
    inode: int


@dataclass(frozen=True)
class CleanJob:
    directory: str
    segments: tuple[SegmentRef, ...]
    now_ms: int
    first_dirty_offset: int
    # Base offset of the first segment left out: the new clean offset after the swap.
    clean_upper_offset: int
    # Tombstones below this offset have been known to the cleaner for delete.retention.ms.
    tombstone_horizon_offset: int
    segment_bytes: int
    index_interval_bytes: int
    segment_index_bytes: int


@dataclass(frozen=True)
class CleanedSegment:
    base_offset: int
    size: int
    next_offset: int


@dataclass(frozen=True)
class CleanResult:
    job: CleanJob
    segments: tuple[CleanedSegment, ...]
    # True when the job could not run (its files vanished: retention won the race).
    aborted: bool = False
    records_read: int = 0
    records_kept: int = 0
    bytes_read: int = 0
    bytes_written: int = 0


# --------------------------------------------------------------------------
# Checkpoint: clean offset and the history of passes (tombstone horizon)
# --------------------------------------------------------------------------


@dataclass
class CleanerCheckpoint:
    clean_offset: int = 0
    passes: list[tuple[int, int]] = field(default_factory=list)  # (upper offset, time ms), oldest first

    @classmethod
    def read(cls, directory: Path) -> "CleanerCheckpoint":
        text = read_text(Path(directory) / CHECKPOINT_FILE)
        if text is None:
            return cls()
        try:
            data = json.loads(text)
            return cls(int(data["clean_offset"]), [(int(u), int(t)) for u, t in data["passes"]])
        except (ValueError, KeyError, TypeError):
            return cls()  # unreadable: everything looks dirty, tombstones look new; both safe

    def write(self, directory: Path) -> None:
        text = json.dumps({"clean_offset": self.clean_offset, "passes": self.passes})
        write_atomically(Path(directory) / CHECKPOINT_FILE, text)

    def tombstone_horizon_offset(self, now_ms: int, delete_retention_ms: int) -> int:
        old_enough = [upper for upper, at in self.passes if at <= now_ms - delete_retention_ms]
        return max(old_enough, default=-1)

    def record_pass(self, upper_offset: int, now_ms: int, delete_retention_ms: int) -> None:
        self.clean_offset = upper_offset
        self.passes.append((upper_offset, now_ms))
        # Only the newest pass already past the retention still matters among the old ones.
        cutoff = now_ms - delete_retention_ms
        old = [p for p in self.passes if p[1] <= cutoff]
        recent = [p for p in self.passes if p[1] > cutoff]
        self.passes = (old[-1:] + recent)[-MAX_PASSES_KEPT:]


# --------------------------------------------------------------------------
# Planning (main thread)
# --------------------------------------------------------------------------


def plan_clean(log, checkpoint: CleanerCheckpoint, now_ms: int) -> CleanJob | None:
    """A job for `log` if its closed segments are dirty enough, else None."""
    config = log.config
    if not config.compact:
        return None
    segments = log.segments
    closed = segments[:-1]
    if not closed:
        return None
    first_dirty = max(checkpoint.clean_offset, closed[0].base_offset)
    end = len(closed)
    if config.min_compaction_lag_ms > 0:
        horizon = now_ms - config.min_compaction_lag_ms
        for i, seg in enumerate(closed):
            if seg.base_offset >= first_dirty and seg.largest_timestamp > horizon:
                end = i
                break
    chosen = closed[:end]
    total = sum(seg.size for seg in chosen)
    dirty = sum(seg.size for seg in chosen if seg.base_offset >= first_dirty)
    if dirty == 0 or dirty / total < config.min_cleanable_dirty_ratio:
        return None
    return CleanJob(
        directory=str(log.directory),
        segments=tuple(SegmentRef(s.base_offset, s.size, s.next_offset, s.inode) for s in chosen),
        now_ms=now_ms,
        first_dirty_offset=first_dirty,
        clean_upper_offset=segments[end].base_offset,
        tombstone_horizon_offset=checkpoint.tombstone_horizon_offset(now_ms, config.delete_retention_ms),
        segment_bytes=config.segment_bytes,
        index_interval_bytes=config.index_interval_bytes,
        segment_index_bytes=config.segment_index_bytes,
    )


# --------------------------------------------------------------------------
# Cleaning (worker process): pure function of the job and the files it names
# --------------------------------------------------------------------------


@dataclass
class _KeyScan:
    latest: dict[bytes, int] = field(default_factory=dict)  # key -> offset of its latest record
    aborted: set[int] = field(default_factory=set)  # base offsets of aborted transactional batches
    undecided: set[int] = field(default_factory=set)  # ... of transactional batches without marker in range
    records: int = 0
    bytes: int = 0


def run_clean(job: CleanJob) -> CleanResult:
    """Write cleaned copies of the job's segments as `<base>.{log,index,timeindex}.cleaned`.

    Safe in a ProcessPoolExecutor: it only reads the job's closed segment files (which
    the broker never modifies, only deletes) and writes temp files; on failure those
    are removed again."""
    directory = Path(job.directory)
    writer = _CleanedWriter(job, directory)
    fds: list[int] = []
    try:
        for ref in job.segments:
            fds.append(os.open(directory / segment_file_name(ref.base_offset, ".log"), os.O_RDONLY))
        scan = _scan_keys(job, fds)
        for ref, fd in zip(job.segments, fds):
            for _, batch in iter_batches_in_file(fd, 0, ref.size):
                retained, kept = _retain(batch, parse_header(batch), job.tombstone_horizon_offset, scan)
                if retained is not None:
                    writer.append(retained, kept)
        cleaned = writer.finish()
    except FileNotFoundError:
        writer.remove()
        return CleanResult(job, (), aborted=True)
    except BaseException:
        writer.remove()
        raise
    finally:
        for fd in fds:
            os.close(fd)
    return CleanResult(job, cleaned, False, scan.records, writer.records, scan.bytes,
                       sum(s.size for s in cleaned))


def _scan_keys(job: CleanJob, fds: list[int]) -> _KeyScan:
    """First pass: the latest offset of every key, and the fate of transactional batches."""
    scan = _KeyScan()
    # producer id -> [(batch base offset, [(key, offset)])] of its open transaction
    open_txns: dict[int, list[tuple[int, list[tuple[bytes, int]]]]] = {}
    for ref, fd in zip(job.segments, fds):
        for _, batch in iter_batches_in_file(fd, 0, ref.size):
            header = check_batch(batch)  # never spread corruption into cleaned files
            scan.bytes += header.size
            records = decode_records(batch)
            scan.records += len(records)
            if header.is_control:
                marker = control_marker(records[0]) if records else None
                if marker in (CONTROL_ABORT, CONTROL_COMMIT):
                    _end_transaction(scan, open_txns.pop(header.producer_id, []), marker)
                continue
            keys = [(r.key, r.offset) for r in records if r.key is not None]
            if header.is_transactional:
                open_txns.setdefault(header.producer_id, []).append((header.base_offset, keys))
            else:
                for key, offset in keys:
                    scan.latest[key] = offset
    scan.undecided = {base for txn in open_txns.values() for base, _ in txn}
    return scan


def _end_transaction(scan: _KeyScan, txn: list[tuple[int, list[tuple[bytes, int]]]], marker: int) -> None:
    if marker == CONTROL_ABORT:
        scan.aborted.update(base for base, _ in txn)
        return
    latest = scan.latest
    for _, keys in txn:
        for key, offset in keys:
            # Records appended after the transaction's data but before its marker have
            # higher offsets and must stay the latest.
            if latest.get(key, -1) < offset:
                latest[key] = offset


class _CleanedWriter:
    """Packs surviving batches into as few new segments as segment.bytes, int32 relative
    offsets and the index size allow; so small leftovers of many segments merge."""

    def __init__(self, job: CleanJob, directory: Path):
        self.job = job
        self.directory = directory
        self.outputs: list[LogSegment] = []
        self.records = 0

    def _start(self, base_offset: int) -> LogSegment:
        job = self.job
        segment = LogSegment.create(
            self.directory, base_offset, file_suffix=CLEANED_SUFFIX,
            index_interval_bytes=job.index_interval_bytes, segment_index_bytes=job.segment_index_bytes,
            created_ms=job.now_ms)
        self.outputs.append(segment)
        return segment

    def append(self, batch, records: int) -> None:
        header = parse_header(batch)  # a rebuilt batch may have a smaller max timestamp
        out = self.outputs[-1] if self.outputs else None
        if out is None:
            # The first output keeps the first segment's base, and so the log start offset.
            out = self._start(self.job.segments[0].base_offset)
        elif not out.is_empty and (out.size + len(batch) > self.job.segment_bytes or out.indexes_full
                                   or not out.relative_offset_fits(header.last_offset)):
            self._close(out)
            out = self._start(header.base_offset)
        out.append(batch, header.base_offset, header.last_offset_delta, header.max_timestamp)
        self.records += records

    @staticmethod
    def _close(segment: LogSegment) -> None:
        segment.seal()
        segment.flush()  # durable before the main thread may commit the swap
        segment.close()

    def finish(self) -> tuple[CleanedSegment, ...]:
        if not self.outputs:
            # Nothing survived: an empty segment still holds the log start offset in place.
            self._start(self.job.segments[0].base_offset)
        self._close(self.outputs[-1])
        return tuple(CleanedSegment(s.base_offset, s.size, s.next_offset) for s in self.outputs)

    def remove(self) -> None:
        for segment in self.outputs:
            segment.delete()


def _retain(batch, header: BatchHeader, horizon_offset: int, scan: _KeyScan):
    """(bytes to keep, records kept) for one batch; (None, 0) to drop it."""
    if header.is_control or header.base_offset in scan.undecided:
        return batch, header.record_count
    if header.base_offset in scan.aborted:
        return None, 0
    records = decode_records(batch)
    latest = scan.latest
    kept = [
        r for r in records
        if r.key is not None
        and latest.get(r.key) == r.offset
        and not (r.value is None and r.offset < horizon_offset)
    ]
    if not kept:
        return None, 0
    if len(kept) == len(records):
        return batch, len(kept)  # untouched: keep the original bytes
    rebuilt = encode_batch(
        kept,
        base_offset=header.base_offset,
        last_offset_delta=header.last_offset_delta,  # keeps the sequence range of idempotent batches
        codec=header.compression,
        attributes=header.attributes,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        leader_epoch=header.leader_epoch,
        # LogAppendTime lives only in maxTimestamp; CreateTime is recomputed from records.
        max_timestamp=header.max_timestamp if header.attributes & TIMESTAMP_TYPE_BIT else None,
    )
    return rebuilt, len(kept)


# --------------------------------------------------------------------------
# Swapping (main thread) and its crash recovery
# --------------------------------------------------------------------------


def cleaned_files_present(directory: Path, bases: list[int]) -> bool:
    return all((directory / (segment_file_name(b, s) + CLEANED_SUFFIX)).exists()
               for b in bases for s in SEGMENT_SUFFIXES)


def discard_cleaned(directory: Path, bases: list[int]) -> None:
    for base in bases:
        for suffix in SEGMENT_SUFFIXES:
            (directory / (segment_file_name(base, suffix) + CLEANED_SUFFIX)).unlink(missing_ok=True)


@dataclass
class SwapPlan:
    """A cleaned job on its way in. The steps that fsync (commit, make_durable) may run in
    a thread; Log.install_swap, between them, runs where the log is used.

    While a plan is pending the log deletes no segment (retention and DeleteRecords wait a
    pass), so the segments the manifest names are the ones the swap replaces."""

    job: CleanJob
    new_bases: list[int]
    checkpoint: CleanerCheckpoint | None = None  # set by install_swap, written by make_durable

    @property
    def directory(self) -> Path:
        return Path(self.job.directory)

    @property
    def old_bases(self) -> list[int]:
        return [ref.base_offset for ref in self.job.segments]

    def commit(self) -> None:
        """The commit point: once the manifest exists, the swap will be completed, now or
        by finish_swap when the log next opens after a crash."""
        write_atomically(self.directory / SWAP_MANIFEST,
                         json.dumps({"old": self.old_bases, "new": self.new_bases}))

    def make_durable(self) -> None:
        """After install_swap: the renames durable, the manifest gone, the pass recorded."""
        end_swap(self.directory)
        if self.checkpoint is not None:
            self.checkpoint.write(self.directory)


def rename_cleaned(directory: Path, old_bases: list[int], new_bases: list[int]) -> None:
    """Put the cleaned files under their final names and remove the old segments' files
    (no fsync: the manifest makes this step repeatable after a crash)."""
    for base in new_bases:
        for suffix in SEGMENT_SUFFIXES:
            final = directory / segment_file_name(base, suffix)
            cleaned = final.with_name(final.name + CLEANED_SUFFIX)
            if cleaned.exists():
                os.replace(cleaned, final)
    for base in old_bases:
        if base not in new_bases:
            for suffix in SEGMENT_SUFFIXES:
                (directory / segment_file_name(base, suffix)).unlink(missing_ok=True)


def end_swap(directory: Path) -> None:
    fsync_directory(directory)
    (directory / SWAP_MANIFEST).unlink()
    fsync_directory(directory)


def abandon_swap(directory: Path, new_bases: list[int]) -> None:
    """Take back a committed manifest whose segments changed after all (never expected:
    the log deletes no segment while a swap is pending)."""
    (directory / SWAP_MANIFEST).unlink(missing_ok=True)
    fsync_directory(directory)
    discard_cleaned(directory, new_bases)


def finish_swap(directory: Path) -> bool:
    """Complete a committed swap a crash interrupted (when the log opens): rename the
    cleaned files over the originals, delete the replaced segments that have no successor
    of the same base, drop the manifest. Idempotent."""
    text = read_text(directory / SWAP_MANIFEST)
    if text is None:
        return False
    try:
        manifest = json.loads(text)
        new_bases = [int(b) for b in manifest["new"]]
        old_bases = [int(b) for b in manifest["old"]]
    except (ValueError, KeyError, TypeError):
        # Written atomically, so only disk damage gets here: the swap cannot be finished
        # without knowing its segments. Delete nothing; leftover .cleaned files are
        # dropped when the log opens.
        logging.getLogger("schemabus.storage").warning(
            "%s: unreadable %s; the compaction it recorded is abandoned, segments left as they are",
            directory, SWAP_MANIFEST)
        (directory / SWAP_MANIFEST).unlink()
        return False
    rename_cleaned(directory, old_bases, new_bases)
    end_swap(directory)
    return True
