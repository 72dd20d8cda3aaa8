"""kafka-rest v2 consumer instances: create and delete, subscription, assignments, positions,
records and offsets (docs/design/rest-proxy.md, 1.5-1.6).

Records are answered in the instance's embedded format, which the Accept header must match
(40601 otherwise; `*/*` and application/vnd.kafka.v2+json take the instance's own). Beyond
kafka-rest: each record also carries its `headers` (`[{"name", "value": base64 | null}]`) and
`timestamp`, which kafka-rest users asked for and never got.
"""

from __future__ import annotations

import base64
import time

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, KafkaException, TopicPartition
from flask import Blueprint, Response, current_app, request

from serdes.serialization import SerializationContext

from rest import jsontext
from rest.consumers import MAX_REQUEST_BYTES, ConsumerInstance, ConsumerManager
from rest.errors import RestError
from rest.metrics import count_consumed
from rest.http import json_body, respond

bp = Blueprint("v2_consumers", __name__)

INSTANCE = "/consumers/<group>/instances/<name>"
ACCEPTS = {"application/vnd.kafka.binary.v2+json": "binary", "application/vnd.kafka.json.v2+json": "json",
           "application/vnd.kafka.avro.v2+json": "avro", "application/vnd.kafka.jsonschema.v2+json": "jsonschema",
           "application/vnd.kafka.protobuf.v2+json": "protobuf"}


def consumers() -> ConsumerManager:
    return current_app.config["CONSUMERS"]


def _no_content() -> Response:
    return Response(status=204)


def _call(instance: ConsumerInstance, fn):
    """`fn(consumer)` under the instance's lock; Kafka's errors as kafka-rest answers them."""
    with instance.lock:
        if instance.closed:
            raise RestError(40403, "Consumer instance not found.")
        try:
            return fn(instance.consumer)
        except KafkaException as exc:
            raise RestError(50002, exc.args[0].str()) from None
        except RuntimeError as exc:  # e.g. "Consumer closed"
            raise RestError(40903, f"Illegal state: {exc}") from None


def _partitions(body, key: str = "partitions") -> list[TopicPartition]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise RestError(422, f"{key} must be a list")
    try:
        return [TopicPartition(str(p["topic"]), int(p["partition"])) for p in items]
    except (KeyError, TypeError, ValueError):
        raise RestError(422, f'each of {key} must be {{"topic": string, "partition": integer}}') from None


@bp.post("/consumers/<group>")
def create(group: str):
    body = json_body() or {}
    if not isinstance(body, dict):
        raise RestError(422, "the request must be a JSON object")
    instance = consumers().create(group, body)
    return respond({"instance_id": instance.name,
                    "base_uri": f"{request.host_url.rstrip('/')}/consumers/{group}/instances/{instance.name}"})


@bp.delete(INSTANCE)
def delete(group: str, name: str):
    consumers().delete(group, name)
    return _no_content()


@bp.post(INSTANCE + "/subscription")
def subscribe(group: str, name: str):
    body = json_body()
    instance = consumers().get(group, name)
    topics = body.get("topics") if isinstance(body, dict) else None
    pattern = body.get("topic_pattern") if isinstance(body, dict) else None
    if isinstance(topics, list) and topics and all(isinstance(t, str) for t in topics):
        wanted = topics
    elif isinstance(pattern, str) and pattern:
        wanted = ["^" + pattern.removeprefix("^")]  # librdkafka's regex subscriptions start with ^
    else:
        raise RestError(422, 'give "topics" (a list of names) or "topic_pattern" (a regular expression)')
    _call(instance, lambda c: c.subscribe(wanted))
    instance.subscription = wanted
    instance.drop_held()
    return _no_content()


@bp.get(INSTANCE + "/subscription")
def subscription(group: str, name: str):
    instance = consumers().get(group, name)
    return respond({"topics": list(instance.subscription)})


@bp.delete(INSTANCE + "/subscription")
def unsubscribe(group: str, name: str):
    instance = consumers().get(group, name)
    _call(instance, lambda c: c.unsubscribe())
    instance.subscription = []
    instance.drop_held()
    return _no_content()


@bp.post(INSTANCE + "/assignments")
def assign(group: str, name: str):
    partitions = _partitions(json_body())
    instance = consumers().get(group, name)
    _call(instance, lambda c: c.assign(partitions))
    instance.drop_held()
    return _no_content()


@bp.get(INSTANCE + "/assignments")
def assignments(group: str, name: str):
    instance = consumers().get(group, name)
    assigned = _call(instance, lambda c: c.assignment())
    return respond({"partitions": [{"topic": tp.topic, "partition": tp.partition} for tp in assigned]})


def _seek(instance: ConsumerInstance, partitions: list[TopicPartition]) -> None:
    def seek(consumer):
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        for tp in partitions:
            if (tp.topic, tp.partition) not in assigned:
                raise RestError(40903, f"Illegal state: No current assignment for partition {tp.topic}-{tp.partition}")
            consumer.seek(tp)
        instance.drop_held({(tp.topic, tp.partition) for tp in partitions})
    _call(instance, seek)


@bp.post(INSTANCE + "/positions")
def seek(group: str, name: str):
    body = json_body()
    offsets = body.get("offsets") if isinstance(body, dict) else None
    if not isinstance(offsets, list):
        raise RestError(422, "offsets must be a list")
    try:
        partitions = [TopicPartition(str(o["topic"]), int(o["partition"]), int(o["offset"])) for o in offsets]
    except (KeyError, TypeError, ValueError):
        raise RestError(422, 'each offset must be {"topic", "partition", "offset"}') from None
    _seek(consumers().get(group, name), partitions)
    return _no_content()


