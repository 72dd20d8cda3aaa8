"""A consume-transform-produce processor, run as its own process by the exactly-once test.

Reads `input` in group `group` (read_committed), writes `out-<n>` for each `in-<n>` to
`output` and commits its input offsets in the same transaction. Exits non-zero on any
error: the test restarts it, and the new instance fences the old transactional producer.

    python ctp_processor.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID
"""

import sys

from confluent_kafka import Consumer, KafkaException, Producer


def main(bootstrap: str, input_topic: str, output_topic: str, group: str, txn_id: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 2,
                         "transaction.timeout.ms": 10000})
    producer.init_transactions(30)
    consumer.subscribe([input_topic])
    idle = 0
    try:
        while idle < 40:
            batch = [m for m in consumer.consume(100, 0.25) if m.error() is None]
            if not batch:
                idle += 1
                continue
            idle = 0
            producer.begin_transaction()
            for m in batch:
                producer.produce(output_topic, m.value().replace(b"in-", b"out-"), key=m.key())
            producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                 consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
            print(f"committed {len(batch)}", flush=True)
    except KafkaException as exc:
        print(f"processor stopping on error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
