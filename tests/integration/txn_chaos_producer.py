"""A librdkafka transactional producer for the chaos tests: transactions until it is killed,
each of RECORDS records on random partitions, committed or aborted at random. It prints
"open N" while transaction N is open (the test kills it there) and "committed N" once
transaction N has committed.

python -m tests.integration.txn_chaos_producer BOOTSTRAP TOPIC TRANSACTIONAL_ID PARTITIONS
"""

from __future__ import annotations

import random
import sys

from confluent_kafka import Producer

RECORDS = 5


def main(bootstrap: str, topic: str, transactional_id: str, partitions: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id,
                         "transaction.timeout.ms": 3000, "linger.ms": 1})
    producer.init_transactions(30)
    rng = random.Random(transactional_id)
    n = 0
    while True:
        producer.begin_transaction()
        for i in range(RECORDS):
            producer.produce(topic, value=f"{transactional_id}/{n}/{i}".encode(), partition=rng.randrange(partitions))
        producer.flush(30)
        print(f"open {n}", flush=True)
        if rng.random() < 0.5:
            producer.commit_transaction(30)
            print(f"committed {n}", flush=True)
        else:
            producer.abort_transaction(30)
        n += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
