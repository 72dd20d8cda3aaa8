"""Fixtures for the Connect runtime's tests."""

from __future__ import annotations

import pytest

from tests.connect.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the whole session (tests/connect/postgres.py)."""
    server = PostgresServer().start()
    yield server
    server.stop()
