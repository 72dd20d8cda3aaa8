"""Broker throughput: librdkafka produce (acks=all, 6 partitions) then consume it all back.

Prints MB/s and records/s for produce and consume, and the broker's CPU-seconds per GB
(measured from the broker process with psutil, so it does not depend on the client).

    python bench/broker_throughput.py                      # starts a schemabus broker itself
    python bench/broker_throughput.py --bootstrap HOST:PORT --broker-pid PID   # any broker

Not a test: nothing here asserts timings. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
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
    AdminClient({"bootstrap.servers": bootstrap}).create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an already running broker (default: start schemabus)")
    parser.add_argument("--broker-pid", type=int, help="pid of that broker, for CPU figures")
    parser.add_argument("--gib", type=float, default=1.0, help="data volume per case in GiB")
    parser.add_argument("--consumers", type=int, default=2, help="consumer processes")
    args = parser.parse_args()

    tmp = None
    proc = None
    bootstrap, pid = args.bootstrap, args.broker_pid
    if bootstrap is None:
        tmp = tempfile.mkdtemp(prefix="schemabus-bench-")
        port = 19092
        proc = start_schemabus(tmp, port)
        bootstrap, pid = f"127.0.0.1:{port}", proc.pid
    try:
        total = int(args.gib * 1024**3)
        print(f"broker {bootstrap}, {args.gib} GiB per case, {args.consumers} consumer process(es)")
        print(f"{'value':>6} {'records':>10} {'prod MB/s':>10} {'prod rec/s':>11} {'cons MB/s':>10} "
              f"{'cons rec/s':>11} {'cpu s/GB prod':>14} {'cpu s/GB cons':>14}")
        for size in (1024, 100):
            r = run_case(bootstrap, pid, size, total if size == 1024 else total // 4, args.consumers)
            print(f"{size:>6} {r['records']:>10} {r['produce_MBps']:>10.1f} {r['produce_rps']:>11.0f} "
                  f"{r['consume_MBps']:>10.1f} {r['consume_rps']:>11.0f} "
                  f"{r['broker_cpu_s_per_GB_produce']:>14.2f} {r['broker_cpu_s_per_GB_consume']:>14.2f}", flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(60)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
