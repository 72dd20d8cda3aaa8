"""Log append/read across segments, reopen, timestamps, rolls and flushing."""

from __future__ import annotations

import os

import pytest

from broker.records import (
    GZIP,
    TIMESTAMP_TYPE_BIT,
    Record,
    check_batch,
    decode_records,
    encode_batch,
    iter_batches,
    parse_header,
    set_log_append_time,
)
from broker.storage import Log, LogConfig, OffsetOutOfRange


class Clock:
    def __init__(self, now: int = 1_000_000):
        self.now = now

    def __call__(self) -> int:
        return self.now


def make_batch(n: int = 1, *, ts: int = 1000, value: bytes = b"v" * 20, timestamps=None, codec: int = 0) -> bytearray:
    records = [
        Record(i, timestamps[i] if timestamps else ts, b"key-%d" % i, value)
        for i in range(n)
    ]
    return encode_batch(records, base_offset=0, codec=codec)


def batches_of(data: bytes):
    return [h for _, h in iter_batches(data)]


@pytest.fixture
def clock():
    return Clock()


def open_log(path, clock, **config):
    return Log(path / "topic-0", LogConfig(**config), now_ms=clock)


def test_empty_log_starts_at_zero(tmp_path, clock):
    log = open_log(tmp_path, clock)
    assert (log.log_start_offset, log.log_end_offset, log.size_bytes, log.segment_count) == (0, 0, 0, 1)
    assert log.read(0, 1000) == b""
    assert (tmp_path / "topic-0" / "00000000000000000000.log").exists()
    log.close()


def test_append_assigns_offsets_and_rolls_segments(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=400)
    sizes = []
    for i in range(20):
        b = make_batch(i % 4 + 1)
        sizes.append(len(b))
        assert log.append(b) == sum(j % 4 + 1 for j in range(i))
    assert log.log_end_offset == sum(i % 4 + 1 for i in range(20))
    assert log.segment_count > 3
    assert log.size_bytes == sum(sizes)
    for seg in log.segments:
        assert seg.size <= 400
        assert seg.log_path.name == f"{seg.base_offset:020d}.log"
    # every batch is readable by its base offset and its CRC still holds
    offset = 0
    while offset < log.log_end_offset:
        data = log.read(offset, 1)  # min_one: exactly one batch
        header = check_batch(data)
        assert header.base_offset == offset and header.size == len(data)
        offset = header.next_offset
    log.close()


def test_read_returns_batch_containing_mid_batch_offset(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=1000, index_interval_bytes=100)
    for _ in range(30):
        log.append(make_batch(5))
    for offset in (0, 3, 17, 64, 149):
        data = log.read(offset, 1)
        header = parse_header(data)
        assert header.base_offset <= offset <= header.last_offset
        assert [r.offset for r in decode_records(data)] == list(range(header.base_offset, header.base_offset + 5))
    log.close()


