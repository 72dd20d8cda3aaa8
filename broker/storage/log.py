"""One partition's log: an ordered list of segments in one directory (e.g. data/t-0/).

The last segment is the active one; all appends go there. Everything here runs on the
broker's event-loop thread and does per-batch (never per-record) work, except the
timestamp lookups, which decode the single batch that answers them. Compaction's
heavy part runs elsewhere (cleaner.run_clean); this class only plans and swaps.

Files in the directory besides segments:
  clean-shutdown              written by close(); its absence on open means a crash,
                              so the whole active segment is CRC-checked batch by batch
                              (when present, only its last ACTIVE_TAIL_CHECK_BYTES are).
                              It is removed before the first change to the files, not on
                              open: a log opened but left unchanged is still cleanly shut
                              down after a crash, and opening costs no fsync
  log-start-offset            the log start offset moved by DeleteRecords
  cleaner-offset-checkpoint   compaction progress and tombstone horizon (cleaner.py)
  cleaner-swap.json           present only while cleaned segments are being swapped in
"""

from __future__ import annotations

import logging
import shutil
import time
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from ..records import BatchHeader, InvalidBatch, parse_header, set_base_offset
from . import cleaner
from .checkpoint import TEMP_SUFFIX, fsync_directory, read_int, write_int
from .cleaner import CleanerCheckpoint, CleanJob, CleanResult
from .config import LogConfig
from .segment import INDEX_SUFFIX, TIMEINDEX_SUFFIX, LogSegment, parse_segment_file_name

log = logging.getLogger("schemabus.storage")

CLEAN_SHUTDOWN_FILE = "clean-shutdown"
# After a clean shutdown the batches in the last 4 MiB of the active segment (and always its
# last batch) are CRC-checked on open: a few ms per partition whatever the segment's size
# (a whole 1 GiB segment would take 0.3-3 s), and the bytes written last are where damage
# that a clean shutdown cannot rule out (lost writes, a tampered file) most likely sits.
ACTIVE_TAIL_CHECK_BYTES = 4 * 1024 * 1024
LOG_START_OFFSET_FILE = "log-start-offset"
# Leftovers of interrupted work; a committed compaction swap is finished before these go.
TEMP_FILE_SUFFIXES = (cleaner.CLEANED_SUFFIX, ".swap", TEMP_SUFFIX, ".deleted")


@dataclass
class FileSpan:
    """Whole batches at [position, position + size) of an open segment file."""

    file: BinaryIO
    position: int
    size: int
    last_offset: int

    def __len__(self) -> int:
        return self.size


