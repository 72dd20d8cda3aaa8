"""Schema ids of a batch's records (Confluent wire format), for schema-governed topics.

The record walk is in C (broker/_recordscan.c) when it was built at install time; the
Python version below gives the same answers, more slowly, when it was not.
"""

from __future__ import annotations

from broker import records

NULL, NOT_FRAMED = -1, -2

def scan_python(body, count: int, want_key: bool) -> list[int]:
    """The record walk in Python: the reference for the C version, and its fallback."""
    out = []
    pos = 0
    for _ in range(count):
        length, pos = records.read_varint(body, pos)
        end = pos + length
        if length < 0 or end > len(body):
            raise ValueError("record framing runs past the end of the batch")
        pos += 1
        _, pos = records.read_varint(body, pos)
        _, pos = records.read_varint(body, pos)
        flen, pos = records.read_varint(body, pos)
        fpos = pos
        if not want_key:
            pos += max(flen, 0)
            flen, pos = records.read_varint(body, pos)
            fpos = pos
        if flen < 0:
            out.append(NULL)
        elif flen < 5 or body[fpos] != 0:
            out.append(NOT_FRAMED)
        else:
            out.append(int.from_bytes(body[fpos + 1:fpos + 5], "big"))
        pos = end
    return out


try:
    from broker._recordscan import schema_ids as _scan
    NATIVE, NOT_NATIVE_BECAUSE = True, ""
except ImportError as exc:  # the build of the C helper is optional; the broker logs this at start
    _scan = scan_python
    NATIVE, NOT_NATIVE_BECAUSE = False, str(exc)


def schema_ids(batch: bytes, want_key: bool) -> list[int]:
    """Per record of the batch: the schema id of its key or value, NULL or NOT_FRAMED.

    Raises records.InvalidBatch if the batch cannot be decompressed or walked."""
    header = records.parse_header(batch)
    body = records.decompress(header.compression, memoryview(batch)[records.HEADER_SIZE:header.size])
    try:
        return _scan(body, header.record_count, want_key)
    except ValueError as exc:
        raise records.InvalidBatch(str(exc)) from None
