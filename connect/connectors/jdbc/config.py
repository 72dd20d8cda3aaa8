"""The JDBC connectors' configs under Confluent's names and defaults (docs/design/connect.md §9),
plus the checks that span several keys. Each cross-key problem is reported against one key, so
`PUT .../config/validate` shows it on the field a user has to change."""

from __future__ import annotations

import zoneinfo

from connect.config_def import ConfigDef, ConfigType, ConfigValue, Importance, NonEmptyString, Range, \
    ValidList, ValidString, to_config_string
from connect.errors import ConfigException

# Source modes.
MODE_BULK = "bulk"
MODE_INCREMENTING = "incrementing"
MODE_TIMESTAMP = "timestamp"
MODE_TIMESTAMP_INCREMENTING = "timestamp+incrementing"
INCREMENTING_MODES = (MODE_INCREMENTING, MODE_TIMESTAMP_INCREMENTING)
TIMESTAMP_MODES = (MODE_TIMESTAMP, MODE_TIMESTAMP_INCREMENTING)

NUMERIC_MAPPINGS = ("none", "precision_only", "best_fit", "best_fit_eager_double")
DIALECT_NAMES = ("", "GenericDatabaseDialect", "SqliteDatabaseDialect", "PostgreSqlDatabaseDialect")

# Sink modes.
INSERT_MODES = ("insert", "upsert", "update")
PK_MODES = ("none", "kafka", "record_key", "record_value")
DEFAULT_KAFKA_PK_NAMES = ["__connect_topic", "__connect_partition", "__connect_offset"]


def _time_zone(name, value):
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigException(name, value, "Invalid time zone identifier") from None


def _connection_config() -> ConfigDef:
    return (ConfigDef()
            .define("connection.url", ConfigType.STRING, validator=NonEmptyString(), importance=Importance.HIGH,
                    documentation="JDBC connection URL (jdbc:sqlite:<path>, jdbc:postgresql://host:port/db) "
                                  "or a SQLAlchemy URL (sqlite:///<path>, postgresql+psycopg://host/db).")
            .define("connection.user", ConfigType.STRING, None, None, Importance.HIGH, "JDBC connection user.")
            .define("connection.password", ConfigType.PASSWORD, None, None, Importance.HIGH,
                    "JDBC connection password.")
            .define("connection.attempts", ConfigType.INT, 3, Range.at_least(1), Importance.LOW,
                    "How many times to try connecting before giving up.")
            .define("connection.backoff.ms", ConfigType.LONG, 10000, Range.at_least(0), Importance.LOW,
                    "Milliseconds to wait between connection attempts.")
            .define("dialect.name", ConfigType.STRING, "", ValidString.in_(*DIALECT_NAMES), Importance.LOW,
                    "The database dialect; empty means the one the connection URL names.")
            .define("db.timezone", ConfigType.STRING, "UTC", _time_zone, Importance.MEDIUM,
                    "Time zone of timestamps without a zone in the database."))


def source_config() -> ConfigDef:
    return (_connection_config()
            .define("mode", ConfigType.STRING, "", ValidString.in_("", MODE_BULK, MODE_TIMESTAMP, MODE_INCREMENTING,
                                                                   MODE_TIMESTAMP_INCREMENTING), Importance.HIGH,
                    "How each poll finds rows: bulk (the whole table every time), incrementing (a strictly "
                    "increasing column), timestamp (a last-modified column), or timestamp+incrementing.")
            .define("incrementing.column.name", ConfigType.STRING, "", None, Importance.MEDIUM,
                    "The strictly increasing, non-null column; empty in table mode means the table's "
                    "auto-incrementing (integer primary key) column.")
            .define("timestamp.column.name", ConfigType.LIST, "", None, Importance.MEDIUM,
                    "Timestamp columns; with several, the first non-null (COALESCE) is the row's time.")
            .define("timestamp.initial", ConfigType.LONG, None, None, Importance.LOW,
                    "Epoch milliseconds to start timestamp modes from when there is no stored offset; "
                    "-1 means the current time. Unset reads everything.")
            .define("timestamp.delay.interval.ms", ConfigType.LONG, 0, Range.at_least(0), Importance.HIGH,
                    "How long after its timestamp a row becomes visible, so that transactions with "
                    "earlier timestamps can commit first.")
            .define("table.whitelist", ConfigType.LIST, "", None, Importance.MEDIUM,
                    "Tables to copy (names or fully qualified names); empty means all.")
            .define("table.blacklist", ConfigType.LIST, "", None, Importance.MEDIUM, "Tables not to copy.")
            .define("table.types", ConfigType.LIST, "TABLE", ValidList(("TABLE", "VIEW")), Importance.LOW,
                    "Which relations to copy: TABLE, VIEW or both.")
            .define("schema.pattern", ConfigType.STRING, None, None, Importance.MEDIUM,
                    "The database schema to read tables from; unset means the connection's default schema.")
            .define("table.poll.interval.ms", ConfigType.LONG, 60000, Range.at_least(1), Importance.LOW,
                    "How often to look for new or removed tables.")
            .define("query", ConfigType.STRING, "", None, Importance.MEDIUM,
                    "A SELECT to copy from instead of tables; incremental modes filter and order its rows.")
            .define("poll.interval.ms", ConfigType.INT, 5000, Range.at_least(1), Importance.HIGH,
                    "Milliseconds between polls of each table for new data.")
            .define("batch.max.rows", ConfigType.INT, 1000, Range.at_least(1), Importance.LOW,
                    "The most rows one poll returns for one table.")
            .define("topic.prefix", ConfigType.STRING, "", None, Importance.HIGH,
                    "Topic = prefix + table name; with `query`, the whole topic name.")
            .define("numeric.mapping", ConfigType.STRING, None, ValidString.in_(*NUMERIC_MAPPINGS,
                                                                                case_insensitive=True),
                    Importance.LOW, "How NUMERIC columns map: none (Decimal), precision_only, best_fit, "
                                    "best_fit_eager_double.")
            .define("numeric.precision.mapping", ConfigType.BOOLEAN, False, None, Importance.LOW,
                    "Deprecated: true means numeric.mapping=precision_only.")
            .define("validate.non.null", ConfigType.BOOLEAN, True, None, Importance.LOW,
                    "Refuse incrementing/timestamp columns that are nullable."))


