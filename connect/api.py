"""The connector API for Python authors, in Kafka Connect's terms (org.apache.kafka.connect.{connector,
source,sink}): connectors split work into task configs; source tasks poll records from a system,
sink tasks put records into one.

A plugin class may carry `class_name` (the name users put in `connector.class`, e.g. Kafka's own
"org.apache.kafka.connect.file.FileStreamSourceConnector") and `aliases`; otherwise its Python
path `module.Class` is its name. `version()` is what the REST API reports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

from connect.config_def import ConfigDef, ConfigValue
from connect.data import Schema


@dataclass(frozen=True)
class Header:
    key: str
    schema: Schema | None
    value: Any


class TimestampType(str, enum.Enum):
    NO_TIMESTAMP_TYPE = "NoTimestampType"
    CREATE_TIME = "CreateTime"
    LOG_APPEND_TIME = "LogAppendTime"


@dataclass(frozen=True)
class ConnectRecord:
    """Fields every record has. Records are immutable; transforms make new ones with `new_record`."""
    topic: str
    kafka_partition: int | None
    key_schema: Schema | None
    key: Any
    value_schema: Schema | None
    value: Any
    timestamp: int | None = None
    headers: tuple[Header, ...] = ()

    def new_record(self, **changes) -> "ConnectRecord":
        """A copy with some of topic, kafka_partition, key_schema, key, value_schema, value,
        timestamp, headers replaced (ConnectRecord.newRecord)."""
        if "headers" in changes:
            changes["headers"] = tuple(changes["headers"])
        return replace(self, **changes)

    def header(self, key: str) -> Header | None:
        """The last header with this key (Headers.lastWithName)."""
        for h in reversed(self.headers):
            if h.key == key:
                return h
        return None


@dataclass(frozen=True)
class SourceRecord(ConnectRecord):
    source_partition: dict | None = None
    source_offset: dict | None = None


def source_record(source_partition: dict | None, source_offset: dict | None, topic: str, *,
                  kafka_partition: int | None = None, key_schema: Schema | None = None, key=None,
                  value_schema: Schema | None = None, value=None, timestamp: int | None = None,
                  headers=()) -> SourceRecord:
    """SourceRecord's constructor in Kafka's argument order."""
    return SourceRecord(topic, kafka_partition, key_schema, key, value_schema, value, timestamp,
                        tuple(headers), source_partition, source_offset)


@dataclass(frozen=True)
class SinkRecord(ConnectRecord):
    kafka_offset: int = -1
    timestamp_type: TimestampType = TimestampType.NO_TIMESTAMP_TYPE
    # Where the record was consumed, kept through transforms that rename the topic (KIP-793).
    original_topic: str | None = None
    original_kafka_partition: int | None = None
    original_kafka_offset: int | None = None


@dataclass(frozen=True, order=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass
class RecordMetadata:
    """What the producer acknowledged for a source record (commitRecord's second argument)."""
    topic: str
    partition: int
    offset: int
    timestamp: int | None = None


class ConnectorContext:
    """Given to a connector by the worker."""

    def request_task_reconfiguration(self) -> None:
        raise NotImplementedError

    def raise_error(self, exc: BaseException) -> None:
        raise NotImplementedError


class Connector:
    class_name: str | None = None
    aliases: tuple[str, ...] = ()

    def __init__(self):
        self.context: ConnectorContext | None = None

    def version(self) -> str:
        return "unknown"

    def initialize(self, context: ConnectorContext) -> None:
        self.context = context

    def start(self, props: dict[str, str]) -> None:
        raise NotImplementedError

    def task_class(self) -> type["Task"]:
        raise NotImplementedError

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        raise NotImplementedError

    def stop(self) -> None:
        pass

    def config(self) -> ConfigDef:
        return ConfigDef()

    def validate(self, props: dict[str, str]) -> list[ConfigValue]:
        """Each config key's validation result (Connector.validate); the default checks config()."""
        return list(self.config().validate(props).values())

    def reconfigure(self, props: dict[str, str]) -> None:
        self.stop()
        self.start(props)


class ExactlyOnceSupport(str, enum.Enum):
    SUPPORTED = "SUPPORTED"
    UNSUPPORTED = "UNSUPPORTED"


class SourceConnector(Connector):
    type = "source"

    def exactly_once_support(self, props: dict[str, str]) -> ExactlyOnceSupport | None:
        return None

    def alter_offsets(self, connector_config: dict[str, str], offsets: dict) -> bool:
        """Called before the framework alters (or, with None offsets, resets) this connector's
        source offsets; True means the connector manages nothing outside Kafka."""
        return False


class SinkConnector(Connector):
    type = "sink"

    def alter_offsets(self, connector_config: dict[str, str], offsets: dict) -> bool:
        return False


class Task:
    def version(self) -> str:
        return "unknown"

    def start(self, props: dict[str, str]) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        pass


class OffsetStorageReader:
    def offset(self, partition: dict) -> dict | None:
        return self.offsets([partition]).get(_freeze(partition))

    def offsets(self, partitions: list[dict]) -> dict:
        """{frozen partition: offset}; `freeze(partition)` gives the key."""
        raise NotImplementedError


def _freeze(partition: dict):
    return tuple(sorted(partition.items()))


freeze_partition = _freeze


@dataclass
class SourceTaskContext:
    configs: dict[str, str]
    offset_storage_reader: OffsetStorageReader


class SourceTask(Task):
    def __init__(self):
        self.context: SourceTaskContext | None = None

    def initialize(self, context: SourceTaskContext) -> None:
        self.context = context

    def poll(self) -> list[SourceRecord] | None:
        """Records ready now, or None; block briefly when there are none rather than spin."""
        raise NotImplementedError

    def commit(self) -> None:
        """Called after the worker flushed the offsets of acknowledged records."""

    def commit_record(self, record: SourceRecord, metadata: RecordMetadata | None) -> None:
        """Called once the producer acknowledged `record` (metadata None if it was filtered)."""


@dataclass
class SinkTaskContext:
    """What a sink task can ask the worker (SinkTaskContext)."""
    configs: dict[str, str]
    assignment: set[TopicPartition] = field(default_factory=set)
    rewinds: dict[TopicPartition, int] = field(default_factory=dict)
    timeout_ms: int = -1
    commit_requested: bool = False
    paused: set[TopicPartition] = field(default_factory=set)
    errant_record_reporter: Any = None

    def offset(self, tp: TopicPartition, offset: int) -> None:
        self.rewinds[tp] = offset

    def timeout(self, ms: int) -> None:
        self.timeout_ms = ms

    def request_commit(self) -> None:
        self.commit_requested = True

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)


