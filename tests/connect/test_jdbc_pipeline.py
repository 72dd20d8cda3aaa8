"""The JDBC connectors through a cluster of three distributed Python workers on a real PostgreSQL
server: a source table copied into a topic (JsonConverter with schemas) and upserted into a
target table; rows keep arriving and changing while the worker running the sink task is killed
with -9; in the end the target table holds exactly the source table's rows."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import unique_topic
from tests.connect.worker_process import ConnectWorker, all_running, wait_for

JSON = {"key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter"}


def rows(engine, table: str) -> list[tuple]:
    """The table's rows, none while it does not exist yet (the sink creates it)."""
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(f"SELECT id, name, amount FROM {table} ORDER BY id"))]
    except sa.exc.ProgrammingError:
        return []


def test_jdbc_upsert_survives_a_worker_crash(shared_broker, postgres_server, tmp_path):
    database = unique_topic("pipeline").replace("-", "_")
    postgres_server.create_database(database)
    engine = sa.create_engine(postgres_server.url(database))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE accounts (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, "
                             "amount DOUBLE PRECISION NOT NULL, version BIGINT NOT NULL)"))
        conn.execute(sa.text("INSERT INTO accounts (name, amount, version) "
                             "SELECT 'acct-' || g, g * 1.5, g FROM generate_series(1, 300) g"))

    group = unique_topic("jdbc-cluster")
    workers = [ConnectWorker(tmp_path / f"w{i}", shared_broker.bootstrap, group=group, props=JSON) for i in range(3)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.wait_ready()
        prefix = unique_topic("db") + "-"
        # timestamp+incrementing would see updates; `version` is a strictly increasing change number,
        # so the incrementing mode on it carries every insert and update to the topic.
        workers[0].create("db-source", {
            "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
            "connection.url": postgres_server.jdbc_url(database), "mode": "incrementing",
            "incrementing.column.name": "version", "table.whitelist": "accounts", "topic.prefix": prefix,
            "poll.interval.ms": "200"})
        workers[1].create("db-sink", {
            "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "connection.url": postgres_server.jdbc_url(database), "topics": prefix + "accounts",
            "table.name.format": "copy_${topic}", "insert.mode": "upsert", "pk.mode": "record_value",
            "pk.fields": "id", "auto.create": "true", "fields.whitelist": "id,name,amount"})
        wait_for(lambda: all_running(workers[0], "db-source", 1) and all_running(workers[0], "db-sink", 1), 60,
                 "the JDBC connectors RUNNING")
        target = f'"copy_{prefix}accounts"'  # the topic name has dashes: a quoted identifier
        wait_for(lambda: len(rows(engine, target)) == 300, 60, "the first 300 rows copied")

        sink_owner = workers[0].states("db-sink")[1][0][2]
        victim = next(w for w in workers if w.url.endswith(sink_owner.split(":")[1]))
        survivors = [w for w in workers if w is not victim]
        with engine.begin() as conn:  # more rows, and changes to copied ones, around the crash
            conn.execute(sa.text("INSERT INTO accounts (name, amount, version) "
                                 "SELECT 'acct-' || g, g * 1.5, g FROM generate_series(301, 600) g"))
        victim.kill()
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE accounts SET amount = amount + 1000, version = version + 1000 "
                                 "WHERE id % 10 = 0"))
        wait_for(lambda: all_running(survivors[0], "db-sink", 1) and
                 survivors[0].states("db-sink")[1][0][2] != sink_owner, 90, "the sink task moved")
        wait_for(lambda: rows(engine, target) == rows(engine, "accounts"), 90,
                 "the target table equal to the source table")
        assert len(rows(engine, target)) == 600
    finally:
        for w in workers:
            w.stop()
        engine.dispose()
