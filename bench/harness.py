"""The one harness every broker comparison in bench/ runs through.

What it guarantees, so that a figure means the same thing in every table:
- Apache Kafka runs with the JVM flags of its own start scripts (tests/interop/apache_kafka.py);
  both brokers run side by side for the whole invocation, each on its own data directory.
- Each broker is warmed up by a produce/consume pass that is not measured (Kafka's JIT,
  our allocator and page cache) before its first measured case.
- Runs alternate A B B A A B ..., so neither broker always goes first or last; each case runs
  at least 3 times per broker.
- Each run's topics are deleted before the next run starts.
- Every figure is reported as the median and the spread (min-max) over the runs, and the ratio
  ours/peer as the median and spread of the paired runs' ratios (run i against run i).
- Broker CPU seconds come from /proc (the broker process and its children, e.g. our
  compaction worker), so they do not depend on the client.

    from bench.harness import Comparison, SchemabusBroker, KafkaBroker
    with Comparison([SchemabusBroker(), KafkaBroker()], repeats=3) as cmp:
        cmp.run("1 KiB", my_case)           # my_case(run: Run) -> {"metric": value}
        cmp.print_markdown()
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of `pid` and its live descendants, read from /proc/<pid>/stat."""
    if pid is None:
        return float("nan")
    pids = [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a child that ended between listing and reading
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    return total


def rss_bytes(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


# -- brokers ----------------------------------------------------------------------------------


class SchemabusBroker:
    """Our broker as a child process (the test suite's BrokerProcess), logging at WARNING
    as the Kafka peer does."""

    name = "schemabus"

    def __init__(self, config: dict[str, str] | None = None, extra_listeners: dict[str, int] | None = None):
        """`extra_listeners`: {name: port} next to the PLAINTEXT one, as ApacheKafka takes them."""
        self.config = config or {}
        self.extra_listeners = dict(extra_listeners or {})
        self.process = None

    @property
    def bootstrap(self) -> str:
        return self.process.bootstrap

    @property
    def pid(self) -> int | None:
        return self.process.proc.pid if self.process and self.process.proc else None

    def start(self, work_dir: Path, timeout: float = 600.0) -> "SchemabusBroker":
        from tests.conftest import BrokerProcess

        class QuietBroker(BrokerProcess):
            def command(self) -> list[str]:
                cmd = super().command()
                return cmd[:3] + ["--log-level", "WARNING"] + cmd[3:]

        Path(work_dir).mkdir(parents=True, exist_ok=True)
        port = free_port()
        config = dict(self.config)
        if self.extra_listeners:
            config["listeners"] = f"PLAINTEXT://127.0.0.1:{port}" + "".join(
                f",{name}://127.0.0.1:{p}" for name, p in self.extra_listeners.items())
        self.process = QuietBroker(Path(work_dir) / "data", config, port=port).start(timeout)
        return self

    def start_again(self, timeout: float = 600.0) -> "SchemabusBroker":
        """Start after stop() on the same port and data directory."""
        self.process.start(timeout)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.process is not None:
            self.process.kill() if kill else self.process.stop(120)


class KafkaBroker:
    """Apache Kafka 4.x (single KRaft node, the start scripts' JVM flags) as the peer."""

    name = "kafka"

    def __init__(self, config: dict[str, str] | None = None, extra_listeners: dict[str, int] | None = None):
        self.config = config or {}
        self.extra_listeners = dict(extra_listeners or {})
        self.kafka = None

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def pid(self) -> int | None:
        return self.kafka.pid if self.kafka else None

    def start(self, work_dir: Path, timeout: float = 300.0) -> "KafkaBroker":
        from tests.interop.apache_kafka import ApacheKafka

        if self.kafka is None:
            self.kafka = ApacheKafka(Path(work_dir), extra=self.config, extra_listeners=self.extra_listeners)
        self.kafka.start(timeout)
        return self

    def start_again(self, timeout: float = 600.0) -> "KafkaBroker":
        """Start after stop() on the same port and data directory."""
        self.kafka.start(timeout)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.kafka is None or self.kafka.proc is None:
            return
        if kill:
            self.kafka.proc.kill()
            self.kafka.proc.wait()
            self.kafka.proc = None
        else:
            self.kafka.stop()


# -- topics and the warm-up pass --------------------------------------------------------------


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topics(bootstrap: str, topics: list[NewTopic], timeout: float = 120.0) -> None:
    client = admin(bootstrap)  # held until the futures complete: a collected client fails them
    for chunk in range(0, len(topics), 1000):
        for future in client.create_topics(topics[chunk:chunk + 1000], operation_timeout=timeout).values():
            future.result(timeout)


def delete_topics(bootstrap: str, names: list[str], timeout: float = 120.0) -> None:
    """Delete and wait until Metadata no longer lists them."""
    if not names:
        return
    client = admin(bootstrap)
    for chunk in range(0, len(names), 1000):
        for future in client.delete_topics(names[chunk:chunk + 1000], operation_timeout=timeout).values():
            future.result(timeout)
    deadline = time.monotonic() + timeout
    remaining = set(names)
    while remaining and time.monotonic() < deadline:
        remaining &= set(client.list_topics(timeout=30).topics)
        if remaining:
            time.sleep(0.2)
    if remaining:
        raise RuntimeError(f"{len(remaining)} topics still listed {timeout}s after deletion")


def produce_bytes(bootstrap: str, topic: str, value_size: int, total_bytes: int, partitions: int,
                  extra: dict | None = None) -> tuple[int, float]:
    """librdkafka producer, acks=all, records round-robin over `partitions`; returns (records, seconds)."""
    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "batch.size": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576, "queue.buffering.max.messages": 2_000_000,
        **(extra or {}),
    })
    value = os.urandom(value_size)
    count = total_bytes // value_size
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.001)
    remaining = producer.flush(600)
    elapsed = time.perf_counter() - start
    if remaining:
        raise RuntimeError(f"{remaining} records not delivered")
    return count, elapsed


