"""How a broker's cost grows with the work: partitions, connections, consumer groups.

Run through bench/brokers.py (`python bench/brokers.py scale`), which compares schemabus with
Apache Kafka through bench/harness.py. The cases:

- partitions: N partitions in topics of 100; create time (CreateTopics of 10 topics per
  request), a Metadata request for all topics (raw v4 request on a socket, time to the last
  byte of the response, median of 5), broker RSS and open descriptors, then the time from a
  restart (clean SIGTERM, and SIGKILL) to the first acknowledged produce.
- connections: --connections idle Kafka connections (each made one ApiVersions round trip)
  next to 50 busy producers (5 processes, 100 records/s each of 1 KiB, acks=all): produce
  latency, broker RSS, broker CPU.
- groups: --groups consumer groups of one member each (10 processes), subscribed to one topic,
  committing synchronously once a second: time until all are assigned, commit latency, broker
  CPU per second and RSS in the steady state.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import statistics
import struct
import time
import uuid
from array import array

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from bench.harness import Comparison, Run, create_topics, rss_bytes

_SPAWN = mp.get_context("spawn")
PER_TOPIC = 100


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- partitions --------------------------------------------------------------------------------


def _request(api_key: int, version: int, correlation: int, body: bytes) -> bytes:
    client = b"bench"
    header = struct.pack(">hhih", api_key, version, correlation, len(client)) + client
    return struct.pack(">i", len(header) + len(body)) + header + body


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 1 << 20))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return bytes(data)


def metadata_all_seconds(bootstrap: str) -> float:
    """Time for a Metadata v4 request for all topics, to the last byte of the response."""
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        body = struct.pack(">i?", -1, False)  # topics: null (all), allow_auto_topic_creation
        start = time.perf_counter()
        sock.sendall(_request(3, 4, 1, body))
        size = struct.unpack(">i", _read_exactly(sock, 4))[0]
        _read_exactly(sock, size)
        return time.perf_counter() - start


def _produce_each(bootstrap: str, topics: list[str], partitions: int, timeout: float = 600) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 50})
    for topic in topics:
        for p in range(partitions):
            while True:
                try:
                    producer.produce(topic, b"x" * 100, partition=p)
                    break
                except BufferError:
                    producer.poll(0.01)
    if producer.flush(timeout):
        raise RuntimeError("records to every partition were not all acknowledged")


def first_produce_seconds(bootstrap: str, topic: str, since: float, timeout: float = 600) -> float:
    """Seconds from `since` until one record to `topic` is acknowledged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 5000})
        result = []
        producer.produce(topic, b"after restart", partition=0, on_delivery=lambda err, msg: result.append(err))
        producer.flush(10)
        if result and result[0] is None:
            return time.monotonic() - since
        time.sleep(0.1)
    raise RuntimeError(f"no produce acknowledged within {timeout}s of the restart")


