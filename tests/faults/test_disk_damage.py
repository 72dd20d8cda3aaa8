"""On-disk damage kinds: the broker is stopped (cleanly, or with kill -9), one kind of damage
is done to a partition's files, and the broker is started again.

Expected of every case: the broker starts; a consumer with check.crcs=true reads every
intact record that precedes the damage (exactly those, in order) and reaches the end of the
partition without an error, so no corrupt batch is ever served; the log stays appendable at
the right offset; and the broker's log says what it did about the damage.

The damage kinds follow what broker/storage keeps in a partition directory:
`<base>.log` / `.index` / `.timeindex` segments, `<offset>.snapshot` producer state,
`log-start-offset`, `cleaner-offset-checkpoint`, `cleaner-swap.json`, `clean-shutdown`, and
what a crash or a disk leaves behind (torn and zero-filled tails, empty files, strays).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from confluent_kafka import Producer

from broker import records
from tests.conftest import BrokerProcess, unique_topic, wait_until
from tests.faults.helpers import create_topic, log_tail, read_to_end, record_figures

RECORDS = 400
SEGMENT_BYTES = 4096


@dataclass
class Batch:
    path: Path
    position: int
    size: int
    base_offset: int
    values: list[bytes]


def segment_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if re.fullmatch(r"\d{20}\.log", p.name))


def batches(directory: Path) -> list[Batch]:
    """Every batch of every segment, in offset order, read with the broker's own parser."""
    out = []
    for path in segment_files(directory):
        data = path.read_bytes()
        for pos, header in records.iter_batches(data):
            values = [r.value for r in records.decode_records(data, pos)] if not header.is_control else []
            out.append(Batch(path, pos, header.size, header.base_offset, values))
    return out


def values_of(batch_list: list[Batch]) -> list[bytes]:
    return [v for b in batch_list for v in b.values]


# -- damage kinds -------------------------------------------------------------------------
# Each takes the partition directory and its batches (as written), damages the files and
# returns the batches that must still be served (every batch before the damage).

def _last_in_active(bs: list[Batch]) -> Batch:
    active = segment_files(bs[0].path.parent)[-1]
    in_active = [b for b in bs if b.path == active]
    assert len(in_active) >= 2, "the setup must leave several batches in the active segment"
    return in_active[-1]


def truncate_active_mid_batch(d: Path, bs: list[Batch]) -> list[Batch]:
    last = _last_in_active(bs)
    os.truncate(last.path, last.position + last.size // 2)
    return bs[:-1]


def flip_bytes_in_last_batch(d: Path, bs: list[Batch]) -> list[Batch]:
    last = _last_in_active(bs)
    with open(last.path, "r+b") as f:
        # Inside the records (past the 61-byte batch header): only the CRC can tell.
        f.seek(last.position + records.HEADER_SIZE + 3)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x5A]))
    return bs[:-1]


def flip_length_of_last_batch(d: Path, bs: list[Batch]) -> list[Batch]:
    last = _last_in_active(bs)
    with open(last.path, "r+b") as f:
        f.seek(last.position + 8)  # the batch length field
        f.write((1 << 30).to_bytes(4, "big"))
    return bs[:-1]


def zero_fill_tail(d: Path, bs: list[Batch]) -> list[Batch]:
    """Zeros past the last batch: what a crash leaves when the file size was updated but
    the data blocks were not written (or a preallocated tail)."""
    active = segment_files(d)[-1]
    with open(active, "ab") as f:
        f.write(bytes(8192))
    return bs


def zero_overwrite_last_batch(d: Path, bs: list[Batch]) -> list[Batch]:
    last = _last_in_active(bs)
    with open(last.path, "r+b") as f:
        f.seek(last.position)
        f.write(bytes(last.size))
    return bs[:-1]


def _index_files(d: Path, suffix: str) -> list[Path]:
    files = sorted(d.glob(f"*{suffix}"))
    assert files, f"no {suffix} files in {d}"
    return files


