"""A broker and a REST Proxy in front of it, as processes started the way a user starts them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import BrokerProcess, ServiceProcess, free_port
from tests.registry.conftest import RegistryProcess


class RestProcess(ServiceProcess):
    def __init__(self, work_dir: Path, bootstrap: str, configs: dict[str, str] | None = None,
                 registry_url: str | None = None):
        self.port = free_port()
        self.bootstrap = bootstrap
        self.registry_url = registry_url
        self.configs = dict(configs or {})
        self.log_path = Path(work_dir) / f"rest-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "cli.main", "rest", "--bootstrap-server", self.bootstrap,
               "--listen", f"127.0.0.1:{self.port}"]
        if self.registry_url:
            cmd += ["--schema-registry-url", self.registry_url]
        for key, value in self.configs.items():
            cmd += ["--config", f"{key}={value}"]
        return cmd


class KafkaAsBroker:
    """Apache Kafka in the broker's place: the same proxy suite runs against it."""

    def __init__(self, work: Path):
        from tests.interop.apache_kafka import ApacheKafka
        self.kafka = ApacheKafka(work / "kafka", extra={"num.partitions": "1"}).start()
        self.bootstrap = self.kafka.bootstrap

    def stop(self) -> None:
        self.kafka.destroy()


@pytest.fixture(scope="module", params=["schemabus", pytest.param("apache-kafka", marks=pytest.mark.slow)])
def platform(request, tmp_path_factory):
    """(broker, proxy, registry): our broker, or Apache Kafka, with our registry and proxy on it."""
    work = tmp_path_factory.mktemp(f"rest-{request.param}")
    if request.param == "schemabus":
        broker = BrokerProcess(work / "data", {"num.partitions": "1"}).start()
    else:
        broker = KafkaAsBroker(work)
    started = [broker]
    try:  # whatever started is stopped, also when a later process fails to start
        registry = RegistryProcess(broker.bootstrap, work).start()
        started.append(registry)
        rest = RestProcess(work, broker.bootstrap, registry_url=registry.url).start()
        started.append(rest)
        yield broker, rest, registry
    finally:
        for process in reversed(started):
            process.stop()
