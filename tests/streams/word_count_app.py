"""The word-count example as a real process, its input, and its output read back."""

from __future__ import annotations

import collections
import random
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import REPO

VOCABULARY = [f"word{i}" for i in range(200)] + ["The", "the", "KAFKA", "kafka", "Streams"]


def create_topics(bootstrap: str, *topics: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: a dropped client fails its futures
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in topics]).values():
        future.result(30)


def produce_lines(bootstrap: str, topic: str, count: int, seed: int) -> collections.Counter:
    """`count` lines of 1-8 words each; the word counts they make, computed here independently."""
    rng = random.Random(seed)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    expected: collections.Counter = collections.Counter()
    for i in range(count):
        words = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, 8))]
        line = ("  " if i % 7 == 0 else "") + " \t".join(words)
        expected.update(w.lower() for w in words)
        producer.produce(topic, line.encode(), key=str(i).encode())
        if i % 5000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    return expected


def read_counts(bootstrap: str, topic: str, read_committed: bool = False, timeout: float = 10.0) -> dict:
    """word -> the list of counts written for it, in order (every partition to its end)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed" if read_committed else "read_uncommitted"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    counts: dict[str, list[int]] = collections.defaultdict(list)
    at_end: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < len(partitions) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                continue
            at_end.discard(msg.partition())
            counts[msg.key().decode()].append(struct.unpack(">q", msg.value())[0])
    finally:
        consumer.close()
    return dict(counts)


def latest(counts: dict) -> dict:
    return {word: values[-1] for word, values in counts.items()}


def wait_for_counts(bootstrap: str, topic: str, expected: dict, timeout: float, app=None,
                    read_committed: bool = False) -> dict:
    deadline = time.monotonic() + timeout
    counts: dict = {}
    while time.monotonic() < deadline:
        counts = read_counts(bootstrap, topic, read_committed)
        if latest(counts) == dict(expected):
            return counts
        if app is not None and not app.alive():
            raise AssertionError(f"the application exited ({app.proc.returncode}); log:\n{app.log_text()[-4000:]}")
        time.sleep(0.5)
    missing = {w: (c, latest(counts).get(w)) for w, c in expected.items() if latest(counts).get(w) != c}
    raise AssertionError(f"counts not reached within {timeout:.0f} s; (expected, seen) for {len(missing)} words, "
                         f"e.g. {dict(list(missing.items())[:5])}" + (f"\nlog:\n{app.log_text()[-3000:]}" if app else ""))


class WordCountApp:
    """examples/word_count.py in a subprocess, as the README runs it."""

    def __init__(self, bootstrap: str, input_topic: str, output_topic: str, application_id: str, state_dir: Path,
                 exactly_once: bool = False, commit_interval_ms: int | None = None):
        self.args = [sys.executable, str(REPO / "examples" / "word_count.py"), "--bootstrap-server", bootstrap,
                     "--input", input_topic, "--output", output_topic, "--application-id", application_id,
                     "--state-dir", str(state_dir)]
        if exactly_once:
            self.args.append("--exactly-once")
        if commit_interval_ms is not None:
            self.args += ["--commit-interval-ms", str(commit_interval_ms)]
        self.log_path = Path(state_dir).with_suffix(".log")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "WordCountApp":
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_running(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "to RUNNING" in self.log_text():
                return
            if not self.alive():
                raise AssertionError(f"the application exited; log:\n{self.log_text()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"not RUNNING within {timeout:.0f} s; log:\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text()
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            raise AssertionError(f"no clean exit within {timeout:.0f} s after SIGTERM; log:\n{self.log_text()[-3000:]}")
        finally:
            self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None
