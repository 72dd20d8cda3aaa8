"""Produce: validate each partition's batch and append it; acks=0 gets no response."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from broker import records, transaction_verification
from broker.authorizer import Operation, ResourceType
from broker.partition import ProduceError
from broker.protocol import apis
from broker.protocol.errors import code
from broker.schema_validation import RegistryUnavailable, rules_for


def _partition_error(index: int, error: str, message: str | None = None, record_errors=()) -> dict:
    return {
        "index": index, "error_code": code(error), "base_offset": -1, "log_append_time": -1,
        "log_start_offset": -1, "error_message": message,
        "record_errors": [{"batch_index": i, "batch_index_error_message": m} for i, m in record_errors],
    }


class _Settings(NamedTuple):
    """A topic's configs as produce uses them, worked out once per topic config change
    (topic.derived is cleared by AlterConfigs) rather than looked up per batch."""

    rules: list
    min_insync_replicas: int
    max_message_bytes: int
    log_append_time: bool
    compacted: bool
    timestamp_bounds: tuple[int, int] | None  # CreateTime: (before.max.ms, after.max.ms), KIP-937
    compression: tuple[int, int | None] | None  # (codec, level) unless compression.type is `producer`


def _settings(broker, topic) -> _Settings:
    settings = topic.derived.get("produce")
    if settings is None:
        value = broker.topics.topic_value
        rules = topic.derived.get("validation_rules")
        if rules is None:
            rules = topic.derived["validation_rules"] = rules_for(lambda name: value(topic, name))
        log_append_time = value(topic, "message.timestamp.type") == "LogAppendTime"
        settings = topic.derived["produce"] = _Settings(
            rules, value(topic, "min.insync.replicas"), value(topic, "max.message.bytes"), log_append_time,
            "compact" in value(topic, "cleanup.policy"),
            None if log_append_time else (value(topic, "message.timestamp.before.max.ms"),
                                          value(topic, "message.timestamp.after.max.ms")),
            _compression(lambda name: value(topic, name)))
    return settings


_LEVEL_CONFIGS = {records.GZIP: "compression.gzip.level", records.LZ4: "compression.lz4.level",
                  records.ZSTD: "compression.zstd.level"}


def _compression(value) -> tuple[int, int | None] | None:
    name = value("compression.type")
    if name == "producer":
        return None
    codec = records.CODECS_BY_NAME[name]
    return codec, value(_LEVEL_CONFIGS[codec]) if codec in _LEVEL_CONFIGS else None


async def _produce_partition(broker, ctx, topic, index: int, data: bytes | None, acks: int,
                             transactional_id: str | None) -> dict:
    partition = topic.partitions[index] if 0 <= index < len(topic.partitions) else None
    if partition is None:
        return _partition_error(index, "UNKNOWN_TOPIC_OR_PARTITION", "This server does not host this topic-partition.")
    if data is None:
        return _partition_error(index, "CORRUPT_MESSAGE", "The produce request carries no records.")
    settings = _settings(broker, topic)
    if settings.rules:
        refused = await _validate(broker, topic.name, index, settings.rules, data)
        if refused is not None:
            return refused
    if acks == -1 and settings.min_insync_replicas > 1:
        return _partition_error(
            index, "NOT_ENOUGH_REPLICAS",
            f"The size of the current ISR (1) is insufficient to satisfy the min.isr requirement of "
            f"{settings.min_insync_replicas} for partition {topic.name}-{index}")
    # Right before the append, with no await in between: what is verified is what is appended to.
    if transaction_verification.is_transactional(data):
        refused = transaction_verification.refusal(broker, partition, topic.name, transactional_id, data,
                                                   ctx.api_version)
        if refused is not None:
            return _partition_error(index, *refused)
    try:
        base_offset, append_time = partition.append(
            data,
            max_message_bytes=settings.max_message_bytes,
            log_append_time=settings.log_append_time,
            compacted=settings.compacted,
            timestamp_bounds=settings.timestamp_bounds,
            compression=settings.compression,
        )
    except ProduceError as exc:
        return _partition_error(index, exc.error, exc.message, exc.record_errors)
    broker.metrics.produced(topic.name, data)
    return {
        "index": index, "error_code": 0, "base_offset": base_offset, "log_append_time": append_time,
        "log_start_offset": partition.log_start_offset, "record_errors": [], "error_message": None,
    }


async def _validate(broker, topic_name: str, index: int, rules, data: bytes) -> dict | None:
    """A governed topic's check: an error response for the partition, or None to append."""
    try:
        errors = await broker.validator.check_batch(topic_name, rules, data)
    except RegistryUnavailable as exc:
        # Retriable: the producer retries and nothing is lost; nothing unvalidated is appended.
        return _partition_error(index, "REQUEST_TIMED_OUT",
                                f"Schema validation of {topic_name} is unavailable: {exc}")
    if not errors:
        return None
    first = errors[0][1]
    return _partition_error(index, "INVALID_RECORD",
                            f"{len(errors)} record(s) of the batch break the schema rules of topic {topic_name}; "
                            f"record {errors[0][0]}: {first}", errors)


