"""One log segment: `<20-digit base offset>.log` plus its `.index` and `.timeindex`.

Batches are opaque bytes here. Appends go through an O_APPEND fd with os.write, so the
bytes sit in the page cache before append() returns and survive a kill -9; fsync only
happens on flush(). Reads use os.pread on the same fd (no shared file position).
Only the 61-byte headers are parsed, except where a caller asks about individual
records (timestamp lookups), which decode the one batch concerned.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import crc32c

from ..records import (
    CRC_COVERED_FROM,
    HEADER_SIZE,
    LOG_OVERHEAD,
    TIMESTAMP_TYPE_BIT,
    BatchHeader,
    InvalidBatch,
    batch_size_at,
    check_batch,
    decode_records,
    iter_batches,
    parse_header,
)
from .files import FileHandle
from .index import CorruptIndex, OffsetIndex, TimeIndex

log = logging.getLogger("schemabus.storage")

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIMEINDEX_SUFFIX = ".timeindex"
SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIMEINDEX_SUFFIX)

INT32_MAX = 2**31 - 1
NO_TIMESTAMP = -1

# pread sizes. Locating a batch scans at most ~index.interval.bytes past an index entry,
# so a small read usually suffices; whole-segment scans read bigger chunks.
LOCATE_CHUNK = 16 * 1024
HEADER_SCAN_CHUNK = 256 * 1024
BATCH_SCAN_CHUNK = 1024 * 1024
# Header walks for sendfile spans: small reads, since the batch bodies are not needed.
SPAN_CHUNK = 4096

# The header fields check_batch looks at: baseOffset, length, partitionLeaderEpoch, magic,
# crc, attributes, lastOffsetDelta, (30 bytes skipped) recordCount.
_CHECKED_FIELDS = struct.Struct(">qiibIhi30xi")


def segment_file_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


def parse_segment_file_name(name: str, suffix: str = LOG_SUFFIX) -> int | None:
    """Base offset of `<20 digits><suffix>`, else None."""
    stem = name[: -len(suffix)] if name.endswith(suffix) else ""
    if len(stem) == 20 and stem.isdigit():
        return int(stem)
    return None


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def iter_headers_in_file(fd: int, start: int, end: int, chunk: int = HEADER_SCAN_CHUNK) -> Iterator[tuple[int, BatchHeader]]:
    """(position, header) of each batch in [start, end) whose length field fits in the range.

    Stops silently at the first batch that is cut off or has an impossible length:
    callers that care (recovery) compare the last position reached with `end`."""
    buf = b""
    buf_start = start
    pos = start
    while end - pos >= HEADER_SIZE:
        off = pos - buf_start
        if off + HEADER_SIZE > len(buf):
            buf = os.pread(fd, min(chunk, end - pos), pos)
            buf_start, off = pos, 0
            if len(buf) < HEADER_SIZE:
                return
        header = parse_header(buf, off)
        if header.length < HEADER_SIZE - LOG_OVERHEAD or pos + header.size > end:
            return
        yield pos, header
        pos += header.size


def iter_batches_in_file(fd: int, start: int, end: int, chunk: int = BATCH_SCAN_CHUNK) -> Iterator[tuple[int, memoryview]]:
    """(position, bytes) of each whole batch in [start, end), read in big chunks.

    Same stopping rule as iter_headers_in_file; the bytes are not CRC-checked here."""
    buf = b""
    buf_start = start
    pos = start
    while end - pos >= HEADER_SIZE:
        off = pos - buf_start
        if off + HEADER_SIZE > len(buf):
            buf = os.pread(fd, min(chunk, end - pos), pos)
            buf_start, off = pos, 0
            if len(buf) < HEADER_SIZE:
                return
        size = batch_size_at(buf, off)
        if size < HEADER_SIZE or pos + size > end:
            return
        if off + size > len(buf):
            buf = os.pread(fd, min(max(chunk, size), end - pos), pos)
            buf_start, off = pos, 0
            if len(buf) < size:
                return
        yield pos, memoryview(buf)[off : off + size]
        pos += size


def describe_broken_batch(fd: int, position: int, end: int) -> str:
    """Why no whole batch starts at `position` of a file that ends at `end` (the place
    where iter_headers_in_file / iter_batches_in_file stopped short of `end`)."""
    remaining = end - position
    if remaining < HEADER_SIZE:
        return f"{remaining} trailing bytes, too few for a batch header (a torn write)"
    head = os.pread(fd, LOG_OVERHEAD, position)
    if len(head) < LOG_OVERHEAD:
        return "the file is shorter than it was a moment ago (it is being truncated)"
    size = batch_size_at(head, 0)
    if size < HEADER_SIZE:
        return f"impossible batch length {size - LOG_OVERHEAD}"
    return f"a batch of {size} bytes runs past the end of the file ({remaining} bytes left: a torn write)"


def first_invalid_batch(fd: int, start: int, end: int, next_offset: int,
                        chunk: int = BATCH_SCAN_CHUNK) -> tuple[int, str] | None:
    """Check every batch in [start, end) as records.check_batch does (sizes, magic, counts,
    CRC) and that offsets never go back below `next_offset`: (position, what is wrong) of
    the first bad batch, or of bytes that are no whole batch; None if all are good.

    A lean loop (about 0.5 us a batch plus the CRC) for start-up; check_batch itself only
    runs on a batch that fails, to say why."""
    unpack = _CHECKED_FIELDS.unpack_from
    crc = crc32c.crc32c
    pos = start
    while end - pos >= HEADER_SIZE:
        buf = os.pread(fd, min(chunk, end - pos), pos)
        if len(buf) >= LOG_OVERHEAD and len(buf) < batch_size_at(buf, 0) <= end - pos:
            buf = os.pread(fd, batch_size_at(buf, 0), pos)  # one batch bigger than a chunk
        view = memoryview(buf)
        n = len(view)
        off = 0
        while n - off >= HEADER_SIZE:
            base, length, _, magic, stored, _, delta, count = unpack(view, off)
            size = length + LOG_OVERHEAD
            if size < HEADER_SIZE or pos + off + size > end:
                return pos + off, describe_broken_batch(fd, pos + off, end)
            if off + size > n:
                break  # continues in the next chunk
            if magic != 2 or delta < 0 or count < 0 or crc(view[off + CRC_COVERED_FROM: off + size]) != stored:
                try:
                    check_batch(view[off: off + size])
                except InvalidBatch as exc:
                    return pos + off, str(exc)
            if base < next_offset:
                return pos + off, f"batch offset {base} does not follow offset {next_offset - 1}"
            next_offset = base + delta + 1
            off += size
        if off == 0:
            return pos, "the file changed while it was being read"
        pos += off
    if pos != end:
        return pos, describe_broken_batch(fd, pos, end)
    return None


@dataclass(frozen=True)
class Truncation:
    """What recovery cut off the end of a segment file, and why."""

    position: int  # where the file now ends (the start of the first bad batch)
    offset: int  # the segment's next offset after the cut: the first offset lost
    dropped: int  # bytes removed
    reason: str  # what was wrong with the batch at `position`


def record_timestamps(batch, header: BatchHeader) -> Iterator[tuple[int, int]]:
    """(offset, timestamp) of each record; LogAppendTime batches stamp every record
    with the batch's maxTimestamp (the per-record deltas still hold the create times)."""
    log_append_time = header.attributes & TIMESTAMP_TYPE_BIT
    for record in decode_records(batch):
        yield record.offset, header.max_timestamp if log_append_time else record.timestamp


