"""Committed offsets: the in-memory view of the offset records in `__consumer_offsets`.

The store only holds what is durable: the coordinator writes the records first and
applies them here after the append succeeded (or while replaying the log at start).

TxnOffsetCommit keeps *pending* offsets per producer id beside these, invisible to
OffsetFetch (UNSTABLE_OFFSET_COMMIT with require_stable), and moves them here when the
transaction commits (dropped when it aborts).
"""

from __future__ import annotations

from typing import Callable, Iterator

from broker.coordinator.messages import OffsetValue

TopicPartition = tuple[str, int]


class OffsetStore:
    def __init__(self) -> None:
        self._by_group: dict[str, dict[TopicPartition, OffsetValue]] = {}
        # Offsets committed inside open transactions: group -> producer id -> offsets.
        # Invisible to OffsetFetch until the transaction commits.
        self._pending: dict[str, dict[int, dict[TopicPartition, OffsetValue]]] = {}

    # -- transactional offsets (TxnOffsetCommit) -------------------------------------

    def put_pending(self, group_id: str, producer_id: int, topic: str, partition: int, value: OffsetValue) -> None:
        self._pending.setdefault(group_id, {}).setdefault(producer_id, {})[(topic, partition)] = value

    def complete_pending(self, group_id: str, producer_id: int, commit: bool) -> None:
        """The producer's transaction ended: its offsets become committed, or vanish."""
        by_producer = self._pending.get(group_id, {})
        offsets = by_producer.pop(producer_id, {})
        if not by_producer:
            self._pending.pop(group_id, None)
        if commit:
            for (topic, partition), value in offsets.items():
                self.put(group_id, topic, partition, value)

    def groups_pending_for(self, producer_id: int) -> list[str]:
        """The groups holding offsets of this producer's open transaction."""
        return [group for group, by_producer in self._pending.items() if producer_id in by_producer]

    def is_pending(self, group_id: str, topic: str, partition: int) -> bool:
        return any((topic, partition) in offsets for offsets in self._pending.get(group_id, {}).values())

    def has_pending(self, group_id: str) -> bool:
        return bool(self._pending.get(group_id))

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