class OffsetOutOfRange(Exception):
    """Kafka's OFFSET_OUT_OF_RANGE: the offset is outside [log start, log end]."""

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int):
        super().__init__(f"offset {offset} is outside [{log_start_offset}, {log_end_offset}]")
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Log:
    def __init__(self, directory: Path, config: LogConfig, *, now_ms: Callable[[], int] = wall_clock_ms):
        self.directory = Path(directory)
        self.config = config
        self._now_ms = now_ms
        self._segments: list[LogSegment] = []
        self._bases: list[int] = []  # parallel to _segments, for bisect
        self._log_start_offset = 0
        self._closed = False
        self._swap_pending = False  # a compaction swap between prepare_swap and swap_finished
        self._unflushed_messages = 0
        self._last_flush_ms = now_ms()
        self._unflushed_segments: list[LogSegment] = []  # rolled since the last flush
        self._directory_dirty = False
        self._cleaner_checkpoint: CleanerCheckpoint | None = None
        self._marked_clean = False  # the clean-shutdown marker is on disk
        self.directory.mkdir(parents=True, exist_ok=True)
        self._load()

    # ------------------------------------------------------------------ open

    def _segment_options(self) -> dict:
        return {
            "index_interval_bytes": self.config.index_interval_bytes,
            "segment_index_bytes": self.config.segment_index_bytes,
            "created_ms": self._now_ms(),
        }

    def _load(self) -> None:
        cleaner.finish_swap(self.directory)
        self._remove_leftovers()
        marker = self.directory / CLEAN_SHUTDOWN_FILE
        clean = marker.exists()
        bases = sorted(b for p in self.directory.iterdir()
                       if (b := parse_segment_file_name(p.name)) is not None)
        self._remove_orphan_indexes(set(bases))
        shutdown = "a clean shutdown" if clean else "an unclean shutdown"
        truncated = False
        for i, base in enumerate(bases):
            last = i == len(bases) - 1
            # After a crash only the active segment can hold a torn write (the others
            # were complete when rolled); their tails are still checked cheaply on load.
            # After a clean shutdown the active segment's tail is still CRC-checked.
            segment, cut = self._open_segment(
                base, validate=not clean and last, active=last,
                check_tail_bytes=ACTIVE_TAIL_CHECK_BYTES if clean and last else 0, context=f"after {shutdown}")
            self._segments.append(segment)
            truncated = truncated or cut
        checkpointed_start = read_int(self.directory / LOG_START_OFFSET_FILE) or 0
        if not self._segments:
            self._segments.append(LogSegment.create(self.directory, checkpointed_start, **self._segment_options()))
            self._directory_dirty = True
        self._bases = [s.base_offset for s in self._segments]
        self._log_start_offset = min(max(checkpointed_start, self._bases[0]), self.log_end_offset)
        self._marked_clean = clean
        if truncated:
            self._mark_changing()
        if self._directory_dirty:
            fsync_directory(self.directory)
            self._directory_dirty = False

    def _open_segment(self, base_offset: int, *, validate: bool, active: bool, check_tail_bytes: int = 0,
                      context: str = "on open") -> tuple[LogSegment, bool]:
        """(the loaded segment, whether recovery cut something off its end)."""
        segment = LogSegment.open(self.directory, base_offset, **self._segment_options())
        cut = segment.load(validate=validate, check_tail_bytes=check_tail_bytes)
        if cut is not None:
            log.warning("%s: truncated %s at position %d (offset %d) %s: %s; dropped %d bytes",
                        self.directory, segment.log_path.name, cut.position, cut.offset, context, cut.reason,
                        cut.dropped)
        if not active:
            segment.seal()
        return segment, cut is not None

    def _mark_changing(self) -> None:
        """Called before anything changes the log's files: from here on a crash must be
        detected as one, so the clean-shutdown marker goes (durably) first."""
        if self._marked_clean:
            (self.directory / CLEAN_SHUTDOWN_FILE).unlink(missing_ok=True)
            fsync_directory(self.directory)
            self._marked_clean = False

    def _remove_leftovers(self) -> None:
        for path in self.directory.iterdir():
            if path.name.endswith(TEMP_FILE_SUFFIXES):
                path.unlink(missing_ok=True)

    def _remove_orphan_indexes(self, bases: set[int]) -> None:
        for path in self.directory.iterdir():
            for suffix in (INDEX_SUFFIX, TIMEINDEX_SUFFIX):
                base = parse_segment_file_name(path.name, suffix)
                if base is not None and base not in bases:
                    path.unlink(missing_ok=True)

    # ------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record gets."""
        return self._segments[-1].next_offset

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    @property
    def segments(self) -> tuple[LogSegment, ...]:
        return tuple(self._segments)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments[-1]

    @property
    def closed(self) -> bool:
        return self._closed

    def update_config(self, config: LogConfig) -> None:
        """Apply changed topic configs (AlterConfigs); they take effect from the next append."""
        self.config = config
        self._segments[-1].set_index_limits(config.index_interval_bytes, config.segment_index_bytes)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"log {self.directory} is closed")

    def _segment_index(self, offset: int) -> int:
        """Index of the segment whose range holds `offset` (the first if below all)."""
        return max(bisect_right(self._bases, offset) - 1, 0)

    # ---------------------------------------------------------------- append

    def append(self, batch: bytearray, header: BatchHeader | None = None) -> int:
        """Assign offsets to a (validated) batch, write it, return its base offset.

        `batch` may also be a writable memoryview; `header`, if given, is its parsed header."""
        self._check_open()
        if self._marked_clean:
            self._mark_changing()
        if not isinstance(batch, bytearray) and not (isinstance(batch, memoryview) and not batch.readonly):
            batch = bytearray(batch)
        if header is None:
            header = parse_header(batch)
        if header.size != len(batch):
            raise InvalidBatch("record batch length does not match its bytes")
        active = self._segments[-1]
        base_offset = active.next_offset
        if self._should_roll(active, len(batch), base_offset + header.last_offset_delta):
            active = self._roll()
        set_base_offset(batch, base_offset)
        active.append(batch, base_offset, header.last_offset_delta, header.max_timestamp)
        self._unflushed_messages += header.record_count
        if self._unflushed_messages >= self.config.flush_messages:
            self.flush()
        return base_offset

    def _should_roll(self, active: LogSegment, batch_size: int, last_offset: int) -> bool:
        if active.is_empty:
            return False  # an empty segment takes any batch, however large
        config = self.config
        return (
            active.size + batch_size > config.segment_bytes
            or self._now_ms() - active.rolling_base_ms > config.segment_ms
            or active.indexes_full
            or not active.relative_offset_fits(last_offset)
        )

    def _roll(self) -> LogSegment:
        """Start a new active segment at the log end offset."""
        old = self._segments[-1]
        if old.is_empty:
            return old
        new = LogSegment.create(self.directory, old.next_offset, **self._segment_options())
        old.seal()
        self._unflushed_segments.append(old)
        self._segments.append(new)
        self._bases.append(new.base_offset)
        self._directory_dirty = True
        return new

    def roll(self) -> LogSegment:
        """Force a roll (no-op on an empty active segment)."""
        self._check_open()
        self._mark_changing()
        return self._roll()

    # ----------------------------------------------------------------- flush

    def flush(self) -> None:
        """fsync everything appended so far (Kafka's flush.messages / flush.ms)."""
        self._check_open()
        for segment in self._unflushed_segments:
            segment.flush()
        self._unflushed_segments.clear()
        self._segments[-1].flush()
        if self._directory_dirty:
            fsync_directory(self.directory)
            self._directory_dirty = False
        self._unflushed_messages = 0
        self._last_flush_ms = self._now_ms()

    def flush_if_due(self, now_ms: int | None = None) -> bool:
        """Flush if there are unflushed messages older than flush.ms; True if it did."""
        now = self._now_ms() if now_ms is None else now_ms
        if self._unflushed_messages and now - self._last_flush_ms >= self.config.flush_ms:
            self.flush()
            return True
        return False

    # ------------------------------------------------------------------ read

    def _locate_read(self, offset: int, max_offset: int | None) -> tuple[LogSegment, int, int] | None:
        """(segment, position of the first batch to return, offset cap) for a read, or None
        when there is nothing at or after `offset` below the cap."""
        self._check_open()
        end = self.log_end_offset
        if offset < self._log_start_offset or offset > end:
            raise OffsetOutOfRange(offset, self._log_start_offset, end)
        cap = end if max_offset is None else min(max_offset, end)
        if offset >= cap:
            return None
        segments = self._segments
        for i in range(self._segment_index(offset), len(segments)):
            found = segments[i].locate(offset)
            if found is not None:
                return segments[i], found[0], cap
        return None  # compaction left nothing at or after `offset`

    def read(self, offset: int, max_bytes: int, *, max_offset: int | None = None, min_one: bool = True) -> bytes:
        """Whole batches starting with the one that contains `offset`.

        At most `max_bytes`, except that with `min_one` the first batch is returned
        whole even if larger; no batch whose base offset is >= `max_offset` (the high
        watermark or last stable offset). Reads within one segment per call."""
        located = self._locate_read(offset, max_offset)
        if located is None:
            return b""
        segment, position, cap = located
        return segment.read(position, max_bytes, cap, min_one)

    def read_span(self, offset: int, max_bytes: int, *, max_offset: int | None = None,
                  min_one: bool = True) -> FileSpan | None:
        """Like read(), but describes the bytes as a file range to send with sendfile.

        None when there is nothing to read. Same batch selection rules as read()."""
        located = self._locate_read(offset, max_offset)
        if located is None:
            return None
        segment, position, cap = located
        size, last = segment.span(position, max_bytes, cap, min_one)
        if not size:
            return None
        return FileSpan(segment.open_for_sending(), position, size, last)

    def iter_headers(self, start_offset: int = 0) -> Iterator[BatchHeader]:
        """Headers of the batches from the one containing `start_offset` to the end.

        Meant for startup scans (producer state): it walks a snapshot of the segment
        list, so do not delete segments (retention, compaction) while iterating."""
        self._check_open()
        segments = self._segments[self._segment_index(start_offset):]
        for segment in segments:
            position = 0
            if segment.base_offset <= start_offset:
                found = segment.locate(start_offset)
                if found is None:
                    continue
                position = found[0]
            for _, header in segment.iter_headers(position):
                yield header

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with timestamp >= `timestamp`."""
        self._check_open()
        start = self._log_start_offset
        for segment in self._segments[self._segment_index(start):]:
            found = segment.find_timestamp(timestamp, start)
            if found is not None:
                return found
        return None

    def offset_of_max_timestamp(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the record with the largest timestamp (ListOffsets -3)."""
        self._check_open()
        best = None
        for segment in self._segments:
            if segment.max_timestamp >= 0 and (best is None or segment.max_timestamp > best.max_timestamp):
                best = segment
        return None if best is None else best.max_timestamp_record()

    # ------------------------------------------------------- deleting records

    def delete_records_before(self, offset: int) -> int:
        """DeleteRecords: move the log start offset up to `offset` (-1: the log end) and
        delete the segments wholly below it. Returns the new log start offset."""
        self._check_open()
        end = self.log_end_offset
        if offset == -1:
            offset = end
        if offset < 0 or offset > end:
            raise OffsetOutOfRange(offset, self._log_start_offset, end)
        if offset > self._log_start_offset:
            self._mark_changing()
            self._log_start_offset = offset
            write_int(self.directory / LOG_START_OFFSET_FILE, offset)
            self._delete_first_segments(self._count_below_log_start())
        return self._log_start_offset

    def apply_retention(self, now_ms: int | None = None) -> int:
        """Delete old segments by retention.ms and retention.bytes (policy "delete"), and
        any segment wholly below the log start offset. Returns how many went."""
        self._check_open()
        now = self._now_ms() if now_ms is None else now_ms
        config = self.config
        deleted = 0
        if config.delete and config.retention_ms >= 0:
            deleted += self._delete_first_segments(self._count_deletable(
                lambda seg: now - seg.largest_timestamp > config.retention_ms))
        if config.delete and config.retention_bytes >= 0:
            excess = self.size_bytes - config.retention_bytes

            def over_size(seg: LogSegment) -> bool:
                nonlocal excess
                if excess - seg.size < 0:
                    return False
                excess -= seg.size
                return True

            deleted += self._delete_first_segments(self._count_deletable(over_size))
        deleted += self._delete_first_segments(self._count_below_log_start())
        return deleted

    def _count_deletable(self, predicate: Callable[[LogSegment], bool]) -> int:
        """How many leading segments satisfy `predicate` (Kafka stops at the first that
        does not). The active segment counts only if it is not empty."""
        count = 0
        for i, segment in enumerate(self._segments):
            if i == len(self._segments) - 1 and segment.is_empty:
                break
            if not predicate(segment):
                break
            count += 1
        return count

    def _count_below_log_start(self) -> int:
        """Leading segments whose successor starts at or below the log start offset."""
        count = 0
        while count + 1 < len(self._segments) and self._bases[count + 1] <= self._log_start_offset:
            count += 1
        return count

    def _delete_first_segments(self, count: int) -> int:
        if count <= 0 or self._swap_pending:
            return 0  # a compaction swap names these segments: the next pass deletes them
        self._mark_changing()
        if count >= len(self._segments):
            # Everything goes: roll first so the log stays appendable at its end offset.
            self._roll()
            count = min(count, len(self._segments) - 1)
        doomed = self._segments[:count]
        del self._segments[:count]
        del self._bases[:count]
        for segment in doomed:
            segment.delete()
        self._unflushed_segments = [s for s in self._unflushed_segments if s not in doomed]
        self._log_start_offset = max(self._log_start_offset, self._bases[0])
        self._directory_dirty = True
        return count

    # ------------------------------------------------------------ compaction

    def _cleaner_state(self) -> CleanerCheckpoint:
        if self._cleaner_checkpoint is None:
            self._cleaner_checkpoint = CleanerCheckpoint.read(self.directory)
        return self._cleaner_checkpoint

    def clean_job(self, now_ms: int | None = None) -> CleanJob | None:
        """A compaction job if cleanup.policy has "compact" and enough is dirty."""
        self._check_open()
        now = self._now_ms() if now_ms is None else now_ms
        return cleaner.plan_clean(self, self._cleaner_state(), now)

    def apply_clean(self, result: CleanResult) -> bool:
        """Swap a job's cleaned segments in, if the segments it read are unchanged;
        otherwise discard its output. True if swapped. Every step inline; the broker runs
        the same steps with the fsyncs in a thread (see SwapPlan)."""
        plan = self.prepare_swap(result)
        if plan is None:
            return False
        try:
            plan.commit()
            swapped = self.install_swap(plan)
            if swapped:
                plan.make_durable()
            return swapped
        finally:
            self.swap_finished()

    def prepare_swap(self, result: CleanResult) -> cleaner.SwapPlan | None:
        """A plan to swap the job's output in, or None (output discarded) if the segments
        it read changed. Until swap_finished(), no segment of this log is deleted."""
        job = result.job
        if Path(job.directory) != self.directory:
            return None  # not ours: leave its files alone
        new_bases = [s.base_offset for s in result.segments]
        if (self._closed or result.aborted or self._swap_pending or not self._job_segments_unchanged(job)
                or not cleaner.cleaned_files_present(self.directory, new_bases)):
            # Retention, DeleteRecords or a reopen got there first; the next job will see
            # the new layout. (One job per partition at a time: the temp names are fixed.)
            if self.directory.exists():
                cleaner.discard_cleaned(self.directory, new_bases)
            return None
        self._mark_changing()
        self._swap_pending = True
        return cleaner.SwapPlan(job, new_bases)

    def install_swap(self, plan: cleaner.SwapPlan) -> bool:
        """After plan.commit(): the cleaned segments replace the old ones, files and
        memory. False if the log was closed meanwhile (its next open completes the swap)."""
        if self._closed:
            return False
        job = plan.job
        if not self._job_segments_unchanged(job):
            cleaner.abandon_swap(self.directory, plan.new_bases)
            return False
        count = len(plan.old_bases)
        old = self._segments[:count]
        for segment in old:
            segment.close()
        cleaner.rename_cleaned(self.directory, plan.old_bases, plan.new_bases)
        new = [self._open_segment(base, validate=False, active=False, context="after compaction")[0]
               for base in plan.new_bases]
        self._segments[:count] = new
        self._bases[:count] = plan.new_bases
        self._unflushed_segments = [s for s in self._unflushed_segments if s not in old]
        state = self._cleaner_state()
        state.record_pass(job.clean_upper_offset, job.now_ms, self.config.delete_retention_ms)
        plan.checkpoint = state
        return True

    def swap_finished(self) -> None:
        self._swap_pending = False

    def _job_segments_unchanged(self, job: CleanJob) -> bool:
        """The job's segments are still the leading, closed segments, byte for byte."""
        if len(job.segments) >= len(self._segments):
            return False
        for ref, segment in zip(job.segments, self._segments):
            if (ref.base_offset, ref.size, ref.inode) != (segment.base_offset, segment.size, segment.inode):
                return False
        return True

    # -------------------------------------------------------------- shutdown

    def close(self, sync: bool = True) -> bool:
        """fsync, release files and mark the shutdown clean (next open skips recovery).

        With sync=False nothing is fsynced and no marker written: the caller makes the
        files durable itself (one sync of the file system for thousands of logs), then
        calls write_clean_marker(). Returns whether that is needed (False for a log left
        unchanged since a clean shutdown, whose marker is still there)."""
        if self._closed:
            return False
        self._segments[-1].seal()
        unchanged = self._marked_clean
        if not unchanged and sync:
            self.flush()
        for segment in self._segments:
            segment.close()
        self._closed = True
        if not unchanged and sync:
            self.write_clean_marker()
        return not unchanged

    def write_clean_marker(self, fsync: bool = True) -> None:
        """The clean-shutdown marker, once everything else is durable."""
        (self.directory / CLEAN_SHUTDOWN_FILE).touch()
        if fsync:
            fsync_directory(self.directory)
        self._marked_clean = True

    def delete(self) -> None:
        """Close without ceremony and remove the partition directory."""
        if not self._closed:
            for segment in self._segments:
                segment.delete()
            self._closed = True
        shutil.rmtree(self.directory, ignore_errors=True)

    def __repr__(self) -> str:
        return (f"Log({self.directory}, start={self._log_start_offset}, end={self.log_end_offset}, "
                f"segments={len(self._segments)})")