def test_max_bytes_and_min_one(tmp_path, clock):
    log = open_log(tmp_path, clock)
    for _ in range(10):
        log.append(make_batch(2))
    one = len(make_batch(2))
    assert len(log.read(0, one * 3)) == one * 3
    assert len(log.read(0, one * 3 + one // 2)) == one * 3  # whole batches only
    assert len(log.read(0, 10)) == one  # first batch even if too big
    assert log.read(0, 10, min_one=False) == b""
    assert len(log.read(4, 10**9)) == one * 8
    log.close()


def test_max_offset_caps_the_read(tmp_path, clock):
    log = open_log(tmp_path, clock)
    for _ in range(5):
        log.append(make_batch(3))  # batches at 0, 3, 6, 9, 12
    assert [h.base_offset for h in batches_of(log.read(0, 10**6, max_offset=9))] == [0, 3, 6]
    assert [h.base_offset for h in batches_of(log.read(4, 10**6, max_offset=9))] == [3, 6]
    assert log.read(9, 10**6, max_offset=9) == b""
    assert log.read(0, 1, max_offset=0) == b""
    log.close()


def test_offset_out_of_range(tmp_path, clock):
    log = open_log(tmp_path, clock)
    log.append(make_batch(4))
    assert log.read(4, 100) == b""
    with pytest.raises(OffsetOutOfRange) as info:
        log.read(5, 100)
    assert (info.value.log_start_offset, info.value.log_end_offset) == (0, 4)
    with pytest.raises(OffsetOutOfRange):
        log.read(-1, 100)
    log.delete_records_before(2)
    with pytest.raises(OffsetOutOfRange):
        log.read(1, 100)
    assert parse_header(log.read(2, 100)).base_offset == 0  # the batch containing offset 2
    log.close()


def test_reopen_after_close_keeps_everything(tmp_path, clock):
    config = dict(segment_bytes=500, index_interval_bytes=64)
    log = open_log(tmp_path, clock, **config)
    for i in range(40):
        log.append(make_batch(i % 3 + 1, ts=5000 + i))
    end, size, count = log.log_end_offset, log.size_bytes, log.segment_count
    everything = [log.read(o, 1) for o in range(end)]
    log.close()
    assert (tmp_path / "topic-0" / "clean-shutdown").exists()

    log = open_log(tmp_path, clock, **config)
    # Reading changes nothing: the marker stays until the first write, which removes it first.
    assert (log.log_end_offset, log.size_bytes, log.segment_count) == (end, size, count)
    assert [log.read(o, 1) for o in range(end)] == everything
    assert log.offset_of_max_timestamp() == (end - 1, 5039)
    assert (tmp_path / "topic-0" / "clean-shutdown").exists()
    assert log.append(make_batch(1)) == end
    assert not (tmp_path / "topic-0" / "clean-shutdown").exists()
    log.close()


def test_iter_headers(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=300)
    bases = [log.append(make_batch(2)) for _ in range(12)]
    assert [h.base_offset for h in log.iter_headers()] == bases
    assert [h.base_offset for h in log.iter_headers(7)] == bases[3:]
    assert [h.base_offset for h in log.iter_headers(24)] == []
    log.close()


def test_offset_for_timestamp_is_exact_to_the_record(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_bytes=600, index_interval_bytes=50)
    # batch k holds records with timestamps 100k, 100k+10, ... (5 records)
    for k in range(20):
        log.append(make_batch(5, timestamps=[100 * k + 10 * i for i in range(5)]))
    assert log.offset_for_timestamp(0) == (0, 0)
    assert log.offset_for_timestamp(100 * 7 + 25) == (7 * 5 + 3, 730)
    assert log.offset_for_timestamp(100 * 7 + 30) == (7 * 5 + 3, 730)
    assert log.offset_for_timestamp(100 * 7 + 41) == (8 * 5, 800)
    assert log.offset_for_timestamp(1940) == (99, 1940)
    assert log.offset_for_timestamp(1941) is None
    assert log.offset_of_max_timestamp() == (99, 1940)
    log.close()


def test_offset_for_timestamp_with_unordered_timestamps(tmp_path, clock):
    log = open_log(tmp_path, clock, index_interval_bytes=0)
    log.append(make_batch(3, timestamps=[500, 100, 900]))
    log.append(make_batch(3, timestamps=[200, 300, 400]))
    log.append(make_batch(2, timestamps=[950, 960]))
    assert log.offset_for_timestamp(150) == (0, 500)
    assert log.offset_for_timestamp(600) == (2, 900)
    assert log.offset_for_timestamp(901) == (6, 950)
    assert log.offset_of_max_timestamp() == (7, 960)
    log.close()


def test_log_append_time_batches(tmp_path, clock):
    log = open_log(tmp_path, clock)
    b = make_batch(3, timestamps=[10, 20, 30])
    set_log_append_time(b, 5000)
    log.append(b)
    assert parse_header(log.read(0, 100)).attributes & TIMESTAMP_TYPE_BIT
    assert log.offset_for_timestamp(4000) == (0, 5000)
    assert log.offset_of_max_timestamp() == (0, 5000)
    log.close()


def test_offset_of_max_timestamp_empty(tmp_path, clock):
    log = open_log(tmp_path, clock)
    assert log.offset_of_max_timestamp() is None
    assert log.offset_for_timestamp(0) is None
    log.close()


def test_segment_ms_roll(tmp_path, clock):
    log = open_log(tmp_path, clock, segment_ms=1000)
    log.append(make_batch(ts=clock.now))
    clock.now += 500
    log.append(make_batch(ts=clock.now))
    assert log.segment_count == 1
    clock.now += 1001
    assert log.append(make_batch(ts=clock.now)) == 2
    assert log.segment_count == 2
    assert log.active_segment.base_offset == 2
    # old producer timestamps do not roll a fresh segment on every batch
    log.append(make_batch(ts=1))
    log.append(make_batch(ts=1))
    assert log.segment_count == 2
    log.close()


def test_roll_when_offset_index_is_full(tmp_path, clock):
    # an index entry for every batch; 36 bytes hold 4 offset entries or 3 time entries
    log = open_log(tmp_path, clock, index_interval_bytes=0, segment_index_bytes=36)
    for _ in range(12):
        log.append(make_batch(ts=1000))  # one timestamp: a single time entry per segment
    assert [s.base_offset for s in log.segments] == [0, 4, 8]
    for i in range(12):
        log.append(make_batch(ts=2000 + i))  # rising timestamps: the time index fills first
    assert [s.base_offset for s in log.segments] == [0, 4, 8, 12, 15, 18, 21]
    assert [h.base_offset for h in log.iter_headers()] == list(range(24))
    log.close()


def test_roll_before_relative_offset_overflows(tmp_path, clock):
    log = open_log(tmp_path, clock)
    big = encode_batch([Record(0, 1, b"a", b"1"), Record(2**31 - 10, 1, b"b", b"2")], base_offset=0)
    assert log.append(make_batch()) == 0
    assert log.append(big) == 1
    assert log.segment_count == 1  # last offset 2**31 - 9 still fits relative to base 0
    assert log.append(big) == 2**31 - 8
    assert log.segment_count == 2
    assert parse_header(log.read(2**31 - 8 + 5, 10)).base_offset == 2**31 - 8
    log.close()


def test_flush_messages_and_flush_ms(tmp_path, clock, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    log = open_log(tmp_path, clock, flush_messages=5, flush_ms=1000, segment_bytes=200)
    synced.clear()  # opening a new directory syncs it once
    log.append(make_batch(2))
    log.append(make_batch(2))
    assert not synced
    log.append(make_batch(2))  # 6 unflushed messages >= 5
    assert synced
    synced.clear()
    log.append(make_batch(1))
    assert not log.flush_if_due(clock.now + 10)
    assert log.flush_if_due(clock.now + 1000)
    assert synced
    assert not log.flush_if_due(clock.now + 5000)  # nothing unflushed
    log.flush()
    log.close()


def test_append_accepts_bytes_and_checks_length(tmp_path, clock):
    log = open_log(tmp_path, clock)
    assert log.append(bytes(make_batch(2))) == 0
    with pytest.raises(ValueError):
        log.append(make_batch(1) + b"junk")
    log.close()


def test_compressed_batches_are_stored_opaquely(tmp_path, clock):
    log = open_log(tmp_path, clock)
    b = make_batch(10, codec=GZIP)
    log.append(b)
    data = log.read(0, 10**6)
    assert data[8:] == bytes(b[8:])  # only the base offset may differ
    assert [r.offset for r in decode_records(data)] == list(range(10))
    log.close()


def test_update_config_and_delete(tmp_path, clock):
    log = open_log(tmp_path, clock)
    log.append(make_batch())
    log.update_config(LogConfig(segment_bytes=1))
    log.append(make_batch())
    assert log.segment_count == 2
    log.delete()
    assert not (tmp_path / "topic-0").exists()


def test_operations_after_close_fail(tmp_path, clock):
    log = open_log(tmp_path, clock)
    log.close()
    log.close()  # idempotent
    with pytest.raises(RuntimeError):
        log.append(make_batch())
