"""kafka-rest v3 produce: `POST .../topics/{t}/records`, one record or a stream of them, and
`POST .../topics/{t}/records:batch` (docs/design/rest-proxy.md, 3.4); and our consume extension,
`GET .../topics/{t}/records` and `.../consumer-groups/{g}/offsets` (rest/record_reader.py).

A stream is one request whose body is concatenated JSON ProduceRequests: each is produced as soon
as it is parsed, and its ProduceResponse (or error) is written back, in input order, as soon as its
delivery report comes, while the rest of the body still arrives (rest/streaming.py). Each record
succeeds or fails on its own and says so; nothing is written without an answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException
from flask import Blueprint, Response, current_app, request

from rest.errors import RestError
from rest.http import schemas
from rest.kafka import KafkaBackend, delivery_error_code
from rest.metrics import count_produced
from rest.produce_request import Answers, Prepared, RecordPreparer, error_body
from rest.record_reader import RecordReader, offsets_to_commit, read_request
from rest.routes.v2_consumers import consumers
from rest.streaming import BodyTooLarge, OrderedAnswers, body_chunks, json_objects
from rest.v3 import answer, install, json_request, known_cluster

log = logging.getLogger("rest.v3_records")

bp = install(Blueprint("v3_records", __name__))

TOPIC = "/clusters/<cluster_id>/topics/<topic>"
DEFAULTS = {"api.v3.produce.batch.maximum.entries": 10, "streaming.connection.max.duration.ms": 86_400_000,
            "streaming.connection.max.duration.grace.period.ms": 500,
            "api.v3.produce.request.size.limit.max.bytes": 0}
MAX_OBJECT_BYTES = 64 * 1024 * 1024  # one record's JSON when no size limit is configured
TOO_LARGE = RestError(413, "The request included a message larger than the maximum message size the server "
                           "can accept.")
STREAM_TOO_OLD = RestError(408, "Streaming connection open for longer than allowed: Connection will be closed.")


def setting(name: str) -> int:
    return int(current_app.config.get("REST_SETTINGS", {}).get(name, DEFAULTS[name]))


def _topic_preparer(cluster_id: str, topic: str) -> tuple[KafkaBackend, RecordPreparer]:
    backend = known_cluster(cluster_id)
    try:
        metadata = backend.topic(topic)
    except RestError as exc:
        if exc.error_code == 40401:
            raise RestError(404, f"Topic {topic} cannot be found.") from None
        raise
    return backend, RecordPreparer(topic, set(metadata.partitions), schemas())


@bp.post(TOPIC + "/records")
def produce(cluster_id: str, topic: str):
    if request.mimetype != "application/json":
        raise RestError(415, "HTTP 415 Unsupported Media Type")
    backend, preparer = _topic_preparer(cluster_id, topic)
    limit = setting("api.v3.produce.request.size.limit.max.bytes") or MAX_OBJECT_BYTES
    if not request.environ.get("wsgi.input_terminated") and \
            (request.content_length or 0) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise TOO_LARGE  # a body sent whole is held whole: as large as any other request's
    objects = json_objects(body_chunks(request.environ), limit)
    try:  # the first record is read here, so an empty or broken body is a plain error, not a stream
        first = next(objects)
    except StopIteration:
        raise RestError(42206, "Payload error. Request body is empty. Data is required.") from None
    except json.JSONDecodeError as exc:
        raise RestError(400, f"Bad Request: {exc.msg} at character {exc.pos}") from None
    except BodyTooLarge:
        raise TOO_LARGE from None
    stream = ProduceStream(backend, preparer, Answers(cluster_id, topic),
                           setting("streaming.connection.max.duration.ms") / 1000,
                           setting("streaming.connection.max.duration.grace.period.ms") / 1000)
    stream.start(first, objects)
    return Response(stream.answers(), content_type="application/json")


class ProduceStream:
    """Reads and produces on its own thread; `answers()` yields the answers in order."""

    def __init__(self, backend: KafkaBackend, preparer: RecordPreparer, texts: Answers,
                 max_duration_s: float, grace_s: float):
        self.backend = backend
        self.preparer = preparer
        self.texts = texts
        self.ordered = OrderedAnswers()
        self.deadline = time.monotonic() + max_duration_s
        self.grace_s = grace_s
        self._stopped = False

    def start(self, first, rest) -> None:
        threading.Thread(target=self._read, args=(first, rest), name="rest-produce-stream", daemon=True).start()

    def _read(self, first, rest) -> None:
        try:
            self._one(first)
            for request_body in rest:
                if self._stopped:
                    break
                self._one(request_body)
        except json.JSONDecodeError as exc:
            self._fail(RestError(400, f"Bad Request: {exc.msg} at character {exc.pos}"))
        except BodyTooLarge:
            self._fail(TOO_LARGE)
        except Exception as exc:  # the connection broke or the chunked framing is wrong
            log.info("produce stream to %s ended: %s", self.preparer.topic, exc)
            self._fail(RestError(400, f"Bad Request: the request body could not be read: {exc}"))
        finally:
            self.ordered.end()

    def _fail(self, exc: RestError) -> None:
        self.ordered.add(self.texts.error(exc))

    def _one(self, request_body) -> None:
        now = time.monotonic()
        if now > self.deadline:
            self._fail(STREAM_TOO_OLD)
            self._stopped = now > self.deadline + self.grace_s
            return
        try:
            prepared = self.preparer.prepare(request_body)
        except RestError as exc:
            self._fail(exc)
            return
        except Exception:  # a bug of ours fails this record, not the stream
            log.exception("preparing a record for %s failed", self.preparer.topic)
            self._fail(RestError(500, "Internal Server Error"))
            return
        slot = self.ordered.reserve()
        try:
            self.backend.send(prepared.record, self._on_delivery(slot, prepared))
        except RestError as exc:
            self.ordered.fill(slot, self.texts.error(exc))

    def _on_delivery(self, slot: list, prepared: Prepared):
        def on_delivery(err, msg):
            if err is not None:
                text = self.texts.error(RestError(delivery_error_code(err), err.str()))
            else:
                text = self.texts.delivered(prepared, msg.partition(), msg.offset(), msg.timestamp()[1])
            self.ordered.fill(slot, text)
        return on_delivery

    def answers(self):
        try:
            while True:
                ready = self.ordered.take(self.backend.delivery_wait_s)
                if ready is None:
                    return
                if not ready:
                    self.ordered.expire_head(self.texts.error(
                        RestError(50002, "timed out waiting for the broker to acknowledge the record")))
                    continue
                yield ("\r\n".join(ready) + "\r\n").encode()
        finally:
            self._stopped = True  # the client went away or everything was answered


# -- records:batch -----------------------------------------------------------------------------


def _entries(body) -> list[dict]:
    """kafka-rest's ProduceBatchRequest checks, each 422/42208."""
    entries = body.get("entries") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise RestError(42208, "Request body is empty. Data is required.")
    if not entries:
        raise RestError(42208, "Empty batch.")
    if len(entries) > setting("api.v3.produce.batch.maximum.entries"):
        raise RestError(42208, "Too many entries in batch.")
    if not all(isinstance(e, dict) and isinstance(e.get("id"), str) for e in entries):
        raise RestError(42208, "Batch entry identifier is not a valid string.")
    if len({e["id"] for e in entries}) != len(entries):
        raise RestError(42208, "Batch entry IDs are not distinct.")
    return entries


