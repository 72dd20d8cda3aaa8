"""Small durable files in a partition directory, replaced atomically.

A checkpoint is written to `<name>.tmp`, fsynced and renamed over the old one, then the
directory is fsynced: after a crash the file holds either the old or the new value,
never a torn mix. `.tmp` leftovers are removed when the log opens.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def fsync_directory(directory: Path) -> None:
    """Make creations, renames and deletions in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_file_system(path: Path) -> None:
    """Make everything written to the file system holding `path` durable (syncfs(2),
    else sync(2)): cheaper than an fsync per file when thousands of files changed."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc is None or _libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _load_libc():
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.syncfs.argtypes = [ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


_libc = _load_libc()


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """`mode` 0o600 for a file only the broker's user may read (credentials)."""
    tmp = path.with_name(path.name + TEMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        data = memoryview(text.encode())
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_directory(path.parent)


def read_text(path: Path) -> str | None:
    """The file's text, or None if it is missing or is not text at all (bit rot): callers
    treat both as "no checkpoint" and fall back to what is safe without one."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        logging.getLogger("schemabus.storage").warning("%s is not text; ignoring it", path)
        return None


def read_int(path: Path) -> int | None:
    """The integer in `path`, or None if the file is missing or unreadable."""
    text = read_text(path)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def write_int(path: Path, value: int) -> None:
    write_atomically(path, f"{value}\n")
