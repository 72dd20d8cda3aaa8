"""Consumer groups through the Admin API: who is in a group, how far behind it is, and resetting its
committed offsets; with a small in-memory history of each group's lag for the group page's chart."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from console.backends import SERVICE_TIMEOUT_S, ServiceError

# States in which a group has no member whose commits could overwrite a reset (kafka-consumer-groups
# resets only these: "Assignments can only be reset if the group is inactive").
INACTIVE_STATES = ("EMPTY", "DEAD")


def _wait(future, what: str):
    try:
        return future.result(timeout=SERVICE_TIMEOUT_S)
    except KafkaException as exc:
        raise ServiceError("Kafka", f"{what}: {exc.args[0].str() if exc.args else exc}") from None
    except TimeoutError:
        raise ServiceError("Kafka", f"{what}: no answer within {SERVICE_TIMEOUT_S:.0f}s") from None


def enum_name(enum_value) -> str:
    return getattr(enum_value, "name", str(enum_value))


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int  # -1: nothing committed
    end: int
    member: str | None = None  # the client id of the member assigned the partition

    @property
    def lag(self) -> int | None:
        return self.end - self.committed if self.committed >= 0 else None


def committed_offsets(admin: AdminClient, group_id: str) -> list[TopicPartition]:
    request = [ConsumerGroupTopicPartitions(group_id)]
    found = _wait(admin.list_consumer_group_offsets(request, request_timeout=SERVICE_TIMEOUT_S)[group_id],
                  f"committed offsets of {group_id}")
    return sorted(found.topic_partitions or [], key=lambda tp: (tp.topic, tp.partition))


def offsets_at(admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
    """Each partition's offset for `spec` (earliest, latest or a timestamp's: -1 when no record is
    that recent)."""
    if not partitions:
        return {}
    keys = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
    futures = admin.list_offsets({tp: spec for tp in keys}, request_timeout=SERVICE_TIMEOUT_S)
    return {(tp.topic, tp.partition): _wait(futures[tp], f"offsets of {tp.topic}").offset for tp in keys}


def describe(admin: AdminClient, group_ids: list[str]) -> dict:
    if not group_ids:
        return {}
    futures = admin.describe_consumer_groups(group_ids, request_timeout=SERVICE_TIMEOUT_S)
    return {group_id: _wait(future, f"describing {group_id}") for group_id, future in futures.items()}


def lag(admin: AdminClient, group_id: str, description=None) -> list[PartitionLag]:
    """The group's committed offset, the partition's end and the lag, per partition it committed to
    (or is assigned)."""
    committed = {(tp.topic, tp.partition): tp.offset for tp in committed_offsets(admin, group_id)}
    owners = {}
    for member in (description.members if description else []):
        for tp in (member.assignment.topic_partitions if member.assignment else []):
            owners[(tp.topic, tp.partition)] = member.client_id
            committed.setdefault((tp.topic, tp.partition), -1)
    ends = offsets_at(admin, [TopicPartition(t, p) for t, p in committed], OffsetSpec.latest())
    return [PartitionLag(t, p, committed[(t, p)], ends[(t, p)], owners.get((t, p))) for t, p in sorted(committed)]


def total_lag(rows: list[PartitionLag]) -> int:
    return sum(row.lag for row in rows if row.lag is not None)


def list_groups(admin: AdminClient) -> list[dict]:
    """Every group with its type, state, members and total lag."""
    listing = _wait(admin.list_consumer_groups(request_timeout=SERVICE_TIMEOUT_S), "listing consumer groups")
    ids = sorted(g.group_id for g in listing.valid)
    types = {g.group_id: enum_name(g.type) for g in listing.valid}
    descriptions = describe(admin, ids)
    rows = []
    for group_id in ids:
        description = descriptions[group_id]
        group_type = enum_name(description.type) if enum_name(description.type) != "UNKNOWN" else types[group_id]
        try:
            group_lag, lag_error = total_lag(lag(admin, group_id, description)), None
        except ServiceError as exc:  # one group's offsets out of reach must not hide the others
            group_lag, lag_error = None, exc.message
        rows.append({"group_id": group_id, "type": group_type.lower(), "state": enum_name(description.state),
                     "members": len(description.members), "lag": group_lag, "lag_error": lag_error})
    return rows


# -- resetting offsets -------------------------------------------------------------------------


class ResetRefused(Exception):
    """The reset cannot be done as asked; the message says why (nothing was changed)."""


def parse_timestamp(text: str) -> int:
    """ISO 8601 (UTC unless it says otherwise) or milliseconds since the epoch → epoch ms."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    when = datetime.fromisoformat(text)  # ValueError: not a date
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


