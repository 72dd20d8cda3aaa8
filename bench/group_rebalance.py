"""Consumer groups: rebalance time of a 3-member group, and consume throughput through a
group versus assign mode. schemabus first, then Apache Kafka 4.x as the peer, same run.

    python bench/group_rebalance.py [--rounds 5] [--mib 256] [--no-kafka]

Rebalance time (confluent-kafka consumers, 6-partition topic, heartbeat.interval.ms=500,
median of --rounds rounds, each with a new group):
- join:   three members subscribe together -> every member has its two partitions;
- leave:  one member closes (LeaveGroup) -> the two others own all six partitions;
- rejoin: a third member subscribes to the stable pair -> two partitions each again.
Each with `group.initial.rebalance.delay.ms` = 0 and = 3000 (Kafka's default), on a broker
started with that setting.

Throughput: --mib of 16 KiB values in 6 partitions, read by one consumer in group mode
(subscribe, auto commit as configured by default) and in assign mode (explicit partitions
from offset 0); MB/s from subscribe/assign to the last record (so group mode pays for its
join), plus the broker's CPU-seconds per GB read (psutil, independent of the client).

Not a test: nothing here asserts timings. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from bench.broker_throughput import cpu_seconds, free_port, ratio_row  # noqa: E402

PARTITIONS = 6
VALUE_SIZE = 16384
HEARTBEAT_MS = 500
DELAYS = (0, 3000)


# -- brokers -------------------------------------------------------------------------------


class Schemabus:
    def __init__(self, data_dir: str, delay_ms: int):
        self.port = free_port()
        cmd = [sys.executable, "-m", "cli.main", "--log-level", "WARNING", "broker", "--data-dir", data_dir,
               "--listen", f"127.0.0.1:{self.port}", "--config", f"group.initial.rebalance.delay.ms={delay_ms}"]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
        for line in self.proc.stdout:
            if "ready" in line:
                break
        else:
            raise RuntimeError("schemabus did not start")

    bootstrap = property(lambda self: f"127.0.0.1:{self.port}")
    pid = property(lambda self: self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def start_kafka(work_dir: Path, delay_ms: int):
    from tests.interop.apache_kafka import ApacheKafka

    return ApacheKafka(work_dir, extra={"group.initial.rebalance.delay.ms": str(delay_ms)}).start()


def create_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result(30)


# -- rebalance time ---------------------------------------------------------------------------


class Member(threading.Thread):
    """A consumer polling in its own thread, noting when its assignment last changed."""

    def __init__(self, bootstrap: str, group: str, topic: str):
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                                  "heartbeat.interval.ms": HEARTBEAT_MS, "auto.offset.reset": "latest"})
        self.topic = topic
        self.size = 0
        self.changed_at = 0.0
        self.stopping = threading.Event()
        self.closed = threading.Event()

    def run(self) -> None:
        self.consumer.subscribe([self.topic])
        while not self.stopping.is_set():
            self.consumer.consume(100, 0.02)
            size = len(self.consumer.assignment())
            if size != self.size:
                self.size, self.changed_at = size, time.monotonic()
        self.consumer.close()
        self.closed.set()

    def leave(self) -> None:
        self.stopping.set()


def _settled(members: list[Member], size: int, since: float, timeout: float = 120.0) -> float:
    """Seconds from `since` until every member holds `size` partitions."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(m.size == size for m in members):
            return max(m.changed_at for m in members) - since
        time.sleep(0.005)
    raise RuntimeError(f"group did not settle on {size} partitions each: {[m.size for m in members]}")


def rebalance_round(bootstrap: str, topic: str) -> dict[str, float]:
    group = f"rebalance-{uuid.uuid4().hex[:8]}"
    members = [Member(bootstrap, group, topic) for _ in range(3)]
    try:
        start = time.monotonic()
        for m in members:
            m.start()
        join = _settled(members, 2, start)

        start = time.monotonic()
        members[0].leave()
        leave = _settled(members[1:], 3, start)
        members[0].closed.wait(30)

        newcomer = Member(bootstrap, group, topic)
        members.append(newcomer)
        start = time.monotonic()
        newcomer.start()
        rejoin = _settled(members[1:], 2, start)
        return {"join": join, "leave": leave, "rejoin": rejoin}
    finally:
        for m in members:
            m.leave()
        for m in members:
            m.closed.wait(30)


