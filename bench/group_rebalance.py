"""Consumer groups: rebalance time of a 3-member group, and consume throughput through a
group versus assign mode, schemabus and Apache Kafka 4.x through bench/harness.py (A B B A runs).

    python bench/group_rebalance.py [--rounds 5] [--repeats 3] [--mib 256] [--no-kafka]

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
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from bench.harness import Comparison, KafkaBroker, Run, SchemabusBroker, cpu_seconds  # noqa: E402

PARTITIONS = 6
VALUE_SIZE = 16384
HEARTBEAT_MS = 500
DELAYS = (0, 3000)


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


def rebalances_case(rounds: int):
    """Median of `rounds` rebalance rounds (each with a new group) on one topic."""
    def case(run: Run) -> dict[str, float]:
        topic = run.new_topic(PARTITIONS, "rebalance")
        results = [rebalance_round(run.bootstrap, topic) for _ in range(rounds)]
        return {f"{k} s": statistics.median(r[k] for r in results) for k in results[0]}
    return case


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


def throughput_case(mib: int):
    def case(run: Run) -> dict[str, float]:
        topic = run.new_topic(PARTITIONS, "throughput")
        count = produce(run.bootstrap, topic, mib * 1024 * 1024)
        out = {}
        for mode in ("group", "assign"):
            out[f"{mode} MB/s"], out[f"{mode} broker CPU s/GB"] = consume_once(run.bootstrap, topic, count, mode,
                                                                               run.pid)
        out["group/assign"] = out["group MB/s"] / out["assign MB/s"]
        return out
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rebalance rounds per run (median)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per broker (A B B A ...)")
    parser.add_argument("--mib", type=int, default=256, help="MiB of 16 KiB values for the throughput part (0: skip)")
    parser.add_argument("--no-kafka", action="store_true", help="skip the Apache Kafka peer")
    args = parser.parse_args()

    for delay in DELAYS:
        config = {"group.initial.rebalance.delay.ms": str(delay)}
        brokers = [SchemabusBroker(config)] + ([] if args.no_kafka else [KafkaBroker(config)])
        with Comparison(brokers, args.repeats) as cmp:
            cmp.run(f"rebalance, delay {delay} ms", rebalances_case(args.rounds))
            if delay == 0 and args.mib:
                cmp.run(f"consume {args.mib} MiB of 16 KiB values", throughput_case(args.mib))
            cmp.print_markdown(f"3-member confluent-kafka group, {PARTITIONS} partitions, heartbeat.interval.ms="
                               f"{HEARTBEAT_MS}, group.initial.rebalance.delay.ms={delay}; each run the median "
                               f"of {args.rounds} rounds; {args.repeats} runs per broker")


if __name__ == "__main__":
    main()
