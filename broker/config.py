"""Broker and topic configuration, with Apache Kafka's names, types and defaults.

A topic config without an explicit value takes the value of its broker synonym
(`retention.ms` <- `log.retention.ms`), which takes Kafka's default. DescribeConfigs
reports each value with its source, as Kafka does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from broker.storage.config import LogConfig

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1

# DescribeConfigs config types (KIP-336) and sources.
BOOLEAN, STRING, INT, SHORT, LONG, DOUBLE, LIST, CLASS, PASSWORD = 1, 2, 3, 4, 5, 6, 7, 8, 9
SOURCE_TOPIC, SOURCE_DYNAMIC_BROKER, SOURCE_DYNAMIC_DEFAULT_BROKER, SOURCE_STATIC_BROKER, SOURCE_DEFAULT = 1, 2, 3, 4, 5


# Kafka's ConfigDef words for a value that is not of the config's type.
_TYPE_ERRORS = {BOOLEAN: "Expected value to be either true or false", INT: "Not a number of type INT",
                SHORT: "Not a number of type SHORT", LONG: "Not a number of type LONG",
                DOUBLE: "Not a number of type DOUBLE"}


_INT_RANGES = {SHORT: 2**15, INT: 2**31, LONG: 2**63}


class ConfigError(ValueError):
    """An unknown config name or an invalid value (INVALID_CONFIG)."""


@dataclass(frozen=True)
class ConfigDef:
    name: str
    type: int
    default: object  # None = no value (null)
    doc: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None

    def parse(self, raw: str | None) -> object:
        if raw is None:
            return None
        raw = raw.strip()
        try:
            if self.type == BOOLEAN:
                if raw.lower() not in ("true", "false"):
                    raise ValueError
                value = raw.lower() == "true"
            elif self.type in (INT, SHORT, LONG):
                value = int(raw)
                if not -_INT_RANGES[self.type] <= value < _INT_RANGES[self.type]:  # Java's parse fails
                    raise ValueError
            elif self.type == DOUBLE:
                value = float(raw)
            elif self.type == LIST:
                value = [item.strip() for item in raw.split(",") if item.strip()]
            else:
                value = raw
        except ValueError:
            raise ConfigError(f"Invalid value {raw} for configuration {self.name}: {_TYPE_ERRORS[self.type]}") from None
        if self.choices:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item not in self.choices:
                    raise ConfigError(
                        f"Invalid value {raw} for configuration {self.name}: String must be one of: "
                        + ", ".join(self.choices))
        if self.minimum is not None and isinstance(value, (int, float)) and value < self.minimum:
            raise ConfigError(f"Invalid value {raw} for configuration {self.name}: Value must be at least {self.minimum}")
        return value


def render(value: object) -> str | None:
    """A config value as Kafka prints it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _defs(*items: ConfigDef) -> dict[str, ConfigDef]:
    return {d.name: d for d in items}


