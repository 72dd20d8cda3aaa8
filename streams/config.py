"""StreamsConfig: Kafka Streams' configuration names, defaults and checks, and the client configs
derived from them (Kafka's `consumer.` / `producer.` / `admin.` / `main.consumer.` /
`restore.consumer.` prefixes; Java client names translated to librdkafka's)."""

from __future__ import annotations

import os
import tempfile

from kafka_properties import librdkafka_config
from streams.query_metadata import HostInfo, consumer_client_id
from streams.serdes import Serde, serde_from_config

AT_LEAST_ONCE = "at_least_once"
EXACTLY_ONCE_V2 = "exactly_once_v2"

# Kafka Streams' defaults (StreamsConfig), for the names this library reads.
DEFAULTS = {
    "processing.guarantee": AT_LEAST_ONCE,
    "num.stream.threads": 1,
    "commit.interval.ms": None,  # 30000, or 100 under exactly_once_v2
    "state.dir": os.path.join(tempfile.gettempdir(), "kafka-streams"),
    "num.standby.replicas": 0,
    "replication.factor": -1,  # the broker's default.replication.factor
    "statestore.cache.max.bytes": 10 * 1024 * 1024,
    "cache.max.bytes.buffering": None,  # the deprecated name of statestore.cache.max.bytes
    "default.key.serde": None,
    "default.value.serde": None,
    "default.timestamp.extractor": "FailOnInvalidTimestamp",
    "default.deserialization.exception.handler": "LogAndFailExceptionHandler",
    "default.production.exception.handler": "DefaultProductionExceptionHandler",
    "poll.ms": 100,
    "application.server": "",
    "state.cleanup.delay.ms": 600000,
    "repartition.purge.interval.ms": 30000,
    "client.id": "",
}

_INTS = {"num.stream.threads", "commit.interval.ms", "num.standby.replicas", "replication.factor",
         "statestore.cache.max.bytes", "cache.max.bytes.buffering", "poll.ms", "state.cleanup.delay.ms",
         "repartition.purge.interval.ms"}
_GUARANTEES = {AT_LEAST_ONCE, EXACTLY_ONCE_V2, "exactly_once", "exactly_once_beta"}
_CLIENT_PREFIXES = ("consumer.", "producer.", "admin.", "main.consumer.", "restore.consumer.",
                    "global.consumer.")
# Settings Kafka Streams owns in its clients: a user's value would break its guarantees.
_FIXED_CONSUMER = {"enable.auto.commit", "group.id", "isolation.level", "partition.assignment.strategy"}
_FIXED_PRODUCER = {"transactional.id", "enable.idempotence"}


class StreamsConfigError(ValueError):
    pass


