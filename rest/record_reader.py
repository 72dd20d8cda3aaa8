"""Our v3 consume extension (kafka-rest never shipped a v3 consume API): a topic's records streamed
as newline-delimited JSON, keys and values decoded through the registry when they are in
Confluent's wire format, with explicit offset commits.

The reader assigns partitions rather than joining the group: a read never rebalances anything,
several readers can share a group (each naming its partitions), and committing a group's offsets
(`POST .../consumer-groups/{g}/offsets`) works whenever no Kafka consumer is active in the group.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from serdes.serialization import SerializationContext

from rest import jsontext
from rest.embedded import SchemaDecoders
from rest.errors import RestError, bad_request
from rest.timestamps import IsoMillis, iso_to_ms

TYPES = ("AUTO", "BINARY", "JSON", "STRING", "AVRO", "JSONSCHEMA", "PROTOBUF")
V3_TYPE_OF = {"AVRO": "AVRO", "JSON": "JSONSCHEMA", "PROTOBUF": "PROTOBUF"}
BATCH = 500
INT32_MAX = 2**31 - 1
LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")  # Kafka's rule for topic names
INT64_MAX = 2**63 - 1
TIMESTAMP_TYPES = {1: "CREATE_TIME", 2: "LOG_APPEND_TIME"}


@dataclass
class ReadRequest:
    """What to read: which partitions, from where, how much, decoded how."""

    partitions: list[int]
    start: str = "earliest"         # earliest | latest | an offset | committed (with group_id)
    offset: int | None = None
    timestamp_ms: int | None = None
    group_id: str | None = None
    max_records: int | None = None
    timeout_ms: int = 1000          # end after this long without a record; -1: never (a live tail)
    until_end: bool = False         # end at the log end offsets of the moment the read started
    key_type: str = "AUTO"
    value_type: str = "AUTO"


def _int(args, name: str, default=None, minimum: int | None = None, maximum: int = INT64_MAX):
    text = args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"{name}={text} is not an integer") from None
    if minimum is not None and value < minimum or value > maximum:
        raise bad_request(f"{name} must be between {minimum} and {maximum}")
    return value


def read_request(args, partitions: set[int]) -> ReadRequest:
    """The query string of a read: partition_id, from (earliest|latest), offset, timestamp (ISO-8601 or
    epoch ms), group_id, max_records, timeout_ms, until (end), key_type, value_type."""
    partition = _int(args, "partition_id", minimum=0, maximum=INT32_MAX)
    if partition is not None and partition not in partitions:
        raise RestError(40402, "Partition not found.")
    start = args.get("from", "earliest")
    if start not in ("earliest", "latest"):
        raise bad_request(f"from={start} is invalid: earliest or latest")
    offset = _int(args, "offset", minimum=0)
    if offset is not None and partition is None:
        raise bad_request("offset needs a partition_id")
    request = ReadRequest(partitions=[partition] if partition is not None else sorted(partitions), start=start,
                          offset=offset, timestamp_ms=_timestamp(args.get("timestamp")),
                          group_id=args.get("group_id") or None,
                          max_records=_int(args, "max_records", minimum=1),
                          timeout_ms=_int(args, "timeout_ms", 1000, minimum=-1, maximum=INT32_MAX),
                          until_end=args.get("until") == "end")
    if args.get("until") not in (None, "end"):
        raise bad_request(f"until={args.get('until')} is invalid: end")
    for field in ("key_type", "value_type"):
        kind = args.get(field, "AUTO").upper()
        if kind not in TYPES:
            raise bad_request(f"{field}={kind} is invalid: one of {', '.join(TYPES)}")
        setattr(request, field, kind)
    return request


def _timestamp(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        if int(text) > INT64_MAX:
            raise bad_request(f"timestamp={text} is out of range")
        return int(text)
    try:
        return iso_to_ms(text)
    except ValueError:
        raise bad_request(f"timestamp={text} is neither epoch milliseconds nor ISO-8601") from None


class RecordReader:
    """One read: a consumer assigned to the partitions at their start positions, giving NDJSON lines."""

    def __init__(self, client_config: dict, cluster_id: str, topic: str, request: ReadRequest,
                 decoders: SchemaDecoders, timeout_s: float = 10.0):
        self.cluster_id = cluster_id
        self.topic = topic
        self.request = request
        self.decoders = decoders
        self._iso = IsoMillis()
        self.consumer = Consumer({**client_config, "group.id": request.group_id or "schemabus-rest-reader",
                                  "enable.auto.commit": False, "enable.partition.eof": False})
        try:
            self.ends = self._positions(timeout_s)
        except BaseException:
            self.consumer.close()
            raise

    def _positions(self, timeout_s: float) -> dict[int, int]:
        """Assigns the start positions; returns each partition's end offset now (for until=end)."""
        r = self.request
        tps = [TopicPartition(self.topic, p) for p in r.partitions]
        try:
            if r.offset is not None:
                starts = [TopicPartition(self.topic, p, r.offset) for p in r.partitions]
            elif r.timestamp_ms is not None:
                starts = self.consumer.offsets_for_times(
                    [TopicPartition(self.topic, p, r.timestamp_ms) for p in r.partitions], timeout_s)
            else:
                default = OFFSET_BEGINNING if r.start == "earliest" else OFFSET_END
                committed = self.consumer.committed(tps, timeout_s) if r.group_id else tps
                starts = [TopicPartition(self.topic, tp.partition, tp.offset if r.group_id and tp.offset >= 0
                                         else default) for tp in committed]
            ends = {p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout_s)[1]
                    for p in r.partitions}
        except KafkaException as exc:
            raise RestError(50002, exc.args[0].str()) from None
        # A timestamp past the last record gives -1: nothing there yet, so start at the end.
        self.consumer.assign([TopicPartition(self.topic, tp.partition, tp.offset if tp.offset != -1 else OFFSET_END)
                              for tp in starts])
        return ends

    def lines(self):
        """NDJSON, a batch of records per chunk, until max_records, the log end (until=end), or
        timeout_ms without a record; the consumer closes when the client goes away."""
        r = self.request
        left = r.max_records
        positions = {}
        idle_since = time.monotonic()
        try:
            while left is None or left > 0:
                if r.until_end and all(positions.get(p, -1) + 1 >= end for p, end in self.ends.items()):
                    return
                messages = self.consumer.consume(min(BATCH, left or BATCH), 0.1)
                if not messages:
                    if r.timeout_ms >= 0 and not r.until_end and \
                            (time.monotonic() - idle_since) * 1000 >= r.timeout_ms:
                        return
                    continue
                idle_since = time.monotonic()
                out = []
                for message in messages:
                    if message.error() is not None:
                        out.append(jsontext.dumps({"error_code": 500, "message": message.error().str()}))
                        continue
                    positions[message.partition()] = message.offset()
                    out.append(jsontext.dumps(self._record(message)))
                if left is not None:
                    left -= len(out)
                yield b"\n".join(out) + b"\n"
        finally:
            self.consumer.close()

    def _record(self, message) -> dict:
        partition, offset = message.partition(), message.offset()
        kind, ms = message.timestamp()
        record = {"cluster_id": self.cluster_id, "topic_name": self.topic, "partition_id": partition,
                  "offset": offset, "timestamp": self._iso(ms), "timestamp_type": TIMESTAMP_TYPES.get(kind, "NONE"),
                  "headers": [{"name": name, "value": None if value is None else base64.b64encode(value).decode()}
                              for name, value in message.headers() or ()]}
        for field, kind_wanted, data in (("key", self.request.key_type, message.key()),
                                         ("value", self.request.value_type, message.value())):
            ctx = SerializationContext(self.topic, field, partition=partition, offset=offset)
            record[field] = None if data is None else self._data(kind_wanted, data, ctx)
        return record

    def _data(self, kind: str, data: bytes, ctx: SerializationContext) -> dict:
        """`{"type", "data"}` of a key or value; a schema'd one also says its schema id. When it
        cannot be read as asked, it comes as BINARY with the reason in `error`."""
        framed = len(data) >= 5 and data[0] == 0
        try:
            if kind in ("AVRO", "JSONSCHEMA", "PROTOBUF") or kind == "AUTO" and framed:
                schema_id, schema_type, value = self.decoders.decode_framed(data, ctx)
                if kind != "AUTO" and V3_TYPE_OF[schema_type] != kind:
                    raise RestError(400, f"schema {schema_id} is {V3_TYPE_OF[schema_type]}, not {kind}")
                return {"type": V3_TYPE_OF[schema_type], "schema_id": schema_id, "data": value}
            if kind == "JSON":
                return {"type": "JSON", "data": jsontext.loads(data)}
            if kind == "STRING":
                return {"type": "STRING", "data": data.decode()}
        except (RestError, ValueError) as exc:
            return {"type": "BINARY", "data": base64.b64encode(data).decode(),
                    "error": exc.message if isinstance(exc, RestError) else str(exc)}
        return {"type": "BINARY", "data": base64.b64encode(data).decode()}


def offsets_to_commit(body) -> list[TopicPartition]:
    """`{"offsets": [{"topic_name", "partition_id", "offset"}]}`; offset is the next to read (Kafka's)."""
    items = body.get("offsets") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise RestError(42206, 'Payload error. offsets must be a non-empty list of {"topic_name", '
                               '"partition_id", "offset"}.')
    out = []
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("topic_name"), str)
                and LEGAL_TOPIC.fullmatch(item["topic_name"])
                and all(isinstance(item.get(k), int) and not isinstance(item.get(k), bool) and 0 <= item[k] <= top
                        for k, top in (("partition_id", INT32_MAX), ("offset", INT64_MAX)))):
            raise bad_request('each offset must be {"topic_name": a topic name, "partition_id": int32 >= 0, '
                              '"offset": int64 >= 0}')
        out.append(TopicPartition(item["topic_name"], item["partition_id"], item["offset"]))
    return out
