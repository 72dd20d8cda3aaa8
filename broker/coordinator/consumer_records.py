"""The `__consumer_offsets` records of consumer-protocol (KIP-848) groups, in Kafka 4's layout.

Kafka's group coordinator writes one record per piece of state, and so do we:

  key type 3  ConsumerGroupMetadataKey (group)                -> value: group epoch
  key type 5  ConsumerGroupMemberMetadataKey (group, member)  -> instance id, rack id, client id and
              host, subscribed topic names and regex, rebalance timeout, server assignor; tagged
              field 0: a classic member's session timeout and JoinGroup protocols
  key type 6  ConsumerGroupTargetAssignmentMetadataKey (group) -> value: assignment epoch
  key type 7  ConsumerGroupTargetAssignmentMemberKey (group, member) -> the member's target partitions
  key type 8  ConsumerGroupCurrentMemberAssignmentKey (group, member) -> member epoch, previous
              epoch, state, assigned partitions and partitions pending revocation

Keys are classic encodings (int16 type, int16-length strings); values are flexible version 0
(compact strings and arrays, uuids, a trailing tagged-field section: unknown tags are skipped
when read; tag 0 of the member metadata, a classic member's metadata, is written as Kafka
does). Partitions are stored by topic id, as in Kafka; records hold topic names, translated
at encoding and decoding. A null value is a tombstone. Type 4 (subscription metadata,
superseded by a metadata hash in Kafka 4.1) and 16 (regex resolution cache) are not written:
both are recomputed from the topics; Kafka's are skipped when read.
"""

from __future__ import annotations

import base64
import struct
import uuid
from dataclasses import dataclass, field
from typing import Callable

from broker.coordinator.messages import FormatError
from broker.protocol.codec import uvarint

GROUP_EPOCH, MEMBER_METADATA, TARGET_EPOCH, TARGET_MEMBER, CURRENT_ASSIGNMENT = 3, 5, 6, 7, 8
WITH_MEMBER = (MEMBER_METADATA, TARGET_MEMBER, CURRENT_ASSIGNMENT)
TYPES = (GROUP_EPOCH, MEMBER_METADATA, TARGET_EPOCH, TARGET_MEMBER, CURRENT_ASSIGNMENT)
VALUE_VERSION = 0

Partitions = dict[str, set[int]]  # topic name -> partitions


@dataclass(frozen=True)
class Epoch:
    epoch: int


@dataclass(frozen=True)
class MemberMetadata:
    instance_id: str | None
    rack_id: str | None
    client_id: str
    client_host: str
    subscribed_topic_names: tuple[str, ...]
    subscribed_topic_regex: str | None
    rebalance_timeout_ms: int
    server_assignor: str | None
    classic: ClassicMetadata | None = None  # tagged field 0: a member using the classic protocol


@dataclass(frozen=True)
class ClassicMetadata:
    """What a classic-protocol member of a consumer group joined with (KIP-848 migration)."""
    session_timeout_ms: int
    protocols: tuple[tuple[str, bytes], ...]  # (name, embedded consumer protocol metadata)


@dataclass(frozen=True)
class TargetAssignment:
    partitions: Partitions


@dataclass(frozen=True)
class CurrentAssignment:
    member_epoch: int
    previous_member_epoch: int
    state: int  # Kafka's MemberState byte
    assigned: Partitions = field(default_factory=dict)
    pending_revocation: Partitions = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    type: int
    group_id: str
    member_id: str | None  # for the per-member types
    value: Epoch | MemberMetadata | TargetAssignment | CurrentAssignment | None  # None: tombstone


# -- encoding -----------------------------------------------------------------------------

_I16, _I32, _I64 = struct.Struct(">h"), struct.Struct(">i"), struct.Struct(">q")


def _compact_string(value: str | None) -> bytes:
    if value is None:
        return b"\x00"
    raw = value.encode("utf-8")
    return uvarint(len(raw) + 1) + raw