@bp.post(TOPIC + "/records:batch")
def produce_batch(cluster_id: str, topic: str):
    body = json_request()
    entries = _entries(body)
    backend, preparer = _topic_preparer(cluster_id, topic)
    texts = Answers(cluster_id, topic)
    successes, failures = [], []
    pending = []
    for entry in entries:
        try:
            pending.append((entry["id"], preparer.prepare(entry)))
        except RestError as exc:
            failures.append({"id": entry["id"], **error_body(exc)})
    deliveries = backend.produce([prepared.record for _, prepared in pending]) if pending else []
    for (entry_id, prepared), delivery in zip(pending, deliveries):
        if delivery.error_code is not None:
            failures.append({"id": entry_id, **error_body(RestError(delivery.error_code, delivery.error))})
        else:
            produced = json.loads(texts.delivered(prepared, delivery.partition, delivery.offset,
                                                  delivery.timestamp_ms))
            del produced["error_code"]
            successes.append({"id": entry_id, **produced})
    count_produced("v3", len(successes))
    return answer({"successes": successes, "failures": failures}, 207)


# -- our consume extension (rest/record_reader.py) ---------------------------------------------


@bp.get(TOPIC + "/records")
def read_records(cluster_id: str, topic: str):
    backend, preparer = _topic_preparer(cluster_id, topic)
    wanted = read_request(request.args, preparer.partitions)
    manager = consumers()
    reader = RecordReader({**manager.client, **manager.consumer_config}, cluster_id, topic, wanted,
                          current_app.config["DECODERS"], backend.timeout_s)
    return Response(reader.lines(), content_type="application/x-ndjson")


