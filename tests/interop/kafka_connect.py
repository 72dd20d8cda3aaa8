"""Apache Kafka's own Connect (Java) as a peer: a distributed worker from Maven Central's jars,
run against any broker (ours in the interop test), FileStream connectors on its classpath."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.interop.apache_kafka import KAFKA_VERSION, LOG4J_VERSION, SLF4J_VERSION, _LOG4J2, maven_libs

CACHE = Path(os.environ.get("SCHEMABUS_CONNECT_CACHE",
                            Path.home() / ".cache" / "schemabus" / f"kafka-connect-{KAFKA_VERSION}"))

_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>schemabus</groupId><artifactId>apache-kafka-connect-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId><version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-file</artifactId><version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-json</artifactId><version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>{SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""


class ConnectWorker:
    """`org.apache.kafka.connect.cli.ConnectDistributed` with Kafka's worker config names."""

    def __init__(self, work_dir: Path, port: int, config: dict[str, str]):
        self.work_dir = Path(work_dir)
        self.port = port
        self.config = {"listeners": f"http://127.0.0.1:{port}", "rest.advertised.host.name": "127.0.0.1",
                       "rest.advertised.port": str(port), **config}
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> "ConnectWorker":
        libs = maven_libs(CACHE, _POM)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "log4j2.xml").write_text(_LOG4J2)
        properties = self.work_dir / "worker.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in self.config.items()))
        self.proc = subprocess.Popen(
            ["java", "-Xmx512M", f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.xml'}", "-cp", f"{libs}/*",
             "org.apache.kafka.connect.cli.ConnectDistributed", str(properties)],
            stdout=subprocess.DEVNULL, stderr=open(self.work_dir / "worker.log", "ab"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Connect worker exited with {self.proc.returncode}: {self.log()[-3000:]}")
            try:
                if requests.get(f"{self.url}/connectors", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.kill()
        raise RuntimeError(f"Connect worker not ready within {timeout}s: {self.log()[-3000:]}")

    def log(self) -> str:
        try:
            return (self.work_dir / "worker.log").read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """kill -9: a worker that dies without leaving its group."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