def delete_indexes(d: Path, bs: list[Batch]) -> list[Batch]:
    for p in _index_files(d, ".index") + _index_files(d, ".timeindex"):
        p.unlink()
    return bs


def empty_indexes(d: Path, bs: list[Batch]) -> list[Batch]:
    for p in _index_files(d, ".index") + _index_files(d, ".timeindex"):
        os.truncate(p, 0)
    return bs


def garbage_indexes(d: Path, bs: list[Batch]) -> list[Batch]:
    for p in _index_files(d, ".index"):
        p.write_bytes(b"".join((1000 - i).to_bytes(4, "big") + (99999 - i).to_bytes(4, "big") for i in range(16)))
    for p in _index_files(d, ".timeindex"):
        p.write_bytes(os.urandom(12 * 7))
    return bs


def truncate_indexes(d: Path, bs: list[Batch]) -> list[Batch]:
    """A torn last entry of the offset index; the time index cut to half its entries."""
    for p in _index_files(d, ".index"):
        if p.stat().st_size:
            os.truncate(p, p.stat().st_size - 3)
    for p in _index_files(d, ".timeindex"):
        os.truncate(p, (p.stat().st_size // 12 // 2) * 12)
    return bs


def index_pointing_elsewhere(d: Path, bs: list[Batch]) -> list[Batch]:
    """The offset index of the active segment: ascending, plausible, but its last entry
    points into the middle of a batch."""
    active = segment_files(d)[-1]
    index = active.with_suffix(".index")
    base = int(active.name[:20])
    in_active = [b for b in bs if b.path == active]
    target = in_active[len(in_active) // 2]
    index.write_bytes((target.base_offset - base).to_bytes(4, "big") + (target.position + 5).to_bytes(4, "big"))
    return bs


def garbage_log_start_offset(d: Path, bs: list[Batch]) -> list[Batch]:
    """Bit rot in the DeleteRecords checkpoint: not even UTF-8."""
    (d / "log-start-offset").write_bytes(b"\x00\xff\xfenot a number\n")
    return bs


def kafka_checkpoint_files(d: Path, bs: list[Batch]) -> list[Batch]:
    """Kafka's own per-partition files (a data dir copied around may carry them), garbage:
    unknown to us, so left alone."""
    (d / "leader-epoch-checkpoint").write_bytes(b"0\n3\nnot an epoch line\n\xff")
    (d / "partition.metadata").write_bytes(os.urandom(64))
    (d / "00000000000000000000.txnindex").write_bytes(os.urandom(40))
    return bs


def negative_log_start_offset(d: Path, bs: list[Batch]) -> list[Batch]:
    (d / "log-start-offset").write_text("-42\n")
    return bs


def corrupt_producer_snapshots(d: Path, bs: list[Batch]) -> list[Batch]:
    snaps = sorted(d.glob("*.snapshot"))
    assert snaps, "the setup must have written a producer snapshot"
    snaps[-1].write_bytes(b'{"producers": {"1": {"epoch": "zz"')  # torn JSON
    for older in snaps[:-1]:
        older.write_text(json.dumps({"producers": {"x": 1}, "ongoing": [], "aborted": {}}))  # wrong shape
    return bs


def snapshot_ahead_of_log(d: Path, bs: list[Batch]) -> list[Batch]:
    """A producer snapshot beyond the log end (the tail it described was lost)."""
    end = bs[-1].base_offset + len(bs[-1].values)
    (d / f"{end + 1000:020d}.snapshot").write_text(json.dumps(
        {"producers": {"7": {"epoch": 3, "last_timestamp": 1, "batches": [[0, 4, end + 990, end + 994]]}},
         "ongoing": {"7": end + 990}, "aborted": []}))
    return bs


def garbage_swap_manifest(d: Path, bs: list[Batch]) -> list[Batch]:
    (d / "cleaner-swap.json").write_bytes(b'{"old": [0], "new": [')
    return bs


def stale_cleaner_leftovers(d: Path, bs: list[Batch]) -> list[Batch]:
    """Output of a compaction that never committed: `.cleaned` files of garbage."""
    first = segment_files(d)[0]
    for suffix in (".log", ".index", ".timeindex"):
        (d / (first.name[:20] + suffix + ".cleaned")).write_bytes(os.urandom(300))
    return bs


def empty_segment_after_roll(d: Path, bs: list[Batch]) -> list[Batch]:
    """A crash right after a roll: an empty new active segment with empty indexes."""
    end = bs[-1].base_offset + len(bs[-1].values)
    for suffix in (".log", ".index", ".timeindex"):
        (d / f"{end:020d}{suffix}").write_bytes(b"")
    return bs


def stray_files(d: Path, bs: list[Batch]) -> list[Batch]:
    (d / "notes.txt").write_text("someone was here\n")
    (d / "123.log").write_bytes(os.urandom(100))  # not a 20-digit segment name
    (d / "00000000000000000000.log.bak").write_bytes(os.urandom(100))
    (d / ".nfs0000000000001234").write_bytes(b"")
    (d / "subdir").mkdir()
    (d / "subdir" / "x").write_text("x")
    return bs


def deleted_active_segment(d: Path, bs: list[Batch]) -> list[Batch]:
    """The active segment's .log is gone (its indexes stay): the log ends where the
    previous segment ends."""
    active = segment_files(d)[-1]
    active.unlink()
    return [b for b in bs if b.path != active]


@dataclass(frozen=True)
class Case:
    damage: Callable[[Path, list[Batch]], list[Batch]]
    clean: bool  # clean shutdown (SIGTERM) before the damage, else kill -9
    logged: str | None  # regex the broker log must match after the start; None: nothing to say


_DROPPED = r"dropped \d+ bytes|truncat"
CASES = {
    "truncate-active-mid-batch-unclean": Case(truncate_active_mid_batch, False, _DROPPED),
    "truncate-active-mid-batch-clean": Case(truncate_active_mid_batch, True, _DROPPED),
    "flip-bytes-last-batch-unclean": Case(flip_bytes_in_last_batch, False, _DROPPED),
    # Fails until start-up CRC-checks the active segment's tail after a clean shutdown too.
    "flip-bytes-last-batch-clean": Case(flip_bytes_in_last_batch, True, _DROPPED),
    "flip-length-last-batch-clean": Case(flip_length_of_last_batch, True, _DROPPED),
    "zero-filled-tail-unclean": Case(zero_fill_tail, False, _DROPPED),
    "zero-filled-tail-clean": Case(zero_fill_tail, True, _DROPPED),
    "zeroed-last-batch-unclean": Case(zero_overwrite_last_batch, False, _DROPPED),
    "zeroed-last-batch-clean": Case(zero_overwrite_last_batch, True, _DROPPED),
    "deleted-indexes": Case(delete_indexes, True, r"index"),
    "empty-indexes": Case(empty_indexes, True, r"index"),
    "garbage-indexes": Case(garbage_indexes, True, r"rebuilding indexes|index"),
    "truncated-indexes": Case(truncate_indexes, True, r"rebuilding indexes|index"),
    "index-points-mid-batch": Case(index_pointing_elsewhere, True, r"rebuilding indexes|index"),
    "garbage-log-start-offset": Case(garbage_log_start_offset, True, r"log-start-offset"),
    "kafka-checkpoint-files": Case(kafka_checkpoint_files, True, None),
    "negative-log-start-offset": Case(negative_log_start_offset, True, r"log-start-offset"),
    "corrupt-producer-snapshots": Case(corrupt_producer_snapshots, True, r"snapshot"),
    "producer-snapshot-ahead-of-log": Case(snapshot_ahead_of_log, False, r"snapshot"),
    "garbage-cleaner-swap-manifest": Case(garbage_swap_manifest, True, r"cleaner-swap|swap"),
    "stale-cleaner-leftovers": Case(stale_cleaner_leftovers, False, None),
    "empty-segment-after-roll": Case(empty_segment_after_roll, False, None),
    "stray-files": Case(stray_files, True, None),
    "deleted-active-segment": Case(deleted_active_segment, True, r"\.log|segment"),
}

# The data is handled, but nothing is logged about it yet: these cases xfail on the log
# line alone (every data assertion still applies). Remove a name once the broker logs it.
NOT_LOGGED_YET = {
    "deleted-indexes", "empty-indexes", "negative-log-start-offset",
    "corrupt-producer-snapshots", "producer-snapshot-ahead-of-log", "deleted-active-segment",
}


def _produce(bootstrap: str, topic: str, start: int, count: int) -> tuple[list[bytes], list[int]]:
    """Idempotent producer (so there is producer state to snapshot), a few records per batch.
    Returns the values and the offsets the broker acknowledged them at."""
    # A long linger and a flush every 5 records: batches of exactly 5, whatever the timing,
    # so the segments and indexes have the same layout every run.
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 1000})
    values = [b"rec-%05d-" % i + b"x" * 40 for i in range(start, start + count)]
    failures, offsets = [], {}

    def on_delivery(err, msg):
        if err is not None:
            failures.append(err)
        else:
            offsets[msg.value()] = msg.offset()

    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=0, on_delivery=on_delivery)
        if i % 5 == 4:
            assert p.flush(30) == 0
    assert p.flush(30) == 0 and not failures, failures
    return values, [offsets[v] for v in values]


