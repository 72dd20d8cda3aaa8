"""Log compaction: planning, the worker function, swapping, and crash safety of the swap."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from broker.records import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    GZIP,
    LZ4,
    NO_COMPRESSION,
    SNAPPY,
    TRANSACTIONAL_BIT,
    ZSTD,
    Record,
    check_batch,
    decode_records,
    encode_batch,
    encode_control_batch,
    iter_batches,
    parse_header,
)
from broker.storage import Log, LogConfig, run_clean
from broker.storage import cleaner
from broker.storage.cleaner_worker import CleanerWorker

DAY = 86_400_000
T0 = 100 * DAY


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


def compacted_config(**overrides) -> LogConfig:
    options = dict(
        cleanup_policy=frozenset({"compact"}), segment_bytes=700, min_cleanable_dirty_ratio=0.01,
        index_interval_bytes=128, delete_retention_ms=DAY, segment_ms=10**12,
    )
    options.update(overrides)
    return LogConfig(**options)


def keyed(pairs, *, ts=T0, codec=NO_COMPRESSION, **kwargs) -> bytearray:
    """A batch of (key, value) records; offsets are assigned by the log."""
    records = [Record(i, ts + i, k, v) for i, (k, v) in enumerate(pairs)]
    return encode_batch(records, base_offset=0, codec=codec, **kwargs)


def all_batches(log: Log):
    """(header, records) of every batch, reading through the log like a consumer."""
    out = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = log.read(offset, 10**7)
        if not data:
            break
        for pos, header in iter_batches(data):
            check_batch(data, pos)
            out.append((header, decode_records(data, pos)))
            offset = header.next_offset
    return out


def all_records(log: Log):
    return [r for _, records in all_batches(log) for r in records]


def clean(log: Log, now=None) -> bool:
    job = log.clean_job(now)
    assert job is not None
    return log.apply_clean(run_clean(job))


def fill_versions(log: Log, versions: int = 6, keys: int = 5, codec=NO_COMPRESSION):
    """Every key written `versions` times, 2 records per batch; returns key -> (offset, value) latest."""
    latest = {}
    for v in range(versions):
        for k in range(0, keys, 2):
            pairs = [(b"key-%d" % j, b"v%d-%d" % (v, j)) for j in range(k, min(k + 2, keys))]
            base = log.append(keyed(pairs, codec=codec))
            for i, (key, value) in enumerate(pairs):
                latest[key] = (base + i, value)
    return latest


@pytest.mark.parametrize("codec", [NO_COMPRESSION, GZIP, SNAPPY, LZ4, ZSTD])
def test_compaction_keeps_latest_record_per_key(tmp_path, codec):
    log = Log(tmp_path / "c-0", compacted_config(), now_ms=Clock())
    latest = fill_versions(log, codec=codec)
    log.roll()
    end, segments_before, size_before = log.log_end_offset, log.segment_count, log.size_bytes
    assert segments_before > 3
    assert clean(log)
    assert log.log_end_offset == end and log.log_start_offset == 0
    assert log.size_bytes < size_before and log.segment_count < segments_before
    records = all_records(log)
    assert {r.key: (r.offset, r.value) for r in records} == latest
    assert len(records) == len(latest)
    for header, _ in all_batches(log):
        assert header.compression == codec
    # offsets are preserved, so reading at any old offset lands on the next survivor
    survivors = sorted(offset for offset, _ in latest.values())
    for offset in range(end):
        data = log.read(offset, 1)
        first = min(o for o in survivors if o >= offset) if offset <= survivors[-1] else None
        if first is None:
            assert data == b""
        else:
            assert any(r.offset == first for r in decode_records(data))
    log.close()
    log = Log(tmp_path / "c-0", compacted_config())
    assert {r.key: (r.offset, r.value) for r in all_records(log)} == latest
    assert log.clean_job() is None  # nothing dirty any more
    log.close()


def test_active_segment_is_never_cleaned(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(segment_bytes=10**6), now_ms=Clock())
    fill_versions(log)
    assert log.segment_count == 1
    assert log.clean_job() is None
    log.close()


def test_dirty_ratio_and_checkpoint(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(min_cleanable_dirty_ratio=0.5), now_ms=Clock())
    fill_versions(log, versions=6)
    log.roll()
    job = log.clean_job()
    assert job.first_dirty_offset == 0 and job.clean_upper_offset == log.active_segment.base_offset
    assert log.apply_clean(run_clean(job))
    assert log.clean_job() is None
    checkpoint = cleaner.CleanerCheckpoint.read(tmp_path / "c-0")
    assert checkpoint.clean_offset == job.clean_upper_offset
    clean_bytes = sum(s.size for s in log.segments[:-1])
    # a little new dirty data: below the ratio
    log.append(keyed([(b"key-0", b"new")]))
    log.roll()
    assert log.active_segment.base_offset > job.clean_upper_offset
    assert log.clean_job() is None
    # enough new dirty data: above it
    while sum(s.size for s in log.segments[:-1]) < 2.2 * clean_bytes:
        log.append(keyed([(b"key-1", b"x" * 50)]))
    log.roll()
    job2 = log.clean_job()
    assert job2 is not None and job2.first_dirty_offset == job.clean_upper_offset
    log.close()


def test_min_compaction_lag(tmp_path):
    clock = Clock()
    log = Log(tmp_path / "c-0", compacted_config(min_compaction_lag_ms=DAY), now_ms=clock)
    fill_versions(log)
    log.roll()
    assert log.clean_job(T0 + DAY // 2) is None  # all records are younger than the lag
    assert log.clean_job(T0 + 2 * DAY) is not None
    log.close()


def test_tombstones_removed_only_after_delete_retention(tmp_path):
    clock = Clock()
    log = Log(tmp_path / "c-0", compacted_config(), now_ms=clock)
    log.append(keyed([(b"a", b"1"), (b"b", b"1")]))
    log.append(keyed([(b"a", None)]))  # tombstone at offset 2
    log.append(keyed([(b"c", None)]))  # tombstone of a key never set, offset 3
    log.roll()
    assert clean(log, T0)
    assert [(r.key, r.value) for r in all_records(log)] == [(b"b", b"1"), (b"a", None), (b"c", None)]

    def second_pass(now):
        log.append(keyed([(b"d", b"filler" * 30)]))
        log.roll()
        assert clean(log, now)
        return [(r.key, r.value) for r in all_records(log)]

    # not yet delete.retention.ms since the cleaner first saw them
    assert second_pass(T0 + DAY - 1)[:3] == [(b"b", b"1"), (b"a", None), (b"c", None)]
    assert second_pass(T0 + DAY) == [(b"b", b"1"), (b"d", b"filler" * 30)]
    log.close()


def test_tombstone_horizon_survives_restart(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(), now_ms=Clock())
    log.append(keyed([(b"a", b"1")]))
    log.append(keyed([(b"a", None)]))
    log.roll()
    assert clean(log, T0)
    log.close()
    log = Log(tmp_path / "c-0", compacted_config(), now_ms=Clock(T0 + 2 * DAY))
    log.append(keyed([(b"z", b"1")]))
    log.roll()
    assert clean(log, T0 + 2 * DAY)
    assert [(r.key, r.value) for r in all_records(log)] == [(b"z", b"1")]
    log.close()


def test_keyless_records_are_dropped(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(), now_ms=Clock())
    log.append(keyed([(None, b"orphan"), (b"k", b"1")]))
    log.append(keyed([(None, b"orphan2")]))
    log.roll()
    assert clean(log)
    assert [(r.offset, r.key) for r in all_records(log)] == [(1, b"k")]
    log.close()


def test_transactions_control_batches_and_aborted_data(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(segment_bytes=10**6), now_ms=Clock())
    txn = dict(attributes=TRANSACTIONAL_BIT, producer_epoch=0, base_sequence=0)
    log.append(keyed([(b"k", b"committed-old")]))                       # 0
    log.append(keyed([(b"k", b"aborted")], producer_id=7, **txn))       # 1
    log.append(keyed([(b"j", b"plain")]))                               # 2
    log.append(encode_control_batch(CONTROL_ABORT, producer_id=7, producer_epoch=0,
                                    coordinator_epoch=0, timestamp=T0))  # 3
    log.append(keyed([(b"j", b"in-txn")], producer_id=8, **txn))        # 4
    log.append(encode_control_batch(CONTROL_COMMIT, producer_id=8, producer_epoch=0,
                                    coordinator_epoch=0, timestamp=T0))  # 5
    log.append(keyed([(b"k", b"open")], producer_id=9, **txn))          # 6: marker not in range
    log.roll()
    log.append(encode_control_batch(CONTROL_COMMIT, producer_id=9, producer_epoch=0,
                                    coordinator_epoch=0, timestamp=T0))  # 7 (active segment)
    assert clean(log)
    batches = all_batches(log)
    summary = [(h.base_offset, h.is_control, [(r.key, r.value) for r in recs]) for h, recs in batches]
    assert summary[0] == (0, False, [(b"k", b"committed-old")])  # not shadowed by undecided 6 or aborted 1
    assert [s[0] for s in summary] == [0, 3, 4, 5, 6, 7]
    assert summary[1][1] and summary[3][1] and summary[5][1]
    assert summary[2][2] == [(b"j", b"in-txn")]  # committed: shadows the plain j at 2
    assert summary[4][2] == [(b"k", b"open")]
    # once the marker of the open transaction is in a closed segment, it decides
    log.roll()
    log.append(keyed([(b"x", b"y")]))
    log.roll()
    assert clean(log)
    keys = [(h.base_offset, [r.value for r in recs]) for h, recs in all_batches(log) if not h.is_control]
    assert keys == [(4, [b"in-txn"]), (6, [b"open"]), (8, [b"y"])]
    log.close()


def test_partially_kept_batch_keeps_header_fields(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(), now_ms=Clock())
    batch = keyed([(b"a", b"1"), (b"b", b"1"), (b"c", b"1")], codec=ZSTD,
                  producer_id=42, producer_epoch=3, base_sequence=10)
    log.append(batch)
    log.append(keyed([(b"b", b"2")]))
    log.roll()
    assert clean(log)
    (h1, r1), (h2, r2) = all_batches(log)
    assert [(r.offset, r.key) for r in r1] == [(0, b"a"), (2, b"c")]
    assert (h1.base_offset, h1.last_offset_delta, h1.producer_id, h1.producer_epoch, h1.base_sequence,
            h1.compression, h1.record_count) == (0, 2, 42, 3, 10, ZSTD, 2)
    assert h1.last_sequence == 12
    log.close()


def test_apply_is_discarded_when_segments_changed(tmp_path):
    clock = Clock()
    log = Log(tmp_path / "c-0", compacted_config(cleanup_policy=frozenset({"compact", "delete"}),
                                                 retention_ms=DAY), now_ms=clock)
    fill_versions(log)
    log.roll()
    job = log.clean_job()
    result = run_clean(job)
    assert list((tmp_path / "c-0").glob("*.cleaned"))
    before = all_records(log)
    log.delete_records_before(log.segments[1].base_offset)  # the first segment is gone
    assert not log.apply_clean(result)
    assert not list((tmp_path / "c-0").glob("*.cleaned"))
    assert all_records(log) == [r for r in before if r.offset >= log.log_start_offset]
    # a fresh job works on the new layout
    assert clean(log)
    log.close()


def test_run_clean_after_segments_vanished_is_aborted(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(cleanup_policy=frozenset({"compact", "delete"}),
                                                 retention_bytes=0), now_ms=Clock())
    fill_versions(log)
    log.roll()
    job = log.clean_job()
    log.apply_retention(T0)
    result = run_clean(job)
    assert result.aborted
    assert not log.apply_clean(result)
    assert not list((tmp_path / "c-0").glob("*.cleaned"))
    log.close()


def _cleaned(tmp_path):
    """A log with several versions per key and a finished (not yet swapped) clean of it:
    (directory, log, latest value per key, clean result, the cleaned segments' bases)."""
    directory = tmp_path / "c-0"
    log = Log(directory, compacted_config(), now_ms=Clock())
    latest = fill_versions(log)
    log.roll()
    result = run_clean(log.clean_job())
    return directory, log, latest, result, [s.base_offset for s in result.segments]


def _crash_and_reopen(directory, log) -> Log:
    for segment in log.segments:
        segment.close()
    return Log(directory, compacted_config())


def test_crash_after_swap_commit_is_completed_on_open(tmp_path):
    directory, log, latest, result, new_bases = _cleaned(tmp_path)
    log.prepare_swap(result).commit()
    # "crash": nothing else of the swap happened
    log = _crash_and_reopen(directory, log)
    assert not (directory / cleaner.SWAP_MANIFEST).exists()
    assert not list(directory.glob("*.cleaned"))
    assert [s.base_offset for s in log.segments] == new_bases + [log.active_segment.base_offset]
    assert {r.key: (r.offset, r.value) for r in all_records(log)} == latest
    log.close()


def test_crash_before_swap_commit_discards_output(tmp_path):
    directory = tmp_path / "c-0"
    log = Log(directory, compacted_config(), now_ms=Clock())
    fill_versions(log)
    log.roll()
    before = all_records(log)
    run_clean(log.clean_job())
    for segment in log.segments:
        segment.close()
    log = Log(directory, compacted_config())
    assert not list(directory.glob("*.cleaned"))
    assert all_records(log) == before
    log.close()


def test_crash_after_swap_installed_before_durable_is_completed_on_open(tmp_path):
    directory, log, latest, result, new_bases = _cleaned(tmp_path)
    plan = log.prepare_swap(result)
    plan.commit()
    assert log.install_swap(plan)
    # "crash": files renamed, manifest still there, nothing fsynced since
    log = _crash_and_reopen(directory, log)
    assert not (directory / cleaner.SWAP_MANIFEST).exists()
    assert [s.base_offset for s in log.segments] == new_bases + [log.active_segment.base_offset]
    assert {r.key: (r.offset, r.value) for r in all_records(log)} == latest
    log.close()


def test_no_segment_deleted_while_a_swap_is_pending(tmp_path):
    clock = Clock()
    log = Log(tmp_path / "c-0", compacted_config(cleanup_policy="compact,delete", retention_bytes=0), now_ms=clock)
    fill_versions(log)
    log.roll()
    plan = log.prepare_swap(run_clean(log.clean_job()))
    assert log.apply_retention() == 0  # the manifest names these segments
    plan.commit()
    assert log.install_swap(plan)
    plan.make_durable()
    log.swap_finished()
    assert log.apply_retention() == len(plan.new_bases)
    log.close()


def test_clean_in_the_cleaner_worker_process_fsyncs_off_the_event_loop(tmp_path, monkeypatch):
    log = Log(tmp_path / "c-0", compacted_config(), now_ms=Clock())
    latest = fill_versions(log, codec=GZIP)
    log.roll()
    worker = CleanerWorker()
    fsync_threads = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        fsync_threads.append(threading.current_thread())
        real_fsync(fd)

    async def broker_side():
        result = await worker.run(log.clean_job())
        monkeypatch.setattr(os, "fsync", recording_fsync)
        try:
            return await worker.install(log, result)
        finally:
            monkeypatch.setattr(os, "fsync", real_fsync)

    try:
        assert asyncio.run(broker_side())
    finally:
        worker.close()
    assert {r.key: (r.offset, r.value) for r in all_records(log)} == latest
    assert not (log.directory / cleaner.SWAP_MANIFEST).exists()
    # manifest (file + directory), renames, manifest removal, checkpoint (file + directory)
    assert len(fsync_threads) >= 5
    assert threading.main_thread() not in fsync_threads
    log.close()


# A parent that starts the worker, listens on a socket, runs a job, prints the worker's
# pid and waits to be killed: what the broker does, reduced to what matters here.
_PARENT = """
import asyncio, os, socket, sys, time
import psutil
from broker.storage import Log
from broker.storage.cleaner_worker import CleanerWorker
sys.path.insert(0, {tests!r})
from tests.unit.test_storage_cleaner import Clock, compacted_config, fill_versions
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen()
log = Log({directory!r}, compacted_config(), now_ms=Clock())
fill_versions(log)
log.roll()
worker = CleanerWorker()
asyncio.run(worker.run(log.clean_job()))
print(listener.getsockname()[1], *[c.pid for c in psutil.Process().children()], flush=True)
time.sleep(600)
"""


def test_cleaner_worker_inherits_nothing_and_dies_with_the_broker(tmp_path):
    """kill -9 of the broker must not leave the worker holding its port (issue 13)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import psutil

    code = _PARENT.format(tests=str(Path(__file__).parents[2]), directory=str(tmp_path / "c-0"))
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port, *children = map(int, parent.stdout.readline().split())
        assert children, "the worker process did not start"
        for pid in children:
            held = {c.laddr.port for c in psutil.Process(pid).net_connections() if c.laddr}
            assert port not in held, f"worker {pid} inherited the listening socket"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                  for pid in children):
            assert time.monotonic() < deadline, f"worker(s) {children} outlived their parent"
            time.sleep(0.05)
        with socket.socket() as again:  # the port is free again at once
            again.bind(("127.0.0.1", port))
    finally:
        if parent.poll() is None:
            parent.kill()


def test_compact_and_delete_policies_together(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(cleanup_policy=frozenset({"compact", "delete"}),
                                                 retention_ms=DAY), now_ms=Clock())
    fill_versions(log)
    log.roll()
    assert clean(log)
    closed = log.segment_count - 1
    assert log.apply_retention(T0 + 2 * DAY) == closed
    assert log.log_start_offset == log.log_end_offset
    log.close()


def test_merged_small_segments_and_reads_in_gaps(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(segment_bytes=300), now_ms=Clock())
    for i in range(30):
        log.append(keyed([(b"same", b"%d" % i)]))
    log.append(keyed([(b"other", b"o")]))
    log.roll()
    assert log.segment_count > 5
    assert clean(log)
    assert log.segment_count < 5
    assert [(r.offset, r.value) for r in all_records(log)] == [(29, b"29"), (30, b"o")]
    assert parse_header(log.read(3, 1)).base_offset == 29
    assert parse_header(log.read(29, 1)).base_offset == 29
    assert log.offset_for_timestamp(0) == (29, T0)
    log.close()


def test_everything_deleted_leaves_an_empty_segment_holding_the_start(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(), now_ms=Clock())
    log.append(keyed([(None, b"x"), (None, b"y")]))  # offsets 0-1: nothing survives
    log.roll()
    log.append(keyed([(b"k", b"v")]))  # offset 2, active
    assert clean(log)
    assert [(s.base_offset, s.size) for s in log.segments[:1]] == [(0, 0)]
    assert log.log_start_offset == 0
    assert parse_header(log.read(0, 100)).base_offset == 2  # continues past the empty segment
    assert [h.base_offset for h in log.iter_headers()] == [2]
    log.close()
    log = Log(tmp_path / "c-0", compacted_config())
    assert (log.log_start_offset, log.log_end_offset, log.segment_count) == (0, 3, 2)
    assert parse_header(log.read(1, 100)).base_offset == 2
    log.close()


def test_tombstone_chain_over_several_passes(tmp_path):
    log = Log(tmp_path / "c-0", compacted_config(), now_ms=Clock())

    def step(pairs, now):
        log.append(keyed(pairs))
        log.roll()
        assert clean(log, now)
        return [(r.offset, r.key, r.value) for r in all_records(log)]

    assert step([(b"a", b"1"), (b"a", None)], T0) == [(1, b"a", None)]
    assert step([(b"b", b"1"), (b"b", None)], T0 + 2 * DAY) == [(3, b"b", None)]
    assert step([(b"c", None)], T0 + 4 * DAY) == [(4, b"c", None)]
    log.close()
