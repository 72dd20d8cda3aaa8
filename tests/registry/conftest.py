"""Fixtures: `schemabus registry` started as a user would, on our broker (also a real process)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import requests
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from tests.conftest import BrokerProcess, ServiceProcess, free_port, unique_topic

V1 = "application/vnd.schemaregistry.v1+json"


class RegistryProcess(ServiceProcess):
    """`schemabus registry`; restartable on the same port, topic and broker."""

    def __init__(self, bootstrap: str, log_dir: Path, topic: str | None = None, port: int | None = None,
                 group_id: str | None = None, extra_args: list[str] | None = None):
        self.bootstrap = bootstrap
        self.topic = topic or unique_topic("schemas")
        self.port = port or free_port()
        self.group_id = group_id or f"registry-{self.topic}"
        self.extra_args = list(extra_args or [])
        self.log_path = Path(log_dir) / f"registry-{self.port}.log"
        self.init_timeout = 60.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli.main", "registry", "--bootstrap-server", self.bootstrap,
                "--listen", f"127.0.0.1:{self.port}", "--topic", self.topic, "--group-id", self.group_id,
                "--init-timeout", str(self.init_timeout), *self.extra_args]

    def start(self, timeout: float = 60.0) -> "RegistryProcess":
        self.init_timeout = timeout
        return super().start(timeout)

    def stop(self, timeout: float = 20.0) -> int:
        return super().stop(timeout)

    # --- HTTP helpers --------------------------------------------------------------------------

    def call(self, method: str, path: str, body=None, raw: bytes | None = None, headers=None, **params):
        hdrs = {"Content-Type": V1, "Accept": V1, **(headers or {})}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        return requests.request(method, self.url + path, data=data, headers=hdrs, params=params or None, timeout=30)

    def register(self, subject: str, schema, **extra):
        text = schema if isinstance(schema, str) else json.dumps(schema)
        return self.call("POST", f"/subjects/{requests.utils.quote(subject, safe='')}/versions",
                         {"schema": text, **extra})


# Our broker with groups answering at once (Kafka's default waits 3 s before the first rebalance).
FAST_GROUPS = {"group.initial.rebalance.delay.ms": "0"}


@pytest.fixture(scope="session")
def registry_broker(tmp_path_factory):
    """One broker for the registry tests that do not restart or kill it."""
    broker = BrokerProcess(tmp_path_factory.mktemp("registry-broker") / "data", FAST_GROUPS)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def registry_factory(tmp_path, registry_broker):
    started: list[RegistryProcess] = []

    def make(bootstrap: str | None = None, **kwargs) -> RegistryProcess:
        reg = RegistryProcess(bootstrap or registry_broker.bootstrap, tmp_path, **kwargs)
        started.append(reg)
        return reg.start()

    yield make
    for reg in started:
        reg.stop()


@pytest.fixture
def registry(registry_factory) -> RegistryProcess:
    """A registry with its own schemas topic on the shared broker."""
    return registry_factory()


@pytest.fixture(scope="module")
def module_registry(tmp_path_factory, registry_broker):
    reg = RegistryProcess(registry_broker.bootstrap, tmp_path_factory.mktemp("registry")).start()
    yield reg
    reg.stop()


def leader_port(bootstrap: str, group: str) -> int | None:
    """The port in the identity of the member assigned the coordination partition, if the group is stable."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    group_info = admin.describe_consumer_groups([group], request_timeout=5)[group].result()
    if group_info.state != ConsumerGroupState.STABLE:
        return None
    for member in group_info.members:
        if any(tp.partition == 0 for tp in member.assignment.topic_partitions):
            return json.loads(member.client_id)["port"]
    return None


def record_schema(name: str = "User", *fields) -> dict:
    return {"type": "record", "name": name, "fields": list(fields) or [{"name": "name", "type": "string"}]}
