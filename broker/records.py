"""Kafka RecordBatch v2 (magic 2): header parsing and patching, CRC-32C, record codec.

On the produce and fetch hot paths a batch stays opaque bytes: the broker reads its
61-byte header, verifies the CRC and patches baseOffset / partitionLeaderEpoch (both
outside the CRC). Only compaction, LogAppendTime and control batches need more: the
record-level encoder and decoder below serve those and the tests.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

import cramjam
import crc32c
import lz4.frame

HEADER_SIZE = 61
# Bytes before the length field's end: baseOffset (8) + length (4).
LOG_OVERHEAD = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
CRC_COVERED_FROM = ATTRIBUTES_OFFSET

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08  # 1 = LogAppendTime
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20
DELETE_HORIZON_BIT = 0x40

NO_COMPRESSION, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODEC_NAMES = {NO_COMPRESSION: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1

# baseOffset q, length i, partitionLeaderEpoch i, magic b, crc I, attributes h,
# lastOffsetDelta i, baseTimestamp q, maxTimestamp q, producerId q, producerEpoch h,
# baseSequence i, recordCount i
_HEADER = struct.Struct(">qiibIhiqqqhii")
_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")


class InvalidBatch(ValueError):
    """A batch that cannot be accepted. `error` names the Kafka error code to answer."""

    def __init__(self, message: str, error: str = "CORRUPT_MESSAGE"):
        super().__init__(message)
        self.error = error


class BatchHeader(NamedTuple):
    base_offset: int
    length: int  # bytes after the length field
    leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def size(self) -> int:
        """Total bytes of the batch on the wire / on disk."""
        return self.length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) & 0x7FFFFFFF


def parse_header(buf, pos: int = 0) -> BatchHeader:
    return BatchHeader._make(_HEADER.unpack_from(buf, pos))


def batch_size_at(buf, pos: int) -> int:
    """Size of the batch starting at `pos` from its length field (no further checks)."""
    return _INT32.unpack_from(buf, pos + 8)[0] + LOG_OVERHEAD


def compute_crc(buf, pos: int = 0, size: int | None = None) -> int:
    if size is None:
        size = len(buf) - pos
    return crc32c.crc32c(memoryview(buf)[pos + CRC_COVERED_FROM : pos + size])


def check_batch(buf, pos: int = 0) -> BatchHeader:
    """Parse and verify one batch at `pos` (its bytes must all be present)."""
    if len(buf) - pos < HEADER_SIZE:
        raise InvalidBatch("record batch shorter than its 61-byte header")
    header = parse_header(buf, pos)
    if header.magic != 2:
        raise InvalidBatch(f"unsupported record batch magic {header.magic}", "UNSUPPORTED_FOR_MESSAGE_FORMAT")
    if header.length < HEADER_SIZE - LOG_OVERHEAD or pos + header.size > len(buf):
        raise InvalidBatch("record batch length does not match its bytes")
    if header.last_offset_delta < 0 or header.record_count < 0:
        raise InvalidBatch("record batch has a negative record count")
    actual = compute_crc(buf, pos, header.size)
    if actual != header.crc:
        raise InvalidBatch(f"record batch CRC mismatch: header says {header.crc:#010x}, bytes give {actual:#010x}")
    return header


def iter_batches(buf, pos: int = 0, end: int | None = None) -> Iterator[tuple[int, BatchHeader]]:
    """Yield (position, header) of each complete batch; stop at a partial one."""
    if end is None:
        end = len(buf)
    while end - pos >= HEADER_SIZE:
        header = parse_header(buf, pos)
        if header.length < HEADER_SIZE - LOG_OVERHEAD or pos + header.size > end:
            return
        yield pos, header
        pos += header.size


def set_base_offset(buf: bytearray, base_offset: int, pos: int = 0) -> None:
    _INT64.pack_into(buf, pos, base_offset)


def set_leader_epoch(buf: bytearray, epoch: int, pos: int = 0) -> None:
    _INT32.pack_into(buf, pos + 12, epoch)


def set_log_append_time(buf: bytearray, timestamp_ms: int, pos: int = 0) -> None:
    """Mark the batch LogAppendTime with `timestamp_ms`; these bytes are covered by the CRC."""
    header = parse_header(buf, pos)
    _INT16.pack_into(buf, pos + ATTRIBUTES_OFFSET, header.attributes | TIMESTAMP_TYPE_BIT)
    _INT64.pack_into(buf, pos + 35, timestamp_ms)  # maxTimestamp
    _UINT32.pack_into(buf, pos + CRC_OFFSET, compute_crc(buf, pos, header.size))


# ---------------------------------------------------------------------------
# Records inside a batch
# ---------------------------------------------------------------------------


@dataclass
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


def _zigzag_encode(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def write_varint(out: bytearray, n: int) -> None:
    v = _zigzag_encode(n) & 0xFFFFFFFFFFFFFFFF
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def read_varint(buf, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise InvalidBatch("truncated varint in record")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise InvalidBatch("varint too long in record")
    return (result >> 1) ^ -(result & 1), pos


def _read_nullable_bytes(buf, pos: int) -> tuple[bytes | None, int]:
    length, pos = read_varint(buf, pos)
    if length < 0:
        return None, pos
    if pos + length > len(buf):
        raise InvalidBatch("record field runs past the end of the batch")
    return bytes(buf[pos : pos + length]), pos + length


def _snappy_decompress(data: bytes) -> bytes:
    # The Java client writes snappy-java's "xerial" framing; librdkafka reads and may write it too.
    if data[:8] == b"\x82SNAPPY\x00":
        out = bytearray()
        pos = 16
        while pos < len(data):
            (chunk,) = _INT32.unpack_from(data, pos)
            pos += 4
            out += bytes(cramjam.snappy.decompress_raw(data[pos : pos + chunk]))
            pos += chunk
        return bytes(out)
    return bytes(cramjam.snappy.decompress_raw(data))


def decompress(codec: int, data) -> memoryview:
    """The records section of a batch, decompressed, as a buffer (no extra copy)."""
    try:
        if codec == NO_COMPRESSION:
            return memoryview(data)
        if codec == GZIP:
            return memoryview(zlib.decompress(data, 47))  # auto-detect gzip/zlib header
        if codec == SNAPPY:
            return memoryview(_snappy_decompress(bytes(data)))
        if codec == LZ4:
            return memoryview(lz4.frame.decompress(data))  # python-lz4: ~30x cramjam's frame decoder
        if codec == ZSTD:
            return memoryview(cramjam.zstd.decompress(data))
    except InvalidBatch:
        raise
    except Exception as exc:  # the codecs raise assorted types on corrupt input
        raise InvalidBatch(f"cannot decompress {CODEC_NAMES[codec]} batch: {exc}") from exc
    raise InvalidBatch(f"unknown compression codec {codec}")


CODECS_BY_NAME = {"uncompressed": NO_COMPRESSION, "gzip": GZIP, "snappy": SNAPPY, "lz4": LZ4, "zstd": ZSTD}


def compress(codec: int, data: bytes, level: int | None = None) -> bytes:
    """`level`: the codec's compression level (None, or -1 for gzip: the codec's default)."""
    if codec == NO_COMPRESSION:
        return data
    if codec == GZIP:
        c = zlib.compressobj(6 if level is None or level == -1 else level, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()
    if codec == SNAPPY:
        return bytes(cramjam.snappy.compress_raw(data))
    if codec == LZ4:
        return lz4.frame.compress(data) if level is None else lz4.frame.compress(data, compression_level=level)
    if codec == ZSTD:
        return bytes(cramjam.zstd.compress(data) if level is None else cramjam.zstd.compress(data, level=level))
    raise ValueError(f"unknown compression codec {codec}")


def recompress(batch, codec: int, level: int | None) -> bytearray:
    """The batch with its records compressed with `codec` instead (a topic whose compression.type
    is not `producer`): same offsets, timestamps, producer and transactional attributes."""
    header = parse_header(batch)
    recs = decode_records(batch)
    return encode_batch(recs, base_offset=header.base_offset, codec=codec, level=level,
                        attributes=header.attributes, producer_id=header.producer_id,
                        producer_epoch=header.producer_epoch, base_sequence=header.base_sequence,
                        leader_epoch=header.leader_epoch, last_offset_delta=header.last_offset_delta,
                        max_timestamp=header.max_timestamp)


def decode_records(batch, pos: int = 0) -> list[Record]:
    """Decode every record of the batch at `pos` (decompressing if needed)."""
    header = parse_header(batch, pos)
    body = decompress(header.compression, memoryview(batch)[pos + HEADER_SIZE : pos + header.size])
    records = []
    p = 0
    for _ in range(header.record_count):
        length, p = read_varint(body, p)
        end = p + length
        if length < 0 or end > len(body):
            raise InvalidBatch("record length runs past the end of the batch")
        p += 1  # record attributes, unused
        ts_delta, p = read_varint(body, p)
        off_delta, p = read_varint(body, p)
        key, p = _read_nullable_bytes(body, p)
        value, p = _read_nullable_bytes(body, p)
        count, p = read_varint(body, p)
        headers = []
        for _ in range(count):
            hkey, p = _read_nullable_bytes(body, p)
            hval, p = _read_nullable_bytes(body, p)
            headers.append(((hkey or b"").decode("utf-8", "replace"), hval))
        if p != end:
            raise InvalidBatch("record length does not match its fields")
        records.append(Record(header.base_offset + off_delta, header.base_timestamp + ts_delta, key, value, headers))
    return records


def _encode_record(out: bytearray, offset_delta: int, ts_delta: int, rec: Record) -> None:
    body = bytearray()
    body.append(0)
    write_varint(body, ts_delta)
    write_varint(body, offset_delta)
    for blob in (rec.key, rec.value):
        if blob is None:
            write_varint(body, -1)
        else:
            write_varint(body, len(blob))
            body += blob
    write_varint(body, len(rec.headers))
    for hkey, hval in rec.headers:
        kb = hkey.encode()
        write_varint(body, len(kb))
        body += kb
        if hval is None:
            write_varint(body, -1)
        else:
            write_varint(body, len(hval))
            body += hval
    write_varint(out, len(body))
    out += body


def encode_batch(
    records: list[Record],
    *,
    base_offset: int | None = None,
    codec: int = NO_COMPRESSION,
    level: int | None = None,
    attributes: int = 0,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    leader_epoch: int = 0,
    last_offset_delta: int | None = None,
    max_timestamp: int | None = None,
) -> bytearray:
    """Build a RecordBatch v2. Record offsets are kept relative to `base_offset`
    (default: the first record's), so compaction can keep the original offsets."""
    if not records:
        raise ValueError("a batch needs at least one record")
    if base_offset is None:
        base_offset = records[0].offset
    base_ts = min(r.timestamp for r in records)
    body = bytearray()
    for rec in records:
        _encode_record(body, rec.offset - base_offset, rec.timestamp - base_ts, rec)
    payload = compress(codec, bytes(body), level)
    if last_offset_delta is None:
        last_offset_delta = records[-1].offset - base_offset
    if max_timestamp is None:
        max_timestamp = max(r.timestamp for r in records)
    attrs = (attributes & ~COMPRESSION_MASK) | codec
    length = HEADER_SIZE - LOG_OVERHEAD + len(payload)
    buf = bytearray(_HEADER.pack(
        base_offset, length, leader_epoch, 2, 0, attrs, last_offset_delta, base_ts,
        max_timestamp, producer_id, producer_epoch, base_sequence, len(records),
    ))
    buf += payload
    _UINT32.pack_into(buf, CRC_OFFSET, compute_crc(buf))
    return buf


# Control records (transaction markers)
CONTROL_ABORT, CONTROL_COMMIT = 0, 1


def encode_control_batch(
    marker: int, *, producer_id: int, producer_epoch: int, coordinator_epoch: int,
    base_offset: int = 0, timestamp: int,
) -> bytearray:
    key = struct.pack(">hh", 0, marker)
    value = struct.pack(">hi", 0, coordinator_epoch)
    return encode_batch(
        [Record(base_offset, timestamp, key, value)],
        attributes=TRANSACTIONAL_BIT | CONTROL_BIT,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
    )


def marker_coordinator_epoch(record: Record) -> int:
    """The coordinator epoch a COMMIT/ABORT marker's value carries (-1 when it has none)."""
    if record.value is None or len(record.value) < 6:
        return -1
    return struct.unpack_from(">hi", record.value)[1]


def control_marker(record: Record) -> int | None:
    """COMMIT/ABORT type of a control record, or None if its key is not a marker."""
    if record.key is None or len(record.key) < 4:
        return None
    version, kind = struct.unpack_from(">hh", record.key)
    return kind if version == 0 else None
