"""kill -9 loops under acks=all load: an idempotent confluent-kafka producer writes to three
topics while the broker is killed and restarted on the same port, again and again; at the
end everything is consumed and every acknowledged record is accounted for (lost,
duplicated, reordered).

The topics make the kills land in the middle of background work:
  events     3 partitions, 64 KiB segments: plain appends and segment rolls
  compacted  cleanup.policy=compact, 16 KiB segments, dirty ratio 0.01, cleaner backoff
             50 ms: compaction passes run back to back; some kills wait for a pass to be
             under way (its `.cleaned` output on disk) and land in it
  retained   16 KiB segments, retention.bytes 64 KiB and retention.ms 3 s, checked every
             100 ms: segments are deleted all the time

Each kill also checks that nothing of the broker outlives it: every process the broker had
started (the compaction worker) is gone within a bounded time, nothing listens on the port,
and the restart on the same port succeeds.

The same loop runs against Apache Kafka (its own single-node KRaft process, killed and
restarted the same way) in the long mode (SCHEMABUS_FAULTS_LONG=1).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from tests.conftest import BrokerProcess, unique_topic, wait_until
from tests.faults.helpers import (
    LONG, PrivateKafka, create_topic, descendants, gone, log_tail, port_listeners, read_to_end, record_figures,
    scaled,
)

CYCLES = scaled(6, 40)
KAFKA_CYCLES = 12
KEYS = 300  # distinct keys per partition of the compacted topic
CHILD_EXIT_TIMEOUT = 10.0  # the worker's parent-death signal is immediate; its watchdog polls every 0.5 s
VALUE_PAD = b"." * 80

BROKER_CONFIGS = {"log.cleaner.backoff.ms": "50", "log.retention.check.interval.ms": "100"}


@dataclass(frozen=True)
class TopicPlan:
    role: str
    partitions: int
    config: dict


PLANS = [
    TopicPlan("events", 3, {"segment.bytes": "65536"}),
    TopicPlan("compacted", 2, {"cleanup.policy": "compact", "segment.bytes": "16384",
                               "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0",
                               "min.compaction.lag.ms": "0"}),
    TopicPlan("retained", 2, {"segment.bytes": "16384", "retention.bytes": "65536", "retention.ms": "3000"}),
]


# -- the brokers under test ------------------------------------------------------------------

class SchemabusTarget:
    name = "schemabus"

    def __init__(self, data_dir: Path):
        self.broker = BrokerProcess(data_dir, BROKER_CONFIGS)

    def start(self) -> None:
        self.broker.start()

    def kill(self) -> None:
        self.broker.kill()

    def stop(self) -> None:
        self.broker.stop()

    @property
    def pid(self) -> int:
        return self.broker.proc.pid

    @property
    def port(self) -> int:
        return self.broker.port

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def data_dir(self) -> Path:
        return self.broker.data_dir

    def log_text(self) -> str:
        return self.broker.log_text()

    @property
    def log_path(self) -> Path:
        return self.broker.log_path


# -- load ------------------------------------------------------------------------------------

@dataclass
class Load:
    """The producer thread and what it was told about each record."""

    bootstrap: str
    topics: dict[str, TopicPlan]  # topic name -> plan
    acked: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    failed: list = field(default_factory=list)
    sent: int = 0
    flush_timeout: float = 300.0  # cut short when the test has already failed
    stop: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        for name, plan in self.topics.items():
            for p in range(plan.partitions):
                self.acked[(name, p)] = []
        self.thread = threading.Thread(target=self._run, name="kill-loop-producer", daemon=True)

    @property
    def acked_count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.acked.values())

    def _on_delivery(self, err, msg) -> None:
        seq = int(msg.value().split(b":")[1])
        with self.lock:
            if err is None:
                self.acked[(msg.topic(), msg.partition())].append(seq)
            else:
                self.failed.append((msg.topic(), msg.partition(), seq, str(err)))

    def _run(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all",
                             "linger.ms": 5, "message.timeout.ms": 300_000, "reconnect.backoff.ms": 50,
                             "reconnect.backoff.max.ms": 500, "retry.backoff.ms": 50,
                             "retry.backoff.max.ms": 500, "socket.connection.setup.timeout.ms": 5000})
        slots = [(name, p) for name, plan in self.topics.items() for p in range(plan.partitions)]
        next_seq = {slot: 0 for slot in slots}
        i = 0
        try:
            while not self.stop.is_set():
                name, p = slots[i % len(slots)]
                seq = next_seq[(name, p)]
                key = b"key-%04d" % (seq % KEYS)
                try:
                    producer.produce(name, key=key, value=b"%d:%d:" % (p, seq) + VALUE_PAD, partition=p,
                                     on_delivery=self._on_delivery)
                except BufferError:
                    producer.poll(0.05)
                    continue
                next_seq[(name, p)] = seq + 1
                self.sent += 1
                i += 1
                producer.poll(0)
                if i % 100 == 0:
                    time.sleep(0.02)  # paced: ~4-5k records/s, so kills land mid-stream
            remaining = producer.flush(self.flush_timeout)
            if remaining:
                self.failed.append(("flush", -1, remaining, f"records undelivered after {self.flush_timeout} s"))
        finally:
            self.finished.set()


def _account(plan: TopicPlan, acked: list[int], served: list[int]) -> dict:
    """Lost / duplicated / reordered acknowledged records of one partition."""
    duplicated = len(served) - len(set(served))
    reordered = sum(1 for a, b in zip(served, served[1:]) if b <= a)
    present = set(served)
    if plan.role == "compacted":
        latest = {}
        for seq in acked:
            latest[seq % KEYS] = max(seq, latest.get(seq % KEYS, -1))
        lost = sum(1 for seq in latest.values() if seq not in present)
    elif plan.role == "retained":
        first = min(served) if served else 0
        lost = sum(1 for seq in acked if seq >= first and seq not in present)
    else:
        lost = sum(1 for seq in acked if seq not in present)
    return {"lost": lost, "duplicated": duplicated, "reordered": reordered,
            "unacked_present": len(present - set(acked))}


def _for_kafka(config: dict) -> dict:
    """Kafka 4 refuses segment.bytes below 1 MiB: bigger segments, rolled every second
    (segment.ms) instead, so compaction and retention still have closed segments to work on."""
    out = dict(config)
    if "segment.bytes" in out:
        out["segment.bytes"] = str(max(int(out["segment.bytes"]), 1 << 20))
        out["segment.ms"] = "1000"
    if "retention.bytes" in out:
        out["retention.bytes"] = str(max(int(out["retention.bytes"]), 2 << 20))
    return out


def _leftovers_of_compaction(data_dir: Path, topic: str) -> tuple[bool, bool]:
    """(a pass's .cleaned output on disk, a swap manifest on disk) in the compacted topic."""
    cleaned = swap = False
    for d in data_dir.glob(f"{topic}-*"):
        cleaned = cleaned or any(d.glob("*.cleaned"))
        swap = swap or (d / "cleaner-swap.json").exists()
    return cleaned, swap


def run_kill_loop(target, cycles: int, seed: int) -> dict:
    rng = random.Random(seed)
    target.start()
    names = {plan.role: unique_topic(f"kill-{plan.role}") for plan in PLANS}
    for plan in PLANS:
        config = dict(plan.config) if target.name == "schemabus" else _for_kafka(plan.config)
        create_topic(target.bootstrap, names[plan.role], plan.partitions, config)
    load = Load(target.bootstrap, {names[p.role]: p for p in PLANS})
    load.thread.start()
    restarts: list[float] = []
    children_seen = 0
    kills_mid_compaction = kills_mid_swap = 0
    try:
        for cycle in range(cycles):
            floor = load.acked_count
            wait_until(lambda: load.acked_count > floor + 2000 or load.failed, 120,
                       f"cycle {cycle}: the producer made no progress after the restart")
            assert not load.failed, f"deliveries failed: {load.failed[:5]}"
            mode = ("random", "mid-compaction")[cycle % 2]
            if mode == "mid-compaction":
                # Kill as soon as a compaction pass has output on disk (bounded: else any time).
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not _leftovers_of_compaction(
                        target.data_dir, names["compacted"])[0]:
                    time.sleep(0.002)
            else:
                time.sleep(rng.uniform(0.05, 1.0))

            children = descendants(target.pid)
            children_seen = max(children_seen, len(children))
            target.kill()
            cleaned, swap = _leftovers_of_compaction(target.data_dir, names["compacted"])
            kills_mid_compaction += cleaned
            kills_mid_swap += swap

            try:
                wait_until(lambda: all(gone(c) for c in children), CHILD_EXIT_TIMEOUT,
                           f"cycle {cycle}: processes of the killed broker still run")
            except AssertionError:
                survivors = [c for c in children if not gone(c)]
                described = [(c.pid, c.cmdline()[-6:]) for c in survivors]
                for c in survivors:
                    c.kill()  # ours (the broker's children): do not leave them behind
                raise AssertionError(f"cycle {cycle}: {len(survivors)} process(es) of the killed broker still "
                                     f"ran {CHILD_EXIT_TIMEOUT}s after kill -9: {described}") from None
            listeners = port_listeners(target.port)
            assert not listeners, f"cycle {cycle}: port {target.port} still has listeners {listeners} after kill -9"

            started = time.monotonic()
            target.start()  # same port, same data: raises if it cannot bind or does not come up
            restarts.append(time.monotonic() - started)
        # The last round of load after the last restart.
        floor = load.acked_count
        wait_until(lambda: load.acked_count > floor + 2000 or load.failed, 120, "progress after the last restart")
    except BaseException:
        load.flush_timeout = 5.0
        raise
    finally:
        load.stop.set()
        load.thread.join(load.flush_timeout + 30)
    assert load.finished.is_set(), "the producer did not finish"
    assert not load.failed, f"{len(load.failed)} deliveries failed, e.g. {load.failed[:5]}"

    # Read the retained topic whole: no more deletions while it is read.
    admin = AdminClient({"bootstrap.servers": target.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, names["retained"], incremental_configs=[
        ConfigEntry("retention.ms", "-1", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.bytes", "-1", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result(30)
    time.sleep(0.5)  # let a retention check that was already running finish

    totals = {"lost": 0, "duplicated": 0, "reordered": 0, "unacked_present": 0}
    per_topic = {}
    retained_from = []
    for plan in PLANS:
        name = names[plan.role]
        got, errors = read_to_end(target.bootstrap, name, plan.partitions, timeout=180)
        assert not errors, f"{plan.role}: reading back failed: {errors}"
        for p in range(plan.partitions):
            served = [int(v.split(b":")[1]) for _, _, v in got[p]]
            counts = _account(plan, load.acked[(name, p)], served)
            for k, v in counts.items():
                totals[k] += v
            per_topic[f"{plan.role}-{p}"] = counts
            if plan.role == "retained":
                retained_from.append(min(served) if served else -1)
    log_text = target.log_text()
    figures = {
        "cycles": cycles, "acked": load.acked_count, **totals,
        "restart_median_s": round(statistics.median(restarts), 2) if restarts else None,
        "restart_max_s": round(max(restarts), 2) if restarts else None,
        "kills_mid_compaction": kills_mid_compaction, "kills_mid_swap": kills_mid_swap,
        "max_children": children_seen,
        "compactions_logged": log_text.count("compacted "),
        "retention_deletions_logged": log_text.count("retention deleted"),
        "retained_log_start_seq": min(retained_from) if retained_from else None,
    }
    record_figures("kill-9 loop", target.name, **figures)
    bad = {k: v for k, v in per_topic.items() if v["lost"] or v["duplicated"] or v["reordered"]}
    assert not bad, f"acknowledged records lost/duplicated/reordered: {bad}; figures {figures}"
    return figures


@pytest.mark.slow
def test_kill_9_loop_under_load_schemabus(tmp_path):
    target = SchemabusTarget(tmp_path / "data")
    try:
        figures = run_kill_loop(target, CYCLES, seed=1313)
    finally:
        target.stop()
    assert figures["max_children"] >= 1, (
        "no compaction worker was ever running at a kill: the child-process check was vacuous")
    assert figures["compactions_logged"] > 0, "the cleaner never compacted the compacted topic"
    assert figures["retained_log_start_seq"] > 0, "retention never deleted a segment of the retained topic"
    assert "Traceback" not in target.log_text(), f"traceback in the broker log:\n{log_tail(target.log_path)}"


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="long mode only (SCHEMABUS_FAULTS_LONG=1): Kafka restarts take ~10 s each")
def test_kill_9_loop_under_load_apache_kafka(tmp_path):
    target = PrivateKafka(tmp_path / "kafka", BROKER_CONFIGS)
    try:
        run_kill_loop(target, KAFKA_CYCLES, seed=1313)
    finally:
        target.stop()
