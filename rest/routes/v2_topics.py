"""kafka-rest v2: the root, brokers, topics and partitions, and produce to a topic or a partition.

Embedded formats: binary (base64 keys and values), json (any JSON, written as its JSON bytes), and
avro, jsonschema and protobuf through the registry (rest/embedded.py). `application/json` and
`application/octet-stream` are taken as binary, as Karapace and kafka-rest's older docs do
(current kafka-rest answers 415).

Beyond kafka-rest: a record may carry `headers`, `[{"name": str, "value": base64 | null}]`.
"""

from __future__ import annotations

from flask import Blueprint, request

from rest import jsontext
from rest.errors import RestError, bad_request, partition_not_found
from rest.produce_request import base64_bytes
from rest.embedded import SCHEMA_TYPES as SCHEMA_FORMATS
from rest.http import json_body, kafka, respond, schemas
from rest.kafka import INTERNAL_TOPICS
from rest.metrics import count_produced

bp = Blueprint("v2_topics", __name__)

EMBEDDED_TYPES = {
    "application/vnd.kafka.binary.v2+json": "binary",
    "application/vnd.kafka.json.v2+json": "json",
    "application/vnd.kafka.avro.v2+json": "avro",
    "application/vnd.kafka.jsonschema.v2+json": "jsonschema",
    "application/vnd.kafka.protobuf.v2+json": "protobuf",
    "application/json": "binary",
    "application/octet-stream": "binary",
}


def _partition(p) -> dict:
    isr = set(p.isrs)
    return {"partition": p.id, "leader": p.leader,
            "replicas": [{"broker": b, "leader": b == p.leader, "in_sync": b in isr} for b in p.replicas]}


def _partitions(topic) -> list[dict]:
    return [_partition(topic.partitions[i]) for i in sorted(topic.partitions)]


@bp.get("/")
def root():
    return respond({})


@bp.get("/brokers")
def brokers():
    return respond({"brokers": sorted(kafka().cluster().brokers)})


@bp.get("/topics")
def topics():
    return respond(sorted(name for name in kafka().cluster().topics if name not in INTERNAL_TOPICS))


@bp.get("/topics/<topic>")
def topic(topic: str):
    metadata = kafka().topic(topic)
    return respond({"name": topic, "configs": kafka().topic_configs(topic), "partitions": _partitions(metadata)})


@bp.get("/topics/<topic>/partitions")
def partitions(topic: str):
    return respond(_partitions(kafka().topic(topic)))


def _known_partition(topic: str, partition: int):
    metadata = kafka().topic(topic)
    if partition not in metadata.partitions:
        raise partition_not_found()
    return metadata.partitions[partition]


@bp.get("/topics/<topic>/partitions/<int(signed=True):partition>")
def partition(topic: str, partition: int):
    return respond(_partition(_known_partition(topic, partition)))


@bp.get("/topics/<topic>/partitions/<int(signed=True):partition>/offsets")
def partition_offsets(topic: str, partition: int):
    _known_partition(topic, partition)
    low, high = kafka().watermarks(topic, partition)
    return respond({"beginning_offset": low, "end_offset": high})


# -- produce ---------------------------------------------------------------------------------


def _embedded_format() -> str:
    content_type = (request.mimetype or "").lower()
    found = EMBEDDED_TYPES.get(content_type)
    if found is None:
        raise RestError(415, "HTTP 415 Unsupported Media Type")
    return found


def _binary(data) -> bytes | None:
    return None if data is None else base64_bytes(data)


def _encode(fmt: str, data) -> bytes | None:
    if fmt == "binary":
        return _binary(data)
    return None if data is None else jsontext.dumps(data)


def _headers(record: dict) -> list[tuple[str, bytes | None]] | None:
    headers = record.get("headers")
    if headers is None:
        return None
    if not isinstance(headers, list) or not all(isinstance(h, dict) and isinstance(h.get("name"), str)
                                                for h in headers):
        raise RestError(422, 'headers must be a list of {"name": string, "value": base64 string or null}')
    return [(h["name"], _binary(h.get("value"))) for h in headers]


def _schema_encoders(topic: str, body: dict, fmt: str, records: list) -> dict:
    """field ("key"/"value") -> Encoder, for the fields some record sets (kafka-rest: 42201/42202
    when such a field has no schema)."""
    encoders = {}
    for field, missing in (("key", 42201), ("value", 42202)):
        text, schema_id = body.get(f"{field}_schema"), body.get(f"{field}_schema_id")
        if text is not None and schema_id is not None:
            raise bad_request(f"give {field}_schema or {field}_schema_id, not both")
        if text is not None and not isinstance(text, str) or schema_id is not None and not isinstance(schema_id, int):
            raise bad_request(f"{field}_schema must be a string and {field}_schema_id an integer")
        if text is None and schema_id is None:
            if any(isinstance(r, dict) and r.get(field) is not None for r in records):
                plural = "keys" if field == "key" else "values"
                raise RestError(missing, f"Request includes {plural} but does not include {field} schema")
            continue
        encoders[field] = schemas().encoder(fmt, f"{topic}-{field}", text, schema_id)
    return encoders


def _records(topic: str, path_partition: int | None, body, fmt: str) -> tuple[list[dict], dict]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list) or not body["records"]:
        raise RestError(422, "records must not be empty")
    metadata = kafka().topic(topic)
    encoders = _schema_encoders(topic, body, fmt, body["records"]) if fmt in SCHEMA_FORMATS else {}

    def encode(field: str, data):
        if data is None:
            return None
        return encoders[field].encode(data) if field in encoders else _encode(fmt, data)

    out = []
    for record in body["records"]:
        if not isinstance(record, dict):
            raise RestError(422, "each record must be a JSON object")
        partition = record.get("partition", path_partition)
        if partition is not None and (not isinstance(partition, int) or partition not in metadata.partitions):
            raise partition_not_found()
        out.append({"topic": topic, "partition": partition, "key": encode("key", record.get("key")),
                    "value": encode("value", record.get("value")), "headers": _headers(record)})
    return out, encoders


def _produce(topic: str, path_partition: int | None):
    fmt = _embedded_format()
    records, encoders = _records(topic, path_partition, json_body(), fmt)
    deliveries = kafka().produce(records)
    count_produced("v2", sum(1 for d in deliveries if d.error_code is None))
    offsets = [{"partition": d.partition, "offset": d.offset, "error_code": d.error_code, "error": d.error}
               for d in deliveries]
    codes = {d.error_code for d in deliveries}
    status = 401 if 40101 in codes else 403 if 40301 in codes else 200
    ids = {f"{field}_schema_id": encoders[field].schema_id if field in encoders else None for field in ("key", "value")}
    return respond({"offsets": offsets, **ids}, status)


@bp.post("/topics/<topic>")
def produce_to_topic(topic: str):
    return _produce(topic, None)


@bp.post("/topics/<topic>/partitions/<int(signed=True):partition>")
def produce_to_partition(topic: str, partition: int):
    return _produce(topic, partition)
