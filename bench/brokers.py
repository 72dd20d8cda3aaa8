"""schemabus broker vs Apache Kafka 4.x: throughput, latency under load, scale.

Every comparison runs through bench/harness.py: Kafka with its start scripts' JVM flags,
both brokers warmed up, runs in A B B A order repeated --repeats times, medians and spreads,
each run's topics deleted before the next.

    python bench/brokers.py throughput [--gib 1] [--repeats 3] [--consumers 2] [--sizes 100,1024,16384]
    python bench/brokers.py latency [--rates 1000,10000,50000] [--seconds 60] [--repeats 3]
    python bench/brokers.py scale [--partitions 1000,10000,50000] [--connections 1000] [--groups 500]
                                  [--cases connections,groups,partitions]
    python bench/brokers.py security [--gib 1] [--repeats 3]   # PLAINTEXT next to SASL_SSL
    python bench/brokers.py all            # throughput, latency and scale, as docs/benchmarks.md reports them

Add --no-kafka to measure schemabus alone, --json FILE to keep the raw runs.
Not a test: nothing here asserts timings. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import multiprocessing as mp
import struct
import sys
import time
from array import array
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

from bench.harness import (  # noqa: E402
    Comparison, KafkaBroker, Run, SchemabusBroker, consume_all, free_port, produce_bytes,
)

PARTITIONS = 6
_SPAWN = mp.get_context("spawn")  # clients in fresh processes: librdkafka threads do not survive fork


# -- throughput ------------------------------------------------------------------------------

THROUGHPUT_CASES = [(1024, 1.0), (100, 0.25), (16384, 1.0)]  # (value bytes, share of --gib)


def _consume_worker(bootstrap: str, topic: str, partitions: list[int], expected: int, ready, go, out,
                    client: dict | None = None) -> None:
    out.put(consume_all(bootstrap, topic, partitions, expected, ready=ready, go=go, extra=client))


def consume_parallel(bootstrap: str, topic: str, count: int, processes: int, client: dict | None = None) -> float:
    """`processes` consumers, each assigned its share of the partitions; seconds to read all."""
    groups = [list(range(PARTITIONS))[i::processes] for i in range(processes)]
    per_partition = count // PARTITIONS
    queue, go = _SPAWN.Queue(), _SPAWN.Event()
    ready = [_SPAWN.Event() for _ in groups]
    procs = [_SPAWN.Process(target=_consume_worker,
                            args=(bootstrap, topic, g, per_partition * len(g), r, go, queue, client))
             for g, r in zip(groups, ready)]
    for p in procs:
        p.start()
    for r in ready:  # the clock starts when every consumer process is up, not at spawn
        if not r.wait(120):
            raise RuntimeError("a consumer process did not start")
    start = time.perf_counter()
    go.set()
    for _ in procs:
        queue.get(timeout=900)
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return elapsed


def throughput_case(value_size: int, total_bytes: int, consumers: int, secure: bool = False):
    """With `secure`, the clients go through the broker's SASL_SSL listener (run.broker.secure_client)."""
    def case(run: Run) -> dict[str, float]:
        topic = run.new_topic(PARTITIONS, f"throughput-{value_size}")
        client = run.broker.secure_client if secure else None
        cpu0 = run.cpu_seconds()
        count, produce_s = produce_bytes(run.bootstrap, topic, value_size, total_bytes, PARTITIONS, client)
        cpu1 = run.cpu_seconds()
        consume_s = consume_parallel(run.bootstrap, topic, count, consumers, client)
        cpu2 = run.cpu_seconds()
        mb = count * value_size / 1e6
        return {
            "produce MB/s": mb / produce_s, "produce records/s": count / produce_s,
            "consume MB/s": mb / consume_s, "consume records/s": count / consume_s,
            "broker CPU s/GB produce": (cpu1 - cpu0) / (mb / 1000),
            "broker CPU s/GB consume": (cpu2 - cpu1) / (mb / 1000),
        }
    return case


