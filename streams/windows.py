"""Time windows (Kafka's TimeWindows, Window, Windowed, WindowedSerdes): tumbling windows, and
hopping windows when they advance by less than their size. A window is [start, end) in ms; a
record belongs to every window that contains its timestamp; a window takes records until
`end + grace` of stream time, later ones are dropped as late."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from streams.serdes import Serde

_LONG = struct.Struct(">q")
_SEQNUM = b"\0\0\0\0"


@dataclass(frozen=True, order=True)
class Window:
    start: int
    end: int


@dataclass(frozen=True)
class Windowed:
    """A key in one window: the key of a windowed table."""
    key: object
    window: Window

    def __repr__(self) -> str:
        return f"[{self.key}@{self.window.start}/{self.window.end}]"


@dataclass(frozen=True)
class TimeWindows:
    size_ms: int
    advance_ms: int
    grace_ms: int

    @staticmethod
    def of_size_with_no_grace(size_ms: int) -> "TimeWindows":
        return TimeWindows._checked(size_ms, size_ms, 0)

    @staticmethod
    def of_size_and_grace(size_ms: int, grace_ms: int) -> "TimeWindows":
        return TimeWindows._checked(size_ms, size_ms, grace_ms)

    @staticmethod
    def _checked(size_ms: int, advance_ms: int, grace_ms: int) -> "TimeWindows":
        if size_ms <= 0:
            raise ValueError("Window size (sizeMs) must be larger than zero.")
        if advance_ms <= 0 or advance_ms > size_ms:
            raise ValueError(f"Window advancement interval should be more than zero and less than window duration "
                             f"which is {size_ms} ms, but given advancement interval is: {advance_ms} ms")
        if grace_ms < 0:
            raise ValueError("Grace period must not be negative.")
        return TimeWindows(size_ms, advance_ms, grace_ms)

    def advance_by(self, advance_ms: int) -> "TimeWindows":
        """Hopping windows: a new window every advance_ms."""
        return TimeWindows._checked(self.size_ms, advance_ms, self.grace_ms)

    def windows_for(self, timestamp: int) -> list[Window]:
        """Every window containing the timestamp, oldest first (Kafka's TimeWindows.windowsFor)."""
        first = max(0, timestamp - self.size_ms + self.advance_ms) // self.advance_ms * self.advance_ms
        return [Window(start, start + self.size_ms) for start in range(first, timestamp + 1, self.advance_ms)]

    def retention_ms(self) -> int:
        return self.size_ms + self.grace_ms

    @property
    def close_delay_ms(self) -> int:
        """How long after a window's end its result is final (suppress waits this long)."""
        return self.grace_ms


@dataclass(frozen=True)
class SlidingWindows:
    """Windows of a fixed time difference that slide with the records (Kafka's SlidingWindows,
    KIP-450): two records share a window when their timestamps are at most time_difference_ms
    apart. Each record has a window ending at it, [t - difference, t], and one starting just
    after it, [t + 1, t + 1 + difference], when another record falls in that; both ends
    inclusive. A window takes records while its end is at or after stream time - grace."""
    time_difference_ms: int
    grace_ms: int

    @staticmethod
    def of_time_difference_with_no_grace(difference_ms: int) -> "SlidingWindows":
        return SlidingWindows.of_time_difference_and_grace(difference_ms, 0)

    @staticmethod
    def of_time_difference_and_grace(difference_ms: int, grace_ms: int) -> "SlidingWindows":
        if difference_ms < 0:
            raise ValueError("Window time difference must not be negative.")
        if grace_ms < 0:
            raise ValueError("Window grace period must not be negative.")
        return SlidingWindows(difference_ms, grace_ms)

    @property
    def size_ms(self) -> int:
        """A window's end is its start + the time difference (its Windowed key's end)."""
        return self.time_difference_ms

    def retention_ms(self) -> int:
        """How far back the records behind new windows are kept: a record still on time may
        open a window reaching back one time difference before its own window."""
        return 2 * self.time_difference_ms + self.grace_ms + 1

    @property
    def close_delay_ms(self) -> int:
        return self.grace_ms


@dataclass(frozen=True)
class JoinWindows:
    """How far apart in time two records of a stream-stream join may be (Kafka's JoinWindows): a
    left record at t joins right records in [t - before, t + after]."""
    before_ms: int
    after_ms: int
    grace_ms: int

    @staticmethod
    def of_time_difference_with_no_grace(difference_ms: int) -> "JoinWindows":
        return JoinWindows.of_time_difference_and_grace(difference_ms, 0)

    @staticmethod
    def of_time_difference_and_grace(difference_ms: int, grace_ms: int) -> "JoinWindows":
        if difference_ms < 0 or grace_ms < 0:
            raise ValueError("Window time difference and grace must not be negative.")
        return JoinWindows(difference_ms, difference_ms, grace_ms)

    def before(self, ms: int) -> "JoinWindows":
        return JoinWindows(ms, self.after_ms, self.grace_ms)

    def after(self, ms: int) -> "JoinWindows":
        return JoinWindows(self.before_ms, ms, self.grace_ms)

    def retention_ms(self) -> int:
        return self.before_ms + self.after_ms + self.grace_ms


class TimestampedKeySerde(Serde):
    """(key, timestamp, sequence number) in the window-store layout: the key's bytes, an 8-byte
    timestamp, a 4-byte sequence number (records of one key and time are all kept)."""

    def __init__(self, key_serde: Serde):
        super().__init__(None, None, f"TimestampedKey({key_serde.name})")
        self.inner = key_serde

    def serialize(self, topic, value, headers=None):
        key, timestamp, seq = value
        return self.inner.serialize(topic, key) + _LONG.pack(timestamp) + (seq & 0xFFFFFFFF).to_bytes(4, "big")

    def deserialize(self, topic, data, headers=None):
        return (self.inner.deserialize(topic, data[:-12]), _LONG.unpack_from(data, len(data) - 12)[0],
                int.from_bytes(data[-4:], "big"))


class SidedKeySerde(TimestampedKeySerde):
    """(key, timestamp, sequence number, is_left): an unmatched record of either join side."""

    def serialize(self, topic, value, headers=None):
        key, timestamp, seq, is_left = value
        return super().serialize(topic, (key, timestamp, seq)) + (b"\1" if is_left else b"\0")

    def deserialize(self, topic, data, headers=None):
        return (*super().deserialize(topic, data[:-1]), data[-1:] == b"\1")


class LeftOrRightValueSerde(Serde):
    """A value of either join side, each with its own serde (the key says which side)."""

    def __init__(self, left: Serde, right: Serde):
        super().__init__(None, None, f"LeftOrRight({left.name},{right.name})")
        self.left, self.right = left, right

    def serialize(self, topic, value, headers=None):
        if value is None:
            return None
        is_left, data = value
        return (b"\1" + self.left.serialize(topic, data)) if is_left else (b"\0" + self.right.serialize(topic, data))

    def deserialize(self, topic, data, headers=None):
        if data is None:
            return None
        is_left = data[:1] == b"\1"
        return is_left, (self.left if is_left else self.right).deserialize(topic, data[1:])


@dataclass(frozen=True)
class SessionWindows:
    """Sessions of activity (Kafka's SessionWindows): records of one key less than `gap_ms` apart
    belong to one session; a session closes once the stream time passes its end + gap + grace."""
    gap_ms: int
    grace_ms: int

    @staticmethod
    def of_inactivity_gap_with_no_grace(gap_ms: int) -> "SessionWindows":
        return SessionWindows.of_inactivity_gap_and_grace(gap_ms, 0)

    @staticmethod
    def of_inactivity_gap_and_grace(gap_ms: int, grace_ms: int) -> "SessionWindows":
        if gap_ms <= 0 or grace_ms < 0:
            raise ValueError("Gap time (inactivityGapMs) must be larger than zero and grace not negative.")
        return SessionWindows(gap_ms, grace_ms)

    def retention_ms(self) -> int:
        return self.gap_ms + self.grace_ms

    @property
    def close_delay_ms(self) -> int:
        """How long after a session's end its result is final (suppress waits this long)."""
        return self.gap_ms + self.grace_ms


class SessionKeySerde(Serde):
    """(key, start, end) as Kafka's session stores lay it out: the key's bytes, then the end and
    the start as 8-byte longs (sessions of a key sorted by end)."""

    def __init__(self, key_serde: Serde):
        super().__init__(None, None, f"SessionKey({key_serde.name})")
        self.inner = key_serde

    def serialize(self, topic, value, headers=None):
        key, start, end = value
        return self.inner.serialize(topic, key) + _LONG.pack(end) + _LONG.pack(start)

    def deserialize(self, topic, data, headers=None):
        end, start = struct.unpack_from(">qq", data, len(data) - 16)
        return self.inner.deserialize(topic, data[:-16]), start, end


class SessionWindowedSerde(Serde):
    """Kafka's SessionWindowedSerializer layout: the key's bytes, the end, then the start."""

    def __init__(self, key_serde: Serde | None):
        super().__init__(None, None, f"SessionWindowed({getattr(key_serde, 'name', 'default')})")
        self.inner = key_serde

    def resolved(self, default):
        return self if self.inner is not None else SessionWindowedSerde(default)

    def serialize(self, topic, value: Windowed, headers=None):
        if value is None:
            return None
        return self.inner.serialize(topic, value.key) + _LONG.pack(value.window.end) + _LONG.pack(value.window.start)

    def deserialize(self, topic, data, headers=None):
        if data is None:
            return None
        end, start = struct.unpack_from(">qq", data, len(data) - 16)
        return Windowed(self.inner.deserialize(topic, data[:-16]), Window(start, end))


class WindowKeySerde(Serde):
    """A window store's key, (key, window start), as Kafka lays it out in a window store's
    changelog: the key's bytes, the start as an 8-byte big-endian long, a 4-byte sequence number."""

    def __init__(self, key_serde: Serde):
        super().__init__(None, None, f"WindowKey({key_serde.name})")
        self.inner = key_serde

    def serialize(self, topic, value, headers=None):
        key, start = value
        return self.inner.serialize(topic, key) + _LONG.pack(start) + _SEQNUM

    def deserialize(self, topic, data, headers=None):
        return self.inner.deserialize(topic, data[:-12]), _LONG.unpack_from(data, len(data) - 12)[0]


class TimeWindowedSerde(Serde):
    """Kafka's TimeWindowedSerializer/Deserializer (WindowedSerdes.timeWindowedSerdeFrom): the
    key's bytes followed by the window start; the end is start + the window size."""

    def __init__(self, key_serde: Serde, window_size_ms: int):
        super().__init__(None, None, f"TimeWindowed({getattr(key_serde, 'name', 'default')})")
        self.inner, self.size = key_serde, window_size_ms  # inner None: default.key.serde, filled in by the task

    def resolved(self, default):
        return self if self.inner is not None else TimeWindowedSerde(default, self.size)

    def serialize(self, topic, value: Windowed, headers=None):
        if value is None:
            return None
        return self.inner.serialize(topic, value.key) + _LONG.pack(value.window.start)

    def deserialize(self, topic, data, headers=None):
        if data is None:
            return None
        start = _LONG.unpack_from(data, len(data) - 8)[0]
        return Windowed(self.inner.deserialize(topic, data[:-8]), Window(start, start + self.size))


class WindowedSerdes:
    @staticmethod
    def time_windowed_serde_from(key_serde: Serde, window_size_ms: int) -> Serde:
        return TimeWindowedSerde(key_serde, window_size_ms)

    @staticmethod
    def session_windowed_serde_from(key_serde: Serde) -> Serde:
        return SessionWindowedSerde(key_serde)
