"""OffsetIndex and TimeIndex on their own, and a property test of Log.read."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.records import Record, decode_records, encode_batch, parse_header
from broker.storage import Log, LogConfig
from broker.storage.index import CorruptIndex, OffsetIndex, TimeIndex


def test_offset_index_lookup_and_reload(tmp_path):
    path = tmp_path / "00000000000000000100.index"
    index = OffsetIndex(path, 100, max_entries=3)
    assert index.load() is False
    assert index.lookup(150) == (100, 0)
    assert index.append(110, 4000)
    assert index.append(120, 8000)
    assert not index.append(120, 9000)  # not ascending
    assert index.append(130, 12000)
    assert index.is_full and not index.append(140, 16000)
    assert index.lookup(105) == (100, 0)
    assert index.lookup(110) == (110, 4000)
    assert index.lookup(129) == (120, 8000)
    assert index.lookup(10**9) == (130, 12000)
    index.close()
    assert path.stat().st_size == 24
    again = OffsetIndex(path, 100, max_entries=3)
    assert again.load() is True
    assert [again.lookup(o) for o in (105, 110, 129, 999)] == [(100, 0), (110, 4000), (120, 8000), (130, 12000)]
    assert again.last_entry() == (130, 12000)


def test_offset_index_rejects_garbage(tmp_path):
    path = tmp_path / "00000000000000000000.index"
    path.write_bytes(b"\x00" * 12)
    with pytest.raises(CorruptIndex):
        OffsetIndex(path, 0, 10).load()
    path.write_bytes(bytes.fromhex("00000005 00000100 00000002 00000200"))
    with pytest.raises(CorruptIndex):
        OffsetIndex(path, 0, 10).load()


def test_time_index_lookup_gives_a_safe_scan_start(tmp_path):
    path = tmp_path / "00000000000000000000.timeindex"
    index = TimeIndex(path, 0, max_entries=10)
    index.load()
    assert index.maybe_append(1000, 0)
    assert not index.maybe_append(1000, 5)  # timestamps must grow
    assert index.maybe_append(2000, 10)
    assert index.maybe_append(3000, 20)
    assert index.lookup(500) == 0
    assert index.lookup(1000) == 0  # a batch before offset 0's entry may hold exactly 1000
    assert index.lookup(1001) == 0
    assert index.lookup(2500) == 10
    assert index.lookup(3000) == 10
    assert index.lookup(99999) == 20
    assert index.last_entry() == (3000, 20)
    index.close()
    again = TimeIndex(path, 0, max_entries=10)
    assert again.load() and again.lookup(2500) == 10


def _batch(records: int, value_size: int, ts: int) -> bytearray:
    return encode_batch([Record(i, ts + i, b"k%d" % i, b"x" * value_size) for i in range(records)], base_offset=0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shapes=st.lists(st.tuples(st.integers(1, 12), st.integers(0, 300)), min_size=1, max_size=40),
    segment_bytes=st.integers(100, 2000),
    index_interval=st.sampled_from([0, 64, 512, 4096]),
    reopen=st.booleans(),
    data=st.data(),
)
def test_read_returns_the_batch_containing_any_offset(tmp_path_factory, shapes, segment_bytes, index_interval,
                                                      reopen, data):
    directory = tmp_path_factory.mktemp("prop") / "p-0"
    config = LogConfig(segment_bytes=segment_bytes, index_interval_bytes=index_interval)
    log = Log(directory, config)
    spans = []
    for n, (records, value_size) in enumerate(shapes):
        base = log.append(_batch(records, value_size, 1000 * n))
        spans.append((base, base + records - 1))
    if reopen:
        log.close()
        log = Log(directory, config)
    assert log.log_end_offset == spans[-1][1] + 1
    offsets = data.draw(st.lists(st.integers(0, log.log_end_offset - 1), min_size=1, max_size=20))
    for offset in offsets:
        max_bytes = data.draw(st.integers(0, 5000))
        out = log.read(offset, max_bytes)
        first = parse_header(out)
        assert first.base_offset <= offset <= first.last_offset
        assert (first.base_offset, first.last_offset) in spans
        assert len(out) <= max(max_bytes, first.size)
        assert [r.offset for r in decode_records(out)] == list(range(first.base_offset, first.last_offset + 1))
    # and timestamps: batch n has records at 1000n + i
    n = data.draw(st.integers(0, len(shapes) - 1))
    assert log.offset_for_timestamp(1000 * n) == (spans[n][0], 1000 * n)
    log.close()