def run_throughput(cmp: Comparison, gib: float, consumers: int, sizes: set[int] | None = None) -> None:
    for size, share in THROUGHPUT_CASES:
        if sizes and size not in sizes:
            continue
        cmp.run(f"{_size(size)} values", throughput_case(size, int(gib * share * 1024**3), consumers))


# -- TLS and SASL ---------------------------------------------------------------------------------

SECURE_USER, SECURE_PASSWORD = "bench", "bench-secret"


def secured_brokers(args, work_dir: Path) -> list:
    """Both brokers with a SASL_SSL listener (PEM keystore, PLAIN) next to PLAINTEXT, configured
    with the same Kafka config names; `secure_client` is the librdkafka config to reach it."""
    from tests.tls import CertificateAuthority, sasl_ssl_listener_configs

    ca = CertificateAuthority(work_dir / "ca")
    configs = sasl_ssl_listener_configs(ca, {SECURE_USER: SECURE_PASSWORD})
    brokers = []
    for kind in [SchemabusBroker] + ([] if args.no_kafka else [KafkaBroker]):
        port = free_port()
        broker = kind(dict(configs), {"SASL_SSL": port})
        broker.secure_client = {"bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": "SASL_SSL",
                                "sasl.mechanism": "PLAIN", "sasl.username": SECURE_USER,
                                "sasl.password": SECURE_PASSWORD, "ssl.ca.location": str(ca.ca_file)}
        brokers.append(broker)
    return brokers


def run_security(cmp: Comparison, gib: float, consumers: int) -> None:
    cases = {}
    for protocol in ("PLAINTEXT", "SASL_SSL"):
        cases[protocol] = f"1 KiB values over {protocol}"
        cmp.run(cases[protocol], throughput_case(1024, int(gib * 1024**3), consumers, protocol == "SASL_SSL"))
    print("\nThe cost of TLS: SASL_SSL throughput / PLAINTEXT throughput (medians)")
    for metric in ("produce MB/s", "consume MB/s"):
        for name in cmp.brokers:
            plain = cmp.results[cases["PLAINTEXT"]].get(metric, {}).get(name)
            secure = cmp.results[cases["SASL_SSL"]].get(metric, {}).get(name)
            if plain and secure:
                print(f"  {name} {metric}: {statistics.median(secure) / statistics.median(plain):.2f}")


# -- latency under load -------------------------------------------------------------------------

_STAMP = struct.Struct(">d")
LATENCY_VALUE = 1024


