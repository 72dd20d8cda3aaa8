"""Confluent's JDBC source and sink connectors, over SQLAlchemy (SQLite and PostgreSQL)."""

from connect.connectors.jdbc.sink import JdbcSinkConnector, JdbcSinkTask
from connect.connectors.jdbc.source import JdbcSourceConnector, JdbcSourceTask

__all__ = ["JdbcSinkConnector", "JdbcSinkTask", "JdbcSourceConnector", "JdbcSourceTask"]
