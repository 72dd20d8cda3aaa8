"""Keys and values of the records in `__consumer_offsets`, in Apache Kafka's layout.

Kafka's tooling (kafka-console-consumer's offsets formatter, kcat, Kafka's own loader) reads
this topic by these schemas, so we write exactly them:

- key version 1: OffsetCommitKey (group, topic, partition) -> OffsetCommitValue v3
  (offset, leader epoch, metadata, commit timestamp), or v1 when the commit carried an
  explicit retention (OffsetCommit v2-v4 `retention_time`), which adds an expire timestamp.
- key version 2: GroupMetadataKey (group) -> GroupMetadataValue v3 (protocol type,
  generation, protocol, leader, state timestamp, members with subscription and assignment).
- a null value is a tombstone: the offset or the group is deleted.

All of them are classic non-flexible encodings: big-endian ints, int16-length strings
(-1 = null), int32-length bytes, int32-count arrays. Older value versions are read too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
OFFSET_VALUE_VERSION = 3
OFFSET_VALUE_VERSION_WITH_EXPIRY = 1
GROUP_VALUE_VERSION = 3

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class FormatError(ValueError):
    """A record of `__consumer_offsets` that does not follow any known schema."""


# -- records ----------------------------------------------------------------------


@dataclass(frozen=True)
class OffsetKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True)
class GroupKey:
    group: str


@dataclass(frozen=True)
class OffsetValue:
    offset: int
    leader_epoch: int  # -1 = unknown
    metadata: str
    commit_timestamp: int
    expire_timestamp: int = -1  # -1 = by offsets.retention.minutes


@dataclass(frozen=True)
class MemberValue:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True)
class GroupValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int
    members: list[MemberValue] = field(default_factory=list)


# -- encoding -----------------------------------------------------------------------


def _string(value: str | None) -> bytes:
    if value is None:
        return _I16.pack(-1)
    raw = value.encode("utf-8")
    return _I16.pack(len(raw)) + raw


def _bytes(value: bytes | None) -> bytes:
    if value is None:
        return _I32.pack(-1)
    return _I32.pack(len(value)) + value


def encode_offset_key(group: str, topic: str, partition: int) -> bytes:
    return _I16.pack(OFFSET_COMMIT_KEY_VERSION) + _string(group) + _string(topic) + _I32.pack(partition)


def encode_group_key(group: str) -> bytes:
    return _I16.pack(GROUP_METADATA_KEY_VERSION) + _string(group)


def encode_offset_value(value: OffsetValue) -> bytes:
    if value.expire_timestamp >= 0:
        return (_I16.pack(OFFSET_VALUE_VERSION_WITH_EXPIRY) + _I64.pack(value.offset) + _string(value.metadata)
                + _I64.pack(value.commit_timestamp) + _I64.pack(value.expire_timestamp))
    return (_I16.pack(OFFSET_VALUE_VERSION) + _I64.pack(value.offset) + _I32.pack(value.leader_epoch)
            + _string(value.metadata) + _I64.pack(value.commit_timestamp))


def encode_group_value(value: GroupValue) -> bytes:
    out = [_I16.pack(GROUP_VALUE_VERSION), _string(value.protocol_type), _I32.pack(value.generation),
           _string(value.protocol), _string(value.leader), _I64.pack(value.current_state_timestamp),
           _I32.pack(len(value.members))]
    for m in value.members:
        out += [_string(m.member_id), _string(m.group_instance_id), _string(m.client_id), _string(m.client_host),
                _I32.pack(m.rebalance_timeout), _I32.pack(m.session_timeout), _bytes(m.subscription),
                _bytes(m.assignment)]
    return b"".join(out)


# -- decoding -----------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _unpack(self, s: struct.Struct) -> int:
        if self.pos + s.size > len(self.data):
            raise FormatError("record is truncated")
        (v,) = s.unpack_from(self.data, self.pos)
        self.pos += s.size
        return v

    def i16(self) -> int:
        return self._unpack(_I16)

    def i32(self) -> int:
        return self._unpack(_I32)

    def i64(self) -> int:
        return self._unpack(_I64)

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError("record is truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def string(self) -> str | None:
        n = self.i16()
        if n < 0:
            return None
        try:
            return self._take(n).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"invalid UTF-8 string: {exc}") from None

    def bytes(self) -> bytes | None:
        n = self.i32()
        return None if n < 0 else bytes(self._take(n))


def decode_key(data: bytes) -> OffsetKey | GroupKey | None:
    """The key of a `__consumer_offsets` record; None for record types we do not keep
    (Kafka 4.x writes further types for KIP-848 groups and share groups)."""
    r = _Reader(data)
    version = r.i16()
    if version in (0, 1):
        group, topic, partition = r.string(), r.string(), r.i32()
        if group is None or topic is None:
            raise FormatError("offset commit key with a null group or topic")
        return OffsetKey(group, topic, partition)
    if version == 2:
        group = r.string()
        if group is None:
            raise FormatError("group metadata key with a null group")
        return GroupKey(group)
    return None


def decode_offset_value(data: bytes) -> OffsetValue:
    r = _Reader(data)
    version = r.i16()
    if version not in (0, 1, 2, 3):
        raise FormatError(f"unknown offset commit value version {version}")
    offset = r.i64()
    leader_epoch = r.i32() if version >= 3 else -1
    metadata = r.string() or ""
    commit_timestamp = r.i64()
    expire_timestamp = r.i64() if version == 1 else -1
    return OffsetValue(offset, leader_epoch, metadata, commit_timestamp, expire_timestamp)


def decode_group_value(data: bytes) -> GroupValue:
    r = _Reader(data)
    version = r.i16()
    if version not in (0, 1, 2, 3):
        raise FormatError(f"unknown group metadata value version {version}")
    protocol_type = r.string() or ""
    generation = r.i32()
    protocol = r.string()
    leader = r.string()
    state_timestamp = r.i64() if version >= 2 else -1
    members = []
    for _ in range(r.i32()):
        member_id = r.string() or ""
        instance_id = r.string() if version >= 3 else None
        client_id = r.string() or ""
        client_host = r.string() or ""
        rebalance_timeout = r.i32() if version >= 1 else None
        session_timeout = r.i32()
        if rebalance_timeout is None:  # v0 had none: the session timeout served as both
            rebalance_timeout = session_timeout
        members.append(MemberValue(member_id, instance_id, client_id, client_host, rebalance_timeout,
                                   session_timeout, r.bytes() or b"", r.bytes() or b""))
    return GroupValue(protocol_type, generation, protocol, leader, state_timestamp, members)


# -- placement ----------------------------------------------------------------------


def java_string_hash(value: str) -> int:
    """Java's String.hashCode (over UTF-16 code units, int32 overflow)."""
    h = 0
    raw = value.encode("utf-16-be")
    for i in range(0, len(raw), 2):
        h = (31 * h + ((raw[i] << 8) | raw[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(group_id: str, partitions: int) -> int:
    """The `__consumer_offsets` partition of a group, as Kafka computes it
    (Utils.abs(groupId.hashCode) % offsets.topic.num.partitions)."""
    return (java_string_hash(group_id) & 0x7FFFFFFF) % partitions