def _paced_producer(bootstrap: str, topic: str, rate: int, seconds: float, keys: int, out) -> None:
    """Send `rate` records/s for `seconds` (1 ms ticks), each stamped with its send time.

    Returns the produce (acks=all) latencies: delivery report time - send time."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                         "queue.buffering.max.messages": 2_000_000})
    acked = array("d")
    padding = b"x" * (LATENCY_VALUE - _STAMP.size)

    def delivered(err, msg) -> None:
        if err is None:  # librdkafka's own produce() -> acknowledgement time, not our poll()'s
            acked.append(msg.latency())

    total = int(rate * seconds)
    start = time.perf_counter()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            key = str(sent % keys).encode() if keys else None
            producer.produce(topic, _STAMP.pack(time.time()) + padding, key, on_delivery=delivered)
            sent += 1
        producer.poll(0)
        pause = start + sent / rate - time.perf_counter()
        if pause > 0:
            time.sleep(min(pause, 0.001))
    producer.flush(120)
    out.put(acked)


def _stamped_consumer(bootstrap: str, topic: str, partitions: int, expected: int, ready, out) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "latency", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    consumer.poll(0.5)  # connected and fetching before the producer starts
    ready.set()
    sent_at, latency = array("d"), array("d")
    deadline = time.monotonic() + 600
    while len(latency) < expected and time.monotonic() < deadline:
        m = consumer.poll(0.1)  # returns as soon as one record is there
        if m is not None and m.error() is None:
            now = time.time()
            stamp = _STAMP.unpack_from(m.value())[0]
            sent_at.append(stamp)
            latency.append(now - stamp)
    consumer.close()
    out.put((sent_at, latency))


def percentile(sorted_values, p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def latency_case(rate: int, seconds: float, warm_up: float, topic_config: dict | None = None,
                 keys: int = 0, background=None):
    """End-to-end and produce latency of 1 KiB records at a fixed rate; the first `warm_up`
    seconds of each run are sent but not counted."""
    def case(run: Run) -> dict[str, float]:
        topic = run.new_topic(PARTITIONS, "latency", topic_config)
        load = background(run) if background else None
        total = int(rate * (seconds + warm_up))
        ready, received, acked = _SPAWN.Event(), _SPAWN.Queue(), _SPAWN.Queue()
        consumer = _SPAWN.Process(target=_stamped_consumer,
                                  args=(run.bootstrap, topic, PARTITIONS, total, ready, received))
        consumer.start()
        if not ready.wait(60):
            raise RuntimeError("latency consumer did not start")
        measure_from = time.time() + warm_up
        cpu0, wall0 = run.cpu_seconds(), time.perf_counter()
        producer = _SPAWN.Process(target=_paced_producer,
                                  args=(run.bootstrap, topic, rate, seconds + warm_up, keys, acked))
        producer.start()
        produce_latencies = acked.get(timeout=seconds + warm_up + 300)
        sent_at, latencies = received.get(timeout=600)
        # Cores the broker kept busy: tells a saturated broker from a queueing client.
        broker_cores = (run.cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
        producer.join()
        consumer.join()
        if load:
            load()
        e2e = sorted(lat for sent, lat in zip(sent_at, latencies) if sent >= measure_from)
        acks = sorted(produce_latencies[int(rate * warm_up):])
        if len(latencies) < total:
            raise RuntimeError(f"received {len(latencies)} of {total} records")
        return {
            "end-to-end p50 ms": percentile(e2e, 0.5) * 1000, "end-to-end p99 ms": percentile(e2e, 0.99) * 1000,
            "end-to-end p99.9 ms": percentile(e2e, 0.999) * 1000,
            "produce p50 ms": percentile(acks, 0.5) * 1000, "produce p99 ms": percentile(acks, 0.99) * 1000,
            "produce p99.9 ms": percentile(acks, 0.999) * 1000,
            "broker CPU cores": broker_cores,
        }
    return case


def _churn(bootstrap: str, topics: list[str], rate: int, stop) -> None:
    """Keyed 1 KiB records at `rate`/s round-robin over `topics` until `stop` is set."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    value = b"y" * LATENCY_VALUE
    start, sent = time.perf_counter(), 0
    while not stop.is_set():
        due = int((time.perf_counter() - start) * rate) + 1
        while sent < due:
            producer.produce(topics[sent % len(topics)], value, str(sent % 1000).encode())
            sent += 1
        producer.poll(0)
        time.sleep(0.002)
    producer.flush(60)


# Topics that keep the cleaner and retention busy: 1 MiB segments (Kafka 4's minimum),
# compaction as soon as 1% is dirty, retention of 4 MiB.
COMPACTED = {"cleanup.policy": "compact", "segment.bytes": "1048576", "min.cleanable.dirty.ratio": "0.01",
             "segment.ms": "1000"}
RETAINED = {"cleanup.policy": "delete", "segment.bytes": "1048576", "retention.bytes": "4194304",
            "segment.ms": "1000"}
# Broker settings for the latency comparison (both brokers): the cleaner and the retention
# check wake every second instead of Kafka's defaults of 15 s and 5 minutes.
HOUSEKEEPING = {"log.retention.check.interval.ms": "1000", "log.cleaner.backoff.ms": "1000"}


def housekeeping_load(rate: int):
    """Background writers to a compacted and a retention-limited topic during the run."""
    def start(run: Run):
        topics = [run.new_topic(1, "compacted", COMPACTED), run.new_topic(1, "retained", RETAINED)]
        stop = _SPAWN.Event()
        proc = _SPAWN.Process(target=_churn, args=(run.bootstrap, topics, rate, stop))
        proc.start()
        time.sleep(5)  # segments rolled and the cleaner busy before the measured producer starts

        def finish() -> None:
            stop.set()
            proc.join(120)
        return finish
    return start


