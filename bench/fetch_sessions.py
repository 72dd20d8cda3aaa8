"""Broker CPU per GB fetched by a consumer of 1,000 partitions of which a few receive records:
full fetches (our broker without sessions, max.incremental.fetch.session.cache.slots=0, as
before KIP-227 support) against incremental ones (sessions on), and Apache Kafka, through
bench/harness.py (A B B A runs).

The consumer is Kafka's Java client (librdkafka does not use fetch sessions), assigned every
partition and kept caught up by a producer in the same process writing a steady trickle to
three partitions: each fetch carries a little data and ~1,000 unchanged partitions. Broker CPU
is read from /proc/<pid>/stat around the run (the producer's requests are in it, the same load
for every broker). A second case isolates one fetch's cost: a raw client alternates one
record to each busy partition and one fetch, with a session when the broker grants one.

    python bench/fetch_sessions.py [--rate 1000] [--seconds 20] [--raw-fetches 300] [--repeats 3] [--no-kafka]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Producer  # noqa: E402

from bench.harness import Comparison, KafkaBroker, Run, SchemabusBroker  # noqa: E402
from tests.integration.test_fetch_sessions import answered, create_topic, fetch  # noqa: E402
from tests.interop.apache_kafka import compile_java  # noqa: E402
from tests.kafka_wire import RawClient  # noqa: E402

PARTITIONS = 1000
BUSY = "7,500,999"
VALUE_SIZE = 1024
SOURCE = Path(__file__).parent / "java" / "FetchSessionBench.java"


def consume_trickle(run: Run, classpath: str, rate: int, seconds: int) -> dict[str, float]:
    topic = run.new_topic(PARTITIONS, "fetch-session-bench")
    before = run.cpu_seconds()
    proc = subprocess.run(["java", "-cp", classpath, "FetchSessionBench", run.bootstrap, topic,
                           str(PARTITIONS), BUSY, str(rate), str(seconds), str(VALUE_SIZE)],
                          capture_output=True, text=True, timeout=seconds + 180)
    cpu = run.cpu_seconds() - before
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    result = {k: int(v) for k, v in (line[len("RESULT "):].split("=", 1) for line in proc.stdout.splitlines()
                                      if line.startswith("RESULT "))}
    if result["received"] != rate * seconds:
        raise RuntimeError(f"received {result['received']} of {rate * seconds} records")
    return {"broker CPU s per GB fetched": cpu / (result["bytes"] / 1e9),
            "broker CPU ms per fetch": 1000 * cpu / max(result["fetches"], 1),
            "fetch requests": result["fetches"]}


def raw_fetches(run: Run, fetches: int) -> dict[str, float]:
    """A raw client (Fetch v18, tests/kafka_wire.py) that opens a session when the broker
    grants one, then fetches: between fetches one record goes to each busy partition. Broker
    CPU per fetch, the produce included (the same for every broker)."""
    topic, topic_id = create_topic(run.bootstrap, PARTITIONS)
    run.adopt_topics([topic])
    busy = [int(p) for p in BUSY.split(",")]
    producer = Producer({"bootstrap.servers": run.bootstrap, "linger.ms": 0})
    client = RawClient(run.bootstrap, timeout=60)
    offsets = dict.fromkeys(range(PARTITIONS), 0)
    session = fetch(client, 0, 0, {topic_id: offsets})["session_id"]
    epoch = 1
    before = run.cpu_seconds()
    for _ in range(fetches):
        for p in busy:
            producer.produce(topic, b"x" * VALUE_SIZE, partition=p)
        producer.flush(30)
        if session:
            response = fetch(client, session, epoch, {topic_id: {p: offsets[p] for p in busy}}, max_wait=500)
            epoch += 1
        else:
            response = fetch(client, 0, -1, {topic_id: offsets}, max_wait=500)
        for p, entry in answered(response).items():
            if entry["error_code"]:
                raise RuntimeError(f"partition {p}: error {entry['error_code']}")
            offsets[p] = entry["high_watermark"]
    cpu = run.cpu_seconds() - before
    client.close()
    return {"broker CPU ms per fetch (+ produce)": 1000 * cpu / fetches, "session": float(session != 0)}


def named(broker, name: str):
    broker.name = name
    return broker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000, help="records per second (1 KiB each)")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="runs per broker (A B B A ...)")
    parser.add_argument("--raw-fetches", type=int, default=300, help="fetches per run of the raw-client case")
    parser.add_argument("--no-kafka", action="store_true")
    args = parser.parse_args()
    java = compile_java(SOURCE, Path(tempfile.mkdtemp(prefix="fetch-session-bench-")))
    brokers = [named(SchemabusBroker({"max.incremental.fetch.session.cache.slots": "0"}), "schemabus-full-fetch"),
               named(SchemabusBroker(), "schemabus-sessions")]
    if not args.no_kafka:
        brokers.append(KafkaBroker())
    with Comparison(brokers, args.repeats, warm_up_mib=32) as cmp:
        cmp.run("1k partitions, 3 busy", lambda run: consume_trickle(run, java, args.rate, args.seconds))
        cmp.run("raw client, 1k partitions, 3 busy", lambda run: raw_fetches(run, args.raw_fetches))
        cmp.print_markdown(f"Java consumer of {PARTITIONS} partitions, {args.rate} records/s of {VALUE_SIZE} B "
                           f"to 3 of them for {args.seconds} s, {args.repeats} runs per broker")


if __name__ == "__main__":
    main()