def partitions_case(count: int):
    def case(run: Run) -> dict[str, float]:
        prefix = f"scale-{uuid.uuid4().hex[:6]}"
        topics = [f"{prefix}-{i}" for i in range(max(1, count // PER_TOPIC))]
        run.adopt_topics(topics)
        start = time.monotonic()
        for i in range(0, len(topics), 10):  # 1,000 partitions per request
            create_topics(run.bootstrap, [NewTopic(t, PER_TOPIC, 1) for t in topics[i:i + 10]], timeout=600)
        create_s = time.monotonic() - start
        _produce_each(run.bootstrap, topics, PER_TOPIC)
        metadata = [metadata_all_seconds(run.bootstrap) for _ in range(5)]
        figures = {"create s": create_s, "Metadata (all topics) ms": statistics.median(metadata) * 1000,
                   "RSS MiB": rss_bytes(run.pid) / 2**20, "open fds": open_fds(run.pid)}
        for kill in (False, True):
            label = "kill -9" if kill else "clean stop"
            begin = time.monotonic()
            run.broker.stop(kill=kill)
            if not kill:
                figures["clean stop s"] = time.monotonic() - begin
            begin = time.monotonic()
            run.broker.start_again()
            figures[f"start after {label} to first produce s"] = first_produce_seconds(
                run.bootstrap, topics[-1], begin)
        figures["RSS after restart MiB"] = rss_bytes(run.pid) / 2**20
        return figures
    return case


# -- connections ---------------------------------------------------------------------------------


def idle_connections(bootstrap: str, count: int) -> list[socket.socket]:
    """`count` sockets, each having made one ApiVersions v0 round trip, then left idle."""
    host, port = bootstrap.rsplit(":", 1)
    socks = []
    for i in range(count):
        sock = socket.create_connection((host, int(port)), timeout=30)
        sock.sendall(_request(18, 0, i, b""))
        size = struct.unpack(">i", _read_exactly(sock, 4))[0]
        _read_exactly(sock, size)
        socks.append(sock)
    return socks


def _busy_producers(bootstrap: str, topic: str, producers: int, rate_each: int, seconds: float, out) -> None:
    clients = [Producer({"bootstrap.servers": bootstrap, "acks": "all"}) for _ in range(producers)]
    latencies = array("d")

    def delivered(err, msg) -> None:
        if err is None:
            latencies.append(msg.latency())

    value = b"z" * 1024
    start, sent, total = time.perf_counter(), 0, int(rate_each * producers * seconds)
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate_each * producers) + 1)
        while sent < due:
            clients[sent % producers].produce(topic, value, on_delivery=delivered)
            sent += 1
        for c in clients:
            c.poll(0)
        time.sleep(0.002)
    for c in clients:
        c.flush(60)
    out.put(latencies)


def connections_case(idle: int, busy: int = 50, rate_each: int = 100, seconds: float = 30):
    def case(run: Run) -> dict[str, float]:
        topic = run.new_topic(6, "connections")
        socks = idle_connections(run.bootstrap, idle)
        try:
            out = _SPAWN.Queue()
            per_process = busy // 5
            procs = [_SPAWN.Process(target=_busy_producers,
                                    args=(run.bootstrap, topic, per_process, rate_each, seconds, out))
                     for _ in range(5)]
            cpu0, t0 = run.cpu_seconds(), time.monotonic()
            for p in procs:
                p.start()
            latencies = sorted(v for _ in procs for v in out.get(timeout=seconds + 300))
            cpu = (run.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            for p in procs:
                p.join()
            return {"produce p50 ms": latencies[len(latencies) // 2] * 1000,
                    "produce p99 ms": latencies[int(len(latencies) * 0.99)] * 1000,
                    "broker CPU s per s": cpu, "RSS MiB": rss_bytes(run.pid) / 2**20,
                    "open fds": open_fds(run.pid)}
        finally:
            for s in socks:
                s.close()
    return case


# -- consumer groups -------------------------------------------------------------------------------


def _group_members(bootstrap: str, topic: str, groups: list[str], seconds: float, assigned, go, out) -> None:
    """One member per group; all poll, then each commits synchronously once a second."""
    consumers = [Consumer({"bootstrap.servers": bootstrap, "group.id": g, "enable.auto.commit": False,
                           "queued.max.messages.kbytes": 1024, "session.timeout.ms": 45000})
                 for g in groups]
    for c in consumers:
        c.subscribe([topic])
    while not all(c.assignment() for c in consumers):
        for c in consumers:
            c.poll(0)
        time.sleep(0.01)
    assigned.put(time.time())
    go.wait(600)
    latencies = array("d")
    end = time.monotonic() + seconds
    offset = 0
    while time.monotonic() < end:
        tick = time.monotonic()
        offset += 1
        for c in consumers:
            c.poll(0)
            begin = time.perf_counter()
            c.commit(offsets=[TopicPartition(topic, p, offset) for p in range(6)], asynchronous=False)
            latencies.append(time.perf_counter() - begin)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    for c in consumers:
        c.close()
    out.put(latencies)


def groups_case(groups: int, processes: int = 10, seconds: float = 30):
    def case(run: Run) -> dict[str, float]:
        topic = run.new_topic(6, "groups")
        names = [f"group-{uuid.uuid4().hex[:8]}-{i}" for i in range(groups)]
        assigned, go, out = _SPAWN.Queue(), _SPAWN.Event(), _SPAWN.Queue()
        procs = [_SPAWN.Process(target=_group_members,
                                args=(run.bootstrap, topic, names[i::processes], seconds, assigned, go, out))
                 for i in range(processes)]
        start = time.time()
        for p in procs:
            p.start()
        joined = max(assigned.get(timeout=600) for _ in procs) - start
        cpu0, t0 = run.cpu_seconds(), time.monotonic()
        go.set()
        latencies = sorted(v for _ in procs for v in out.get(timeout=seconds + 600))
        cpu = (run.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        rss = rss_bytes(run.pid) / 2**20
        for p in procs:
            p.join()
        return {"all groups assigned s (incl. client start)": joined,
                "commits/s": len(latencies) / seconds,
                "commit p50 ms": latencies[len(latencies) // 2] * 1000,
                "commit p99 ms": latencies[int(len(latencies) * 0.99)] * 1000,
                "broker CPU s per s": cpu, "RSS MiB": rss}
    return case


def run_scale(args, brokers) -> dict:
    raw = {}
    counts = [int(n) for n in args.partitions.split(",")]
    with Comparison(brokers(args), args.repeats) as cmp:
        # Partitions last, smallest first: a broker that cannot hold the largest count may not
        # survive it, and is skipped from then on.
        cases = args.cases.split(",")
        if "connections" in cases:
            cmp.run(f"{args.connections:,} idle + 50 busy connections", connections_case(args.connections))
        if "groups" in cases:
            cmp.run(f"{args.groups:,} groups committing", groups_case(args.groups))
        for count in counts if "partitions" in cases else []:
            cmp.run(f"{count:,} partitions", partitions_case(count))
        cmp.print_markdown(f"Scale: partitions in topics of {PER_TOPIC}, {args.repeats} runs each")
        raw.update(cmp.results)
    return raw
