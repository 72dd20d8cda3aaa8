"""Requests built from the protocol specs (broker.protocol.codec, compiled from Kafka's JSON
message specs), for the frame fuzzer and the request-amplification tests.

Nothing here is hand-listed per API: the APIs and versions come from the broker's
ApiVersions answer, the fields from the specs. Bodies are written byte by byte (not with
the codec's encoder) so they can say what the encoder never would: nulls where the spec
forbids them, negative and oversized lengths, truncated varints, unknown tagged fields.
"""

from __future__ import annotations

import dataclasses
import os
import random
import socket
import struct
import time
from functools import lru_cache

from broker import records
from broker.protocol.codec import FieldSpec, MessageSpec, encode, message_spec, uvarint
from tests.kafka_wire import RawClient

API_VERSIONS = 18


# -- what the broker speaks -------------------------------------------------------------------

def advertised(bootstrap: str) -> dict[int, tuple[int, int]]:
    """{api key: (min version, max version)} from the broker's ApiVersions (v3)."""
    client = RawClient(bootstrap)
    try:
        resp = client.call(API_VERSIONS, 3, {"client_software_name": "faults", "client_software_version": "1"})
    finally:
        client.close()
    assert resp["error_code"] == 0, resp
    return {k["api_key"]: (k["min_version"], k["max_version"]) for k in resp["api_keys"]}


@lru_cache(maxsize=None)
def request_spec(key: int, version: int) -> MessageSpec | None:
    """The request spec, or None if the codec's spec tables do not know this version."""
    try:
        return message_spec(key, version, "request")
    except Exception:  # noqa: BLE001 - unknown to kio: not ours to fuzz
        return None


def known_versions(versions: dict[int, tuple[int, int]]) -> dict[int, list[int]]:
    """The advertised versions we have a request spec for."""
    out = {}
    for key, (lo, hi) in versions.items():
        vs = [v for v in range(lo, hi + 1) if request_spec(key, v) is not None]
        if vs:
            out[key] = vs
    return out


def header(key: int, version: int, correlation_id: int, flexible: bool, client_id: bytes = b"faults") -> bytes:
    """Request header v1, or v2 (an empty tagged-field section) for flexible versions."""
    h = struct.pack(">hhih", key, version, correlation_id, len(client_id)) + client_id
    return h + b"\x00" if flexible else h


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


# -- minimal values and request amplification -----------------------------------------------

def _field_bytes(f: FieldSpec, flexible: bool, value=None) -> bytes:
    """One field at its default (or `value`), with the codec's encoder."""
    spec = MessageSpec("one", flexible, (f,), ())
    data = b"".join(encode(spec, {} if value is None else {f.name: value}))
    return data[:-1] if flexible else data  # drop the empty tagged-field count encode() adds


