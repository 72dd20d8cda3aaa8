"""Shared fixtures: a real broker process on a free loopback port, started as a user would."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parent.parent
JS_DIR = REPO / "tests" / "js"  # KafkaJS scripts, with KafkaJS installed from npm on first use


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """A `schemabus` subcommand in a subprocess, started as a user would: ready once it
    prints its "ready" line; its stderr goes to `log_path`."""

    log_path: Path
    proc: subprocess.Popen | None = None
    ready_line: str = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60.0):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.command(), cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
        ready = threading.Event()

        def watch(proc=self.proc):
            for line in proc.stdout:
                if "ready" in line:
                    self.ready_line = line.strip()
                    ready.set()
        threading.Thread(target=watch, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.command()[3]} did not become ready within {timeout}s; "
                                   f"log:\n{self.log_text()[-4000:]}")
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text()
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def kill(self) -> None:
        """kill -9: the crash the durability promises are about."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class BrokerProcess(ServiceProcess):
    """`schemabus broker`; restartable on the same port and data dir."""

    def __init__(self, data_dir: Path, configs: dict[str, str] | None = None, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.configs = dict(configs or {})
        self.log_path = self.data_dir.parent / f"broker-{self.port}.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "cli.main", "broker", "--data-dir", str(self.data_dir),
               "--listen", self.bootstrap]
        for key, value in self.configs.items():
            cmd += ["--config", f"{key}={value}"]
        return cmd

    def start(self, timeout: float = 30.0) -> "BrokerProcess":
        return super().start(timeout)


@pytest.fixture
def broker_factory(tmp_path):
    started: list[BrokerProcess] = []

    def make(configs: dict[str, str] | None = None) -> BrokerProcess:
        b = BrokerProcess(tmp_path / f"broker{len(started)}", configs)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        b.stop()


@pytest.fixture(scope="session")
def shared_broker(tmp_path_factory):
    """One broker for the tests that do not restart or kill it."""
    b = BrokerProcess(tmp_path_factory.mktemp("shared") / "data")
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def apache_kafka(tmp_path_factory):
    """Apache Kafka 4.x (single KRaft node) as the reference broker, once per session."""
    from tests.interop.apache_kafka import ApacheKafka

    kafka = ApacheKafka(tmp_path_factory.mktemp("apache-kafka")).start()
    yield kafka
    kafka.destroy()


@pytest.fixture(params=["schemabus", "apache-kafka"])
def any_broker(request):
    """The same scenario against our broker and against Apache Kafka: behaviour that
    differs shows up as a failing case."""
    return request.getfixturevalue("shared_broker" if request.param == "schemabus" else "apache_kafka")


# Consumer group protocol (KIP-848) timing short enough for tests: heartbeats every 0.5 s, a
# member gone after 4 s (with their lower bounds, 5 s and 45 s by default, lowered to match);
# at most 4 members per consumer group (GROUP_MAX_SIZE_REACHED).
KIP848_CONFIGS = {"group.consumer.heartbeat.interval.ms": "500", "group.consumer.min.heartbeat.interval.ms": "500",
                  "group.consumer.session.timeout.ms": "4000", "group.consumer.min.session.timeout.ms": "4000",
                  "group.consumer.max.size": "4"}


@pytest.fixture(scope="session", params=["schemabus", "apache-kafka"])
def kip848_broker(request, tmp_path_factory):
    """Our broker and Apache Kafka with KIP848_CONFIGS, once per session each."""
    base = tmp_path_factory.mktemp(f"kip848-{request.param}")
    if request.param == "schemabus":
        broker = BrokerProcess(base / "data", {**KIP848_CONFIGS, "group.initial.rebalance.delay.ms": "0"}).start()
        yield broker
        broker.stop()
    else:
        from tests.interop.apache_kafka import ApacheKafka

        kafka = ApacheKafka(base, extra=KIP848_CONFIGS).start()
        yield kafka
        kafka.destroy()


@pytest.fixture(scope="session", params=["schemabus", "apache-kafka"])
def platform(request, tmp_path_factory):
    """A real broker and a real registry on it, once per session: our broker (what
    `schemabus up` runs) and Apache Kafka (the scale-out path), so every registry, serdes
    and console scenario also runs unchanged on Kafka."""
    from tests.registry.conftest import RegistryProcess

    base = tmp_path_factory.mktemp(f"platform-{request.param}")
    if request.param == "schemabus":
        broker = BrokerProcess(base / "broker", {"group.initial.rebalance.delay.ms": "0"}).start()
    else:
        broker = request.getfixturevalue("apache_kafka")
    registry = RegistryProcess(broker.bootstrap, base).start()
    yield broker, registry
    registry.stop()
    if request.param == "schemabus":
        broker.stop()


def wait_until(predicate, timeout: float, message: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s: {message}")


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns()}"


@pytest.fixture(scope="session")
def kafkajs() -> str:
    """Path of `node`, with KafkaJS installed in tests/js (npm install on first use)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the KafkaJS tests"
    with FileLock(Path(tempfile.gettempdir()) / "schemabus-tests-npm.lock"):  # test workers install once
        if not (JS_DIR / "node_modules" / "kafkajs" / "package.json").exists():
            result = subprocess.run([npm, "install", "--no-package-lock", "--no-audit", "--no-fund",
                                     "--loglevel=error"], cwd=JS_DIR, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, f"npm install failed in {JS_DIR}: {result.stdout}\n{result.stderr}"
    return node


def round_trip(conf: dict, values: list[bytes], what: str = "") -> list[bytes]:
    """Produce `values` to a new topic with a confluent-kafka client config `conf` (security
    settings and all), read them back from partition 0 and return what was read."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    topic = unique_topic("round-trip")
    producer = Producer({**conf, "linger.ms": 5})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(30) == 0, f"records not delivered {what}"
    consumer = Consumer({**conf, "group.id": topic, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    read = []
    try:
        while len(read) < len(values):
            message = consumer.poll(15)
            assert message is not None, f"read {len(read)} of {len(values)} records {what}"
            assert message.error() is None, message.error()
            read.append(message.value())
    finally:
        consumer.close()
    return read