def _key_string(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _I16.pack(len(raw)) + raw


def encode_key(record: Record) -> bytes:
    key = _I16.pack(record.type) + _key_string(record.group_id)
    if record.type in WITH_MEMBER:
        key += _key_string(record.member_id or "")
    return key


def _topic_partitions(parts: Partitions, topic_id: Callable[[str], bytes | None]) -> bytes:
    entries = []
    for topic in sorted(parts):
        tid = topic_id(topic)
        if tid is None:  # deleted meanwhile: nothing to keep of it
            continue
        ps = sorted(parts[topic])
        entries.append(tid + uvarint(len(ps) + 1) + b"".join(_I32.pack(p) for p in ps) + b"\x00")
    return uvarint(len(entries) + 1) + b"".join(entries)


def encode_value(record: Record, topic_id: Callable[[str], bytes | None]) -> bytes | None:
    v = record.value
    if v is None:
        return None
    out = [_I16.pack(VALUE_VERSION)]
    if isinstance(v, Epoch):
        out.append(_I32.pack(v.epoch))
    elif isinstance(v, MemberMetadata):
        names = v.subscribed_topic_names
        out += [_compact_string(v.instance_id), _compact_string(v.rack_id), _compact_string(v.client_id),
                _compact_string(v.client_host), uvarint(len(names) + 1),
                b"".join(_compact_string(n) for n in names), _compact_string(v.subscribed_topic_regex),
                _I32.pack(v.rebalance_timeout_ms), _compact_string(v.server_assignor)]
        return b"".join(out) + _member_tags(v.classic)
    elif isinstance(v, TargetAssignment):
        out.append(_topic_partitions(v.partitions, topic_id))
    else:
        out += [_I32.pack(v.member_epoch), _I32.pack(v.previous_member_epoch), struct.pack(">b", v.state),
                _topic_partitions(v.assigned, topic_id), _topic_partitions(v.pending_revocation, topic_id)]
    out.append(b"\x00")  # no tagged fields
    return b"".join(out)


def _member_tags(classic: ClassicMetadata | None) -> bytes:
    """The member metadata's tagged fields, as Kafka 4.1 writes them: tag 0 always, a nullable
    struct (one byte, 1: present, 0: null, then the struct) with a classic member's metadata."""
    out = [b"\x00"]
    if classic is not None:
        out = [b"\x01", _I32.pack(classic.session_timeout_ms), uvarint(len(classic.protocols) + 1)]
        for name, metadata in classic.protocols:
            out += [_compact_string(name), uvarint(len(metadata) + 1), bytes(metadata), b"\x00"]
        out.append(b"\x00")
    tagged = b"".join(out)
    return b"\x01" + uvarint(0) + uvarint(len(tagged)) + tagged


# -- decoding -----------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError("consumer group record is truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, s: struct.Struct) -> int:
        return s.unpack(self.take(s.size))[0]

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 28:
                raise FormatError("varint too long")

    def key_string(self) -> str:
        return self._utf8(self.take(self.unpack(_I16)))

    def compact_string(self) -> str | None:
        n = self.uvarint()
        return None if n == 0 else self._utf8(self.take(n - 1))

    def count(self) -> int:
        n = self.uvarint()
        return 0 if n == 0 else n - 1

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    @staticmethod
    def _utf8(raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"invalid UTF-8 string: {exc}") from None


def decode_key(data: bytes) -> tuple[int, str, str | None] | None:
    """(type, group id, member id) of a consumer group record key; None for other types."""
    r = _Reader(data)
    kind = r.unpack(_I16)
    if kind not in TYPES:
        return None
    group_id = r.key_string()
    return kind, group_id, r.key_string() if kind in WITH_MEMBER else None


def _read_topic_partitions(r: _Reader, topic_name: Callable[[bytes], str | None]) -> Partitions:
    parts: Partitions = {}
    for _ in range(r.count()):
        tid = r.take(16)
        ps = {r.unpack(_I32) for _ in range(r.count())}
        r.skip_tags()
        name = topic_name(tid)
        if name is not None:  # a topic deleted since: its partitions are gone
            parts.setdefault(name, set()).update(ps)
    return parts


def decode(key: tuple[int, str, str | None], data: bytes | None,
           topic_name: Callable[[bytes], str | None]) -> Record:
    kind, group_id, member_id = key
    if data is None:
        return Record(kind, group_id, member_id, None)
    r = _Reader(data)
    version = r.unpack(_I16)
    if version != VALUE_VERSION:
        raise FormatError(f"unknown value version {version} of consumer group record type {kind}")
    if kind in (GROUP_EPOCH, TARGET_EPOCH):
        value = Epoch(r.unpack(_I32))
    elif kind == MEMBER_METADATA:
        instance_id, rack_id = r.compact_string(), r.compact_string()
        client_id, client_host = r.compact_string() or "", r.compact_string() or ""
        names = tuple(r.compact_string() or "" for _ in range(r.count()))
        regex, timeout, assignor = r.compact_string(), r.unpack(_I32), r.compact_string()
        value = MemberMetadata(instance_id, rack_id, client_id, client_host, names, regex, timeout, assignor,
                               _read_member_tags(r))
        return Record(kind, group_id, member_id, value)
    elif kind == TARGET_MEMBER:
        value = TargetAssignment(_read_topic_partitions(r, topic_name))
    else:
        epoch, previous = r.unpack(_I32), r.unpack(_I32)
        state = struct.unpack(">b", r.take(1))[0]
        value = CurrentAssignment(epoch, previous, state, _read_topic_partitions(r, topic_name),
                                  _read_topic_partitions(r, topic_name))
    r.skip_tags()
    return Record(kind, group_id, member_id, value)


def _read_member_tags(r: _Reader) -> ClassicMetadata | None:
    """The member metadata's tagged fields: tag 0 is a classic member's metadata."""
    classic = None
    for _ in range(r.uvarint()):
        tag, size = r.uvarint(), r.uvarint()
        data = r.take(size)
        if tag == 0 and data[:1] == b"\x01":  # not null
            t = _Reader(data)
            t.take(1)
            timeout = t.unpack(_I32)
            protocols = []
            for _ in range(t.count()):
                name = t.compact_string() or ""
                n = t.uvarint()
                protocols.append((name, t.take(n - 1) if n else b""))
                t.skip_tags()
            classic = ClassicMetadata(timeout, tuple(protocols))
    return classic


def random_member_id() -> str:
    """A member id as Kafka's Uuid.randomUuid().toString(): 22 URL-safe base64 characters."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
