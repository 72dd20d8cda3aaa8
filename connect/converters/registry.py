"""What Confluent's three registry converters (AvroConverter, ProtobufConverter, JsonSchemaConverter)
share: their registry settings, the wire format, subjects, registration and the errors.

The registry side is the serdes' (serdes/base.py): SchemaIdResolver finds the schema id to write
(`auto.register.schemas`, `use.latest.version`, subject name strategies, one registry call per
subject), WriterSchemaCache the schema of an id read back (one fetch and one parse per id). Each
format module supplies the Connect <-> format mapping (Confluent's AvroData, ProtobufData,
JsonSchemaData) through the hooks of RegistryConverter.

Worker configs arrive with `key.converter.` / `value.converter.` already stripped, so the keys are
Confluent's own: `schema.registry.url`, `basic.auth.credentials.source`, `basic.auth.user.info` (or
`schema.registry.basic.auth.user.info`), `auto.register.schemas`, `use.latest.version`,
`key.subject.name.strategy` / `value.subject.name.strategy`, plus each format's data settings.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from connect import data
from connect.api import Converter
from connect.config_def import ConfigDef, ConfigType, Importance, NO_DEFAULT, Range, ValidString
from connect.data import Schema, SchemaAndValue
from connect.errors import ConfigException, DataException
from formats import ParsedSchema
from formats import Schema as FormatSchema
from registry_client import SchemaRegistryClient, SchemaRegistryError
from serdes.base import SchemaIdResolver, WriterSchemaCache, parse_serializer_conf
from serdes.serialization import MessageField, SerializationContext, SerializationError, subject_name_strategy

log = logging.getLogger("connect.converters.registry")

TOPIC_NAME_STRATEGY = "io.confluent.kafka.serializers.subject.TopicNameStrategy"
CREDENTIALS_SOURCES = ("URL", "USER_INFO", "SASL_INHERIT")
# Our registry client's TLS settings (PEM files), under the prefix Confluent uses for the
# registry client's own settings.
_TLS_KEYS = ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password")


def registry_config_def() -> ConfigDef:
    """The settings every registry converter takes (AbstractKafkaSchemaSerDeConfig's names)."""
    return (ConfigDef()
            .define("schema.registry.url", ConfigType.LIST, NO_DEFAULT, None, Importance.HIGH,
                    "Comma-separated list of URLs for Schema Registry instances.")
            .define("auto.register.schemas", ConfigType.BOOLEAN, True, None, Importance.MEDIUM,
                    "Specify if the Serializer should attempt to register the Schema with Schema Registry")
            .define("use.latest.version", ConfigType.BOOLEAN, False, None, Importance.LOW,
                    "Use the latest version of the subject instead of the schema of the record.")
            .define("latest.compatibility.strict", ConfigType.BOOLEAN, True, None, Importance.LOW,
                    "Accepted for compatibility; the latest version is used as it is.")
            .define("normalize.schemas", ConfigType.BOOLEAN, False, None, Importance.LOW,
                    "Whether to normalize schemas, which generally ignores ordering when it is not significant.")
            .define("use.schema.id", ConfigType.INT, -1, None, Importance.LOW,
                    "Schema id to use for serialization.")
            .define("key.subject.name.strategy", ConfigType.STRING, TOPIC_NAME_STRATEGY, None, Importance.MEDIUM,
                    "How to construct the subject name for key schema registration.")
            .define("value.subject.name.strategy", ConfigType.STRING, TOPIC_NAME_STRATEGY, None,
                    Importance.MEDIUM, "How to construct the subject name for value schema registration.")
            .define("basic.auth.credentials.source", ConfigType.STRING, "URL",
                    ValidString.in_(*CREDENTIALS_SOURCES), Importance.MEDIUM,
                    "Specify how to pick the credentials for the Basic Auth header.")
            .define("basic.auth.user.info", ConfigType.PASSWORD, None, None, Importance.MEDIUM,
                    "Specify the user info for the Basic Auth in the form of {username}:{password}")
            .define("schema.registry.basic.auth.user.info", ConfigType.PASSWORD, None, None, Importance.MEDIUM,
                    "Specify the user info for the Basic Auth in the form of {username}:{password}")
            .define("bearer.auth.credentials.source", ConfigType.STRING, None, None, Importance.MEDIUM,
                    "Specify how to pick the credentials for the Bearer Auth header (STATIC_TOKEN).")
            .define("bearer.auth.token", ConfigType.PASSWORD, None, None, Importance.MEDIUM,
                    "The bearer token (STATIC_TOKEN).")
            .define("max.schemas.per.subject", ConfigType.INT, 1000, None, Importance.LOW,
                    "Maximum number of schemas to create or cache locally.")
            .define("schemas.cache.config", ConfigType.INT, 1000, Range.at_least(0), Importance.LOW,
                    "Size of the converted schemas cache"))


def _secret(value) -> str | None:
    return getattr(value, "value", value)


def client_conf(configs: dict, parsed: dict) -> dict:
    """Our registry client's settings from the converter's (Confluent's names)."""
    urls = parsed["schema.registry.url"]
    conf: dict[str, Any] = {"url": ",".join(u.strip() for u in urls)}
    user_info = _secret(parsed["basic.auth.user.info"]) or _secret(parsed["schema.registry.basic.auth.user.info"])
    source = parsed["basic.auth.credentials.source"]
    if source == "USER_INFO":
        conf["basic.auth.credentials.source"] = "USER_INFO"
        conf["basic.auth.user.info"] = user_info or ""
    elif source == "SASL_INHERIT":
        raise ConfigException("basic.auth.credentials.source", source,
                              "SASL_INHERIT needs the worker's SASL login, which converters here do not see")
    # URL (Confluent's default): credentials come from user:password@ in the URL, if any; our
    # client does that by itself.
    if parsed["bearer.auth.credentials.source"]:
        conf["bearer.auth.credentials.source"] = parsed["bearer.auth.credentials.source"]
        conf["bearer.auth.token"] = _secret(parsed["bearer.auth.token"]) or ""
    for key in _TLS_KEYS:
        if "schema.registry." + key in configs:
            conf[key] = str(configs["schema.registry." + key])
    return conf


class LruCache:
    """A small thread-safe LRU map (Confluent's converters bound their schema caches too)."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value):
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


@dataclass
class WriteTarget:
    """A Connect schema made ready to write: the format schema registered for it, the name a
    record name strategy uses, the serdes resolver of its schema id per subject, and
    `encode(value)` giving the value the format's writer takes."""
    schema: FormatSchema
    record_name: str | None
    resolver: SchemaIdResolver
    encode: Callable[[Any], Any]


@dataclass
class Reader:
    """Records written with one registered schema, as Connect data: `read(payload, version)`
    gives the SchemaAndValue; `record_name` is what a record name strategy names the subject by."""
    read: Callable[[bytes, int | None], SchemaAndValue]
    record_name: str | None


class RegistryConverter(Converter):
    """The converter; subclasses give the format hooks below."""

    schema_type = ""    # the registry's schemaType: AVRO, PROTOBUF, JSON
    format_name = ""    # in messages, as Confluent's: "Avro", "Protobuf", "JSON Schema"
    rejects_required_null = False
    abstract_plugin = True

    def __init__(self):
        self.is_key = False
        self.client: SchemaRegistryClient | None = None

    # -- hooks ---------------------------------------------------------------------------------

    def data_config_def(self) -> ConfigDef:
        """The format's data settings (AvroDataConfig, ProtobufDataConfig, JsonSchemaDataConfig)."""
        return ConfigDef()

    def configure_data(self, parsed: dict) -> None:
        """Set up the Connect <-> format mapping from the parsed settings."""

    def target_for(self, schema: Schema) -> tuple[FormatSchema, str | None, Callable[[Any], Any]]:
        """The format schema for a Connect schema, its record name and the value encoder."""
        raise NotImplementedError

    def prepare_writer(self, parsed: ParsedSchema) -> Callable:
        """What writes the encoded values with a registered schema: `write(value, header)`."""
        return parsed.writer()

    def prepare_reader(self, parsed: ParsedSchema) -> "Reader":
        """How records written with `parsed` become Connect data."""
        raise NotImplementedError

    # -- Converter -----------------------------------------------------------------------------

    def config(self) -> ConfigDef:
        return registry_config_def().merged(self.data_config_def())

    def configure(self, configs: dict, is_key: bool) -> None:
        definition = self.config()
        parsed = definition.parse({k: v for k, v in configs.items() if k in definition.keys})
        self.is_key = is_key
        if self.client is None:  # tests may hand one in
            try:
                self.client = SchemaRegistryClient(client_conf(configs, parsed))
            except ValueError as exc:
                raise ConfigException(str(exc)) from None
        strategy_key = "key.subject.name.strategy" if is_key else "value.subject.name.strategy"
        try:
            strategy = subject_name_strategy(parsed[strategy_key])
        except ValueError as exc:
            raise ConfigException(strategy_key, parsed[strategy_key], str(exc)) from None
        auto_register = parsed["auto.register.schemas"]
        # Confluent's serializer registers when auto.register.schemas is on, whatever
        # use.latest.version says; the serdes refuse the two together, so pass only what counts.
        self.serializer_conf = parse_serializer_conf({
            "auto.register.schemas": auto_register,
            "use.latest.version": parsed["use.latest.version"] and not auto_register,
            "normalize.schemas": parsed["normalize.schemas"],
            "use.schema.id": parsed["use.schema.id"] if parsed["use.schema.id"] >= 0 else None,
            "subject.name.strategy": strategy,
        })
        self.strategy = strategy
        cache_size = parsed["schemas.cache.config"]
        self._targets = LruCache(cache_size)
        self._readers = WriterSchemaCache(self.client, self.prepare_reader)
        self._versions = LruCache(cache_size)
        self.configure_data(parsed)

    def from_connect_data(self, topic: str, schema: Schema | None, value, headers=None) -> bytes | None:
        if schema is None and value is None:
            return None
        if schema is None:
            raise DataException(f"Failed to serialize {self.format_name} data from topic {topic}: "
                                "a value without a schema cannot be written with a registry schema")
        if value is None:
            # Confluent's AvroConverter refuses null for a required schema; its Protobuf and JSON
            # Schema converters write a tombstone (null) for any null value.
            if self.rejects_required_null and not schema.optional:
                raise DataException(f"Failed to serialize {self.format_name} data from topic {topic}: "
                                    "found null value for non-optional schema")
            return None
        target = self._target(schema)
        encoded = target.encode(value)
        ctx = SerializationContext(topic, MessageField.KEY if self.is_key else MessageField.VALUE, headers)
        try:
            wire_header, write = target.resolver.resolve(ctx, target.record_name)
            return write(encoded, wire_header)
        except SerializationError as exc:
            raise DataException(f"Failed to serialize {self.format_name} data from topic {topic}: {exc}") from exc
        except ValueError as exc:  # RecordMismatch: the value does not fit a use.latest.version schema
            raise DataException(f"Failed to serialize {self.format_name} data from topic {topic}: {exc}") from exc

    def to_connect_data(self, topic: str, payload: bytes | None, headers=None) -> SchemaAndValue:
        if payload is None:
            return data.NULL
        ctx = SerializationContext(topic, MessageField.KEY if self.is_key else MessageField.VALUE, headers)
        try:
            schema_id, reader = self._readers.writer_of(bytes(payload), ctx)
        except SerializationError as exc:
            raise DataException(f"Failed to deserialize data for topic {topic} to {self.format_name}: "
                                f"{exc}") from exc
        try:
            return reader.read(bytes(payload), self._version(ctx, schema_id, reader.record_name))
        except (ValueError, KeyError, TypeError, SerializationError) as exc:  # RecordMismatch and kin
            raise DataException(f"Failed to deserialize data for topic {topic} to {self.format_name}: "
                                f"schema id {schema_id}: {exc}") from exc

    # -- internals -----------------------------------------------------------------------------

    def _target(self, schema: Schema) -> WriteTarget:
        found = self._targets.get(schema)
        if found is None:
            format_schema, record_name, encode = self.target_for(schema)
            resolver = SchemaIdResolver(self.client, format_schema, self.serializer_conf, self.prepare_writer)
            found = self._targets.put(schema, WriteTarget(format_schema, record_name, resolver, encode))
        return found

    def _version(self, ctx: SerializationContext, schema_id: int, record_name: str | None) -> int | None:
        """The registry's version of the writer schema under the record's subject: the Connect
        schema's version when the schema itself carries none (as Confluent's deserializers
        report it). None when the schema is not registered under that subject: Confluent's
        converters fail the record then, we read it without a version."""
        try:
            subject = self.strategy(ctx, record_name)
            key = (subject, schema_id)
            version = self._versions.get(key)
            if version is None:
                try:
                    version = self.client.lookup_schema(subject, self.client.get_schema(schema_id)).version
                except SchemaRegistryError:
                    version = -1
                self._versions.put(key, version)
        except SerializationError:  # a record name strategy and a schema without a name
            return None
        return version if version > 0 else None
