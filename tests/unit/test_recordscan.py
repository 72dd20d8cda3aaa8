"""The C record walk (schema ids of keys and values) agrees with the Python reference."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import records, recordscan

fields = st.one_of(st.none(), st.binary(max_size=12),
                   st.builds(lambda sid, rest: b"\x00" + sid.to_bytes(4, "big") + rest,
                             st.integers(0, 2**32 - 1), st.binary(max_size=300)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(fields, fields), min_size=1, max_size=40), st.sampled_from(range(5)))
def test_native_matches_python(pairs, codec):
    batch = records.encode_batch([records.Record(i * 3, 1000 + i, k, v) for i, (k, v) in enumerate(pairs)],
                                 codec=codec)
    body = records.decompress(codec, memoryview(batch)[records.HEADER_SIZE:])
    for want_key in (True, False):
        expected = recordscan.scan_python(body, len(pairs), want_key)
        assert recordscan.schema_ids(bytes(batch), want_key) == expected
        field = [k if want_key else v for k, v in pairs]
        assert expected == [recordscan.NULL if f is None else
                            recordscan.NOT_FRAMED if len(f) < 5 or f[0] != 0 else int.from_bytes(f[1:5], "big")
                            for f in field]


def test_the_native_helper_is_built():
    assert recordscan.NATIVE, "broker/_recordscan.c was not compiled (pip install -e . builds it)"


def test_truncated_records_are_invalid():
    batch = records.encode_batch([records.Record(0, 1, None, b"\x00\x00\x00\x00\x01payload")])
    records_section = bytes(batch[records.HEADER_SIZE:-4])
    with pytest.raises(ValueError):
        recordscan._scan(records_section, 1, False)
