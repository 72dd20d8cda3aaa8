"""Produce: validate each partition's batch and append it; acks=0 gets no response."""

from __future__ import annotations

from broker.partition import ProduceError
from broker.protocol import apis
from broker.protocol.errors import code


def _partition_error(index: int, error: str, message: str | None = None, record_errors=()) -> dict:
    return {
        "index": index, "error_code": code(error), "base_offset": -1, "log_append_time": -1,
        "log_start_offset": -1, "error_message": message,
        "record_errors": [{"batch_index": i, "batch_index_error_message": m} for i, m in record_errors],
    }


def _produce_partition(broker, topic, index: int, data: bytes | None, acks: int) -> dict:
    partition = topic.partitions[index] if 0 <= index < len(topic.partitions) else None
    if partition is None:
        return _partition_error(index, "UNKNOWN_TOPIC_OR_PARTITION", "This server does not host this topic-partition.")
    if data is None:
        return _partition_error(index, "CORRUPT_MESSAGE", "The produce request carries no records.")
    value = broker.topics.topic_value
    if acks == -1 and value(topic, "min.insync.replicas") > 1:
        return _partition_error(
            index, "NOT_ENOUGH_REPLICAS",
            f"The size of the current ISR (1) is insufficient to satisfy the min.isr requirement of "
            f"{value(topic, 'min.insync.replicas')} for partition {topic.name}-{index}")
    try:
        base_offset, append_time = partition.append(
            data,
            max_message_bytes=value(topic, "max.message.bytes"),
            log_append_time=value(topic, "message.timestamp.type") == "LogAppendTime",
            compacted="compact" in value(topic, "cleanup.policy"),
        )
    except ProduceError as exc:
        return _partition_error(index, exc.error, exc.message, exc.record_errors)
    return {
        "index": index, "error_code": 0, "base_offset": base_offset, "log_append_time": append_time,
        "log_start_offset": partition.log_start_offset, "record_errors": [], "error_message": None,
    }


@apis.handler(0, 3, 10)
async def produce(broker, ctx, request):
    acks = request["acks"]
    responses = []
    for topic_data in request["topic_data"]:
        name = topic_data["name"]
        topic = broker.topics.get(name)
        parts = []
        for pdata in topic_data["partition_data"]:
            if acks not in (0, 1, -1):
                parts.append(_partition_error(pdata["index"], "INVALID_REQUIRED_ACKS"))
            elif topic is None:
                parts.append(_partition_error(pdata["index"], "UNKNOWN_TOPIC_OR_PARTITION",
                                              "This server does not host this topic-partition."))
            else:
                parts.append(_produce_partition(broker, topic, pdata["index"], pdata["records"], acks))
        responses.append({"name": name, "partition_responses": parts})
    if acks == 0:
        return None
    return {"responses": responses, "throttle_time": 0}
