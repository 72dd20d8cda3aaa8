"""Reading a topic's records for the browse page and the live tail, and producing one from a form.

Reading never joins a group and never commits: the consumer is assign()ed its partitions at
explicit offsets, with auto commit off and no commit call, so browsing is invisible to every
consumer group (librdkafka wants a group.id even so; it is only a name here). Each read is a
short-lived consumer: nothing is left running when a page goes away.

Keys and values in Confluent's wire format are decoded as the serdes' deserializers decode them:
the same WriterSchemaCache (schema id -> the writer schema's reader) and the format's reader, then
the format's JSON form of that value (Avro's JSON encoding, Protobuf's JSON mapping, the JSON
document). Anything else is shown as text when it is UTF-8, else as hex.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from formats import InvalidSchemaError, RecordMismatch
from formats.wire import HEADER_SIZE, MAGIC_BYTE, header
from registry_client import SchemaRegistryClient, SchemaRegistryError, parse_schema
from serdes.base import WriterSchemaCache
from serdes.serialization import MessageField, SerializationContext, SerializationError, topic_subject_name_strategy

from console.backends import SERVICE_TIMEOUT_S, Backends
from rest.timestamps import IsoMillis

BROWSER_GROUP = "schemabus-console-browser"  # never joined: consumers here are assigned, not subscribed
MAX_RECORDS = 500
READ_TIMEOUT_S = 10.0   # a browse gives up waiting for the partitions' ends after this long
TAIL_WAIT_S = 1.0       # a tail poll waits this long for new records
TIMESTAMP_TYPES = {1: "CreateTime", 2: "LogAppendTime"}


@dataclass
class Shown:
    """A key, value or header value as the page shows it: `kind` is AVRO / PROTOBUF / JSON (decoded
    through the registry, with `schema_id` and `subjects`), text, hex, or null."""

    kind: str
    text: str = ""
    schema_id: int | None = None
    subjects: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Record:
    partition: int
    offset: int
    timestamp: int
    timestamp_text: str
    timestamp_type: str
    key: Shown
    value: Shown
    headers: list[tuple[str, Shown]]


COMPACT_UP_TO = 100  # characters: shorter values stay on one line, longer ones are indented


def json_text(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= COMPACT_UP_TO else json.dumps(value, ensure_ascii=False, indent=2)


def raw(data: bytes | None) -> Shown:
    if data is None:
        return Shown("null")
    try:
        return Shown("text", data.decode("utf-8"))
    except UnicodeDecodeError:
        return Shown("hex", data.hex(" "))


class RecordDecoder:
    """Wire-format payloads -> their JSON form, through the writer schema each names (parsed once per
    id, as the serdes' deserializers do); the subjects and versions of each id, cached."""

    def __init__(self, registry: SchemaRegistryClient | None):
        self.registry = registry
        self._readers = None if registry is None else WriterSchemaCache(
            registry, lambda parsed: (parsed.reader(), parsed.to_json, parsed.schema_type))
        self._subjects: dict[int, list[str]] = {}
        self._lock = threading.Lock()

    def show(self, data: bytes | None, ctx: SerializationContext) -> Shown:
        if data is None or self._readers is None or len(data) < HEADER_SIZE or data[0] != MAGIC_BYTE:
            return raw(data)
        schema_id = int.from_bytes(data[1:HEADER_SIZE], "big")
        try:
            schema_id, (read, to_json, schema_type) = self._readers.writer_of(data, ctx)
            value = to_json(read(data, HEADER_SIZE))
        except (SerializationError, RecordMismatch) as exc:
            # Not decodable as framed (an unknown id, or bytes that merely start with 0): the raw bytes.
            shown = raw(data)
            shown.error = f"not decoded with schema id {schema_id}: {exc}"
            return shown
        return Shown(schema_type, json_text(value), schema_id, self.subjects(schema_id))

    def subjects(self, schema_id: int) -> list[str]:
        """`subject vN` for each version registered with this id."""
        with self._lock:
            found = self._subjects.get(schema_id)
        if found is None:
            try:
                found = [f"{v['subject']} v{v['version']}" for v in self.registry.get_versions_by_schema_id(schema_id)]
            except SchemaRegistryError:
                return []
            with self._lock:
                self._subjects[schema_id] = found
        return found


def record_of(message, decoder: RecordDecoder, iso: IsoMillis) -> Record:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    kind, ms = message.timestamp()
    ctx = SerializationContext(topic, MessageField.KEY, message.headers(), partition, offset)
    key = decoder.show(message.key(), ctx)
    ctx.field = MessageField.VALUE
    value = decoder.show(message.value(), ctx)
    headers = [(name, raw(data)) for name, data in message.headers() or ()]
    return Record(partition, offset, ms, iso(ms) if ms >= 0 else "", TIMESTAMP_TYPES.get(kind, "none"),
                  key, value, headers)


# -- reading ------------------------------------------------------------------------------------


class ReadError(Exception):
    pass


def _consumer(backends: Backends) -> Consumer:
    return Consumer({**backends.client_config(), "group.id": BROWSER_GROUP, "enable.auto.commit": False,
                     "enable.auto.offset.store": False, "enable.partition.eof": True,
                     "allow.auto.create.topics": False})


def _kafka_message(exc: KafkaException) -> str:
    err = exc.args[0]
    return err.str() if isinstance(err, KafkaError) else str(err)


def start_offsets(consumer: Consumer, topic: str, partitions: list[int], start: str, offset: int | None,
                  timestamp_ms: int | None, limit: int) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
    """(partition -> the offset to read from, partition -> (low, high) watermarks) for a browse
    starting at: earliest, the last `limit` records (latest), an offset, or a timestamp."""
    bounds = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), SERVICE_TIMEOUT_S) for p in partitions}
    if start == "offset":
        starts = {p: min(max(offset, bounds[p][0]), bounds[p][1]) for p in partitions}
    elif start == "timestamp":
        found = consumer.offsets_for_times([TopicPartition(topic, p, timestamp_ms) for p in partitions],
                                           SERVICE_TIMEOUT_S)
        # No record at or after the time: -1, so start at the end (nothing to show there).
        starts = {tp.partition: tp.offset if tp.offset >= 0 else bounds[tp.partition][1] for tp in found}
    elif start == "latest":
        per_partition = max(1, -(-limit // len(partitions)))  # the newest, spread over the partitions
        starts = {p: max(bounds[p][1] - per_partition, bounds[p][0]) for p in partitions}
    else:
        starts = {p: bounds[p][0] for p in partitions}
    return starts, bounds


def browse(backends: Backends, decoder: RecordDecoder, topic: str, partitions: list[int], start: str,
           offset: int | None = None, timestamp_ms: int | None = None, limit: int = 50) -> list[Record]:
    """Up to `limit` records from the start positions to the partitions' ends as they were when the
    read began, sorted by partition and offset."""
    consumer = _consumer(backends)
    try:
        starts, bounds = start_offsets(consumer, topic, partitions, start, offset, timestamp_ms, limit)
        pending = {p for p in partitions if starts[p] < bounds[p][1]}
        if not pending:
            return []
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in pending])
        return _read(consumer, decoder, pending, {p: bounds[p][1] for p in pending}, limit, READ_TIMEOUT_S)
    except KafkaException as exc:
        raise ReadError(_kafka_message(exc)) from None
    finally:
        consumer.close()


