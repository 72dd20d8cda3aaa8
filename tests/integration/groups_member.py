"""One consumer-group member in its own process, for the group tests (so it can be kill -9'd).

    python -m tests.integration.groups_member CLIENT BOOTSTRAP GROUP TOPIC [--assignor NAME]

CLIENT is confluent, kafka-python or aiokafka (KafkaJS has the same protocol in
tests/js/group_member.js). The member subscribes, consumes, and commits synchronously
after every batch; it prints one JSON object per line, each with `t` = CLOCK_MONOTONIC
seconds (one clock for every process on the machine):

    {"event": "ready"}                       consumer created, subscribing
    {"event": "assignment", "partitions": [..]}   whenever its assignment changes
    {"event": "record", "p": P, "o": O}      a record delivered to the application
    {"event": "commit", "p": P, "o": O}      offset O (next to read) committed for P
    {"event": "closed"}                      after SIGTERM: left the group and closed

SIGTERM closes the consumer cleanly (LeaveGroup); SIGKILL is the crash.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500


def emit(event: str, **fields) -> None:
    sys.stdout.write(json.dumps({"t": time.monotonic(), "event": event, **fields}) + "\n")
    sys.stdout.flush()


class Stop:
    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, *_):
        self.requested = True


def _report_assignment(current: list[int], last: list[int] | None) -> list[int]:
    if current != last:
        emit("assignment", partitions=current)
    return current


def run_confluent(args, stop: Stop) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap, "group.id": args.group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS, "partition.assignment.strategy": args.assignor,
        "enable.partition.eof": False,
    })
    emit("ready")
    consumer.subscribe([args.topic])
    last = None
    while not stop.requested:
        batch = consumer.consume(500, 0.2)
        last = _report_assignment(sorted(tp.partition for tp in consumer.assignment()), last)
        batch = [m for m in batch if m.error() is None]
        for m in batch:
            emit("record", p=m.partition(), o=m.offset())
        if batch:
            ends = {m.partition(): m.offset() + 1 for m in batch}
            try:
                committed = consumer.commit(offsets=[TopicPartition(args.topic, p, o) for p, o in ends.items()],
                                            asynchronous=False)
                for tp in committed or []:
                    if tp.error is None:
                        emit("commit", p=tp.partition, o=tp.offset)
            except KafkaException as exc:  # e.g. a rebalance: the records will be delivered again
                emit("commit_failed", error=str(exc))
    consumer.close()
    emit("closed")


def run_kafka_python(args, stop: Stop) -> None:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap, group_id=args.group, auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS, client_id="kafka-python-member")
    emit("ready")
    consumer.subscribe([args.topic])
    last = None
    while not stop.requested:
        polled = consumer.poll(timeout_ms=200, max_records=500)
        last = _report_assignment(sorted(tp.partition for tp in consumer.assignment()), last)
        offsets = {}
        for tp, msgs in polled.items():
            for m in msgs:
                emit("record", p=m.partition, o=m.offset)
            offsets[tp] = OffsetAndMetadata(msgs[-1].offset + 1, "", -1)
        if offsets:
            try:
                consumer.commit(offsets)
                for tp, om in offsets.items():
                    emit("commit", p=tp.partition, o=om.offset)
            except KafkaError as exc:
                emit("commit_failed", error=repr(exc))
    consumer.close()
    emit("closed")


def run_aiokafka(args, stop: Stop) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    async def main():
        consumer = AIOKafkaConsumer(
            args.topic, bootstrap_servers=args.bootstrap, group_id=args.group, auto_offset_reset="earliest",
            enable_auto_commit=False, session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS, client_id="aiokafka-member")
        emit("ready")
        await consumer.start()
        last = None
        while not stop.requested:
            polled = await consumer.getmany(timeout_ms=200, max_records=500)
            last = _report_assignment(sorted(tp.partition for tp in consumer.assignment()), last)
            offsets = {}
            for tp, msgs in polled.items():
                for m in msgs:
                    emit("record", p=m.partition, o=m.offset)
                offsets[tp] = msgs[-1].offset + 1
            if offsets:
                try:
                    await consumer.commit(offsets)
                    for tp, offset in offsets.items():
                        emit("commit", p=tp.partition, o=offset)
                except KafkaError as exc:
                    emit("commit_failed", error=repr(exc))
        await consumer.stop()
        emit("closed")

    asyncio.run(main())


CLIENTS = {"confluent": run_confluent, "kafka-python": run_kafka_python, "aiokafka": run_aiokafka}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("bootstrap")
    parser.add_argument("group")
    parser.add_argument("topic")
    parser.add_argument("--assignor", default="range")
    args = parser.parse_args()
    CLIENTS[args.client](args, Stop())


if __name__ == "__main__":
    main()
