"""read_span (the sendfile path) selects exactly the batches read() returns."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_storage_log import make_batch, open_log


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 8), min_size=1, max_size=30),
       offset_pick=st.integers(0, 10**6), max_bytes=st.integers(1, 3000), min_one=st.booleans())
def test_span_matches_read(tmp_path_factory, sizes, offset_pick, max_bytes, min_one):
    log = open_log(tmp_path_factory.mktemp("span"), lambda: 1000, segment_bytes=2000)
    for n in sizes:
        log.append(make_batch(n))
    offset = offset_pick % log.log_end_offset
    cap = None if offset_pick % 3 else log.log_end_offset - 1
    expected = log.read(offset, max_bytes, max_offset=cap, min_one=min_one)
    span = log.read_span(offset, max_bytes, max_offset=cap, min_one=min_one)
    if span is None:
        assert expected == b""
    else:
        with span.file:
            assert os.pread(span.file.fileno(), span.size, span.position) == expected
    log.close()


def test_span_stays_readable_after_the_segment_is_deleted(tmp_path):
    log = open_log(tmp_path, lambda: 1000, segment_bytes=300)
    for _ in range(10):
        log.append(make_batch(2))
    span = log.read_span(0, 10_000)
    expected = log.read(0, 10_000)
    log.delete()
    with span.file:
        assert os.pread(span.file.fileno(), span.size, span.position) == expected
