"""The database behind a JDBC connector: its URL (Confluent's JDBC form or SQLAlchemy's), one
SQLAlchemy engine, how table names are qualified, the database's clock and time zone, and the
upsert statement each backend spells differently.

Passwords: the URL is only ever shown with its password hidden, and engines hide statement
parameters (row data) from error messages and logs.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
import urllib.parse
import zoneinfo

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from connect.errors import ConfigException, ConnectException

log = logging.getLogger("connect.connectors.jdbc")

UTC = datetime.timezone.utc
# Confluent's dialect names and the SQLAlchemy backend each one stands for.
DIALECT_BACKENDS = {"SqliteDatabaseDialect": "sqlite", "PostgreSqlDatabaseDialect": "postgresql"}
# pgJDBC URL parameters with a libpq equivalent; user and password go into the URL itself.
_PG_JDBC_PARAMS = {"sslmode": "sslmode", "sslrootcert": "sslrootcert", "sslcert": "sslcert", "sslkey": "sslkey",
                   "ApplicationName": "application_name", "connectTimeout": "connect_timeout"}


def translate_url(url: str) -> URL:
    """A SQLAlchemy URL from `connection.url`: jdbc:sqlite:<path>, jdbc:postgresql://host:port/db?...
    or any SQLAlchemy URL. PostgreSQL without a named driver uses psycopg, the one installed."""
    url = url.strip()
    if url.startswith("jdbc:"):
        parsed = _translate_jdbc(url)
    else:
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigException("connection.url", _hide_password(url),
                                  "Not a JDBC URL (jdbc:sqlite:..., jdbc:postgresql://...) "
                                  "or a SQLAlchemy URL") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _translate_jdbc(url: str) -> URL:
    rest = url[len("jdbc:"):]
    if rest.startswith("sqlite:"):
        path = rest[len("sqlite:"):]
        if path.startswith("file:"):
            path = path[len("file:"):]
        path = path.split("?", 1)[0]
        # sqlite-jdbc's in-memory forms; anything else is a file path.
        return URL.create("sqlite", database=None if path in ("", ":memory:") else path)
    if rest.startswith("postgresql:"):
        return _translate_postgres(rest[len("postgresql:"):])
    raise ConfigException("connection.url", _hide_password(url),
                          "Only jdbc:sqlite: and jdbc:postgresql: URLs are translated; give other "
                          "databases as a SQLAlchemy URL")


def _translate_postgres(rest: str) -> URL:
    """pgJDBC's //host:port/database?user=..&password=.. (host and port optional)."""
    target, _, query = rest.partition("?")
    host, port, database = None, None, target
    if target.startswith("//"):
        authority, _, database = target[2:].partition("/")
        host, _, port_text = authority.rpartition(":") if ":" in authority else (authority, "", "")
        host = host or None
        if port_text:
            if not port_text.isdigit():
                raise ConfigException("connection.url", "jdbc:postgresql:" + _hide_password(rest),
                                      f"Invalid port {port_text!r}")
            port = int(port_text)
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    user = params.pop("user", [None])[0]
    password = params.pop("password", [None])[0]
    kept = {}
    for name, values in params.items():
        if name in _PG_JDBC_PARAMS:
            kept[_PG_JDBC_PARAMS[name]] = values[0]
        else:
            log.warning("JDBC URL parameter %s has no psycopg equivalent and is ignored", name)
    return URL.create("postgresql+psycopg", username=user, password=password, host=host or "localhost",
                      port=port, database=database or None, query=kept)


def _hide_password(url: str) -> str:
    """A URL fit for an error message: password= parameters and user:password@ masked."""
    url = re.sub(r"(?i)(password=)[^&;]*", r"\1***", url)
    return re.sub(r"(//[^/@]*?:)[^/@]*@", r"\1***@", url)


