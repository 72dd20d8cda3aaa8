"""Classic-protocol members of a consumer group (KIP-848 online migration), as Kafka 4.1 serves them.

A consumer using JoinGroup/SyncGroup/Heartbeat (protocol type "consumer") may join a
non-empty consumer group, for instance while a group is upgraded one client at a time. It
becomes a member like the others: its subscription, rack and owned partitions come from the
embedded ConsumerProtocol subscription of its JoinGroup, the server-side assignor gives it
its target, and it is reconciled as any member is (consumer_coordinator.reconcile). Kafka's
rules for the classic APIs on such a member:

- JoinGroup: a new dynamic member gets MEMBER_ID_REQUIRED first (v4+); the answer carries the
  member's epoch as generation, its own first protocol (assignor) name and no leader, so the
  client never computes an assignment; it must send SyncGroup within its rebalance timeout.
- SyncGroup: the member's current partitions, in the ConsumerProtocol assignment version of
  its subscription; REBALANCE_IN_PROGRESS if the group epoch moved on meanwhile.
- Heartbeat: REBALANCE_IN_PROGRESS when the member must rejoin to move towards its target
  (the group epoch is ahead of its epoch, it has partitions to revoke, or partitions it waits
  for were released); it must then rejoin within its rebalance timeout.
- LeaveGroup removes the member; its session is its JoinGroup's session timeout.

A static classic member that replaces the last member using the consumer protocol (joining
with its instance id) turns the group into a classic group (group_migration.py).

Each is answered with the error names of the classic APIs; a member using the consumer
protocol is unknown to them (UNKNOWN_MEMBER_ID), as in Kafka.
"""

from __future__ import annotations

import copy
import logging

from broker.coordinator import consumer_protocol as cp
from broker.coordinator import consumer_records as cr
from broker.coordinator import group_migration as migration
from broker.coordinator.consumer_coordinator import ConsumerGroupCoordinator, HeartbeatError
from broker.coordinator.consumer_group import UNRELEASED_PARTITIONS, UNREVOKED_PARTITIONS, ConsumerGroup, ConsumerMember
from broker.coordinator.group import CONSUMER_PROTOCOL_TYPE, JoinResult, SyncResult
from broker.coordinator.metadata_log import WriteError

log = logging.getLogger("schemabus.coordinator")


