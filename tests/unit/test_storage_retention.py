"""Retention by time and size, and DeleteRecords (log start offset)."""

from __future__ import annotations

import pytest

from broker.records import Record, encode_batch, parse_header
from broker.storage import Log, LogConfig, OffsetOutOfRange

DAY = 86_400_000


def make_batch(ts: int, n: int = 2) -> bytearray:
    return encode_batch([Record(i, ts, b"k", b"x" * 40) for i in range(n)], base_offset=0)


BATCH_SIZE = len(make_batch(0))


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def build(directory, timestamps, **config) -> Log:
    """One batch per segment, so segments map 1:1 to timestamps."""
    options = dict(segment_bytes=BATCH_SIZE, segment_ms=10**12)
    options.update(config)
    log = Log(directory, LogConfig(**options), now_ms=Clock(10 * DAY))
    for ts in timestamps:
        log.append(make_batch(ts))
    return log


def test_retention_by_time(tmp_path):
    now = 10 * DAY
    log = build(tmp_path / "t-0", [now - 9 * DAY, now - 8 * DAY, now - 2 * DAY, now - 9 * DAY, now], retention_ms=7 * DAY)
    assert log.segment_count == 5
    # Kafka stops at the first segment that is young enough, even if older ones follow
    assert log.apply_retention(now) == 2
    assert [s.base_offset for s in log.segments] == [4, 6, 8]
    assert log.log_start_offset == 4
    with pytest.raises(OffsetOutOfRange):
        log.read(3, 100)
    assert parse_header(log.read(4, 100)).base_offset == 4
    assert log.apply_retention(now) == 0
    assert log.apply_retention(now + 6 * DAY) == 2  # now 4 and 6 are older than 7 days
    assert log.log_start_offset == 8
    log.close()


def test_retention_by_time_of_every_segment_keeps_log_appendable(tmp_path):
    now = 10 * DAY
    log = build(tmp_path / "t-0", [now - 9 * DAY] * 3, retention_ms=DAY)
    assert log.apply_retention(now) == 3
    assert log.segment_count == 1
    assert log.active_segment.is_empty and log.active_segment.base_offset == 6
    assert (log.log_start_offset, log.log_end_offset) == (6, 6)
    assert log.read(6, 100) == b""
    assert log.append(make_batch(now)) == 6
    log.close()
    log = Log(tmp_path / "t-0", LogConfig())
    assert (log.log_start_offset, log.log_end_offset) == (6, 8)
    log.close()


def test_unlimited_retention_and_policy_without_delete(tmp_path):
    log = build(tmp_path / "a-0", [0, 0, 0], retention_ms=-1)
    assert log.apply_retention(100 * DAY) == 0
    log.close()
    log = build(tmp_path / "b-0", [0, 0, 0], retention_ms=1, retention_bytes=0, cleanup_policy=frozenset({"compact"}))
    assert log.apply_retention(100 * DAY) == 0
    log.close()


def test_retention_by_size(tmp_path):
    now = 10 * DAY
    log = build(tmp_path / "t-0", [now] * 6, retention_bytes=int(BATCH_SIZE * 3.5))
    # size 6 batches, limit 3.5: deleting the oldest while size - limit >= its size -> 2 go
    assert log.apply_retention(now) == 2
    assert log.size_bytes == 4 * BATCH_SIZE
    assert log.log_start_offset == 4
    log.update_config(LogConfig(segment_bytes=BATCH_SIZE, retention_bytes=BATCH_SIZE * 4))
    assert log.apply_retention(now) == 0
    log.close()


def test_retention_by_size_zero_deletes_everything_but_rolls(tmp_path):
    now = 10 * DAY
    log = build(tmp_path / "t-0", [now] * 3, retention_bytes=0)
    assert log.apply_retention(now) == 3
    assert log.segment_count == 1 and log.size_bytes == 0
    assert (log.log_start_offset, log.log_end_offset) == (6, 6)
    assert log.apply_retention(now) == 0  # an empty active segment is never deleted
    log.close()


def test_delete_records_before(tmp_path):
    log = build(tmp_path / "t-0", [0] * 5)  # segments at 0, 2, 4, 6, 8
    assert log.delete_records_before(5) == 5
    assert [s.base_offset for s in log.segments] == [4, 6, 8]
    with pytest.raises(OffsetOutOfRange):
        log.read(4, 100)
    assert parse_header(log.read(5, 100)).base_offset == 4  # batch containing 5
    assert log.delete_records_before(3) == 5  # never moves backwards
    with pytest.raises(OffsetOutOfRange):
        log.delete_records_before(11)
    log.close()
    log = Log(tmp_path / "t-0", LogConfig())
    assert log.log_start_offset == 5  # persisted within the first segment
    assert log.delete_records_before(-1) == 10  # -1: up to the high watermark
    assert [s.base_offset for s in log.segments] == [8]  # the active segment stays
    assert log.read(10, 100) == b""
    log.close()
    log = Log(tmp_path / "t-0", LogConfig())
    assert (log.log_start_offset, log.log_end_offset) == (10, 10)
    log.close()


def test_retention_below_log_start_is_removed_even_without_delete_policy(tmp_path):
    log = build(tmp_path / "t-0", [0] * 4, cleanup_policy=frozenset({"compact"}))
    log.delete_records_before(5)
    assert [s.base_offset for s in log.segments] == [4, 6]
    assert log.apply_retention(100 * DAY) == 0
    log.close()
