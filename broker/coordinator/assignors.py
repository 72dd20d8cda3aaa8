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
    every = sorted((t, p) for t in {t for s in members.values() for t in s.topics} for p in range(partition_counts[t]))
    candidates = {tp: sorted(mid for mid, s in members.items() if tp[0] in s.topics) for tp in every}
    # No member keeps more than an even share: with the same subscriptions everywhere, filling the
    # rest into the least loaded members is then balanced already.
    cap = -(-len(every) // max(len(members), 1))
    owner: dict[TopicPartition, str] = {}
    owned: dict[str, set[TopicPartition]] = {mid: set() for mid in members}
    for mid in sorted(members):  # stickiness: keep what is still subscribed and still exists
        spec = members[mid]
        kept = sorted((t, p) for t, parts in spec.current.items() if t in spec.topics
                      for p in parts if p < partition_counts.get(t, 0))
        for tp in kept:
            if tp not in owner and len(owned[mid]) < cap:
                owner[tp] = mid
                owned[mid].add(tp)
    for tp in every:
        if tp not in owner:
            mid = min(candidates[tp], key=lambda m: (len(owned[m]), m))
            owner[tp] = mid
            owned[mid].add(tp)
    _balance(owner, owned, candidates)
    return _by_topic(owned)


def _balance(owner: dict[TopicPartition, str], owned: dict[str, set[TopicPartition]],
             candidates: dict[TopicPartition, list[str]]) -> None:
    """With different subscriptions: move single partitions from the most loaded members to
    less loaded ones that subscribe to them, while that narrows a gap of two or more. Each
    move lowers the sum of squared counts, so this ends."""
    while True:
        for source in sorted(owned, key=lambda m: -len(owned[m])):
            move = _movable(owned, candidates, source)
            if move is not None:
                tp, target = move
                owned[source].discard(tp)
                owned[target].add(tp)
                owner[tp] = target
                break
        else:
            return


def _movable(owned: dict[str, set[TopicPartition]], candidates: dict[TopicPartition, list[str]],
             source: str) -> tuple[TopicPartition, str] | None:
    for tp in sorted(owned[source]):
        target = min(candidates[tp], key=lambda m: (len(owned[m]), m))
        if len(owned[source]) - len(owned[target]) >= 2:
            return tp, target
    return None


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
