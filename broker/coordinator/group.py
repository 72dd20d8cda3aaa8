"""A classic consumer group: its state machine, members, protocol selection and leader.

Kafka's GroupMetadata/ClassicGroup, kept to the data and the rules that only concern the
group itself; the coordinator (group_coordinator.py) drives it from requests and timers.

States and their legal predecessors, as in Kafka:

    Empty               <- PreparingRebalance (the last member left; a new generation)
    PreparingRebalance  <- Empty, Stable, CompletingRebalance
    CompletingRebalance <- PreparingRebalance (everyone rejoined; waiting for the leader's SyncGroup)
    Stable              <- CompletingRebalance (the leader's assignment is stored)
    Dead                <- any (the group was deleted or expired)

A member waiting in JoinGroup or SyncGroup holds an asyncio future that the coordinator
resolves when the rebalance moves on; it is answered exactly once.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from dataclasses import dataclass, field

EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"
COMPLETING_REBALANCE = "CompletingRebalance"
STABLE = "Stable"
DEAD = "Dead"
STATES = (EMPTY, PREPARING_REBALANCE, COMPLETING_REBALANCE, STABLE, DEAD)

_VALID_PREVIOUS = {
    EMPTY: {PREPARING_REBALANCE},
    PREPARING_REBALANCE: {EMPTY, STABLE, COMPLETING_REBALANCE},
    COMPLETING_REBALANCE: {PREPARING_REBALANCE},
    STABLE: {COMPLETING_REBALANCE},
    DEAD: set(STATES),
}

CONSUMER_PROTOCOL_TYPE = "consumer"


@dataclass
class JoinResult:
    member_id: str
    error: str = "NONE"
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str = ""
    members: list = field(default_factory=list)  # [(member_id, group_instance_id, metadata)] for the leader


@dataclass
class SyncResult:
    error: str = "NONE"
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(eq=False)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]  # (name, metadata) in the member's order of preference
    assignment: bytes = b""
    is_new: bool = False  # joined in the current rebalance and has not had a JoinGroup answer yet
    join_future: asyncio.Future | None = None
    sync_future: asyncio.Future | None = None
    expiry: asyncio.TimerHandle | None = None  # session (or new-member join) timeout

    @property
    def awaiting_join(self) -> bool:
        return self.join_future is not None

    @property
    def awaiting_sync(self) -> bool:
        return self.sync_future is not None

    @property
    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol: str) -> bytes:
        for name, data in self.protocols:
            if name == protocol:
                return data
        raise KeyError(protocol)

    def matches(self, protocols: list[tuple[str, bytes]]) -> bool:
        return [(n, bytes(d)) for n, d in protocols] == [(n, bytes(d)) for n, d in self.protocols]

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among those every member supports."""
        for name in self.protocol_names:
            if name in candidates:
                return name
        raise ValueError(f"member {self.member_id} supports none of {candidates}")

    def cancel_expiry(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None


def subscribed_topics(subscription: bytes) -> set[str] | None:
    """Topics of a ConsumerProtocolSubscription (any version: v0 is the prefix of all)."""
    try:
        pos = 2  # version
        (count,) = struct.unpack_from(">i", subscription, pos)
        pos += 4
        topics = set()
        for _ in range(count):
            (n,) = struct.unpack_from(">h", subscription, pos)
            pos += 2
            if n < 0 or pos + n > len(subscription):
                return None
            topics.add(subscription[pos:pos + n].decode("utf-8"))
            pos += n
        return topics
    except (struct.error, UnicodeDecodeError):
        return None


class Group:
    def __init__(self, group_id: str, now_ms: int, state: str = EMPTY):
        self.group_id = group_id
        self.state = state
        self.state_timestamp = now_ms
        self.generation_id = 0
        self.protocol_type: str | None = None  # None: a "simple" group that only stores offsets
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, Member] = {}
        self.static_members: dict[str, str] = {}  # group.instance.id -> member id
        self.pending_members: dict[str, asyncio.TimerHandle | None] = {}  # ids handed out with MEMBER_ID_REQUIRED
        self.pending_sync: set[str] = set()  # members yet to send SyncGroup for this generation
        self.new_member_added = False  # lets the initial rebalance delay extend itself
        self.subscribed: set[str] | None = None
        # Timers the coordinator runs for this group (the rebalance and the SyncGroup deadline).
        self.join_timer: asyncio.TimerHandle | None = None
        self.join_timer_is_initial = False
        self.sync_timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"Group({self.group_id!r}, {self.state}, generation {self.generation_id}, {len(self.members)} member(s))"

    # -- state ----------------------------------------------------------------------

    def transition(self, state: str, now_ms: int) -> None:
        if self.state not in _VALID_PREVIOUS[state]:
            raise AssertionError(f"group {self.group_id}: illegal transition {self.state} -> {state}")
        self.state = state
        self.state_timestamp = now_ms

    def is_(self, *states: str) -> bool:
        return self.state in states

    @property
    def can_rebalance(self) -> bool:
        return self.state in (STABLE, COMPLETING_REBALANCE, EMPTY)

    # -- members --------------------------------------------------------------------

    def has(self, member_id: str) -> bool:
        return member_id in self.members

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    def generate_member_id(self, client_id: str, group_instance_id: str | None) -> str:
        return f"{group_instance_id or client_id}-{uuid.uuid4()}"

    def add(self, member: Member, join_future: asyncio.Future | None) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        self.remove_pending(member.member_id)
        member.join_future = join_future

    def remove(self, member_id: str) -> Member | None:
        member = self.members.pop(member_id, None)
        if member is None:
            return None
        member.cancel_expiry()
        if member.group_instance_id is not None and self.static_members.get(member.group_instance_id) == member_id:
            del self.static_members[member.group_instance_id]
        self.pending_sync.discard(member_id)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member

    def remove_pending(self, member_id: str) -> bool:
        if member_id not in self.pending_members:
            return False
        timer = self.pending_members.pop(member_id)
        if timer is not None:
            timer.cancel()
        return True

    def replace_static_member(self, instance_id: str, old_id: str, new_id: str) -> Member:
        """A static member came back with a new member id: the old id is fenced."""
        member = self.members.pop(old_id)
        self.invoke_join(member, JoinResult(old_id, "FENCED_INSTANCE_ID"))
        self.invoke_sync(member, SyncResult("FENCED_INSTANCE_ID"))
        member.member_id = new_id
        self.members[new_id] = member
        if self.leader_id == old_id:
            self.leader_id = new_id
        if old_id in self.pending_sync:
            self.pending_sync.discard(old_id)
            self.pending_sync.add(new_id)
        self.static_members[instance_id] = new_id
        return member

    def update_member(self, member: Member, protocols, rebalance_timeout_ms: int, session_timeout_ms: int,
                      join_future: asyncio.Future | None) -> None:
        member.protocols = protocols
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        # A second JoinGroup from the same member (another connection) supersedes the first;
        # answer the first so that no request is left hanging.
        self.invoke_join(member, JoinResult(member.member_id, "REBALANCE_IN_PROGRESS"))
        member.join_future = join_future

    def is_static_member_fenced(self, instance_id: str | None, member_id: str) -> bool:
        if instance_id is None:
            return False
        current = self.static_members.get(instance_id)
        return current is not None and current != member_id

    def validate_member(self, member_id: str, instance_id: str | None) -> str | None:
        """Kafka's validateCurrentMember: None if the (instance id, member id) pair is current."""
        if instance_id is not None:
            current = self.static_members.get(instance_id)
            if current is None:
                return "UNKNOWN_MEMBER_ID"
            if current != member_id:
                return "FENCED_INSTANCE_ID"
            return None
        return None if member_id in self.members else "UNKNOWN_MEMBER_ID"

    # -- join / sync answers -----------------------------------------------------------

    @staticmethod
    def invoke_join(member: Member, result: JoinResult) -> None:
        fut, member.join_future = member.join_future, None
        if fut is not None and not fut.done():
            fut.set_result(result)

    @staticmethod
    def invoke_sync(member: Member, result: SyncResult) -> None:
        fut, member.sync_future = member.sync_future, None
        if fut is not None and not fut.done():
            fut.set_result(result)

    # -- rebalance bookkeeping ----------------------------------------------------------

    @property
    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def has_all_members_joined(self) -> bool:
        return all(m.awaiting_join for m in self.members.values()) and not self.pending_members

    def not_yet_rejoined(self) -> list[Member]:
        return [m for m in self.members.values() if not m.awaiting_join]

    def maybe_elect_new_joined_leader(self) -> bool:
        """Make sure the leader is a member that rejoined; False if nobody rejoined."""
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.awaiting_join:
            return True
        for member in self.members.values():
            if member.awaiting_join:
                self.leader_id = member.member_id
                return True
        return False

    def supports_protocols(self, protocol_type: str, names: list[str]) -> bool:
        if not self.members:
            return bool(protocol_type) and bool(names)
        if protocol_type != self.protocol_type:
            return False
        candidates = self.candidate_protocols()
        return any(name in candidates for name in names)

    def candidate_protocols(self) -> set[str]:
        sets = [set(m.protocol_names) for m in self.members.values()]
        return set.intersection(*sets) if sets else set()

    def select_protocol(self) -> str:
        """Each member votes for its favourite among the protocols all support; the most
        votes win (ties: the leader's preference order)."""
        candidates = self.candidate_protocols()
        if not candidates:
            raise ValueError(f"group {self.group_id}: members share no protocol")
        votes: dict[str, int] = {}
        for member in self.members.values():
            choice = member.vote(candidates)
            votes[choice] = votes.get(choice, 0) + 1
        leader = self.members.get(self.leader_id) if self.leader_id else None
        order = leader.protocol_names if leader else sorted(candidates)
        return max(votes, key=lambda name: (votes[name], -order.index(name) if name in order else -len(order)))

    def init_next_generation(self, now_ms: int) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed = self._compute_subscribed()
            self.transition(COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.subscribed = set() if self.protocol_type == CONSUMER_PROTOCOL_TYPE else None
            self.transition(EMPTY, now_ms)
        self.pending_sync = set()

    def _compute_subscribed(self) -> set[str] | None:
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or self.protocol_name is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            parsed = subscribed_topics(member.metadata(self.protocol_name))
            if parsed is None:
                return None
            topics |= parsed
        return topics

    def is_subscribed_to(self, topic: str) -> bool:
        return self.subscribed is not None and topic in self.subscribed

    def current_member_metadata(self) -> list[tuple[str, str | None, bytes]]:
        return [(m.member_id, m.group_instance_id, m.metadata(self.protocol_name)) for m in self.members.values()]
