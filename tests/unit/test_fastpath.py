"""The hand-written Produce codecs (broker/protocol/fastpath.py) against the spec-driven codec:
same bytes out, same dicts in, and never accepting what the generic decoder refuses."""

from __future__ import annotations

import random

import pytest

from broker.protocol import fastpath
from broker.protocol.codec import DecodeError, decode, encode, message_spec

VERSIONS = range(fastpath.MIN_VERSION, fastpath.MAX_VERSION + 1)


def _random_request(rng: random.Random) -> dict:
    """Topics carry both a name and an id: each version's encoder writes the one it has."""
    return {
        "transactional_id": rng.choice([None, "", "tx-é", "t" * rng.randint(1, 300)]),
        "acks": rng.choice([-1, 0, 1, 5]),
        "timeout": rng.randint(-2**31, 2**31 - 1),
        "topic_data": [
            {"name": rng.choice(["", "t", "topic-ü", "x" * 200]), "topic_id": rng.randbytes(16),
             "partition_data": [{"index": rng.randint(-5, 2**31 - 1),
                                 "records": rng.choice([None, b"", bytes(rng.randbytes(rng.randint(1, 300)))])}
                                for _ in range(rng.randint(0, 5))]}
            for _ in range(rng.randint(0, 4))
        ],
    }


def _random_response(rng: random.Random) -> dict:
    return {
        "responses": [
            {"name": rng.choice(["", "t", "topic-ü"]), "topic_id": rng.randbytes(16),
             "partition_responses": [
                 {"index": rng.randint(0, 100), "error_code": rng.choice([0, 2, 87]),
                  "base_offset": rng.randint(-1, 2**62), "log_append_time": rng.choice([-1, 1_700_000_000_000]),
                  "log_start_offset": rng.randint(-1, 2**40),
                  "record_errors": [{"batch_index": rng.randint(0, 9),
                                     "batch_index_error_message": rng.choice([None, "bad", "é"])}
                                    for _ in range(rng.randint(0, 2))],
                  "error_message": rng.choice([None, "", "msg"])}
                 for _ in range(rng.randint(0, 6))]}
            for _ in range(rng.randint(0, 3))
        ],
        "throttle_time": rng.randint(0, 1000),
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_decoding_matches_the_generic_decoder(version):
    rng = random.Random(version)
    spec = message_spec(0, version, "request")
    for _ in range(300):
        body = b"".join(encode(spec, _random_request(rng)))
        for buf in (body, memoryview(bytearray(body))):
            fast = fastpath.decode_produce_request(buf, 0, version, None)
            assert fast is not None
            generic, _ = decode(spec, buf, 0)
            assert _plain(fast) == _plain(generic)


@pytest.mark.parametrize("version", VERSIONS)
def test_decoding_damaged_requests_never_accepts_what_the_generic_decoder_refuses(version):
    rng = random.Random(100 + version)
    spec = message_spec(0, version, "request")
    for _ in range(2000):
        body = bytearray(b"".join(encode(spec, _random_request(rng))))
        if rng.random() < 0.5 and body:
            body = body[:rng.randrange(len(body))]
        for _ in range(rng.randint(0, 3)):
            if body:
                body[rng.randrange(len(body))] = rng.randrange(256)
        fast = fastpath.decode_produce_request(bytes(body), 0, version, None)
        if fast is None:
            continue
        try:
            generic, _ = decode(spec, bytes(body), 0)
        except DecodeError:
            pytest.fail(f"fast path accepted a request the generic decoder refuses: {bytes(body)!r}")
        assert _plain(fast) == _plain(generic)


def test_decoding_leaves_big_and_limited_requests_to_the_generic_decoder():
    spec = message_spec(0, 9, "request")
    many = {"transactional_id": None, "acks": 1, "timeout": 1,
            "topic_data": [{"name": "t", "partition_data": [{"index": i, "records": None}
                                                            for i in range(fastpath.MAX_FAST_ENTRIES + 1)]}]}
    assert fastpath.decode_produce_request(b"".join(encode(spec, many)), 0, 9, None) is None
    few = {"transactional_id": None, "acks": 1, "timeout": 1,
           "topic_data": [{"name": "t", "partition_data": [{"index": i, "records": None} for i in range(3)]}]}
    assert fastpath.decode_produce_request(b"".join(encode(spec, few)), 0, 9, 3) is None  # 4 entries > 3
    assert fastpath.decode_produce_request(b"".join(encode(spec, few)), 0, 9, 4) is not None
    assert fastpath.decode_produce_request(b"", 0, 2, None) is None  # versions it does not know


def test_records_are_views_of_a_writable_request_buffer():
    spec = message_spec(0, 9, "request")
    msg = {"transactional_id": None, "acks": -1, "timeout": 1,
           "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": b"abcdef"}]}]}
    buf = memoryview(bytearray(b"".join(encode(spec, msg))))
    records = fastpath.decode_produce_request(buf, 0, 9, None)["topic_data"][0]["partition_data"][0]["records"]
    assert isinstance(records, memoryview) and not records.readonly and bytes(records) == b"abcdef"
    generic, _ = decode(spec, buf, 0)
    assert isinstance(generic["topic_data"][0]["partition_data"][0]["records"], memoryview)


@pytest.mark.parametrize("version", VERSIONS)
def test_encoding_matches_the_generic_encoder(version):
    rng = random.Random(200 + version)
    spec = message_spec(0, version, "response")
    for _ in range(300):
        response = _random_response(rng)
        assert b"".join(fastpath.encode_produce_response(version, response)) == b"".join(encode(spec, response))


def test_encoding_leaves_tagged_fields_to_the_generic_encoder():
    response = {"responses": [], "throttle_time": 0, "node_endpoints": [{"node_id": 1}]}
    assert fastpath.encode_produce_response(10, response) is None
    response = {"responses": [{"name": "t", "partition_responses": [
        {"index": 0, "error_code": 0, "base_offset": 0, "log_append_time": -1, "log_start_offset": 0,
         "current_leader": {"leader_id": 1, "leader_epoch": 0}}]}], "throttle_time": 0}
    assert fastpath.encode_produce_response(10, response) is None


def _plain(value):
    """Views as bytes, for comparing decoded messages."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_produce_header_flexibility_without_the_spec_matches_the_spec():
    import broker.broker  # noqa: F401 - registers the handlers, so Produce counts as supported
    from broker.protocol import apis

    for version in VERSIONS:
        assert apis.request_is_flexible(0, version) == message_spec(0, version, "request").flexible
        assert apis.response_is_flexible(0, version) == message_spec(0, version, "response").flexible
