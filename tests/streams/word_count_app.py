"""The word-count example as a real process, its input, and its output read back."""

from __future__ import annotations

import collections
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Producer

from tests.conftest import REPO, ServiceProcess
from tests.streams.kafka_topics import read_messages

SESSION_TIMEOUT_MS = 10_000
VOCABULARY = [f"word{i}" for i in range(200)] + ["The", "the", "KAFKA", "kafka", "Streams"]


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
    """word -> the list of counts written for it, in order."""
    counts: dict[str, list[int]] = collections.defaultdict(list)
    for msg in read_messages(bootstrap, topic, read_committed, timeout):
        counts[msg.key().decode()].append(struct.unpack(">q", msg.value())[0])
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


class WordCountApp(ServiceProcess):
    """examples/word_count.py in a subprocess, as the README runs it (stop: SIGTERM, kill: -9)."""

    def __init__(self, bootstrap: str, input_topic: str, output_topic: str, application_id: str, state_dir: Path,
                 exactly_once: bool = False, commit_interval_ms: int | None = None, application_server: str = "",
                 standby_replicas: int = 0):
        self.args = [sys.executable, str(REPO / "examples" / "word_count.py"), "--bootstrap-server", bootstrap,
                     "--input", input_topic, "--output", output_topic, "--application-id", application_id,
                     "--state-dir", str(state_dir)]
        if exactly_once:
            self.args.append("--exactly-once")
        if commit_interval_ms is not None:
            self.args += ["--commit-interval-ms", str(commit_interval_ms)]
        if application_server:
            self.args += ["--application-server", application_server]
        if standby_replicas:
            self.args += ["--standby-replicas", str(standby_replicas)]
        # A killed instance leaves the group when its session lapses: 10 s rather than the
        # default 45 s, which every kill test would otherwise wait out.
        self.args += ["--config", f"consumer.session.timeout.ms={SESSION_TIMEOUT_MS}"]
        self.log_path = Path(state_dir).with_suffix(".log")

    def start(self) -> "WordCountApp":
        """Started, not waited for: the application has no "ready" line (see wait_running)."""
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_running(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "to RUNNING" in self.log_text():
                return
            if not self.alive():
                raise AssertionError(f"the application exited; log:\n{self.log_text()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"not RUNNING within {timeout:.0f} s; log:\n{self.log_text()[-4000:]}")


def start_all(apps: list[WordCountApp]) -> None:
    """Start every instance, then wait until each is RUNNING (they join one group together)."""
    for app in apps:
        app.start()
    for app in apps:
        app.wait_running()
