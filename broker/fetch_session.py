"""Fetch sessions (KIP-227): the broker remembers what a consumer fetches, so that it need not
resend (and the broker need not re-read and re-answer) a thousand unchanged partitions.

A full fetch (epoch 0) names every partition and may create a session; its response carries
the session's id. Each incremental fetch (epoch 1, 2, ...) names only partitions whose fetch
offset or size changed, plus those to forget, and its response carries only partitions with
news: records, a changed high watermark, last stable offset or log start offset, or an error.
Epoch -1 closes the session (and is a full fetch without one).

Sessions are not tied to connections: a client may carry on its session on a new connection,
and one left behind ages out. The cache holds at most `max.incremental.fetch.session.cache.slots`
sessions, split among SHARDS shards as Kafka splits them (so with fewer than SHARDS slots
there are none). When its shard is full, a new session may take the place of one unused for
EVICTION_MS, else of the least valuable one older than EVICTION_MS (a consumer's before a
follower's, then the one with the fewest partitions) when the newcomer is worth more, as
Kafka's FetchSessionCache decides; otherwise the full fetch is answered without a session
(session id 0).
"""

from __future__ import annotations

import random
from collections import OrderedDict

NO_SESSION = 0
INITIAL_EPOCH = 0
FINAL_EPOCH = -1
# Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS: a session is safe from newcomers (and not
# stale) for this long after its creation (its last use).
EVICTION_MS = 120_000
# Kafka's NumFetchSessionCacheShards: the cache's slots are split evenly among this many shards.
SHARDS = 8
SESSION_ID_LIMIT = 0x7FFFFFFF
# A cached high watermark that matches none: the partition is answered on the next fetch.
UNKNOWN_OFFSET = -1


class CachedPartition:
    """One partition of a session: what the client asked for and what it was last told."""

    __slots__ = ("topic", "index", "fetch_offset", "max_bytes", "high_watermark", "last_stable_offset",
                 "log_start_offset")

    def __init__(self, topic, index: int, fetch_offset: int, max_bytes: int):
        self.topic = topic  # the name (Fetch v12 and older) or the topic id (v13+)
        self.index = index
        self.fetch_offset = fetch_offset
        self.max_bytes = max_bytes
        self.high_watermark = UNKNOWN_OFFSET
        self.last_stable_offset = UNKNOWN_OFFSET
        self.log_start_offset = UNKNOWN_OFFSET

    @property
    def key(self) -> tuple:
        return self.topic, self.index

    def remember(self, error_code: int, high_watermark: int, last_stable_offset: int, log_start_offset: int) -> None:
        """What the client has just been told. After an error nothing is known: the partition
        is answered again once the error has gone."""
        if error_code:
            high_watermark = UNKNOWN_OFFSET
        self.high_watermark = high_watermark
        self.last_stable_offset = last_stable_offset
        self.log_start_offset = log_start_offset


class FetchSession:
    __slots__ = ("id", "epoch", "privileged", "uses_topic_ids", "created_ms", "last_used_ms", "partitions")

    def __init__(self, session_id: int, privileged: bool, uses_topic_ids: bool, now_ms: int,
                 partitions: list[CachedPartition]):
        self.id = session_id
        self.epoch = next_epoch(INITIAL_EPOCH)
        self.privileged = privileged  # a follower's (replica_id >= 0)
        self.uses_topic_ids = uses_topic_ids
        self.created_ms = self.last_used_ms = now_ms
        # In fetch order: a partition that returned records goes to the back (see sent_records),
        # so a response's byte budget is shared fairly across fetches.
        self.partitions: dict[tuple, CachedPartition] = {p.key: p for p in partitions}

    def update(self, requested: list[CachedPartition], forgotten: list[tuple]) -> None:
        """An incremental fetch's changes: new or changed partitions, then those to forget."""
        partitions = self.partitions
        for p in requested:
            cached = partitions.get(p.key)
            if cached is None:
                partitions[p.key] = p
            else:
                cached.fetch_offset = p.fetch_offset
                cached.max_bytes = p.max_bytes
        for key in forgotten:
            partitions.pop(key, None)

    def sent_records(self, partition: CachedPartition) -> None:
        moved = self.partitions.pop(partition.key, None)
        if moved is not None:  # (unless forgotten meanwhile, by a fetch on another connection)
            self.partitions[partition.key] = moved

    def eviction_rank(self) -> tuple:
        """Smallest first: who makes way for a newcomer (Kafka's EvictableKey)."""
        return self.privileged, len(self.partitions), self.id


