"""The consumer group protocol (KIP-848) coordinator: ConsumerGroupHeartbeat's rules and timers.

Kafka 4.1's GroupMetadataManager for consumer groups, with its checks in its order and its
error codes and messages. One heartbeat:

1. validates the request (INVALID_REQUEST, INVALID_REGULAR_EXPRESSION, UNSUPPORTED_ASSIGNOR);
2. finds or, with member epoch 0, creates the group (an Empty classic group is replaced, a
   non-empty one converted, group_migration.py) and the member (new, or a static member
   taking over its instance id's slot after a static leave);
3. bumps the group epoch when a subscription or the subscribed partitions changed (regular
   expressions are matched against the topics again at most every REGEX_REFRESH_S);
4. recomputes the target assignment when the group epoch is ahead of it, with the assignor
   the members ask for most (else the first of `group.consumer.assignors`);
5. moves the member one step towards its target (consumer_group.py) and answers with its
   epoch, the heartbeat interval and its assignment (when it changed or on a full request).

All records of a heartbeat are appended to `__consumer_offsets` before it is answered; if the
append fails, the group is put back as it was. A member that sends no heartbeat within
`group.consumer.session.timeout.ms` (the group's `consumer.session.timeout.ms` when set) is
removed (a static member too, once left with epoch -2), and so is one that does not revoke
partitions within its rebalance timeout. The heartbeat interval a member is told is likewise
the group's `consumer.heartbeat.interval.ms` when set.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, TypeVar

import re2

from broker.coordinator import consumer_records as cr
from broker.coordinator import group_migration as migration
from broker.coordinator.assignors import ASSIGNORS, MemberSubscription
from broker.coordinator.group import EMPTY as CLASSIC_EMPTY, Group
from broker.coordinator.consumer_group import (
    LEAVE_EPOCH, STATIC_LEAVE_EPOCH, UNREVOKED_PARTITIONS, ConsumerGroup, ConsumerMember, Partitions,
)
from broker.coordinator.metadata_log import WriteError
from broker.coordinator.metadata_manager import now_ms

log = logging.getLogger("schemabus.coordinator")

# A regex subscription sees topics created since at most this long ago (Kafka refreshes in batches too).
REGEX_REFRESH_S = 1.0
LOADING = "COORDINATOR_LOAD_IN_PROGRESS"
T = TypeVar("T")


class HeartbeatError(Exception):
    def __init__(self, error: str, message: str | None = None):
        super().__init__(message or error)
        self.error, self.message = error, message


@dataclass
class Heartbeat:
    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None
    rack_id: str | None
    rebalance_timeout_ms: int
    subscribed_topic_names: list[str] | None
    subscribed_topic_regex: str | None
    server_assignor: str | None
    owned: Partitions | None  # by topic name; None: not sent
    client_id: str
    client_host: str
    version: int
    # Whether the member may describe a topic (None: no authorizer): regexes match only those.
    may_describe: Callable[[str], bool] | None = None


@dataclass
class Upgrade:
    """A classic group being converted: it, and its members' records as a consumer group."""
    classic: Group
    records: list[cr.Record]


@dataclass
class HeartbeatAnswer:
    member_id: str
    member_epoch: int
    heartbeat_interval_ms: int
    assignment: Partitions | None = None


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # an invalid pattern is the client's error, answered, not logged


