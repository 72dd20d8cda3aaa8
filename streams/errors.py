"""Kafka Streams' exceptions, by the names users know."""

from __future__ import annotations


class StreamsException(Exception):
    """Processing cannot go on (Kafka's StreamsException)."""


class TopologyException(StreamsException):
    pass


class MissingSourceTopicException(StreamsException):
    pass


class TaskCorruptedException(StreamsException):
    """A task's state can no longer be trusted; it is closed dirty and restored again."""
