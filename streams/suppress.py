"""Suppressed (Kafka's Suppressed.untilWindowCloses): a windowed table's final result per window,
emitted once the window closes; and the byte layouts of the buffer that holds the results until
then (a logged store: key, window start and end; the record's timestamp and value)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from streams.serdes import Serde

_TWO_LONGS = struct.Struct(">qq")
_LONG = struct.Struct(">q")


@dataclass(frozen=True)
class BufferConfig:
    max_records: int | None = None  # None: unbounded (the only kind offered: nothing is ever emitted early)

    @staticmethod
    def unbounded() -> "BufferConfig":
        return BufferConfig()


@dataclass(frozen=True)
class Suppressed:
    buffer: BufferConfig
    name: str | None = None

    @staticmethod
    def until_window_closes(buffer: BufferConfig | None = None) -> "Suppressed":
        return Suppressed(buffer or BufferConfig.unbounded())

    def with_name(self, name: str) -> "Suppressed":
        return Suppressed(self.buffer, name)


class BufferKeySerde(Serde):
    """(key, window start, window end) as the key's bytes and two 8-byte longs."""

    def __init__(self, key_serde: Serde):
        super().__init__(None, None, f"SuppressKey({key_serde.name})")
        self.inner = key_serde

    def serialize(self, topic, value, headers=None):
        key, start, end = value
        return self.inner.serialize(topic, key) + _TWO_LONGS.pack(start, end)

    def deserialize(self, topic, data, headers=None):
        start, end = _TWO_LONGS.unpack_from(data, len(data) - 16)
        return self.inner.deserialize(topic, data[:-16]), start, end


class BufferValueSerde(Serde):
    """(value, timestamp) as an 8-byte timestamp and the value's bytes."""

    def __init__(self, value_serde: Serde):
        super().__init__(None, None, f"SuppressValue({value_serde.name})")
        self.inner = value_serde

    def serialize(self, topic, value, headers=None):
        if value is None:
            return None
        data, timestamp = value
        return _LONG.pack(timestamp) + self.inner.serialize(topic, data)

    def deserialize(self, topic, data, headers=None):
        if data is None:
            return None
        return self.inner.deserialize(topic, data[8:]), _LONG.unpack_from(data)[0]