class SinkTask(Task):
    def __init__(self):
        self.context: SinkTaskContext | None = None

    def initialize(self, context: SinkTaskContext) -> None:
        self.context = context

    def open(self, partitions: list[TopicPartition]) -> None:
        pass

    def close(self, partitions: list[TopicPartition]) -> None:
        pass

    def put(self, records: list[SinkRecord]) -> None:
        raise NotImplementedError

    def flush(self, offsets: dict[TopicPartition, int]) -> None:
        pass

    def pre_commit(self, offsets: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The offsets (next to read) safe to commit; by default flush, then all of them."""
        self.flush(offsets)
        return offsets


class Converter:
    """Connect data <-> bytes for one side (key or value) of a record (Converter)."""

    def configure(self, configs: dict[str, str], is_key: bool) -> None:
        pass

    def config(self) -> ConfigDef:
        return ConfigDef()

    def from_connect_data(self, topic: str, schema: Schema | None, value, headers=None) -> bytes | None:
        raise NotImplementedError

    def to_connect_data(self, topic: str, data: bytes | None, headers=None):
        """A SchemaAndValue."""
        raise NotImplementedError


class HeaderConverter:
    def configure(self, configs: dict[str, str]) -> None:
        pass

    def config(self) -> ConfigDef:
        return ConfigDef()

    def from_connect_header(self, topic: str, key: str, schema: Schema | None, value) -> bytes | None:
        raise NotImplementedError

    def to_connect_header(self, topic: str, key: str, data: bytes | None):
        raise NotImplementedError


class ConfigurablePlugin:
    """What transforms and predicates share (Kafka's Configurable, Closeable, Versioned)."""
    class_name: str | None = None
    aliases: tuple[str, ...] = ()

    def configure(self, configs: dict[str, str]) -> None:
        pass

    def config(self) -> ConfigDef:
        return ConfigDef()

    def close(self) -> None:
        pass

    def version(self) -> str:
        return "unknown"


class Transformation(ConfigurablePlugin):
    """A single message transform: a record in, a record (or None to drop it) out."""

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        raise NotImplementedError


class Predicate(ConfigurablePlugin):
    """A condition on a record that decides whether a transform applies to it."""

    def test(self, record: ConnectRecord) -> bool:
        raise NotImplementedError
