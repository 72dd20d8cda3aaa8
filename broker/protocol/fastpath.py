"""Hand-written codecs for the hot path: Produce requests and responses.

The spec-driven codec (codec.py) walks field specs for every value, which costs tens of
microseconds per produce request and as much again for its response: at small batches
(many requests per GB) that was a large share of the broker's CPU per byte. These do the
same for Produce v3-v13 with a few struct calls (v11 and v12 differ from v10 only in
what they promise about errors and transactions, not on the wire; v13 names topics by id).

They only ever take the common shape, and give up (return None) on anything else, in
which case the caller runs the generic codec, which then decides (and raises the same
errors as always): a fast path never accepts what the generic decoder would refuse, nor
decodes to anything different. tests/unit/test_fastpath.py checks both against each other.
"""

from __future__ import annotations

import struct

PRODUCE = 0
MIN_VERSION, MAX_VERSION = 3, 13
FLEXIBLE_FROM = 9
TOPIC_IDS_FROM = 13  # topics named by their 16-byte id instead of their name
_UUID_SIZE = 16
# More array entries than this go to the generic decoder (its limits and off-loop decoding).
MAX_FAST_ENTRIES = 1000

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_HI = struct.Struct(">hi")  # acks, timeout
_PARTITION_V3 = struct.Struct(">ihq")  # index, error_code, base_offset
_I64 = struct.Struct(">q")
_I64_I64 = struct.Struct(">qq")


class _GiveUp(Exception):
    pass