class StreamsConfig:
    """Kafka Streams properties by their names; unknown names pass through to every client, as
    Kafka Streams passes client settings given without a prefix."""

    def __init__(self, props: dict):
        props = {str(k): v for k, v in props.items()}
        for required in ("application.id", "bootstrap.servers"):
            if not props.get(required):
                raise StreamsConfigError(f"Missing required configuration \"{required}\" which has no default value.")
        self.props = props
        self.values = dict(DEFAULTS)
        for key in DEFAULTS:
            if key in props:
                self.values[key] = _parse(key, props[key])
        guarantee = str(self.values["processing.guarantee"])
        if guarantee not in _GUARANTEES:
            raise StreamsConfigError(f"Invalid value {guarantee} for configuration processing.guarantee: String "
                                     f"must be one of: {AT_LEAST_ONCE}, {EXACTLY_ONCE_V2}")
        if guarantee != AT_LEAST_ONCE:
            guarantee = EXACTLY_ONCE_V2  # the older names run the same protocol here (KIP-732)
        self.values["processing.guarantee"] = guarantee
        if self.values["commit.interval.ms"] is None:
            self.values["commit.interval.ms"] = 100 if guarantee == EXACTLY_ONCE_V2 else 30000
        if self.values["cache.max.bytes.buffering"] is not None and "statestore.cache.max.bytes" not in props:
            self.values["statestore.cache.max.bytes"] = self.values["cache.max.bytes.buffering"]
        if self.values["num.stream.threads"] < 1:
            raise StreamsConfigError("num.stream.threads must be at least 1")
        if self.values["application.server"]:
            try:
                HostInfo.parse(str(self.values["application.server"]))
            except ValueError as exc:
                raise StreamsConfigError(f"Invalid value {self.values['application.server']} for configuration "
                                         f"application.server: {exc}") from None

    def __getitem__(self, key: str):
        return self.values[key] if key in self.values else self.props[key]

    @property
    def application_id(self) -> str:
        return str(self.props["application.id"])

    @property
    def default_key_serde(self) -> Serde | None:
        return serde_from_config(self.values["default.key.serde"])

    @property
    def default_value_serde(self) -> Serde | None:
        return serde_from_config(self.values["default.value.serde"])

    @property
    def exactly_once(self) -> bool:
        return self.values["processing.guarantee"] == EXACTLY_ONCE_V2

    def _common(self) -> dict:
        own = set(DEFAULTS) | {"application.id"}
        return {k: str(v) for k, v in self.props.items()
                if k not in own and not k.startswith(_CLIENT_PREFIXES) and not k.startswith("default.")}

    def _prefixed(self, *prefixes: str) -> dict:
        out = {}
        for prefix in prefixes:
            out.update({k[len(prefix):]: str(v) for k, v in self.props.items() if k.startswith(prefix)})
        return out

    def consumer_config(self, client_id: str) -> dict:
        """The main consumer of a stream thread: in the application's group, offsets committed
        by the thread, read_committed under exactly_once_v2, range assignment (co-partitioned
        inputs of one task land on the same instance)."""
        user = {**self._common(), **self._prefixed("consumer.", "main.consumer.")}
        config = {k: v for k, v in user.items() if k not in _FIXED_CONSUMER}
        config.setdefault("auto.offset.reset", "earliest")
        config.setdefault("max.poll.interval.ms", "300000")
        config.update({"group.id": self.application_id, "enable.auto.commit": "false",
                       "enable.auto.offset.store": "false", "partition.assignment.strategy": "range",
                       "isolation.level": "read_committed" if self.exactly_once else "read_uncommitted",
                       # the instance's endpoint travels with its membership (streams/query_metadata.py)
                       "client.id": consumer_client_id(f"{client_id}-consumer",
                                                       str(self.values["application.server"]))})
        return librdkafka_config(config)

    def restore_consumer_config(self, client_id: str) -> dict:
        user = {**self._common(), **self._prefixed("consumer.", "restore.consumer.")}
        config = {k: v for k, v in user.items() if k not in _FIXED_CONSUMER}
        config.update({"group.id": f"{self.application_id}-restore-unused", "enable.auto.commit": "false",
                       "enable.partition.eof": "true", "auto.offset.reset": "earliest",
                       "isolation.level": "read_committed" if self.exactly_once else "read_uncommitted",
                       "client.id": f"{client_id}-restore-consumer"})
        return librdkafka_config(config)

    def producer_config(self, client_id: str, transactional_id: str | None) -> dict:
        user = {**self._common(), **self._prefixed("producer.")}
        config = {k: v for k, v in user.items() if k not in _FIXED_PRODUCER}
        config.setdefault("linger.ms", "100")  # Kafka Streams' default for its producers
        config["client.id"] = f"{client_id}-producer"
        if transactional_id is not None:
            config["transactional.id"] = transactional_id
            config["enable.idempotence"] = "true"
            config.setdefault("transaction.timeout.ms", "10000")
        return librdkafka_config(config)

    def admin_config(self, client_id: str = "") -> dict:
        config = {**self._common(), **self._prefixed("admin.")}
        config["client.id"] = f"{client_id or self.application_id}-admin"
        return librdkafka_config(config)


def _parse(key: str, value):
    if key in _INTS and value is not None:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise StreamsConfigError(f"Invalid value {value} for configuration {key}: Not a number of type INT")
    return value
