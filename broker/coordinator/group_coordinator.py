"""The group coordinator, classic protocol, with Apache Kafka's rules and timing.

JoinGroup, SyncGroup, Heartbeat and LeaveGroup drive each group's state machine
(group.py); sent to a consumer-protocol group, they are answered by classic_members.py (the
KIP-848 migration, group_migration.py); the group side of OffsetCommit, OffsetFetch, OffsetDelete and DeleteGroups
checks membership and generation before the metadata manager writes the records.

Timing, as Kafka's purgatories do it, with asyncio timers:
- a rebalance of an Empty group waits `group.initial.rebalance.delay.ms`, extended by the
  same delay while new members keep arriving, up to the largest rebalance timeout;
- any other rebalance completes as soon as every known member has rejoined (and no member
  id handed out with MEMBER_ID_REQUIRED is outstanding), at the latest after the largest
  rebalance timeout, when dynamic members that did not rejoin are removed;
- a member's session expires `session.timeout.ms` after its last heartbeat (or commit,
  JoinGroup or SyncGroup answer), except while its JoinGroup or SyncGroup is parked here;
  a new member waiting in its first JoinGroup is dropped after 5 minutes;
- members that do not send SyncGroup within the rebalance timeout are removed.

Requests are answered through futures the members hold, so no member can keep another
member's request waiting past these timers.

At start `__consumer_offsets` is replayed in the background, as Kafka loads a coordinator
partition: the broker serves produce and fetch meanwhile, and every group API answers
COORDINATOR_LOAD_IN_PROGRESS (retriable; clients retry) until the load is complete.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from broker.coordinator.group import (
    COMPLETING_REBALANCE, CONSUMER_PROTOCOL_TYPE, DEAD, EMPTY, PREPARING_REBALANCE, STABLE,
    Group, JoinResult, Member, SyncResult,
)
from broker.coordinator.classic_members import ClassicMembers
from broker.coordinator.consumer_coordinator import ConsumerGroupCoordinator
from broker.coordinator.consumer_group import ConsumerGroup
from broker.coordinator.messages import OffsetValue
from broker.coordinator.metadata_manager import GroupMetadataManager, now_ms
from broker.coordinator.metadata_log import WriteError
from broker.coordinator.offsets import TopicPartition

log = logging.getLogger("schemabus.coordinator")

NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000
LOADING = "COORDINATOR_LOAD_IN_PROGRESS"
NO_GENERATION = -1


CLASSIC, CONSUMER = "classic", "consumer"  # ListGroups' group types


@dataclass(frozen=True)
class ListedGroup:
    group_id: str
    protocol_type: str
    state: str
    type: str


@dataclass
class JoinRequest:
    group_id: str | None
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    require_known_member_id: bool  # JoinGroup v4+ without an instance id
    reason: str | None = None


class GroupCoordinator:
    def __init__(self, topics, config, group_configs=None):
        """`group_configs`: the per-group overrides (broker/group_configs.py); without them
        every group has the broker's configs."""
        self.topics = topics
        self.config = config
        self.manager = GroupMetadataManager(topics, config)
        self.consumer = ConsumerGroupCoordinator(self.manager, topics, config, self, group_configs)
        self.classic_members = ClassicMembers(self.consumer)  # classic members of consumer groups
        self._loop: asyncio.AbstractEventLoop | None = None
        self.loading = True  # until __consumer_offsets has been replayed
        self._load_task: asyncio.Task | None = None

    @property
    def groups(self) -> dict[str, Group]:
        return self.manager.groups

    def start(self, on_loaded=None) -> None:
        """Start loading `__consumer_offsets` in the background; `on_loaded()` runs once it is
        loaded. Loaded members must heartbeat within their session from then on."""
        self._loop = asyncio.get_running_loop()
        self._load_task = self._loop.create_task(self._load(on_loaded))

    async def _load(self, on_loaded) -> None:
        started = self._loop.time()
        try:
            with_members = await self.manager.load_paced(lambda: asyncio.sleep(0))
        except Exception:
            # Serving groups from a partial replay would hand out wrong offsets: stay loading.
            log.exception("cannot load __consumer_offsets; group APIs answer %s", LOADING)
            return
        for group in with_members:
            for member in group.members.values():
                self._schedule_expiry(group, member)
        self.consumer.start()
        self.loading = False
        log.info("group coordinator loaded in %.2f s", self._loop.time() - started)
        if on_loaded is not None:
            try:
                on_loaded()
            except Exception:
                log.exception("starting what waits for the group coordinator failed")

    async def loaded(self) -> None:
        """Wait until `__consumer_offsets` has been replayed."""
        if self._load_task is not None:
            await asyncio.shield(self._load_task)

    def stop(self) -> None:
        if self._load_task is not None:
            self._load_task.cancel()
        self.consumer.stop()
        for group in self.groups.values():
            self._cancel_join_timer(group)
            self._cancel_sync_timer(group)
            for member in group.members.values():
                member.cancel_expiry()
            for member_id in list(group.pending_members):
                group.remove_pending(member_id)

    # -- JoinGroup ----------------------------------------------------------------------

    async def join_group(self, req: JoinRequest) -> JoinResult:
        if not req.group_id:
            return JoinResult(req.member_id, "INVALID_GROUP_ID")
        if self.loading:
            return JoinResult(req.member_id, LOADING)
        if not (self.config["group.min.session.timeout.ms"] <= req.session_timeout_ms
                <= self.config["group.max.session.timeout.ms"]):
            return JoinResult(req.member_id, "INVALID_SESSION_TIMEOUT")
        consumer_group = self.consumer.groups.get(req.group_id)
        if consumer_group is not None and consumer_group.members:
            return self.classic_members.join(consumer_group, req)
        error = self._join_consumer_group(req.group_id)
        if error is not None:
            return JoinResult(req.member_id, error)
        new_member = req.member_id == ""
        group = self.groups.get(req.group_id)
        if group is None:
            if not new_member:
                return JoinResult(req.member_id, "UNKNOWN_MEMBER_ID")
            group = self.manager.create(req.group_id)
        fut = self._loop.create_future()
        if not self._accept_joining_member(group, req.member_id):
            fut.set_result(JoinResult(req.member_id, "GROUP_MAX_SIZE_REACHED"))
        elif new_member:
            self._join_new_member(group, req, fut)
        else:
            self._join_current_member(group, req, fut)
        if group.is_(PREPARING_REBALANCE):
            self._try_complete_join(group)
        return await fut

    def _join_consumer_group(self, group_id: str) -> str | None:
        """A JoinGroup to an Empty consumer-protocol group: it becomes a classic group, whatever
        `group.consumer.migration.policy` says (as Kafka's maybeDeleteEmptyConsumerGroup). A
        non-empty one takes the joining member as a classic member (classic_members.py)."""
        group = self.consumer.groups.get(group_id)
        if group is None:
            return None
        try:
            self.manager.convert_consumer_group(group)
        except WriteError as exc:
            return exc.error
        log.info("the empty consumer group %s becomes a classic group", group_id)
        return None

    def _accept_joining_member(self, group: Group, member_id: str) -> bool:
        limit = self.config["group.max.size"]
        if group.is_(EMPTY, DEAD):
            return True
        member = group.members.get(member_id)
        if group.is_(PREPARING_REBALANCE):
            awaiting = sum(1 for m in group.members.values() if m.awaiting_join)
            return (member is not None and member.awaiting_join) or awaiting < limit
        return member is not None or len(group.members) < limit

    def _join_new_member(self, group: Group, req: JoinRequest, fut: asyncio.Future) -> None:
        if group.is_(DEAD):
            fut.set_result(JoinResult("", "COORDINATOR_NOT_AVAILABLE"))
            return
        if not group.supports_protocols(req.protocol_type, [name for name, _ in req.protocols]):
            fut.set_result(JoinResult("", "INCONSISTENT_GROUP_PROTOCOL"))
            return
        member_id = group.generate_member_id(req.client_id, req.group_instance_id)
        if req.group_instance_id is not None:
            old_id = group.static_members.get(req.group_instance_id)
            if old_id is None:
                self._add_member_and_rebalance(group, req, member_id, fut)
            else:
                self._replace_static_member(group, req, old_id, member_id, fut)
        elif req.require_known_member_id:
            # KIP-394: hand out the id first, so a client that times out and retries does not
            # leave a ghost member behind; the id is kept for one session timeout.
            group.pending_members[member_id] = self._loop.call_later(
                req.session_timeout_ms / 1000, self._on_pending_member_expired, group, member_id)
            fut.set_result(JoinResult(member_id, "MEMBER_ID_REQUIRED"))
        else:
            self._add_member_and_rebalance(group, req, member_id, fut)

    def _join_current_member(self, group: Group, req: JoinRequest, fut: asyncio.Future) -> None:
        member_id = req.member_id
        if group.is_(DEAD):
            fut.set_result(JoinResult(member_id, "COORDINATOR_NOT_AVAILABLE"))
            return
        if not group.supports_protocols(req.protocol_type, [name for name, _ in req.protocols]):
            fut.set_result(JoinResult(member_id, "INCONSISTENT_GROUP_PROTOCOL"))
            return
        if member_id in group.pending_members and req.group_instance_id is None:
            self._add_member_and_rebalance(group, req, member_id, fut)
            return
        error = group.validate_member(member_id, req.group_instance_id)
        if error is not None:
            fut.set_result(JoinResult(member_id, error))
            return
        member = group.members[member_id]
        if group.is_(PREPARING_REBALANCE):
            self._update_member_and_rebalance(group, member, req, fut, "member rejoining during a rebalance")
        elif group.is_(COMPLETING_REBALANCE):
            if member.matches(req.protocols):
                # Lost our answer? Same metadata: give it the current generation again.
                fut.set_result(self._join_answer(group, member))
            else:
                self._update_member_and_rebalance(group, member, req, fut, "member metadata changed")
        elif group.is_(STABLE):
            if group.is_leader(member_id) or not member.matches(req.protocols):
                # The leader rejoining is how clients ask for a new assignment.
                self._update_member_and_rebalance(group, member, req, fut,
                                                  "leader rejoining" if group.is_leader(member_id)
                                                  else "member metadata changed")
            else:
                fut.set_result(self._join_answer(group, member, as_follower=True))
        else:  # Empty: nobody is a member of an Empty group
            fut.set_result(JoinResult(member_id, "UNKNOWN_MEMBER_ID"))

    def _join_answer(self, group: Group, member: Member, as_follower: bool = False,
                     leader_id: str | None = None) -> JoinResult:
        leader = leader_id if leader_id is not None else (group.leader_id or "")
        members = group.current_member_metadata() if group.is_leader(member.member_id) and not as_follower else []
        return JoinResult(member.member_id, "NONE", group.generation_id, group.protocol_type,
                          group.protocol_name, leader, members)

    def _add_member_and_rebalance(self, group: Group, req: JoinRequest, member_id: str, fut: asyncio.Future) -> None:
        member = Member(member_id, req.group_instance_id, req.client_id, req.client_host,
                        req.rebalance_timeout_ms, req.session_timeout_ms, req.protocol_type, list(req.protocols))
        member.is_new = True
        if group.is_(PREPARING_REBALANCE) and group.generation_id == 0:
            group.new_member_added = True
        group.add(member, fut)
        # Sessions do not run while a JoinGroup is parked, but a new member that vanished
        # mid-rebalance must not stay forever: drop it after 5 minutes without an answer.
        self._schedule_expiry(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance(group, f"adding new member {member_id}"
                                      + (f" (reason: {req.reason})" if req.reason else ""))

    def _update_member_and_rebalance(self, group: Group, member: Member, req: JoinRequest,
                                     fut: asyncio.Future, reason: str) -> None:
        group.update_member(member, list(req.protocols), req.rebalance_timeout_ms, req.session_timeout_ms, fut)
        self._maybe_prepare_rebalance(group, f"{reason}: {member.member_id}")

    def _replace_static_member(self, group: Group, req: JoinRequest, old_id: str, new_id: str,
                               fut: asyncio.Future) -> None:
        """A static member rejoined with an empty member id: it takes over its old slot (and
        assignment) under a new id; the old id is fenced."""
        current_leader = group.leader_id or ""
        member = group.replace_static_member(req.group_instance_id, old_id, new_id)
        self._schedule_expiry(group, member)
        old = (member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms)
        group.update_member(member, list(req.protocols), req.rebalance_timeout_ms, req.session_timeout_ms, fut)
        if group.is_(STABLE):
            if group.protocol_name != group.select_protocol():
                self._maybe_prepare_rebalance(group, f"static member {new_id} changed protocols")
                return
            try:
                self.manager.store_group(group, {mid: mem.assignment for mid, mem in group.members.items()})
            except WriteError as exc:
                # Put the old member back so its owner keeps working, and tell the newcomer.
                group.invoke_join(member, JoinResult(new_id, exc.error))
                group.replace_static_member(req.group_instance_id, new_id, old_id)
                member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms = old
                return
            # Keep the old leader id in the answer: the replaced member must not believe it leads
            # (a Stable group would not propagate an assignment it computed).
            group.invoke_join(member, self._join_answer(group, member, as_follower=True, leader_id=current_leader))
        elif group.is_(COMPLETING_REBALANCE):
            # The leader may already be computing an assignment for the old id: start over.
            self._maybe_prepare_rebalance(group, f"static member {new_id} replaced {old_id}")
        # PreparingRebalance: the member is answered when the rebalance completes.

    # -- rebalance ----------------------------------------------------------------------

    def _maybe_prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.can_rebalance:
            self._prepare_rebalance(group, reason)

    def _prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.is_(COMPLETING_REBALANCE):
            self._reset_and_propagate_assignment_error(group, "REBALANCE_IN_PROGRESS")
        self._cancel_sync_timer(group)
        initial = group.is_(EMPTY)
        group.transition(PREPARING_REBALANCE, now_ms())
        if initial:
            delay = self.config["group.initial.rebalance.delay.ms"]
            remaining = max(group.rebalance_timeout_ms - delay, 0)
            self._start_join_timer(group, delay, initial=True, remaining_ms=remaining)
        else:
            self._start_join_timer(group, group.rebalance_timeout_ms)
        log.info("preparing to rebalance group %s with old generation %d (reason: %s)",
                 group.group_id, group.generation_id, reason)

    def _start_join_timer(self, group: Group, delay_ms: int, initial: bool = False, remaining_ms: int = 0) -> None:
        self._cancel_join_timer(group)
        group.join_timer_is_initial = initial
        group.join_timer = self._loop.call_later(delay_ms / 1000, self._on_join_timer, group, initial, remaining_ms)

    @staticmethod
    def _cancel_join_timer(group: Group) -> None:
        if group.join_timer is not None:
            group.join_timer.cancel()
            group.join_timer = None

    def _on_join_timer(self, group: Group, initial: bool, remaining_ms: int) -> None:
        group.join_timer = None
        if not group.is_(PREPARING_REBALANCE):
            return
        if initial and group.new_member_added and remaining_ms > 0:
            group.new_member_added = False
            delay = self.config["group.initial.rebalance.delay.ms"]
            self._start_join_timer(group, min(delay, remaining_ms), initial=True,
                                   remaining_ms=max(remaining_ms - delay, 0))
            return
        self._complete_join(group)

    def _try_complete_join(self, group: Group) -> None:
        """Complete a (non-initial) rebalance as soon as everyone has rejoined."""
        if (group.is_(PREPARING_REBALANCE) and not group.join_timer_is_initial
                and group.has_all_members_joined()):
            self._cancel_join_timer(group)
            self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        for member in group.not_yet_rejoined():
            if member.group_instance_id is None:  # static members keep their slot
                log.info("removing member %s of group %s: it did not rejoin in time", member.member_id, group.group_id)
                self._remove_member(group, member, UNKNOWN_AFTER_REMOVAL)
        if group.is_(DEAD):
            return
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Only static members that have not rejoined are left: wait for them (or their sessions).
            self._start_join_timer(group, group.rebalance_timeout_ms)
            return
        group.init_next_generation(now_ms())
        if group.is_(EMPTY):
            log.info("group %s with generation %d is now empty", group.group_id, group.generation_id)
            try:
                self.manager.store_group(group, {})
            except WriteError as exc:
                log.error("cannot store empty group %s: %s", group.group_id, exc)
            return
        log.info("stabilized group %s generation %d (protocol %s, %d member(s)), waiting for the leader's assignment",
                 group.group_id, group.generation_id, group.protocol_name, len(group.members))
        for member in group.members.values():
            group.invoke_join(member, self._join_answer(group, member))
            self._schedule_expiry(group, member)
            member.is_new = False
            group.pending_sync.add(member.member_id)
        group.sync_timer = self._loop.call_later(group.rebalance_timeout_ms / 1000, self._on_sync_expired,
                                                 group, group.generation_id)

    def _cancel_sync_timer(self, group: Group) -> None:
        if group.sync_timer is not None:
            group.sync_timer.cancel()
            group.sync_timer = None

    def _on_sync_expired(self, group: Group, generation_id: int) -> None:
        group.sync_timer = None
        if generation_id != group.generation_id or not group.is_(COMPLETING_REBALANCE, STABLE):
            return
        laggards = [group.members[mid] for mid in group.pending_sync if mid in group.members]
        if not laggards:
            return
        for member in laggards:
            log.info("removing member %s of group %s: no SyncGroup within the rebalance timeout",
                     member.member_id, group.group_id)
            group.invoke_sync(member, SyncResult("UNKNOWN_MEMBER_ID"))
            group.remove(member.member_id)
        self._prepare_rebalance(group, "members did not send SyncGroup in time")

    # -- SyncGroup ----------------------------------------------------------------------

    async def sync_group(self, group_id: str | None, generation_id: int, member_id: str,
                         instance_id: str | None, protocol_type: str | None, protocol_name: str | None,
                         assignments: dict[str, bytes]) -> SyncResult:
        if not group_id:
            return SyncResult("INVALID_GROUP_ID")
        if self.loading:
            return SyncResult(LOADING)
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            if not consumer_group.members:
                return SyncResult("UNKNOWN_MEMBER_ID")
            return self.classic_members.sync(consumer_group, member_id, instance_id, generation_id,
                                             protocol_type, protocol_name)
        group = self.groups.get(group_id)
        error = self._check_member(group, member_id, instance_id, generation_id)
        if error is None:
            if protocol_type is not None and protocol_type != group.protocol_type:
                error = "INCONSISTENT_GROUP_PROTOCOL"
            elif protocol_name is not None and protocol_name != group.protocol_name:
                error = "INCONSISTENT_GROUP_PROTOCOL"
            elif group.is_(EMPTY):
                error = "UNKNOWN_MEMBER_ID"
            elif group.is_(PREPARING_REBALANCE):
                error = "REBALANCE_IN_PROGRESS"
        if error is not None:
            return SyncResult(error)
        member = group.members[member_id]
        if group.is_(STABLE):
            group.pending_sync.discard(member_id)
            self._schedule_expiry(group, member)
            return SyncResult("NONE", group.protocol_type, group.protocol_name, member.assignment)
        # CompletingRebalance: park until the leader's assignment arrives.
        fut = self._loop.create_future()
        group.invoke_sync(member, SyncResult("REBALANCE_IN_PROGRESS"))  # a superseded SyncGroup
        member.sync_future = fut
        group.pending_sync.discard(member_id)
        if group.is_leader(member_id):
            self._apply_leader_assignment(group, assignments)
        return await fut

    def _apply_leader_assignment(self, group: Group, assignments: dict[str, bytes]) -> None:
        full = {mid: bytes(assignments.get(mid) or b"") for mid in group.members}
        try:
            self.manager.store_group(group, full)
        except WriteError as exc:
            log.error("cannot store the assignment of group %s: %s", group.group_id, exc)
            self._reset_and_propagate_assignment_error(group, exc.error)
            self._maybe_prepare_rebalance(group, "storing the assignment failed")
            return
        for mid, member in group.members.items():
            member.assignment = full[mid]
        self._propagate_assignment(group, "NONE")
        group.transition(STABLE, now_ms())
        log.info("assignment received from leader %s for group %s generation %d",
                 group.leader_id, group.group_id, group.generation_id)

    def _reset_and_propagate_assignment_error(self, group: Group, error: str) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate_assignment(group, error)

    def _propagate_assignment(self, group: Group, error: str) -> None:
        for member in group.members.values():
            if member.awaiting_sync:
                group.invoke_sync(member, SyncResult(error, group.protocol_type, group.protocol_name,
                                                     member.assignment if error == "NONE" else b""))
                # The member's session runs again from the moment it is answered.
                self._schedule_expiry(group, member)

    # -- Heartbeat ----------------------------------------------------------------------

    def heartbeat(self, group_id: str | None, generation_id: int, member_id: str, instance_id: str | None) -> str:
        if not group_id:
            return "INVALID_GROUP_ID"
        if self.loading:
            return LOADING
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            return self.classic_members.heartbeat(consumer_group, member_id, instance_id, generation_id)
        group = self.groups.get(group_id)
        error = self._check_member(group, member_id, instance_id, generation_id)
        if error is not None:
            return error
        if group.is_(EMPTY):
            return "UNKNOWN_MEMBER_ID"
        self._schedule_expiry(group, group.members[member_id])
        return "REBALANCE_IN_PROGRESS" if group.is_(PREPARING_REBALANCE) else "NONE"

    def _check_member(self, group: Group | None, member_id: str, instance_id: str | None,
                      generation_id: int) -> str | None:
        """The checks Heartbeat and SyncGroup share, in Kafka's order."""
        if group is None:
            return "UNKNOWN_MEMBER_ID"
        if group.is_(DEAD):
            return "COORDINATOR_NOT_AVAILABLE"
        if group.is_static_member_fenced(instance_id, member_id):
            return "FENCED_INSTANCE_ID"
        if not group.has(member_id):
            return "UNKNOWN_MEMBER_ID"
        if generation_id != group.generation_id:
            return "ILLEGAL_GENERATION"
        return None

    # -- LeaveGroup ---------------------------------------------------------------------

    def leave_group(self, group_id: str | None, leaving: list[tuple[str, str | None]]) -> tuple[str, list[str]]:
        """(group error, one error per leaving (member id, instance id))."""
        if not group_id:
            return "INVALID_GROUP_ID", []
        if self.loading:
            return LOADING, []
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            return "NONE", self.classic_members.leave(consumer_group, leaving)
        group = self.groups.get(group_id)
        if group is None:
            return "NONE", ["UNKNOWN_MEMBER_ID"] * len(leaving)
        if group.is_(DEAD):
            return "COORDINATOR_NOT_AVAILABLE", []
        errors = []
        for member_id, instance_id in leaving:
            if member_id == "":
                # Admin removal of a static member by instance id (KIP-345).
                current = group.static_members.get(instance_id) if instance_id else None
                if current is None:
                    errors.append("UNKNOWN_MEMBER_ID")
                    continue
                member_id = current
            elif group.remove_pending(member_id):
                self._try_complete_join(group)
                errors.append("NONE")
                continue
            else:
                error = group.validate_member(member_id, instance_id)
                if error is not None:
                    errors.append(error)
                    continue
            log.info("member %s is leaving group %s", member_id, group.group_id)
            self._remove_member_and_update_group(group, group.members[member_id], "member left the group")
            errors.append("NONE")
        return "NONE", errors

    # -- online migration (group_migration.py) -------------------------------------------

    def release_upgraded(self, group: Group) -> None:
        """`group` became a consumer group (its tombstone is written): members waiting in
        JoinGroup or SyncGroup rejoin it (REBALANCE_IN_PROGRESS), its timers stop."""
        self._cancel_join_timer(group)
        self._cancel_sync_timer(group)
        for member in group.members.values():
            group.invoke_join(member, JoinResult(member.member_id, "REBALANCE_IN_PROGRESS"))
            group.invoke_sync(member, SyncResult("REBALANCE_IN_PROGRESS"))
            member.cancel_expiry()
        self.manager.release(group)

    def adopt_downgraded(self, group: Group, rebalance: bool) -> None:
        """A consumer group became the classic `group` (its records are written): its members'
        sessions run and, with `rebalance`, one starts so that they rejoin."""
        self.manager.adopt(group)
        for member in group.members.values():
            self._schedule_expiry(group, member)
        if rebalance:
            self._prepare_rebalance(group, f"downgrade of group {group.group_id} from consumer to classic")

    # -- members leaving ----------------------------------------------------------------

    def _remove_member(self, group: Group, member: Member, join_error: JoinResult) -> None:
        group.invoke_join(member, join_error)
        group.invoke_sync(member, SyncResult("UNKNOWN_MEMBER_ID"))
        group.remove(member.member_id)

    def _remove_member_and_update_group(self, group: Group, member: Member, reason: str) -> None:
        self._remove_member(group, member, UNKNOWN_AFTER_REMOVAL)
        if group.is_(STABLE, COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance(group, f"{reason}: {member.member_id}")
        elif group.is_(PREPARING_REBALANCE):
            self._try_complete_join(group)

    def _schedule_expiry(self, group: Group, member: Member, timeout_ms: int | None = None) -> None:
        member.cancel_expiry()
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        member.expiry = self._loop.call_later(timeout / 1000, self._on_member_expired, group, member)

    def _on_member_expired(self, group: Group, member: Member) -> None:
        member.expiry = None
        if group.members.get(member.member_id) is not member:
            return
        if not member.is_new and (member.awaiting_join or member.awaiting_sync):
            return  # a parked request counts as a heartbeat; the rebalance timers take over
        log.info("member %s in group %s has failed, removing it (session timeout)", member.member_id, group.group_id)
        self._remove_member_and_update_group(group, member, "session timeout")

    def _on_pending_member_expired(self, group: Group, member_id: str) -> None:
        group.pending_members.pop(member_id, None)
        log.info("pending member %s of group %s never joined, dropped", member_id, group.group_id)
        if group.is_(PREPARING_REBALANCE):
            self._try_complete_join(group)

    # -- offsets --------------------------------------------------------------------------

    def commit_offsets(self, group_id: str, generation_id: int, member_id: str, instance_id: str | None,
                       offsets: dict[TopicPartition, OffsetValue]) -> dict[TopicPartition, str]:
        """OffsetCommit for partitions that exist; one error name per partition."""
        def all_(error: str) -> dict[TopicPartition, str]:
            return {tp: error for tp in offsets}

        if self.loading:
            return all_(LOADING)
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            error = self.consumer.validate_offset_commit(consumer_group, member_id, generation_id)
            return all_(error) if error is not None else self._store_offsets(group_id, offsets)
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return all_("ILLEGAL_GENERATION")  # from a generation this coordinator never had
            group = self.manager.create(group_id)  # a "simple" group: offsets only
        error = self._validate_offset_commit(group, generation_id, member_id, instance_id)
        if error is not None:
            return all_(error)
        if group.is_(STABLE, PREPARING_REBALANCE) and member_id in group.members:
            self._schedule_expiry(group, group.members[member_id])  # a commit proves liveness too
        return self._store_offsets(group_id, offsets)

    def _store_offsets(self, group_id: str, offsets: dict[TopicPartition, OffsetValue]) -> dict[TopicPartition, str]:
        result: dict[TopicPartition, str] = {}
        accepted: dict[TopicPartition, OffsetValue] = {}
        limit = self.config["offset.metadata.max.bytes"]
        for tp, value in offsets.items():
            if len(value.metadata.encode("utf-8")) > limit:
                result[tp] = "OFFSET_METADATA_TOO_LARGE"
            else:
                accepted[tp] = value
        try:
            self.manager.store_offsets(group_id, accepted)
        except WriteError as exc:
            log.error("offset commit for group %s failed: %s", group_id, exc)
            return {**result, **{tp: exc.error for tp in accepted}}
        return {**result, **{tp: "NONE" for tp in accepted}}

    def txn_commit_offsets(self, group_id: str, producer_id: int, producer_epoch: int, generation_id: int,
                           member_id: str, instance_id: str | None,
                           offsets: dict[TopicPartition, OffsetValue]) -> dict[TopicPartition, str]:
        """TxnOffsetCommit's group side: offsets pending until the transaction ends."""
        if self.loading:
            return {tp: LOADING for tp in offsets}
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            error = (self.consumer.validate_offset_commit(consumer_group, member_id, generation_id, transactional=True)
                     if generation_id >= 0 or member_id else None)
            if error is not None:
                return {tp: error for tp in offsets}
        group = consumer_group or self.groups.get(group_id) or self.manager.create(group_id)
        if consumer_group is None and (generation_id >= 0 or member_id):
            # v3+ sends the consumer's generation and member id: a zombie is fenced here.
            error = self._validate_offset_commit(group, generation_id, member_id, instance_id)
            if error is not None:
                return {tp: error for tp in offsets}
        try:
            self.manager.store_pending_offsets(group_id, producer_id, producer_epoch, offsets)
        except WriteError as exc:
            return {tp: exc.error for tp in offsets}
        return {tp: "NONE" for tp in offsets}

    def complete_transaction(self, group_id: str, producer_id: int, commit: bool) -> None:
        self.manager.offsets.complete_pending(group_id, producer_id, commit)

    def complete_transaction_in(self, offsets_partition: int, producer_id: int, commit: bool) -> None:
        """A marker reached this __consumer_offsets partition: the producer's offsets in the
        groups that live there are committed or dropped."""
        for group_id in self.manager.offsets.groups_pending_for(producer_id):
            if self.manager.log.partition_for(group_id) == offsets_partition:
                self.complete_transaction(group_id, producer_id, commit)

    def unstable(self, group_id: str, topic: str, partition: int) -> bool:
        """A transaction holds an uncommitted offset for this partition."""
        return self.manager.offsets.is_pending(group_id, topic, partition)

    @staticmethod
    def _validate_offset_commit(group: Group, generation_id: int, member_id: str,
                                instance_id: str | None) -> str | None:
        if group.is_(DEAD):
            return "COORDINATOR_NOT_AVAILABLE"
        if generation_id < 0 and group.is_(EMPTY):
            return None  # a "simple" commit (admin client, assign() consumers): allowed while nobody is a member
        if generation_id >= 0 or member_id or instance_id is not None:
            error = group.validate_member(member_id, instance_id)
            if error is not None:
                return error
            if generation_id != group.generation_id:
                return "ILLEGAL_GENERATION"
        elif not group.is_(EMPTY):
            return "UNKNOWN_MEMBER_ID"  # only members may commit while the group has members
        if group.is_(COMPLETING_REBALANCE):
            # A member with the new generation has not had its assignment yet.
            return "REBALANCE_IN_PROGRESS"
        return None

    def fetch_offsets(self, group_id: str, partitions: list[TopicPartition] | None
                      ) -> list[tuple[str, int, OffsetValue | None]]:
        """Committed offsets of `partitions` (None: every partition the group has one for)."""
        store = self.manager.offsets
        group = self.groups.get(group_id) or self.consumer.groups.get(group_id)
        if group is None or (isinstance(group, Group) and group.is_(DEAD)):
            return [] if partitions is None else [(t, p, None) for t, p in partitions]
        if partitions is None:
            return [(t, p, v) for (t, p), v in sorted(store.of_group(group_id).items())]
        return [(t, p, store.get(group_id, t, p)) for t, p in partitions]

    def validate_offset_fetch(self, group_id: str, member_id: str | None, member_epoch: int) -> str | None:
        """OffsetFetch v9+ from a member of a consumer group: its epoch must be current."""
        group = self.consumer.groups.get(group_id)
        return None if group is None else self.consumer.validate_offset_fetch(group, member_id, member_epoch)

    def delete_offsets(self, group_id: str, partitions: list[TopicPartition]) -> tuple[str, dict[TopicPartition, str]]:
        """OffsetDelete: (group error, per-partition errors)."""
        if self.loading:
            return LOADING, {}
        consumer_group = self.consumer.groups.get(group_id)
        if consumer_group is not None:
            return self._delete_consumer_group_offsets(consumer_group, partitions)
        group = self.groups.get(group_id)
        if group is None or group.is_(DEAD):
            return "GROUP_ID_NOT_FOUND", {}
        if not group.is_(EMPTY) and group.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return "NON_EMPTY_GROUP", {}
        errors = {tp: ("GROUP_SUBSCRIBED_TO_TOPIC" if not group.is_(EMPTY) and group.is_subscribed_to(tp[0])
                       else "NONE") for tp in partitions}
        eligible = [tp for tp, error in errors.items() if error == "NONE"]
        try:
            self.manager.delete_offsets(group, eligible)
        except WriteError as exc:
            return exc.error, {}
        return "NONE", errors

    def _delete_consumer_group_offsets(self, group: ConsumerGroup, partitions: list[TopicPartition]
                                       ) -> tuple[str, dict[TopicPartition, str]]:
        errors = {tp: "GROUP_SUBSCRIBED_TO_TOPIC" if group.is_subscribed_to(tp[0]) else "NONE" for tp in partitions}
        try:
            self.manager.delete_consumer_group_offsets(group, [tp for tp, error in errors.items() if error == "NONE"])
        except WriteError as exc:
            return exc.error, {}
        return "NONE", errors

    # -- admin ----------------------------------------------------------------------------

    def delete_groups(self, group_ids: list[str | None]) -> list[tuple[str | None, str]]:
        out = []
        for group_id in group_ids:
            group = self.groups.get(group_id) if group_id is not None else None
            if group_id is None:
                out.append((group_id, "INVALID_GROUP_ID"))
            elif self.loading:
                out.append((group_id, LOADING))
            elif group_id in self.consumer.groups:
                out.append((group_id, self._delete_consumer_group(self.consumer.groups[group_id])))
            elif group is None or group.is_(DEAD):
                out.append((group_id, "GROUP_ID_NOT_FOUND"))
            elif not group.is_(EMPTY):
                out.append((group_id, "NON_EMPTY_GROUP"))
            else:
                try:
                    self.manager.delete_group(group)
                except WriteError as exc:
                    out.append((group_id, exc.error))
                    continue
                log.info("deleted group %s", group_id)
                out.append((group_id, "NONE"))
        return out

    def _delete_consumer_group(self, group: ConsumerGroup) -> str:
        if group.members:
            return "NON_EMPTY_GROUP"
        try:
            self.manager.delete_consumer_group(group)
        except WriteError as exc:
            return exc.error
        log.info("deleted group %s", group.group_id)
        return "NONE"

    def list_groups(self, states: list[str] | None = None, types: list[str] | None = None) -> list[ListedGroup]:
        """Classic and consumer groups, by state and type (case-insensitive, as Kafka)."""
        wanted_states = {s.lower() for s in states or []}
        wanted_types = {t.lower() for t in types or []}
        listed = [ListedGroup(g.group_id, g.protocol_type or "", g.state, CLASSIC)
                  for g in self.groups.values() if not g.is_(DEAD)]
        listed += [ListedGroup(g.group_id, CONSUMER_PROTOCOL_TYPE, g.state, CONSUMER)
                   for g in self.consumer.groups.values()]
        return [g for g in listed if (not wanted_states or g.state.lower() in wanted_states)
                and (not wanted_types or g.type in wanted_types)]

    async def expire_offsets(self) -> None:
        """The `offsets.retention.check.interval.ms` job."""
        if not self.loading:
            self.manager.expire()


UNKNOWN_AFTER_REMOVAL = JoinResult("", "UNKNOWN_MEMBER_ID")