class ClassicMembers:
    def __init__(self, coordinator: ConsumerGroupCoordinator):
        self.coordinator = coordinator
        self.config = coordinator.config

    # -- JoinGroup ------------------------------------------------------------------------------

    def join(self, group: ConsumerGroup, req) -> JoinResult:
        """`req`: the group coordinator's JoinRequest."""
        unknown = req.member_id == ""
        member_id = req.member_id or cr.random_member_id()
        limit = self.config["group.consumer.max.size"]
        if member_id not in group.members and len(group.members) >= limit:
            return JoinResult(req.member_id, "GROUP_MAX_SIZE_REACHED")
        if not group.supports_classic_protocols(req.protocol_type, [name for name, _ in req.protocols]):
            return JoinResult(req.member_id, "INCONSISTENT_GROUP_PROTOCOL")
        if unknown and req.require_known_member_id:
            log.info("dynamic member joins consumer group %s with the classic protocol: asked to rejoin as %s",
                     group.group_id, member_id)
            return JoinResult(member_id, "MEMBER_ID_REQUIRED")
        try:
            # Every protocol carries the same subscription (only the assignor names differ).
            subscription = cp.decode_subscription(req.protocols[0][1])
        except cp.MalformedProtocol:
            return JoinResult(req.member_id, "UNKNOWN_SERVER_ERROR")
        try:
            return self.coordinator.transact(group, lambda emit: self._join(group, req, member_id, unknown,
                                                                            subscription, emit))
        except HeartbeatError as exc:
            return JoinResult(req.member_id, exc.error)
        except WriteError as exc:
            return JoinResult(req.member_id, exc.error)

    def _join(self, group: ConsumerGroup, req, member_id: str, unknown: bool, subscription: cp.Subscription, emit):
        replaced = group.static_member(req.group_instance_id) if unknown else None
        member = self._joining_member(group, req, member_id, unknown, emit)
        updated = copy.copy(member)
        if req.group_instance_id is not None:
            updated.instance_id = req.group_instance_id
        if subscription.rack_id is not None:
            updated.rack_id = subscription.rack_id
        if req.rebalance_timeout_ms != -1:
            updated.rebalance_timeout_ms = req.rebalance_timeout_ms
        updated.subscribed_topic_names = subscription.topics
        updated.client_id, updated.client_host = req.client_id, req.client_host
        updated.classic = cr.ClassicMetadata(req.session_timeout_ms,
                                             tuple((name, bytes(data)) for name, data in req.protocols))
        member = self.coordinator.reconcile(group, member, updated, subscription.owned, None, emit)

        def answer() -> JoinResult:
            _cancel(member, "join_timer")
            result = JoinResult(member.member_id, "NONE", member.member_epoch, CONSUMER_PROTOCOL_TYPE,
                                member.classic.protocols[0][0], "", [])
            if replaced is not None and self._downgraded_on_replacement(group, replaced, member):
                return result  # a classic group's member now: its timers are the classic group's
            self.coordinator.schedule_session(group, member)
            _cancel(member, "sync_timer")
            member.sync_timer = self.coordinator.call_later(
                member.rebalance_timeout_ms, self.coordinator.fence, group, member,
                "the classic member did not send SyncGroup within its rebalance timeout")
            return result

        return answer

    def _downgraded_on_replacement(self, group: ConsumerGroup, replaced: ConsumerMember,
                                   member: ConsumerMember) -> bool:
        """Kafka downgrades the group when this static member replaced the last member using the
        consumer protocol; it rebalances only if the subscription changed. The join's records
        are written already: if the conversion's cannot be, the group stays a consumer group."""
        if not migration.may_downgrade_on_replacement(group, replaced, self.config["group.consumer.migration.policy"],
                                                      self.config["group.max.size"]):
            return False
        changed = (replaced.subscribed_topic_names, replaced.subscribed_topic_regex) != (
            member.subscribed_topic_names, member.subscribed_topic_regex)
        try:
            self.coordinator.downgrade(group, None, rebalance=changed)
        except WriteError as exc:
            log.error("cannot downgrade group %s: %s", group.group_id, exc)
            return False
        log.info("static member %s of group %s replaced its last consumer-protocol member: it becomes a classic group",
                 member.instance_id, group.group_id)
        return True

    def _joining_member(self, group: ConsumerGroup, req, member_id: str, unknown: bool, emit) -> ConsumerMember:
        """Kafka's rules: a dynamic member id unknown to the group makes a new member; a static
        member joining without a member id replaces its instance's member (whatever protocol
        that one used); with a member id it must be the instance's current member."""
        if req.group_instance_id is None:
            return group.members.get(member_id) or ConsumerMember(member_id)
        existing = group.static_member(req.group_instance_id)
        if unknown:
            if existing is None:
                return ConsumerMember(member_id)
            replacement, records = self.coordinator.replace_static_member(group, existing, member_id)
            for record in records:
                emit(record)
            return replacement
        return self._static_member(group, member_id, req.group_instance_id)

    # -- SyncGroup and Heartbeat ----------------------------------------------------------------

    def sync(self, group: ConsumerGroup, member_id: str, instance_id: str | None, generation_id: int,
             protocol_type: str | None, protocol_name: str | None) -> SyncResult:
        try:
            member = self._classic_member(group, member_id, instance_id, generation_id)
        except HeartbeatError as exc:
            return SyncResult(exc.error)
        name, metadata = member.classic.protocols[0]
        if ((protocol_type is not None and protocol_type != CONSUMER_PROTOCOL_TYPE)
                or (protocol_name is not None and protocol_name != name)):
            return SyncResult("INCONSISTENT_GROUP_PROTOCOL")
        # A rebalance started since its JoinGroup (unless it is revoking: its next join follows).
        if group.group_epoch > member.member_epoch and member.state != UNREVOKED_PARTITIONS:
            self._expect_rejoin(group, member)
            return SyncResult("REBALANCE_IN_PROGRESS")
        _cancel(member, "sync_timer")
        self.coordinator.schedule_session(group, member)
        try:
            assignment = cp.encode_assignment(member.assigned, cp.version_of(metadata))
        except cp.MalformedProtocol:
            return SyncResult("UNKNOWN_SERVER_ERROR")
        return SyncResult("NONE", protocol_type, protocol_name, assignment)

    def heartbeat(self, group: ConsumerGroup, member_id: str, instance_id: str | None, generation_id: int) -> str:
        try:
            member = self._classic_member(group, member_id, instance_id, generation_id)
        except HeartbeatError as exc:
            return exc.error
        self.coordinator.schedule_session(group, member)
        if (member.member_epoch < group.group_epoch or member.state == UNREVOKED_PARTITIONS
                or (member.state == UNRELEASED_PARTITIONS and not group.waiting_on_unreleased(member))):
            # It must rejoin: to catch up with the group epoch, to revoke partitions, or to
            # collect partitions their previous owners have released.
            self._expect_rejoin(group, member)
            return "REBALANCE_IN_PROGRESS"
        return "NONE"

    def _expect_rejoin(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        if member.join_timer is None:
            member.join_timer = self.coordinator.call_later(
                member.rebalance_timeout_ms, self.coordinator.fence, group, member,
                "the classic member did not rejoin within its rebalance timeout")

    # -- LeaveGroup -----------------------------------------------------------------------------

    def leave(self, group: ConsumerGroup, leaving: list[tuple[str, str | None]]) -> list[str]:
        """One error per leaving (member id, instance id); the group epoch is bumped once."""
        errors: list[str] = []

        def body(emit):
            removed = False
            for member_id, instance_id in leaving:
                try:
                    member = self._leaving_member(group, member_id, instance_id)
                except HeartbeatError as exc:
                    errors.append(exc.error)
                    continue
                log.info("classic member %s leaves consumer group %s", member.member_id, group.group_id)
                for kind in (cr.CURRENT_ASSIGNMENT, cr.TARGET_MEMBER, cr.MEMBER_METADATA):
                    emit(cr.Record(kind, group.group_id, member.member_id, None))
                errors.append("NONE")
                removed = True
            if removed:
                emit(cr.Record(cr.GROUP_EPOCH, group.group_id, None, cr.Epoch(group.group_epoch + 1)))
            return lambda: errors

        try:
            return self.coordinator.transact(group, body)
        except WriteError as exc:
            return [exc.error] * len(leaving)

    def _leaving_member(self, group: ConsumerGroup, member_id: str, instance_id: str | None) -> ConsumerMember:
        if instance_id is None:
            member = group.members.get(member_id)
            if member is None:
                raise HeartbeatError("UNKNOWN_MEMBER_ID")
        else:
            member = group.static_member(instance_id)
            if member is None:
                raise HeartbeatError("UNKNOWN_MEMBER_ID")
            # An admin removes a static member by its instance id alone.
            if member_id != "" and member.member_id != member_id:
                raise HeartbeatError("FENCED_INSTANCE_ID")
        if not member.uses_classic_protocol:
            raise HeartbeatError("UNKNOWN_MEMBER_ID")
        return member

    # -- lookups --------------------------------------------------------------------------------

    def _classic_member(self, group: ConsumerGroup, member_id: str, instance_id: str | None,
                        generation_id: int) -> ConsumerMember:
        """Kafka's checks of SyncGroup and Heartbeat, in its order."""
        if instance_id is None:
            member = group.members.get(member_id)
            if member is None:
                raise HeartbeatError("UNKNOWN_MEMBER_ID")
        else:
            member = self._static_member(group, member_id, instance_id)
        if not member.uses_classic_protocol:
            raise HeartbeatError("UNKNOWN_MEMBER_ID")
        if generation_id != member.member_epoch:
            raise HeartbeatError("ILLEGAL_GENERATION")
        return member

    @staticmethod
    def _static_member(group: ConsumerGroup, member_id: str, instance_id: str) -> ConsumerMember:
        member = group.static_member(instance_id)
        if member is None:
            raise HeartbeatError("UNKNOWN_MEMBER_ID")
        if member.member_id != member_id:
            raise HeartbeatError("FENCED_INSTANCE_ID")
        return member


def _cancel(member: ConsumerMember, timer: str) -> None:
    handle = getattr(member, timer)
    if handle is not None:
        handle.cancel()
        setattr(member, timer, None)