class Database:
    """One engine for one connector or task. `cfg` is the parsed config."""

    def __init__(self, cfg: dict):
        url = translate_url(cfg["connection.url"])
        if cfg.get("connection.user"):
            url = url.set(username=cfg["connection.user"])
        if cfg.get("connection.password") is not None:
            url = url.set(password=cfg["connection.password"].value)
        self.backend = url.get_backend_name()
        wanted = DIALECT_BACKENDS.get(cfg.get("dialect.name") or "")
        if wanted and wanted != self.backend:
            raise ConfigException("dialect.name", cfg["dialect.name"],
                                  f"The connection URL is for {self.backend}, not {wanted}")
        self.shown_url = url.render_as_string(hide_password=True)
        self.tz = zoneinfo.ZoneInfo(cfg["db.timezone"])
        self.attempts = cfg["connection.attempts"]
        self.backoff_s = cfg["connection.backoff.ms"] / 1000
        try:
            self.engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise ConfigException("connection.url", self.shown_url, f"Cannot use this URL: {exc}") from None
        if self.backend == "postgresql":
            sa.event.listen(self.engine, "connect", self._set_session_time_zone)

    def _set_session_time_zone(self, dbapi_connection, _record) -> None:
        # Naive timestamps are bound and read as db.timezone wall time; with the session in the
        # same zone, PostgreSQL converts to and from timestamptz columns consistently.
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT set_config('TimeZone', %s, false)", (self.tz.key,))
        cursor.close()
        dbapi_connection.commit()  # SET is transactional: the pool's rollback would undo it

    @property
    def supports_schemas(self) -> bool:
        return self.backend != "sqlite"

    def wait_until_reachable(self, stopped: threading.Event | None = None) -> None:
        """connection.attempts tries, connection.backoff.ms apart; ConnectException after the last."""
        for attempt in range(1, self.attempts + 1):
            try:
                with self.engine.connect():
                    return
            except sa.exc.DBAPIError as exc:
                if attempt == self.attempts:
                    raise ConnectException(f"Could not connect to {self.shown_url} after {attempt} "
                                           f"attempt(s): {first_line(exc)}") from None
                log.warning("Connecting to %s failed (attempt %d of %d), retrying in %.1fs: %s", self.shown_url,
                            attempt, self.attempts, self.backoff_s, first_line(exc))
            if stopped is not None:
                if stopped.wait(self.backoff_s):
                    raise ConnectException("Stopped while connecting")
            else:
                time.sleep(self.backoff_s)

    def dispose(self) -> None:
        self.engine.dispose()

    # Names. A fully qualified name is Confluent's unquoted form: schema.table on PostgreSQL,
    # the bare table name on SQLite (which has no schemas for tables worth naming).

    def qualified(self, schema: str | None, table: str) -> str:
        return f"{schema}.{table}" if schema and self.supports_schemas else table

    def split(self, name: str) -> tuple[str | None, str]:
        if self.supports_schemas and "." in name:
            schema, table = name.split(".", 1)
            return schema, table
        return None, name

    def list_tables(self, conn, schema: str | None, types: list[str]) -> list[str]:
        """Fully qualified names of the tables (and views, if asked) in `schema` or the default one."""
        inspector = sa.inspect(conn)
        schema = schema or (inspector.default_schema_name if self.supports_schemas else None)
        names = []
        if "TABLE" in types:
            names += inspector.get_table_names(schema=schema)
        if "VIEW" in types:
            names += inspector.get_view_names(schema=schema)
        return sorted(self.qualified(schema, name) for name in names)

    def reflect(self, conn, name: str) -> sa.Table:
        """The table or view `name` (qualified or not) as the database describes it now."""
        schema, table = self.split(name)
        if schema is None and self.supports_schemas:
            schema = sa.inspect(conn).default_schema_name
        return sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)

    def table_exists(self, conn, name: str) -> bool:
        schema, table = self.split(name)
        return sa.inspect(conn).has_table(table, schema=schema)

    # Time. Offsets and Connect values are aware UTC datetimes; the database sees naive
    # datetimes in db.timezone.

    def now(self, conn) -> datetime.datetime:
        """The database's current time (clock skew between hosts must not skip rows)."""
        if self.backend == "sqlite":  # in-process: the database's clock is ours
            return datetime.datetime.now(UTC)
        return self.from_db(conn.execute(sa.select(sa.func.current_timestamp())).scalar_one())

    def from_db(self, value) -> datetime.datetime:
        if not isinstance(value, datetime.datetime):  # a DATE column used as a timestamp
            value = datetime.datetime.combine(value, datetime.time())
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz)
        return value.astimezone(UTC)

    def to_db(self, value: datetime.datetime) -> datetime.datetime:
        if value.tzinfo is None:  # Connect timestamps are UTC
            value = value.replace(tzinfo=UTC)
        return value.astimezone(self.tz).replace(tzinfo=None)

    def insert_or_update(self, table: sa.Table, keys: list[str], others: list[str]):
        """INSERT ... ON CONFLICT (keys) DO UPDATE SET others = excluded.others."""
        if self.backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.backend == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            raise ConnectException(f"insert.mode=upsert is not supported for {self.backend}")
        stmt = insert(table)
        if not others:
            return stmt.on_conflict_do_nothing(index_elements=keys)
        return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in others})


def first_line(exc: BaseException) -> str:
    """A driver error without SQLAlchemy's statement/background lines."""
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().split("\n", 1)[0]


def is_transient(exc: sa.exc.DBAPIError) -> bool:
    """Errors that another try may not hit: lost connections, locks, serialization failures.
    Constraint violations and bad SQL would fail the same way again."""
    return isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)) or exc.connection_invalidated