def measure_rebalances(bootstrap: str, rounds: int) -> dict[str, float]:
    topic = f"rebalance-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    results = [rebalance_round(bootstrap, topic) for _ in range(rounds)]
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


# -- throughput -------------------------------------------------------------------------------


def produce(bootstrap: str, topic: str, total_bytes: int) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "batch.size": 1_000_000,
                         "queue.buffering.max.kbytes": 1_048_576})
    value = os.urandom(VALUE_SIZE)
    count = total_bytes // VALUE_SIZE
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(300):
        raise RuntimeError("records not delivered")
    return count


def consume_once(bootstrap: str, topic: str, count: int, mode: str, pid: int) -> tuple[float, float]:
    """(MB/s, broker CPU-s per GB) reading the whole topic once in `mode`."""
    config = {"bootstrap.servers": bootstrap, "group.id": f"tp-{mode}-{uuid.uuid4().hex[:8]}",
              "auto.offset.reset": "earliest", "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760,
              "fetch.wait.max.ms": 100, "queued.max.messages.kbytes": 262144, "heartbeat.interval.ms": HEARTBEAT_MS,
              "isolation.level": "read_uncommitted"}
    if mode == "assign":
        config["enable.auto.commit"] = False
    consumer = Consumer(config)
    cpu0 = cpu_seconds(pid)
    start = time.perf_counter()
    if mode == "group":
        consumer.subscribe([topic])
    else:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = nbytes = 0
    while got < count:
        for m in consumer.consume(10000, 1.0):
            if m.error() is None:
                got += 1
                nbytes += len(m.value())
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu0
    consumer.close()
    return nbytes / 1e6 / elapsed, cpu / (nbytes / 1e9)


def measure_throughput(bootstrap: str, pid: int, mib: int, runs: int = 3) -> dict[str, float]:
    topic = f"throughput-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    count = produce(bootstrap, topic, mib * 1024 * 1024)
    out = {}
    for mode in ("group", "assign"):
        results = [consume_once(bootstrap, topic, count, mode, pid) for _ in range(runs)]
        out[f"{mode} MB/s"] = statistics.median(r[0] for r in results)
        out[f"{mode} broker CPU s/GB"] = statistics.median(r[1] for r in results)
    out["group/assign"] = out["group MB/s"] / out["assign MB/s"]
    return out


# -- driver -----------------------------------------------------------------------------------


def run_broker(name: str, start, tmp: Path, rounds: int, mib: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for delay in DELAYS:
        broker = start(tmp / f"{name}-{delay}", delay)
        try:
            for k, v in measure_rebalances(broker.bootstrap, rounds).items():
                figures[f"{k} s (delay {delay})"] = v
            if delay == 0 and mib:
                figures.update(measure_throughput(broker.bootstrap, broker.pid, mib))
        finally:
            broker.stop()
    return figures


def print_table(results: dict[str, dict[str, float]]) -> None:
    names = list(results)
    metrics = list(results[names[0]])
    print(f"{'metric':<30}" + "".join(f"{n:>12}" for n in names) + (f"{'ratio':>8}" if len(names) == 2 else ""))
    for metric in metrics:
        print(ratio_row(f"{metric:<30}", [results[n].get(metric, float("nan")) for n in names], 12, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rebalance rounds per setting (median)")
    parser.add_argument("--mib", type=int, default=256, help="MiB of 16 KiB values for the throughput part (0: skip)")
    parser.add_argument("--no-kafka", action="store_true", help="skip the Apache Kafka peer")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="schemabus-bench-groups-"))
    results: dict[str, dict[str, float]] = {}
    try:
        results["schemabus"] = run_broker("schemabus", lambda d, delay: Schemabus(str(d), delay), tmp,
                                          args.rounds, args.mib)
        if not args.no_kafka:
            results["kafka"] = run_broker("kafka", start_kafka, tmp, args.rounds, args.mib)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"3-member confluent-kafka group, {PARTITIONS} partitions, heartbeat.interval.ms={HEARTBEAT_MS}, "
          f"median of {args.rounds} rounds; throughput: {args.mib} MiB of {VALUE_SIZE // 1024} KiB values, "
          "one consumer, median of 3 runs")
    print_table(results)


if __name__ == "__main__":
    main()
