"""Server-side assignors of the consumer group protocol (KIP-848): `uniform` and `range`.

An assignor maps each member to the partitions it should own (the group's target
assignment), from the members' subscriptions, the current target assignment and the
partition counts of the subscribed topics. The coordinator then moves each member towards
its target without ever letting two members own one partition (consumer_group.py).

- `uniform` (Kafka's UniformAssignor, the default): balanced (member partition counts differ
  by at most one among members that could take a partition) and sticky: a member keeps the
  partitions of its current target that are still subscribed, and only the excess of
  overloaded members moves.
- `range` (Kafka's RangeAssignor): per topic, the subscribed members sorted by member id take
  consecutive ranges, the first `partitions % members` one more; members subscribed to the
  same topics get the same partition numbers of each (co-partitioning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

TopicPartition = tuple[str, int]
Assignment = dict[str, dict[str, set[int]]]  # member id -> topic -> partitions


@dataclass(frozen=True)
class MemberSubscription:
    topics: frozenset[str]  # subscribed topics that exist
    current: dict[str, frozenset[int]]  # the member's current target assignment


def uniform(members: dict[str, MemberSubscription], partition_counts: dict[str, int]) -> Assignment:
    owner: dict[TopicPartition, str] = {}
    owned: dict[str, set[TopicPartition]] = {mid: set() for mid in members}
    # Stickiness: keep what is still subscribed and still exists.
    for mid in sorted(members):
        spec = members[mid]
        for topic, parts in spec.current.items():
            if topic not in spec.topics:
                continue
            for p in parts:
                tp = (topic, p)
                if p < partition_counts.get(topic, 0) and tp not in owner:
                    owner[tp] = mid
                    owned[mid].add(tp)
    every = sorted((t, p) for t in {t for s in members.values() for t in s.topics} for p in range(partition_counts[t]))
    candidates = {tp: sorted(mid for mid, s in members.items() if tp[0] in s.topics) for tp in every}
    for tp in every:
        if tp not in owner:
            mid = min(candidates[tp], key=lambda m: (len(owned[m]), m))
            owner[tp] = mid
            owned[mid].add(tp)
    _balance(owner, owned, candidates, every)
    return _by_topic(owned)


def _balance(owner: dict[TopicPartition, str], owned: dict[str, set[TopicPartition]],
             candidates: dict[TopicPartition, list[str]], every: list[TopicPartition]) -> None:
    """Move single partitions from a member to a less loaded one that subscribes to them,
    while that narrows a gap of two or more. Each move lowers the sum of squared counts, so
    this ends; the bound is only a guard."""
    for _ in range(len(every) * max(len(owned), 1)):
        moved = False
        for tp in sorted(every, key=lambda tp: -len(owned[owner[tp]])):
            source = owner[tp]
            target = min(candidates[tp], key=lambda m: (len(owned[m]), m))
            if len(owned[source]) - len(owned[target]) >= 2:
                owned[source].discard(tp)
                owned[target].add(tp)
                owner[tp] = target
                moved = True
                break
        if not moved:
            return


def range_(members: dict[str, MemberSubscription], partition_counts: dict[str, int]) -> Assignment:
    owned: dict[str, set[TopicPartition]] = {mid: set() for mid in members}
    for topic in sorted({t for s in members.values() for t in s.topics}):
        subscribers = sorted(mid for mid, s in members.items() if topic in s.topics)
        quota, extra = divmod(partition_counts[topic], len(subscribers))
        start = 0
        for i, mid in enumerate(subscribers):
            count = quota + (1 if i < extra else 0)
            owned[mid].update((topic, p) for p in range(start, start + count))
            start += count
    return _by_topic(owned)


def _by_topic(owned: dict[str, set[TopicPartition]]) -> Assignment:
    out: Assignment = {}
    for mid, tps in owned.items():
        topics: dict[str, set[int]] = {}
        for topic, p in tps:
            topics.setdefault(topic, set()).add(p)
        out[mid] = topics
    return out


ASSIGNORS: dict[str, Callable[[dict[str, MemberSubscription], dict[str, int]], Assignment]] = {
    "uniform": uniform,
    "range": range_,
}