GROUP_OFFSETS = "/clusters/<cluster_id>/consumer-groups/<group>/offsets"


@bp.post(GROUP_OFFSETS)
def commit_offsets(cluster_id: str, group: str):
    """Commits the group's offsets (the next offset to read, as Kafka's); 409/40903 while a Kafka
    consumer is active in the group (Kafka lets only the group's members commit then)."""
    offsets = offsets_to_commit(json_request())
    backend = known_cluster(cluster_id)
    futures = backend.admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(_group(group), offsets)],
                                                         request_timeout=backend.timeout_s)
    try:
        (result,) = [f.result(backend.timeout_s) for f in futures.values()]
    except KafkaException as exc:
        raise _commit_error(group, exc.args[0]) from None
    for tp in result.topic_partitions:  # Kafka answers per partition
        if tp.error is not None:
            raise _commit_error(group, tp.error)
    return answer({"kind": "KafkaConsumerGroupOffsets", "consumer_group_id": group,
                   "offsets": _offsets(result.topic_partitions)})


def _commit_error(group: str, error: KafkaError) -> RestError:
    if error.code() in (KafkaError.UNKNOWN_MEMBER_ID, KafkaError.REBALANCE_IN_PROGRESS,
                        KafkaError.ILLEGAL_GENERATION, KafkaError.GROUP_SUBSCRIBED_TO_TOPIC):
        return RestError(40903, f"Illegal state: the group {group} has active members: {error.str()}", 409)
    if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
        return RestError(40403, f"Topic or partition not found: {error.str()}", 404)
    return RestError(50002, error.str())


@bp.get(GROUP_OFFSETS)
def committed_offsets(cluster_id: str, group: str):
    backend = known_cluster(cluster_id)
    futures = backend.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(_group(group))],
                                                        request_timeout=backend.timeout_s)
    try:
        (result,) = [f.result(backend.timeout_s) for f in futures.values()]
    except KafkaException as exc:
        raise RestError(50002, exc.args[0].str()) from None
    return answer({"kind": "KafkaConsumerGroupOffsets", "consumer_group_id": group,
                   "offsets": _offsets(tp for tp in result.topic_partitions if tp.offset >= 0)})


def _group(group: str) -> str:
    """A group id librdkafka can send: any text that is valid UTF-8."""
    try:
        group.encode()
    except UnicodeEncodeError:
        raise RestError(400, "Bad Request: the consumer group id is not valid UTF-8") from None
    return group


def _offsets(partitions) -> list[dict]:
    return [{"topic_name": tp.topic, "partition_id": tp.partition, "offset": tp.offset}
            for tp in sorted(partitions, key=lambda tp: (tp.topic, tp.partition))]
