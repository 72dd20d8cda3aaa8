"""Confluent's wire format: magic byte 0, 4-byte big-endian schema id, then the payload.

Protobuf payloads carry, after the id, the path of message indexes that names the
message type inside the schema: a zigzag-varint count then zigzag-varint indexes, with
the common [0] written as the single byte 0x00.
"""

from __future__ import annotations

import struct

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")
HEADER_SIZE = HEADER.size


class WireFormatError(ValueError):
    pass


def header(schema_id: int) -> bytes:
    return HEADER.pack(MAGIC_BYTE, schema_id)


def read_header(data: bytes) -> int:
    """The schema id of a framed payload; WireFormatError if it is not framed."""
    if data is None or len(data) < HEADER_SIZE:
        raise WireFormatError(f"payload of {0 if data is None else len(data)} bytes is shorter than the "
                              "5-byte schema id header")
    magic, schema_id = HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise WireFormatError(f"unknown magic byte {magic & 0xFF}: the data was not written by a "
                              "schema registry serializer")
    return schema_id


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def write_zigzag_varint(out: bytearray, n: int) -> None:
    v = _zigzag(n) & 0xFFFFFFFFFFFFFFFF
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def read_zigzag_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireFormatError("truncated varint in the message index path")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise WireFormatError("varint too long in the message index path")


def encode_message_indexes(indexes: list[int]) -> bytes:
    if indexes == [0]:
        return b"\x00"
    out = bytearray()
    write_zigzag_varint(out, len(indexes))
    for i in indexes:
        write_zigzag_varint(out, i)
    return bytes(out)


def decode_message_indexes(data: bytes, pos: int) -> tuple[list[int], int]:
    count, pos = read_zigzag_varint(data, pos)
    if count == 0:
        return [0], pos
    if count < 0 or count > len(data) - pos:
        raise WireFormatError(f"invalid message index count {count}")
    indexes = []
    for _ in range(count):
        i, pos = read_zigzag_varint(data, pos)
        indexes.append(i)
    return indexes, pos
