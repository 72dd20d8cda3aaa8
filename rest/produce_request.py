"""kafka-rest v3's ProduceRequest: one record's `partition_id`, `headers`, `key`, `value` and
`timestamp` turned into a record for the producer, and its delivery turned into a ProduceResponse
(docs/design/rest-proxy.md, 3.4).

A key or value is `{"type", "data"}` with BINARY (base64), JSON or STRING, or a schema'd format
through the registry: by `schema_id`, by `subject` (or `subject_name_strategy`) and
`schema_version`, inline (`type` + `schema`), or, with no schema given, the subject's latest.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import lru_cache

from serdes.serialization import STRATEGIES_BY_NAME, SerializationContext, SerializationError

from rest import jsontext
from rest.embedded import Encoder, SchemaEncoders
from rest.errors import RestError, bad_request, partition_not_found
from rest.timestamps import IsoMillis, iso_to_ms

PLAIN_TYPES = ("BINARY", "JSON", "STRING")
# v3's names of the schema'd formats -> the registry's
SCHEMA_TYPES = {"AVRO": "AVRO", "JSONSCHEMA": "JSON", "PROTOBUF": "PROTOBUF"}
V3_TYPE_OF = {registry: v3 for v3, registry in SCHEMA_TYPES.items()}
STRATEGIES = {"TOPIC_NAME": "TopicNameStrategy", "RECORD_NAME": "RecordNameStrategy",
              "TOPIC_RECORD_NAME": "TopicRecordNameStrategy"}
SCHEMA_FIELDS = ("subject", "subject_name_strategy", "schema_id", "schema_version", "schema")


@dataclass(frozen=True)
class SubjectNaming:
    """The subject of a key or value schema: `subject` when given, else the strategy's name for
    (topic, field, the schema's record name). Hashable, so encoders can be cached by it."""

    topic: str
    field: str
    subject: str | None = None
    strategy: str = "TOPIC_NAME"

    def __call__(self, record_name: str | None) -> str:
        if self.subject is not None:
            return self.subject
        try:
            return STRATEGIES_BY_NAME[STRATEGIES[self.strategy]](
                SerializationContext(self.topic, self.field), record_name)
        except SerializationError as exc:
            raise bad_request(str(exc)) from None


@dataclass
class Prepared:
    """A record ready for the producer and the parts of its answer known before delivery."""

    record: dict
    key_info: str | None
    value_info: str | None


def base64_bytes(data) -> bytes:
    """kafka-rest's BINARY data: a base64 string, else its 400s."""
    if not isinstance(data, str):
        raise bad_request(f"data={json.dumps(data)} is not a base64 string.")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"data={json.dumps(data)} is not a valid base64 string.") from None


def _plain(kind: str, data) -> bytes:
    if kind == "BINARY":
        return base64_bytes(data)
    if kind == "STRING":
        if not isinstance(data, str):
            raise bad_request(f"data={json.dumps(data)} is not a string.")
        return data.encode()
    return jsontext.dumps(data)


