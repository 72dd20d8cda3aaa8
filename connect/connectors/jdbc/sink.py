"""JdbcSinkConnector and JdbcSinkTask: records become rows, with Confluent's insert modes,
primary key modes, auto.create / auto.evolve and tombstone deletes.

Each put is one transaction: records are written in order, in batches of consecutive records for
the same table and schemas (so a delete between two writes of a key keeps its place), and either
all of them land or none do, which makes a redelivered put safe. Transient database errors
(lost connections, locks, serialization failures) raise RetriableException so the worker
redelivers the batch after retry.backoff.ms, up to max.retries times in a row.

Values are Structs with schemas. As an extra, a schemaless dict value (and key) is accepted: its
fields' schemas are inferred from the values (int -> INT64, float -> FLOAT64, str, bool, bytes),
and fields that are null in a record are left out of that record's write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.schema import CreateColumn

from connect import data
from connect.api import SinkConnector, SinkTask
from connect.connectors.jdbc import config as jdbc_config
from connect.connectors.jdbc.config import DEFAULT_KAFKA_PK_NAMES
from connect.connectors.jdbc.dialect import Database, first_line, is_transient
from connect.connectors.jdbc.types import column_type, to_db
from connect.data import Schema, Type
from connect.errors import ConnectException, DataException, RetriableException

log = logging.getLogger("connect.connectors.jdbc.sink")

VERSION = "0.1.0"


class JdbcSinkConnector(SinkConnector):
    class_name = "io.confluent.connect.jdbc.JdbcSinkConnector"
    aliases = ("JdbcSink",)

    def version(self):
        return VERSION

    def config(self):
        return jdbc_config.sink_config()

    def validate(self, props):
        return jdbc_config.validate(jdbc_config.sink_config(), jdbc_config.sink_problems, props)

    def start(self, props):
        jdbc_config.parse(jdbc_config.sink_config(), jdbc_config.sink_problems, props)
        self.props = dict(props)

    def task_class(self):
        return JdbcSinkTask

    def task_configs(self, max_tasks):
        return [dict(self.props) for _ in range(max_tasks)]

    def alter_offsets(self, connector_config, offsets):
        return True  # it keeps no offsets of its own in the database


class JdbcSinkTask(SinkTask):
    class_name = "io.confluent.connect.jdbc.sink.JdbcSinkTask"

    def version(self):
        return VERSION

    def start(self, props):
        cfg = jdbc_config.parse(jdbc_config.sink_config(), jdbc_config.sink_problems, props)
        self.max_retries = cfg["max.retries"]
        self.remaining_retries = self.max_retries
        self.backoff_ms = cfg["retry.backoff.ms"]
        self.db = Database(cfg)
        try:
            self.db.wait_until_reachable()
        except BaseException:
            self.db.dispose()
            raise
        self.writer = Writer(self.db, cfg)

    def put(self, records):
        if not records:
            return
        try:
            self.writer.write(records)
        except sa.exc.DBAPIError as exc:
            self.writer.forget()  # the rolled-back transaction may have created or altered tables
            self._failed(exc, len(records))
        self.remaining_retries = self.max_retries

    def _failed(self, exc: sa.exc.DBAPIError, count: int) -> None:
        reason = first_line(exc)
        if not is_transient(exc):
            raise ConnectException(f"Writing {count} records failed: {reason}") from exc
        if self.remaining_retries <= 0:
            raise ConnectException(f"Writing {count} records failed after {self.max_retries} retries: "
                                   f"{reason}") from exc
        self.remaining_retries -= 1
        log.warning("Writing %d records failed, %d retries left, next in %d ms: %s", count,
                    self.remaining_retries, self.backoff_ms, reason)
        self.db.engine.dispose()  # a lost connection must not be handed out again
        if self.context is not None:
            self.context.timeout(self.backoff_ms)
        raise RetriableException(f"Writing {count} records failed (will retry): {reason}") from exc

    def stop(self):
        if getattr(self, "db", None) is not None:
            self.db.dispose()


@dataclass(frozen=True)
class Fields:
    """A batch's columns: primary key columns first, then the other value fields."""
    keys: tuple[str, ...]
    values: tuple[str, ...]
    schemas: dict  # column name -> field schema, in CREATE TABLE order


