"""JdbcSourceConnector and JdbcSourceTask: rows of tables (or of one query) become records, with
Confluent's modes, topic names and source offsets, so offsets written by Confluent's connector
resume here and the other way round.

Each table (or the query) has a Querier. Incremental modes run a fresh, LIMITed query per poll
from the querier's offset, so no cursor or lock is held between polls; bulk mode streams one
snapshot of the table across as many polls as batch.max.rows needs.

Offsets (Confluent's layout): partition {"table": "<fully qualified name>", "protocol": "1"} (the
older {"table": "<name>"} is read too) or {"query": "query"}; offset {"incrementing": id} and/or
{"timestamp": epoch ms, "timestamp_nanos": nanoseconds within the second} (java.sql.Timestamp's
getTime()/getNanos()). Bulk records carry no offset.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from connect import data
from connect.api import SourceConnector, SourceTask, source_record
from connect.connectors.jdbc import config as jdbc_config
from connect.connectors.jdbc.config import INCREMENTING_MODES, MODE_BULK, MODE_INCREMENTING, MODE_TIMESTAMP, \
    TIMESTAMP_MODES
from connect.connectors.jdbc.dialect import UTC, Database, first_line
from connect.connectors.jdbc.types import column_schema, to_connect
from connect.errors import ConfigException, ConnectException

log = logging.getLogger("connect.connectors.jdbc.source")

VERSION = "0.1.0"
TABLE_KEY = "table"
PROTOCOL_KEY = "protocol"
PROTOCOL_V1 = "1"
QUERY_KEY = "query"
INCREMENTING_FIELD = "incrementing"
TIMESTAMP_FIELD = "timestamp"
TIMESTAMP_NANOS_FIELD = "timestamp_nanos"
TABLES_KEY = "tables"  # the task config key listing a task's tables
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
MAX_POLL_WAIT_S = 1.0  # poll() blocks at most this long, so the worker stays responsive


def group_partitions(items: list, groups: int) -> list[list]:
    """Contiguous, nearly equal groups (Kafka's ConnectorUtils.groupPartitions)."""
    per_group, extra = divmod(len(items), groups)
    out, start = [], 0
    for index in range(groups):
        size = per_group + (1 if index < extra else 0)
        out.append(items[start:start + size])
        start += size
    return out


def select_tables(names: list[str], whitelist: list[str], blacklist: list[str]) -> list[str]:
    """Tables named in the whitelist (if any) and not in the blacklist, by qualified or bare name."""
    def listed(name, names_listed):
        return name in names_listed or name.rsplit(".", 1)[-1] in names_listed
    if whitelist:
        names = [n for n in names if listed(n, whitelist)]
    return [n for n in names if not listed(n, blacklist)]


def numeric_mapping(cfg: dict) -> str:
    if cfg["numeric.mapping"]:
        return cfg["numeric.mapping"].lower()
    return "precision_only" if cfg["numeric.precision.mapping"] else "none"


class JdbcSourceConnector(SourceConnector):
    class_name = "io.confluent.connect.jdbc.JdbcSourceConnector"
    aliases = ("JdbcSource",)

    def version(self):
        return VERSION

    def config(self):
        return jdbc_config.source_config()

    def validate(self, props):
        return jdbc_config.validate(jdbc_config.source_config(), jdbc_config.source_problems, props)

    def start(self, props):
        self.props = dict(props)
        self.cfg = jdbc_config.parse(jdbc_config.source_config(), jdbc_config.source_problems, props)
        self.stopped = threading.Event()
        self.db: Database | None = None
        self.monitor: threading.Thread | None = None
        self.tables: list[str] = []
        if self.cfg["query"]:
            return  # one query, one task: nothing to discover
        self.db = Database(self.cfg)
        try:
            self.db.wait_until_reachable(self.stopped)
            self.tables = self._find_tables()
        except BaseException:
            self.db.dispose()
            raise
        log.info("JDBC source on %s copies tables %s", self.db.shown_url, self.tables)
        if self.context is not None:
            self.monitor = threading.Thread(target=self._watch_tables, name="jdbc-table-monitor", daemon=True)
            self.monitor.start()

    def _find_tables(self) -> list[str]:
        with self.db.engine.connect() as conn:
            names = self.db.list_tables(conn, self.cfg["schema.pattern"], self.cfg["table.types"])
        return select_tables(names, self.cfg["table.whitelist"], self.cfg["table.blacklist"])

    def _watch_tables(self) -> None:
        """Tables created or dropped after start change the task assignment."""
        while not self.stopped.wait(self.cfg["table.poll.interval.ms"] / 1000):
            try:
                tables = self._find_tables()
            except sa.exc.DBAPIError as exc:
                log.warning("Listing tables on %s failed: %s", self.db.shown_url, first_line(exc))
                continue
            if tables != self.tables:
                log.info("Tables changed from %s to %s; reconfiguring tasks", self.tables, tables)
                self.tables = tables
                self.context.request_task_reconfiguration()

    def task_class(self):
        return JdbcSourceTask

    def task_configs(self, max_tasks):
        if self.cfg["query"]:
            return [dict(self.props)]
        if not self.tables:
            log.warning("No tables to copy (table.whitelist=%s, table.blacklist=%s); no tasks until one appears",
                        self.cfg["table.whitelist"], self.cfg["table.blacklist"])
            return []
        groups = group_partitions(self.tables, min(max_tasks, len(self.tables)))
        return [{**self.props, TABLES_KEY: ",".join(group)} for group in groups]

    def stop(self):
        self.stopped.set()
        if self.monitor is not None:
            self.monitor.join(5)
        if self.db is not None:
            self.db.dispose()

    def alter_offsets(self, connector_config, offsets):
        return True  # everything it keeps is in Connect's offsets


class JdbcSourceTask(SourceTask):
    class_name = "io.confluent.connect.jdbc.source.JdbcSourceTask"

    def version(self):
        return VERSION

    def start(self, props):
        cfg = jdbc_config.parse(jdbc_config.source_config(), jdbc_config.source_problems, props)
        tables = [t.strip() for t in props.get(TABLES_KEY, "").split(",") if t.strip()]
        if not tables and not cfg["query"]:
            raise ConfigException("A JDBC source task needs tables (the connector assigns them) or a query")
        if tables and cfg["query"]:
            raise ConfigException("A JDBC source task reads either tables or a query, not both")
        self.stopped = threading.Event()
        self.queriers = []
        self.db = Database(cfg)
        try:
            self.db.wait_until_reachable(self.stopped)
            self._start_queriers(cfg, tables)
        except BaseException:
            self.db.dispose()
            raise

    def _start_queriers(self, cfg: dict, tables: list[str]) -> None:
        reader = self.context.offset_storage_reader if self.context else None
        if cfg["query"]:
            self.queriers = [Querier(self.db, cfg, None, _stored_offset(reader, [{QUERY_KEY: QUERY_KEY}]))]
        else:
            self.queriers = [Querier(self.db, cfg, t, _stored_offset(reader, _table_partitions(t))) for t in tables]
        with self.db.engine.connect() as conn:
            for querier in self.queriers:
                querier.prepare(conn)  # bad column names and nullable offset columns fail here

    def poll(self):
        querier = min(self.queriers, key=lambda q: q.next_poll)
        wait = querier.next_poll - time.monotonic()
        if wait > 0 and self.stopped.wait(min(wait, MAX_POLL_WAIT_S)):
            return None
        if querier.next_poll > time.monotonic() or self.stopped.is_set():
            return None
        return querier.poll() or None

    def stop(self):
        if getattr(self, "stopped", None) is None:
            return
        self.stopped.set()
        for querier in self.queriers:
            querier.end_round()
        self.db.dispose()


def _table_partitions(table: str) -> list[dict]:
    """The v1 partition first, then v0's bare table name, as Confluent looks them up."""
    return [{TABLE_KEY: table, PROTOCOL_KEY: PROTOCOL_V1}, {TABLE_KEY: table.rsplit(".", 1)[-1]}]


def _stored_offset(reader, partitions: list[dict]) -> dict | None:
    if reader is None:
        return None
    for partition in partitions:
        offset = reader.offset(partition)
        if offset:
            return offset
    return None


def timestamp_offset(value: datetime.datetime) -> dict:
    """{"timestamp": ms, "timestamp_nanos": ns within the second} as java.sql.Timestamp gives them."""
    delta = value - EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return {TIMESTAMP_FIELD: seconds * 1000 + delta.microseconds // 1000,
            TIMESTAMP_NANOS_FIELD: delta.microseconds * 1000}


def timestamp_from_offset(offset: dict) -> datetime.datetime | None:
    millis = offset.get(TIMESTAMP_FIELD)
    if millis is None:
        return None
    nanos = offset.get(TIMESTAMP_NANOS_FIELD)
    seconds = millis // 1000
    micros = nanos // 1000 if nanos is not None else (millis % 1000) * 1000
    return EPOCH + datetime.timedelta(seconds=seconds, microseconds=micros)


@dataclass
class Plan:
    """What a querier reads, as the database describes it at the start of a round."""
    relation: sa.FromClause
    schema: data.Schema
    fields: list[tuple[str, data.Schema]]  # (column key, field schema) in record order
    selected: list[str]  # column keys the SELECT lists: the fields plus the offset columns
    incrementing: str | None = None
    timestamps: list[str] = field(default_factory=list)

    def column(self, key: str):
        return self.relation.c[key]

    def timestamp_expr(self):
        columns = [self.column(k) for k in self.timestamps]
        return columns[0] if len(columns) == 1 else sa.func.coalesce(*columns)


class Querier:
    """One table or the query: builds each poll's SELECT, turns rows into records, keeps the offset."""

    def __init__(self, db: Database, cfg: dict, table: str | None, offset: dict | None):
        self.db = db
        self.table = table
        self.query = cfg["query"]
        self.mode = cfg["mode"]
        self.batch = cfg["batch.max.rows"]
        self.interval_s = cfg["poll.interval.ms"] / 1000
        self.delay = datetime.timedelta(milliseconds=cfg["timestamp.delay.interval.ms"])
        self.numeric_mapping = numeric_mapping(cfg)
        self.validate_non_null = cfg["validate.non.null"]
        self.incrementing_name = cfg["incrementing.column.name"]
        self.timestamp_names = cfg["timestamp.column.name"]
        if table is None:
            self.partition = {QUERY_KEY: QUERY_KEY}
            self.topic = cfg["topic.prefix"]
        else:
            self.partition = {TABLE_KEY: table, PROTOCOL_KEY: PROTOCOL_V1}
            self.topic = cfg["topic.prefix"] + db.split(table)[1]
        self.last_id, self.last_time = self._initial_offset(offset, cfg["timestamp.initial"])
        self.plan: Plan | None = None
        self.stream = None  # (connection, result) while a bulk round is being read
        self.next_poll = 0.0

    def _initial_offset(self, offset: dict | None, initial_ms: int | None):
        if offset:
            log.info("Resuming %s from offset %s", self.name, offset)
            return offset.get(INCREMENTING_FIELD), timestamp_from_offset(offset)
        if initial_ms is None:
            return None, None
        if initial_ms == -1:
            with self.db.engine.connect() as conn:
                return None, self.db.now(conn)
        return None, EPOCH + datetime.timedelta(milliseconds=initial_ms)

    @property
    def name(self) -> str:
        return f"table '{self.table}'" if self.table else "the query"

    # Describing what to read.

    def prepare(self, conn) -> None:
        self.plan = self._describe(conn)

    def _describe(self, conn) -> Plan:
        if self.table is not None:
            table = self.db.reflect(conn, self.table)
            keys = {c.name for c in table.primary_key.columns}
            # Primary keys cannot hold NULL (SQLite's INTEGER PRIMARY KEY reflects as nullable).
            columns = [(c.key, c.type, c.nullable and c.name not in keys) for c in table.columns]
            relation, schema_name = table, table.name
        else:
            table, found = None, self._query_columns(conn)
            columns = [(name, sqltype, True) for name, sqltype in found]  # a query's nullability is unknown
            relation = sa.text(self.query).columns(*(sa.column(n, t) for n, t in found)).subquery("connect_query")
            schema_name = None
        incrementing = self._incrementing_column(columns, table)
        timestamps = [self._find(columns, name, "Timestamp") for name in self.timestamp_names] \
            if self.mode in TIMESTAMP_MODES else []
        if table is not None and self.validate_non_null:
            self._check_non_null(columns, incrementing, timestamps)
        fields = self._fields(columns)
        offset_columns = ([incrementing] if incrementing else []) + timestamps
        selected = list(dict.fromkeys([key for key, _ in fields] + offset_columns))
        schema = data.struct(fields, name=schema_name)
        return Plan(relation, schema, fields, selected, incrementing, timestamps)

    def _query_columns(self, conn) -> list[tuple[str, sa.types.TypeEngine]]:
        """The query's result columns and types: a temporary view over it, reflected, then dropped."""
        view = f"connect_probe_{uuid.uuid4().hex[:12]}"
        conn.exec_driver_sql(f"CREATE TEMPORARY VIEW {view} AS {self.query}")
        try:
            return [(c["name"], c["type"]) for c in sa.inspect(conn).get_columns(view)]
        finally:
            conn.exec_driver_sql(f"DROP VIEW {view}")
            conn.commit()

    def _fields(self, columns) -> list[tuple[str, data.Schema]]:
        fields = []
        for key, sqltype, optional in columns:
            schema = column_schema(sqltype, optional, self.numeric_mapping, self.db.backend)
            if schema is None:
                log.warning("Column %s of %s has type %s, which is not copied", key, self.name, sqltype)
                continue
            fields.append((key, schema))
        return fields

    def _find(self, columns, name: str, what: str) -> str:
        """The column called `name`, matched as Confluent does: ignoring case."""
        for key, _, _ in columns:
            if key == name:
                return key
        for key, _, _ in columns:
            if key.lower() == name.lower():
                return key
        raise ConfigException(f"{what} column {name} does not exist in {self.name}")

    def _incrementing_column(self, columns, table: sa.Table | None) -> str | None:
        if self.mode not in INCREMENTING_MODES:
            return None
        if self.incrementing_name:
            return self._find(columns, self.incrementing_name, "Incrementing")
        # Table mode without a name: the table's one auto-incrementing integer key.
        keys = list(table.primary_key.columns)
        if len(keys) == 1 and isinstance(keys[0].type, sa.Integer):
            return keys[0].key
        raise ConnectException(f"No auto-incrementing column found in {self.name}; "
                               f"set incrementing.column.name for mode {self.mode}")

    def _check_non_null(self, columns, incrementing: str | None, timestamps: list[str]) -> None:
        optional = {key: opt for key, _, opt in columns}
        if incrementing and optional[incrementing]:
            raise ConnectException(f"Cannot read {self.name} incrementally by column {incrementing}: it is "
                                   f"nullable (set validate.non.null=false to allow it)")
        if timestamps and all(optional[k] for k in timestamps):
            raise ConnectException(f"Cannot read {self.name} by timestamp columns {','.join(timestamps)}: all "
                                   f"of them are nullable (set validate.non.null=false to allow it)")

    # Reading.

    def poll(self) -> list:
        """This poll's records; schedules the next one (at once while rows remain)."""
        try:
            if self.plan is None:
                with self.db.engine.connect() as conn:
                    self.plan = self._describe(conn)
            records, more = self._read()
        except sa.exc.DBAPIError as exc:
            log.warning("Reading %s failed, retrying in %.1fs: %s", self.name, self.interval_s, first_line(exc))
            self.end_round()
            self.next_poll = time.monotonic() + self.interval_s
            return []
        if more:
            self.next_poll = time.monotonic()
        else:
            self.end_round()
            self.next_poll = time.monotonic() + self.interval_s
        return records

    def end_round(self) -> None:
        """Forget the plan (the next round re-reads the columns) and any open bulk snapshot."""
        self.plan = None
        if self.stream is not None:
            conn, result = self.stream
            self.stream = None
            try:
                result.close()
                conn.close()
            except sa.exc.DBAPIError:
                pass

    def _read(self) -> tuple[list, bool]:
        if self.mode == MODE_BULK:
            return self._read_bulk()
        with self.db.engine.connect() as conn:
            if self.mode == MODE_INCREMENTING:
                return self._read_incrementing(conn)
            if self.mode == MODE_TIMESTAMP:
                return self._read_timestamp(conn)
            return self._read_timestamp_incrementing(conn)

    def _select(self):
        return sa.select(*(self.plan.column(k) for k in self.plan.selected))

    def _read_bulk(self) -> tuple[list, bool]:
        if self.stream is None:
            conn = self.db.engine.connect()
            try:
                result = conn.execution_options(stream_results=True).execute(self._select())
            except BaseException:
                conn.close()
                raise
            self.stream = (conn, result)
        rows = self.stream[1].fetchmany(self.batch)
        return [self._record(row, None) for row in rows], len(rows) == self.batch

    def _read_incrementing(self, conn) -> tuple[list, bool]:
        column = self.plan.column(self.plan.incrementing)
        last = -1 if self.last_id is None else self.last_id
        rows = conn.execute(self._select().where(column > last).order_by(column).limit(self.batch)).all()
        records = []
        for row in rows:
            self.last_id = self._row_id(row)
            records.append(self._record(row, {INCREMENTING_FIELD: self.last_id}))
        return records, len(rows) == self.batch

    def _bounds(self, conn) -> tuple[datetime.datetime, datetime.datetime]:
        """(after, before) for the timestamp criteria, as the database compares them. Rows newer
        than now - timestamp.delay.interval.ms wait, so late commits with older times are not skipped."""
        begin = self.last_time or EPOCH
        return self.db.to_db(begin), self.db.to_db(self.db.now(conn) - self.delay)

    def _read_timestamp_incrementing(self, conn) -> tuple[list, bool]:
        ts, inc = self.plan.timestamp_expr(), self.plan.column(self.plan.incrementing)
        begin, end = self._bounds(conn)
        last = -1 if self.last_id is None else self.last_id
        # (time, id) strictly after the offset: same time with a larger id, or a later time.
        where = sa.and_(ts < end, sa.or_(sa.and_(ts == begin, inc > last), ts > begin))
        rows = conn.execute(self._select().where(where).order_by(ts, inc).limit(self.batch)).all()
        records = []
        for row in rows:
            self.last_time, self.last_id = self._row_time(row), self._row_id(row)
            offset = {**timestamp_offset(self.last_time), INCREMENTING_FIELD: self.last_id}
            records.append(self._record(row, offset))
        return records, len(rows) == self.batch

    def _read_timestamp(self, conn) -> tuple[list, bool]:
        """Timestamps alone are not unique, so a batch always ends with a whole group of equal
        timestamps, and a record's offset moves to its timestamp only with the last row of its
        group: a restart then re-reads a partly delivered group rather than skip its rest."""
        ts = self.plan.timestamp_expr()
        begin, end = self._bounds(conn)
        rows = conn.execute(self._select().where(ts > begin, ts < end).order_by(ts).limit(self.batch)).all()
        more = len(rows) == self.batch
        if more:
            last = self._raw_time(rows[-1])
            head = [row for row in rows if self._raw_time(row) != last]
            rows = head + conn.execute(self._select().where(ts == last)).all()
        records = []
        for index, row in enumerate(rows):
            group_ends = index + 1 == len(rows) or self._raw_time(rows[index + 1]) != self._raw_time(row)
            if group_ends:
                self.last_time = self._row_time(row)
            records.append(self._record(row, timestamp_offset(self.last_time) if self.last_time else {}))
        return records, more

    def _raw_time(self, row):
        """The row's timestamp as the database returned it: the first non-null timestamp column."""
        mapping = row._mapping
        return next((mapping[k] for k in self.plan.timestamps if mapping[k] is not None), None)

    def _row_time(self, row) -> datetime.datetime:
        return self.db.from_db(self._raw_time(row))

    def _row_id(self, row) -> int:
        value = row._mapping[self.plan.incrementing]
        if value is None:
            raise ConnectException(f"Null value in incrementing column {self.plan.incrementing} of {self.name}")
        if isinstance(value, bool) or int(value) != value:
            raise ConnectException(f"Incrementing column {self.plan.incrementing} of {self.name} holds a "
                                   f"non-integer value")
        return int(value)

    def _record(self, row, offset: dict | None):
        mapping = row._mapping
        values = {key: to_connect(schema, mapping[key], self.db.from_db) for key, schema in self.plan.fields}
        return source_record(self.partition, offset, self.topic, value_schema=self.plan.schema,
                             value=data.Struct(self.plan.schema, values))
