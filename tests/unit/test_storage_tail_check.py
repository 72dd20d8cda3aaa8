"""Start-up after a CLEAN shutdown: the active segment's tail is CRC-checked all the same,
and a bad batch there is cut off (with everything after it), as recovery after a crash does."""

from __future__ import annotations

import logging
import os

import pytest

from broker.records import Record, check_batch, encode_batch, iter_batches, parse_header
from broker.storage import Log, LogConfig
from broker.storage.log import ACTIVE_TAIL_CHECK_BYTES
from broker.storage.segment import first_invalid_batch

CONFIG = LogConfig(segment_bytes=600, index_interval_bytes=100)


def make_batch(n: int = 3, ts: int = 1000, value_size: int = 7) -> bytearray:
    return encode_batch([Record(i, ts + i, b"k%d" % i, b"v" * value_size) for i in range(n)], base_offset=0)


def cleanly_closed_log(directory, batches: int = 25, config: LogConfig = CONFIG, **batch_args) -> list[bytes]:
    """A log of `batches` 3-record batches, closed cleanly; every batch as read back."""
    log = Log(directory, config)
    for i in range(batches):
        log.append(make_batch(ts=1000 + 10 * i, **batch_args))
    reads = [log.read(o, 1) for o in range(0, log.log_end_offset, 3)]
    log.close()
    assert (directory / "clean-shutdown").exists()
    return reads


def batch_positions(path) -> list[int]:
    return [pos for pos, _ in iter_batches(path.read_bytes())]


def active_segment(directory):
    return sorted(directory.glob("*.log"))[-1]


def damage(path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x40
    path.write_bytes(data)


@pytest.fixture
def directory(tmp_path):
    return tmp_path / "orders-0"


@pytest.mark.parametrize("where", ["record bytes", "attributes", "crc field", "last byte"])
def test_corrupt_last_batch_is_truncated_after_clean_shutdown(directory, caplog, where):
    reads = cleanly_closed_log(directory)
    path = active_segment(directory)
    last = batch_positions(path)[-1]
    size_before = path.stat().st_size
    offset = {"record bytes": last + 70, "attributes": last + 22, "crc field": last + 18,
              "last byte": size_before - 1}[where]
    damage(path, offset)
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, CONFIG)
    survivors = 72  # the 24 intact batches
    assert log.log_end_offset == survivors
    assert [log.read(o, 1) for o in range(0, survivors, 3)] == reads[:-1]
    assert path.stat().st_size == last
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = warning.getMessage()
    assert str(directory) in message and path.name in message
    assert f"position {last} (offset {survivors})" in message
    assert "after a clean shutdown" in message and "CRC mismatch" in message
    assert f"dropped {size_before - last} bytes" in message
    # The log goes on from the last good batch, and the next clean start is quiet.
    assert log.append(make_batch()) == survivors
    log.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, CONFIG)
    assert not caplog.records and log.log_end_offset == survivors + 3
    assert check_batch(log.read(survivors, 1)).base_offset == survivors
    log.close()


def test_first_bad_batch_in_the_tail_cuts_everything_after_it(directory, caplog):
    reads = cleanly_closed_log(directory, batches=8, config=LogConfig(index_interval_bytes=100))
    path = active_segment(directory)
    positions = batch_positions(path)
    size_before = path.stat().st_size
    damage(path, positions[5] + 65)
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, LogConfig(index_interval_bytes=100))
    assert log.log_end_offset == 15
    assert [log.read(o, 1) for o in range(0, 15, 3)] == reads[:5]
    assert f"position {positions[5]} (offset 15)" in caplog.text
    assert f"dropped {size_before - positions[5]} bytes" in caplog.text
    assert path.stat().st_size == positions[5]
    # the rebuilt indexes serve every surviving offset
    assert [check_batch(log.read(o, 1)).base_offset for o in range(15)] == [o - o % 3 for o in range(15)]
    log.close()


def test_offset_going_back_in_the_tail_is_truncated(directory, caplog):
    """baseOffset is outside the CRC: a batch whose offset goes back is caught by the offset check."""
    cleanly_closed_log(directory)
    path = active_segment(directory)
    last = batch_positions(path)[-1]
    data = bytearray(path.read_bytes())
    data[last:last + 8] = (0).to_bytes(8, "big")
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, CONFIG)
    assert log.log_end_offset == 72
    assert "does not follow offset" in caplog.text
    log.close()


def test_intact_log_opens_without_recovery(directory, caplog):
    cleanly_closed_log(directory)
    indexes = {p.name: p.read_bytes() for p in directory.glob("*index")}
    with caplog.at_level(logging.INFO, "schemabus.storage"):
        log = Log(directory, CONFIG)
    assert not caplog.records, caplog.text
    assert log.log_end_offset == 75
    assert {p.name: p.read_bytes() for p in directory.glob("*index")} == indexes
    log.close()


