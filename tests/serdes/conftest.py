"""A real broker and a real registry for the serdes tests (session-scoped)."""

from __future__ import annotations

import pytest

from serdes import SchemaRegistryClient
from tests.conftest import BrokerProcess
from tests.registry.conftest import RegistryProcess


@pytest.fixture(scope="session")
def serdes_platform(tmp_path_factory):
    base = tmp_path_factory.mktemp("serdes")
    broker = BrokerProcess(base / "broker", {"group.initial.rebalance.delay.ms": "0"}).start()
    registry = RegistryProcess(broker.bootstrap, base).start()
    yield broker, registry
    registry.stop()
    broker.stop()


@pytest.fixture
def client(serdes_platform):
    return SchemaRegistryClient({"url": serdes_platform[1].url})


@pytest.fixture
def confluent_client(serdes_platform):
    from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentClient

    return ConfluentClient({"url": serdes_platform[1].url})
