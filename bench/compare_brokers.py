"""schemabus broker vs Apache Kafka 4.x, one invocation, same machine.

Throughput (produce and consume MB/s and records/s, from bench/broker_throughput.py) and
end-to-end latency at a fixed rate: a producer sends timestamped 1 KiB records at
`--rate` records/s with `linger.ms=0`, `acks=all`; a consumer in another process reads
them and records receive time - send time. Prints each figure and the ratio ours/Kafka
(for latency, lower is better).

    python bench/compare_brokers.py [--gib 0.25] [--rate 2000] [--seconds 10] [--latency-only]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import struct
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from bench.broker_throughput import free_port, print_table, run_all, start_schemabus  # noqa: E402

_STAMP = struct.Struct(">d")


def _latency_consumer(bootstrap: str, topic: str, expected: int, ready, out) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "latency", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 5, "fetch.min.bytes": 1})
    consumer.assign([TopicPartition(topic, 0, 0)])
    consumer.consume(1, 0.5)  # connect before the producer starts
    ready.set()
    latencies = []
    deadline = time.time() + 120
    while len(latencies) < expected and time.time() < deadline:
        # poll() returns as soon as a record is there (consume(n, t) would wait to fill n).
        m = consumer.poll(0.1)
        if m is not None and m.error() is None:
            latencies.append(time.time() - _STAMP.unpack_from(m.value())[0])
    consumer.close()
    out.put(latencies)


def measure_latency(bootstrap: str, rate: int, seconds: float) -> dict:
    topic = f"latency-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    count = int(rate * seconds)
    ready, out = mp.Event(), mp.Queue()
    proc = mp.Process(target=_latency_consumer, args=(bootstrap, topic, count, ready, out))
    proc.start()
    ready.wait(60)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    padding = b"x" * (1024 - _STAMP.size)
    start = time.perf_counter()
    for i in range(count):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        producer.produce(topic, _STAMP.pack(time.time()) + padding)
        producer.poll(0)
    producer.flush(60)
    latencies = sorted(out.get(timeout=180))
    proc.join()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"latency_p50_ms": pct(0.50), "latency_p99_ms": pct(0.99), "received": len(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=0.25)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--rate", type=int, default=2000, help="records/s for the latency run")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--latency-only", action="store_true", help="skip the throughput runs")
    args = parser.parse_args()

    from tests.interop.apache_kafka import ApacheKafka

    throughput, latency = {}, {}
    tmp = tempfile.mkdtemp(prefix="schemabus-compare-")
    try:
        port = free_port()
        proc = start_schemabus(f"{tmp}/schemabus", port)
        try:
            bootstrap = f"127.0.0.1:{port}"
            measure_latency(bootstrap, args.rate, 3)  # warm-up, discarded
            latency["schemabus"] = measure_latency(bootstrap, args.rate, args.seconds)
            if not args.latency_only:
                throughput["schemabus"] = run_all(bootstrap, proc.pid, args.gib, args.consumers)
        finally:
            proc.terminate()
            proc.wait(60)
        kafka = ApacheKafka(Path(tmp) / "kafka").start()
        try:
            measure_latency(kafka.bootstrap, args.rate, 3)  # warm-up (the JVM's JIT), discarded
            latency["kafka"] = measure_latency(kafka.bootstrap, args.rate, args.seconds)
            if not args.latency_only:
                throughput["kafka"] = run_all(kafka.bootstrap, kafka.pid, args.gib, args.consumers)
        finally:
            kafka.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if throughput:
        print(f"throughput: {args.gib} GiB of 1 KiB values, {args.consumers} consumer process(es)")
        print_table(throughput)
    print(f"\nend-to-end latency: 1 KiB records at {args.rate}/s for {args.seconds} s, acks=all, linger.ms=0")
    print(f"{'metric':<18}{'schemabus':>12}{'kafka':>12}{'ratio':>8}")
    for metric in ("latency_p50_ms", "latency_p99_ms"):
        ours, theirs = latency["schemabus"][metric], latency["kafka"][metric]
        print(f"{metric:<18}{ours:>12.2f}{theirs:>12.2f}{ours / theirs:>8.2f}")


if __name__ == "__main__":
    main()
