"""Kafka error codes by their Kafka names (UNKNOWN_TOPIC_OR_PARTITION -> 3)."""

from kio.schema.errors import ErrorCode

NONE = 0


def code(name: str) -> int:
    """The numeric code of a Kafka error name, e.g. code("MESSAGE_TOO_LARGE") == 10."""
    return int(ErrorCode[name.lower()].value)
