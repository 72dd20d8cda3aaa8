"""The protocol codec against kio's own (independently generated) reader and writer."""

import io
import uuid

import pytest
from kio.index import load_request_schema, load_response_schema
from kio.serial import entity_reader, entity_writer

from broker import broker as _register_handlers  # noqa: F401  (fills the API table)
from broker.protocol import apis
from broker.protocol.codec import DecodeError, decode, decode_request_header, encode, message_spec

ADVERTISED = [(a.key, v) for a in apis.REGISTRY.values() for v in range(a.min_version, a.max_version + 1)]


@pytest.mark.parametrize("key,version", ADVERTISED)
@pytest.mark.parametrize("direction", ["request", "response"])
def test_defaults_encode_to_what_kio_reads(key, version, direction):
    spec = message_spec(key, version, direction)
    data = b"".join(encode(spec, {}))
    cls = (load_request_schema if direction == "request" else load_response_schema)(key, version)
    entity, size = entity_reader(cls)(data, 0)
    assert size == len(data)
    # and kio's bytes decode with ours to the same length
    out = io.BytesIO()
    entity_writer(cls)(out, entity)
    msg, end = decode(spec, out.getvalue())
    assert end == len(out.getvalue())


def test_metadata_request_from_kio_decodes():
    import kio.schema.metadata.v12.request as mr
    from kio.schema.types import TopicName

    req = mr.MetadataRequest(topics=(mr.MetadataRequestTopic(topic_id=uuid.UUID(int=7), name=TopicName("abc")),),
                             allow_auto_topic_creation=True, include_topic_authorized_operations=False)
    buf = io.BytesIO()
    entity_writer(mr.MetadataRequest)(buf, req)
    msg, _ = decode(message_spec(3, 12, "request"), buf.getvalue())
    assert msg["topics"] == [{"topic_id": uuid.UUID(int=7).bytes, "name": "abc"}]
    assert msg["allow_auto_topic_creation"] is True


def test_fetch_response_with_records_and_tagged_fields_reads_in_kio():
    import kio.schema.fetch.v12.response as fr

    spec = message_spec(1, 12, "response")
    body = {"responses": [{"topic": "t", "partitions": [{
        "partition_index": 2, "high_watermark": 5, "records": b"\x01\x02\x03",
        "current_leader": {"leader_id": 1, "leader_epoch": 0}}]}]}
    entity, _ = entity_reader(fr.FetchResponse)(b"".join(encode(spec, body)), 0)
    part = entity.responses[0].partitions[0]
    assert (part.partition_index, part.high_watermark, bytes(part.records)) == (2, 5, b"\x01\x02\x03")
    assert part.current_leader.leader_id == 1
    assert part.last_stable_offset == -1  # the spec default


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x00\x05abc", b"\xff" * 3])
def test_truncated_messages_raise_decode_error(data):
    with pytest.raises(DecodeError):
        decode(message_spec(3, 12, "request"), b"\x02" + data)


def test_request_header_v2_skips_tagged_fields():
    frame = b"\x00\x03\x00\x0c\x00\x00\x00\x09\x00\x02id" + b"\x01\x05\x02xx" + b"rest"
    header, pos = decode_request_header(frame, lambda k, v: True)
    assert (header.api_key, header.api_version, header.correlation_id, header.client_id) == (3, 12, 9, "id")
    assert frame[pos:] == b"rest"


# -- what a request may not do (issue 13) ---------------------------------------------------

def _metadata_v1(count: int, item: bytes = b"\x00\x00") -> bytes:
    """Metadata v1: int32 array length, then `count` topic names of two bytes each."""
    return count.to_bytes(4, "big", signed=True) + item * max(count, 0)


def test_null_array_where_the_spec_forbids_null_is_malformed():
    # CreateTopics v2: "topics" is not nullable.
    with pytest.raises(DecodeError, match="non-nullable field topics"):
        decode(message_spec(19, 2, "request"), b"\xff\xff\xff\xff" + b"\x00\x00\x00\x00\x00")


def test_null_string_where_the_spec_forbids_null_is_malformed():
    with pytest.raises(DecodeError, match="non-nullable field name"):
        decode(message_spec(3, 1, "request"), _metadata_v1(1, b"\xff\xff"))


def test_null_where_the_spec_allows_it_still_decodes():
    msg, _ = decode(message_spec(3, 1, "request"), b"\xff\xff\xff\xff")  # v1+: null = all topics
    assert msg["topics"] is None


def test_array_length_is_checked_against_the_bytes_left_per_element():
    # 1000 topic names need at least 2000 bytes; 1999 are there.
    with pytest.raises(DecodeError, match="cannot fit"):
        decode(message_spec(3, 1, "request"), _metadata_v1(1000)[:-1])


def test_array_elements_are_bounded_per_request():
    from broker.protocol.codec import TooManyEntries

    spec = message_spec(3, 1, "request")
    msg, _ = decode(spec, _metadata_v1(100), max_entries=100)
    assert len(msg["topics"]) == 100
    with pytest.raises(TooManyEntries):
        decode(spec, _metadata_v1(101), max_entries=100)


def test_large_requests_are_flagged_before_being_decoded():
    from broker.protocol.codec import LargeRequest

    spec = message_spec(3, 1, "request")
    with pytest.raises(LargeRequest):
        decode(spec, _metadata_v1(2001), large_entries=2000)
    msg, _ = decode(spec, _metadata_v1(2000), large_entries=2000)
    assert len(msg["topics"]) == 2000