def run_latency(cmp: Comparison, rates: list[int], seconds: float, warm_up: float) -> None:
    for rate in rates:
        cmp.run(f"{rate:,}/s", latency_case(rate, seconds, warm_up))
    background = 2000
    cmp.run(f"1,000/s + compaction and retention ({background:,}/s churn)",
            latency_case(1000, seconds, warm_up, background=housekeeping_load(background)))


# -- driver ---------------------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n // 1024} KiB" if n >= 1024 else f"{n} B"


def _brokers(args, config: dict[str, str] | None = None) -> list:
    brokers = [SchemabusBroker(dict(config or {}))]
    if not args.no_kafka:
        brokers.append(KafkaBroker(dict(config or {})))
    return brokers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["throughput", "latency", "scale", "security", "all"])
    parser.add_argument("--repeats", type=int, default=3, help="runs per broker and case (A B B A ...)")
    parser.add_argument("--no-kafka", action="store_true", help="schemabus alone")
    parser.add_argument("--json", help="write the raw runs to this file")
    parser.add_argument("--gib", type=float, default=1.0, help="throughput: GiB of the 1 KiB and 16 KiB cases")
    parser.add_argument("--sizes", default="", help="throughput: value sizes to run, e.g. 16384 (default: all)")
    parser.add_argument("--consumers", type=int, default=2, help="throughput: consumer processes")
    parser.add_argument("--rates", default="1000,10000,50000",
                        help='latency: records/s, comma-separated ("": only the case with compaction)')
    parser.add_argument("--seconds", type=float, default=60, help="latency: measured seconds per point")
    parser.add_argument("--warm-up", type=float, default=10, help="latency: unmeasured seconds per point")
    parser.add_argument("--partitions", default="1000,10000,50000", help="scale: partition counts")
    parser.add_argument("--connections", type=int, default=1000, help="scale: idle connections")
    parser.add_argument("--groups", type=int, default=500, help="scale: committing consumer groups")
    parser.add_argument("--cases", default="connections,groups,partitions", help="scale: which cases")
    args = parser.parse_args()
    raw = {}
    if args.what in ("throughput", "all"):
        with Comparison(_brokers(args), args.repeats) as cmp:
            run_throughput(cmp, args.gib, args.consumers, {int(v) for v in args.sizes.split(",") if v})
            cmp.print_markdown(f"Throughput: acks=all, {PARTITIONS} partitions, {args.consumers} consumer "
                               f"processes, {args.gib} GiB (100 B: a quarter of it), {args.repeats} runs each")
            raw["throughput"] = cmp.results
    if args.what == "security":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="schemabus-bench-ca-") as ca_dir:
            with Comparison(secured_brokers(args, Path(ca_dir)), args.repeats) as cmp:
                run_security(cmp, args.gib, args.consumers)
                cmp.print_markdown(f"PLAINTEXT and SASL_SSL (TLS 1.3, PLAIN): acks=all, {PARTITIONS} partitions, "
                                   f"{args.consumers} consumer processes, {args.gib} GiB, {args.repeats} runs each")
                raw["security"] = cmp.results
    if args.what in ("latency", "all"):
        with Comparison(_brokers(args, HOUSEKEEPING), args.repeats) as cmp:
            run_latency(cmp, [int(r) for r in args.rates.split(",") if r], args.seconds, args.warm_up)
            cmp.print_markdown(f"Latency: 1 KiB records, acks=all, linger.ms=0, {PARTITIONS} partitions, "
                               f"{args.seconds:g} s measured after {args.warm_up:g} s, {args.repeats} runs each")
            raw["latency"] = cmp.results
    if args.what in ("scale", "all"):
        from bench.scale import run_scale

        raw["scale"] = run_scale(args, _brokers)
    if args.json:
        import json

        Path(args.json).write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