class LogSegment:
    """A segment's files and the in-memory facts derived from them.

    Create with LogSegment.create (new, empty) or LogSegment.open followed by load()."""

    def __init__(
        self,
        directory: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        segment_index_bytes: int,
        created_ms: int,
        file_suffix: str = "",
    ):
        self.directory = Path(directory)
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        # `file_suffix` names the compaction output ("<base>.log.cleaned") before the swap.
        self.log_path = self.directory / (segment_file_name(base_offset, LOG_SUFFIX) + file_suffix)
        self.offset_index = OffsetIndex(
            self.directory / (segment_file_name(base_offset, INDEX_SUFFIX) + file_suffix),
            base_offset, segment_index_bytes // OffsetIndex.ENTRY.size)
        self.time_index = TimeIndex(
            self.directory / (segment_file_name(base_offset, TIMEINDEX_SUFFIX) + file_suffix),
            base_offset, segment_index_bytes // TimeIndex.ENTRY.size)
        self.created_ms = created_ms
        # Opened on demand and closed again when too many files are open (files.py).
        self._file: FileHandle | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._size = 0
        self._next_offset = self.base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = self.base_offset
        self._first_batch_timestamp: int | None = None
        self._bytes_since_index_entry = 0

    @classmethod
    def create(cls, directory: Path, base_offset: int, **kwargs) -> "LogSegment":
        """A new empty segment. Existing files of that name are truncated: segments are
        only created at offsets no file can hold data for (the log end, or temp names)."""
        seg = cls(directory, base_offset, **kwargs)
        seg._file = FileHandle.open(seg.log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC)
        seg.offset_index.reset()
        seg.time_index.reset()
        return seg

    @classmethod
    def open(cls, directory: Path, base_offset: int, **kwargs) -> "LogSegment":
        """An existing segment; call load() next."""
        seg = cls(directory, base_offset, **kwargs)
        seg._file = FileHandle.open(seg.log_path, os.O_RDWR | os.O_APPEND)
        return seg

    @property
    def _fd(self) -> int:
        """The log file's descriptor, reopened if the cache closed it. Valid until the next
        call that may open another file: a walk that does so holds `self._file.pinned()`."""
        return self._file.fileno()

    # ------------------------------------------------------------------ state

    @property
    def size(self) -> int:
        return self._size

    @property
    def next_offset(self) -> int:
        """One past the last offset of the last batch (base offset if empty)."""
        return self._next_offset

    @property
    def is_empty(self) -> bool:
        return self._size == 0

    @property
    def inode(self) -> int:
        return os.fstat(self._fd).st_ino

    @property
    def rolling_base_ms(self) -> int:
        """Start of the segment.ms clock. Kafka's rule is the first batch's timestamp; we
        also never count from before the segment was created (or opened by this process),
        so a producer sending old timestamps cannot force a roll per batch, at the price
        of a restart restarting the clock."""
        first = self._first_batch_timestamp
        if first is None or first < 0:
            return self.created_ms
        return max(first, self.created_ms)

    @property
    def largest_timestamp(self) -> int:
        """Retention's notion of a segment's age (Kafka: max timestamp, else mtime)."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return os.fstat(self._fd).st_mtime_ns // 1_000_000

    def relative_offset_fits(self, offset: int) -> bool:
        return 0 <= offset - self.base_offset <= INT32_MAX

    @property
    def indexes_full(self) -> bool:
        return self.offset_index.is_full or self.time_index.is_full

    def set_index_limits(self, index_interval_bytes: int, segment_index_bytes: int) -> None:
        self.index_interval_bytes = index_interval_bytes
        self.offset_index.max_entries = max(1, segment_index_bytes // OffsetIndex.ENTRY.size)
        self.time_index.max_entries = max(1, segment_index_bytes // TimeIndex.ENTRY.size)

    # ----------------------------------------------------------------- append

    def append(self, batch, base_offset: int, last_offset_delta: int, max_timestamp: int) -> None:
        """Write one batch (its header already carries `base_offset`) at the end."""
        position = self._size
        try:
            _write_all(self._fd, batch)
        except BaseException:
            # A short write (ENOSPC...) must not leave a torn batch that later appends
            # would follow: cut the file back to the last whole batch.
            os.ftruncate(self._fd, position)
            raise
        self._track_batch(position, len(batch), base_offset, last_offset_delta, max_timestamp)

    def _track_batch(self, position: int, size: int, base_offset: int, last_offset_delta: int, max_timestamp: int) -> None:
        """Advance the in-memory state and the sparse indexes past one batch."""
        add_index_entry = self._bytes_since_index_entry >= self.index_interval_bytes
        if add_index_entry:
            self.offset_index.append(base_offset, position)
            self._bytes_since_index_entry = 0
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = base_offset
        if add_index_entry:
            # Kafka's order: the time entry includes the batch just indexed, so every batch
            # up to an offset-index entry is covered by the time index (load relies on it).
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
        if self._first_batch_timestamp is None:
            self._first_batch_timestamp = max_timestamp
        self._bytes_since_index_entry += size
        self._next_offset = base_offset + last_offset_delta + 1
        self._size = position + size

    # ------------------------------------------------------------------- load

    def load(self, *, validate: bool, check_tail_bytes: int = 0) -> Truncation | None:
        """Bring in-memory state in line with the files; says what was truncated, if anything.

        validate=True checks every batch's CRC (after an unclean shutdown). Otherwise the
        indexes are trusted after a sanity check and only the tail after the last index
        entry is scanned; a missing or implausible index, or a tail that does not end
        exactly at the file's end, falls back to the full validating recovery. With
        `check_tail_bytes` (the active segment after a clean shutdown) the batches in the
        last `check_tail_bytes` of the file, and always the last batch, are CRC-checked as
        well; a bad one also means the full recovery, which cuts at the first bad batch."""
        with self._file.pinned():
            return self._load(validate, check_tail_bytes)

    def _load(self, validate: bool, check_tail_bytes: int) -> Truncation | None:
        if not validate:
            try:
                if self._load_indexes() and self._load_tail():
                    if not check_tail_bytes:
                        return None
                    problem = self._check_tail(check_tail_bytes)
                    if problem is None:
                        return None
                    log.info("%s: %s: %s; recovering the segment", self.directory.name, self.log_path.name, problem)
            except CorruptIndex as exc:
                log.info("%s: rebuilding indexes (%s)", self.directory.name, exc)
        return self.recover()

    def _load_indexes(self) -> bool:
        loaded = [self.offset_index.load(), self.time_index.load()]  # load both, then judge
        if not all(loaded):
            return False
        file_size = os.fstat(self._fd).st_size
        last = self.offset_index.last_entry()
        if last is not None:
            offset, position = last
            head = os.pread(self._fd, HEADER_SIZE, position) if position + HEADER_SIZE <= file_size else b""
            if len(head) < HEADER_SIZE or parse_header(head).base_offset != offset:
                raise CorruptIndex(f"{self.offset_index.path.name}: last entry does not point at its batch")
        return True

    def _load_tail(self) -> bool:
        """Scan headers after the last offset-index entry; False if the chain of batch
        lengths does not end exactly at the end of the file (a torn write)."""
        file_size = os.fstat(self._fd).st_size
        full_scan = self.offset_index.is_full or self.time_index.is_full
        last = None if full_scan else self.offset_index.last_entry()
        start = 0 if last is None else last[1]
        last_time = None if full_scan else self.time_index.last_entry()
        if last_time is not None:
            self.max_timestamp, self.offset_of_max_timestamp = last_time
        end = start
        next_offset = self.base_offset if start == 0 else last[0]
        for pos, header in iter_headers_in_file(self._fd, start, file_size):
            if header.base_offset < next_offset or not self.relative_offset_fits(header.last_offset):
                break
            if header.max_timestamp > self.max_timestamp:
                self.max_timestamp, self.offset_of_max_timestamp = header.max_timestamp, header.base_offset
            next_offset = header.next_offset
            end = pos + header.size
        if end != file_size or (last_time is not None and last_time[1] >= next_offset):
            self._reset_state()
            return False
        self._size = file_size
        self._next_offset = next_offset
        self._bytes_since_index_entry = file_size - start
        self._first_batch_timestamp = NO_TIMESTAMP if file_size else None  # unknown: clock from open
        return True

    def _check_tail(self, min_bytes: int) -> str | None:
        """CRC-check whole batches from the offset-index entry at or before the last
        `min_bytes` of the file (so the last batch is always covered) to its end, after
        _load_tail has set the in-memory state. What is wrong, or None if all is well."""
        entry = self.offset_index.lookup_position(max(0, self._size - min_bytes))
        if entry is None:
            start, next_offset = 0, self.base_offset
        else:
            (next_offset, start) = entry
            head = os.pread(self._fd, HEADER_SIZE, start)
            if len(head) < HEADER_SIZE or parse_header(head).base_offset != next_offset:
                return f"{self.offset_index.path.name}: the entry for offset {next_offset} does not point at its batch"
        problem = first_invalid_batch(self._fd, start, self._size, next_offset)
        return None if problem is None else "position %d: %s" % problem

    def recover(self) -> Truncation | None:
        """Validate every batch, rebuild both indexes, cut the file at the first bad batch."""
        with self._file.pinned():  # rebuilding the indexes opens their files meanwhile
            return self._recover()

    def _recover(self) -> Truncation | None:
        self.offset_index.reset()
        self.time_index.reset()
        self._reset_state()
        file_size = os.fstat(self._fd).st_size
        reason = None
        for pos, batch in iter_batches_in_file(self._fd, 0, file_size):
            try:
                header = check_batch(batch)
            except InvalidBatch as exc:
                reason = str(exc)
                break
            if header.base_offset < self._next_offset:
                reason = f"batch offset {header.base_offset} does not follow offset {self._next_offset - 1}"
                break
            if not self.relative_offset_fits(header.last_offset):
                reason = f"batch offset {header.last_offset} is too far above the segment's base offset"
                break
            self._track_batch(pos, header.size, header.base_offset, header.last_offset_delta, header.max_timestamp)
        dropped = file_size - self._size
        if self._size:
            self._first_batch_timestamp = NO_TIMESTAMP
        if not dropped:
            return None
        if reason is None:
            reason = describe_broken_batch(self._fd, self._size, file_size)
        os.ftruncate(self._fd, self._size)
        return Truncation(self._size, self._next_offset, dropped, reason)

    # ------------------------------------------------------------------- read

    def iter_headers(self, position: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        return self._pinned_walk(iter_headers_in_file, position, self._size)

    def iter_batches(self, position: int = 0) -> Iterator[tuple[int, memoryview]]:
        return self._pinned_walk(iter_batches_in_file, position, self._size)

    def _pinned_walk(self, walk, position: int, end: int):
        """`walk` over [position, end) of the log file, which stays open meanwhile (the
        caller may open other files between items)."""
        with self._file.pinned() as fd:
            yield from walk(fd, position, end)

    def locate(self, offset: int) -> tuple[int, BatchHeader] | None:
        """The first batch whose last offset is >= `offset`: the batch containing it, or
        the next one if compaction left a gap there. None if the segment ends before."""
        if offset >= self._next_offset:
            return None
        _, start = self.offset_index.lookup(offset)
        for pos, header in iter_headers_in_file(self._fd, start, self._size, LOCATE_CHUNK):
            if header.last_offset >= offset:
                return pos, header
        return None

    def read(self, position: int, max_bytes: int, max_offset: int, min_one: bool) -> bytes:
        """Whole batches from `position`, at most `max_bytes` (or the first batch alone if
        it is bigger and `min_one`), none with base offset >= `max_offset`."""
        available = self._size - position
        if available < HEADER_SIZE:
            return b""
        data = os.pread(self._fd, min(available, max(max_bytes, HEADER_SIZE)), position)
        end = 0
        for pos, header in iter_batches(data):
            if header.base_offset >= max_offset or pos + header.size > max_bytes:
                break
            end = pos + header.size
        if end:
            return data if end == len(data) else data[:end]
        if not min_one:
            return b""
        first = parse_header(data)
        if first.base_offset >= max_offset:
            return b""
        if first.size <= len(data):
            return data[: first.size]
        return os.pread(self._fd, first.size, position)

    def span(self, position: int, max_bytes: int, max_offset: int, min_one: bool) -> tuple[int, int]:
        """(size, last offset) of the whole batches that read() would return from `position`,
        found from their headers alone (the data is sent with sendfile, never read here).

        The batches before the last indexed batch start within both limits are taken
        without reading their headers (one pread each, thousands per fetch of small batches);
        the last offset is then at most one below that batch's (gaps left by compaction)."""
        size, last = 0, -1
        start = position
        entry = self.offset_index.lookup_position(position + max_bytes)
        if entry is not None and entry[0] >= max_offset:
            entry = self.offset_index.lookup(max_offset - 1)
        if entry is not None and entry[1] > position:
            start = entry[1]
            size, last = start - position, entry[0] - 1
        for _, header in iter_headers_in_file(self._fd, start, self._size, SPAN_CHUNK):
            if header.base_offset >= max_offset:
                break
            if size + header.size > max_bytes:
                if size == 0 and min_one:
                    size, last = header.size, header.last_offset
                break
            size += header.size
            last = header.last_offset
        return size, last

    def open_for_sending(self):
        """A private file object on this segment, valid even if the segment is deleted or
        replaced by compaction while a response is still being sent."""
        return os.fdopen(os.dup(self._fd), "rb", buffering=0)

    def read_at(self, position: int, size: int) -> bytes:
        return os.pread(self._fd, size, position)

    def find_timestamp(self, timestamp: int, min_offset: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after `min_offset` whose timestamp
        is >= `timestamp`. Only batches whose max timestamp qualifies are decoded."""
        if self.max_timestamp < timestamp:
            return None
        found = self.locate(max(self.time_index.lookup(timestamp), min_offset))
        if found is None:
            return None
        for pos, header in iter_headers_in_file(self._fd, found[0], self._size, LOCATE_CHUNK):
            if header.max_timestamp < timestamp or header.last_offset < min_offset:
                continue
            batch = os.pread(self._fd, header.size, pos)
            for offset, ts in record_timestamps(batch, header):
                if offset >= min_offset and ts >= timestamp:
                    return offset, ts
        return None

    def max_timestamp_record(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record carrying the segment's max timestamp."""
        if self.max_timestamp < 0:
            return None
        found = self.locate(self.offset_of_max_timestamp)
        if found is None:
            return None
        pos, header = found
        batch = os.pread(self._fd, header.size, pos)
        for offset, ts in record_timestamps(batch, header):
            if ts == header.max_timestamp:
                return offset, ts
        return header.base_offset, header.max_timestamp

    # -------------------------------------------------------------- lifecycle

    def seal(self) -> None:
        """The segment stops being active: record its final max timestamp in the time
        index (so a reopen knows it without a scan) and release the index fds."""
        if self._size:
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
        self.offset_index.close()
        self.time_index.close()

    def flush(self) -> None:
        if self._file is not None:
            os.fsync(self._fd)  # reopened if evicted: fsync covers the file, whatever fd wrote
        self.offset_index.flush()
        self.time_index.flush()

    def close(self) -> None:
        self.seal()
        if self._file is not None:
            self._file.close()
            self._file = None

    def delete(self) -> None:
        self.offset_index.close()
        self.time_index.close()
        if self._file is not None:
            self._file.close()
            self._file = None
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"LogSegment({self.log_path.name}, size={self._size}, next_offset={self._next_offset})"