BROKER_CONFIGS = _defs(
    ConfigDef("node.id", INT, 1, "The node id of this broker."),
    ConfigDef("broker.id", INT, 1, "Same as node.id."),
    ConfigDef("listeners", STRING, "PLAINTEXT://127.0.0.1:9092"),
    ConfigDef("advertised.listeners", STRING, None, "Address returned in Metadata; defaults to the listener."),
    ConfigDef("listener.security.protocol.map", STRING,
              "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"),
    ConfigDef("inter.broker.listener.name", STRING, None, "Accepted; a single node has no inter-broker traffic."),
    # TLS (broker/listeners.py); each may also be set for one listener as listener.name.<name>.<config>.
    # Only PEM stores are read, so PEM is the default type (Kafka's is JKS).
    ConfigDef("ssl.keystore.type", STRING, "PEM"),
    ConfigDef("ssl.keystore.location", STRING, None),
    ConfigDef("ssl.keystore.password", PASSWORD, None),
    ConfigDef("ssl.key.password", PASSWORD, None),
    ConfigDef("ssl.keystore.certificate.chain", PASSWORD, None),
    ConfigDef("ssl.keystore.key", PASSWORD, None),
    ConfigDef("ssl.truststore.type", STRING, "PEM"),
    ConfigDef("ssl.truststore.location", STRING, None),
    ConfigDef("ssl.truststore.password", PASSWORD, None),
    ConfigDef("ssl.truststore.certificates", PASSWORD, None),
    ConfigDef("ssl.client.auth", STRING, "none", choices=("none", "requested", "required")),
    ConfigDef("ssl.principal.mapping.rules", STRING, "DEFAULT"),
    ConfigDef("ssl.enabled.protocols", LIST, ["TLSv1.2", "TLSv1.3"]),
    ConfigDef("ssl.protocol", STRING, "TLSv1.3"),
    ConfigDef("ssl.cipher.suites", LIST, []),
    ConfigDef("ssl.endpoint.identification.algorithm", STRING, "https"),
    # SASL (broker/sasl/). The JAAS configs are per listener and mechanism:
    # listener.name.<listener>.<mechanism>.sasl.jaas.config (BrokerConfig.jaas_config).
    ConfigDef("sasl.enabled.mechanisms", LIST, ["GSSAPI"]),
    ConfigDef("sasl.mechanism.inter.broker.protocol", STRING, "GSSAPI", "Accepted; a single node has no inter-broker traffic."),
    ConfigDef("connections.max.reauth.ms", LONG, 0, "KIP-368: sessions last at most this long (0: no limit).", minimum=0),
    ConfigDef("connection.failed.authentication.delay.ms", INT, 100, minimum=0),
    ConfigDef("sasl.server.max.receive.size", INT, 524288, minimum=1),
    ConfigDef("sasl.oauthbearer.jwks.endpoint.url", STRING, None),
    ConfigDef("sasl.oauthbearer.jwks.endpoint.refresh.ms", LONG, 3600000, minimum=0),
    ConfigDef("sasl.oauthbearer.expected.audience", LIST, []),
    ConfigDef("sasl.oauthbearer.expected.issuer", STRING, None),
    ConfigDef("sasl.oauthbearer.sub.claim.name", STRING, "sub"),
    ConfigDef("sasl.oauthbearer.scope.claim.name", STRING, "scope"),
    ConfigDef("sasl.oauthbearer.clock.skew.seconds", INT, 30, minimum=0),
    # Authorization (broker/authorizer.py): an empty authorizer.class.name allows everything, as Kafka.
    ConfigDef("authorizer.class.name", STRING, ""),
    ConfigDef("super.users", STRING, None, "Principals allowed everything, separated by ';'."),
    ConfigDef("allow.everyone.if.no.acl.found", BOOLEAN, False),
    ConfigDef("log.dirs", STRING, "./schemabus-data/broker"),
    ConfigDef("num.partitions", INT, 1, minimum=1),
    ConfigDef("default.replication.factor", INT, 1, minimum=1),
    ConfigDef("auto.create.topics.enable", BOOLEAN, True),
    ConfigDef("delete.topic.enable", BOOLEAN, True),
    ConfigDef("message.max.bytes", INT, 1048588, minimum=0),
    ConfigDef("socket.request.max.bytes", INT, 104857600, minimum=1),
    # Fetch sessions (KIP-227) kept at once; 0: none, every fetch is a full one.
    ConfigDef("max.incremental.fetch.session.cache.slots", INT, 1000, minimum=0),
    # Ours, not Kafka's: array elements one request may hold, all its arrays together.
    ConfigDef("schemabus.request.max.array.entries", INT, 10000, minimum=1),
    # Ours: segment and index files kept open at once (closed least recently used first and
    # reopened on use); -1 = half of the descriptor limit (RLIMIT_NOFILE), the rest is for sockets.
    ConfigDef("schemabus.log.max.open.files", INT, -1,
              "Log segment and index files kept open at once; -1: half of RLIMIT_NOFILE.", minimum=-1),
    # Ours: where the Prometheus endpoint (/metrics) listens, host:port; unset = no endpoint.
    ConfigDef("schemabus.metrics.listen", STRING, None, "host:port of the Prometheus /metrics endpoint; unset: off."),
    ConfigDef("min.insync.replicas", INT, 1, minimum=1),
    ConfigDef("compression.type", STRING, "producer",
              choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")),
    # KIP-390: the level a topic's compression.type compresses at (-1: the codec's default).
    ConfigDef("compression.gzip.level", INT, -1, minimum=-1),
    ConfigDef("compression.lz4.level", INT, 9, minimum=1),
    ConfigDef("compression.zstd.level", INT, 3, minimum=-131072),
    ConfigDef("log.cleanup.policy", LIST, ["delete"], choices=("compact", "delete")),
    ConfigDef("log.retention.ms", LONG, 604800000),
    ConfigDef("log.retention.bytes", LONG, -1),
    ConfigDef("log.retention.check.interval.ms", LONG, 300000, minimum=1),
    ConfigDef("log.segment.bytes", INT, 1073741824, minimum=14),
    ConfigDef("log.roll.ms", LONG, 604800000, minimum=1),
    ConfigDef("log.roll.jitter.ms", LONG, 0),
    ConfigDef("log.segment.delete.delay.ms", LONG, 60000),
    ConfigDef("log.index.interval.bytes", INT, 4096, minimum=0),
    ConfigDef("log.index.size.max.bytes", INT, 10485760, minimum=4),
    ConfigDef("log.flush.interval.messages", LONG, LONG_MAX, minimum=1),
    ConfigDef("log.flush.interval.ms", LONG, LONG_MAX),
    ConfigDef("log.flush.scheduler.interval.ms", LONG, 1000),
    ConfigDef("log.preallocate", BOOLEAN, False),
    ConfigDef("log.message.timestamp.type", STRING, "CreateTime", choices=("CreateTime", "LogAppendTime")),
    ConfigDef("log.message.timestamp.before.max.ms", LONG, LONG_MAX, minimum=0),
    ConfigDef("log.message.timestamp.after.max.ms", LONG, 3600000, minimum=0),
    ConfigDef("log.cleaner.enable", BOOLEAN, True),
    ConfigDef("log.cleaner.backoff.ms", LONG, 15000),
    ConfigDef("log.cleaner.delete.retention.ms", LONG, 86400000, minimum=0),
    ConfigDef("log.cleaner.min.cleanable.ratio", DOUBLE, 0.5, minimum=0),
    ConfigDef("log.cleaner.min.compaction.lag.ms", LONG, 0, minimum=0),
    ConfigDef("log.cleaner.max.compaction.lag.ms", LONG, LONG_MAX, minimum=1),
    ConfigDef("unclean.leader.election.enable", BOOLEAN, False),
    ConfigDef("offsets.topic.num.partitions", INT, 50, minimum=1),
    ConfigDef("offsets.retention.minutes", INT, 10080, minimum=1),
    ConfigDef("offsets.retention.check.interval.ms", LONG, 600000, minimum=1),
    ConfigDef("offsets.topic.segment.bytes", INT, 104857600, minimum=1),
    ConfigDef("offset.metadata.max.bytes", INT, 4096),
    ConfigDef("group.max.size", INT, INT_MAX, minimum=1),
    ConfigDef("group.initial.rebalance.delay.ms", INT, 3000, minimum=0),
    ConfigDef("group.min.session.timeout.ms", INT, 6000),
    ConfigDef("group.max.session.timeout.ms", INT, 1800000),
    # The consumer group protocol (KIP-848): the coordinator sets the heartbeat interval and the session.
    ConfigDef("group.consumer.heartbeat.interval.ms", INT, 5000, minimum=1),
    ConfigDef("group.consumer.min.heartbeat.interval.ms", INT, 5000, minimum=1),
    ConfigDef("group.consumer.max.heartbeat.interval.ms", INT, 15000, minimum=1),
    ConfigDef("group.consumer.session.timeout.ms", INT, 45000, minimum=1),
    ConfigDef("group.consumer.min.session.timeout.ms", INT, 45000, minimum=1),
    ConfigDef("group.consumer.max.session.timeout.ms", INT, 60000, minimum=1),
    ConfigDef("group.consumer.max.size", INT, INT_MAX, minimum=1),
    ConfigDef("group.consumer.assignors", LIST, ["uniform", "range"], choices=("uniform", "range")),
    ConfigDef("group.consumer.migration.policy", STRING, "bidirectional",
              choices=("disabled", "upgrade", "downgrade", "bidirectional")),
    # Share and streams groups are not served; their timing configs are the defaults and bounds
    # of the per-group configs kafka-configs --entity-type groups sets (broker/group_configs.py).
    ConfigDef("group.share.session.timeout.ms", INT, 45000, minimum=1),
    ConfigDef("group.share.min.session.timeout.ms", INT, 45000, minimum=1),
    ConfigDef("group.share.max.session.timeout.ms", INT, 60000, minimum=1),
    ConfigDef("group.share.heartbeat.interval.ms", INT, 5000, minimum=1),
    ConfigDef("group.share.min.heartbeat.interval.ms", INT, 5000, minimum=1),
    ConfigDef("group.share.max.heartbeat.interval.ms", INT, 15000, minimum=1),
    ConfigDef("group.share.record.lock.duration.ms", INT, 30000, minimum=1000),
    ConfigDef("group.share.min.record.lock.duration.ms", INT, 15000, minimum=1000),
    ConfigDef("group.share.max.record.lock.duration.ms", INT, 60000, minimum=1000),
    ConfigDef("group.streams.session.timeout.ms", INT, 45000, minimum=1),
    ConfigDef("group.streams.min.session.timeout.ms", INT, 45000, minimum=1),
    ConfigDef("group.streams.max.session.timeout.ms", INT, 60000, minimum=1),
    ConfigDef("group.streams.heartbeat.interval.ms", INT, 5000, minimum=1),
    ConfigDef("group.streams.min.heartbeat.interval.ms", INT, 5000, minimum=1),
    ConfigDef("group.streams.max.heartbeat.interval.ms", INT, 15000, minimum=1),
    ConfigDef("group.streams.num.standby.replicas", INT, 0, minimum=0),
    ConfigDef("group.streams.max.standby.replicas", INT, 2, minimum=0),
    ConfigDef("confluent.schema.registry.url", STRING, None,
              "Schema Registry used to validate schema-governed topics (schema.registry.url is accepted too)."),
    # How the broker's registry client authenticates (Confluent Server's names; broker/schema_validation.py).
    ConfigDef("confluent.basic.auth.credentials.source", STRING, None, choices=("USER_INFO", "URL")),
    ConfigDef("confluent.basic.auth.user.info", PASSWORD, None),
    ConfigDef("confluent.bearer.auth.credentials.source", STRING, None, choices=("STATIC_TOKEN",)),
    ConfigDef("confluent.bearer.auth.token", PASSWORD, None),
    ConfigDef("confluent.ssl.truststore.location", STRING, None),
    ConfigDef("confluent.ssl.keystore.location", STRING, None),
    ConfigDef("confluent.ssl.key.password", PASSWORD, None),
    ConfigDef("transaction.max.timeout.ms", INT, 900000, minimum=1),
    ConfigDef("transaction.state.log.num.partitions", INT, 50, minimum=1),
    ConfigDef("transaction.abort.timed.out.transaction.cleanup.interval.ms", INT, 10000, minimum=1),
    # KIP-890: a transactional batch is appended only to a partition of its ongoing transaction.
    ConfigDef("transaction.partition.verification.enable", BOOLEAN, True),
    ConfigDef("producer.id.expiration.ms", INT, 86400000, minimum=1),
    # Replication throttles (kafka-reassign-partitions --throttle sets and clears them). A node
    # with one replica per partition replicates nothing: accepted, kept, without effect.
    ConfigDef("leader.replication.throttled.rate", LONG, LONG_MAX, minimum=0),
    ConfigDef("follower.replication.throttled.rate", LONG, LONG_MAX, minimum=0),
    ConfigDef("replica.alter.log.dirs.io.max.bytes.per.second", LONG, LONG_MAX, minimum=0),
)

# topic config -> (its definition, the broker config it falls back to)
_TOPIC_SYNONYMS = {
    "cleanup.policy": "log.cleanup.policy",
    "compression.type": "compression.type",
    "compression.gzip.level": "compression.gzip.level",
    "compression.lz4.level": "compression.lz4.level",
    "compression.zstd.level": "compression.zstd.level",
    "delete.retention.ms": "log.cleaner.delete.retention.ms",
    "file.delete.delay.ms": "log.segment.delete.delay.ms",
    "flush.messages": "log.flush.interval.messages",
    "flush.ms": "log.flush.interval.ms",
    "index.interval.bytes": "log.index.interval.bytes",
    "max.compaction.lag.ms": "log.cleaner.max.compaction.lag.ms",
    "max.message.bytes": "message.max.bytes",
    "message.timestamp.type": "log.message.timestamp.type",
    "message.timestamp.before.max.ms": "log.message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms": "log.message.timestamp.after.max.ms",
    "min.cleanable.dirty.ratio": "log.cleaner.min.cleanable.ratio",
    "min.compaction.lag.ms": "log.cleaner.min.compaction.lag.ms",
    "min.insync.replicas": "min.insync.replicas",
    "preallocate": "log.preallocate",
    "retention.bytes": "log.retention.bytes",
    "retention.ms": "log.retention.ms",
    "segment.bytes": "log.segment.bytes",
    "segment.index.bytes": "log.index.size.max.bytes",
    "segment.jitter.ms": "log.roll.jitter.ms",
    "segment.ms": "log.roll.ms",
    "unclean.leader.election.enable": "unclean.leader.election.enable",
}
TOPIC_CONFIGS = {
    name: ConfigDef(name, BROKER_CONFIGS[syn].type, BROKER_CONFIGS[syn].default,
                    choices=BROKER_CONFIGS[syn].choices, minimum=BROKER_CONFIGS[syn].minimum)
    for name, syn in _TOPIC_SYNONYMS.items()
}
# Topic-only configs (no broker synonym).
TOPIC_STRATEGY = "io.confluent.kafka.serializers.subject.TopicNameStrategy"
STRATEGY_NAMES = ("TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy")
TOPIC_CONFIGS.update(_defs(
    ConfigDef("confluent.value.schema.validation", BOOLEAN, False),
    ConfigDef("confluent.key.schema.validation", BOOLEAN, False),
    ConfigDef("confluent.value.subject.name.strategy", STRING, TOPIC_STRATEGY),
    ConfigDef("confluent.key.subject.name.strategy", STRING, TOPIC_STRATEGY),
    ConfigDef("schemabus.schema.validation.mode", STRING, "id", choices=("id", "payload")),
    ConfigDef("leader.replication.throttled.replicas", LIST, []),
    ConfigDef("follower.replication.throttled.replicas", LIST, []),
))
TOPIC_SYNONYM = dict(_TOPIC_SYNONYMS)
# Broker configs Kafka defines with no default of their own (theirs comes from *.hours /
# *.minutes configs): DescribeConfigs names them as a topic config's synonym only when set.
NO_DEFAULT_SYNONYMS = frozenset({"log.retention.ms", "log.flush.interval.ms", "log.roll.ms", "log.roll.jitter.ms"})


def validate_topic_configs(raw: dict[str, str | None]) -> dict[str, str]:
    """Check names and values; returns the configs to store (None values dropped)."""
    out = {}
    for name, value in raw.items():
        definition = TOPIC_CONFIGS.get(name)
        if definition is None:
            raise ConfigError(f"Unknown topic config name: {name}")
        if value is None:
            continue
        definition.parse(value)
        if name.endswith(".subject.name.strategy") and value.strip().rsplit(".", 1)[-1] not in STRATEGY_NAMES:
            raise ConfigError(f"Invalid value {value} for configuration {name}: one of " + ", ".join(STRATEGY_NAMES))
        out[name] = value.strip()
    return out


# listener.name.<listener>.<config>: a broker config for one listener only.
_LISTENER_CONFIG = re.compile(r"listener\.name\.([A-Za-z0-9_]+)\.(.+)\Z")
# listener.name.<listener>.<mechanism>.<config>: a SASL mechanism's settings on one listener.
_MECHANISM_CONFIG = re.compile(
    r"listener\.name\.([A-Za-z0-9_]+)\.([A-Za-z0-9-]+)\."
    r"(sasl\.jaas\.config|sasl\.server\.callback\.handler\.class|sasl\.login\.callback\.handler\.class)\Z")


class BrokerConfig:
    """The broker's configuration: Kafka names and defaults, overridden by `--config k=v`
    (static), overridden in turn by dynamic configs (broker/dynamic_config.py): the cluster-wide
    default, then this broker's own, as Kafka layers them."""

    # Kafka also accepts hours spellings of these; the ms config wins when both are set.
    _HOURS_SPELLINGS = {"log.retention.hours": "log.retention.ms", "log.roll.hours": "log.roll.ms"}

    def __init__(self, overrides: dict[str, str] | None = None):
        self.explicit: dict[str, object] = {}
        self.dynamic_default: dict[str, object] = {}
        self.dynamic: dict[str, object] = {}
        overrides = dict(overrides or {})
        if "schema.registry.url" in overrides:  # Confluent Server accepts both spellings
            overrides.setdefault("confluent.schema.registry.url", overrides.pop("schema.registry.url"))
        for hours, ms in self._HOURS_SPELLINGS.items():
            if hours in overrides:
                raw = overrides.pop(hours)
                overrides.setdefault(ms, str(BROKER_CONFIGS[ms].parse(raw) * 3600000))
        self.per_listener: dict[tuple[str, str], object] = {}
        for name, raw in overrides.items():
            listener_config = _LISTENER_CONFIG.match(name)
            if listener_config is not None and listener_config.group(2) in BROKER_CONFIGS:
                listener, config = listener_config.group(1).upper(), listener_config.group(2)
                self.per_listener[(listener, config)] = BROKER_CONFIGS[config].parse(raw)
                continue
            mechanism_config = _MECHANISM_CONFIG.match(name)
            if mechanism_config is not None:
                listener, mechanism, config = mechanism_config.groups()
                self.per_listener[(listener.upper(), f"{mechanism.upper()}.{config}")] = raw
                continue
            definition = BROKER_CONFIGS.get(name)
            if definition is None:
                raise ConfigError(f"Unknown broker config: {name}")
            self.explicit[name] = definition.parse(raw)
        self._check_consumer_group_timing()

    def _check_consumer_group_timing(self) -> None:
        """Kafka's start-up checks of the consumer group protocol's heartbeat interval and
        session timeout against their bounds and each other."""
        prefix = "group.consumer."
        for value, low, high in (("heartbeat.interval.ms", "min.heartbeat.interval.ms", "max.heartbeat.interval.ms"),
                                 ("session.timeout.ms", "min.session.timeout.ms", "max.session.timeout.ms")):
            if self[prefix + value] < self[prefix + low]:
                raise ConfigError(f"{prefix}{value} must be greater than or equal to {prefix}{low}")
            if self[prefix + value] > self[prefix + high]:
                raise ConfigError(f"{prefix}{value} must be less than or equal to {prefix}{high}")
        if self[prefix + "heartbeat.interval.ms"] >= self[prefix + "session.timeout.ms"]:
            raise ConfigError(f"{prefix}heartbeat.interval.ms must be less than {prefix}session.timeout.ms")

    def log_dir(self, data_dir: str | None) -> str:
        """The broker's one log directory: `--data-dir`, else Kafka's `log.dirs`. Several
        directories (JBOD) are refused, as is a `log.dirs` that names another than --data-dir."""
        configured = self.explicit.get("log.dirs")
        if configured is None:
            return data_dir or self["log.dirs"]
        dirs = [d.strip() for d in configured.split(",") if d.strip()]
        if len(dirs) != 1:
            raise ConfigError(f"log.dirs names {len(dirs)} directories; schemabus keeps its logs in one "
                              "directory (several log directories, JBOD, are not supported)")
        if data_dir is not None and os.path.realpath(data_dir) != os.path.realpath(dirs[0]):
            raise ConfigError(f"--data-dir {data_dir} and log.dirs={dirs[0]} name different directories: give one")
        return dirs[0]

    def listener_override(self, listener: str, name: str, default):
        """`listener.name.<listener>.<name>` when it was set, else `default`."""
        return self.per_listener.get((listener.upper(), name), default)

    def mechanism_config(self, listener: str, mechanism: str, name: str = "sasl.jaas.config") -> str | None:
        """`listener.name.<listener>.<mechanism>.<name>` (mechanism in any case), or None."""
        return self.per_listener.get((listener.upper(), f"{mechanism.upper()}.{name}"))

    def __getitem__(self, name: str):
        for layer in (self.dynamic, self.dynamic_default, self.explicit):
            if name in layer:
                return layer[name]
        return BROKER_CONFIGS[name].default

    def layers(self, name: str) -> list[tuple[int, object]]:
        """(source, value) of every layer that sets `name`, the one in effect first."""
        found = [(source, layer[name]) for source, layer in (
            (SOURCE_DYNAMIC_BROKER, self.dynamic), (SOURCE_DYNAMIC_DEFAULT_BROKER, self.dynamic_default),
            (SOURCE_STATIC_BROKER, self.explicit)) if name in layer]
        return found + [(SOURCE_DEFAULT, BROKER_CONFIGS[name].default)]

    def source(self, name: str) -> int:
        return self.layers(name)[0][0]

    def topic_value(self, topic_configs: dict[str, str], name: str) -> tuple[object, int]:
        """Effective value of a topic config and its DescribeConfigs source."""
        definition = TOPIC_CONFIGS[name]
        if name in topic_configs:
            return definition.parse(topic_configs[name]), SOURCE_TOPIC
        synonym = TOPIC_SYNONYM.get(name)
        if synonym is not None:
            return self[synonym], self.source(synonym)
        return definition.default, SOURCE_DEFAULT

    def log_config(self, topic_configs: dict[str, str]) -> LogConfig:
        def value(name):
            return self.topic_value(topic_configs, name)[0]

        return LogConfig(
            segment_bytes=value("segment.bytes"),
            segment_ms=value("segment.ms"),
            retention_ms=value("retention.ms"),
            retention_bytes=value("retention.bytes"),
            cleanup_policy=frozenset(value("cleanup.policy")),
            delete_retention_ms=value("delete.retention.ms"),
            min_cleanable_dirty_ratio=value("min.cleanable.dirty.ratio"),
            min_compaction_lag_ms=value("min.compaction.lag.ms"),
            index_interval_bytes=value("index.interval.bytes"),
            segment_index_bytes=value("segment.index.bytes"),
            flush_messages=value("flush.messages"),
            flush_ms=value("flush.ms"),
            file_delete_delay_ms=value("file.delete.delay.ms"),
        )


def parse_key_values(pairs: list[str] | None) -> dict[str, str]:
    """`["a=1", "b=2"]` -> `{"a": "1", "b": "2"}` (for --config flags)."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"expected key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out

