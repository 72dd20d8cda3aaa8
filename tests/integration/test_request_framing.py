"""Request framing (server.py reads requests straight into buffers of their own): pipelined
requests of every size class are answered in order, batches land intact, and a client that
half-closes after sending still gets every response whole."""

from __future__ import annotations

import socket

from broker import records
from broker.protocol.codec import decode, message_spec
from tests.conftest import unique_topic
from tests.integration.test_bad_input import _create
from tests.kafka_wire import read_frame, request_frame

# Small (copied out of the receive buffer), over 64 KiB (a pooled buffer), over 2 MiB
# (a buffer grown as the bytes arrive; the topic takes batches that big).
VALUE_SIZES = [10, 100_000, 10, 700_000, 2_500_000, 50, 300_000]


def _produce_frame(topic: str, value: bytes, correlation_id: int) -> bytes:
    batch = records.encode_batch([records.Record(0, 1_700_000_000_000, None, value)], base_offset=0)
    return request_frame(0, 9, {"transactional_id": None, "acks": -1, "timeout": 5000, "topic_data": [
        {"name": topic, "partition_data": [{"index": 0, "records": bytes(batch)}]}]}, correlation_id)


def _fetch_frame(topic: str, offset: int, correlation_id: int) -> bytes:
    return request_frame(1, 11, {
        "replica_id": -1, "max_wait": 0, "min_bytes": 1, "max_bytes": 50_000_000, "isolation_level": 0,
        "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
        "topics": [{"topic": topic, "partitions": [{"partition": 0, "current_leader_epoch": -1,
                                                     "fetch_offset": offset, "log_start_offset": -1,
                                                     "partition_max_bytes": 10_000_000}]}]}, correlation_id)


def _responses(sock: socket.socket, api_key: int, version: int, count: int) -> list[tuple[int, dict]]:
    spec = message_spec(api_key, version, "response")
    out = []
    for _ in range(count):
        frame = read_frame(sock)
        out.append((int.from_bytes(frame[:4], "big", signed=True),
                    decode(spec, frame, 5 if spec.flexible else 4)[0]))
    return out


def test_pipelined_requests_of_every_size_then_a_half_close_are_all_answered(shared_broker):
    topic = unique_topic("framing")
    _create(shared_broker.bootstrap, topic, config={"max.message.bytes": "4000000"})
    values = [bytes([i]) * size for i, size in enumerate(VALUE_SIZES)]
    host, port = shared_broker.bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"".join(_produce_frame(topic, v, 100 + i) for i, v in enumerate(values)))
        sock.shutdown(socket.SHUT_WR)
        answers = _responses(sock, 0, 9, len(values))
        assert sock.recv(1) == b""  # then the broker closes
    assert [cid for cid, _ in answers] == [100 + i for i in range(len(values))]
    parts = [a["responses"][0]["partition_responses"][0] for _, a in answers]
    assert [(p["error_code"], p["base_offset"]) for p in parts] == [(0, i) for i in range(len(values))]

    got = []
    offset = 0
    while offset < len(values):
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(_fetch_frame(topic, offset, 7))
            sock.shutdown(socket.SHUT_WR)  # the response, sent with sendfile, must still come whole
            (cid, answer), = _responses(sock, 1, 11, 1)
        data = answer["responses"][0]["partitions"][0]["records"]
        assert cid == 7 and data
        for pos, header in records.iter_batches(data):
            records.check_batch(data, pos)
            got += [r.value for r in records.decode_records(data, pos)]
            offset = header.next_offset
    assert got == values
