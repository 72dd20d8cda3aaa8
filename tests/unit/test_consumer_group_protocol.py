"""The consumer group protocol's (KIP-848) pure parts: assignors, reconciliation, records and
the expiry of a consumer group's offsets."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from broker.config import BrokerConfig, ConfigError
from broker.coordinator import consumer_records as cr
from broker.coordinator.assignors import MemberSubscription, range_, uniform
from broker.coordinator.consumer_coordinator import Heartbeat
from broker.coordinator.consumer_group import (
    MEMBER_STABLE, UNRELEASED_PARTITIONS, UNREVOKED_PARTITIONS, ConsumerGroup,
)
from broker.coordinator.group_coordinator import GroupCoordinator
from broker.coordinator.messages import OffsetValue
from broker.coordinator.metadata_log import WriteError
from broker.coordinator.metadata_manager import GroupMetadataManager
from broker.topics import TopicManager


def subs(topics, current=None):
    return MemberSubscription(frozenset(topics), {t: frozenset(ps) for t, ps in (current or {}).items()})


def sizes(assignment):
    return {mid: sum(map(len, parts.values())) for mid, parts in assignment.items()}


def test_uniform_balances_and_moves_only_what_it_must():
    first = uniform({"a": subs({"t"}), "b": subs({"t"})}, {"t": 6})
    assert sizes(first) == {"a": 3, "b": 3}
    current = {mid: subs({"t"}, parts) for mid, parts in first.items()}
    second = uniform({**current, "c": subs({"t"})}, {"t": 6})
    assert sizes(second) == {"a": 2, "b": 2, "c": 2}
    # Sticky: a and b keep two of their three each; c gets the one each gave up.
    assert second["a"]["t"] <= first["a"]["t"] and second["b"]["t"] <= first["b"]["t"]


def test_uniform_with_different_subscriptions():
    assignment = uniform({"a": subs({"t", "u"}), "b": subs({"t"})}, {"t": 2, "u": 2})
    assert assignment["b"].get("u", set()) == set()
    assert sizes(assignment) == {"a": 2, "b": 2}
    assert assignment["a"] == {"u": {0, 1}}


def test_range_gives_each_member_the_same_partitions_of_every_topic():
    assignment = range_({"m1": subs({"t", "u"}), "m2": subs({"t", "u"})}, {"t": 3, "u": 3})
    assert assignment["m1"] == {"t": {0, 1}, "u": {0, 1}}
    assert assignment["m2"] == {"t": {2}, "u": {2}}


def _group_with_target(target_epoch: int, targets: dict) -> ConsumerGroup:
    group = ConsumerGroup("g")
    for mid in targets:
        group.apply(cr.Record(cr.MEMBER_METADATA, "g", mid, cr.MemberMetadata(None, None, "c", "h", ("t",), None,
                                                                              1000, None)))
        group.apply(cr.Record(cr.TARGET_MEMBER, "g", mid, cr.TargetAssignment(targets[mid])))
    group.apply(cr.Record(cr.GROUP_EPOCH, "g", None, cr.Epoch(target_epoch)))
    group.apply(cr.Record(cr.TARGET_EPOCH, "g", None, cr.Epoch(target_epoch)))
    return group


def test_a_partition_is_withheld_until_its_owner_revoked_it():
    group = _group_with_target(2, {"a": {"t": {0}}, "b": {"t": {1}}})
    group.apply(cr.Record(cr.CURRENT_ASSIGNMENT, "g", "a", cr.CurrentAssignment(1, 0, MEMBER_STABLE, {"t": {0, 1}})))
    b = group.next_assignment(group.members["b"], {})
    assert (b.member_epoch, b.state, b.assigned) == (2, UNRELEASED_PARTITIONS, {})
    a = group.next_assignment(group.members["a"], {"t": {0, 1}})
    assert (a.member_epoch, a.state, a.assigned, a.pending_revocation) == (
        1, UNREVOKED_PARTITIONS, {"t": {0}}, {"t": {1}})
    group.apply(cr.Record(cr.CURRENT_ASSIGNMENT, "g", "a", a))
    assert group.next_assignment(group.members["a"], {"t": {0, 1}}) == a  # still owned: nothing moves
    a = group.next_assignment(group.members["a"], {"t": {0}})
    assert (a.member_epoch, a.state, a.assigned) == (2, MEMBER_STABLE, {"t": {0}})
    group.apply(cr.Record(cr.CURRENT_ASSIGNMENT, "g", "a", a))
    b = group.next_assignment(group.members["b"], {})
    assert (b.member_epoch, b.state, b.assigned) == (2, MEMBER_STABLE, {"t": {1}})


def test_records_round_trip_in_kafkas_layout():
    tid = uuid.uuid4().bytes
    names = {tid: "t"}
    records = [
        cr.Record(cr.GROUP_EPOCH, "g", None, cr.Epoch(7)),
        cr.Record(cr.MEMBER_METADATA, "g", "m", cr.MemberMetadata("i", None, "client", "/127.0.0.1", ("t", "u"),
                                                                  "t.*", 30000, "range")),
        cr.Record(cr.TARGET_EPOCH, "g", None, cr.Epoch(7)),
        cr.Record(cr.TARGET_MEMBER, "g", "m", cr.TargetAssignment({"t": {0, 2}})),
        cr.Record(cr.CURRENT_ASSIGNMENT, "g", "m", cr.CurrentAssignment(7, 6, UNREVOKED_PARTITIONS, {"t": {0}},
                                                                       {"t": {1}})),
        cr.Record(cr.MEMBER_METADATA, "g", "m", None),
    ]
    for record in records:
        key = cr.encode_key(record)
        assert key[:2] == record.type.to_bytes(2, "big")
        value = cr.encode_value(record, {"t": tid}.get)
        assert cr.decode(cr.decode_key(key), value, names.get) == record
    assert cr.decode_key(b"\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x00") is None  # an offset commit key
    with pytest.raises(cr.FormatError):
        cr.decode((cr.GROUP_EPOCH, "g", None), b"\x00\x00\x00", names.get)


def test_consumer_group_offsets_expire_unless_subscribed_and_an_empty_group_goes(tmp_path):
    config = BrokerConfig({"offsets.topic.num.partitions": "3", "offsets.retention.minutes": "1"})
    topics = TopicManager(tmp_path, config)
    topics.create("t", 1)
    topics.create("u", 1)
    manager = GroupMetadataManager(topics, config)
    group = manager.consumer_groups["g"] = _group_with_target(1, {"m": {"t": {0}}})
    manager.store_offsets("g", {("t", 0): OffsetValue(1, -1, "", 0), ("u", 0): OffsetValue(2, -1, "", 0)})
    assert manager.expire(60_000) == (1, 0)  # u: not subscribed
    assert manager.offsets.of_group("g").keys() == {("t", 0)}
    group.apply(cr.Record(cr.MEMBER_METADATA, "g", "m", None))
    assert manager.expire(60_000) == (1, 1)
    assert "g" not in manager.consumer_groups
    topics.close()
    # The records replay to the same end: no group, no offsets.
    reloaded = GroupMetadataManager(TopicManager(tmp_path, config), config)
    reloaded.load()
    assert "g" not in reloaded.consumer_groups and not reloaded.offsets.has_offsets("g")


def test_a_heartbeat_whose_records_cannot_be_written_changes_nothing(tmp_path):
    def join(member_id, instance_id=None):
        return Heartbeat("g", member_id, 0, instance_id, None, 5000, ["t"], None, None, {}, "c", "/h", 1)

    def state(group):
        return (group.group_epoch, group.assignment_epoch, dict(group.target), dict(group.partition_epochs),
                {mid: (m.member_epoch, m.current(), m.metadata()) for mid, m in group.members.items()})

    async def scenario():
        config = BrokerConfig({"offsets.topic.num.partitions": "3"})
        topics = TopicManager(tmp_path, config)
        topics.create("t", 4)
        coordinator = GroupCoordinator(topics, config)
        coordinator.loading = False
        coordinator.consumer.start()
        consumer = coordinator.consumer
        consumer.heartbeat(join("a", "static-a"))
        group = consumer.groups["g"]
        consumer.heartbeat(Heartbeat("g", "a", 1, "static-a", None, -1, None, None, None, {"t": {0, 1, 2, 3}},
                                     "c", "/h", 1))
        consumer.heartbeat(Heartbeat("g", "a", -2, "static-a", None, -1, None, None, None, None, "c", "/h", 1))
        before = state(group)

        def broken(*args, **kwargs):
            raise WriteError("COORDINATOR_NOT_AVAILABLE", "the log is gone")

        coordinator.manager.log.append = broken
        for heartbeat in (join("b"), join("a2", "static-a")):  # a new member; a static member's return
            with pytest.raises(WriteError):
                consumer.heartbeat(heartbeat)
            assert state(group) == before
        assert all(m.session_timer is not None for m in group.members.values())
        coordinator.stop()
        topics.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("overrides,message", [
    ({"group.consumer.session.timeout.ms": "4000"},
     "group.consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"),
    ({"group.consumer.heartbeat.interval.ms": "20000"},
     "group.consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"),
    ({"group.consumer.heartbeat.interval.ms": "50000", "group.consumer.max.heartbeat.interval.ms": "60000"},
     "group.consumer.heartbeat.interval.ms must be less than group.consumer.session.timeout.ms"),
])
def test_consumer_group_timing_is_checked_at_start_as_kafka_does(overrides, message):
    with pytest.raises(ConfigError, match=message):
        BrokerConfig(overrides)