def extract_fields(table: str, pk_mode: str, pk_fields: list[str], whitelist: list[str],
                   key_schema: Schema | None, value_schema: Schema | None) -> Fields:
    """Which columns a batch writes, and their schemas, from pk.mode and the record schemas."""
    if value_schema is not None and value_schema.type is not Type.STRUCT:
        raise ConnectException(f"Table '{table}': the JDBC sink writes Struct values with schemas, "
                               f"not {value_schema.type.name}")
    keys = _key_fields(table, pk_mode, pk_fields, key_schema, value_schema)
    values = {}
    for f in value_schema.fields if value_schema is not None else ():
        if f.name not in keys and (not whitelist or f.name in whitelist):
            values[f.name] = f.schema
    if not keys and not values:
        raise ConnectException(f"No fields to write to table '{table}' from the record key and value schemas")
    return Fields(tuple(keys), tuple(values), {**keys, **values})


def _key_fields(table, pk_mode, pk_fields, key_schema, value_schema) -> dict[str, Schema]:
    if pk_mode == "none":
        return {}
    if pk_mode == "kafka":
        names = pk_fields or DEFAULT_KAFKA_PK_NAMES
        return dict(zip(names, (data.STRING_SCHEMA, data.INT32_SCHEMA, data.INT64_SCHEMA)))
    source, schema = ("key", key_schema) if pk_mode == "record_key" else ("value", value_schema)
    if schema is None:
        raise ConnectException(f"pk.mode={pk_mode} for table '{table}' needs record {source}s with a schema")
    if schema.type.is_primitive and pk_mode == "record_key":
        if len(pk_fields) != 1:
            raise ConnectException(f"A primitive record key fills exactly one column: pk.fields must name it "
                                   f"(pk.fields is '{','.join(pk_fields)}')")
        return {pk_fields[0]: schema}
    if schema.type is not Type.STRUCT:
        raise ConnectException(f"pk.mode={pk_mode} needs a Struct or primitive record {source}, "
                               f"not {schema.type.name}")
    names = pk_fields or [f.name for f in schema.fields]
    for name in names:
        if schema.field(name) is None:
            raise ConnectException(f"pk.mode={pk_mode} for table '{table}': the record {source} schema has "
                                   f"no field {name} (pk.fields is '{','.join(pk_fields)}')")
    return {name: schema.field(name).schema for name in names}


def with_schemas(record):
    """A schemaless dict (or primitive) key or value given an inferred schema."""
    changes = {}
    if record.key_schema is None and record.key is not None:
        changes["key_schema"], changes["key"] = _inferred(record.key)
    if record.value_schema is None and record.value is not None:
        changes["value_schema"], changes["value"] = _inferred(record.value)
    return record.new_record(**changes) if changes else record


def _inferred(value):
    if not isinstance(value, dict):
        schema = data.infer_schema(value)
        if schema is None:
            raise DataException(f"Cannot infer a schema for a {type(value).__name__}")
        return schema, value
    present = {str(name): v for name, v in value.items() if v is not None}
    fields = []
    for name, v in present.items():
        schema = data.infer_schema(v)
        if schema is None or not schema.type.is_primitive:
            raise DataException(f"Field {name} holds a {type(v).__name__}, which has no SQL column type")
        fields.append((name, schema.as_optional()))
    schema = data.struct(fields)
    return schema, data.Struct(schema, present)


def _column_key(table: sa.Table, name: str) -> str | None:
    """The table's column for a field: same name, else the same name in another case."""
    if name in table.c:
        return name
    return next((c.key for c in table.columns if c.name.lower() == name.lower()), None)


