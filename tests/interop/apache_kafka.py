"""Apache Kafka 4.x as a peer: fetched from Maven Central, run as a single-node KRaft broker.

Used by the interop tests (the same scenarios against Kafka) and by the benchmarks (a peer
measured in the same run). Jars are resolved with `mvn dependency:copy-dependencies` into
a cache directory; Maven's local repository makes later runs offline-fast.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

from filelock import FileLock

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
SLF4J_VERSION = "2.0.17"  # Kafka 4's; Maven's nearest-wins otherwise picks 1.7.36, which finds no binding
CACHE = Path(os.environ.get("SCHEMABUS_KAFKA_CACHE", Path.home() / ".cache" / "schemabus" / f"kafka-{KAFKA_VERSION}"))

_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>schemabus</groupId><artifactId>apache-kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>{SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """<Configuration status="WARN">
  <Appenders><Console name="STDERR" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console></Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="STDERR"/></Root></Loggers>
</Configuration>
"""


# What bin/kafka-server-start.sh and bin/kafka-run-class.sh put on the java command line
# (KAFKA_HEAP_OPTS and KAFKA_JVM_PERFORMANCE_OPTS): the peer runs as Kafka ships it.
KAFKA_HEAP_OPTS = ["-Xmx1G", "-Xms1G"]
KAFKA_JVM_PERFORMANCE_OPTS = ["-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                              "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                              "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]


def kafka_libs() -> Path:
    """Directory with Apache Kafka's jars, downloading them once."""
    return maven_libs(CACHE, _POM)


def compile_java(source: Path, out: Path) -> str:
    """`source` compiled against Apache Kafka's jars into `out`: the classpath to run it with."""
    if shutil.which("javac") is None:
        raise RuntimeError("javac is required (Java 17 is part of the project's machine)")
    classpath = f"{kafka_libs()}/*"
    subprocess.run(["javac", "-cp", classpath, "-d", str(out), str(source)], check=True, timeout=300)
    return f"{out}:{classpath}"


def maven_libs(cache: Path, pom: str) -> Path:
    """`cache`/libs: the jars `pom` depends on, resolved by Maven once (again when the POM changes)."""
    libs = cache / "libs"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(cache.parent / "maven.lock"):  # parallel test workers share Maven's local repository
        return _resolve(cache, libs, pom)


def _resolve(cache: Path, libs: Path, pom: str) -> Path:
    marker = cache / ".complete"
    if marker.exists() and (cache / "pom.xml").exists() and (cache / "pom.xml").read_text() == pom:
        return libs
    shutil.rmtree(libs, ignore_errors=True)  # resolved from another POM: start over
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "pom.xml").write_text(pom)
    subprocess.run(["mvn", "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={libs}"],
                   cwd=cache, check=True, timeout=1200)
    marker.write_text(KAFKA_VERSION)
    return libs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApacheKafka:
    """A single-node KRaft Apache Kafka on loopback."""

    def __init__(self, work_dir: Path, port: int | None = None, extra: dict[str, str] | None = None,
                 extra_listeners: dict[str, int] | None = None):
        """`extra_listeners`: more listeners next to PLAINTEXT (the readiness probe's), as
        {name: port} with the name its own security protocol (SASL_SSL, SSL, ...), configured
        through `extra` with Kafka's names."""
        self.work_dir = Path(work_dir)
        self.port = port or _free_port()
        self.controller_port = _free_port()
        self.extra = extra or {}
        self.extra_listeners = dict(extra_listeners or {})
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _java(self, main: str, *args: str) -> list[str]:
        libs = kafka_libs()
        return ["java", *KAFKA_HEAP_OPTS, *KAFKA_JVM_PERFORMANCE_OPTS, f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.xml'}",
                "-cp", f"{libs}/*", main, *args]

    def start(self, timeout: float = 120.0) -> "ApacheKafka":
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "log4j2.xml").write_text(_LOG4J2)
        more = "".join(f",{name}://127.0.0.1:{port}" for name, port in self.extra_listeners.items())
        props = {
            "process.roles": "broker,controller", "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}{more}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}{more}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" + "".join(
                f",{name}:{name}" for name in self.extra_listeners),
            "log.dirs": str(self.work_dir / "data"),
            "offsets.topic.replication.factor": "1", "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            **self.extra,
        }
        config = self.work_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        if not (self.work_dir / "data" / "meta.properties").exists():
            subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", uuid.uuid4().hex[:22],
                                      "-c", str(config), "--ignore-formatted"),
                           check=True, capture_output=True, timeout=120)
        self._log = open(self.work_dir / "kafka.log", "a")
        self.proc = subprocess.Popen(self._java("kafka.Kafka", str(config)),
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Apache Kafka exited: {(self.work_dir / 'kafka.log').read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.5)
                continue
            try:
                md = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
                if md.brokers:
                    return
            except Exception:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Apache Kafka not ready within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)