def test_sealed_segments_are_not_crc_checked_at_start(directory, caplog):
    """The bound: a bad batch in an older segment is served as it is (and found by
    `schemabus log verify`); only the active segment's tail is checked after a clean shutdown."""
    cleanly_closed_log(directory)
    first = sorted(directory.glob("*.log"))[0]
    damage(first, batch_positions(first)[1] + 70)
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, CONFIG)
    assert not caplog.records and log.log_end_offset == 75
    log.close()


def test_only_the_last_window_of_a_big_active_segment_is_checked(directory, caplog):
    """Damage within the last ACTIVE_TAIL_CHECK_BYTES is cut off; before that window it is
    left for `schemabus log verify` (the start-up cost stays a few ms per partition)."""
    config = LogConfig(index_interval_bytes=4096)
    value = 16 * 1024
    batches = (ACTIVE_TAIL_CHECK_BYTES * 2) // (3 * value) + 1
    cleanly_closed_log(directory, batches=batches, config=config, value_size=value)
    path = active_segment(directory)
    positions = batch_positions(path)
    size = path.stat().st_size
    early = next(i for i, p in enumerate(positions) if p > 1000)
    inside = next(i for i, p in enumerate(positions) if p > size - ACTIVE_TAIL_CHECK_BYTES // 2)
    damage(path, positions[early] + 100)  # well before the window: not looked at on start
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, config)
    assert not caplog.records and log.log_end_offset == 3 * batches
    log.close()
    damage(path, positions[inside] + 100)
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, config)
    # The window flagged the segment; recovery then cuts at the FIRST bad batch, the early one.
    assert log.log_end_offset == 3 * early
    assert f"dropped {size - positions[early]} bytes" in caplog.text
    log.close()


def test_a_last_batch_bigger_than_the_window_is_checked_whole(directory, caplog):
    config = LogConfig(index_interval_bytes=4096)
    log = Log(directory, config)
    for _ in range(3):
        log.append(make_batch(n=1, value_size=1000))
    log.append(make_batch(n=1, value_size=ACTIVE_TAIL_CHECK_BYTES + 1000))
    log.close()
    path = active_segment(directory)
    last = batch_positions(path)[-1]
    damage(path, last + 100)  # near its start: more than the window away from the file's end
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, config)
    assert log.log_end_offset == 3 and path.stat().st_size == last
    log.close()


def test_torn_tail_after_clean_shutdown_is_named_in_the_log(directory, caplog):
    cleanly_closed_log(directory)
    path = active_segment(directory)
    with open(path, "ab") as f:
        f.write(os.urandom(20))
    with caplog.at_level(logging.WARNING, "schemabus.storage"):
        log = Log(directory, CONFIG)
    assert log.log_end_offset == 75
    assert "20 trailing bytes" in caplog.text and "dropped 20 bytes" in caplog.text
    log.close()


# -- the lean checker itself, against check_batch, across read-chunk boundaries ---------------


def _segment_file(tmp_path, sizes):
    data = bytearray()
    next_offset = 0
    for n, value_size in sizes:
        batch = encode_batch([Record(next_offset + i, 1000, b"k", b"x" * value_size) for i in range(n)])
        data += batch
        next_offset += n
    path = tmp_path / "seg.log"
    path.write_bytes(data)
    return path, data


SIZES = [(1, 5), (3, 200), (1, 3000), (2, 10), (1, 0), (5, 700), (1, 9000), (1, 1)]


@pytest.mark.parametrize("chunk", [61, 100, 1024, 4096, 1 << 20])
def test_first_invalid_batch_agrees_with_check_batch(tmp_path, chunk):
    path, data = _segment_file(tmp_path, SIZES)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert first_invalid_batch(fd, 0, len(data), 0, chunk) is None
        positions = []
        pos = 0
        while pos < len(data):
            positions.append(pos)
            pos += parse_header(data, pos).size
        for i, start in enumerate(positions):
            end = positions[i + 1] if i + 1 < len(positions) else len(data)
            for victim in (start + 17, start + 40, end - 1):
                bad = bytearray(data)
                bad[victim] ^= 0x01
                path.write_bytes(bad)
                found = first_invalid_batch(fd, 0, len(data), 0, chunk)
                assert found is not None and found[0] == start, (i, victim, found)
        path.write_bytes(data + b"\x00" * 10)
        assert first_invalid_batch(fd, 0, len(data) + 10, 0, chunk) == (len(data), "10 trailing bytes, too few for a "
                                                                           "batch header (a torn write)")
        path.write_bytes(data)
        assert first_invalid_batch(fd, 0, len(data), 1, chunk) == (0, "batch offset 0 does not follow offset 0")
    finally:
        os.close(fd)
