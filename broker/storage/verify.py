"""Offline checks of a broker's data directory (`schemabus log verify`): read-only.

Every batch of every segment is read and checked as recovery checks it (sizes, magic, counts,
CRC-32C, offsets that never go back and stay within the segment), and the sparse indexes
are checked against the batches they point at: each `.index` entry must point at the start
of the batch with its offset, each `.timeindex` entry at a batch whose max timestamp it
holds. Unlike recovery it does not stop at the first bad batch: every problem is reported
with its file, position and offset.

Nothing is written, renamed or locked (files are opened O_RDONLY, and never through
LogSegment, whose open may repair), so it is safe next to a running broker: a segment is
read up to the size it had when opened, a last segment whose tail is still being written
is read again once it has grown, indexes are read before their log so that none of their
entries can point past what is read, and a segment that retention or compaction deletes
meanwhile is noted, not reported as damage.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..records import InvalidBatch, check_batch, decode_records, parse_header
from .log import CLEAN_SHUTDOWN_FILE, LOG_START_OFFSET_FILE, TEMP_FILE_SUFFIXES
from .segment import (
    INDEX_SUFFIX,
    INT32_MAX,
    LOG_SUFFIX,
    TIMEINDEX_SUFFIX,
    describe_broken_batch,
    iter_batches_in_file,
    parse_segment_file_name,
    segment_file_name,
)

PARTITION_DIR = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)$")
OFFSET_ENTRY = struct.Struct(">ii")
TIME_ENTRY = struct.Struct(">qi")
# How often a last segment that keeps growing (a broker appending to it) is re-read.
GROWTH_RETRIES = 3


@dataclass
class Problem:
    file: str
    position: int  # byte position in `file`
    offset: int | None  # the record offset concerned, when known
    message: str

    def __str__(self) -> str:
        where = f"{self.file} position {self.position}"
        if self.offset is not None:
            where += f" offset {self.offset}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "position": self.position, "offset": self.offset, "problem": self.message}


@dataclass
class PartitionReport:
    directory: Path
    topic: str
    partition: int
    clean_shutdown: bool
    log_start_offset: int | None = None
    segments: int = 0
    batches: int = 0
    records: int = 0
    bytes: int = 0
    first_offset: int | None = None  # base offset of the first batch
    last_offset: int | None = None  # last offset of the last batch
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, path: Path, position: int, offset: int | None, message: str) -> None:
        self.problems.append(Problem(str(path), position, offset, message))

    def as_dict(self) -> dict:
        return {
            "partition": self.name, "topic": self.topic, "index": self.partition, "directory": str(self.directory),
            "ok": self.ok, "clean_shutdown": self.clean_shutdown, "log_start_offset": self.log_start_offset,
            "segments": self.segments, "batches": self.batches, "records": self.records, "bytes": self.bytes,
            "first_offset": self.first_offset, "last_offset": self.last_offset,
            "problems": [p.as_dict() for p in self.problems], "notes": list(self.notes),
        }


class NoPartitions(Exception):
    """Nothing to verify: the directory or the asked-for topic/partition is not there."""


def partition_directories(data_dir: Path, topic: str | None = None, partition: int | None = None) -> list[Path]:
    """The partition directories (`<topic>-<n>`) of a broker data dir, sorted by topic and
    partition. A `schemabus up` data dir (the broker's is its `broker/`) is accepted too."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise NoPartitions(f"{data_dir} is not a directory")
    found = _partition_dirs(data_dir)
    if not found and (data_dir / "broker").is_dir():
        data_dir = data_dir / "broker"
        found = _partition_dirs(data_dir)
    if topic is not None:
        found = [(t, p, d) for t, p, d in found if t == topic and (partition is None or p == partition)]
        if not found:
            what = f"partition {partition} of topic {topic!r}" if partition is not None else f"topic {topic!r}"
            raise NoPartitions(f"no {what} in {data_dir}")
    elif not found:
        raise NoPartitions(f"no partition directories (<topic>-<partition>) in {data_dir}: is it a broker data dir?")
    return [d for _, _, d in sorted(found)]


def _partition_dirs(data_dir: Path) -> list[tuple[str, int, Path]]:
    out = []
    for entry in data_dir.iterdir():
        match = PARTITION_DIR.match(entry.name)
        if match and not entry.name.startswith(".") and entry.is_dir():
            out.append((match["topic"], int(match["partition"]), entry))
    return out


def verify_partition(directory: Path, *, deep: bool = False) -> PartitionReport:
    """Check every segment and index of one partition directory."""
    directory = Path(directory)
    match = PARTITION_DIR.match(directory.name)
    topic, index = (match["topic"], int(match["partition"])) if match else (directory.name, -1)
    report = PartitionReport(directory, topic, index, (directory / CLEAN_SHUTDOWN_FILE).exists())
    names = sorted(os.listdir(directory))
    bases = sorted(b for name in names if (b := parse_segment_file_name(name)) is not None)
    leftovers = [name for name in names if name.endswith(TEMP_FILE_SUFFIXES)]
    if leftovers:
        report.notes.append(f"leftovers of interrupted work (removed when the broker opens the log): "
                            f"{', '.join(leftovers)}")
    for suffix in (INDEX_SUFFIX, TIMEINDEX_SUFFIX):
        orphans = [name for name in names if (b := parse_segment_file_name(name, suffix)) is not None
                   and b not in bases]
        if orphans:
            report.notes.append(f"index files without a segment (removed when the broker opens the log): "
                                f"{', '.join(orphans)}")
    start_file = directory / LOG_START_OFFSET_FILE
    if start_file.exists():
        try:
            report.log_start_offset = int(start_file.read_text().strip())
        except (OSError, ValueError):
            report.problem(start_file, 0, None, "unreadable log start offset checkpoint")
    if not bases:
        report.notes.append("no segment files (the broker creates an empty one)")
    next_offset = None  # one past the previous segment's last offset
    for i, base in enumerate(bases):
        following = bases[i + 1] if i + 1 < len(bases) else None
        next_offset = _verify_segment(report, directory, base, following, next_offset, deep)
    if report.log_start_offset is None and bases:
        report.log_start_offset = bases[0]
    return report


def _verify_segment(report: PartitionReport, directory: Path, base: int, following: int | None,
                    previous_next: int | None, deep: bool) -> int | None:
    """Check one segment; returns one past its last offset (or what came in)."""
    path = directory / segment_file_name(base, LOG_SUFFIX)
    # Indexes first: every entry they hold then points at bytes already in the log file.
    offset_entries = _read_offset_index(report, directory / segment_file_name(base, INDEX_SUFFIX), base)
    time_entries = _read_time_index(report, directory / segment_file_name(base, TIMEINDEX_SUFFIX), base)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        report.notes.append(f"{path.name} was deleted while being checked (retention or compaction "
                            f"of a running broker)")
        return previous_next
    report.segments += 1
    if previous_next is not None and base < previous_next:
        report.problem(path, 0, base, f"the segment starts at offset {base}, but the previous segment "
                                      f"goes up to offset {previous_next - 1}")
    try:
        end = os.fstat(fd).st_size
        next_offset = base  # batches must not go below this
        position = 0
        oi = ti = 0
        retries = 0
        while True:
            for pos, batch in iter_batches_in_file(fd, position, end):
                header = parse_header(batch)
                position = pos + header.size
                report.batches += 1
                report.bytes += header.size
                oi = _check_offset_entries(report, offset_entries, oi, pos, header.base_offset)
                ti = _check_time_entries(report, time_entries, ti, header)
                try:
                    check_batch(batch)
                except InvalidBatch as exc:
                    report.problem(path, pos, header.base_offset, str(exc))
                    continue  # its other fields cannot be trusted either
                report.records += header.record_count
                problem = _batch_offset_problem(header, base, next_offset, following)
                if problem:
                    report.problem(path, pos, header.base_offset, problem)
                    continue
                if deep:
                    problem = _records_problem(batch, header)
                    if problem:
                        report.problem(path, pos, header.base_offset, problem)
                next_offset = header.next_offset
                if report.first_offset is None:
                    report.first_offset = header.base_offset
                report.last_offset = header.last_offset
            if position >= end:
                break
            if following is None and retries < GROWTH_RETRIES:
                grown = os.fstat(fd).st_size
                if grown > end:  # a broker is appending: read what it has finished since
                    end, retries = grown, retries + 1
                    continue
            report.problem(path, position, next_offset, describe_broken_batch(fd, position, end))
            break
        _leftover_entries(report, offset_entries, oi, time_entries, ti, position)
        return max(next_offset, previous_next or 0)
    finally:
        os.close(fd)


def _batch_offset_problem(header, base: int, next_offset: int, following: int | None) -> str | None:
    if header.base_offset < next_offset:
        if next_offset == base:
            return f"batch offset {header.base_offset} is below the segment's base offset {base}"
        return f"batch offset {header.base_offset} does not follow offset {next_offset - 1}"
    if header.last_offset - base > INT32_MAX:
        return f"last offset {header.last_offset} is too far above the segment's base offset {base}"
    if following is not None and header.last_offset >= following:
        return f"last offset {header.last_offset} reaches into the next segment (base offset {following})"
    if header.record_count > header.last_offset_delta + 1:
        return f"{header.record_count} records in a batch of {header.last_offset_delta + 1} offsets"
    return None


def _records_problem(batch, header) -> str | None:
    """Deep check: the records decode, and their offsets rise within the batch's range."""
    try:
        records = decode_records(batch)
    except InvalidBatch as exc:
        return f"records do not decode: {exc}"
    previous = header.base_offset - 1
    for record in records:
        if not previous < record.offset <= header.last_offset:
            return (f"record offset {record.offset} is out of order or outside the batch's "
                    f"offsets {header.base_offset}-{header.last_offset}")
        previous = record.offset
    return None


@dataclass
class _Entry:
    path: Path  # the index file
    file_position: int  # of the entry in that file
    offset: int  # absolute
    value: int  # log file position (.index) or timestamp (.timeindex)


def _read_entries(report: PartitionReport, path: Path, entry: struct.Struct) -> list[tuple] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        report.notes.append(f"{path.name} is missing (the broker rebuilds it on start)")
        return None
    whole = len(data) - len(data) % entry.size
    if whole != len(data):
        report.problem(path, whole, None, f"{len(data) - whole} trailing bytes, not a whole {entry.size}-byte "
                                          f"entry (a torn write; the broker rebuilds the index on start)")
    return list(entry.iter_unpack(data[:whole]))


def _read_offset_index(report: PartitionReport, path: Path, base: int) -> list[_Entry]:
    raw = _read_entries(report, path, OFFSET_ENTRY)
    entries: list[_Entry] = []
    for i, (relative, position) in enumerate(raw or ()):
        offset = base + relative
        if relative < 0 or position < 0 or entries and (offset <= entries[-1].offset
                                                        or position <= entries[-1].value):
            report.problem(path, i * OFFSET_ENTRY.size, offset,
                           f"entry {i} (offset {offset}, position {position}) is not above the one before")
            continue
        entries.append(_Entry(path, i * OFFSET_ENTRY.size, offset, position))
    return entries


def _read_time_index(report: PartitionReport, path: Path, base: int) -> list[_Entry]:
    raw = _read_entries(report, path, TIME_ENTRY)
    entries: list[_Entry] = []
    for i, (timestamp, relative) in enumerate(raw or ()):
        offset = base + relative
        if relative < 0 or entries and (offset < entries[-1].offset or timestamp <= entries[-1].value):
            report.problem(path, i * TIME_ENTRY.size, offset,
                           f"entry {i} (timestamp {timestamp}, offset {offset}) is not above the one before")
            continue
        entries.append(_Entry(path, i * TIME_ENTRY.size, offset, timestamp))
    return entries


def _check_offset_entries(report: PartitionReport, entries: list[_Entry], i: int, position: int,
                          base_offset: int) -> int:
    """Entries up to the batch at `position` point exactly at batch starts with their offset."""
    while i < len(entries) and entries[i].value <= position:
        entry = entries[i]
        if entry.value < position:
            report.problem(entry.path, entry.file_position, entry.offset,
                           f"entry points at position {entry.value}, inside a batch")
        elif entry.offset != base_offset:
            report.problem(entry.path, entry.file_position, entry.offset,
                           f"entry points at position {position}, where the batch of offset {base_offset} starts")
        i += 1
    return i


def _check_time_entries(report: PartitionReport, entries: list[_Entry], i: int, header) -> int:
    """Entries up to this batch name a batch's base offset and carry its max timestamp."""
    while i < len(entries) and entries[i].offset <= header.base_offset:
        entry = entries[i]
        if entry.offset < header.base_offset:
            report.problem(entry.path, entry.file_position, entry.offset,
                           "entry names an offset where no batch starts")
        elif entry.value != header.max_timestamp:
            report.problem(entry.path, entry.file_position, entry.offset,
                           f"entry says timestamp {entry.value}, the batch's max timestamp is {header.max_timestamp}")
        i += 1
    return i


def _leftover_entries(report: PartitionReport, offset_entries: list[_Entry], oi: int,
                      time_entries: list[_Entry], ti: int, end: int) -> None:
    for entry in offset_entries[oi:]:
        report.problem(entry.path, entry.file_position, entry.offset,
                       f"entry points at position {entry.value}, past the last whole batch (which ends at {end})")
    for entry in time_entries[ti:]:
        report.problem(entry.path, entry.file_position, entry.offset, "entry names an offset past the last whole batch")