def tail(backends: Backends, decoder: RecordDecoder, topic: str, positions: dict[int, int],
         limit: int = 100) -> tuple[list[Record], dict[int, int]]:
    """The records after `positions` (partition -> next offset), waiting briefly for new ones; the
    positions after them."""
    consumer = _consumer(backends)
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in positions.items()])
        records = _read(consumer, decoder, set(positions), None, limit, TAIL_WAIT_S)
    except KafkaException as exc:
        raise ReadError(_kafka_message(exc)) from None
    finally:
        consumer.close()
    moved = dict(positions)
    for r in records:
        moved[r.partition] = max(moved[r.partition], r.offset + 1)
    return records, moved


def end_positions(backends: Backends, topic: str, partitions: list[int]) -> dict[int, int]:
    """Each partition's log end offset now: where a live tail starts."""
    consumer = _consumer(backends)
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), SERVICE_TIMEOUT_S)[1] for p in partitions}
    except KafkaException as exc:
        raise ReadError(_kafka_message(exc)) from None
    finally:
        consumer.close()


def _read(consumer: Consumer, decoder: RecordDecoder, pending: set[int], ends: dict[int, int] | None,
          limit: int, wait_s: float) -> list[Record]:
    """Consumes until `limit` records, every pending partition at its end (`ends`, or the end-of-
    partition event: it also passes over transaction markers, which are not records), or `wait_s`."""
    iso = IsoMillis()
    records: list[Record] = []
    pending = set(pending)
    deadline = time.monotonic() + wait_s
    while pending and len(records) < limit and time.monotonic() < deadline:
        for message in consumer.consume(min(limit - len(records), 500), 0.2):
            err = message.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                raise KafkaException(err)
            records.append(record_of(message, decoder, iso))
            if ends is not None and message.offset() + 1 >= ends.get(message.partition(), 0):
                pending.discard(message.partition())
    records.sort(key=lambda r: (r.partition, r.offset))
    return records[:limit]


