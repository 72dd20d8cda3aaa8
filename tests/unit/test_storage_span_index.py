"""read_span jumps over the batches the offset index vouches for: same selection as read(),
whatever the index density, and a last offset at or above the last returned record's."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.records import iter_batches
from tests.unit.test_storage_log import make_batch, open_log


@settings(max_examples=80, deadline=None)
@given(sizes=st.lists(st.integers(1, 8), min_size=1, max_size=40), offset_pick=st.integers(0, 10**6),
       max_bytes=st.integers(1, 5000), min_one=st.booleans(), interval=st.sampled_from([0, 1, 150, 600]))
def test_span_with_a_dense_index_matches_read(tmp_path_factory, sizes, offset_pick, max_bytes, min_one, interval):
    log = open_log(tmp_path_factory.mktemp("span"), lambda: 1000, segment_bytes=3000, index_interval_bytes=interval)
    for n in sizes:
        log.append(make_batch(n))
    offset = offset_pick % log.log_end_offset
    cap = None if offset_pick % 3 else max(offset_pick % log.log_end_offset, 1)
    expected = log.read(offset, max_bytes, max_offset=cap, min_one=min_one)
    span = log.read_span(offset, max_bytes, max_offset=cap, min_one=min_one)
    if span is None:
        assert expected == b""
    else:
        with span.file:
            assert os.pread(span.file.fileno(), span.size, span.position) == expected
        last = [h for _, h in iter_batches(expected)][-1].last_offset
        assert span.last_offset == last  # no compaction here: no gaps, so exact
    log.close()
