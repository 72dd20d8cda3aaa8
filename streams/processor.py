"""The processor API (Kafka's org.apache.kafka.streams.processor.api): records, processors and
the context a processor gets, punctuation by stream time or wall-clock time."""

from __future__ import annotations

import enum
from typing import Any, Callable


class Record:
    """A key, a value, a timestamp (ms) and headers: what flows between processors."""
    __slots__ = ("key", "value", "timestamp", "headers")

    def __init__(self, key, value, timestamp: int = 0, headers: list | None = None):
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.headers = headers

    def with_key(self, key) -> "Record":
        return Record(key, self.value, self.timestamp, self.headers)

    def with_value(self, value) -> "Record":
        return Record(self.key, value, self.timestamp, self.headers)

    def with_timestamp(self, timestamp: int) -> "Record":
        return Record(self.key, self.value, timestamp, self.headers)

    def with_headers(self, headers: list | None) -> "Record":
        return Record(self.key, self.value, self.timestamp, headers)

    def __eq__(self, other) -> bool:
        return isinstance(other, Record) and (self.key, self.value, self.timestamp, self.headers) == \
            (other.key, other.value, other.timestamp, other.headers)

    def __repr__(self) -> str:
        return f"Record(key={self.key!r}, value={self.value!r}, timestamp={self.timestamp})"


class Change:
    """A table update: the new value and the one it replaced (None: absent)."""
    __slots__ = ("new", "old")

    def __init__(self, new, old):
        self.new, self.old = new, old

    def __eq__(self, other):
        return isinstance(other, Change) and (self.new, self.old) == (other.new, other.old)

    def __repr__(self):
        return f"Change({self.new!r}<-{self.old!r})"


class RecordMetadata:
    """Where the record being processed came from (absent in a punctuation)."""
    __slots__ = ("topic", "partition", "offset")

    def __init__(self, topic: str, partition: int, offset: int):
        self.topic, self.partition, self.offset = topic, partition, offset


class PunctuationType(enum.Enum):
    STREAM_TIME = "STREAM_TIME"          # advanced by the timestamps of processed records
    WALL_CLOCK_TIME = "WALL_CLOCK_TIME"  # advanced by the system clock


class Cancellable:
    def __init__(self):
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ProcessorContext:
    """What a processor can do; the runtime gives each processor node its own (streams/task.py)."""

    application_id: str
    task_id: str

    def forward(self, record: Record, child_name: str | None = None) -> None:
        raise NotImplementedError

    def schedule(self, interval_ms: int, punctuation_type: PunctuationType,
                 punctuator: Callable[[int], None]) -> Cancellable:
        raise NotImplementedError

    def get_state_store(self, name: str) -> Any:
        raise NotImplementedError

    def record_metadata(self) -> RecordMetadata | None:
        raise NotImplementedError

    def current_stream_time_ms(self) -> int:
        raise NotImplementedError

    def current_system_time_ms(self) -> int:
        raise NotImplementedError

    def commit(self) -> None:
        """Ask for a commit as soon as possible (after the current record)."""
        raise NotImplementedError


class Processor:
    """Override process(); init() keeps the context; close() on the task's close."""

    context: ProcessorContext

    def init(self, context: ProcessorContext) -> None:
        self.context = context

    def process(self, record: Record) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FunctionProcessor(Processor):
    """A processor from a function of (record, context)."""

    def __init__(self, fn: Callable[[Record, ProcessorContext], None]):
        self._fn = fn

    def process(self, record: Record) -> None:
        self._fn(record, self.context)