# -- producing ----------------------------------------------------------------------------------


class ProduceError(Exception):
    """`field`: the form field the problem is about (value, partition, ...), or None for Kafka's."""

    def __init__(self, field_name: str | None, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass
class ValueSchema:
    subject: str
    version: int
    schema_id: int
    schema_type: str
    schema_str: str


def value_schema(registry: SchemaRegistryClient | None, topic: str) -> ValueSchema | None:
    """The latest schema of the topic's value subject (TopicNameStrategy), None when it has none."""
    if registry is None:
        return None
    subject = topic_subject_name_strategy(SerializationContext(topic, MessageField.VALUE), None)
    try:
        latest = registry.get_latest_version(subject)
    except SchemaRegistryError as exc:
        if exc.http_status == 404:
            return None
        raise
    return ValueSchema(subject, latest.version, latest.schema_id, latest.schema.schema_type, latest.schema.schema_str)


def encode_value(registry: SchemaRegistryClient, schema: ValueSchema, text: str) -> bytes:
    """The JSON typed into the form as the serializers write it for that schema: the format's value
    (Avro's JSON encoding, Protobuf's JSON mapping, the document), checked and written by the
    format's writer after the schema id header. ProduceError('value', why) when it does not fit."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProduceError("value", f"not JSON: {exc}") from None
    try:
        parsed = parse_schema(registry, registry.get_schema(schema.schema_id))
        return parsed.writer()(parsed.from_json(document), header(schema.schema_id))
    except RecordMismatch as exc:
        raise ProduceError("value", f"does not match {schema.subject} v{schema.version} "
                                    f"(schema id {schema.schema_id}): {exc}") from None
    except (InvalidSchemaError, SchemaRegistryError) as exc:
        raise ProduceError(None, f"the schema of {schema.subject} cannot be used: {exc}") from None


def produce(backends: Backends, topic: str, key: bytes | None, value: bytes | None,
            headers: list[tuple[str, bytes]], partition: int | None) -> tuple[int, int]:
    """One record, waited for; (partition, offset) where it was written."""
    outcome: dict = {}

    def delivered(err, message):
        outcome["error"] = err
        outcome["message"] = message
    # murmur2_random: keyed records land where the serdes' producer and Java's put them.
    producer = Producer({**backends.client_config(), "partitioner": "murmur2_random", "enable.idempotence": True,
                         "message.timeout.ms": int(SERVICE_TIMEOUT_S * 1000)})
    try:
        producer.produce(topic, value, key, partition=-1 if partition is None else partition,
                         headers=headers or None, on_delivery=delivered)
    except (KafkaException, BufferError) as exc:
        raise ProduceError(None, _kafka_message(exc) if isinstance(exc, KafkaException) else str(exc)) from None
    producer.flush(SERVICE_TIMEOUT_S + 1)
    if "error" not in outcome:
        raise ProduceError(None, f"Kafka did not acknowledge the record within {SERVICE_TIMEOUT_S:g} s")
    if outcome["error"] is not None:
        raise ProduceError("partition" if outcome["error"].code() == KafkaError._UNKNOWN_PARTITION else None,
                           outcome["error"].str())
    return outcome["message"].partition(), outcome["message"].offset()

