"""The JDBC source and sink connectors, driven through the connector API (start -> poll / put) on
SQLite (a file in tmp_path) and on a real PostgreSQL server (tests/connect/postgres.py)."""

from __future__ import annotations

import datetime
import decimal
import logging
import sqlite3
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from connect import data
from connect.api import ConnectorContext, OffsetStorageReader, SinkRecord, SinkTaskContext, SourceTaskContext, \
    freeze_partition
from connect.connectors.jdbc import JdbcSinkConnector, JdbcSinkTask, JdbcSourceConnector, JdbcSourceTask
from connect.connectors.jdbc.dialect import translate_url
from connect.connectors.jdbc.source import timestamp_from_offset, timestamp_offset
from connect.errors import ConfigException, ConnectException, RetriableException

UTC = datetime.timezone.utc
T0 = datetime.datetime(2024, 5, 1, 12, 0, 0, 123456)  # naive = UTC, the default db.timezone


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def utc(value: datetime.datetime) -> datetime.datetime:
    return value.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Databases


class Backend:
    """One empty database: its URLs and an engine for the test's own SQL."""

    def __init__(self, name: str, url: str, jdbc_url: str):
        self.name, self.url, self.jdbc_url = name, url, jdbc_url
        self.engine = sa.create_engine(translate_url(url))

    def create(self, table: str, *columns: sa.Column) -> sa.Table:
        t = sa.Table(table, sa.MetaData(), *columns)
        t.create(self.engine)
        return t

    def insert(self, table: sa.Table, *rows: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(table), list(rows))

    def execute(self, sql, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql) if isinstance(sql, str) else sql, params)

    def rows(self, sql: str) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]

    def select(self, table: str, order_by: str = "id") -> list[tuple]:
        """Rows read through the table's reflected types (SQLite keeps dates as text)."""
        t = self.reflect(table)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(t).order_by(t.c[order_by]))]

    def reflect(self, table: str) -> sa.Table:
        return sa.Table(table, sa.MetaData(), autoload_with=self.engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        db = Backend("sqlite", f"sqlite:///{path}", f"jdbc:sqlite:{path}")
    else:
        server = request.getfixturevalue("postgres_server")
        name = "t_" + uuid.uuid4().hex[:12]
        server.create_database(name)
        db = Backend("postgresql", server.url(name), server.jdbc_url(name))
    yield db
    db.engine.dispose()


# ---------------------------------------------------------------------------------------------
# Driving the connectors


class DictOffsets(OffsetStorageReader):
    """Offsets kept in a dict, as the worker's offset store would after committing them."""

    def __init__(self):
        self.stored: dict = {}

    def offsets(self, partitions):
        keys = [freeze_partition(p) for p in partitions]
        return {k: self.stored[k] for k in keys if k in self.stored}

    def commit(self, records) -> None:
        for record in records:
            if record.source_offset is not None:
                self.stored[freeze_partition(record.source_partition)] = record.source_offset


def source_props(db: Backend, **extra) -> dict:
    props = {"connection.url": db.jdbc_url, "poll.interval.ms": "20", "topic.prefix": "db-"}
    props.update({k.replace("_", "."): str(v) for k, v in extra.items()})
    return props


def start_source(props: dict, offsets: DictOffsets, max_tasks: int = 1) -> list[JdbcSourceTask]:
    connector = JdbcSourceConnector()
    connector.start(props)
    configs = connector.task_configs(max_tasks)
    connector.stop()
    tasks = []
    for task_config in configs:
        task = JdbcSourceTask()
        task.initialize(SourceTaskContext(task_config, offsets))
        task.start(task_config)
        tasks.append(task)
    return tasks


def poll(task: JdbcSourceTask, offsets: DictOffsets, count: int, timeout: float = 15.0, settle: bool = True) -> list:
    """At least `count` records (committing their offsets as the worker would), then, to settle,
    whatever a few more polls give: so the caller sees exactly what the task had to give."""
    records, deadline = [], time.monotonic() + timeout
    while len(records) < count and time.monotonic() < deadline:
        batch = task.poll() or []
        offsets.commit(batch)
        records += batch
    assert len(records) >= count, f"polled {len(records)} records, expected {count}"
    if settle:
        records += quiet(task, offsets)
    return records


def quiet(task: JdbcSourceTask, offsets: DictOffsets, seconds: float = 0.25) -> list:
    """Whatever the task returns over a short while (expected: nothing)."""
    extra, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = task.poll() or []
        offsets.commit(batch)
        extra += batch
    return extra


def values(records, name: str = "id") -> list:
    return [r.value.get(name) for r in records]


def users_table(db: Backend, nullable_updated: bool = False) -> sa.Table:
    return db.create("users",
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("name", sa.String(40), nullable=False),
                     sa.Column("updated", sa.DateTime, nullable=nullable_updated))


# ---------------------------------------------------------------------------------------------
# Source


def test_bulk_reads_the_whole_table_every_round_in_batches(backend):
    users = users_table(backend)
    backend.insert(users, *({"id": i, "name": f"u{i}", "updated": at(i)} for i in (1, 2, 3)))
    offsets = DictOffsets()
    [task] = start_source(source_props(backend, mode="bulk", batch_max_rows=2, poll_interval_ms=300), offsets)
    try:
        first = [task.poll() for _ in range(2)]
        assert [len(batch) for batch in first] == [2, 1]  # batch.max.rows per poll
        records = first[0] + first[1]
        assert sorted(values(records)) == [1, 2, 3]
        record = records[0]
        assert record.topic == "db-users"
        assert record.source_partition == {"table": "users" if backend.name == "sqlite" else "public.users",
                                           "protocol": "1"}
        assert record.source_offset is None
        assert record.value_schema.name == "users"
        backend.insert(users, {"id": 4, "name": "u4", "updated": at(4)})
        again = poll(task, offsets, 4, settle=False)  # the next round: a fresh snapshot
        assert sorted(values(again)) == [1, 2, 3, 4]
    finally:
        task.stop()


def test_incrementing_picks_up_new_rows_and_resumes_from_offsets(backend):
    users = users_table(backend)
    backend.insert(users, *({"id": i, "name": f"u{i}", "updated": at(i)} for i in (1, 2, 3)))
    offsets = DictOffsets()
    props = source_props(backend, mode="incrementing", incrementing_column_name="id", batch_max_rows=2)
    [task] = start_source(props, offsets)
    try:
        records = poll(task, offsets, 3)
        assert values(records) == [1, 2, 3]
        assert [r.source_offset for r in records] == [{"incrementing": 1}, {"incrementing": 2}, {"incrementing": 3}]
        backend.insert(users, {"id": 4, "name": "u4", "updated": at(4)}, {"id": 5, "name": "u5", "updated": at(5)})
        assert values(poll(task, offsets, 2)) == [4, 5]
    finally:
        task.stop()
    backend.insert(users, {"id": 6, "name": "u6", "updated": at(6)})
    [restarted] = start_source(props, offsets)  # a new task, as after a worker restart
    try:
        assert values(poll(restarted, offsets, 1)) == [6]
    finally:
        restarted.stop()


def test_incrementing_finds_the_auto_increment_key_by_itself(backend):
    users = users_table(backend)
    backend.insert(users, {"name": "a", "updated": at(1)}, {"name": "b", "updated": at(2)})
    offsets = DictOffsets()
    [task] = start_source(source_props(backend, mode="incrementing"), offsets)
    try:
        assert values(poll(task, offsets, 2), "name") == ["a", "b"]
    finally:
        task.stop()


def test_timestamp_mode_reads_new_and_modified_rows_and_keeps_tied_timestamps_together(backend):
    users = users_table(backend)
    # Three rows share a timestamp: a batch of 2 must not end inside that group.
    backend.insert(users, {"id": 1, "name": "a", "updated": at(1)}, {"id": 2, "name": "b", "updated": at(2)},
                   {"id": 3, "name": "c", "updated": at(2)}, {"id": 4, "name": "d", "updated": at(2)},
                   {"id": 5, "name": "e", "updated": at(3)})
    offsets = DictOffsets()
    props = source_props(backend, mode="timestamp", timestamp_column_name="updated", batch_max_rows=2)
    [task] = start_source(props, offsets)
    try:
        records = poll(task, offsets, 5)
        assert sorted(values(records)) == [1, 2, 3, 4, 5]
        stamps = [r.source_offset for r in records]
        # A record's offset reaches its timestamp only with the last row of its group.
        assert stamps[0] == timestamp_offset(utc(at(1)))
        assert stamps[1] == stamps[2] == timestamp_offset(utc(at(1)))
        assert stamps[3] == stamps[4 - 1] and stamps[3] == timestamp_offset(utc(at(2)))
        assert stamps[4] == timestamp_offset(utc(at(3)))
        assert records[0].value.get("updated") == utc(at(1))

        backend.execute(sa.update(users).where(users.c.id == 1).values(name="a2", updated=at(10)))
        changed = poll(task, offsets, 1)
        assert [(r.value.get("id"), r.value.get("name")) for r in changed] == [(1, "a2")]
    finally:
        task.stop()
    backend.insert(users, {"id": 6, "name": "f", "updated": at(11)})
    [restarted] = start_source(props, offsets)
    try:
        assert values(poll(restarted, offsets, 1)) == [6]
    finally:
        restarted.stop()


def test_timestamp_incrementing_orders_by_time_then_id_and_resumes(backend):
    users = users_table(backend)
    backend.insert(users, *({"id": i, "name": f"u{i}", "updated": at(1)} for i in (1, 2, 3)),
                   {"id": 4, "name": "u4", "updated": at(0.5)})
    offsets = DictOffsets()
    props = source_props(backend, mode="timestamp+incrementing", timestamp_column_name="updated",
                         incrementing_column_name="id", batch_max_rows=2)
    [task] = start_source(props, offsets)
    try:
        records = poll(task, offsets, 4)
        assert values(records) == [4, 1, 2, 3]
        last = records[-1].source_offset
        assert last == {**timestamp_offset(utc(at(1))), "incrementing": 3}
        assert timestamp_from_offset(last) == utc(at(1))
        # Same timestamp, larger id: new. An update moves a row to a later time: read again.
        backend.insert(users, {"id": 5, "name": "u5", "updated": at(1)})
        backend.execute(sa.update(users).where(users.c.id == 2).values(name="u2b", updated=at(2)))
        assert [(r.value.get("id"), r.value.get("name")) for r in poll(task, offsets, 2)] == [(5, "u5"), (2, "u2b")]
    finally:
        task.stop()
    backend.insert(users, {"id": 6, "name": "u6", "updated": at(3)})
    [restarted] = start_source(props, offsets)
    try:
        assert values(poll(restarted, offsets, 1)) == [6]
    finally:
        restarted.stop()


def test_timestamp_initial_and_delay_interval(backend):
    users = users_table(backend)
    now = datetime.datetime.now(UTC).replace(tzinfo=None)
    backend.insert(users, {"id": 1, "name": "old", "updated": at(1)}, {"id": 2, "name": "mid", "updated": at(5)},
                   {"id": 3, "name": "fresh", "updated": now})
    initial_ms = timestamp_offset(utc(at(2)))["timestamp"]
    offsets = DictOffsets()
    props = source_props(backend, mode="timestamp", timestamp_column_name="updated", timestamp_initial=initial_ms,
                         timestamp_delay_interval_ms=3_600_000)
    [task] = start_source(props, offsets)
    try:
        # Row 1 is before timestamp.initial; row 3 is younger than the hour's delay.
        assert values(poll(task, offsets, 1), "name") == ["mid"]
    finally:
        task.stop()


def test_query_mode(backend):
    users = users_table(backend)
    backend.insert(users, *({"id": i, "name": "skip" if i == 2 else f"u{i}", "updated": at(i)} for i in (1, 2, 3)))
    offsets = DictOffsets()
    props = source_props(backend, mode="incrementing", incrementing_column_name="id", topic_prefix="users-query",
                         query="SELECT id, name FROM users WHERE name <> 'skip'")
    [task] = start_source(props, offsets)
    try:
        records = poll(task, offsets, 2)
        assert values(records) == [1, 3]
        assert {r.topic for r in records} == {"users-query"}
        assert records[0].source_partition == {"query": "query"}
        assert records[-1].source_offset == {"incrementing": 3}
        assert records[0].value_schema.name is None
        assert [f.name for f in records[0].value_schema.fields] == ["id", "name"]
    finally:
        task.stop()
    backend.insert(users, {"id": 4, "name": "u4", "updated": at(4)})
    [restarted] = start_source(props, offsets)
    try:
        assert values(poll(restarted, offsets, 1)) == [4]
    finally:
        restarted.stop()


def test_column_types_map_to_connect_schemas(backend):
    table = backend.create("kinds",
                           sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
                           sa.Column("small", sa.SmallInteger),
                           sa.Column("flag", sa.Boolean, nullable=False),
                           sa.Column("ratio", sa.Float),
                           sa.Column("price", sa.Numeric(10, 2)),
                           sa.Column("count", sa.Numeric(5, 0)),
                           sa.Column("note", sa.Text),
                           sa.Column("blob", sa.LargeBinary),
                           sa.Column("day", sa.Date),
                           sa.Column("clock", sa.Time),
                           sa.Column("stamp", sa.DateTime))
    backend.insert(table, {"id": 1, "small": 7, "flag": True, "ratio": 0.5, "price": decimal.Decimal("12.34"),
                           "count": 42, "note": "hi", "blob": b"\x00\x01", "day": datetime.date(2024, 2, 29),
                           "clock": datetime.time(13, 14, 15), "stamp": at(0)})
    backend.insert(table, {"id": 2, "flag": False})
    offsets = DictOffsets()
    [task] = start_source(source_props(backend, mode="bulk"), offsets)
    try:
        first, second = sorted(poll(task, offsets, 2, settle=False), key=lambda r: r.value.get("id"))
    finally:
        task.stop()
    schema = first.value_schema
    kinds = {f.name: f.schema for f in schema.fields}
    assert kinds["id"] == data.INT64_SCHEMA  # primary key: required
    assert kinds["small"] == data.OPTIONAL_INT16_SCHEMA
    assert kinds["flag"] == data.BOOLEAN_SCHEMA
    assert kinds["ratio"] == data.OPTIONAL_FLOAT64_SCHEMA
    assert kinds["price"] == data.decimal_schema(2, optional=True, precision=10)
    assert kinds["note"] == data.OPTIONAL_STRING_SCHEMA
    assert kinds["blob"] == data.OPTIONAL_BYTES_SCHEMA
    assert kinds["day"] == data.date_schema(optional=True)
    assert kinds["clock"] == data.time_schema(optional=True)
    assert kinds["stamp"] == data.timestamp_schema(optional=True)
    row = first.value
    assert (row.get("small"), row.get("flag"), row.get("ratio"), row.get("price"), row.get("count")) == \
        (7, True, 0.5, decimal.Decimal("12.34"), decimal.Decimal(42))
    assert (row.get("note"), row.get("blob"), row.get("day"), row.get("clock"), row.get("stamp")) == \
        ("hi", b"\x00\x01", datetime.date(2024, 2, 29), datetime.time(13, 14, 15), utc(at(0)))
    assert second.value.get("price") is None and second.value.get("flag") is False


def test_numeric_mapping_best_fit(backend):
    table = backend.create("amounts", sa.Column("id", sa.Integer, primary_key=True),
                           sa.Column("price", sa.Numeric(10, 2), nullable=False),
                           sa.Column("qty", sa.Numeric(5, 0), nullable=False),
                           sa.Column("huge", sa.Numeric(30, 0)))
    backend.insert(table, {"id": 1, "price": decimal.Decimal("9.99"), "qty": 12, "huge": 2 ** 70})
    offsets = DictOffsets()
    [task] = start_source(source_props(backend, mode="bulk", numeric_mapping="best_fit"), offsets)
    try:
        [record] = poll(task, offsets, 1, settle=False)
    finally:
        task.stop()
    kinds = {f.name: f.schema for f in record.value_schema.fields}
    assert kinds["price"] == data.FLOAT64_SCHEMA
    assert kinds["qty"] == data.INT32_SCHEMA
    assert kinds["huge"] == data.decimal_schema(0, optional=True, precision=30)  # too wide for a long
    assert (record.value.get("price"), record.value.get("qty"), record.value.get("huge")) == \
        (9.99, 12, decimal.Decimal(2 ** 70))  # 2**70: exact even as SQLite's REAL


def test_tables_are_split_across_tasks_and_filtered(backend):
    for name in ("alpha", "beta", "gamma", "delta"):
        table = backend.create(name, sa.Column("id", sa.Integer, primary_key=True))
        backend.insert(table, {"id": 1})
    connector = JdbcSourceConnector()
    connector.start(source_props(backend, mode="bulk", table_blacklist="delta"))
    try:
        configs = connector.task_configs(2)
    finally:
        connector.stop()
    prefix = "" if backend.name == "sqlite" else "public."
    assert [c["tables"] for c in configs] == [f"{prefix}alpha,{prefix}beta", f"{prefix}gamma"]
    connector = JdbcSourceConnector()
    connector.start(source_props(backend, mode="bulk", table_whitelist="gamma,beta"))
    try:
        assert [c["tables"] for c in connector.task_configs(5)] == [f"{prefix}beta", f"{prefix}gamma"]
    finally:
        connector.stop()
    offsets = DictOffsets()
    tasks = start_source(source_props(backend, mode="bulk", table_blacklist="delta"), offsets, max_tasks=2)
    try:
        topics = sorted(r.topic for task in tasks for r in poll(task, offsets, len(task.queriers), settle=False))
    finally:
        for task in tasks:
            task.stop()
    assert topics == ["db-alpha", "db-beta", "db-gamma"]


class RecordingContext(ConnectorContext):
    def __init__(self):
        self.reconfigured = threading.Event()

    def request_task_reconfiguration(self):
        self.reconfigured.set()


def test_new_tables_trigger_task_reconfiguration(backend):
    backend.create("first", sa.Column("id", sa.Integer, primary_key=True))
    connector = JdbcSourceConnector()
    context = RecordingContext()
    connector.initialize(context)
    connector.start(source_props(backend, mode="bulk", table_poll_interval_ms=50))
    try:
        assert len(connector.task_configs(3)) == 1
        assert not context.reconfigured.wait(0.2)
        backend.create("second", sa.Column("id", sa.Integer, primary_key=True))
        assert context.reconfigured.wait(10), "the new table was not noticed"
        assert len(connector.task_configs(3)) == 2
    finally:
        connector.stop()


def test_db_timezone_reads_naive_timestamps_as_local_time(backend):
    users = users_table(backend)
    backend.insert(users, {"id": 1, "name": "a", "updated": datetime.datetime(2024, 5, 1, 12, 0)})
    offsets = DictOffsets()
    props = source_props(backend, mode="timestamp", timestamp_column_name="updated", db_timezone="America/New_York")
    [task] = start_source(props, offsets)
    try:
        [record] = poll(task, offsets, 1)
    finally:
        task.stop()
    expected = datetime.datetime(2024, 5, 1, 16, 0, tzinfo=UTC)  # 12:00 EDT
    assert record.value.get("updated") == expected
    assert record.source_offset == timestamp_offset(expected)


def test_postgres_specific_types(postgres_server):
    name = "t_" + uuid.uuid4().hex[:12]
    postgres_server.create_database(name)
    db = Backend("postgresql", postgres_server.url(name), postgres_server.jdbc_url(name))
    db.execute("CREATE TABLE things (id serial PRIMARY KEY, doc jsonb, tag uuid, amount numeric, "
               "seen timestamptz NOT NULL, weight real, label varchar(10), span interval)")
    tag = uuid.uuid4()
    db.execute("INSERT INTO things (doc, tag, amount, seen, weight, label, span) VALUES "
               "('{\"a\": [1, 2]}', :tag, 1234.5678, '2024-05-01 14:00:00+02', 0.5, 'x', '1 day')", tag=str(tag))
    offsets = DictOffsets()
    [task] = start_source(source_props(db, mode="timestamp+incrementing", timestamp_column_name="seen",
                                       incrementing_column_name="id"), offsets)
    try:
        [record] = poll(task, offsets, 1)
    finally:
        task.stop()
        db.engine.dispose()
    kinds = {f.name: f.schema for f in record.value_schema.fields}
    assert "span" not in kinds  # intervals are not copied, as in Confluent's connector
    assert kinds["doc"] == kinds["tag"] == kinds["label"] == data.OPTIONAL_STRING_SCHEMA
    assert kinds["amount"] == data.decimal_schema(127, optional=True, precision=0)  # no declared scale
    assert kinds["weight"] == data.OPTIONAL_FLOAT32_SCHEMA
    assert kinds["seen"] == data.timestamp_schema()
    value = record.value
    assert (value.get("doc"), value.get("tag"), value.get("amount"), value.get("weight")) == \
        ('{"a":[1,2]}', str(tag), decimal.Decimal("1234.5678"), 0.5)
    assert value.get("seen") == datetime.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_nullable_offset_columns_are_refused_unless_allowed(backend):
    users = users_table(backend, nullable_updated=True)
    backend.insert(users, {"id": 1, "name": "a", "updated": at(1)})
    props = source_props(backend, mode="timestamp", timestamp_column_name="updated")
    with pytest.raises(ConnectException, match="nullable"):
        start_source(props, DictOffsets())
    offsets = DictOffsets()
    [task] = start_source({**props, "validate.non.null": "false"}, offsets)
    try:
        assert values(poll(task, offsets, 1)) == [1]
    finally:
        task.stop()


def test_missing_offset_columns_fail_at_start(backend):
    users_table(backend)
    with pytest.raises(ConfigException, match="Incrementing column nope does not exist in table 'users'|"
                                              "Incrementing column nope does not exist in table 'public.users'"):
        start_source(source_props(backend, mode="incrementing", incrementing_column_name="nope"), DictOffsets())
    with pytest.raises(ConfigException, match="Timestamp column when does not exist"):
        start_source(source_props(backend, mode="timestamp", timestamp_column_name="when"), DictOffsets())


def test_source_config_errors_read_like_kafkas(tmp_path):
    url = f"jdbc:sqlite:{tmp_path}/x.db"
    connector = JdbcSourceConnector()
    with pytest.raises(ConfigException, match='Missing required configuration "connection.url" which has no '
                                              'default value.'):
        connector.start({"mode": "bulk"})
    with pytest.raises(ConfigException, match="Invalid value  for configuration mode: Query mode must be specified"):
        connector.start({"connection.url": url})
    with pytest.raises(ConfigException, match="Invalid value sometimes for configuration mode: String must be "
                                              "one of: , bulk, timestamp, incrementing, timestamp\\+incrementing"):
        connector.start({"connection.url": url, "mode": "sometimes"})
    with pytest.raises(ConfigException, match="'incrementing.column.name' must be set for mode 'incrementing' "
                                              "with a custom query"):
        connector.start({"connection.url": url, "mode": "incrementing", "query": "SELECT 1 AS id"})
    with pytest.raises(ConfigException, match="'timestamp.column.name' must be set for mode 'timestamp'"):
        connector.start({"connection.url": url, "mode": "timestamp"})
    with pytest.raises(ConfigException, match="Invalid value abc for configuration batch.max.rows: Not a number"):
        connector.start({"connection.url": url, "mode": "bulk", "batch.max.rows": "abc"})
    results = {v.name: v.errors for v in connector.validate({"connection.url": url, "mode": "incrementing",
                                                              "query": "SELECT 1 AS id", "table.whitelist": "t"})}
    assert any("custom query" in e for e in results["incrementing.column.name"])
    assert any("either 'query' or table.whitelist" in e for e in results["query"])
    assert results["mode"] == [] and results["connection.url"] == []
    results = {v.name: v.errors for v in connector.validate({})}
    assert results["connection.url"] == ['Missing required configuration "connection.url" which has no default value.']


def test_jdbc_urls_translate_to_sqlalchemy():
    assert translate_url("jdbc:sqlite:/var/data/app.db").render_as_string() == "sqlite:////var/data/app.db"
    assert translate_url("jdbc:sqlite::memory:").render_as_string() == "sqlite://"
    pg = translate_url("jdbc:postgresql://db.example:5433/shop?user=app&password=s3cret&sslmode=require")
    assert (pg.drivername, pg.host, pg.port, pg.database, pg.username, pg.password, dict(pg.query)) == \
        ("postgresql+psycopg", "db.example", 5433, "shop", "app", "s3cret", {"sslmode": "require"})
    assert translate_url("jdbc:postgresql:shop").render_as_string() == "postgresql+psycopg://localhost/shop"
    assert translate_url("postgresql://h/db").drivername == "postgresql+psycopg"
    assert translate_url("sqlite:///rel.db").database == "rel.db"
    with pytest.raises(ConfigException, match="Only jdbc:sqlite: and jdbc:postgresql: URLs") as failure:
        translate_url("jdbc:mysql://h/db?password=hunter2")
    assert "hunter2" not in str(failure.value)


def test_password_is_used_but_never_shown(postgres_server, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "pa55-" + uuid.uuid4().hex
    # The test server trusts local connections, so any password gets in; the point is where it shows.
    props = {"connection.url": postgres_server.jdbc_url(), "connection.password": secret, "mode": "bulk",
             "table.whitelist": "none_such"}
    connector = JdbcSourceConnector()
    connector.start(props)
    connector.stop()
    assert "[hidden]" in repr(connector.cfg["connection.password"]) and secret not in repr(connector.cfg)
    unreachable = {**props, "connection.url": f"jdbc:postgresql://127.0.0.1:1/x?password={secret}",
                   "connection.attempts": "2", "connection.backoff.ms": "10"}
    with pytest.raises(ConnectException) as failure:
        JdbcSourceConnector().start(unreachable)
    assert "after 2 attempt" in str(failure.value)
    assert secret not in str(failure.value)
    assert secret not in caplog.text


# ---------------------------------------------------------------------------------------------
# Sink


KEY = data.struct([("id", data.INT64_SCHEMA)], name="UserKey")
USER = data.struct([("id", data.INT64_SCHEMA), ("name", data.STRING_SCHEMA),
                    ("score", data.OPTIONAL_FLOAT64_SCHEMA)], name="User")


def user(id_: int, name: str, score: float | None = None, schema=USER) -> data.Struct:
    values = {"id": id_, "name": name, "score": score}
    return data.Struct(schema, {k: v for k, v in values.items() if schema.field(k) is not None})


def sink_record(value, key=None, *, topic="users", offset=0, value_schema=None, key_schema=None) -> SinkRecord:
    if value_schema is None and isinstance(value, data.Struct):
        value_schema = value.schema
    if key_schema is None and isinstance(key, data.Struct):
        key_schema = key.schema
    return SinkRecord(topic, 0, key_schema, key, value_schema, value, kafka_offset=offset)


def keyed(id_: int, name: str, score: float | None = None, offset: int = 0) -> SinkRecord:
    return sink_record(user(id_, name, score), data.Struct(KEY, {"id": id_}), offset=offset)


def start_sink(db: Backend, **extra) -> JdbcSinkTask:
    props = {"connection.url": db.url}
    props.update({k.replace("_", "."): str(v) for k, v in extra.items()})
    connector = JdbcSinkConnector()
    connector.start(props)
    [task_config] = connector.task_configs(1)
    task = JdbcSinkTask()
    task.initialize(SinkTaskContext(task_config))
    task.start(task_config)
    return task


def test_sink_insert_creates_the_table_from_the_record_schema(backend):
    schema = data.struct([("id", data.INT32_SCHEMA), ("name", data.STRING_SCHEMA), ("small", data.OPTIONAL_INT8_SCHEMA),
                          ("flag", data.BOOLEAN_SCHEMA), ("ratio", data.FLOAT32_SCHEMA),
                          ("price", data.decimal_schema(2, optional=True)), ("blob", data.OPTIONAL_BYTES_SCHEMA),
                          ("day", data.date_schema(optional=True)), ("clock", data.time_schema(optional=True)),
                          ("stamp", data.timestamp_schema(optional=True))], name="Row")
    row = data.Struct(schema, {"id": 1, "name": "one", "small": 3, "flag": True, "ratio": 0.25,
                               "price": decimal.Decimal("12.50"), "blob": b"\x01", "day": datetime.date(2024, 1, 2),
                               "clock": datetime.time(3, 4, 5), "stamp": utc(at(0))})
    sparse = data.Struct(schema, {"id": 2, "name": "two", "flag": False, "ratio": 1.5})
    task = start_sink(backend, auto_create="true")
    try:
        task.put([sink_record(row, topic="rows"), sink_record(sparse, topic="rows", offset=1)])
        task.put([])
    finally:
        task.stop()
    table = backend.reflect("rows")
    assert [c.name for c in table.columns] == [f.name for f in schema.fields]
    assert not table.c.name.nullable and table.c.price.nullable
    got = backend.select("rows")
    stamp = got[0][9]
    assert got[0][:9] == (1, "one", 3, True, 0.25, decimal.Decimal("12.50"), b"\x01", datetime.date(2024, 1, 2),
                          datetime.time(3, 4, 5))
    assert stamp == at(0)
    assert got[1] == (2, "two", None, False, 1.5, None, None, None, None, None)


def test_sink_upsert_keeps_one_row_per_key_with_the_latest_values(backend):
    task = start_sink(backend, insert_mode="upsert", pk_mode="record_key", auto_create="true")
    try:
        task.put([keyed(1, "a", 1.0, 0), keyed(2, "b", 2.0, 1)])
        task.put([keyed(1, "a2", 10.0, 2), keyed(2, "b2", None, 3), keyed(1, "a3", 11.0, 4)])
    finally:
        task.stop()
    assert backend.rows("SELECT id, name, score FROM users ORDER BY id") == [(1, "a3", 11.0), (2, "b2", None)]
    table = backend.reflect("users")
    assert [c.name for c in table.primary_key.columns] == ["id"]


def test_sink_update_mode_changes_existing_rows_only(backend):
    users = backend.create("users", sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
                           sa.Column("name", sa.Text), sa.Column("score", sa.Float))
    backend.insert(users, {"id": 1, "name": "a", "score": 1.0})
    task = start_sink(backend, insert_mode="update", pk_mode="record_value", pk_fields="id")
    try:
        task.put([sink_record(user(1, "a2", 5.0)), sink_record(user(9, "ghost"))])
    finally:
        task.stop()
    assert backend.rows("SELECT id, name, score FROM users") == [(1, "a2", 5.0)]


def tombstone(id_: int, offset: int) -> SinkRecord:
    return sink_record(None, data.Struct(KEY, {"id": id_}), offset=offset, key_schema=KEY)


def test_sink_tombstones_delete_rows_in_record_order(backend):
    task = start_sink(backend, insert_mode="upsert", pk_mode="record_key", delete_enabled="true", auto_create="true")
    try:
        task.put([keyed(1, "a"), keyed(2, "b"), keyed(3, "c")])
        # 1: deleted. 2: deleted, then written again. 3: written, then deleted. 7: never existed.
        task.put([tombstone(1, 3), tombstone(2, 4), keyed(2, "b2", offset=5), keyed(3, "c2", offset=6),
                  tombstone(3, 7), tombstone(7, 8)])
    finally:
        task.stop()
    assert backend.rows("SELECT id, name FROM users ORDER BY id") == [(2, "b2")]


def test_sink_auto_evolve_adds_optional_columns(backend):
    v2 = data.struct([*((f.name, f.schema) for f in USER.fields), ("email", data.OPTIONAL_STRING_SCHEMA),
                      ("level", data.INT32_SCHEMA.with_default(1))], name="User")
    task = start_sink(backend, pk_mode="record_value", pk_fields="id", insert_mode="upsert",
                      auto_create="true", auto_evolve="true")
    try:
        task.put([sink_record(user(1, "a"))])
        task.put([sink_record(data.Struct(v2, {"id": 2, "name": "b", "email": "b@example.com", "level": 3}))])
        required = data.struct([*((f.name, f.schema) for f in USER.fields), ("must", data.STRING_SCHEMA)])
        with pytest.raises(ConnectException, match="Cannot add column must to table .*users.*required"):
            task.put([sink_record(data.Struct(required, {"id": 3, "name": "c", "must": "x"}))])
    finally:
        task.stop()
    assert [c.name for c in backend.reflect("users").columns] == ["id", "name", "score", "email", "level"]
    assert backend.rows("SELECT id, name, email, level FROM users ORDER BY id") == \
        [(1, "a", None, 1), (2, "b", "b@example.com", 3)]


def test_sink_without_auto_evolve_or_create_refuses(backend):
    task = start_sink(backend)
    try:
        with pytest.raises(ConnectException, match="Table users does not exist and auto.create is disabled"):
            task.put([sink_record(user(1, "a"))])
    finally:
        task.stop()
    backend.create("users", sa.Column("id", sa.BigInteger), sa.Column("name", sa.Text))
    task = start_sink(backend)
    try:
        with pytest.raises(ConnectException, match=r"no columns for fields \['score'\] and auto.evolve is disabled"):
            task.put([sink_record(user(1, "a"))])
    finally:
        task.stop()


def test_sink_pk_mode_kafka_uses_topic_partition_offset(backend):
    task = start_sink(backend, pk_mode="kafka", auto_create="true", insert_mode="upsert",
                      table_name_format="kafka_${topic}")
    try:
        task.put([sink_record(user(1, "a"), offset=10), sink_record(user(1, "a"), offset=11)])
        task.put([sink_record(user(1, "again"), offset=10)])  # a redelivered record: same key
    finally:
        task.stop()
    table = backend.reflect("kafka_users")
    assert [c.name for c in table.primary_key.columns] == ["__connect_topic", "__connect_partition",
                                                           "__connect_offset"]
    assert backend.rows("SELECT __connect_offset, name FROM kafka_users ORDER BY __connect_offset") == \
        [(10, "again"), (11, "a")]


def test_sink_pk_mode_record_key_primitive_and_whitelist(backend):
    task = start_sink(backend, pk_mode="record_key", pk_fields="user_id", fields_whitelist="name",
                      auto_create="true")
    try:
        task.put([sink_record(user(1, "a", 3.0), "k1", key_schema=data.STRING_SCHEMA)])
    finally:
        task.stop()
    assert [c.name for c in backend.reflect("users").columns] == ["user_id", "name"]
    assert backend.rows("SELECT user_id, name FROM users") == [("k1", "a")]


def test_sink_pk_mode_none_appends(backend):
    task = start_sink(backend, auto_create="true")
    try:
        task.put([sink_record(user(1, "a")), sink_record(user(1, "a"))])
    finally:
        task.stop()
    assert backend.rows("SELECT id, name FROM users") == [(1, "a"), (1, "a")]
    assert list(backend.reflect("users").primary_key.columns) == []


def test_sink_pk_errors(backend):
    task = start_sink(backend, pk_mode="record_key", auto_create="true")
    try:
        with pytest.raises(ConnectException, match="primitive record key fills exactly one column"):
            task.put([sink_record(user(1, "a"), 5, key_schema=data.INT64_SCHEMA)])
        with pytest.raises(ConnectException, match="null key"):
            task.put([sink_record(user(1, "a"))])
    finally:
        task.stop()
    task = start_sink(backend, pk_mode="record_value", pk_fields="nope", auto_create="true")
    try:
        with pytest.raises(ConnectException, match="record value schema has no field nope"):
            task.put([sink_record(user(1, "a"))])
    finally:
        task.stop()


def test_sink_tombstone_without_delete_enabled_fails(backend):
    task = start_sink(backend, pk_mode="record_key", auto_create="true")
    try:
        with pytest.raises(ConnectException, match="null value .*delete.enabled=true"):
            task.put([sink_record(None, data.Struct(KEY, {"id": 1}), key_schema=KEY)])
    finally:
        task.stop()


def test_sink_schemaless_dict_values(backend):
    task = start_sink(backend, pk_mode="record_value", pk_fields="id", insert_mode="upsert", auto_create="true")
    try:
        task.put([sink_record({"id": 1, "name": "a", "score": 1.5}), sink_record({"id": 1, "name": "b"})])
    finally:
        task.stop()
    # A null field is left out of that record's write; the upsert keeps the stored score.
    assert backend.rows("SELECT id, name, score FROM users") == [(1, "b", 1.5)]


def test_sink_config_errors_read_like_kafkas(tmp_path):
    url = f"sqlite:///{tmp_path}/x.db"
    connector = JdbcSinkConnector()
    with pytest.raises(ConfigException, match="Invalid value true for configuration delete.enabled: Deletes need "
                                              "pk.mode=record_key"):
        connector.start({"connection.url": url, "delete.enabled": "true"})
    with pytest.raises(ConfigException, match="Invalid value none for configuration pk.mode: insert.mode 'upsert' "
                                              "needs a primary key"):
        connector.start({"connection.url": url, "insert.mode": "upsert"})
    with pytest.raises(ConfigException, match="Invalid value merge for configuration insert.mode: String must be one "
                                              "of: insert, upsert, update"):
        connector.start({"connection.url": url, "insert.mode": "merge"})
    with pytest.raises(ConfigException, match="Invalid value Mars/Olympus for configuration db.timezone"):
        connector.start({"connection.url": url, "db.timezone": "Mars/Olympus"})
    errors = {v.name: v.errors for v in connector.validate({"connection.url": url, "delete.enabled": "true",
                                                             "pk.mode": "kafka"})}
    assert errors["delete.enabled"] and not errors["pk.mode"]
    task = JdbcSinkTask()
    with pytest.raises(ConfigException, match="Only jdbc:sqlite: and jdbc:postgresql:"):
        task.start({"connection.url": "jdbc:oracle:thin:@h:1521:x"})


def test_sink_transient_errors_are_retriable_then_fatal(tmp_path):
    path = tmp_path / "locked.db"
    db = Backend("sqlite", f"sqlite:///{path}?timeout=0.05", f"jdbc:sqlite:{path}")
    task = start_sink(db, auto_create="true", max_retries="1", retry_backoff_ms="25")
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        task.put([sink_record(user(1, "a"))])
        locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database: "database is locked"
        with pytest.raises(RetriableException, match="database is locked"):
            task.put([sink_record(user(2, "b"))])
        assert task.context.timeout_ms == 25
        with pytest.raises(ConnectException, match="after 1 retries") as fatal:
            task.put([sink_record(user(2, "b"))])
        assert not isinstance(fatal.value, RetriableException)
        locker.execute("ROLLBACK")
        task.put([sink_record(user(2, "b"))])  # redelivered after the lock went away
    finally:
        locker.close()
        task.stop()
    assert db.rows("SELECT id, name FROM users ORDER BY id") == [(1, "a"), (2, "b")]
    db.engine.dispose()


def test_sink_then_source_round_trip(backend):
    """What the sink writes, the source reads back with the same schema types."""
    task = start_sink(backend, pk_mode="record_value", pk_fields="id", auto_create="true", insert_mode="upsert")
    stamped = data.struct([("id", data.INT64_SCHEMA), ("name", data.STRING_SCHEMA),
                           ("at", data.timestamp_schema())], name="events")
    try:
        task.put([sink_record(data.Struct(stamped, {"id": i, "name": f"e{i}", "at": utc(at(i))}), topic="events")
                  for i in (1, 2)])
    finally:
        task.stop()
    offsets = DictOffsets()
    [source] = start_source(source_props(backend, mode="timestamp+incrementing", timestamp_column_name="at",
                                         incrementing_column_name="id"), offsets)
    try:
        records = poll(source, offsets, 2)
    finally:
        source.stop()
    assert [(r.value.get("id"), r.value.get("name"), r.value.get("at")) for r in records] == \
        [(1, "e1", utc(at(1))), (2, "e2", utc(at(2)))]
    assert records[0].value_schema.field("at").schema == data.timestamp_schema()
