"""A consumer-protocol (KIP-848) group: members, epochs, target assignment and reconciliation.

Kafka's ConsumerGroup and CurrentAssignmentBuilder, kept to the data and the rules of one
group; the coordinator (consumer_coordinator.py) drives it from heartbeats and timers.

Epochs: the group epoch is bumped whenever what the assignment depends on changes (a member
joins or leaves, a subscription or the subscribed topics' partitions change). The target
assignment is recomputed when the group epoch is ahead of the assignment epoch. Each member
then moves towards its target, one heartbeat at a time:

- partitions it owns that are not in its target are revoked first: the member stays at its
  epoch (UNREVOKED_PARTITIONS) until a heartbeat no longer lists them as owned;
- partitions of its target still owned (or being revoked) by another member are withheld
  (UNRELEASED_PARTITIONS) until their owner has let them go;
- otherwise it gets its whole target and the target's epoch (STABLE).

So a partition is owned by one member at a time, whatever the epochs. Every change is a
record (consumer_records.py); `apply` is the one way state changes, when a record is
written and when `__consumer_offsets` is replayed at start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from broker.coordinator import consumer_records as cr

EMPTY, ASSIGNING, RECONCILING, STABLE, DEAD = "Empty", "Assigning", "Reconciling", "Stable", "Dead"

# Kafka's MemberState bytes.
MEMBER_STABLE, UNREVOKED_PARTITIONS, UNRELEASED_PARTITIONS, MEMBER_UNKNOWN = 0, 1, 2, 127

LEAVE_EPOCH, STATIC_LEAVE_EPOCH = -1, -2

Partitions = cr.Partitions


@dataclass(eq=False)
class ConsumerMember:
    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    rebalance_timeout_ms: int = -1
    server_assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: int = MEMBER_STABLE
    assigned: Partitions = field(default_factory=dict)
    pending_revocation: Partitions = field(default_factory=dict)
    classic: cr.ClassicMetadata | None = None  # a member using the classic protocol (JoinGroup)
    session_timer: asyncio.TimerHandle | None = None
    rebalance_timer: asyncio.TimerHandle | None = None
    # A classic member must rejoin (join timer) or sync (sync timer) within its rebalance timeout.
    join_timer: asyncio.TimerHandle | None = None
    sync_timer: asyncio.TimerHandle | None = None

    @property
    def uses_classic_protocol(self) -> bool:
        return self.classic is not None

    def metadata(self) -> cr.MemberMetadata:
        return cr.MemberMetadata(self.instance_id, self.rack_id, self.client_id, self.client_host,
                                 self.subscribed_topic_names, self.subscribed_topic_regex,
                                 self.rebalance_timeout_ms, self.server_assignor, self.classic)

    def current(self) -> cr.CurrentAssignment:
        return cr.CurrentAssignment(self.member_epoch, self.previous_member_epoch, self.state,
                                    self.assigned, self.pending_revocation)

    def cancel_timers(self) -> None:
        for timer in (self.session_timer, self.rebalance_timer, self.join_timer, self.sync_timer):
            if timer is not None:
                timer.cancel()
        self.session_timer = self.rebalance_timer = self.join_timer = self.sync_timer = None


class ConsumerGroup:
    def __init__(self, group_id: str):
        self.group_id = group_id
        self.group_epoch = 0
        self.assignment_epoch = 0
        self.members: dict[str, ConsumerMember] = {}
        self.static_members: dict[str, str] = {}  # instance id -> member id
        self.target: dict[str, Partitions] = {}  # member id -> its target assignment
        self.partition_epochs: dict[tuple[str, int], int] = {}  # owned or being revoked -> owner's epoch
        # What the assignment was computed from (not persisted: recomputed from the topics).
        self.subscribed_partitions: dict[str, int] | None = None  # topic -> partition count
        self.regex_matches: dict[str, frozenset[str]] = {}
        self.regex_refreshed_at = 0.0

    @property
    def state(self) -> str:
        if not self.members:
            return EMPTY
        if self.group_epoch != self.assignment_epoch:
            return ASSIGNING
        if any(m.member_epoch != self.assignment_epoch or m.state != MEMBER_STABLE for m in self.members.values()):
            return RECONCILING
        return STABLE

    def is_subscribed_to(self, topic: str) -> bool:
        return any(topic in m.subscribed_topic_names or topic in self.regex_matches.get(m.subscribed_topic_regex, ())
                   for m in self.members.values())

    def subscribed_topics(self, member: ConsumerMember) -> set[str]:
        topics = set(member.subscribed_topic_names)
        if member.subscribed_topic_regex is not None:
            topics |= self.regex_matches.get(member.subscribed_topic_regex, frozenset())
        return topics

    def supports_classic_protocols(self, protocol_type: str, names: list[str]) -> bool:
        """Whether a classic member may join: protocol type "consumer" and, if classic members
        are there, one protocol (assignor name) they all support, as Kafka checks."""
        if protocol_type != "consumer":
            return False
        classic = [m for m in self.members.values() if m.uses_classic_protocol]
        if not self.members or not classic:
            return bool(names)
        return any(all(name in (n for n, _ in m.classic.protocols) for m in classic) for name in names)

    def all_classic_except(self, member_id: str) -> bool:
        """Whether every member but `member_id` (a consumer-protocol member) uses the classic protocol."""
        member = self.members.get(member_id)
        return (member is not None and not member.uses_classic_protocol
                and all(m.uses_classic_protocol for mid, m in self.members.items() if mid != member_id))

    def waiting_on_unreleased(self, member: ConsumerMember) -> bool:
        """Whether a partition of the member's target is still owned by another member."""
        if member.state != UNRELEASED_PARTITIONS:
            return False
        return any(p not in member.assigned.get(topic, ()) and (topic, p) in self.partition_epochs
                   for topic, ps in self.target.get(member.member_id, {}).items() for p in ps)

    def static_member(self, instance_id: str | None) -> ConsumerMember | None:
        member_id = self.static_members.get(instance_id) if instance_id is not None else None
        return self.members.get(member_id) if member_id is not None else None

    # -- records ---------------------------------------------------------------------------

    def apply(self, record: cr.Record) -> None:
        value = record.value
        if record.type == cr.GROUP_EPOCH:
            if value is not None:
                self.group_epoch = value.epoch
        elif record.type == cr.TARGET_EPOCH:
            if value is not None:
                self.assignment_epoch = value.epoch
        elif record.type == cr.TARGET_MEMBER:
            if value is None:
                self.target.pop(record.member_id, None)
            else:
                self.target[record.member_id] = value.partitions
        elif record.type == cr.MEMBER_METADATA:
            self._apply_member_metadata(record.member_id, value)
        elif record.type == cr.CURRENT_ASSIGNMENT:
            self._apply_current_assignment(record.member_id, value)

    def inverse(self, record: cr.Record) -> cr.Record:
        """The record that puts back what `record` is about to change."""
        kind, mid = record.type, record.member_id
        member = self.members.get(mid) if mid is not None else None
        if kind == cr.GROUP_EPOCH:
            value = cr.Epoch(self.group_epoch)
        elif kind == cr.TARGET_EPOCH:
            value = cr.Epoch(self.assignment_epoch)
        elif kind == cr.TARGET_MEMBER:
            value = cr.TargetAssignment(self.target[mid]) if mid in self.target else None
        elif kind == cr.MEMBER_METADATA:
            value = member.metadata() if member is not None else None
        else:
            value = member.current() if member is not None else None
        return cr.Record(kind, self.group_id, mid, value)

    def _apply_member_metadata(self, member_id: str, value: cr.MemberMetadata | None) -> None:
        member = self.members.get(member_id)
        if value is None:
            if member is not None:
                member.cancel_timers()
                self._release(member)
                del self.members[member_id]
                if member.instance_id is not None and self.static_members.get(member.instance_id) == member_id:
                    del self.static_members[member.instance_id]
            return
        if member is None:
            member = self.members[member_id] = ConsumerMember(member_id)
        member.instance_id, member.rack_id = value.instance_id, value.rack_id
        member.client_id, member.client_host = value.client_id, value.client_host
        member.subscribed_topic_names = tuple(value.subscribed_topic_names)
        member.subscribed_topic_regex = value.subscribed_topic_regex
        member.rebalance_timeout_ms, member.server_assignor = value.rebalance_timeout_ms, value.server_assignor
        member.classic = value.classic
        if member.instance_id is not None:
            self.static_members[member.instance_id] = member_id

    def _apply_current_assignment(self, member_id: str, value: cr.CurrentAssignment | None) -> None:
        member = self.members.get(member_id)
        if member is None:
            if value is None:
                return
            # Replay order puts a member's metadata first; keep the assignment anyway.
            member = self.members[member_id] = ConsumerMember(member_id)
        self._release(member)
        if value is None:
            member.member_epoch = member.previous_member_epoch = 0
            member.state, member.assigned, member.pending_revocation = MEMBER_STABLE, {}, {}
            return
        member.member_epoch, member.previous_member_epoch = value.member_epoch, value.previous_member_epoch
        member.state = value.state
        member.assigned = {t: set(ps) for t, ps in value.assigned.items() if ps}
        member.pending_revocation = {t: set(ps) for t, ps in value.pending_revocation.items() if ps}
        for parts in (member.assigned, member.pending_revocation):
            for topic, ps in parts.items():
                for p in ps:
                    self.partition_epochs[(topic, p)] = member.member_epoch

    def _release(self, member: ConsumerMember) -> None:
        for parts in (member.assigned, member.pending_revocation):
            for topic, ps in parts.items():
                for p in ps:
                    self.partition_epochs.pop((topic, p), None)

    # -- reconciliation --------------------------------------------------------------------

    def next_assignment(self, member: ConsumerMember, owned: Partitions | None) -> cr.CurrentAssignment:
        """Where `member` stands after this heartbeat, given the partitions it says it owns
        (None: not reported in this heartbeat)."""
        target_epoch = self.assignment_epoch
        target = self.target.get(member.member_id, {})
        if member.state == MEMBER_STABLE:
            if member.member_epoch == target_epoch:
                return member.current()
            return self._compute(member, member.member_epoch, target_epoch, target, owned)
        if member.state == UNREVOKED_PARTITIONS:
            if _owns_any(owned, member.pending_revocation):
                return member.current()
            return self._compute(member, member.member_epoch + 1, target_epoch, target, owned)
        return self._compute(member, member.member_epoch, target_epoch, target, owned)

    def _compute(self, member: ConsumerMember, epoch: int, target_epoch: int, target: Partitions,
                 owned: Partitions | None) -> cr.CurrentAssignment:
        assigned: Partitions = {}
        revoking: Partitions = {}
        pending: Partitions = {}
        unreleased = False
        for topic in set(target) | set(member.assigned):
            wanted = target.get(topic, set())
            current = member.assigned.get(topic, set())
            keep = current & wanted
            if keep:
                assigned[topic] = set(keep)
            if current - keep:
                revoking[topic] = current - keep
            free = {p for p in wanted - keep if (topic, p) not in self.partition_epochs}
            unreleased = unreleased or len(free) < len(wanted - keep)
            if free:
                pending[topic] = free
        if revoking and _owns_any(owned, revoking):
            return cr.CurrentAssignment(epoch, member.member_epoch, UNREVOKED_PARTITIONS, assigned, revoking)
        for topic, ps in pending.items():
            assigned.setdefault(topic, set()).update(ps)
        state = UNRELEASED_PARTITIONS if unreleased else MEMBER_STABLE
        return cr.CurrentAssignment(target_epoch, member.member_epoch, state, assigned, {})


def _owns_any(owned: Partitions | None, partitions: Partitions) -> bool:
    """Whether the member still owns any of `partitions`; not knowing counts as owning."""
    if owned is None:
        return True
    return any(p in partitions.get(topic, ()) for topic, ps in owned.items() for p in ps)
