"""The bounded cache of open log files (storage/files.py) and logs that outnumber it."""

from __future__ import annotations

import os

import pytest

from broker.records import Record, decode_records, encode_batch
from broker.storage import Log, LogConfig, files
from broker.storage.files import FileClosed, FileHandle, OpenFiles
from broker.storage.log import CLEAN_SHUTDOWN_FILE
from tests.unit.test_storage_log import Clock


def batch(i: int, value: bytes = b"v" * 40) -> bytearray:
    return encode_batch([Record(0, 1000 + i, b"key-%d" % (i % 7), value + b"%d" % i)], base_offset=0)


def values(log: Log) -> list[bytes]:
    out, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 20)
        if not data:
            break
        recs = decode_records(data)
        out += [r.value for r in recs]
        offset = recs[-1].offset + 1
    return out


@pytest.fixture
def tiny_budget():
    """The process-wide cache limited to its minimum (8) for one test."""
    cache = files.open_files()
    before = cache.limit
    cache.set_limit(0)
    yield cache
    cache.set_limit(before)


def test_least_recently_used_handles_are_closed_and_reopened(tmp_path):
    cache = OpenFiles(8)
    handles = []
    for i in range(20):
        path = tmp_path / f"f{i}"
        handles.append(FileHandle.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC, cache))
        os.write(handles[-1].fileno(), b"first-%d;" % i)
    assert len(cache) == 8 and cache.evicted == 12
    assert [h.is_open for h in handles] == [False] * 12 + [True] * 8
    for i, handle in enumerate(handles):  # reopened by path, still appending, nothing lost
        os.write(handle.fileno(), b"second-%d;" % i)
        assert len(cache) <= 8
    for i in range(20):
        assert (tmp_path / f"f{i}").read_bytes() == b"first-%d;second-%d;" % (i, i)


def test_pinned_handles_stay_open_and_closed_ones_refuse_use(tmp_path):
    cache = OpenFiles(8)
    first = FileHandle.open(tmp_path / "pinned", os.O_RDWR | os.O_CREAT, cache)
    with first.pinned() as fd:
        others = [FileHandle.open(tmp_path / f"o{i}", os.O_RDWR | os.O_CREAT, cache) for i in range(30)]
        assert first.is_open and first.fileno() == fd
        assert len(cache) == 8  # the pinned one plus the newest seven
    for i in range(8):
        FileHandle.open(tmp_path / f"more{i}", os.O_RDWR | os.O_CREAT, cache)
    assert not first.is_open  # unpinned, it is evicted like any other
    others[-1].close()
    with pytest.raises(FileClosed):
        others[-1].fileno()


def test_reopen_never_truncates(tmp_path):
    cache = OpenFiles(8)
    handle = FileHandle.open(tmp_path / "f", os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, cache)
    os.write(handle.fileno(), b"kept")
    handle.release()
    os.write(handle.fileno(), b"+more")
    assert (tmp_path / "f").read_bytes() == b"kept+more"


def test_many_logs_on_a_tiny_budget_append_read_roll_retain_and_reopen(tmp_path, tiny_budget):
    clock = Clock()
    config = LogConfig(segment_bytes=600, index_interval_bytes=100, retention_bytes=1500)
    logs = [Log(tmp_path / f"t-{i}", config, now_ms=clock) for i in range(25)]
    written = {i: [] for i in range(25)}
    for round_ in range(30):
        for i, log in enumerate(logs):  # round robin: every append reopens an evicted file
            b = batch(round_)
            log.append(b)
            written[i].append(decode_records(b)[0].value)
            assert len(tiny_budget) <= tiny_budget.limit
    for i, log in enumerate(logs):
        assert log.segment_count > 3
        assert values(log) == written[i]
        assert log.offset_for_timestamp(1010)[0] == 10
        log.apply_retention(clock())
        assert values(log) == written[i][-len(values(log)):] and log.log_start_offset > 0
    for log in logs:
        log.close()
    reopened = [Log(tmp_path / f"t-{i}", config, now_ms=clock) for i in range(25)]
    for i, log in enumerate(reopened):
        assert values(log) == written[i][-len(values(log)):]
        log.append(batch(99))
        assert values(log)[-1] == b"v" * 40 + b"99"
    assert len(tiny_budget) <= tiny_budget.limit


def test_crash_recovery_rebuilds_indexes_on_a_tiny_budget(tmp_path, tiny_budget):
    clock = Clock()
    config = LogConfig(segment_bytes=100_000, index_interval_bytes=64)
    logs = [Log(tmp_path / f"t-{i}", config, now_ms=clock) for i in range(12)]
    for round_ in range(40):
        for log in logs:
            log.append(batch(round_))
    expected = [values(log) for log in logs]
    for log in logs:  # a crash: no close, no marker; the index files are rebuilt on open
        (log.directory / "00000000000000000000.index").unlink()
    recovered = [Log(tmp_path / f"t-{i}", config, now_ms=clock) for i in range(12)]
    assert [values(log) for log in recovered] == expected
    assert all(len(log.active_segment.offset_index) > 5 for log in recovered)


def test_fetch_file_of_an_evicted_or_deleted_segment_stays_readable(tmp_path, tiny_budget):
    clock = Clock()
    log = Log(tmp_path / "t-0", LogConfig(segment_bytes=300), now_ms=clock)
    for i in range(20):
        log.append(batch(i))
    span = log.read_span(0, 1 << 20)
    expected = log.read(0, 1 << 20)
    others = [Log(tmp_path / f"o-{i}", LogConfig(), now_ms=clock) for i in range(20)]  # evict everything
    log.delete_records_before(log.log_end_offset)  # and delete the segment under the span
    with span.file:
        assert os.pread(span.file.fileno(), span.size, span.position) == expected[: span.size]
    for other in others:
        other.close()


def test_marker_stays_until_the_first_change(tmp_path):
    clock = Clock()
    directory = tmp_path / "t-0"
    log = Log(directory, LogConfig(), now_ms=clock)
    log.append(batch(1))
    log.close()
    log = Log(directory, LogConfig(), now_ms=clock)
    assert values(log) and (directory / CLEAN_SHUTDOWN_FILE).exists()
    # dropped without close (a crash): nothing changed, so the next open is still a clean one
    log = Log(directory, LogConfig(), now_ms=clock)
    assert (directory / CLEAN_SHUTDOWN_FILE).exists()
    log.append(batch(2))
    assert not (directory / CLEAN_SHUTDOWN_FILE).exists()
    log.close()
    assert (directory / CLEAN_SHUTDOWN_FILE).exists()