def compile_regex(pattern: str):
    """RE2 syntax, as Kafka's RE2/J; raises HeartbeatError for an invalid pattern."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        reason = reason.split(": ", 1)[0]  # RE2 appends the pattern, which the message already shows
        raise HeartbeatError("INVALID_REGULAR_EXPRESSION",
                             f"SubscribedTopicRegex `{pattern}` is not a valid regular expression: {reason}.") from None


class ConsumerGroupCoordinator:
    def __init__(self, manager, topics, config, classic, group_configs=None):
        self.manager = manager  # GroupMetadataManager: the log, the offsets, the classic groups
        self.topics = topics
        self.config = config
        self.classic = classic  # the classic GroupCoordinator (loading flag, upgrades)
        self.group_configs = group_configs  # per-group overrides of the broker's configs
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def groups(self) -> dict[str, ConsumerGroup]:
        return self.manager.consumer_groups

    def start(self) -> None:
        """After the load: loaded members must heartbeat within their session from now on."""
        self._loop = asyncio.get_running_loop()
        for group in self.groups.values():
            for member in group.members.values():
                self.schedule_session(group, member)

    def stop(self) -> None:
        for group in self.groups.values():
            for member in group.members.values():
                member.cancel_timers()

    # -- validation ----------------------------------------------------------------------

    def _validate(self, hb: Heartbeat) -> None:
        def invalid(message: str):
            raise HeartbeatError("INVALID_REQUEST", message)

        if hb.version >= 1 and hb.member_id == "":
            invalid("MemberId can't be empty.")
        if not hb.group_id:
            invalid("GroupId can't be empty.")
        if hb.instance_id == "":
            invalid("InstanceId can't be empty.")
        if hb.rack_id == "":
            invalid("RackId can't be empty.")
        epoch = hb.member_epoch
        if epoch > 0 or epoch == LEAVE_EPOCH:
            if hb.member_id == "":
                invalid("MemberId can't be empty.")
        elif epoch == 0:
            if hb.rebalance_timeout_ms == -1:
                invalid("RebalanceTimeoutMs must be provided in first request.")
            if hb.owned is None or any(hb.owned.values()):
                invalid("TopicPartitions must be empty when (re-)joining.")
            if hb.subscribed_topic_names is None and hb.subscribed_topic_regex is None:
                invalid("Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
        elif epoch == STATIC_LEAVE_EPOCH:
            if hb.member_id == "":
                invalid("MemberId can't be empty.")
            if hb.instance_id is None:
                invalid("InstanceId can't be null.")
        else:
            invalid("MemberEpoch is invalid.")
        if hb.subscribed_topic_regex is not None:
            compile_regex(hb.subscribed_topic_regex)
        assignors = self.config["group.consumer.assignors"]
        if hb.server_assignor is not None and hb.server_assignor not in assignors:
            raise HeartbeatError("UNSUPPORTED_ASSIGNOR", f"ServerAssignor {hb.server_assignor} is not supported. "
                                 f"Supported assignors: {', '.join(assignors)}.")

    # -- ConsumerGroupHeartbeat -------------------------------------------------------------

    def heartbeat(self, hb: Heartbeat) -> HeartbeatAnswer:
        """The answer, or HeartbeatError."""
        self._validate(hb)
        if self.classic.loading:
            raise HeartbeatError(LOADING)
        if hb.member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
            return self._leave(hb)
        group, upgraded = self._group_for(hb)
        return self.transact(group, lambda emit: self._heartbeat(group, hb, emit), upgraded)

    def transact(self, group: ConsumerGroup, body: Callable[[Callable[[cr.Record], None]], Callable[[], T]],
                 upgraded: Upgrade | None = None) -> T:
        """Run `body(emit)`: each record it emits is applied at once (each step sees the previous
        ones); then all are appended in one go and what `body` returned is called for the answer.
        If `body` raises HeartbeatError or the append fails, the group is put back as it was.
        `upgraded`: the classic group `group` was converted from, whose records go first."""
        records: list[cr.Record] = []
        undo: list[cr.Record] = []

        def emit(record: cr.Record) -> None:
            undo.append(group.inverse(record))
            group.apply(record)
            records.append(record)

        created = self.groups.get(group.group_id) is not group
        self.groups[group.group_id] = group
        derived = (group.subscribed_partitions, group.regex_matches, group.regex_refreshed_at)
        try:
            answer = body(emit)
            if upgraded is not None:
                self.manager.migrate(group.group_id, upgraded.records + records, None, self._topic_id)
            else:
                self._write(group, records)
        except (HeartbeatError, WriteError):
            for record in reversed(undo):
                group.apply(record)
            group.subscribed_partitions, group.regex_matches, group.regex_refreshed_at = derived
            if created:
                self.groups.pop(group.group_id, None)  # created (or converted) for this request only
                for member in group.members.values():
                    member.cancel_timers()
            else:
                for member in group.members.values():
                    if member.session_timer is None:  # a member put back: its session runs again
                        self.schedule_session(group, member)
            raise
        if upgraded is not None:
            self._finish_upgrade(group, upgraded)
        return answer()

    def _group_for(self, hb: Heartbeat) -> tuple[ConsumerGroup, Upgrade | None]:
        """The member's group; a new one (not registered yet) on joining, converted from a
        classic group of that id if the migration rules allow it."""
        group = self.groups.get(hb.group_id)
        if group is not None:
            return group, None
        if hb.member_epoch != 0:
            raise HeartbeatError("GROUP_ID_NOT_FOUND", f"Consumer group {hb.group_id} not found.")
        classic = self.classic.groups.get(hb.group_id)
        if classic is None:
            return ConsumerGroup(hb.group_id), None
        if classic.is_(CLASSIC_EMPTY):
            # As Kafka's maybeDeleteEmptyClassicGroup: replaced whatever the policy and protocol type.
            log.info("the empty classic group %s becomes a consumer group", hb.group_id)
            self.manager.remove_group_metadata(classic)  # its offsets stay
            return ConsumerGroup(hb.group_id), None
        try:
            migration.check_upgrade(classic, self.config["group.consumer.migration.policy"],
                                    self.config["group.consumer.max.size"])
            records = migration.upgrade_records(classic, lambda t: self.topics.get(t) is not None)
        except migration.UpgradeRefused as exc:
            raise HeartbeatError("GROUP_ID_NOT_FOUND", str(exc)) from None
        return migration.upgraded_group(classic, records), Upgrade(classic, records)

    def _finish_upgrade(self, group: ConsumerGroup, upgraded: Upgrade) -> None:
        """The converted group is written: the classic group goes (its waiting members are told
        to rejoin) and each converted member's classic session runs."""
        log.info("the classic group %s (generation %d, %d member(s)) becomes a consumer group",
                 group.group_id, upgraded.classic.generation_id, len(upgraded.classic.members))
        self.classic.release_upgraded(upgraded.classic)
        for member in group.members.values():
            if member.session_timer is None:
                self.schedule_session(group, member)

    def _heartbeat(self, group: ConsumerGroup, hb: Heartbeat, emit) -> Callable[[], HeartbeatAnswer]:
        limit = self.config["group.consumer.max.size"]
        if hb.member_id not in group.members and len(group.members) >= limit:
            raise HeartbeatError("GROUP_MAX_SIZE_REACHED",
                                 f"The consumer group has reached its maximum capacity of {limit} members.")
        if hb.member_id == "":  # v0: the coordinator names new members
            hb.member_id = cr.random_member_id()
        member, takeover = self._member_for(group, hb)
        for record in takeover:
            emit(record)
        before = _copy(member.assigned)
        member = self.reconcile(group, member, _updated_member(member, hb), hb.owned, hb.may_describe, emit)

        def answer() -> HeartbeatAnswer:
            if member.state == UNREVOKED_PARTITIONS:
                self._schedule_rebalance_timeout(group, member)
            elif member.rebalance_timer is not None:
                member.rebalance_timer.cancel()
                member.rebalance_timer = None
            self.schedule_session(group, member)
            full = hb.member_epoch == 0 or (hb.rebalance_timeout_ms != -1 and hb.owned is not None and (
                hb.subscribed_topic_names is not None or hb.subscribed_topic_regex is not None))
            changed = _copy(member.assigned) != before
            return HeartbeatAnswer(member.member_id, member.member_epoch,
                                   self._group_config(group, "consumer.heartbeat.interval.ms"),
                                   _copy(member.assigned) if full or changed else None)

        return answer

    def reconcile(self, group: ConsumerGroup, member: ConsumerMember, updated: ConsumerMember,
                  owned: Partitions | None, may_describe: Callable[[str], bool] | None, emit) -> ConsumerMember:
        """Kafka's steps for a member's request: store what changed of the member (a new
        subscription bumps the group epoch), recompute the target assignment when the group
        epoch is ahead of it, then move the member one step towards its target given the
        partitions it says it `owned`. Returns the member as it is now in the group."""
        new_member = member.member_id not in group.members
        subscription_changed = new_member or (updated.subscribed_topic_names, updated.subscribed_topic_regex) != (
            member.subscribed_topic_names, member.subscribed_topic_regex)
        if new_member or updated.metadata() != member.metadata():
            emit(cr.Record(cr.MEMBER_METADATA, group.group_id, member.member_id, updated.metadata()))
        member = group.members[member.member_id]
        if self._refresh_subscription(group, may_describe) or subscription_changed:
            emit(cr.Record(cr.GROUP_EPOCH, group.group_id, None, cr.Epoch(group.group_epoch + 1)))
        if group.group_epoch > group.assignment_epoch:
            for record in self._assign(group):
                emit(record)
        current = group.next_assignment(member, owned)
        if current != member.current():
            emit(cr.Record(cr.CURRENT_ASSIGNMENT, group.group_id, member.member_id, current))
        return member

    def _member_for(self, group: ConsumerGroup, hb: Heartbeat) -> tuple[ConsumerMember, list[cr.Record]]:
        """The member this heartbeat is from (a new one on joining), with the records a static
        member's replacement takes."""
        if hb.instance_id is None:
            member = group.members.get(hb.member_id)
            if member is None:
                if hb.member_epoch != 0:
                    raise HeartbeatError("UNKNOWN_MEMBER_ID",
                                         f"Member {hb.member_id} is not a member of group {group.group_id}.")
                return ConsumerMember(hb.member_id), []
            _check_epoch(member, hb)
            return member, []
        existing = group.static_member(hb.instance_id)
        if hb.member_epoch == 0:
            if existing is None:
                return group.members.get(hb.member_id) or ConsumerMember(hb.member_id), []
            if existing.member_id == hb.member_id:
                return existing, []
            if existing.member_epoch != STATIC_LEAVE_EPOCH:
                raise HeartbeatError("UNRELEASED_INSTANCE_ID",
                                     f"Static member {hb.member_id} with instance id {hb.instance_id} cannot join "
                                     f"the group because the instance id is owned by {existing.member_id} member.")
            return self.replace_static_member(group, existing, hb.member_id)
        if existing is None:
            raise HeartbeatError("UNKNOWN_MEMBER_ID", f"Instance id {hb.instance_id} is unknown.")
        if existing.member_id != hb.member_id:
            raise HeartbeatError("FENCED_INSTANCE_ID", f"Static member {hb.member_id} with instance id "
                                 f"{hb.instance_id} was fenced by member {existing.member_id}.")
        _check_epoch(existing, hb)
        return existing, []

    def replace_static_member(self, group: ConsumerGroup, old: ConsumerMember,
                               new_id: str) -> tuple[ConsumerMember, list[cr.Record]]:
        """The returning static member takes over the old member's target and partitions under
        its new id, at epoch 0: it reconciles straight back to them, nobody else moves."""
        log.info("static member %s of group %s rejoins as %s", old.instance_id, group.group_id, new_id)
        gid = group.group_id
        records = _removal_records(gid, old.member_id)
        replacement = copy.copy(old)
        replacement.member_id = new_id
        replacement.session_timer = replacement.rebalance_timer = replacement.join_timer = replacement.sync_timer = None
        records += [
            cr.Record(cr.MEMBER_METADATA, gid, new_id, replacement.metadata()),
            cr.Record(cr.TARGET_MEMBER, gid, new_id, cr.TargetAssignment(_copy(group.target.get(old.member_id, {})))),
            cr.Record(cr.CURRENT_ASSIGNMENT, gid, new_id, cr.CurrentAssignment(
                0, 0, old.state, _copy(old.assigned), _copy(old.pending_revocation))),
        ]
        replacement.member_epoch = replacement.previous_member_epoch = 0
        return replacement, records

    def _leave(self, hb: Heartbeat) -> HeartbeatAnswer:
        group = self.groups.get(hb.group_id)
        if group is None:
            raise HeartbeatError("GROUP_ID_NOT_FOUND", f"Group {hb.group_id} not found.")
        if hb.instance_id is None:
            member = group.members.get(hb.member_id)
            if member is None:
                raise HeartbeatError("UNKNOWN_MEMBER_ID",
                                     f"Member {hb.member_id} is not a member of group {group.group_id}.")
        else:
            member = group.static_member(hb.instance_id)
            if member is None:
                raise HeartbeatError("UNKNOWN_MEMBER_ID", f"Instance id {hb.instance_id} is unknown.")
            if member.member_id != hb.member_id:
                raise HeartbeatError("FENCED_INSTANCE_ID", f"Static member {hb.member_id} with instance id "
                                     f"{hb.instance_id} was fenced by member {member.member_id}.")
        if hb.member_epoch == STATIC_LEAVE_EPOCH:
            # It keeps its partitions for one session timeout, expecting to come back.
            log.info("static member %s of group %s leaves temporarily", hb.instance_id, group.group_id)
            current = member.current()
            self._write_and_apply(group, [cr.Record(cr.CURRENT_ASSIGNMENT, group.group_id, member.member_id,
                                                    cr.CurrentAssignment(STATIC_LEAVE_EPOCH, member.member_epoch,
                                                                         current.state, current.assigned,
                                                                         current.pending_revocation))])
            self.schedule_session(group, member)
        else:
            log.info("member %s leaves group %s", member.member_id, group.group_id)
            self.remove_member(group, member)
        return HeartbeatAnswer(hb.member_id, hb.member_epoch, 0)

    # -- subscriptions and assignment ----------------------------------------------------------

    def _refresh_subscription(self, group: ConsumerGroup, may_describe: Callable[[str], bool] | None) -> bool:
        """Match regexes again when due and recompute the partition counts of the subscribed
        topics; True if they changed (a new group epoch is needed). As in Kafka, a regex matches
        the topics the member whose heartbeat refreshes it may describe."""
        regexes = {m.subscribed_topic_regex for m in group.members.values() if m.subscribed_topic_regex is not None}
        now = time.monotonic()
        if set(group.regex_matches) != regexes or now - group.regex_refreshed_at >= REGEX_REFRESH_S:
            names = [t.name for t in self.topics.topics.values()
                     if not t.internal and (may_describe is None or may_describe(t.name))] if regexes else []
            group.regex_matches = {r: _matching(compile_regex(r), names) for r in regexes}
            group.regex_refreshed_at = now
        counts = {}
        for member in group.members.values():
            for name in group.subscribed_topics(member):
                topic = self.topics.get(name)
                if topic is not None:
                    counts[name] = len(topic.partitions)
        known, group.subscribed_partitions = group.subscribed_partitions, counts
        # After a load the counts are not known yet: the stored target is kept.
        return known is not None and known != counts

    def _assign(self, group: ConsumerGroup) -> list[cr.Record]:
        counts = group.subscribed_partitions or {}
        subscriptions = {
            mid: MemberSubscription(frozenset(t for t in group.subscribed_topics(m) if t in counts),
                                    {t: frozenset(ps) for t, ps in group.target.get(mid, {}).items()})
            for mid, m in group.members.items()}
        name = self.assignor_name(group)
        target = ASSIGNORS[name](subscriptions, counts)
        gid = group.group_id
        records = [cr.Record(cr.TARGET_MEMBER, gid, mid, cr.TargetAssignment(parts))
                   for mid, parts in target.items() if mid not in group.target or _copy(group.target[mid]) != _copy(parts)]
        records.append(cr.Record(cr.TARGET_EPOCH, gid, None, cr.Epoch(group.group_epoch)))
        log.info("group %s: new target assignment at epoch %d (%s assignor)", gid, group.group_epoch, name)
        return records

    def assignor_name(self, group: ConsumerGroup) -> str:
        """The assignor the members ask for most, else the first of `group.consumer.assignors`."""
        wanted = Counter(m.server_assignor for m in group.members.values() if m.server_assignor is not None)
        return wanted.most_common(1)[0][0] if wanted else self.config["group.consumer.assignors"][0]

    # -- members leaving ------------------------------------------------------------------------

    def remove_member(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        """A member leaves or is fenced; if it was the last one using the consumer protocol and
        the others use the classic one, the group becomes a classic group (Kafka's downgrade)."""
        if migration.may_downgrade(group, member.member_id, self.config["group.consumer.migration.policy"],
                                   self.config["group.max.size"]):
            self._downgrade(group, member)
            return
        records = _removal_records(group.group_id, member.member_id)
        records.append(cr.Record(cr.GROUP_EPOCH, group.group_id, None, cr.Epoch(group.group_epoch + 1)))
        self._write_and_apply(group, records)

    def _group_config(self, group: ConsumerGroup, name: str) -> int:
        """The group's `name` (kafka-configs --entity-type groups), else the broker's group.`name`."""
        if self.group_configs is None:
            return self.config["group." + name]
        return self.group_configs.value(group.group_id, name)

    def _downgrade(self, group: ConsumerGroup, leaving: ConsumerMember) -> None:
        log.info("member %s left group %s, whose members all use the classic protocol: it becomes a classic group",
                 leaving.member_id, group.group_id)
        self.downgrade(group, leaving.member_id, rebalance=True)

    def downgrade(self, group: ConsumerGroup, leaving_id: str | None, rebalance: bool) -> None:
        """The group becomes a classic group of its members but `leaving_id` (raises WriteError,
        nothing changed then); with `rebalance`, one starts so that they all rejoin."""
        classic = migration.downgraded_group(group, leaving_id, now_ms())
        self.manager.migrate(group.group_id, migration.downgrade_records(group), classic, self._topic_id)
        for member in group.members.values():
            member.cancel_timers()
        self.classic.adopt_downgraded(classic, rebalance)

    def schedule_session(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        """A classic member's session is its JoinGroup's session timeout."""
        if member.session_timer is not None:
            member.session_timer.cancel()
        timeout_ms = (member.classic.session_timeout_ms if member.uses_classic_protocol
                      else self._group_config(group, "consumer.session.timeout.ms"))
        member.session_timer = self._loop.call_later(timeout_ms / 1000, self.fence, group, member, "session timeout")

    def call_later(self, delay_ms: int, callback, *args) -> asyncio.TimerHandle:
        return self._loop.call_later(max(delay_ms, 0) / 1000, callback, *args)

    def _schedule_rebalance_timeout(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        if member.rebalance_timer is not None:
            return  # already counting for this revocation
        epoch = member.member_epoch

        def expired():
            member.rebalance_timer = None
            if member.state == UNREVOKED_PARTITIONS and member.member_epoch == epoch:
                self.fence(group, member, "partitions not revoked within the rebalance timeout")

        member.rebalance_timer = self._loop.call_later(max(member.rebalance_timeout_ms, 0) / 1000, expired)

    def fence(self, group: ConsumerGroup, member: ConsumerMember, reason: str) -> None:
        if group.members.get(member.member_id) is not member or self.groups.get(group.group_id) is not group:
            return
        log.info("member %s of group %s is removed (%s)", member.member_id, group.group_id, reason)
        try:
            self.remove_member(group, member)
        except WriteError as exc:
            log.error("cannot remove member %s of group %s: %s", member.member_id, group.group_id, exc)

    # -- records --------------------------------------------------------------------------------

    def _write(self, group: ConsumerGroup, records: list[cr.Record]) -> None:
        if records:
            self.manager.log.append(group.group_id, [(cr.encode_key(r), cr.encode_value(r, self._topic_id))
                                                     for r in records])

    def _write_and_apply(self, group: ConsumerGroup, records: list[cr.Record]) -> None:
        """Append, then apply: what was answered is what a restart rebuilds (raises WriteError)."""
        self._write(group, records)
        for record in records:
            group.apply(record)

    def _topic_id(self, name: str) -> bytes | None:
        topic = self.topics.get(name)
        return topic.topic_id if topic is not None else None

    # -- offsets and admin ------------------------------------------------------------------------

    def validate_offset_commit(self, group: ConsumerGroup, member_id: str, member_epoch: int,
                               transactional: bool = False) -> str | None:
        """OffsetCommit (v9+) and TxnOffsetCommit to a consumer group, as Kafka checks them."""
        if member_epoch < 0 and not member_id and not group.members:
            return None  # an admin's or assign()ing consumer's commit to an Empty group
        member = group.members.get(member_id)
        if member is None:
            return "UNKNOWN_MEMBER_ID"
        if member_epoch != member.member_epoch:
            # A classic member sends its generation: Kafka answers as a classic group would.
            return "ILLEGAL_GENERATION" if transactional or member.uses_classic_protocol else "STALE_MEMBER_EPOCH"
        return None

    def validate_offset_fetch(self, group: ConsumerGroup, member_id: str | None, member_epoch: int) -> str | None:
        if member_id is None or (member_epoch < 0 and not member_id):
            return None  # not from a member: an admin's fetch
        member = group.members.get(member_id)
        if member is None:
            return "UNKNOWN_MEMBER_ID"
        if member_epoch != member.member_epoch:
            return "STALE_MEMBER_EPOCH"
        return None


# -- helpers ----------------------------------------------------------------------------------------


def _check_epoch(member: ConsumerMember, hb: Heartbeat) -> None:
    """Kafka's member epoch check; epoch 0 from a known member is a rejoin and accepted."""
    received = hb.member_epoch
    if received == 0:
        return
    if received > member.member_epoch:
        raise HeartbeatError("FENCED_MEMBER_EPOCH", f"The consumer group member has a greater member epoch "
                             f"({received}) than the one known by the group coordinator ({member.member_epoch}). "
                             "The member must abandon all its partitions and rejoin.")
    if received < member.member_epoch and (received != member.previous_member_epoch
                                           or not _subset(hb.owned, member.assigned)):
        # Accepted only as a heartbeat whose answer (with the new epoch) was lost.
        raise HeartbeatError("FENCED_MEMBER_EPOCH", f"The consumer group member has a smaller member epoch "
                             f"({received}) than the one known by the group coordinator ({member.member_epoch}). "
                             "The member must abandon all its partitions and rejoin.")


def _matching(regex, names: list[str]) -> frozenset[str]:
    return frozenset(n for n in names if regex.fullmatch(n))


def _subset(owned: Partitions | None, assigned: Partitions) -> bool:
    return owned is not None and all(set(ps) <= assigned.get(t, set()) for t, ps in owned.items())


def _updated_member(member: ConsumerMember, hb: Heartbeat) -> ConsumerMember:
    """The member with what this heartbeat changed (a null field: unchanged)."""
    updated = copy.copy(member)
    if hb.instance_id is not None:
        updated.instance_id = hb.instance_id
    if hb.rack_id is not None:
        updated.rack_id = hb.rack_id
    if hb.rebalance_timeout_ms != -1:
        updated.rebalance_timeout_ms = hb.rebalance_timeout_ms
    if hb.server_assignor is not None:
        updated.server_assignor = hb.server_assignor
    if hb.subscribed_topic_names is not None:
        updated.subscribed_topic_names = tuple(hb.subscribed_topic_names)
    if hb.subscribed_topic_regex is not None:
        updated.subscribed_topic_regex = hb.subscribed_topic_regex
    updated.client_id, updated.client_host = hb.client_id, hb.client_host
    updated.classic = None  # a ConsumerGroupHeartbeat is from a consumer-protocol member, as in Kafka
    return updated


def _removal_records(group_id: str, member_id: str) -> list[cr.Record]:
    """Tombstones for a member, in Kafka's order."""
    return [cr.Record(kind, group_id, member_id, None)
            for kind in (cr.CURRENT_ASSIGNMENT, cr.TARGET_MEMBER, cr.MEMBER_METADATA)]


def _copy(parts: Partitions) -> Partitions:
    return {t: set(ps) for t, ps in parts.items() if ps}
