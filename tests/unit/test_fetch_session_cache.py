"""The fetch session cache (Kafka's FetchSessionCache): its shards, and who makes way for a new
session when every slot of a shard is taken."""

from broker.fetch_session import (
    EVICTION_MS, NO_SESSION, SHARDS, CachedPartition, FetchSessionCache, FetchSessionCacheShard)


def partitions(n: int) -> list[CachedPartition]:
    return [CachedPartition("t", i, 0, 1024) for i in range(n)]


def shard(slots: int) -> FetchSessionCacheShard:
    return FetchSessionCacheShard(slots, EVICTION_MS, 1, 1000)


def test_fewer_slots_than_shards_no_sessions():
    cache = FetchSessionCache(SHARDS - 1)
    assert [cache.create(False, True, partitions(3), 0) for _ in range(SHARDS)] == [NO_SESSION] * SHARDS


def test_new_sessions_go_to_the_shards_in_turn():
    cache = FetchSessionCache(SHARDS)  # one slot each
    made = [cache.create(False, True, partitions(1), 0) for _ in range(SHARDS)]
    assert NO_SESSION not in made and len(cache) == SHARDS
    assert cache.create(False, True, partitions(1), 0) == NO_SESSION  # the first shard again: full
    assert all(cache.get(session_id).id == session_id for session_id in made)
    cache.remove(made[1])
    assert cache.create(False, True, partitions(1), 0) != NO_SESSION  # shard 1's turn, and it has room
    assert cache.create(False, True, partitions(1), 0) == NO_SESSION  # shard 2: full


def test_young_sessions_are_kept_and_the_newcomer_gets_none():
    cache = shard(1)
    kept = cache.create(False, True, partitions(1), 0)
    assert kept != NO_SESSION
    assert cache.create(False, True, partitions(500), EVICTION_MS) == NO_SESSION  # not yet past its age
    assert cache.get(kept) is not None


def test_a_stale_session_makes_way_first():
    cache = shard(2)
    stale = cache.create(False, True, partitions(900), 0)
    used = cache.create(False, True, partitions(1), 0)
    cache.touch(cache.get(used), EVICTION_MS)
    newcomer = cache.create(False, True, partitions(1), EVICTION_MS + 1)
    assert newcomer != NO_SESSION
    assert cache.get(stale) is None and cache.get(used) is not None


def test_past_its_age_the_smallest_session_makes_way_for_a_bigger_one_only():
    cache = shard(2)
    small = cache.create(False, True, partitions(2), 0)
    big = cache.create(False, True, partitions(50), 0)
    now = EVICTION_MS + 1
    for session_id in (small, big):  # both in use: none is stale
        cache.touch(cache.get(session_id), now)
    assert cache.create(False, True, partitions(2), now) == NO_SESSION  # a tie keeps the incumbent
    assert cache.create(False, True, partitions(3), now) != NO_SESSION
    assert cache.get(small) is None and cache.get(big) is not None


def test_a_followers_session_takes_a_consumers_place_at_any_age():
    cache = shard(1)
    consumer = cache.create(False, True, partitions(100), 0)
    assert cache.create(True, True, partitions(1), 1) != NO_SESSION
    assert cache.get(consumer) is None


def test_incremental_updates_and_forgotten_partitions():
    cache = shard(1)
    session = cache.get(cache.create(False, True, partitions(3), 0))
    session.update([CachedPartition("t", 1, 42, 2048), CachedPartition("t", 7, 0, 1024)], [("t", 0)])
    assert list(session.partitions) == [("t", 1), ("t", 2), ("t", 7)]
    assert (session.partitions[("t", 1)].fetch_offset, session.partitions[("t", 1)].max_bytes) == (42, 2048)
    session.sent_records(session.partitions[("t", 1)])  # records sent: to the back of the line
    assert list(session.partitions) == [("t", 2), ("t", 7), ("t", 1)]