class Writer:
    """Writes batches of records into tables, creating and evolving them as configured."""

    def __init__(self, db: Database, cfg: dict):
        self.db = db
        self.insert_mode = cfg["insert.mode"].lower()
        self.pk_mode = cfg["pk.mode"].lower()
        self.pk_fields = cfg["pk.fields"]
        self.whitelist = cfg["fields.whitelist"]
        self.auto_create = cfg["auto.create"]
        self.auto_evolve = cfg["auto.evolve"]
        self.delete_enabled = cfg["delete.enabled"]
        self.table_format = cfg["table.name.format"]
        self.batch_size = cfg["batch.size"]
        self.replace_null = cfg["replace.null.with.default"]
        self.tables: dict[str, sa.Table] = {}  # as last reflected; forgotten after a failed put

    def forget(self) -> None:
        self.tables.clear()

    def write(self, records) -> None:
        with self.db.engine.begin() as conn:
            for (table, deleting, key_schema, value_schema), batch in self._batches(records):
                if deleting:
                    self._delete(conn, table, key_schema, batch)
                else:
                    self._write(conn, table, key_schema, value_schema, batch)

    def _batches(self, records):
        """Runs of consecutive records with the same table, kind (write/delete) and schemas."""
        current, batch = None, []
        for record in records:
            record = with_schemas(record)
            self._check(record)
            deleting = record.value is None
            group = (self.table_format.replace("${topic}", record.topic), deleting, record.key_schema,
                     None if deleting else record.value_schema)
            if group != current or len(batch) >= self.batch_size:
                if batch:
                    yield current, batch
                current, batch = group, []
            batch.append(record)
        if batch:
            yield current, batch

    def _check(self, record) -> None:
        where = f"(topic={record.topic}, partition={record.kafka_partition}, offset={record.kafka_offset})"
        if record.value is None and not self.delete_enabled:
            raise ConnectException(f"Record {where} has a null value (a tombstone); writing it needs "
                                   f"delete.enabled=true and pk.mode=record_key")
        if record.key is None and (self.pk_mode == "record_key" or record.value is None):
            raise ConnectException(f"Record {where} has a null key, but pk.mode={self.pk_mode} and "
                                   f"delete.enabled={str(self.delete_enabled).lower()} need one")

    # Writes.

    def _write(self, conn, table_name, key_schema, value_schema, records) -> None:
        fields = extract_fields(table_name, self.pk_mode, self.pk_fields, self.whitelist, key_schema, value_schema)
        table = self._table_for(conn, table_name, fields)
        columns = {name: _column_key(table, name) for name in fields.schemas}
        rows = [self._values(record, fields) for record in records]
        keys = [columns[n] for n in fields.keys]
        others = [columns[n] for n in fields.values]
        if self.insert_mode == "update":
            if not others:
                return  # nothing but the key: an UPDATE would change nothing
            stmt = (sa.update(table)
                    .where(*(table.c[k] == sa.bindparam(f"k{i}") for i, k in enumerate(keys)))
                    .values({table.c[c]: sa.bindparam(f"v{i}") for i, c in enumerate(others)}))
            params = [{**{f"k{i}": row[n] for i, n in enumerate(fields.keys)},
                       **{f"v{i}": row[n] for i, n in enumerate(fields.values)}} for row in rows]
            conn.execute(stmt, params)
            return
        stmt = self.db.insert_or_update(table, keys, others) if self.insert_mode == "upsert" else sa.insert(table)
        conn.execute(stmt, [{columns[n]: v for n, v in row.items()} for row in rows])

    def _delete(self, conn, table_name, key_schema, records) -> None:
        fields = extract_fields(table_name, self.pk_mode, self.pk_fields, self.whitelist, key_schema, None)
        if table_name not in self.tables and not self.db.table_exists(conn, table_name):
            return  # no table, no row to delete
        table = self._table_for(conn, table_name, fields)
        keys = [_column_key(table, n) for n in fields.keys]
        stmt = sa.delete(table).where(*(table.c[k] == sa.bindparam(f"k{i}") for i, k in enumerate(keys)))
        params = []
        for record in records:
            row = self._values(record, fields)
            params.append({f"k{i}": row[n] for i, n in enumerate(fields.keys)})
        conn.execute(stmt, params)

    def _values(self, record, fields: Fields) -> dict:
        """Field name -> the value bound for its column."""
        out = {}
        if self.pk_mode == "kafka":
            out.update(zip(fields.keys, (record.topic, record.kafka_partition, record.kafka_offset)))
        elif self.pk_mode == "record_key":
            if record.key_schema.type.is_primitive:
                out[fields.keys[0]] = record.key
            else:
                out.update((n, self._field(record.key, n)) for n in fields.keys)
        elif self.pk_mode == "record_value":
            out.update((n, self._field(record.value, n)) for n in fields.keys)
        if record.value is not None:
            out.update((n, self._field(record.value, n)) for n in fields.values)
        return {n: to_db(fields.schemas[n], v, self.db.to_db) for n, v in out.items()}

    def _field(self, struct: data.Struct, name: str):
        return struct.get(name) if self.replace_null else struct.get_without_default(name)

    # Tables.

    def _table_for(self, conn, name: str, fields: Fields) -> sa.Table:
        """The table, created or given new columns as auto.create / auto.evolve allow."""
        table = self.tables.get(name)
        if table is None:
            if not self.db.table_exists(conn, name):
                if not self.auto_create:
                    raise ConnectException(f"Table {name} does not exist and auto.create is disabled")
                self._create(conn, name, fields)
            table = self.tables[name] = self.db.reflect(conn, name)
        missing = [n for n in fields.schemas if _column_key(table, n) is None]
        if missing:
            self._add_columns(conn, table, missing, fields)
            table = self.tables[name] = self.db.reflect(conn, name)
        return table

    def _create(self, conn, name: str, fields: Fields) -> None:
        schema, table_name = self.db.split(name)
        columns = [self._column(n, s, primary_key=n in fields.keys) for n, s in fields.schemas.items()]
        table = sa.Table(table_name, sa.MetaData(), *columns, schema=schema)
        log.info("Creating table %s with columns %s, primary key %s", name, list(fields.schemas), list(fields.keys))
        table.create(conn)

    def _add_columns(self, conn, table: sa.Table, missing: list[str], fields: Fields) -> None:
        name = self.db.qualified(table.schema, table.name)
        for column in missing:
            schema = fields.schemas[column]
            if not schema.optional and schema.default is None:
                raise ConnectException(f"Cannot add column {column} to table {name}: the field is required "
                                       f"and has no default value")
        if not self.auto_evolve:
            raise ConnectException(f"Table {name} has no columns for fields {missing} and auto.evolve is disabled")
        # A throwaway Table gives each new column the dialect's full spelling (type, NULL, DEFAULT).
        sketch = sa.Table(table.name, sa.MetaData(), *(self._column(n, fields.schemas[n]) for n in missing),
                          schema=table.schema)
        quoted = conn.dialect.identifier_preparer.format_table(sketch)
        for column in sketch.columns:
            spec = CreateColumn(column).compile(dialect=conn.dialect)
            log.info("Adding column %s to table %s", column.name, name)
            conn.execute(sa.text(f"ALTER TABLE {quoted} ADD COLUMN {spec}"))

    def _column(self, name: str, schema: Schema, primary_key: bool = False) -> sa.Column:
        return sa.Column(name, column_type(schema, name), primary_key=primary_key,
                         nullable=schema.optional and not primary_key, autoincrement=False,
                         server_default=self._default(schema))

    def _default(self, schema: Schema):
        """The field's default as SQL, for the primitive types that have a literal."""
        if schema.default is None or data.is_logical(schema) or schema.type is Type.BYTES:
            return None
        literal = sa.literal(schema.default, column_type(schema, "default"))
        return sa.text(str(literal.compile(dialect=self.db.engine.dialect, compile_kwargs={"literal_binds": True})))
