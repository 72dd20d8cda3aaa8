"""Opening a log after a crash: torn tails, lost or corrupt indexes, leftover files."""

from __future__ import annotations

import logging
import os

import pytest

from broker.records import Record, check_batch, decode_records, encode_batch, parse_header
from broker.storage import Log, LogConfig

CONFIG = LogConfig(segment_bytes=600, index_interval_bytes=100)


def make_batch(n: int = 3, ts: int = 1000) -> bytearray:
    return encode_batch([Record(i, ts + i, b"k%d" % i, b"value-%d" % i) for i in range(n)], base_offset=0)


def fill(directory, batches: int = 25) -> tuple[list[bytes], int]:
    """A log of `batches` 3-record batches, left WITHOUT a clean shutdown (like kill -9)."""
    log = Log(directory, CONFIG)
    for i in range(batches):
        log.append(make_batch(ts=1000 + 10 * i))
    reads = [log.read(o, 1) for o in range(log.log_end_offset)]
    count = log.segment_count
    # drop the fds without close(): no clean-shutdown marker, nothing fsynced
    for seg in log.segments:
        seg.close()
    return reads, count


def last_log_file(directory):
    return sorted(directory.glob("*.log"))[-1]


@pytest.fixture
def directory(tmp_path):
    return tmp_path / "orders-3"


def test_unclean_shutdown_with_intact_data_loses_nothing(directory, caplog):
    reads, count = fill(directory)
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, CONFIG)
    assert not caplog.records
    assert log.segment_count == count and log.log_end_offset == 75
    assert [log.read(o, 1) for o in range(75)] == reads
    log.close()


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "zeros"])
def test_torn_tail_is_truncated(directory, caplog, damage):
    reads, _ = fill(directory)
    path = last_log_file(directory)
    data = bytearray(path.read_bytes())
    last_pos = max(p for p, _ in _positions(data))
    if damage == "garbage":
        data += os.urandom(37)
        survivors = 75
    elif damage == "truncate":
        del data[last_pos + 30:]
        survivors = 72
    elif damage == "flip":
        data[last_pos + 70] ^= 0x40  # inside the CRC-covered records
        survivors = 72
    else:
        data += bytes(200)  # preallocated-looking zeros
        survivors = 75
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, CONFIG)
    assert log.log_end_offset == survivors
    assert [log.read(o, 1) for o in range(survivors)] == reads[:survivors]
    warning = caplog.records[-1]
    assert warning.levelno == logging.WARNING and warning.name == "schemabus.storage"
    assert str(directory) in warning.getMessage()
    assert f"offset {survivors}" in warning.getMessage()
    assert path.stat().st_size == last_pos + (0 if survivors == 72 else len(make_batch()))
    # appending continues right after the last good batch
    assert log.append(make_batch()) == survivors
    assert check_batch(log.read(survivors, 1)).base_offset == survivors
    log.close()


def _positions(data):
    pos = 0
    while pos < len(data):
        header = parse_header(data, pos)
        yield pos, header
        pos += header.size


def test_clean_shutdown_still_truncates_a_torn_tail(directory, caplog):
    log = Log(directory, CONFIG)
    for _ in range(10):
        log.append(make_batch())
    log.close()
    path = last_log_file(directory)
    with open(path, "ab") as f:
        f.write(b"\x00\x00\x00\x00\x00\x00\x00\x1e\x00\x00\x10\x00")  # a header claiming 4 KiB
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, CONFIG)
    assert log.log_end_offset == 30
    assert caplog.records and "dropped 12 bytes" in caplog.records[-1].getMessage()
    log.close()


@pytest.mark.parametrize("which", [".index", ".timeindex", "both"])
def test_missing_indexes_are_rebuilt(directory, which):
    reads, _ = fill(directory)
    log = Log(directory, CONFIG)
    expected = {s.base_offset: (list(s.offset_index._offsets), list(s.time_index._offsets)) for s in log.segments}
    log.close()
    for suffix in ([".index", ".timeindex"] if which == "both" else [which]):
        for path in directory.glob("*" + suffix):
            path.unlink()
    log = Log(directory, CONFIG)
    assert all((directory / f"{b:020d}.index").exists() for b in expected)
    got = {s.base_offset: (list(s.offset_index._offsets), list(s.time_index._offsets)) for s in log.segments}
    assert got == expected
    assert all(len(s.offset_index) > 0 for s in log.segments)
    assert [log.read(o, 1) for o in range(75)] == reads
    assert log.offset_for_timestamp(1000 + 10 * 7 + 1) == (21 + 1, 1071)
    log.close()


def test_corrupt_index_is_rebuilt(directory):
    reads, _ = fill(directory)
    Log(directory, CONFIG).close()
    first_index = sorted(directory.glob("*.index"))[0]
    first_index.write_bytes(b"\x00\x00\x00\x09\x00\x00\x00\x01" + b"\xff" * 3)  # wrong entry, partial entry
    log = Log(directory, CONFIG)
    assert [log.read(o, 1) for o in range(75)] == reads
    assert first_index.stat().st_size % 8 == 0
    log.close()


def test_index_pointing_past_a_shortened_log_is_rebuilt(directory):
    reads, _ = fill(directory)
    Log(directory, CONFIG).close()
    first_log = sorted(directory.glob("*.log"))[0]
    # A middle segment lost its tail (power loss): everything else must still work.
    data = first_log.read_bytes()
    first_log.write_bytes(data[: len(data) - 40])
    (directory / "clean-shutdown").unlink(missing_ok=True)
    log = Log(directory, CONFIG)
    first = log.segments[0]
    assert first.size < len(data) - 40 + 1
    assert log.log_end_offset == 75
    # the lost offsets are a gap now: reading there continues with the next segment
    second = log.segments[1].base_offset
    assert first.next_offset < second
    assert log.read(first.next_offset, 1) == reads[second]
    assert log.read(0, 1) == reads[0]
    log.close()


def test_leftover_temp_and_orphan_files_are_removed(directory):
    fill(directory, 5)
    for name in ("00000000000000000000.log.cleaned", "00000000000000000000.index.cleaned",
                 "00000000000000000009.log.swap", "log-start-offset.tmp", "00000000000000099999.index"):
        (directory / name).write_bytes(b"junk")
    log = Log(directory, CONFIG)
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["00000000000000000000.index", "00000000000000000000.log", "00000000000000000000.timeindex"]
    assert log.log_end_offset == 15
    log.close()


def test_crash_right_after_roll_and_empty_active_segment(directory):
    log = Log(directory, LogConfig(segment_bytes=1))
    log.append(make_batch())
    log.append(make_batch())
    log.roll()
    for seg in log.segments:
        seg.close()
    log = Log(directory, LogConfig(segment_bytes=1))
    assert log.log_end_offset == 6 and log.segment_count == 3
    assert log.append(make_batch()) == 6
    assert [r.offset for r in decode_records(log.read(6, 1))] == [6, 7, 8]
    log.close()


def test_all_garbage_last_segment_recovers_to_its_base(directory, caplog):
    fill(directory, 25)
    path = last_log_file(directory)
    base = int(path.name[:20])
    path.write_bytes(os.urandom(500))
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, CONFIG)
    assert log.log_end_offset == base
    assert "dropped 500 bytes" in caplog.records[-1].getMessage()
    assert log.append(make_batch()) == base
    log.close()