def array_paths(spec: MessageSpec, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths (field names from the top) of every array in a request, nested ones included."""
    out = []
    for f in spec.fields:
        if f.is_array:
            out.append(prefix + (f.name,))
        if f.kind == "struct":
            out += array_paths(f.struct, prefix + (f.name,))
    return out


def _length(n: int, flexible: bool) -> bytes:
    return uvarint(n + 1) if flexible else struct.pack(">i", n)


def _minimal_entry(f: FieldSpec, flexible: bool) -> bytes:
    """The smallest element of array field `f`: a struct at its defaults, or a zero scalar."""
    if f.kind == "struct":
        return b"".join(encode(f.struct, {}))
    return _field_bytes(FieldSpec(f.name, f.kind, False, False, None, dataclasses.MISSING), flexible)


# Top-level values that differ from the spec defaults, so the request is answered at all:
# a Produce at its default acks=0 gets no response by definition.
ANSWERED = {0: {"acks": -1, "timeout": 1000}}


def _amplified_body(spec: MessageSpec, path: tuple[str, ...], budget: int,
                    count: int | None = None, values: dict | None = None) -> tuple[bytes, int]:
    """(body, entries): the message at its defaults except the array at `path`, which holds
    as many minimal entries as fit in `budget` bytes, or `count` of them (arrays on the way
    hold one element)."""
    flexible = spec.flexible
    parts = []
    entries = 0
    for f in spec.fields:
        if f.name != path[0]:
            parts.append(_field_bytes(f, flexible, (values or {}).get(f.name)))
            continue
        if len(path) == 1:
            entry = _minimal_entry(f, flexible)
            fixed = sum(len(p) for p in parts) + 5  # the length prefix and what follows, roughly
            entries = count if count is not None else max(1, (budget - fixed - 64) // len(entry))
            parts.append(_length(entries, flexible) + entry * entries)
        else:
            inner, entries = _amplified_body(f.struct, path[1:], budget - 16, count)
            if f.is_array:
                parts.append(_length(1, flexible) + inner)
            elif f.nullable:
                parts.append(b"\x01" + inner)
            else:
                parts.append(inner)
    if flexible:
        parts.append(b"\x00")
    return b"".join(parts), entries


def amplified_request(key: int, version: int, path: tuple[str, ...], size: int,
                      correlation_id: int = 1, count: int | None = None) -> tuple[bytes, int]:
    """(frame of about `size` bytes, number of entries in the amplified array); with
    `count`, that many entries whatever the size."""
    spec = request_spec(key, version)
    h = header(key, version, correlation_id, spec.flexible)
    body, entries = _amplified_body(spec, path, size - len(h) - 4, count, ANSWERED.get(key))
    return frame(h + body), entries


# -- fuzzing ----------------------------------------------------------------------------------

FUZZ_TOPIC = "fuzz-topic"
# Fields whose values make the broker do work in proportion (partition counts): kept small
# here; amplification by counts has its own test.
_SMALL_INT_FIELDS = ("num_partitions", "count", "replication_factor")
_INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}


def _batch(n: int = 2) -> bytes:
    return bytes(records.encode_batch(
        [records.Record(i, 1_700_000_000_000 + i, b"k%d" % i, b"fuzz-value-%d" % i) for i in range(n)],
        base_offset=0))


class BodyFuzzer:
    """Spec-shaped request bodies, mostly plausible, with 'evil' values sprinkled in."""

    def __init__(self, rng: random.Random, evil: float = 0.06):
        self.rng = rng
        self.evil = evil
        self.batches = [_batch(1), _batch(3), _batch(20)]
        # Valid names come from a small set, so the topics and groups that fuzzed (valid)
        # create requests make stay few: the broker's files and fds grow by that much only.
        alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789._-"
        self.names = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 30))) for _ in range(12)]

    def _is_evil(self) -> bool:
        return self.rng.random() < self.evil

    def length(self, n: int | None, flexible: bool, int16: bool = False) -> bytes:
        """A length prefix; None is null. Evil variants: negative, huge, overlong varint."""
        rng = self.rng
        if self._is_evil():
            choice = rng.randrange(4)
            if flexible:
                return [b"\xff\xff\xff\xff\x0f", b"\x80\x80\x80\x80\x80\x80", uvarint(2**31), b"\x00"][choice]
            big = 2**15 - 1 if int16 else 2**31 - 1
            return struct.pack(">h" if int16 else ">i", [-2, -(big + 1), big, -1][choice])
        if flexible:
            return uvarint(0 if n is None else n + 1)
        return struct.pack(">h" if int16 else ">i", -1 if n is None else n)

    def string(self, f: FieldSpec, flexible: bool) -> bytes:
        rng = self.rng
        if (f.nullable and rng.random() < 0.2) or self._is_evil():
            return self.length(None, flexible, int16=True)  # null, allowed or not
        kind = rng.randrange(7)
        if kind == 0:
            raw = b""
        elif kind in (1, 2):
            raw = FUZZ_TOPIC.encode()
        elif kind == 3:
            raw = rng.choice(self.names)
        elif kind == 4:
            raw = os.urandom(rng.randrange(1, 20))  # usually not UTF-8
        elif kind == 5:
            raw = "ünïcødé-☃".encode()
        else:
            raw = b"x" * rng.choice((249, 250, 256, 1000, 5000))
        return self.length(len(raw), flexible, int16=True) + raw

    def blob(self, f: FieldSpec, flexible: bool) -> bytes:
        rng = self.rng
        if (f.nullable and rng.random() < 0.2) or self._is_evil():
            return self.length(None, flexible)
        if f.kind == "records" and rng.random() < 0.7:
            data = bytearray(rng.choice(self.batches))
            if rng.random() < 0.5:
                for _ in range(rng.randrange(1, 4)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data = os.urandom(rng.randrange(0, 64))
        return self.length(len(data), flexible) + bytes(data)

    def integer(self, f: FieldSpec) -> bytes:
        rng = self.rng
        bits = _INT_BITS[f.kind]
        signed = not f.kind.startswith("u")
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        if f.name in _SMALL_INT_FIELDS:
            value = rng.randrange(max(lo, -2), 8)
        elif rng.random() < 0.3:
            value = rng.choice([lo, hi, 0, max(lo, -1), 1])
        else:
            value = rng.randrange(max(lo, -3), min(hi, 1000) + 1)
        fmt = {8: "b", 16: "h", 32: "i", 64: "q"}[bits]
        return struct.pack(">" + (fmt if signed else fmt.upper()), value)

    def scalar(self, f: FieldSpec, flexible: bool, depth: int) -> bytes:
        rng = self.rng
        if f.kind in _INT_BITS:
            return self.integer(f)
        if f.kind == "string":
            return self.string(f, flexible)
        if f.kind in ("bytes", "records"):
            return self.blob(f, flexible)
        if f.kind == "bool":
            return bytes([rng.choice((0, 1, 1, 0, 255))])
        if f.kind == "uuid":
            return bytes(16) if rng.random() < 0.5 else os.urandom(16)
        if f.kind == "float64":
            return struct.pack(">d", rng.choice((0.0, -1.0, 1e308, float("nan"))))
        if f.kind == "struct":
            prefix = b""
            if f.nullable and not f.is_array:
                if rng.random() < 0.2 or self._is_evil():
                    return b"\xff"
                prefix = b"\x01"
            return prefix + self.body(f.struct, depth + 1)
        raise TypeError(f.kind)

    def field(self, f: FieldSpec, flexible: bool, depth: int) -> bytes:
        if not f.is_array:
            return self.scalar(f, flexible, depth)
        rng = self.rng
        if (f.nullable and rng.random() < 0.2) or self._is_evil():
            return self.length(None, flexible)  # a null array, allowed or not
        n = rng.choice((0, 1, 1, 2, 3)) if depth < 3 else rng.choice((0, 1))
        declared = n
        if self._is_evil():
            declared = rng.choice((n + 1, n + 1000, max(0, n - 1)))  # lies about its count
        items = b"".join(self.scalar(f, flexible, depth) for _ in range(n))
        return self.length(declared, flexible) + items

    def tagged(self) -> bytes:
        rng = self.rng
        if not self._is_evil():
            return b"\x00"
        count = rng.randrange(1, 4)
        out = uvarint(count)
        for _ in range(count):
            data = os.urandom(rng.randrange(0, 12))
            size = len(data) if rng.random() < 0.7 else rng.choice((len(data) + 5, 2**31))
            out += uvarint(rng.randrange(0, 200)) + uvarint(size) + data
        return out

    def body(self, spec: MessageSpec, depth: int = 0) -> bytes:
        out = b"".join(self.field(f, spec.flexible, depth) for f in spec.fields)
        return out + self.tagged() if spec.flexible else out


def fuzz_frame(rng: random.Random, fuzzer: BodyFuzzer, versions: dict[int, list[int]], cid: int) -> bytes:
    """One fuzzed frame: a valid header of an advertised API version with a fuzzed body,
    then, sometimes, damage at the frame level (flips, cuts, junk, a lying size)."""
    kind = rng.random()
    if kind < 0.04:
        return os.urandom(rng.randrange(0, 40))  # noise
    if kind < 0.07:
        return struct.pack(">i", rng.choice((-1, -2**31, 2**31 - 1, 200 * 1024 * 1024)))
    key = rng.choice(sorted(versions))
    version = rng.choice(versions[key])
    spec = request_spec(key, version)
    if rng.random() < 0.05:
        # A body of another version of the same API (flexible vs not, fields shifted).
        other = request_spec(key, rng.choice(versions[key])) or spec
        payload = header(key, version, cid, spec.flexible) + fuzzer.body(other)
    else:
        payload = header(key, version, cid, spec.flexible) + fuzzer.body(spec)
    r = rng.random()
    if r < 0.15:
        data = bytearray(payload)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        payload = bytes(data)
    elif r < 0.25:
        payload = payload[: rng.randrange(len(payload))]
    elif r < 0.30:
        payload += os.urandom(rng.randrange(1, 32))
    size = len(payload)
    if rng.random() < 0.05:
        size = rng.choice((size + rng.randrange(1, 100), max(0, size - rng.randrange(1, 10)), -size or -1))
    return struct.pack(">i", size) + payload


def fuzz_worker(bootstrap: str, versions: dict[int, list[int]], seed: int, seconds: float, out) -> None:
    """Many short connections, each sending 1-4 fuzzed frames, for `seconds`; puts its
    counters on `out`. Runs in its own process (spawned) so the test's GIL stays free for
    the well-behaved client."""
    rng = random.Random(seed)
    fuzzer = BodyFuzzer(rng)
    host, port = bootstrap.rsplit(":", 1)
    stats = {"frames": 0, "connections": 0, "bytes": 0, "answered": 0, "closed_by_broker": 0,
             "connect_errors": 0}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection((host, int(port)), timeout=2)
        except OSError:
            stats["connect_errors"] += 1
            time.sleep(0.05)
            continue
        stats["connections"] += 1
        try:
            for i in range(rng.randrange(1, 5)):
                data = fuzz_frame(rng, fuzzer, versions, rng.randrange(2**31))
                sock.sendall(data)
                stats["frames"] += 1
                stats["bytes"] += len(data)
            how = rng.random()
            if how < 0.3:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
            elif how < 0.8:
                sock.settimeout(0.2)
                if rng.random() < 0.5:
                    sock.shutdown(socket.SHUT_WR)
                got = sock.recv(65536)
                if got:
                    stats["answered"] += 1
                else:
                    stats["closed_by_broker"] += 1
        except (OSError, socket.timeout):
            pass
        finally:
            sock.close()
    out.put(stats)