BROKER_CONFIGS = {"log.retention.check.interval.ms": "200"}  # also snapshots producer state


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """One partition written once and stopped both ways, copied for every case:
    {clean: (data dir, topic, values written)}."""
    out = {}
    for clean in (True, False):
        base = tmp_path_factory.mktemp("damage-template")
        broker = BrokerProcess(base / "data", BROKER_CONFIGS).start()
        topic = unique_topic("damage")
        try:
            create_topic(broker.bootstrap, topic, 1, {"segment.bytes": str(SEGMENT_BYTES), "index.interval.bytes": "256"})
            written, _ = _produce(broker.bootstrap, topic, 0, RECORDS)
            directory = broker.data_dir / f"{topic}-0"
            wait_until(lambda: list(directory.glob("*.snapshot")), 10, "a producer snapshot was written")
        finally:
            if clean:
                assert broker.stop() == 0
            else:
                broker.kill()
        assert (directory / "clean-shutdown").exists() == clean
        assert values_of(batches(directory)) == written, "setup: the log does not hold what was produced"
        assert len(segment_files(directory)) >= 3, "setup: the partition must have several segments"
        assert all(p.stat().st_size >= 16 for p in directory.glob("*.index")), "setup: indexes must have entries"
        out[clean] = (broker.data_dir, topic, written)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_broker_survives_on_disk_damage(templates, tmp_path, name):
    case = CASES[name]
    template, topic, written = templates[case.clean]
    shutil.copytree(template, tmp_path / "data", symlinks=True)
    broker = BrokerProcess(tmp_path / "data", BROKER_CONFIGS)
    directory = broker.data_dir / f"{topic}-0"
    kept = case.damage(directory, batches(directory))
    expected = values_of(kept)

    try:
        broker.start()  # raises with the log tail if it does not come up
        # The log goes on at the offset after the last intact record...
        after, offsets = _produce(broker.bootstrap, topic, 10_000, 3)
        # ...and serves every intact record before the damage, then those: nothing else.
        got, errors = read_to_end(broker.bootstrap, topic, 1, timeout=30)
    finally:
        broker.stop()
    served = [v for _, _, v in got[0]]
    assert not errors, f"{name}: the consumer (check.crcs=true) got {errors}; broker log:\n{log_tail(broker.log_path)}"
    assert len(served) == len(set(served)), f"{name}: records served twice"
    assert served[:len(expected)] == expected, (
        f"{name}: served {len(served) - 3} records before the new ones, expected the {len(expected)} intact ones "
        f"before the damage; first difference at "
        f"{next((i for i, (a, b) in enumerate(zip(served, expected)) if a != b), min(len(served), len(expected)))}")
    assert served[len(expected):] == after, f"{name}: after the intact records: {served[len(expected):][:5]}"
    read_offsets = [o for o, _, _ in got[0]]
    assert read_offsets == sorted(read_offsets)
    next_offset = kept[-1].base_offset + len(kept[-1].values) if kept else 0
    assert offsets[0] == next_offset, f"{name}: appends resumed at offset {offsets[0]}, not {next_offset}"

    log_text = broker.log_text()
    assert "Traceback" not in log_text, f"{name}: traceback in the broker log:\n{log_text[-3000:]}"
    logged = case.logged is None or re.search(case.logged, log_text, re.I) is not None
    record_figures("disk-damage", "schemabus", case=name, intact_served=len(expected),
                   dropped_records=len(written) - len(expected), logged=logged)
    if not logged:
        message = f"{name}: the broker did not log what it did (expected /{case.logged}/); log:\n{log_text[-2000:]}"
        if name in NOT_LOGGED_YET:
            pytest.xfail(message)
        pytest.fail(message)


