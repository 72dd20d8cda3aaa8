"""Groups and their committed offsets: the in-memory state and its `__consumer_offsets` records.

Kafka's GroupMetadataManager: every change is appended to the log first and applied in
memory after the append succeeded, so what a client was told is always what a restart
rebuilds. At start the whole topic is replayed in the background (tombstones delete), groups
with members come back Stable with their last stored generation and assignment, groups with only
offsets come back as Empty "simple" groups.

Expiry (`offsets.retention.minutes`, checked every `offsets.retention.check.interval.ms`)
follows Kafka (KIP-211): an Empty group's offsets expire all at once, counted from when
the group became Empty; a simple group's offsets (no protocol type) each from its commit;
a Stable consumer group's offsets for topics it no longer subscribes to from their commit.
An Empty group left without offsets is removed (group tombstone). Offsets of topics that
no longer exist are dropped at the same time.
"""

from __future__ import annotations

import logging
import time

from broker.coordinator import consumer_records as cr
from broker.coordinator import messages as m
from broker.coordinator.consumer_group import ConsumerGroup
from broker.coordinator.group import CONSUMER_PROTOCOL_TYPE, DEAD, EMPTY, STABLE, Group, Member
from broker.coordinator.metadata_log import GroupMetadataLog, WriteError
from broker.coordinator.offsets import OffsetStore, TopicPartition

log = logging.getLogger("schemabus.coordinator")


# Records replayed between two returns to the event loop (~5-10 ms of work).
LOAD_RECORDS_PER_PAUSE = 500


def now_ms() -> int:
    return int(time.time() * 1000)


