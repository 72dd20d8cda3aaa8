"""A bounded set of open segment and index files.

Kafka keeps a descriptor per segment; 50,000 partitions would then need more descriptors
than a process usually may hold (and every client socket needs one too). So segment and
index files are reached through a FileHandle, which opens its file on first use and may be
closed again by the process-wide OpenFiles cache when more than `limit` are open, least
recently used first. The next use reopens the file by path.

That is safe because the broker is the only writer of its partition directories and never
replaces a file while a segment object refers to it (compaction closes the old segments
before the swap renames files over them, and a deleted segment is never used again).
Appends keep going through an O_APPEND descriptor with one write per batch; an fsync on a
reopened descriptor flushes what was written through the closed one (fsync is per file).
fetch's sendfile uses a dup of the descriptor, which stays valid when the handle is closed.

A descriptor must not be closed while a caller walks the file with it (a header scan that
appends index entries as it goes may open other files meanwhile): such walks pin the
handle, and pinned handles are never evicted. Everything runs on the broker's event-loop
thread (or in a process of its own, like the cleaner worker), so there is no locking.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger("schemabus.storage")

# Share of the descriptor limit (RLIMIT_NOFILE) that log files may hold by default; the
# rest stays for client sockets, sendfile dups, checkpoints and the like.
DEFAULT_SHARE = 0.5
MIN_LIMIT = 8


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit, as far as allowed; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def default_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(MIN_LIMIT, int(soft * DEFAULT_SHARE))


class FileClosed(OSError):
    """A handle was used after close() (its segment was deleted or closed)."""


class OpenFiles:
    """The LRU cache of open handles. `limit` is a target: pinned handles may exceed it."""

    def __init__(self, limit: int | None = None):
        self.limit = max(MIN_LIMIT, limit if limit is not None else default_limit())
        self._lru: OrderedDict[FileHandle, None] = OrderedDict()
        self.opened = 0  # files opened since start (first opens and reopens)
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._lru)

    def set_limit(self, limit: int) -> None:
        self.limit = max(MIN_LIMIT, limit)
        self._shrink(self.limit)

    def _open(self, handle: "FileHandle") -> int:
        self._shrink(self.limit - 1)
        try:
            fd = os.open(handle.path, handle.flags, 0o644)
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            # Out of descriptors anyway (sockets, dups): give back half of ours and retry.
            log.warning("out of file descriptors with %d log files open; closing half of them", len(self._lru))
            self._shrink(len(self._lru) // 2)
            fd = os.open(handle.path, handle.flags, 0o644)
        self.opened += 1
        self._adopt(handle, fd)
        return fd

    def _adopt(self, handle: "FileHandle", fd: int) -> None:
        handle._fd = fd
        self._lru[handle] = None

    def _shrink(self, target: int) -> None:
        """Close least recently used, unpinned handles until at most `target` stay open."""
        excess = len(self._lru) - max(target, 0)
        if excess <= 0:
            return
        victims = []
        for handle in self._lru:
            if not handle._pins:
                victims.append(handle)
                if len(victims) == excess:
                    break
        for handle in victims:
            self.evicted += 1
            handle._release()

    def _forget(self, handle: "FileHandle") -> None:
        self._lru.pop(handle, None)


_default = OpenFiles()


def open_files() -> OpenFiles:
    """The process-wide cache (the broker sets its limit from its config at start)."""
    return _default


class FileHandle:
    """One file, opened on demand through an OpenFiles cache."""

    __slots__ = ("path", "flags", "_fd", "_pins", "_files", "_closed", "__weakref__")

    def __init__(self, path: Path, flags: int, fd: int | None = None, files: OpenFiles | None = None):
        self.path = path
        self.flags = flags & ~(os.O_TRUNC | os.O_EXCL)  # reopening must never lose data
        self._fd: int | None = None
        self._pins = 0
        self._files = _default if files is None else files
        self._closed = False
        if fd is not None:
            self._files._shrink(self._files.limit - 1)
            self._files._adopt(self, fd)

    @classmethod
    def open(cls, path: Path, flags: int, files: OpenFiles | None = None) -> "FileHandle":
        """Open now with `flags` (e.g. O_CREAT | O_TRUNC); reopens use them without O_TRUNC."""
        handle = cls(path, flags, files=files)
        files = handle._files
        files._shrink(files.limit - 1)
        fd = os.open(path, flags, 0o644)
        files.opened += 1
        files._adopt(handle, fd)
        return handle

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int:
        """An open descriptor, valid until the next call that may open another file."""
        fd = self._fd
        if fd is not None:
            self._files._lru.move_to_end(self)
            return fd
        if self._closed:
            raise FileClosed(errno.EBADF, "file handle is closed", str(self.path))
        return self._files._open(self)

    @contextmanager
    def pinned(self) -> Iterator[int]:
        """A descriptor that stays open for the duration of the block."""
        fd = self.fileno()
        self._pins += 1
        try:
            yield fd
        finally:
            self._pins -= 1

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        self._files._forget(self)
        if fd is not None:
            os.close(fd)

    def release(self) -> None:
        """Close the descriptor now; the next use reopens the file."""
        self._release()

    def close(self) -> None:
        """Close for good: later use raises FileClosed."""
        self._closed = True
        self._release()

    def __repr__(self) -> str:
        return f"FileHandle({self.path.name}, open={self.is_open})"