class RecordPreparer:
    """Prepares the records of one topic (its partitions known) with the proxy's schema encoders."""

    def __init__(self, topic: str, partitions: set[int], schemas: SchemaEncoders):
        self.topic = topic
        self.partitions = partitions
        self.schemas = schemas

    def prepare(self, request) -> Prepared:
        if not isinstance(request, dict):
            raise bad_request("a produce request must be a JSON object")
        partition = request.get("partition_id")
        if partition is not None and (not isinstance(partition, int) or isinstance(partition, bool)):
            raise bad_request("partition_id must be an integer")
        if partition is not None and partition not in self.partitions:
            raise partition_not_found()
        key, key_info = self._data("key", request.get("key"))
        value, value_info = self._data("value", request.get("value"))
        record = {"topic": self.topic, "partition": partition, "key": key, "value": value,
                  "headers": _headers(request.get("headers")), "timestamp": _timestamp(request.get("timestamp"))}
        return Prepared(record, key_info, value_info)

    def _data(self, field: str, spec) -> tuple[bytes | None, str | None]:
        """(bytes, the answer's `{"type", ..., "size"}` without its closing size) of a key or value."""
        if spec is None:
            return None, None
        if not isinstance(spec, dict):
            raise bad_request(f"{field} must be an object with type and data")
        kind = spec.get("type")
        if kind is not None and (not isinstance(kind, str) or kind not in PLAIN_TYPES and kind not in SCHEMA_TYPES):
            raise bad_request(f"{field}.type must be one of {', '.join(PLAIN_TYPES + tuple(SCHEMA_TYPES))}")
        data = spec.get("data")
        if kind in PLAIN_TYPES:
            if any(spec.get(name) is not None for name in SCHEMA_FIELDS):
                raise bad_request(f"{field}: type {kind} takes no schema")
            encoded = None if data is None else _plain(kind, data)
            return encoded, f'{{"type":"{kind}","size":{len(encoded or b"")}}}'
        encoder = self._encoder(field, kind, spec)
        encoded = None if data is None else encoder.encode(data)
        return encoded, f'{_info_prefix(encoder)}"size":{len(encoded or b"")}}}'

    def _encoder(self, field: str, kind: str | None, spec: dict) -> Encoder:
        subject, strategy = spec.get("subject"), spec.get("subject_name_strategy") or "TOPIC_NAME"
        schema_id, version, text = spec.get("schema_id"), spec.get("schema_version"), spec.get("schema")
        if subject is not None and not isinstance(subject, str) or not isinstance(strategy, str) \
                or strategy not in STRATEGIES:
            raise bad_request(f"{field}: subject must be a string and subject_name_strategy one of "
                              f"{', '.join(STRATEGIES)}")
        if sum(x is not None for x in (schema_id, version, text)) > 1:
            raise bad_request(f"{field}: give one of schema_id, schema_version and schema")
        naming = SubjectNaming(self.topic, field, subject, strategy)
        if schema_id is not None:
            if not isinstance(schema_id, int) or isinstance(schema_id, bool):
                raise bad_request(f"{field}.schema_id must be an integer")
            encoder = self.schemas.by_id(schema_id, naming)
        elif text is not None:
            if kind is None or not isinstance(text, str):
                raise bad_request(f"{field}: an inline schema needs its type (AVRO, JSONSCHEMA, PROTOBUF) "
                                  "and the schema as a string")
            encoder = self.schemas.inline(SCHEMA_TYPES[kind], text, naming)
        else:
            if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
                raise bad_request(f"{field}.schema_version must be an integer")
            if subject is None and strategy != "TOPIC_NAME":
                raise bad_request(f"Cannot use schema_subject_strategy={strategy} without schema_id or schema.")
            encoder = self.schemas.by_version(naming(None), "latest" if version is None else version)
        if kind is not None and SCHEMA_TYPES[kind] != encoder.schema_type:
            raise bad_request(f"{field}: schema {encoder.schema_id} is {V3_TYPE_OF[encoder.schema_type]}, not {kind}")
        return encoder


@lru_cache(maxsize=1024)
def _info_prefix(encoder: Encoder) -> str:
    """`{"type":..,"subject":..,"schema_id":..,"schema_version":..,` of an answer, once per schema."""
    info = {"type": V3_TYPE_OF[encoder.schema_type], "subject": encoder.subject, "schema_id": encoder.schema_id,
            "schema_version": encoder.version}
    return json.dumps({k: v for k, v in info.items() if v is not None}, separators=(",", ":"))[:-1] + ","


def _headers(headers) -> list[tuple[str, bytes | None]] | None:
    if headers is None:
        return None
    if not isinstance(headers, list) or not all(isinstance(h, dict) and isinstance(h.get("name"), str)
                                                for h in headers):
        raise bad_request('headers must be a list of {"name": string, "value": base64 string or null}')
    return [(h["name"], None if h.get("value") is None else base64_bytes(h["value"])) for h in headers]


def _timestamp(text) -> int | None:
    """ISO-8601 (`2021-02-05T19:14:42Z`, offsets and fractions too) -> epoch milliseconds."""
    if text is None:
        return None
    try:
        ms = iso_to_ms(str(text))
    except ValueError:
        raise bad_request(f"timestamp={json.dumps(text)} is not an ISO-8601 date-time.") from None
    if ms < 0:
        raise bad_request(f"timestamp={json.dumps(text)} is before 1970: Kafka's timestamps are not negative.")
    return ms


class Answers:
    """ProduceResponse and error bodies as JSON text, built with as little work per record as the
    hot path allows (the fixed parts once per stream, the timestamp's text once per second)."""

    def __init__(self, cluster_id: str, topic: str):
        self._prefix = (f'{{"error_code":200,"cluster_id":{json.dumps(cluster_id)},'
                        f'"topic_name":{json.dumps(topic)},"partition_id":')
        self._iso = IsoMillis()

    def delivered(self, prepared: Prepared, partition: int, offset: int, timestamp_ms: int) -> str:
        parts = [self._prefix, str(partition), ',"offset":', str(offset), ',"timestamp":"',
                 self._iso(timestamp_ms), '"']
        if prepared.key_info is not None:
            parts += [',"key":', prepared.key_info]
        if prepared.value_info is not None:
            parts += [',"value":', prepared.value_info]
        parts.append("}")
        return "".join(parts)

    @staticmethod
    def error(exc: RestError) -> str:
        return json.dumps(error_body(exc), separators=(",", ":"))


def error_body(exc: RestError) -> dict:
    """A per-record error as kafka-rest writes it inside a stream: constraint violations (its
    4220x codes) as 422 with `Error: <code> : <message>`, others with their HTTP status."""
    if exc.error_code > 999 and exc.http_status == 422:
        return {"error_code": 422, "message": f"Error: {exc.error_code} : {exc.message}"}
    return {"error_code": exc.http_status, "message": exc.message}