@bp.post(INSTANCE + "/positions/beginning")
def seek_to_beginning(group: str, name: str):
    partitions = [TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in _partitions(json_body())]
    _seek(consumers().get(group, name), partitions)
    return _no_content()


@bp.post(INSTANCE + "/positions/end")
def seek_to_end(group: str, name: str):
    partitions = [TopicPartition(tp.topic, tp.partition, OFFSET_END) for tp in _partitions(json_body())]
    _seek(consumers().get(group, name), partitions)
    return _no_content()


# -- records -------------------------------------------------------------------------------------


def _accepted_format(instance: ConsumerInstance) -> str:
    accept = request.headers.get("Accept", "*/*")
    wanted = {fmt for media, fmt in ACCEPTS.items() if media in accept}
    if not wanted or instance.format in wanted:
        return instance.format
    raise RestError(40601, "The requested embedded data format does not match the deserializer for this "
                           "consumer instance")


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _decoder(fmt: str):
    """`decode(data, ctx)` of the embedded format: bytes -> the record's JSON key or value."""
    if fmt == "binary":
        return lambda data, ctx: _b64(data)
    if fmt == "json":
        def from_json(data, ctx):
            if data is None:
                return None
            try:
                return jsontext.loads(data)
            except ValueError as exc:
                raise RestError(40801, f"Error deserializing message: {ctx.describe()}: not JSON: {exc}") from None
        return from_json
    return current_app.config["DECODERS"].decode


def _query_int(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        raise RestError(400, f"Bad Request: {name} must be an integer") from None


@bp.get(INSTANCE + "/records")
def records(group: str, name: str):
    instance = consumers().get(group, name)
    decode = _decoder(_accepted_format(instance))
    timeout_ms = _query_int("timeout", -1)
    wait_ms = instance.request_timeout_ms if timeout_ms <= 0 else min(timeout_ms, instance.request_timeout_ms)
    max_bytes = _query_int("max_bytes", -1)
    limit = MAX_REQUEST_BYTES if max_bytes < 0 else min(max_bytes, MAX_REQUEST_BYTES)

    def read(consumer):
        out, size, returned = [], 0, {}
        deadline = time.monotonic() + wait_ms / 1000
        batch, instance.held = instance.held, []
        try:
            while True:
                for index, message in enumerate(batch):
                    if message.error() is not None:
                        instance.held = batch[index + 1:]
                        raise RestError(50002, message.error().str())
                    record_size = len(message.key() or b"") + len(message.value() or b"")
                    if size + record_size >= limit and out:
                        # kafka-rest stops before the record that would reach max_bytes; the rest
                        # of the batch is held for the next request (never dropped or re-fetched).
                        instance.held = batch[index:]
                        return out
                    try:
                        decoded = _record(message, decode)
                    except RestError:
                        # Records before it go out now; it fails the next request alone (then it is
                        # passed, as a consumer's position passes a record it could not read).
                        instance.held = batch[index:] if out else batch[index + 1:]
                        if out:
                            return out
                        returned[(message.topic(), message.partition())] = message.offset() + 1
                        raise
                    size += record_size
                    out.append(decoded)
                    returned[(message.topic(), message.partition())] = message.offset() + 1
                remaining = deadline - time.monotonic()
                if remaining <= 0 or 0 <= instance.fetch_min_bytes < size:
                    return out
                batch = consumer.consume(500, remaining)
        finally:
            if returned:  # what a commit (or auto commit) commits: only records the client got
                consumer.store_offsets(offsets=[TopicPartition(t, p, o) for (t, p), o in returned.items()])

    out = _call(instance, read)
    count_consumed("v2", len(out))
    return respond(out)


def _record(message, decode) -> dict:
    _, timestamp = message.timestamp()
    where = {"partition": message.partition(), "offset": message.offset()}
    key = decode(message.key(), SerializationContext(message.topic(), "key", **where))
    value = decode(message.value(), SerializationContext(message.topic(), "value", **where))
    return {"topic": message.topic(), "key": key, "value": value,
            "partition": message.partition(), "offset": message.offset(), "timestamp": timestamp,
            "headers": [{"name": k, "value": _b64(v)} for k, v in message.headers() or []]}


# -- offsets ------------------------------------------------------------------------------------


@bp.post(INSTANCE + "/offsets")
def commit(group: str, name: str):
    body = json_body()
    instance = consumers().get(group, name)
    if body and isinstance(body, dict) and body.get("offsets"):
        try:
            # kafka-rest takes the last consumed offset and commits the next one to read.
            offsets = [TopicPartition(str(o["topic"]), int(o["partition"]), int(o["offset"]) + 1)
                       for o in body["offsets"]]
        except (KeyError, TypeError, ValueError):
            raise RestError(422, 'each offset must be {"topic", "partition", "offset"}') from None
        _call(instance, lambda c: c.commit(offsets=offsets, asynchronous=False))
    else:
        def commit_consumed(consumer):
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError._NO_OFFSET:  # nothing consumed: nothing to commit
                    raise
        _call(instance, commit_consumed)
    return respond([])


@bp.get(INSTANCE + "/offsets")
def committed(group: str, name: str):
    partitions = _partitions(json_body())
    instance = consumers().get(group, name)
    found = _call(instance, lambda c: c.committed(partitions, timeout=10))
    return respond({"offsets": [{"topic": tp.topic, "partition": tp.partition, "offset": tp.offset, "metadata": ""}
                                for tp in found if tp.offset >= 0]})
