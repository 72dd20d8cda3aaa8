"""Shared pieces of the fault-injection suite: mode and figures, process stats, a latency
probe on a separate connection, and a consumer that reads partitions to their end."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import psutil
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.kafka_wire import RawClient

LONG = os.environ.get("SCHEMABUS_FAULTS_LONG", "") not in ("", "0")
FIGURES_FILE = os.environ.get("SCHEMABUS_FAULTS_FIGURES")  # JSON lines, for bench/faults.py
MiB = 1024 * 1024

FIGURES: list[dict] = []  # also printed in pytest's terminal summary


def scaled(ci, long):
    """The CI value, or the long-mode one under SCHEMABUS_FAULTS_LONG=1."""
    return long if LONG else ci


def record_figures(section: str, target: str, **values) -> dict:
    row = {"section": section, "target": target, "mode": "long" if LONG else "ci", **values}
    FIGURES.append(row)
    if FIGURES_FILE:
        with open(FIGURES_FILE, "a") as f:
            f.write(json.dumps(row, default=str) + "\n")
    return row


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


# -- processes ----------------------------------------------------------------------------

def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def fd_count(pid: int) -> int:
    return psutil.Process(pid).num_fds()


def socket_count(pid: int) -> int:
    """Open TCP sockets of `pid` (the listener included)."""
    return len(psutil.Process(pid).net_connections("tcp"))


def socket_states(pid: int) -> dict[str, int]:
    """{TCP state: how many} of `pid`'s sockets (CLOSE_WAIT: the peer is gone, not us)."""
    states: dict[str, int] = {}
    for conn in psutil.Process(pid).net_connections("tcp"):
        states[conn.status] = states.get(conn.status, 0) + 1
    return states


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def gone(proc: psutil.Process) -> bool:
    """True once `proc` has exited. A zombie (exited, not yet reaped by whoever inherited
    it) counts as gone: it holds no files and no sockets."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def port_listeners(port: int) -> list[int]:
    """Pids of processes with a listening TCP socket on `port` (loopback)."""
    pids = []
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            pids.append(conn.pid)
    return pids


# -- clients ------------------------------------------------------------------------------

def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(30)


def read_to_end(bootstrap: str, topic: str, partitions: int, timeout: float = 60.0,
                extra: dict | None = None) -> tuple[dict[int, list], list]:
    """Every record of `topic` from the log start of each partition up to the end, with
    CRC checks on. Returns ({partition: [(offset, key, value)]}, [errors]); stops at the
    end of every partition (partition EOF), at the first error, or after `timeout`
    (an error then)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "faults-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "check.crcs": True, "auto.offset.reset": "earliest",
                         "fetch.error.backoff.ms": 50, "fetch.wait.max.ms": 10, **(extra or {})})
    consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])  # -2: beginning
    out: dict[int, list] = {p: [] for p in range(partitions)}
    at_end: set[int] = set()
    errors: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < partitions:
            if time.monotonic() > deadline:
                errors.append(f"timed out after {timeout}s: partitions at end {sorted(at_end)} of {partitions}, "
                              f"read {sum(len(v) for v in out.values())} records")
                break
            for m in consumer.consume(10000, 0.2):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_end.add(m.partition())
                        continue
                    errors.append(err)
                    return out, errors
                at_end.discard(m.partition())
                out[m.partition()].append((m.offset(), m.key(), m.value()))
    finally:
        consumer.close()
    return out, errors