def _uvarint(buf, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 35:
            raise _GiveUp


def decode_produce_request(buf, pos: int, version: int, max_entries: int | None) -> dict | None:
    """The Produce request at `pos` (after the request header) as codec.decode would
    return it, or None to leave it to codec.decode."""
    if not MIN_VERSION <= version <= MAX_VERSION:
        return None
    limit = MAX_FAST_ENTRIES if max_entries is None else min(max_entries, MAX_FAST_ENTRIES)
    end = len(buf)
    try:
        if version >= FLEXIBLE_FROM:
            return _decode_flexible(buf, pos, end, limit, version >= TOPIC_IDS_FROM)
        return _decode_legacy(buf, pos, end, limit)
    except (_GiveUp, IndexError, struct.error, UnicodeDecodeError):
        return None


def _decode_legacy(buf, pos: int, end: int, limit: int) -> dict:
    n = _I16.unpack_from(buf, pos)[0]
    pos += 2
    if n == -1:
        transactional_id = None
    elif n < 0 or pos + n > end:
        raise _GiveUp
    else:
        transactional_id = bytes(buf[pos:pos + n]).decode("utf-8")
        pos += n
    acks, timeout = _HI.unpack_from(buf, pos)
    pos += 6
    ntopics = _I32.unpack_from(buf, pos)[0]
    pos += 4
    if ntopics < 0 or ntopics > limit:
        raise _GiveUp
    entries = ntopics
    topics = []
    for _ in range(ntopics):
        n = _I16.unpack_from(buf, pos)[0]
        pos += 2
        if n < 0 or pos + n > end:
            raise _GiveUp
        name = bytes(buf[pos:pos + n]).decode("utf-8")
        pos += n
        nparts = _I32.unpack_from(buf, pos)[0]
        pos += 4
        entries += nparts
        if nparts < 0 or entries > limit:
            raise _GiveUp
        parts = []
        for _ in range(nparts):
            index, size = _I32.unpack_from(buf, pos)[0], _I32.unpack_from(buf, pos + 4)[0]
            pos += 8
            if size == -1:
                records = None
            elif size < 0 or pos + size > end:
                raise _GiveUp
            else:
                records = buf[pos:pos + size]
                pos += size
            parts.append({"index": index, "records": records})
        topics.append({"name": name, "partition_data": parts})
    return {"transactional_id": transactional_id, "acks": acks, "timeout": timeout, "topic_data": topics}


def _no_tagged_fields(buf, pos: int) -> int:
    if buf[pos] != 0:
        raise _GiveUp  # tagged fields (none are defined for Produce): the generic path skips them
    return pos + 1


def _decode_flexible(buf, pos: int, end: int, limit: int, topic_ids: bool) -> dict:
    n, pos = _uvarint(buf, pos)
    if n == 0:
        transactional_id = None
    elif pos + n - 1 > end:
        raise _GiveUp
    else:
        transactional_id = bytes(buf[pos:pos + n - 1]).decode("utf-8")
        pos += n - 1
    acks, timeout = _HI.unpack_from(buf, pos)
    pos += 6
    ntopics, pos = _uvarint(buf, pos)
    ntopics -= 1
    if ntopics < 0 or ntopics > limit:
        raise _GiveUp
    entries = ntopics
    topics = []
    for _ in range(ntopics):
        if topic_ids:
            if pos + _UUID_SIZE > end:
                raise _GiveUp
            topic = {"topic_id": bytes(buf[pos:pos + _UUID_SIZE])}
            pos += _UUID_SIZE
        else:
            n, pos = _uvarint(buf, pos)
            if n == 0 or pos + n - 1 > end:
                raise _GiveUp
            topic = {"name": bytes(buf[pos:pos + n - 1]).decode("utf-8")}
            pos += n - 1
        nparts, pos = _uvarint(buf, pos)
        nparts -= 1
        entries += nparts
        if nparts < 0 or entries > limit:
            raise _GiveUp
        parts = []
        for _ in range(nparts):
            index = _I32.unpack_from(buf, pos)[0]
            size, pos = _uvarint(buf, pos + 4)
            if size == 0:
                records = None
            elif pos + size - 1 > end:
                raise _GiveUp
            else:
                records = buf[pos:pos + size - 1]
                pos += size - 1
            pos = _no_tagged_fields(buf, pos)
            parts.append({"index": index, "records": records})
        pos = _no_tagged_fields(buf, pos)
        topic["partition_data"] = parts
        topics.append(topic)
    _no_tagged_fields(buf, pos)
    return {"transactional_id": transactional_id, "acks": acks, "timeout": timeout, "topic_data": topics}


# ---------------------------------------------------------------------------
# Response
# ---------------------------------------------------------------------------


def _compact_len(n: int) -> bytes:
    """Compact length n+1 as a uvarint (n >= -1)."""
    v = n + 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _string(s: str | None, flexible: bool) -> bytes:
    if s is None:
        return b"\x00" if flexible else b"\xff\xff"
    b = s.encode("utf-8")
    return (_compact_len(len(b)) if flexible else _I16.pack(len(b))) + b


def encode_produce_response(version: int, response: dict) -> list | None:
    """The response body as codec.encode would write it, or None to leave it to codec.encode
    (tagged fields present, or a value of an unexpected type)."""
    if not MIN_VERSION <= version <= MAX_VERSION or response.get("node_endpoints") is not None:
        return None
    flexible = version >= FLEXIBLE_FROM
    try:
        out = [_compact_len(len(response["responses"])) if flexible else _I32.pack(len(response["responses"]))]
        for topic in response["responses"]:
            parts = topic["partition_responses"]
            if version >= TOPIC_IDS_FROM:
                topic_id = topic["topic_id"]
                if len(topic_id) != _UUID_SIZE:
                    return None
                out.append(bytes(topic_id))
            else:
                out.append(_string(topic["name"], flexible))
            out.append(_compact_len(len(parts)) if flexible else _I32.pack(len(parts)))
            for p in parts:
                if p.get("current_leader") is not None:
                    return None
                out.append(_PARTITION_V3.pack(p["index"], p["error_code"], p["base_offset"]))
                out.append(_I64.pack(p["log_append_time"]))
                if version >= 5:
                    out.append(_I64.pack(p["log_start_offset"]))
                if version >= 8:
                    errors = p.get("record_errors", ())
                    out.append(_compact_len(len(errors)) if flexible else _I32.pack(len(errors)))
                    for e in errors:
                        out.append(_I32.pack(e["batch_index"]))
                        out.append(_string(e.get("batch_index_error_message"), flexible))
                        if flexible:
                            out.append(b"\x00")
                    out.append(_string(p.get("error_message"), flexible))
                if flexible:
                    out.append(b"\x00")
            if flexible:
                out.append(b"\x00")
        out.append(_I32.pack(response.get("throttle_time", 0)))
        if flexible:
            out.append(b"\x00")
    except (KeyError, TypeError, AttributeError, struct.error):
        return None
    return out
