"""Committed offsets: the in-memory view of the offset records in `__consumer_offsets`.

The store only holds what is durable: the coordinator writes the records first and
applies them here after the append succeeded (or while replaying the log at start).

Room for transactions (a later issue): TxnOffsetCommit will keep *pending* offsets per
producer id beside these, invisible to OffsetFetch (UNSTABLE_OFFSET_COMMIT with
require_stable), and move them here when the COMMIT marker is written. Nothing below
assumes that every stored offset came from a plain OffsetCommit.
"""

from __future__ import annotations

from typing import Callable, Iterator

from broker.coordinator.messages import OffsetValue

TopicPartition = tuple[str, int]


class OffsetStore:
    def __init__(self) -> None:
        self._by_group: dict[str, dict[TopicPartition, OffsetValue]] = {}

    def get(self, group_id: str, topic: str, partition: int) -> OffsetValue | None:
        return self._by_group.get(group_id, {}).get((topic, partition))

    def of_group(self, group_id: str) -> dict[TopicPartition, OffsetValue]:
        return dict(self._by_group.get(group_id, {}))

    def has_offsets(self, group_id: str) -> bool:
        return bool(self._by_group.get(group_id))

    def groups(self) -> Iterator[str]:
        return iter(list(self._by_group))

    def put(self, group_id: str, topic: str, partition: int, value: OffsetValue) -> None:
        self._by_group.setdefault(group_id, {})[(topic, partition)] = value

    def remove(self, group_id: str, topic: str, partition: int) -> bool:
        offsets = self._by_group.get(group_id)
        if not offsets or (topic, partition) not in offsets:
            return False
        del offsets[(topic, partition)]
        if not offsets:
            del self._by_group[group_id]
        return True

    def remove_group(self, group_id: str) -> list[TopicPartition]:
        return list(self._by_group.pop(group_id, {}))

    def expired(self, group_id: str, now_ms: int, retention_ms: int,
                base_timestamp: Callable[[OffsetValue], int],
                keep_topics: set[str] = frozenset()) -> list[TopicPartition]:
        """Offsets past retention: an explicit expire timestamp (OffsetCommit v2-v4
        retention_time) wins, else `base_timestamp(offset) + retention_ms`."""
        out = []
        for (topic, partition), value in self._by_group.get(group_id, {}).items():
            if topic in keep_topics:
                continue
            if value.expire_timestamp >= 0:
                if now_ms >= value.expire_timestamp:
                    out.append((topic, partition))
            elif base_timestamp(value) + retention_ms <= now_ms:
                out.append((topic, partition))
        return out