def _has_transactional_batch(request) -> bool:
    """Kafka's RequestUtils.hasTransactionalRecords: the first batch of a partition's records
    says whether the producer is transactional (a producer never mixes)."""
    for topic_data in request["topic_data"] or ():
        for pdata in topic_data["partition_data"] or ():
            records = pdata["records"]
            if records is not None and transaction_verification.is_transactional(records):
                return True
    return False


def _transactional_refusal(broker, ctx, request) -> dict | None:
    """The whole response when a transactional produce lacks WRITE on its transactional id."""
    transactional_id = request["transactional_id"]
    if transactional_id is None and not _has_transactional_batch(request):
        return None
    if transactional_id is not None and broker.authorizer.authorize(
            ctx, Operation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return None
    return {"throttle_time": 0, "responses": [
        {"name": t.get("name"), "topic_id": t.get("topic_id"), "partition_responses": [
            _partition_error(p["index"], "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
                             "Transactional Id authorization failed.")
            for p in t["partition_data"] or ()]}
        for t in request["topic_data"] or ()]}


@apis.handler(0, 3, 13)
async def produce(broker, ctx, request):
    acks = request["acks"]
    # Authorization per request and topic, never per record; one attribute test when off.
    authorizer = broker.authorizer if broker.authorizer.enabled else None
    if authorizer is not None:
        refused = _transactional_refusal(broker, ctx, request)
        if refused is not None:
            return refused if acks != 0 else None
    responses = []
    # Plain loops with ctx.tick() rather than ctx.paced(): the async generators cost more
    # than the rest of the per-partition work of a small produce.
    for topic_data in request["topic_data"] or ():
        if ctx.tick():
            await asyncio.sleep(0)
        topic_id = topic_data.get("topic_id")  # Produce v13+ names topics by id
        if topic_id is None:
            name = topic_data["name"]
            topic = broker.topics.get(name)
        else:
            topic = broker.topics.by_id(topic_id)
            name = topic.name if topic is not None else None
        # An unknown topic name is still authorized (no answer tells which topics exist);
        # an unknown topic id has no name to authorize.
        denied = authorizer is not None and name is not None and not authorizer.authorize(
            ctx, Operation.WRITE, ResourceType.TOPIC, name)
        parts = []
        for pdata in topic_data["partition_data"] or ():
            if ctx.tick():
                await asyncio.sleep(0)
            if acks not in (0, 1, -1):
                parts.append(_partition_error(pdata["index"], "INVALID_REQUIRED_ACKS"))
            elif denied:
                parts.append(_partition_error(pdata["index"], "TOPIC_AUTHORIZATION_FAILED",
                                              "Topic authorization failed."))
            elif topic is None:
                parts.append(_partition_error(pdata["index"], "UNKNOWN_TOPIC_OR_PARTITION",
                                              "This server does not host this topic-partition.")
                             if topic_id is None else _partition_error(pdata["index"], "UNKNOWN_TOPIC_ID"))
            else:
                parts.append(await _produce_partition(broker, ctx, topic, pdata["index"], pdata["records"], acks,
                                                      request["transactional_id"]))
        responses.append({"name": name, "topic_id": topic_id, "partition_responses": parts})
    if acks == 0:
        return None
    return {"responses": responses, "throttle_time": 0}