def sink_config() -> ConfigDef:
    return (_connection_config()
            .define("insert.mode", ConfigType.STRING, "insert", ValidString.in_(*INSERT_MODES, case_insensitive=True),
                    Importance.HIGH, "insert, upsert (insert or update by primary key) or update.")
            .define("pk.mode", ConfigType.STRING, "none", ValidString.in_(*PK_MODES, case_insensitive=True),
                    Importance.HIGH, "Where the primary key comes from: none, kafka (topic, partition, offset), "
                                     "record_key or record_value.")
            .define("pk.fields", ConfigType.LIST, "", None, Importance.MEDIUM,
                    "Primary key column names; their meaning depends on pk.mode.")
            .define("fields.whitelist", ConfigType.LIST, "", None, Importance.MEDIUM,
                    "Value fields to write; empty means all.")
            .define("auto.create", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                    "CREATE TABLE from the record schema when the table is missing.")
            .define("auto.evolve", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                    "ALTER TABLE ... ADD for optional or defaulted fields the table lacks.")
            .define("delete.enabled", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
                    "Delete the row for a tombstone (null value); needs pk.mode=record_key.")
            .define("table.name.format", ConfigType.STRING, "${topic}", None, Importance.MEDIUM,
                    "Destination table name; ${topic} is replaced by the record's topic.")
            .define("batch.size", ConfigType.INT, 3000, Range.at_least(1), Importance.MEDIUM,
                    "Rows per statement batch.")
            .define("max.retries", ConfigType.INT, 10, Range.at_least(0), Importance.MEDIUM,
                    "How many times a put that failed on a transient database error is redelivered.")
            .define("retry.backoff.ms", ConfigType.INT, 3000, Range.at_least(0), Importance.MEDIUM,
                    "Milliseconds to wait before a redelivery.")
            .define("replace.null.with.default", ConfigType.BOOLEAN, True, None, Importance.LOW,
                    "Write a field's schema default in place of a null value."))


def source_problems(cfg: dict) -> list[tuple[str, str]]:
    """(key, message) for every combination of source settings that cannot work."""
    problems = []
    mode, query = cfg["mode"], cfg["query"]
    if not mode:
        problems.append(("mode", "Query mode must be specified: one of bulk, timestamp, incrementing, "
                                 "timestamp+incrementing"))
    if query and (cfg["table.whitelist"] or cfg["table.blacklist"]):
        problems.append(("query", "Use either 'query' or table.whitelist/table.blacklist, not both"))
    if cfg["table.whitelist"] and cfg["table.blacklist"]:
        problems.append(("table.blacklist", "table.whitelist and table.blacklist cannot both be set"))
    if query and mode in INCREMENTING_MODES and not cfg["incrementing.column.name"]:
        problems.append(("incrementing.column.name",
                         f"'incrementing.column.name' must be set for mode '{mode}' with a custom query: "
                         f"a query has no table whose auto-incrementing column could be found"))
    if mode in TIMESTAMP_MODES and not cfg["timestamp.column.name"]:
        problems.append(("timestamp.column.name", f"'timestamp.column.name' must be set for mode '{mode}'"))
    return problems


def sink_problems(cfg: dict) -> list[tuple[str, str]]:
    problems = []
    pk_mode, insert_mode = cfg["pk.mode"].lower(), cfg["insert.mode"].lower()
    if cfg["delete.enabled"] and pk_mode != "record_key":
        problems.append(("delete.enabled", "Deletes need pk.mode=record_key: the record key names the row "
                                           f"to delete (pk.mode is '{pk_mode}')"))
    if insert_mode in ("upsert", "update") and pk_mode == "none":
        problems.append(("pk.mode", f"insert.mode '{insert_mode}' needs a primary key: set pk.mode to "
                                    "kafka, record_key or record_value"))
    if pk_mode == "kafka" and cfg["pk.fields"] and len(cfg["pk.fields"]) != 3:
        problems.append(("pk.fields", "With pk.mode=kafka, pk.fields must be empty (for the defaults "
                                      f"{','.join(DEFAULT_KAFKA_PK_NAMES)}) or name exactly 3 columns"))
    return problems


def parse(definition: ConfigDef, check, props: dict) -> dict:
    """Typed settings; the first problem raises ConfigException."""
    cfg = definition.parse(props)
    for key, message in check(cfg):
        raise _problem(key, cfg[key], message)
    return cfg


def validate(definition: ConfigDef, check, props: dict) -> list[ConfigValue]:
    """Per-key results: ConfigDef's own, then the cross-key problems once every key parsed."""
    results = definition.validate(props)
    if not any(value.errors for value in results.values()):
        cfg = definition.parse(props)
        for key, message in check(cfg):
            results[key].errors.append(str(_problem(key, cfg[key], message)))
    return list(results.values())


def _problem(key: str, value, message: str) -> ConfigException:
    return ConfigException(key, to_config_string(value, _TYPES_SHOWN.get(type(value), ConfigType.STRING)), message)


_TYPES_SHOWN = {list: ConfigType.LIST, bool: ConfigType.BOOLEAN}
