"""Broker throughput: librdkafka produce (acks=all, 6 partitions) then consume it all back.

Prints MB/s and records/s for produce and consume, and the broker's CPU-seconds per GB
(measured from the broker process with psutil, so it does not depend on the client).

    python bench/broker_throughput.py [--gib 1.0] [--consumers 2] [--no-kafka]

Runs schemabus and then Apache Kafka 4.x (the peer, from Maven Central) on this machine
and prints both with the ratio schemabus / Kafka.

Not a test: nothing here asserts timings. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
PARTITIONS = 6


def start_schemabus(data_dir: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--log-level", "WARNING", "broker", "--data-dir", data_dir,
         "--listen", f"127.0.0.1:{port}"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "ready" in line:
            return proc
    raise RuntimeError("broker did not start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def produce(bootstrap: str, topic: str, value_size: int, total_bytes: int) -> tuple[int, float]:
    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "batch.size": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576, "queue.buffering.max.messages": 2_000_000,
    })
    value = os.urandom(value_size)
    count = total_bytes // value_size
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.001)
    remaining = producer.flush(300)
    elapsed = time.perf_counter() - start
    if remaining:
        raise RuntimeError(f"{remaining} records not delivered")
    return count, elapsed


def _consume_partitions(bootstrap: str, topic: str, partitions: list[int], expected: int, out) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                         "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760,
                         "fetch.wait.max.ms": 100, "queued.max.messages.kbytes": 262144,
                         "isolation.level": "read_uncommitted"})
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    got = nbytes = 0
    while got < expected:
        for m in consumer.consume(10000, 1.0):
            if m.error() is None:
                got += 1
                nbytes += len(m.value())
    consumer.close()
    out.put((got, nbytes))


def consume(bootstrap: str, topic: str, count: int, processes: int) -> tuple[int, float]:
    groups = [list(range(PARTITIONS))[i::processes] for i in range(processes)]
    queue = mp.Queue()
    per_partition = count // PARTITIONS
    start = time.perf_counter()
    procs = [mp.Process(target=_consume_partitions, args=(bootstrap, topic, g, per_partition * len(g), queue))
             for g in groups]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return sum(r[0] for r in results), elapsed


def run_case(bootstrap: str, broker_pid: int | None, value_size: int, total_bytes: int, consumers: int) -> dict:
    topic = f"bench-{value_size}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
    cpu0 = cpu_seconds(broker_pid)
    count, produce_s = produce(bootstrap, topic, value_size, total_bytes)
    cpu1 = cpu_seconds(broker_pid)
    consumed, consume_s = consume(bootstrap, topic, count, consumers)
    cpu2 = cpu_seconds(broker_pid)
    mb = count * value_size / 1e6
    gb = mb / 1000
    return {
        "value_size": value_size, "records": count, "MB": mb,
        "produce_MBps": mb / produce_s, "produce_rps": count / produce_s,
        "consume_MBps": mb / consume_s, "consume_rps": consumed / consume_s,
        "broker_cpu_s_per_GB_produce": (cpu1 - cpu0) / gb, "broker_cpu_s_per_GB_consume": (cpu2 - cpu1) / gb,
    }


CASES = [(1024, 1.0), (100, 0.25), (16384, 1.0)]  # (value bytes, share of --gib)
METRICS = ["produce_MBps", "produce_rps", "consume_MBps", "consume_rps",
           "broker_cpu_s_per_GB_produce", "broker_cpu_s_per_GB_consume"]


def run_all(bootstrap: str, pid: int | None, gib: float, consumers: int) -> dict[int, dict]:
    return {size: run_case(bootstrap, pid, size, int(gib * share * 1024**3), consumers) for size, share in CASES}


def ratio_row(label: str, values: list, width: int = 14, digits: int = 2) -> str:
    """One table row: the label, each broker's figure, and ours/peer when there are two."""
    line = label + "".join(f"{v:>{width}.{digits}f}" for v in values)
    if len(values) == 2 and values[1]:
        line += f"{values[0] / values[1]:>8.2f}"
    return line


def print_table(results: dict[str, dict[int, dict]]) -> None:
    names = list(results)
    print(f"{'value':>6} {'metric':<28}" + "".join(f"{n:>14}" for n in names)
          + (f"{'ratio':>8}" if len(names) == 2 else ""))
    for size, _ in CASES:
        for metric in METRICS:
            print(ratio_row(f"{size:>6} {metric:<28}", [results[n][size][metric] for n in names]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0, help="data volume of the 1 KiB case in GiB")
    parser.add_argument("--consumers", type=int, default=2, help="consumer processes")
    parser.add_argument("--no-kafka", action="store_true", help="skip the Apache Kafka peer")
    args = parser.parse_args()

    results: dict[str, dict[int, dict]] = {}
    tmp = tempfile.mkdtemp(prefix="schemabus-bench-")
    try:
        port = free_port()
        proc = start_schemabus(f"{tmp}/schemabus", port)
        try:
            results["schemabus"] = run_all(f"127.0.0.1:{port}", proc.pid, args.gib, args.consumers)
        finally:
            proc.terminate()
            proc.wait(60)
        if not args.no_kafka:
            from tests.interop.apache_kafka import ApacheKafka

            kafka = ApacheKafka(Path(tmp) / "kafka").start()
            try:
                results["kafka"] = run_all(kafka.bootstrap, kafka.pid, args.gib, args.consumers)
            finally:
                kafka.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.gib} GiB of 1 KiB values, {args.consumers} consumer process(es), acks=all, {PARTITIONS} partitions")
    print_table(results)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