def consume_all(bootstrap: str, topic: str, partitions: list[int], expected: int, timeout: float = 600,
                ready=None, go=None, extra: dict | None = None) -> int:
    """Read `expected` records from offset 0 of `partitions` (assign mode); returns value bytes.

    With `ready`/`go` events, the consumer is created, then waits for `go` before assigning,
    so a caller can start its clock when every consumer process is up."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                         "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760,
                         "fetch.wait.max.ms": 100, "queued.max.messages.kbytes": 262144, **(extra or {})})
    if ready is not None:
        ready.set()
        go.wait(120)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    got = nbytes = 0
    deadline = time.monotonic() + timeout
    while got < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"consumed {got} of {expected} records from {topic} in {timeout}s")
        for m in consumer.consume(10000, 1.0):
            if m.error() is None:
                got += 1
                nbytes += len(m.value())
    consumer.close()
    return nbytes


def warm_up(broker, mib: int = 128) -> None:
    """One unmeasured produce/consume pass of 1 KiB values over 6 partitions, then delete it."""
    topic = f"warm-up-{uuid.uuid4().hex[:8]}"
    create_topics(broker.bootstrap, [NewTopic(topic, 6, 1)])
    count, _ = produce_bytes(broker.bootstrap, topic, 1024, mib << 20, 6)
    consume_all(broker.bootstrap, topic, list(range(6)), count)
    delete_topics(broker.bootstrap, [topic])


# -- the comparison ---------------------------------------------------------------------------


@dataclass
class Run:
    """What a case gets: the broker under test and a way to make topics the harness deletes."""

    broker: object
    topics: list[str] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def pid(self) -> int:
        return self.broker.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.broker.pid)

    def new_topic(self, partitions: int, prefix: str = "bench", config: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        create_topics(self.bootstrap, [NewTopic(name, partitions, 1, config=config or {})])
        self.topics.append(name)
        return name

    def adopt_topics(self, names: list[str]) -> None:
        """Topics a case created itself (e.g. in bulk), to be deleted after the run."""
        self.topics.extend(names)


def alternating(names: list[str], repeats: int) -> list[str]:
    """A B B A A B ...: `repeats` rounds, every other round in reverse order."""
    order: list[str] = []
    for i in range(repeats):
        order += names if i % 2 == 0 else names[::-1]
    return order


def summarize(values: list[float]) -> tuple[float, float, float]:
    finite = [v for v in values if v == v]
    if not finite:
        return float("nan"), float("nan"), float("nan")
    return statistics.median(finite), min(finite), max(finite)


class Comparison:
    """Brokers started once, warmed up, then each case run in alternating order."""

    def __init__(self, brokers: list, repeats: int = 3, warm_up_mib: int = 128, work_dir: str | None = None):
        if repeats < 1:
            raise ValueError("repeats must be >= 1")
        self.brokers = {b.name: b for b in brokers}
        self.repeats = repeats
        self.warm_up_mib = warm_up_mib
        self._tmp = Path(work_dir or tempfile.mkdtemp(prefix="schemabus-bench-"))
        self._own_tmp = work_dir is None
        # case -> metric -> broker -> [value per run]
        self.results: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.failures: dict[tuple[str, str], str] = {}

    def __enter__(self) -> "Comparison":
        for name, broker in self.brokers.items():
            broker.start(self._tmp / name)
            if self.warm_up_mib:
                warm_up(broker, self.warm_up_mib)
        return self

    def __exit__(self, *exc) -> None:
        for broker in self.brokers.values():
            broker.stop()
        if self._own_tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def work_dir(self, name: str) -> Path:
        return self._tmp / name

    def run(self, case: str, fn: Callable[[Run], dict[str, float]], repeats: int | None = None) -> None:
        """Run `fn` for each broker in alternating order; each run's topics deleted afterwards.

        A run that raises is reported as failed (the table says so) and that broker's later
        runs of the same case are skipped; a broker that died is skipped from then on."""
        figures = self.results.setdefault(case, {})
        for name in alternating(list(self.brokers), repeats or self.repeats):
            broker = self.brokers[name]
            if (case, name) in self.failures:
                continue
            if broker.pid is None or not psutil.pid_exists(broker.pid):
                self.failures[(case, name)] = "broker not running (it failed an earlier case)"
                continue
            run = Run(broker)
            try:
                measured = fn(run)
                delete_topics(run.bootstrap, run.topics)
            except Exception as exc:  # noqa: BLE001 - a peer that cannot cope is a result too
                self.failures[(case, name)] = _short_error(exc)
                print(f"  {case} {name}: FAILED {self.failures[(case, name)]}", flush=True)
                continue
            for metric, value in measured.items():
                figures.setdefault(metric, {}).setdefault(name, []).append(value)
            print(f"  {case} {name}: " + ", ".join(f"{k}={fmt(v)}" for k, v in measured.items()), flush=True)

    def rows(self) -> list[dict]:
        names = list(self.brokers)
        out = []
        for case, metrics in self.results.items():
            for metric, per_broker in metrics.items():
                row = {"case": case, "metric": metric}
                for name in names:
                    row[name] = summarize(per_broker.get(name, []))
                if len(names) == 2:
                    ours, peer = (per_broker.get(n, []) for n in names)
                    row["ratio"] = summarize([a / b for a, b in zip(ours, peer) if b])
                out.append(row)
        return out

    def print_markdown(self, title: str = "") -> None:
        names = list(self.brokers)
        if title:
            print(f"\n{title}\n")
        header = ["case", "metric"] + [f"{n} median (min-max)" for n in names]
        if len(names) == 2:
            header.append(f"{names[0]}/{names[1]} median (min-max)")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * 2 + "---:|" * (len(header) - 2))
        for row in self.rows():
            cells = [row["case"], row["metric"]] + [
                spread(row[n]) if row[n][0] == row[n][0] or (row["case"], n) not in self.failures
                else "failed" for n in names]
            if "ratio" in row:
                cells.append(spread(row["ratio"], ratio=True))
            print("| " + " | ".join(cells) + " |")
        for (case, name), error in self.failures.items():
            print(f"\n{name} failed {case}: {error}")
        sys.stdout.flush()

    def save(self, path: str) -> None:
        failures = {f"{case} / {name}": error for (case, name), error in self.failures.items()}
        Path(path).write_text(json.dumps({"repeats": self.repeats, "results": self.results,
                                          "failures": failures}, indent=1))


def _short_error(exc: BaseException) -> str:
    """The error's type and the end of its message (where a process's last log lines are)."""
    lines = [line for line in str(exc).splitlines() if line.strip() and not line.startswith("SLF4J")]
    text = " / ".join(lines)
    return f"{type(exc).__name__}: {text if len(text) <= 600 else text[:150] + ' ... ' + text[-450:]}"


def fmt(v: float, ratio: bool = False) -> str:
    if v != v:
        return "n/a"
    if ratio:  # two decimals, or two significant digits for ratios far below 1
        return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.2g}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"


def spread(stats: tuple[float, float, float], ratio: bool = False) -> str:
    median, low, high = stats
    if median != median:
        return "n/a"
    return f"{fmt(median, ratio)} ({fmt(low, ratio)}-{fmt(high, ratio)})"
