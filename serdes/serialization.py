"""What every serializer shares: the context it is called with, errors, subject names."""

from __future__ import annotations


class MessageField:
    """Whether the key or the value is being (de)serialized (Confluent's names)."""

    NONE = "none"
    KEY = "key"
    VALUE = "value"


class SerializationContext:
    """Topic, field and headers of the record being (de)serialized.

    Consumers may also set partition and offset so errors say where a bad record sits."""

    __slots__ = ("topic", "field", "headers", "partition", "offset")

    def __init__(self, topic: str, field: str, headers=None, partition: int | None = None,
                 offset: int | None = None):
        self.topic = topic
        self.field = field
        self.headers = headers
        self.partition = partition
        self.offset = offset

    def describe(self) -> str:
        where = f"topic {self.topic!r} {self.field}"
        if self.partition is not None:
            where += f", partition {self.partition}"
        if self.offset is not None:
            where += f", offset {self.offset}"
        return where


class SerializationError(Exception):
    """A record could not be serialized or deserialized; the message says where and why."""


def topic_subject_name_strategy(ctx: SerializationContext, record_name: str | None) -> str:
    return f"{ctx.topic}-{ctx.field}"


def record_subject_name_strategy(ctx: SerializationContext, record_name: str | None) -> str:
    if not record_name:
        raise SerializationError("the record name strategy needs a named schema (an Avro record, "
                                 "a protobuf message, or a JSON Schema with a title)")
    return record_name


def topic_record_subject_name_strategy(ctx: SerializationContext, record_name: str | None) -> str:
    return f"{ctx.topic}-{record_subject_name_strategy(ctx, record_name)}"


# Confluent's class names, so configs written for the Java serializers work too.
STRATEGIES_BY_NAME = {
    "TopicNameStrategy": topic_subject_name_strategy,
    "RecordNameStrategy": record_subject_name_strategy,
    "TopicRecordNameStrategy": topic_record_subject_name_strategy,
}


def subject_name_strategy(value):
    """A strategy from a callable or a (possibly fully qualified) Confluent class name."""
    if callable(value):
        return value
    name = str(value).rsplit(".", 1)[-1]
    if name not in STRATEGIES_BY_NAME:
        raise ValueError(f"unknown subject.name.strategy {value!r}")
    return STRATEGIES_BY_NAME[name]
