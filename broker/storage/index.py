"""Sparse offset and time indexes of one log segment (Kafka's .index / .timeindex).

Both files hold fixed-size big-endian entries, appended as the log grows (one entry per
`index.interval.bytes` of log), and are mirrored in `array`s so lookups are a C-level
bisect. The files are not preallocated: their length is always exactly the entries
written, so a reopen needs no "real size" bookkeeping; a trailing partial entry (a crash
mid-write) makes the file fail the sanity check and the segment rebuilds it.

Entries carry offsets relative to the segment's base offset, which is why a segment
rolls before a relative offset would overflow int32.
"""

from __future__ import annotations

import os
import struct
from array import array
from bisect import bisect_left, bisect_right
from pathlib import Path

from .files import FileHandle


class CorruptIndex(Exception):
    """The index file cannot be trusted; the segment rebuilds it from the log."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _IndexFile:
    """The file half of an index: an O_APPEND file, opened lazily (through the bounded
    cache of open files, files.py) and closed on seal."""

    ENTRY: struct.Struct

    def __init__(self, path: Path, base_offset: int, max_entries: int):
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_entries)
        self._file: FileHandle | None = None

    def _open_fd(self) -> int:
        if self._file is None:
            self._file = FileHandle(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        return self._file.fileno()

    def _read_file(self) -> bytes | None:
        """The file's bytes, or None if it does not exist."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) % self.ENTRY.size:
            raise CorruptIndex(f"{self.path.name}: size {len(data)} is not a multiple of {self.ENTRY.size}")
        return data

    def _write_entry(self, *values: int) -> None:
        _write_all(self._open_fd(), self.ENTRY.pack(*values))

    def _truncate_file(self) -> None:
        os.ftruncate(self._open_fd(), 0)

    def flush(self) -> None:
        if self._file is not None and self._file.is_open:
            os.fsync(self._file.fileno())
        elif self.path.exists():  # sealed or evicted: the data may still be unsynced
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        """Release the fd; the in-memory entries stay usable for lookups."""
        if self._file is not None:
            self._file.close()
            self._file = None


class OffsetIndex(_IndexFile):
    """Entries (relative offset i32, file position i32) of batch starts, ascending."""

    ENTRY = struct.Struct(">ii")

    def __init__(self, path: Path, base_offset: int, max_entries: int):
        super().__init__(path, base_offset, max_entries)
        self._offsets = array("i")
        self._positions = array("i")

    def load(self) -> bool:
        """Read the file; False if it is missing (then it must be rebuilt)."""
        data = self._read_file()
        if data is None:
            return False
        flat = array("i", data)
        if flat.itemsize != 4:
            raise RuntimeError("array('i') must be 4 bytes")
        if struct.pack("=i", 1) != struct.pack(">i", 1):
            flat.byteswap()
        offsets, positions = flat[0::2], flat[1::2]
        # Sorting an already-sorted array is a linear C pass: a cheap guard against garbage.
        if (offsets and offsets[0] < 0) or list(offsets) != sorted(offsets) or list(positions) != sorted(positions):
            raise CorruptIndex(f"{self.path.name}: entries are not ascending")
        self._offsets, self._positions = offsets, positions
        return True

    def reset(self) -> None:
        self._truncate_file()
        self._offsets = array("i")
        self._positions = array("i")

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def is_full(self) -> bool:
        return len(self._offsets) >= self.max_entries

    def last_entry(self) -> tuple[int, int] | None:
        if not self._offsets:
            return None
        return self.base_offset + self._offsets[-1], self._positions[-1]

    def append(self, offset: int, position: int) -> bool:
        """Add an entry; False (and nothing written) if the index is full or out of order."""
        rel = offset - self.base_offset
        if self.is_full or (self._offsets and rel <= self._offsets[-1]):
            return False
        self._write_entry(rel, position)
        self._offsets.append(rel)
        self._positions.append(position)
        return True

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry at or below `offset`; (base, 0) if none."""
        i = bisect_right(self._offsets, offset - self.base_offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.base_offset + self._offsets[i], self._positions[i]

    def lookup_position(self, position: int) -> tuple[int, int] | None:
        """(offset, position) of the last entry at or below file position `position`;
        None if there is none (the scan then starts at the segment's beginning)."""
        i = bisect_right(self._positions, position) - 1
        if i < 0:
            return None
        return self.base_offset + self._offsets[i], self._positions[i]


class TimeIndex(_IndexFile):
    """Entries (max timestamp so far i64, relative offset of the batch that set it i32).

    Timestamps strictly increase from entry to entry, so every batch at or before an
    entry's offset has a max timestamp <= that entry's timestamp. lookup(ts) uses that:
    the last entry with timestamp < ts marks a point before which no batch can hold a
    record >= ts, so a forward scan for ts may start there.
    """

    ENTRY = struct.Struct(">qi")

    def __init__(self, path: Path, base_offset: int, max_entries: int):
        super().__init__(path, base_offset, max_entries)
        self._timestamps = array("q")
        self._offsets = array("i")

    def load(self) -> bool:
        data = self._read_file()
        if data is None:
            return False
        flat = struct.unpack(">" + "qi" * (len(data) // self.ENTRY.size), data)  # one C-level pass
        timestamps, offsets = array("q", flat[0::2]), array("i", flat[1::2])
        if (offsets and offsets[0] < 0) or list(offsets) != sorted(offsets) or list(timestamps) != sorted(timestamps):
            raise CorruptIndex(f"{self.path.name}: entries are not ascending")
        self._timestamps, self._offsets = timestamps, offsets
        return True

    def reset(self) -> None:
        self._truncate_file()
        self._timestamps = array("q")
        self._offsets = array("i")

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def is_full(self) -> bool:
        return len(self._offsets) >= self.max_entries

    def last_entry(self) -> tuple[int, int] | None:
        """(timestamp, offset) of the last entry, or None."""
        if not self._offsets:
            return None
        return self._timestamps[-1], self.base_offset + self._offsets[-1]

    def maybe_append(self, timestamp: int, offset: int) -> bool:
        """Add (timestamp, offset) if timestamp is a new maximum and there is room."""
        if self.is_full or (self._timestamps and timestamp <= self._timestamps[-1]):
            return False
        self._write_entry(timestamp, offset - self.base_offset)
        self._timestamps.append(timestamp)
        self._offsets.append(offset - self.base_offset)
        return True

    def lookup(self, timestamp: int) -> int:
        """Offset from which a scan for the first record with timestamp >= `timestamp`
        may start: the last entry whose timestamp is below it, else the base offset."""
        i = bisect_left(self._timestamps, timestamp) - 1
        if i < 0:
            return self.base_offset
        return self.base_offset + self._offsets[i]
