"""Registry clients (ours and confluent-kafka's) on the session's real broker and registry."""

from __future__ import annotations

import pytest

from serdes import SchemaRegistryClient


@pytest.fixture(scope="session")
def serdes_platform(platform):
    return platform


@pytest.fixture
def client(platform):
    return SchemaRegistryClient({"url": platform[1].url})


@pytest.fixture
def confluent_client(platform):
    from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentClient

    return ConfluentClient({"url": platform[1].url})