def reset_targets(admin: AdminClient, partitions: list[TopicPartition], target: str,
                  timestamp_ms: int | None = None, offset: int | None = None) -> list[TopicPartition]:
    """The new committed offset of each partition, as kafka-consumer-groups computes it: a timestamp
    with no record at or after it means the end; an offset outside the partition is clamped to
    its first or end offset."""
    earliest = offsets_at(admin, partitions, OffsetSpec.earliest())
    latest = offsets_at(admin, partitions, OffsetSpec.latest())
    if target == "earliest":
        chosen = earliest
    elif target == "latest":
        chosen = latest
    elif target == "timestamp":
        found = offsets_at(admin, partitions, OffsetSpec.for_timestamp(timestamp_ms))
        chosen = {key: value if value >= 0 else latest[key] for key, value in found.items()}
    elif target == "offset":
        chosen = {key: min(max(offset, earliest[key]), latest[key]) for key in earliest}
    else:
        raise ValueError(f"unknown reset target {target!r}")
    return [TopicPartition(tp.topic, tp.partition, chosen[(tp.topic, tp.partition)]) for tp in partitions]


def reset_offsets(admin: AdminClient, group_id: str, topic: str | None, target: str,
                  timestamp_ms: int | None = None, offset: int | None = None) -> list[TopicPartition]:
    """Commits new offsets for the group (for all the partitions it has offsets for, or all of
    `topic`'s), only if the group has no members; ResetRefused otherwise. Returns what was
    committed."""
    description = describe(admin, [group_id])[group_id]
    state = enum_name(description.state)
    if state not in INACTIVE_STATES or description.members:
        raise ResetRefused(f"Offsets can only be reset when the group is inactive: {group_id} is {state} with "
                           f"{len(description.members)} member(s). Stop its consumers first.")
    # One topic: all its partitions (as --topic); all topics: the partitions the group committed to
    # (as --all-topics).
    partitions = _topic_partitions(admin, topic) if topic else committed_offsets(admin, group_id)
    if not partitions:
        raise ResetRefused(f"{group_id} has no committed offsets to reset; choose a topic.")
    targets = reset_targets(admin, partitions, target, timestamp_ms, offset)
    request = [ConsumerGroupTopicPartitions(group_id, targets)]
    result = _wait(admin.alter_consumer_group_offsets(request, request_timeout=SERVICE_TIMEOUT_S)[group_id],
                   f"resetting the offsets of {group_id}")
    failed = [tp for tp in result.topic_partitions if tp.error is not None]
    if failed:
        raise ServiceError("Kafka", "; ".join(f"{tp.topic}[{tp.partition}]: {tp.error.str()}" for tp in failed))
    return targets


def _topic_partitions(admin: AdminClient, topic: str) -> list[TopicPartition]:
    try:
        metadata = admin.list_topics(topic, timeout=SERVICE_TIMEOUT_S).topics.get(topic)
    except KafkaException as exc:
        raise ServiceError("Kafka", f"metadata of {topic}: {exc.args[0].str() if exc.args else exc}") from None
    if metadata is None or metadata.error is not None:
        raise ResetRefused(f"No topic {topic!r}.")
    return [TopicPartition(topic, p) for p in sorted(metadata.partitions)]


def delete_group(admin: AdminClient, group_id: str) -> None:
    _wait(admin.delete_consumer_groups([group_id], request_timeout=SERVICE_TIMEOUT_S)[group_id],
          f"deleting {group_id}")


# -- lag over time -------------------------------------------------------------------------------


class LagHistory:
    """The last `size` lag samples of each group, per topic, kept in the console's memory: taken
    whenever a group page or its refresh reads the lag, so a group's history starts when its page is
    first opened and ends when the console stops."""

    def __init__(self, size: int = 360):
        self.size = size
        self._lock = threading.Lock()
        self._samples: dict[str, deque] = {}

    def record(self, group_id: str, rows: list[PartitionLag], now: float | None = None) -> None:
        per_topic: dict[str, int] = {}
        for row in rows:
            per_topic[row.topic] = per_topic.get(row.topic, 0) + (row.lag or 0)
        with self._lock:
            samples = self._samples.setdefault(group_id, deque(maxlen=self.size))
            samples.append((time.time() if now is None else now, per_topic))

    def chart_data(self, group_id: str) -> dict:
        """Chart.js data: a label per sample (UTC time), a dataset of lags per topic."""
        with self._lock:
            samples = list(self._samples.get(group_id, ()))
        topics = sorted({topic for _, per_topic in samples for topic in per_topic})
        labels = [datetime.fromtimestamp(at, timezone.utc).strftime("%H:%M:%S") for at, _ in samples]
        return {"labels": labels,
                "datasets": [{"label": topic, "data": [per_topic.get(topic) for _, per_topic in samples]}
                             for topic in topics]}

    def forget(self, group_id: str) -> None:
        with self._lock:
            self._samples.pop(group_id, None)
