"""broker.storage.verify (behind `schemabus log verify`): every problem found, with its file,
position and offset, nothing written, and safe next to a log that is being appended to."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from broker.records import Record, encode_batch, iter_batches, parse_header
from broker.storage import Log, LogConfig
from broker.storage.verify import NoPartitions, partition_directories, verify_partition

CONFIG = LogConfig(segment_bytes=600, index_interval_bytes=100)


def make_batch(n: int = 3, ts: int = 1000) -> bytearray:
    return encode_batch([Record(i, ts + i, b"k%d" % i, b"value-%d" % i) for i in range(n)], base_offset=0)


def build(directory, batches: int = 25, close: bool = True) -> Log:
    log = Log(directory, CONFIG)
    for i in range(batches):
        log.append(make_batch(ts=1000 + 10 * i))
    if close:
        log.close()
    return log


def positions(path) -> list[int]:
    return [pos for pos, _ in iter_batches(path.read_bytes())]


def flip(path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x10
    path.write_bytes(data)


def fingerprint(directory) -> dict:
    return {p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(directory.iterdir())}


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def test_clean_log_is_ok_with_its_figures(data_dir):
    build(data_dir / "orders-0")
    report = verify_partition(data_dir / "orders-0", deep=True)
    assert report.ok, report.problems
    assert (report.topic, report.partition, report.clean_shutdown) == ("orders", 0, True)
    assert (report.batches, report.records, report.first_offset, report.last_offset) == (25, 75, 0, 74)
    assert report.segments == len(list((data_dir / "orders-0").glob("*.log"))) > 1
    assert report.bytes == sum(p.stat().st_size for p in (data_dir / "orders-0").glob("*.log"))


def test_every_bad_batch_is_reported_not_only_the_first(data_dir):
    directory = data_dir / "orders-0"
    build(directory)
    first, *_, last = sorted(directory.glob("*.log"))
    base = int(first.name[:20])
    p = positions(first)
    flip(first, p[1] + 70)
    flip(last, positions(last)[-1] + 70)
    before = fingerprint(directory)
    report = verify_partition(directory)
    assert fingerprint(directory) == before  # read-only
    assert [(pr.file, pr.position) for pr in report.problems] == [(str(first), p[1]), (str(last), positions(last)[-1])]
    assert report.problems[0].offset == base + 3 and "CRC mismatch" in report.problems[0].message
    assert str(report.problems[0]).startswith(f"{first} position {p[1]} offset {base + 3}: record batch CRC mismatch")


def test_torn_tail_offsets_going_back_and_bad_indexes(data_dir):
    directory = data_dir / "orders-0"
    build(directory)
    segments = sorted(directory.glob("*.log"))
    last = segments[-1]
    with open(last, "ab") as f:
        f.write(b"\x00\x00\x00\x00\x00\x00\x00\x99\x00\x00\x10\x00" + b"x" * 50)  # claims 4 KiB
    # an offset that goes back (baseOffset is not covered by the CRC)
    second = segments[1]
    p = positions(second)
    data = bytearray(second.read_bytes())
    moved = parse_header(data, p[2]).base_offset
    data[p[2]:p[2] + 8] = (0).to_bytes(8, "big")
    second.write_bytes(data)
    # an index entry pointing inside a batch, and a time index entry with a wrong timestamp
    first_index = segments[0].with_suffix(".index")
    entries = bytearray(first_index.read_bytes())
    assert len(entries) >= 8
    entries[4:8] = (int.from_bytes(entries[4:8], "big") + 5).to_bytes(4, "big")
    first_index.write_bytes(entries)
    first_time = segments[0].with_suffix(".timeindex")
    times = bytearray(first_time.read_bytes())
    times[0:8] = (int.from_bytes(times[0:8], "big") - 1).to_bytes(8, "big")
    first_time.write_bytes(times)

    report = verify_partition(directory)
    messages = {(os.path.basename(pr.file), pr.position): pr.message for pr in report.problems}
    assert "runs past the end of the file" in messages.pop((last.name, last.stat().st_size - 62))
    assert "does not follow offset" in messages.pop((second.name, p[2]))
    assert "inside a batch" in messages.pop((first_index.name, 0))
    assert "the batch's max timestamp is" in messages.pop((first_time.name, 0))
    # the moved batch's own index entries now disagree with it, and say so
    others = [pr for pr in report.problems if (os.path.basename(pr.file), pr.position) in messages]
    assert others and all(pr.offset == moved and pr.file.endswith(("index", "timeindex"))
                          and os.path.basename(pr.file)[:20] == second.name[:20] for pr in others), others


def test_missing_index_is_a_note_not_a_problem(data_dir):
    directory = data_dir / "orders-0"
    build(directory)
    sorted(directory.glob("*.index"))[0].unlink()
    report = verify_partition(directory)
    assert report.ok and any("missing" in note for note in report.notes)


def test_a_log_being_appended_to_verifies_clean(data_dir):
    """No clean-shutdown marker and a writer appending meanwhile: still no problem reported."""
    directory = data_dir / "orders-0"
    log = build(directory, 5, close=False)
    stop = threading.Event()

    def append():
        i = 0
        while not stop.is_set():
            log.append(make_batch(ts=5000 + i))
            i += 1

    writer = threading.Thread(target=append)
    writer.start()
    try:
        for _ in range(20):
            report = verify_partition(directory)
            assert report.ok, report.problems
            assert not report.clean_shutdown
    finally:
        stop.set()
        writer.join(10)
    log.close()


def test_partition_directories_filters_and_errors(data_dir, tmp_path):
    for name in ("orders-0", "orders-1", "orders-10", "my-topic-2-0"):
        build(data_dir / name, 1)
    (data_dir / ".topics").mkdir()
    names = [d.name for d in partition_directories(data_dir)]
    assert names == ["my-topic-2-0", "orders-0", "orders-1", "orders-10"]
    assert [d.name for d in partition_directories(data_dir, "orders", 10)] == ["orders-10"]
    assert [d.name for d in partition_directories(data_dir, "my-topic-2")] == ["my-topic-2-0"]
    with pytest.raises(NoPartitions, match="no topic 'nope'"):
        partition_directories(data_dir, "nope")
    with pytest.raises(NoPartitions, match="not a directory"):
        partition_directories(tmp_path / "missing")
    # `schemabus up`'s data dir holds the broker's in broker/
    up = tmp_path / "up"
    build(up / "broker" / "t-0", 1)
    assert [d.name for d in partition_directories(up)] == ["t-0"]