class GroupMetadataManager:
    def __init__(self, topics, config):
        self.topics = topics
        self.config = config
        self.log = GroupMetadataLog(topics, config)
        self.offsets = OffsetStore()
        self.groups: dict[str, Group] = {}  # classic groups
        self.consumer_groups: dict[str, ConsumerGroup] = {}  # consumer-protocol (KIP-848) groups

    # -- groups -------------------------------------------------------------------------

    def get(self, group_id: str) -> Group | None:
        return self.groups.get(group_id)

    def create(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = Group(group_id, now_ms())
        return group

    # -- loading ------------------------------------------------------------------------

    def load(self) -> list[Group]:
        """Rebuild groups and offsets from the log; returns the groups that have members."""
        for _ in self._loader():
            pass
        return self._groups_with_members()

    async def load_paced(self, pause) -> list[Group]:
        """load(), awaiting `pause()` every LOAD_RECORDS_PER_PAUSE records so that the event
        loop keeps serving while a large `__consumer_offsets` is replayed."""
        for count, _ in enumerate(self._loader(), 1):
            if count % LOAD_RECORDS_PER_PAUSE == 0:
                await pause()
        return self._groups_with_members()

    def _loader(self):
        """Apply the log's records one by one, yielding after each."""
        group_values: dict[str, m.GroupValue] = {}
        skipped = 0
        topic_names = {t.topic_id: t.name for t in self.topics.topics.values()}
        for key, value, producer_id in self.log.replay():
            try:
                consumer_key = cr.decode_key(key)
                if consumer_key is not None:
                    self._replay_consumer_record(cr.decode(consumer_key, value, topic_names.get), group_values)
                    yield
                    continue
                k = m.decode_key(key)
                if isinstance(k, m.OffsetKey) and producer_id >= 0:
                    if value is not None:  # an offset of a transaction still open
                        self.offsets.put_pending(k.group, producer_id, k.topic, k.partition,
                                                 m.decode_offset_value(value))
                elif isinstance(k, m.OffsetKey):
                    if value is None:
                        self.offsets.remove(k.group, k.topic, k.partition)
                    else:
                        self.offsets.put(k.group, k.topic, k.partition, m.decode_offset_value(value))
                elif isinstance(k, m.GroupKey):
                    if value is None:
                        group_values.pop(k.group, None)
                    else:
                        group_values[k.group] = m.decode_group_value(value)
                        self.consumer_groups.pop(k.group, None)  # a later classic group of that id
            except m.FormatError as exc:
                skipped += 1
                log.warning("skipping an unreadable record of __consumer_offsets: %s", exc)
            yield
        for group_id, value in group_values.items():
            self.groups[group_id] = self._group_from_value(group_id, value)
        for group_id in self.offsets.groups():
            if group_id not in self.consumer_groups:
                self.create(group_id)
        if self.groups or skipped:
            log.info("loaded %d group(s) from __consumer_offsets (%d unreadable record(s) skipped)",
                     len(self.groups), skipped)

    def _replay_consumer_record(self, record: cr.Record, group_values: dict) -> None:
        if record.type == cr.GROUP_EPOCH and record.value is None:
            self.consumer_groups.pop(record.group_id, None)  # deleted, or converted to a classic group
            return
        group = self.consumer_groups.get(record.group_id)
        if group is None:
            if record.value is None:
                return  # a tombstone of a group deleted since
            group = self.consumer_groups[record.group_id] = ConsumerGroup(record.group_id)
            group_values.pop(record.group_id, None)  # an upgraded classic group
        group.apply(record)

    def _groups_with_members(self) -> list[Group]:
        return [g for g in self.groups.values() if g.members]

    @staticmethod
    def _group_from_value(group_id: str, value: m.GroupValue) -> Group:
        state = STABLE if value.members and value.protocol else EMPTY
        timestamp = value.current_state_timestamp if value.current_state_timestamp >= 0 else now_ms()
        group = Group(group_id, timestamp, state)
        group.generation_id = value.generation
        group.protocol_type = value.protocol_type or None
        group.protocol_name = value.protocol if state == STABLE else None
        if state == STABLE:
            for mv in value.members:
                member = Member(mv.member_id, mv.group_instance_id, mv.client_id, mv.client_host,
                                mv.rebalance_timeout, mv.session_timeout, group.protocol_type or "",
                                [(value.protocol, mv.subscription)], mv.assignment)
                group.members[member.member_id] = member
                if member.group_instance_id is not None:
                    group.static_members[member.group_instance_id] = member.member_id
            group.leader_id = value.leader if value.leader in group.members else next(iter(group.members))
            group.subscribed = group._compute_subscribed()
        elif group.protocol_type == CONSUMER_PROTOCOL_TYPE:
            group.subscribed = set()
        return group

    # -- writes ---------------------------------------------------------------------------

    def store_group(self, group: Group, assignments: dict[str, bytes]) -> None:
        """Persist the group's generation, members and assignment (raises WriteError)."""
        self.log.append(group.group_id, [group_record(group, assignments)])

    def migrate(self, group_id: str, consumer_records: list[cr.Record], classic: Group | None,
                topic_id) -> None:
        """One append for a migration (group_migration.py): the consumer group's records, then
        the classic group's record, or its tombstone when `classic` is None (raises WriteError)."""
        entries = [(cr.encode_key(r), cr.encode_value(r, topic_id)) for r in consumer_records]
        if classic is None:
            entries.insert(0, (m.encode_group_key(group_id), None))  # Kafka tombstones the classic group first
        else:
            entries.append(group_record(classic, {mid: mem.assignment for mid, mem in classic.members.items()}))
        self.log.append(group_id, entries)

    def adopt(self, group: Group) -> None:
        """A consumer group downgraded to `group` (its records are written)."""
        self.consumer_groups.pop(group.group_id, None)
        self.groups[group.group_id] = group

    def release(self, group: Group) -> None:
        """A classic group upgraded to a consumer group (its tombstone is written)."""
        self._drop(group)

    def store_offsets(self, group_id: str, offsets: dict[TopicPartition, m.OffsetValue]) -> None:
        entries = [(m.encode_offset_key(group_id, topic, partition), m.encode_offset_value(value))
                   for (topic, partition), value in offsets.items()]
        self.log.append(group_id, entries)
        for (topic, partition), value in offsets.items():
            self.offsets.put(group_id, topic, partition, value)

    def store_pending_offsets(self, group_id: str, producer_id: int, producer_epoch: int,
                              offsets: dict[TopicPartition, m.OffsetValue]) -> None:
        """TxnOffsetCommit: the records go into the producer's transaction."""
        entries = [(m.encode_offset_key(group_id, topic, partition), m.encode_offset_value(value))
                   for (topic, partition), value in offsets.items()]
        self.log.append(group_id, entries, producer_id, producer_epoch)
        for (topic, partition), value in offsets.items():
            self.offsets.put_pending(group_id, producer_id, topic, partition, value)

    def delete_group(self, group: Group) -> None:
        """DeleteGroups: tombstones for the offsets and the group, then the group is Dead."""
        entries = [(m.encode_offset_key(group.group_id, t, p), None) for t, p in self.offsets.of_group(group.group_id)]
        entries.append((m.encode_group_key(group.group_id), None))
        self.log.append(group.group_id, entries)
        self.offsets.remove_group(group.group_id)
        self._drop(group)

    def delete_consumer_group(self, group: ConsumerGroup) -> None:
        """DeleteGroups on an Empty consumer group:
        tombstones for its offsets, its assignment epoch and its group epoch."""
        gid = group.group_id
        entries = [(m.encode_offset_key(gid, t, p), None) for t, p in self.offsets.of_group(gid)]
        self.log.append(gid, entries + _consumer_group_tombstones(gid))
        self.offsets.remove_group(gid)
        self.consumer_groups.pop(gid, None)

    def convert_consumer_group(self, group: ConsumerGroup) -> None:
        """An Empty consumer group becomes a classic group: its records go, its offsets stay."""
        gid = group.group_id
        self.log.append(gid, _consumer_group_tombstones(gid))
        self.consumer_groups.pop(gid, None)

    def remove_group_metadata(self, group: Group) -> None:
        """The group record's tombstone, its offsets kept: an Empty classic group becoming a
        consumer group (raises WriteError)."""
        self.log.append(group.group_id, [(m.encode_group_key(group.group_id), None)])
        self._drop(group)

    def delete_offsets(self, group: Group, partitions: list[TopicPartition]) -> None:
        """Tombstones for `partitions`; an Empty group left without offsets goes too."""
        present = [tp for tp in partitions if self.offsets.get(group.group_id, *tp) is not None]
        self._remove_offsets(group, present)

    def _remove_offsets(self, group: Group, partitions: list[TopicPartition]) -> None:
        remaining = set(self.offsets.of_group(group.group_id)) - set(partitions)
        dead = group.is_(EMPTY) and not remaining and not group.pending_members
        self._tombstone_offsets(group.group_id, partitions,
                                [(m.encode_group_key(group.group_id), None)] if dead else [])
        if dead:
            self._drop(group)

    def delete_consumer_group_offsets(self, group: ConsumerGroup, partitions: list[TopicPartition]) -> None:
        """OffsetDelete on a consumer group: tombstones for those of `partitions` it has (the
        group stays, as in Kafka). Raises WriteError."""
        gid = group.group_id
        self._tombstone_offsets(gid, [tp for tp in partitions if self.offsets.get(gid, *tp) is not None])

    def _tombstone_offsets(self, group_id: str, partitions: list[TopicPartition],
                           group_records: list[tuple[bytes, None]] | None = None) -> None:
        """Tombstones for `partitions` (and the group's own `group_records`) in one append, then
        the offsets leave the store; a failed append (WriteError) changes nothing."""
        entries = [(m.encode_offset_key(group_id, t, p), None) for t, p in partitions]
        self.log.append(group_id, entries + (group_records or []))
        for topic, partition in partitions:
            self.offsets.remove(group_id, topic, partition)

    def _drop(self, group: Group) -> None:
        for member_id in list(group.pending_members):
            group.remove_pending(member_id)
        group.transition(DEAD, now_ms())
        self.groups.pop(group.group_id, None)

    # -- expiry ---------------------------------------------------------------------------

    def expire(self, now: int | None = None) -> tuple[int, int]:
        """One retention pass; returns (offsets removed, groups removed)."""
        now = now_ms() if now is None else now
        retention_ms = self.config["offsets.retention.minutes"] * 60_000
        removed_offsets = removed_groups = 0
        for group in list(self.groups.values()):
            expired = self._expired(group, now, retention_ms)
            if not expired and not (group.is_(EMPTY) and not self.offsets.has_offsets(group.group_id)):
                continue
            if group.pending_members and not self.offsets.has_offsets(group.group_id):
                continue  # a group someone is joining right now
            try:
                self._remove_offsets(group, expired)
            except WriteError as exc:
                log.error("offset expiry of group %s failed: %s", group.group_id, exc)
                continue
            removed_offsets += len(expired)
            removed_groups += group.is_(DEAD)
        for group in list(self.consumer_groups.values()):
            expired, gone = self._expire_consumer_group(group, now, retention_ms)
            removed_offsets += expired
            removed_groups += gone
        if removed_offsets or removed_groups:
            log.info("removed %d expired offset(s) and %d empty group(s)", removed_offsets, removed_groups)
        return removed_offsets, removed_groups

    def _expire_consumer_group(self, group: ConsumerGroup, now: int, retention_ms: int) -> tuple[int, bool]:
        """A consumer group's offsets expire from their commit unless the group is subscribed to
        their topic (as Kafka's for consumer groups); an Empty group left without offsets goes.
        Returns (offsets removed, whether the group was removed)."""
        gid = group.group_id
        expired = [(t, p) for t, p in self.offsets.expired(gid, now, retention_ms, lambda v: v.commit_timestamp)
                   if not group.is_subscribed_to(t) or self.topics.partition(t, p) is None]
        remaining = set(self.offsets.of_group(gid)) - set(expired)
        dead = not group.members and not remaining
        try:
            self._tombstone_offsets(gid, expired, _consumer_group_tombstones(gid) if dead else [])
        except WriteError as exc:
            log.error("offset expiry of group %s failed: %s", gid, exc)
            return 0, False
        if dead:
            self.consumer_groups.pop(gid, None)
        return len(expired), dead

    def _expired(self, group: Group, now: int, retention_ms: int) -> list[TopicPartition]:
        gid = group.group_id
        gone = [(t, p) for t, p in self.offsets.of_group(gid) if self.topics.partition(t, p) is None]
        if group.protocol_type is not None and group.is_(EMPTY):
            # Counted from when the group became Empty, not from each commit.
            expired = self.offsets.expired(gid, now, retention_ms, lambda v: group.state_timestamp)
        elif group.protocol_type == CONSUMER_PROTOCOL_TYPE and group.subscribed is not None and group.is_(STABLE):
            expired = self.offsets.expired(gid, now, retention_ms, lambda v: v.commit_timestamp, group.subscribed)
        elif group.protocol_type is None:
            expired = self.offsets.expired(gid, now, retention_ms, lambda v: v.commit_timestamp)
        else:
            expired = []
        return sorted(set(expired) | set(gone))


def group_record(group: Group, assignments: dict[str, bytes]) -> tuple[bytes, bytes]:
    """The classic group's record: its generation, members and assignment."""
    protocol = group.protocol_name
    value = m.GroupValue(
        protocol_type=group.protocol_type or "", generation=group.generation_id, protocol=protocol,
        leader=group.leader_id if group.members else None, current_state_timestamp=group.state_timestamp,
        members=[m.MemberValue(mem.member_id, mem.group_instance_id, mem.client_id, mem.client_host,
                               mem.rebalance_timeout_ms, mem.session_timeout_ms,
                               mem.metadata(protocol) if protocol else b"",
                               assignments.get(mem.member_id, b""))
                 for mem in group.members.values()],
    )
    return m.encode_group_key(group.group_id), m.encode_group_value(value)


def _consumer_group_tombstones(group_id: str) -> list[tuple[bytes, None]]:
    """An Empty consumer group's records that remain (its members' went as they left)."""
    return [(cr.encode_key(cr.Record(kind, group_id, None, None)), None) for kind in (cr.TARGET_EPOCH, cr.GROUP_EPOCH)]
