"""The embedded consumer protocol: what a classic consumer puts in its JoinGroup metadata and
reads from its SyncGroup assignment (Kafka's ConsumerProtocolSubscription and
ConsumerProtocolAssignment, versions 0 to 3).

The coordinator reads them only for classic members of a consumer group (KIP-848 migration):
their subscription comes from the JoinGroup metadata and their assignment is computed by the
server, so it writes the SyncGroup answer itself.

  Subscription: version int16, topics [string], user_data bytes, owned_partitions
                [topic string, partitions [int32]] (v1+), generation_id int32 (v2+),
                rack_id nullable string (v3+)
  Assignment:   version int16, assigned_partitions [topic string, partitions [int32]], user_data bytes

A newer version than 3 is read as version 3 (its new fields come last), as Kafka does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

LATEST_VERSION = 3

_I16, _I32 = struct.Struct(">h"), struct.Struct(">i")

Partitions = dict[str, set[int]]  # topic name -> partitions


class MalformedProtocol(ValueError):
    pass


@dataclass(frozen=True)
class Subscription:
    version: int
    topics: tuple[str, ...]
    owned: Partitions = field(default_factory=dict)
    rack_id: str | None = None


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = bytes(data), 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MalformedProtocol("the embedded consumer protocol is truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, s: struct.Struct) -> int:
        return s.unpack(self.take(s.size))[0]

    def string(self) -> str | None:
        n = self.unpack(_I16)
        if n < 0:
            return None
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedProtocol("a string of the embedded consumer protocol is not UTF-8") from None

    def count(self) -> int:
        n = self.unpack(_I32)
        return max(n, 0)

    def skip_bytes(self) -> None:
        n = self.unpack(_I32)
        if n > 0:
            self.take(n)


def version_of(data: bytes) -> int:
    """The version a member's metadata is written in (its assignment is answered in it)."""
    if len(data) < 2:
        raise MalformedProtocol("the embedded consumer protocol has no version")
    return _I16.unpack_from(data)[0]


def decode_subscription(data: bytes) -> Subscription:
    r = _Reader(data)
    version = r.unpack(_I16)
    if version < 0:
        raise MalformedProtocol(f"invalid consumer protocol version {version}")
    topics = tuple(r.string() or "" for _ in range(r.count()))
    r.skip_bytes()  # user data: the client-side assignor's, not the coordinator's
    owned: Partitions = {}
    rack_id = None
    if version >= 1:
        owned = _read_partitions(r)
    if version >= 2:
        r.unpack(_I32)  # generation id
    if version >= 3:
        rack_id = r.string()
    return Subscription(version, topics, owned, rack_id)


def decode_assignment(data: bytes) -> Partitions:
    """The partitions of a classic member's assignment (an empty one: none)."""
    return _decode_assignment(data)[0]


def assignment_user_data(data: bytes) -> bytes | None:
    """The user data a client-side assignor put in an assignment (None: none)."""
    return _decode_assignment(data)[1]


def _decode_assignment(data: bytes) -> tuple[Partitions, bytes | None]:
    if not data:
        return {}, None
    r = _Reader(data)
    if r.unpack(_I16) < 0:
        raise MalformedProtocol("invalid consumer protocol version")
    parts = _read_partitions(r)
    n = r.unpack(_I32)
    return parts, (r.take(n) if n >= 0 else None)


def encode_assignment(partitions: Partitions, version: int) -> bytes:
    version = min(max(version, 0), LATEST_VERSION)
    out = [_I16.pack(version), _I32.pack(len([t for t in partitions if partitions[t]]))]
    for topic in sorted(partitions):
        ps = sorted(partitions[topic])
        if not ps:
            continue
        raw = topic.encode("utf-8")
        out += [_I16.pack(len(raw)), raw, _I32.pack(len(ps)), *(_I32.pack(p) for p in ps)]
    out.append(_I32.pack(-1))  # no user data
    return b"".join(out)


def _read_partitions(r: _Reader) -> Partitions:
    parts: Partitions = {}
    for _ in range(r.count()):
        topic = r.string() or ""
        parts.setdefault(topic, set()).update(r.unpack(_I32) for _ in range(r.count()))
    return parts