def test_compaction_after_garbage_cleaner_checkpoint(broker_factory):
    """A garbage cleaner-offset-checkpoint: the cleaner treats everything as dirty and goes
    on compacting; nothing intact is lost, the latest value of every key is served."""
    broker = broker_factory({"log.cleaner.backoff.ms": "100"})
    topic = unique_topic("damage-cleaner")
    create_topic(broker.bootstrap, topic, 1, {"cleanup.policy": "compact", "segment.bytes": "2048",
                                              "min.cleanable.dirty.ratio": "0.01"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 0})
    latest = {}
    for i in range(600):
        key = b"k%03d" % (i % 50)
        latest[key] = b"v%05d" % i
        p.produce(topic, key=key, value=latest[key], partition=0)
        if i % 10 == 9:
            assert p.flush(30) == 0
    assert p.flush(30) == 0
    directory = broker.data_dir / f"{topic}-0"
    wait_until(lambda: (directory / "cleaner-offset-checkpoint").exists(), 30, "a compaction pass ran")
    assert broker.stop() == 0
    (directory / "cleaner-offset-checkpoint").write_bytes(b"\xff\xfe garbage {")
    mark = len(broker.log_text())
    broker.start()
    # Two more rounds, so the next pass has something dirty to do.
    for i in range(600, 700):
        key = b"k%03d" % (i % 50)
        latest[key] = b"v%05d" % i
        p.produce(topic, key=key, value=latest[key], partition=0)
        if i % 10 == 9:
            p.flush(30)
    assert p.flush(30) == 0
    wait_until(lambda: "compacted" in broker.log_text()[mark:], 20, "the cleaner compacted again after the damage")
    got, errors = read_to_end(broker.bootstrap, topic, 1, timeout=30)
    assert not errors, errors
    seen = {}
    for _, k, v in got[0]:
        seen[k] = v
    assert seen == latest, "the latest value of some key is missing"
    assert "Traceback" not in broker.log_text()[mark:]


def test_unreadable_topic_metadata_keeps_the_partition_data(broker_factory):
    """Bit rot in `.topics/<name>.json`: the broker starts and says so, but must not take the
    partition directories it can no longer attribute for a deleted topic's and remove them."""
    broker = broker_factory()
    topic = unique_topic("damage-meta")
    create_topic(broker.bootstrap, topic, 2)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(20):
        p.produce(topic, value=b"%d" % i, partition=i % 2)
    assert p.flush(30) == 0
    assert broker.stop() == 0
    meta = broker.data_dir / ".topics" / f"{topic}.json"
    meta.write_bytes(meta.read_bytes()[:30] + b"\xff\x00garbage")
    mark = len(broker.log_text())
    broker.start()
    log_text = broker.log_text()[mark:]
    assert meta.name in log_text, f"the broker did not log the unreadable metadata file; log:\n{log_text[-2000:]}"
    kept = [p for p in (broker.data_dir / f"{topic}-{i}" for i in range(2)) if p.is_dir()]
    assert len(kept) == 2, f"the data of the topic with unreadable metadata was deleted; log:\n{log_text[-2000:]}"
