"""The fetch session cache's eviction rules (Kafka's FetchSessionCache): who makes way for a
new session when every slot is taken."""

from broker.fetch_session import EVICTION_MS, NO_SESSION, CachedPartition, FetchSessionCache


def partitions(n: int) -> list[CachedPartition]:
    return [CachedPartition("t", i, 0, 1024) for i in range(n)]


def test_no_slots_no_sessions():
    assert FetchSessionCache(0).create(False, True, partitions(3), 0) == NO_SESSION


def test_young_sessions_are_kept_and_the_newcomer_gets_none():
    cache = FetchSessionCache(1)
    kept = cache.create(False, True, partitions(1), 0)
    assert kept != NO_SESSION
    assert cache.create(False, True, partitions(500), EVICTION_MS) == NO_SESSION  # not yet past its age
    assert cache.get(kept) is not None


def test_a_stale_session_makes_way_first():
    cache = FetchSessionCache(2)
    stale = cache.create(False, True, partitions(900), 0)
    used = cache.create(False, True, partitions(1), 0)
    cache.touch(cache.get(used), EVICTION_MS)
    newcomer = cache.create(False, True, partitions(1), EVICTION_MS + 1)
    assert newcomer != NO_SESSION
    assert cache.get(stale) is None and cache.get(used) is not None


def test_past_its_age_the_smallest_session_makes_way_for_a_bigger_one_only():
    cache = FetchSessionCache(2)
    small = cache.create(False, True, partitions(2), 0)
    big = cache.create(False, True, partitions(50), 0)
    now = EVICTION_MS + 1
    for session_id in (small, big):  # both in use: none is stale
        cache.touch(cache.get(session_id), now)
    assert cache.create(False, True, partitions(2), now) == NO_SESSION  # a tie keeps the incumbent
    assert cache.create(False, True, partitions(3), now) != NO_SESSION
    assert cache.get(small) is None and cache.get(big) is not None


def test_a_followers_session_takes_a_consumers_place_at_any_age():
    cache = FetchSessionCache(1)
    consumer = cache.create(False, True, partitions(100), 0)
    assert cache.create(True, True, partitions(1), 1) != NO_SESSION
    assert cache.get(consumer) is None


def test_incremental_updates_and_forgotten_partitions():
    cache = FetchSessionCache(1)
    session = cache.get(cache.create(False, True, partitions(3), 0))
    session.update([CachedPartition("t", 1, 42, 2048), CachedPartition("t", 7, 0, 1024)], [("t", 0)])
    assert list(session.partitions) == [("t", 1), ("t", 2), ("t", 7)]
    assert (session.partitions[("t", 1)].fetch_offset, session.partitions[("t", 1)].max_bytes) == (42, 2048)
    session.sent_records(session.partitions[("t", 1)])  # records sent: to the back of the line
    assert list(session.partitions) == [("t", 2), ("t", 7), ("t", 1)]
