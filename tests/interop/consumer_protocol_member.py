"""One consumer-protocol (KIP-848) group member on librdkafka, run as its own process so a test
can kill it. Arguments: bootstrap, group, subscription (a topic, or a regex starting with ^),
then `--instance-id ID` (static membership) and `--protocol classic` (a classic group member
instead, for the tests that run both; `--assignor`, default cooperative-sticky). Prints one
JSON line per event on stdout: {"event": "assigned"|"revoked", "partitions": [[topic, p], ...],
"t": monotonic}, {"event": "record", "topic", "partition", "value"}; a "close" line on stdin
makes it leave and exit."""

import argparse
import json
import sys
import threading
import time

from confluent_kafka import Consumer


def emit(**event) -> None:
    print(json.dumps({**event, "t": time.monotonic()}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("group")
    parser.add_argument("subscription")
    parser.add_argument("--instance-id")
    parser.add_argument("--protocol", default="consumer", choices=("consumer", "classic"))
    parser.add_argument("--assignor", default="cooperative-sticky", help="a classic member's assignor")
    args = parser.parse_args()
    config = {"bootstrap.servers": args.bootstrap, "group.id": args.group, "group.protocol": args.protocol,
              "auto.offset.reset": "earliest", "enable.auto.commit": True, "auto.commit.interval.ms": 200}
    if args.protocol == "classic":  # short sessions, as the consumer-protocol tests have
        config.update({"partition.assignment.strategy": args.assignor, "session.timeout.ms": 6000,
                       "heartbeat.interval.ms": 500})
    if args.instance_id:
        config["group.instance.id"] = args.instance_id
    consumer = Consumer(config)
    closing = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), closing.set()), daemon=True).start()

    def partitions(ps):
        return sorted([p.topic, p.partition] for p in ps)

    # Revocations are reported before the client acknowledges them, assignments after it got them.
    consumer.subscribe([args.subscription], on_assign=lambda c, ps: emit(event="assigned", partitions=partitions(ps)),
                       on_revoke=lambda c, ps: emit(event="revoked", partitions=partitions(ps)))
    emit(event="started")
    while not closing.is_set():
        message = consumer.poll(0.1)
        if message is not None and not message.error():
            emit(event="record", topic=message.topic(), partition=message.partition(),
                 value=message.value().decode())
    consumer.close()
    emit(event="closed")


if __name__ == "__main__":
    main()
