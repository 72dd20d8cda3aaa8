"""Long-poll fetches wait on futures a partition keeps; finished ones must not pile up,
and dropping them must not cost a pass over every waiter on every new fetch (with 500
consumer groups long-polling one topic, that pass was 26% of the broker's CPU)."""

from __future__ import annotations

import asyncio

from broker.partition import MIN_WAITERS_COMPACT, Partition
from broker.storage import LogConfig


def test_finished_waiters_are_dropped_once_per_doubling_and_live_ones_woken(tmp_path):
    partition = Partition("t", 0, tmp_path / "t-0", LogConfig(), open_now=False)

    async def scenario():
        live = [partition.wait_for_data() for _ in range(500)]  # consumers long-polling
        longest, passes, previous = 0, 0, len(partition._waiters)
        for _ in range(20_000):  # fetches that come, time out and go
            partition.wait_for_data().cancel()
            size = len(partition._waiters)
            passes += size < previous  # the list shrank: one pass over it
            longest, previous = max(longest, size), size
        partition._wake_fetchers()
        await asyncio.sleep(0)
        return live, longest, passes

    live, longest, passes = asyncio.run(scenario())
    assert all(f.done() and not f.cancelled() for f in live)
    assert longest <= 2 * (500 + 1) + MIN_WAITERS_COMPACT
    assert passes <= 20_000 // 400  # about one per 500 calls, not one per call
    assert partition._waiters == []