def next_epoch(epoch: int) -> int:
    return 1 if epoch >= 0x7FFFFFFF else epoch + 1


class FetchSessionCache:
    """SHARDS shards of max_slots // SHARDS slots each, as Kafka divides its cache: a new
    session goes to the next shard in turn and competes for a slot there only; its id says
    which shard holds it."""

    def __init__(self, max_slots: int, eviction_ms: int = EVICTION_MS):
        id_range = SESSION_ID_LIMIT // SHARDS
        self._id_range = id_range
        self._shards = [FetchSessionCacheShard(max_slots // SHARDS, eviction_ms, max(1, n * id_range),
                                               (n + 1) * id_range) for n in range(SHARDS)]
        self._next_shard = 0

    def __len__(self) -> int:
        return sum(len(shard) for shard in self._shards)

    def _shard_of(self, session_id: int) -> "FetchSessionCacheShard | None":
        n = session_id // self._id_range
        return self._shards[n] if 0 <= n < SHARDS else None

    def get(self, session_id: int) -> FetchSession | None:
        shard = self._shard_of(session_id)
        return shard.get(session_id) if shard else None

    def remove(self, session_id: int) -> None:
        shard = self._shard_of(session_id)
        if shard:
            shard.remove(session_id)

    def touch(self, session: FetchSession, now_ms: int) -> None:
        self._shard_of(session.id).touch(session, now_ms)

    def create(self, privileged: bool, uses_topic_ids: bool, partitions: list[CachedPartition],
               now_ms: int) -> int:
        """A new session's id, or NO_SESSION when its shard has no room for it."""
        shard = self._shards[self._next_shard]
        self._next_shard = (self._next_shard + 1) % SHARDS
        return shard.create(privileged, uses_topic_ids, partitions, now_ms)


class FetchSessionCacheShard:
    def __init__(self, max_slots: int, eviction_ms: int, first_id: int, id_limit: int):
        self.max_slots = max_slots
        self.eviction_ms = eviction_ms
        self._ids = (first_id, id_limit - 1)  # this shard's session ids, both ends included
        # Least recently used first: the stalest session is the first one.
        self._sessions: OrderedDict[int, FetchSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: int) -> FetchSession | None:
        return self._sessions.get(session_id)

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def touch(self, session: FetchSession, now_ms: int) -> None:
        session.last_used_ms = now_ms
        self._sessions.move_to_end(session.id)

    def create(self, privileged: bool, uses_topic_ids: bool, partitions: list[CachedPartition],
               now_ms: int) -> int:
        """A new session's id, or NO_SESSION when there is no room for it."""
        if len(self._sessions) >= self.max_slots and not self._evict_for(privileged, len(partitions), now_ms):
            return NO_SESSION
        session_id = self._new_id()
        self._sessions[session_id] = FetchSession(session_id, privileged, uses_topic_ids, now_ms, partitions)
        return session_id

    def _new_id(self) -> int:
        while True:
            session_id = random.randint(*self._ids)
            if session_id not in self._sessions:
                return session_id

    def _evict_for(self, privileged: bool, size: int, now_ms: int) -> bool:
        """Make room for a session of `size` partitions: evict a stale session, else the least
        valuable one that is past its protected age, if it is worth less than the newcomer."""
        if not self._sessions:
            return False  # no slots at all
        stalest = next(iter(self._sessions.values()))
        if now_ms - stalest.last_used_ms > self.eviction_ms:
            self.remove(stalest.id)
            return True
        # A scan, but only when the cache is full and nothing is stale. A follower's session may
        # take the place of any consumer's; otherwise only sessions past their protected age go.
        candidates = [s for s in self._sessions.values()
                      if now_ms - s.created_ms > self.eviction_ms or (privileged and not s.privileged)]
        if not candidates:
            return False
        victim = min(candidates, key=FetchSession.eviction_rank)
        if (privileged, size, 0) < victim.eviction_rank():  # ties keep the incumbent
            return False
        self.remove(victim.id)
        return True
