"""Rebalance time of the KIP-848 consumer group protocol next to the classic one, schemabus and
Apache Kafka 4.x through bench/harness.py (A B B A runs).

    python bench/consumer_protocol_rebalance.py [--members 10] [--partitions 100] [--rounds 3]
                                                [--repeats 3] [--heartbeat-ms N] [--no-kafka]

A group of --members confluent-kafka consumers (each polling in its own thread) shares one
topic of --partitions partitions; each client and broker keeps its own default timings
(classic: librdkafka's heartbeat.interval.ms=3000, range assignor; consumer protocol: the
broker's group.consumer.heartbeat.interval.ms=5000, its default `uniform` assignor); with
--heartbeat-ms both protocols heartbeat that often instead (the classic client's
heartbeat.interval.ms; the brokers' group.consumer.heartbeat.interval.ms and its minimum), which
leaves what the protocols themselves cost.
- join:  one more member subscribes to the stable group -> the assignment is balanced again
         (every member within one partition of the others, every partition owned once);
- leave: one member closes (it leaves the group) -> the others own every partition, balanced.
Seconds from the event until the last member's assignment changed, median of --rounds rounds
(each with a new group), each run on a topic of its own.

Not a test: nothing here asserts timings. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Consumer  # noqa: E402

from bench.harness import Comparison, KafkaBroker, Run, SchemabusBroker  # noqa: E402

PROTOCOLS = ("classic", "consumer")


class Member(threading.Thread):
    """A consumer polling in its own thread, noting when its assignment last changed."""

    def __init__(self, bootstrap: str, group: str, topic: str, protocol: str, heartbeat_ms: int | None):
        super().__init__(daemon=True)
        config = {"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": protocol,
                  "enable.auto.commit": False, "auto.offset.reset": "latest"}
        # The consumer protocol refuses the classic timing settings: the broker owns them.
        if heartbeat_ms and protocol == "classic":
            config["heartbeat.interval.ms"] = heartbeat_ms
        self.consumer = Consumer(config)
        self.topic = topic
        self.owned: frozenset = frozenset()
        self.changed_at = 0.0
        self.stopping = threading.Event()
        self.closed = threading.Event()

    def run(self) -> None:
        self.consumer.subscribe([self.topic])
        while not self.stopping.is_set():
            self.consumer.consume(100, 0.02)
            owned = frozenset(tp.partition for tp in self.consumer.assignment())
            if owned != self.owned:
                self.owned, self.changed_at = owned, time.monotonic()
        self.consumer.close()
        self.closed.set()

    def leave(self) -> None:
        self.stopping.set()


def _balanced(members: list[Member], partitions: int) -> bool:
    sizes = [len(m.owned) for m in members]
    owned = [p for m in members for p in m.owned]
    return len(owned) == partitions == len(set(owned)) and max(sizes) - min(sizes) <= 1


def _settled(members: list[Member], partitions: int, since: float, timeout: float = 180.0) -> float:
    """Seconds from `since` until the assignment is balanced, taken at the last change."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _balanced(members, partitions):
            return max(m.changed_at for m in members) - since
        time.sleep(0.005)
    raise RuntimeError(f"group did not settle: {sorted(len(m.owned) for m in members)}")


def rebalance_round(bootstrap: str, topic: str, partitions: int, members: int, protocol: str,
                    heartbeat_ms: int | None) -> dict[str, float]:
    group = f"rebalance-{protocol}-{uuid.uuid4().hex[:8]}"
    group_members = [Member(bootstrap, group, topic, protocol, heartbeat_ms) for _ in range(members)]
    try:
        for m in group_members:
            m.start()
        _settled(group_members, partitions, time.monotonic())

        newcomer = Member(bootstrap, group, topic, protocol, heartbeat_ms)
        group_members.append(newcomer)
        start = time.monotonic()
        newcomer.start()
        join = _settled(group_members, partitions, start)

        leaver = group_members.pop(0)
        start = time.monotonic()
        leaver.leave()
        leave = _settled(group_members, partitions, start)
        leaver.closed.wait(30)
        return {"join": join, "leave": leave}
    finally:
        for m in group_members:
            m.leave()
        for m in group_members:
            m.closed.wait(30)


def rebalances_case(partitions: int, members: int, protocol: str, rounds: int, heartbeat_ms: int | None):
    def case(run: Run) -> dict[str, float]:
        topic = run.new_topic(partitions, "rebalance")
        results = [rebalance_round(run.bootstrap, topic, partitions, members, protocol, heartbeat_ms)
                   for _ in range(rounds)]
        return {f"{k} s": statistics.median(r[k] for r in results) for k in results[0]}
    return case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=10, help="members of the stable group")
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="rebalance rounds per run (median)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per broker (A B B A ...)")
    parser.add_argument("--heartbeat-ms", type=int, default=None, help="both protocols' heartbeat interval")
    parser.add_argument("--no-kafka", action="store_true", help="skip the Apache Kafka peer")
    args = parser.parse_args()

    config = {}
    if args.heartbeat_ms:
        config = {"group.consumer.heartbeat.interval.ms": str(args.heartbeat_ms),
                  "group.consumer.min.heartbeat.interval.ms": str(args.heartbeat_ms)}
    brokers = [SchemabusBroker(config)] + ([] if args.no_kafka else [KafkaBroker(config)])
    timings = f"heartbeats every {args.heartbeat_ms} ms" if args.heartbeat_ms else "each protocol with its default timings"
    with Comparison(brokers, args.repeats) as cmp:
        for protocol in PROTOCOLS:
            cmp.run(f"group.protocol={protocol}",
                    rebalances_case(args.partitions, args.members, protocol, args.rounds, args.heartbeat_ms))
        cmp.print_markdown(f"{args.members}-member confluent-kafka group (+1 joining, then 1 leaving), "
                           f"{args.partitions} partitions, {timings}; each run the median of {args.rounds} rounds; "
                           f"{args.repeats} runs per broker")


if __name__ == "__main__":
    main()
