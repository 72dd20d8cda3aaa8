"""RecordBatch v2 against kafka-python's independent implementation, every codec."""

import pytest
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from broker import records
from broker.records import Record


@pytest.mark.parametrize("codec", range(5))
def test_our_batches_read_in_kafka_python(codec):
    recs = [Record(i, 1000 + i, b"k%d" % i if i % 3 else None, b"v" * i, [("h", b"x"), ("n", None)])
            for i in range(20)]
    batch = records.encode_batch(recs, codec=codec)
    header = records.check_batch(batch)
    assert header.record_count == 20 and header.compression == codec
    assert records.decode_records(batch) == recs
    theirs = list(DefaultRecordBatch(bytes(batch)))
    assert [(r.offset, r.timestamp, r.key, r.value) for r in theirs] == \
        [(r.offset, r.timestamp, r.key, r.value) for r in recs]


@pytest.mark.parametrize("codec", range(5))
def test_kafka_python_batches_decode(codec):
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                        producer_id=7, producer_epoch=1, base_sequence=10, batch_size=1 << 20)
    for i in range(50):
        builder.append(i, timestamp=5000 + i, key=b"a%d" % i, value=b"b" * i, headers=[("x", b"y")])
    data = bytes(builder.build())
    header = records.check_batch(data)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 1, 10)
    assert header.last_sequence == 59
    decoded = records.decode_records(data)
    assert decoded[49] == Record(49, 5049, b"a49", b"b" * 49, [("x", b"y")])


def test_crc_mismatch_and_truncation_are_detected():
    batch = records.encode_batch([Record(0, 1, b"k", b"v")])
    bad = bytearray(batch)
    bad[-1] ^= 1
    with pytest.raises(records.InvalidBatch):
        records.check_batch(bad)
    with pytest.raises(records.InvalidBatch):
        records.check_batch(batch[:-3])
    assert list(records.iter_batches(batch + batch[:30])) == [(0, records.parse_header(batch))]


def test_patching_offsets_keeps_crc_valid_and_log_append_time_recomputes_it():
    batch = records.encode_batch([Record(0, 1, b"k", b"v"), Record(1, 2, b"k", b"w")])
    records.set_base_offset(batch, 1234)
    records.set_leader_epoch(batch, 3)
    assert records.check_batch(batch).base_offset == 1234
    records.set_log_append_time(batch, 99999)
    header = records.check_batch(batch)
    assert header.max_timestamp == 99999 and header.attributes & records.TIMESTAMP_TYPE_BIT


def test_control_batch():
    batch = records.encode_control_batch(records.CONTROL_COMMIT, producer_id=5, producer_epoch=2,
                                         coordinator_epoch=7, timestamp=10)
    header = records.check_batch(batch)
    assert header.is_control and header.is_transactional
    assert records.control_marker(records.decode_records(batch)[0]) == records.CONTROL_COMMIT