class LatencyProbe:
    """Round trips (ApiVersions and Metadata, alternating) on a connection of its own, on a
    fixed schedule (one every `interval` s) until stopped. Each latency is measured from the
    call's scheduled time, not from when it could be sent, so a broker that stalls for 2 s
    shows as 2 s worth of slow calls (no coordinated omission). A failed call counts as an
    error and the probe reconnects. Optionally samples a pid's RSS on every call."""

    def __init__(self, bootstrap: str, pid: int | None = None, interval: float = 0.01,
                 call_timeout: float = 30.0):
        self.bootstrap = bootstrap
        self.pid = pid
        self.interval = interval
        self.call_timeout = call_timeout
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.rss_samples: list[int] = []
        self.in_flight_since: float | None = None  # perf_counter() schedule of the pending call
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latency-probe", daemon=True)
        self._client: RawClient | None = None

    def __enter__(self) -> "LatencyProbe":
        self._client = RawClient(self.bootstrap, timeout=self.call_timeout)
        self._client.call(18, 3, {"client_software_name": "probe", "client_software_version": "1"})
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop at once, even with a call still waiting for a stalled broker: that call
        counts with the time it has waited so far (a lower bound), not as an error."""
        self._stop.set()
        since = self.in_flight_since
        if self._client is not None and since is not None:
            self.latencies.append(time.perf_counter() - since)
            try:
                self._client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(self.call_timeout + 5)
        if self._client is not None:
            self._client.close()

    def reset(self) -> None:
        self.latencies.clear()
        self.errors.clear()
        self.rss_samples.clear()

    def stalled_for(self) -> float:
        """How long the call in flight has been overdue (0 if none)."""
        since = self.in_flight_since
        return 0.0 if since is None else max(0.0, time.perf_counter() - since)

    def _sample_rss(self) -> None:
        if self.pid is not None:
            try:
                self.rss_samples.append(rss(self.pid))
            except psutil.Error:
                pass

    def _call(self, n: int) -> None:
        if n % 2:
            self._client.call(18, 3, {"client_software_name": "probe", "client_software_version": "1"})
        else:
            self._client.call(3, 12, {"topics": [], "allow_auto_topic_creation": False,
                                      "include_topic_authorized_operations": False})

    def _run(self) -> None:
        n = 0
        scheduled = time.perf_counter()
        while not self._stop.is_set():
            delay = scheduled - time.perf_counter()
            if delay > 0 and self._stop.wait(delay):
                break
            n += 1
            self.in_flight_since = scheduled
            try:
                self._call(n)
                self.latencies.append(time.perf_counter() - scheduled)
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                if self._stop.is_set():
                    break
                self.errors.append(f"{type(exc).__name__}: {exc}")
                try:
                    self._client.close()
                    self._client = RawClient(self.bootstrap, timeout=self.call_timeout)
                except OSError as again:
                    self.errors.append(f"reconnect: {again}")
                    self._stop.wait(0.5)
                scheduled = time.perf_counter()
            self.in_flight_since = None
            self._sample_rss()
            scheduled += self.interval

    def summary(self) -> dict:
        ms = [x * 1000 for x in self.latencies]
        return {"probe_calls": len(ms), "probe_errors": len(self.errors),
                "p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2),
                "max_ms": round(max(ms, default=0.0), 2)}


def log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class PrivateKafka:
    """An Apache Kafka of the test's own (not the session's shared one, which other tests
    use): these tests kill it, leave it chewing on requests, fill it with fuzzed topics.
    kill() is SIGKILL; start() again keeps its ports and data directory."""

    name = "apache-kafka"

    def __init__(self, work_dir: Path, extra: dict | None = None):
        from tests.interop.apache_kafka import ApacheKafka

        self.kafka = ApacheKafka(work_dir, extra=extra)

    def start(self) -> "PrivateKafka":
        self.kafka.start()
        return self

    def kill(self) -> None:
        if self.kafka.proc is not None:
            self.kafka.proc.kill()
            self.kafka.proc.wait()
            self.kafka.proc = None

    def stop(self) -> None:
        """No graceful shutdown: it may still be busy with what a test sent it."""
        self.kill()

    def alive(self) -> bool:
        return self.kafka.proc is not None and self.kafka.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.kafka.pid

    @property
    def port(self) -> int:
        return self.kafka.port

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def data_dir(self) -> Path:
        return self.kafka.work_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.kafka.work_dir / "kafka.log"

    def log_text(self) -> str:
        return log_tail(self.log_path, 10**9)
