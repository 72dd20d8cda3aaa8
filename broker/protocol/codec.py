"""Kafka protocol message codec, compiled from Kafka's JSON message specs.

The `kio` package ships one frozen dataclass per API, version and direction, generated
from Kafka's `clients/src/main/resources/common/message/*.json`. We do not use its
dataclasses at run time: we read their field metadata once (type, nullability, tag,
default, flexible version) and compile a `MessageSpec` per (api, version, direction).
Our own encoder and decoder then work on plain dicts, which is faster to build in
handlers and to encode for large responses, and keeps record batches as raw bytes.

A decoded message is a dict of field name -> value (nested structs are dicts, arrays
are lists). Encoding takes the same shape; a missing key takes Kafka's default for that
field (the spec's default, else zero / empty / null), so handlers fill only what matters.
Tagged fields are written only when present and not None.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from functools import lru_cache
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from kio.index import load_request_schema, load_response_schema
from kio.schema.index import api_key_map


class DecodeError(ValueError):
    """The bytes do not form a valid message of the expected API and version."""


# ---------------------------------------------------------------------------
# Spec compilation
# ---------------------------------------------------------------------------

_PRIMITIVE_KINDS = {
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float64",
    "bool", "string", "bytes", "records", "uuid",
}
# kio's semantic types are plain integers on the wire.
_KIND_ALIASES = {
    "error_code": "int16",
    "timedelta_i32": "int32",
    "timedelta_i64": "int64",
    "datetime_i64": "int64",
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: str  # a primitive kind, or "struct"
    is_array: bool
    nullable: bool
    tag: int | None
    default: Any
    struct: "MessageSpec | None" = None
    # The fewest bytes one value (one element, for an array) can take on the wire: an
    # array's claimed length is checked against it before anything is allocated.
    min_item_size: int = 1


@dataclass(frozen=True, slots=True)
class MessageSpec:
    name: str
    flexible: bool
    fields: tuple[FieldSpec, ...]
    tagged: tuple[FieldSpec, ...]

    @property
    def min_size(self) -> int:
        """Fewest bytes a message of this spec takes: its fields at their smallest."""
        fixed = sum(f.min_item_size if not f.is_array else (1 if self.flexible else 4) for f in self.fields)
        return fixed + (1 if self.flexible else 0)  # the tagged-field count


def _unwrap_optional(tp) -> tuple[Any, bool]:
    if get_origin(tp) in (UnionType, Union):
        args = [a for a in get_args(tp) if a is not NoneType]
        return args[0], len(args) != len(get_args(tp))
    return tp, False


def _plain_default(field: dataclasses.Field) -> Any:
    """The spec default as a plain Python value, or MISSING."""
    if field.default is dataclasses.MISSING:
        return dataclasses.MISSING
    value = field.default
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, tuple) and not value:
        return ()
    # timedelta / datetime / uuid / nested-struct defaults: treat as "absent".
    return dataclasses.MISSING


_FIXED_SIZES = {"int8": 1, "int16": 2, "int32": 4, "int64": 8, "uint8": 1, "uint16": 2, "uint32": 4,
                "uint64": 8, "float64": 8, "bool": 1, "uuid": 16}


def _min_item_size(kind: str, nullable_struct: bool, sub: "MessageSpec | None", flexible: bool) -> int:
    if kind in _FIXED_SIZES:
        return _FIXED_SIZES[kind]
    if kind == "string":
        return 1 if flexible else 2
    if kind in ("bytes", "records"):
        return 1 if flexible else 4
    return 1 if nullable_struct else sub.min_size


def _compile_field(field: dataclasses.Field, flexible: bool) -> FieldSpec:
    tag = field.metadata.get("tag")
    tp, nullable = _unwrap_optional(field.type)
    is_array = get_origin(tp) is tuple
    if is_array:
        tp, _ = _unwrap_optional(get_args(tp)[0])
    if dataclasses.is_dataclass(tp):
        kind, sub = "struct", compile_entity(tp)
    else:
        kind = _KIND_ALIASES.get(field.metadata["kafka_type"], field.metadata["kafka_type"])
        if kind not in _PRIMITIVE_KINDS:
            raise TypeError(f"unsupported kafka type {kind!r} in {field.name}")
        sub = None
    # Array elements are never null (a nullable array's items are not nullable structs).
    min_size = _min_item_size(kind, nullable and not is_array, sub, flexible)
    return FieldSpec(field.name, kind, is_array, nullable, tag, _plain_default(field), sub, min_size)


@lru_cache(maxsize=None)
def compile_entity(entity_type: type) -> MessageSpec:
    flexible = bool(entity_type.__flexible__)
    plain, tagged = [], []
    for f in dataclasses.fields(entity_type):
        spec = _compile_field(f, flexible)
        (tagged if spec.tag is not None else plain).append(spec)
    tagged.sort(key=lambda s: s.tag)
    return MessageSpec(entity_type.__name__, flexible, tuple(plain), tuple(tagged))


@lru_cache(maxsize=None)
def message_spec(api_key: int, version: int, direction: str) -> MessageSpec:
    """Spec of a request ("request") or response ("response") body."""
    load = load_request_schema if direction == "request" else load_response_schema
    cls = load(api_key, version)
    return compile_entity(cls)


def api_name(api_key: int) -> str:
    return api_key_map[api_key]


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------

_S = {k: struct.Struct(">" + c) for k, c in {
    "int8": "b", "int16": "h", "int32": "i", "int64": "q", "uint8": "B", "uint16": "H",
    "uint32": "I", "uint64": "Q", "float64": "d",
}.items()}
_INT16 = _S["int16"]
_INT32 = _S["int32"]


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL_UVARINTS = [uvarint(i) for i in range(256)]


def _uvarint(n: int) -> bytes:
    return _SMALL_UVARINTS[n] if n < 256 else uvarint(n)


class Encoded(bytes):
    """The wire bytes of a whole array field, length prefix included, encoded earlier
    (e.g. Metadata's cached topic entries): written out as they are."""


def _zero(spec: FieldSpec) -> Any:
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.nullable:
        return None
    if spec.is_array:
        return ()
    if spec.kind in ("string",):
        return ""
    if spec.kind in ("bytes", "records"):
        return b""
    if spec.kind == "uuid":
        return bytes(16)
    if spec.kind == "bool":
        return False
    if spec.kind == "float64":
        return 0.0
    if spec.kind == "struct":
        return {}
    return 0


def _encode_length(out: list, n: int | None, flexible: bool, nullable_int16: bool = False) -> None:
    """Length prefix: compact (uvarint n+1, 0 = null) or legacy int32/int16 (-1 = null)."""
    if flexible:
        out.append(_uvarint(0 if n is None else n + 1))
    elif nullable_int16:
        out.append(_INT16.pack(-1 if n is None else n))
    else:
        out.append(_INT32.pack(-1 if n is None else n))


def _encode_scalar(out: list, kind: str, value: Any, flexible: bool, spec: FieldSpec) -> None:
    s = _S.get(kind)
    if s is not None:
        out.append(s.pack(value))
    elif kind == "string":
        if value is None:
            _encode_length(out, None, flexible, True)
        else:
            b = value.encode("utf-8")
            _encode_length(out, len(b), flexible, True)
            out.append(b)
    elif kind in ("bytes", "records"):
        if value is None:
            _encode_length(out, None, flexible)
        else:
            _encode_length(out, len(value), flexible)
            out.append(value)
    elif kind == "bool":
        out.append(b"\x01" if value else b"\x00")
    elif kind == "uuid":
        out.append(bytes(value) if value else bytes(16))
    elif kind == "struct":
        if spec.nullable and not spec.is_array:
            if value is None:
                out.append(b"\xff")
                return
            out.append(b"\x01")
        _encode_message(out, spec.struct, value)
    else:  # pragma: no cover - compile_entity rejects unknown kinds
        raise TypeError(kind)


def _encode_field(out: list, spec: FieldSpec, value: Any, flexible: bool) -> None:
    if spec.is_array:
        if value.__class__ is Encoded:
            out.append(value)
            return
        if value is None:
            _encode_length(out, None, flexible)
            return
        _encode_length(out, len(value), flexible)
        kind = spec.kind
        for item in value:
            _encode_scalar(out, kind, item, flexible, spec)
    else:
        _encode_scalar(out, spec.kind, value, flexible, spec)


def _encode_message(out: list, spec: MessageSpec, msg: dict) -> None:
    flexible = spec.flexible
    for f in spec.fields:
        value = msg.get(f.name, dataclasses.MISSING)
        if value is dataclasses.MISSING:
            value = _zero(f)
        _encode_field(out, f, value, flexible)
    if flexible:
        present = [(f, msg[f.name]) for f in spec.tagged if msg.get(f.name) is not None]
        out.append(_uvarint(len(present)))
        for f, value in present:
            sub: list = []
            _encode_field(sub, f, value, True)
            body = b"".join(sub)
            out.append(_uvarint(f.tag))
            out.append(_uvarint(len(body)))
            out.append(body)


def encode(spec: MessageSpec, msg: dict) -> list:
    """Encode `msg` to a list of byte chunks (join or writelines them)."""
    out: list = []
    _encode_message(out, spec, msg)
    return out


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


class TooManyEntries(DecodeError):
    """The request's arrays hold more elements than the broker takes in one request."""


class LargeRequest(Exception):
    """Raised by decode() when `large_entries` is passed: this message has more array
    elements than that. The caller decodes it again off the event loop."""


class Reader:
    __slots__ = ("buf", "pos", "entries", "max_entries", "large_entries")

    def __init__(self, buf, pos: int = 0, max_entries: int | None = None, large_entries: int | None = None):
        self.buf = buf
        self.pos = pos
        self.entries = 0  # array elements decoded so far, all arrays of the message together
        self.max_entries = max_entries
        self.large_entries = large_entries

    def count_entries(self, n: int, spec: "FieldSpec") -> None:
        if n * spec.min_item_size > len(self.buf) - self.pos:
            raise DecodeError(f"{spec.name}: {n} elements cannot fit in the {len(self.buf) - self.pos} bytes left")
        self.entries += n
        if self.max_entries is not None and self.entries > self.max_entries:
            raise TooManyEntries(f"more than {self.max_entries} array elements in one request "
                                 "(schemabus.request.max.array.entries)")
        if self.large_entries is not None and self.entries > self.large_entries:
            raise LargeRequest()

    def take(self, n: int):
        end = self.pos + n
        if n < 0 or end > len(self.buf):
            raise DecodeError("message is truncated")
        chunk = self.buf[self.pos:end]
        self.pos = end
        return chunk

    def unpack(self, s: struct.Struct):
        if self.pos + s.size > len(self.buf):
            raise DecodeError("message is truncated")
        (v,) = s.unpack_from(self.buf, self.pos)
        self.pos += s.size
        return v

    def uvarint(self) -> int:
        result = shift = 0
        buf = self.buf
        while True:
            if self.pos >= len(buf):
                raise DecodeError("message is truncated")
            b = buf[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 35:
                raise DecodeError("varint is too long")

    def length(self, flexible: bool, int16: bool = False) -> int | None:
        if flexible:
            n = self.uvarint() - 1
        else:
            n = self.unpack(_INT16 if int16 else _INT32)
        if n < -1:
            raise DecodeError(f"negative length {n}")
        if n > len(self.buf) - self.pos and n != -1 and not int16:
            # Arrays and bytes can never be longer than what is left (each item >= 1 byte).
            raise DecodeError(f"length {n} runs past the end of the message")
        return None if n == -1 else n


def _decode_scalar(r: Reader, kind: str, flexible: bool, spec: FieldSpec) -> Any:
    s = _S.get(kind)
    if s is not None:
        return r.unpack(s)
    if kind == "string":
        n = r.length(flexible, int16=True)
        if n is None:
            return _null(spec)
        try:
            return bytes(r.take(n)).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"invalid UTF-8 in {spec.name}") from exc
    if kind == "bytes":
        n = r.length(flexible)
        return _null(spec) if n is None else bytes(r.take(n))
    if kind == "records":
        # Not copied: a slice of the message's buffer (a memoryview when the server read the
        # request into a buffer of its own, which the produce path then patches in place).
        n = r.length(flexible)
        return _null(spec) if n is None else r.take(n)
    if kind == "bool":
        return r.take(1)[0] != 0
    if kind == "uuid":
        return bytes(r.take(16))
    if kind == "struct":
        if spec.nullable and not spec.is_array:
            if r.unpack(_S["int8"]) < 0:
                return None
        return _decode_message(r, spec.struct)
    raise TypeError(kind)  # pragma: no cover


def _null(spec: FieldSpec) -> None:
    """A null on the wire: fine where the spec allows it, a malformed message elsewhere
    (Kafka's generated readers reject it the same way)."""
    if not spec.nullable:
        raise DecodeError(f"non-nullable field {spec.name} was serialized as null")
    return None


def _decode_field(r: Reader, spec: FieldSpec, flexible: bool) -> Any:
    if spec.is_array:
        n = r.length(flexible)
        if n is None:
            return _null(spec)
        r.count_entries(n, spec)
        kind = spec.kind
        return [_decode_scalar(r, kind, flexible, spec) for _ in range(n)]
    return _decode_scalar(r, spec.kind, flexible, spec)


def _skip_tagged(r: Reader, spec: MessageSpec, msg: dict) -> None:
    count = r.uvarint()
    by_tag = {f.tag: f for f in spec.tagged}
    for _ in range(count):
        tag = r.uvarint()
        size = r.uvarint()
        field = by_tag.get(tag)
        if field is None:
            r.take(size)  # unknown tags are skipped, as Kafka does
            continue
        sub = Reader(r.take(size), 0, r.max_entries, r.large_entries)
        sub.entries = r.entries
        msg[field.name] = _decode_field(sub, field, True)
        r.entries = sub.entries


def _decode_message(r: Reader, spec: MessageSpec) -> dict:
    flexible = spec.flexible
    msg = {f.name: _decode_field(r, f, flexible) for f in spec.fields}
    if flexible:
        _skip_tagged(r, spec, msg)
    return msg


def decode(spec: MessageSpec, buf, pos: int = 0, max_entries: int | None = None,
           large_entries: int | None = None) -> tuple[dict, int]:
    """Decode one message at `pos`; returns (message, position after it).

    `max_entries` bounds the array elements of the whole message (TooManyEntries past
    it); past `large_entries` decoding stops with LargeRequest, so that the caller can
    finish big messages in a thread instead of on the event loop."""
    r = Reader(buf, pos, max_entries, large_entries)
    try:
        msg = _decode_message(r, spec)
    except (IndexError, struct.error) as exc:
        raise DecodeError(str(exc)) from exc
    return msg, r.pos


# ---------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


_HEADER_FIXED = struct.Struct(">hhi")


def decode_request_header(buf, flexible_of) -> tuple[RequestHeader, int]:
    """Request header v1 (v2 adds tagged fields when the API version is flexible).

    `flexible_of(api_key, version)` says whether that request version is flexible; it
    returns None for an unknown api/version, in which case the tagged fields are not
    parsed (the caller answers with an error using only the fixed part).
    """
    if len(buf) < _HEADER_FIXED.size + 2:
        raise DecodeError("request header is truncated")
    api_key, api_version, correlation_id = _HEADER_FIXED.unpack_from(buf, 0)
    r = Reader(buf, _HEADER_FIXED.size)
    # client_id stays a legacy nullable int16 string even in header v2.
    n = r.length(False, int16=True)
    client_id = None if n is None else bytes(r.take(n)).decode("utf-8", "replace")
    header = RequestHeader(api_key, api_version, correlation_id, client_id)
    if flexible_of(api_key, api_version):
        count = r.uvarint()
        for _ in range(count):
            r.uvarint()
            r.take(r.uvarint())
    return header, r.pos


def response_header(correlation_id: int, flexible: bool) -> bytes:
    """Response header v0, or v1 (empty tagged fields) for flexible versions."""
    return _INT32.pack(correlation_id) + (b"\x00" if flexible else b"")
