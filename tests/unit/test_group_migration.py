"""The pure parts of the online migration between the classic and the consumer group protocols:
the embedded consumer protocol, a classic member's record (read from and written as Kafka 4.1.1
writes it) and the two conversions."""

from __future__ import annotations

import struct

import pytest

from broker.coordinator import consumer_protocol as cp
from broker.coordinator import consumer_records as cr
from broker.coordinator import group_migration as migration
from broker.coordinator.consumer_group import MEMBER_STABLE
from broker.coordinator.group import CONSUMER_PROTOCOL_TYPE, STABLE, Group, Member

# Record 5 values written by Apache Kafka 4.1.1 for a classic member of a consumer group
# (session timeout 10000, protocol "range") and for a consumer-protocol member (tag 0 null).
KAFKA_CLASSIC_MEMBER = bytes.fromhex(
    "00000000097261772d746573740b2f3132372e302e302e31021b6b69703834382d32343731362d3939313635373230343938"
    "313901000027100001003f0100002710020672616e676531000300000001001a6b69703834382d32343731362d3939313635"
    "3732303439383139ffffffff00000000ffffffffffff0000")
KAFKA_CONSUMER_MEMBER = bytes.fromhex(
    "00000000097261772d746573740b2f3132372e302e302e31021b6b69703834382d32343731362d3939313635373230343938"
    "313901000027100001000100")


def subscription(topics, owned=None, version=3) -> bytes:
    out = struct.pack(">hi", version, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    out += struct.pack(">i", -1)
    if version >= 1:
        parts = owned or {}
        out += struct.pack(">i", len(parts))
        for t, ps in parts.items():
            out += struct.pack(">h", len(t)) + t.encode() + struct.pack(">i", len(ps))
            out += b"".join(struct.pack(">i", p) for p in ps)
    if version >= 2:
        out += struct.pack(">i", 7)
    if version >= 3:
        out += struct.pack(">h", 2) + b"r1"
    return out


def test_kafkas_member_records_read_and_written_back_byte_for_byte():
    key = (cr.MEMBER_METADATA, "g", "m")
    classic = cr.decode(key, KAFKA_CLASSIC_MEMBER, None)
    assert classic.value.classic.session_timeout_ms == 10000
    assert [name for name, _ in classic.value.classic.protocols] == ["range"]
    topics = cp.decode_subscription(classic.value.classic.protocols[0][1]).topics
    assert topics == classic.value.subscribed_topic_names
    consumer = cr.decode(key, KAFKA_CONSUMER_MEMBER, None)
    assert consumer.value.classic is None
    for record, raw in ((classic, KAFKA_CLASSIC_MEMBER), (consumer, KAFKA_CONSUMER_MEMBER)):
        assert cr.encode_value(record, lambda name: None) == raw


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_subscriptions_of_every_version(version):
    sub = cp.decode_subscription(subscription(["a", "b"], {"a": [1, 2]}, version))
    assert (sub.version, sub.topics) == (version, ("a", "b"))
    assert sub.owned == ({"a": {1, 2}} if version >= 1 else {})
    assert sub.rack_id == ("r1" if version >= 3 else None)
    with pytest.raises(cp.MalformedProtocol):
        cp.decode_subscription(subscription(["a"], {"a": [1]}, version)[:-3])


def test_assignments_round_trip_in_the_members_version():
    data = cp.encode_assignment({"b": {3}, "a": {2, 0}, "empty": set()}, version=1)
    assert cp.version_of(data) == 1
    assert cp.decode_assignment(data) == {"a": {0, 2}, "b": {3}}
    assert cp.assignment_user_data(data) is None
    assert cp.decode_assignment(b"") == {}


def classic_group(user_data: bytes | None = None) -> Group:
    group = Group("g", 0, STABLE)
    group.generation_id, group.protocol_type, group.protocol_name = 5, CONSUMER_PROTOCOL_TYPE, "range"
    for mid, parts in (("m1", [0, 1]), ("m2", [2])):
        member = Member(mid, None, "c", "h", 30000, 10000, CONSUMER_PROTOCOL_TYPE,
                        [("range", subscription(["t"], version=3)), ("cooperative-sticky", subscription(["t"]))])
        data = cp.encode_assignment({"t": set(parts), "gone": {0}}, 3)
        if user_data is not None:
            data = data[:-4] + len(user_data).to_bytes(4, "big") + user_data
        member.assignment = data
        group.add(member, None)
    return group


def test_upgrade_keeps_partitions_at_the_generation():
    records = migration.upgrade_records(classic_group(), lambda topic: topic == "t")
    assert [r.type for r in records] == [cr.MEMBER_METADATA] * 2 + [cr.GROUP_EPOCH] + [cr.TARGET_MEMBER] * 2 + [
        cr.TARGET_EPOCH] + [cr.CURRENT_ASSIGNMENT] * 2
    group = migration.upgraded_group(classic_group(), records)
    assert (group.group_epoch, group.assignment_epoch, group.state) == (5, 5, "Stable")
    m1 = group.members["m1"]
    assert (m1.member_epoch, m1.state, m1.assigned, group.target["m1"]) == (5, MEMBER_STABLE, {"t": {0, 1}},
                                                                            {"t": {0, 1}})
    assert (m1.subscribed_topic_names, m1.rack_id, m1.classic.session_timeout_ms) == (("t",), "r1", 10000)
    assert [name for name, _ in m1.classic.protocols] == ["range", "cooperative-sticky"]


def test_upgrade_refusals_carry_kafkas_reasons():
    with pytest.raises(migration.UpgradeRefused, match="online upgrade is disabled"):
        migration.check_upgrade(classic_group(), "downgrade", 10)
    with pytest.raises(migration.UpgradeRefused, match="exceeds the consumer group maximum size"):
        migration.check_upgrade(classic_group(), "bidirectional", 1)
    connect = classic_group()
    connect.protocol_type = "connect"
    with pytest.raises(migration.UpgradeRefused, match="does not use the consumer embedded protocol"):
        migration.check_upgrade(connect, "upgrade", 10)
    with pytest.raises(migration.UpgradeRefused, match="an unsupported custom assignor is in use"):
        migration.upgrade_records(classic_group(user_data=b"x"), lambda topic: True)


def test_downgrade_to_a_stable_classic_group_at_the_group_epoch():
    group = migration.upgraded_group(classic_group(), migration.upgrade_records(classic_group(), lambda t: t == "t"))
    group.apply(cr.Record(cr.MEMBER_METADATA, "g", "c1", cr.MemberMetadata(None, None, "c", "h", ("t",), None,
                                                                             30000, None)))
    group.apply(cr.Record(cr.GROUP_EPOCH, "g", None, cr.Epoch(6)))
    assert group.all_classic_except("c1") and not group.all_classic_except("m1")
    assert migration.may_downgrade(group, "c1", "bidirectional", 10)
    assert not migration.may_downgrade(group, "c1", "upgrade", 10)
    assert not migration.may_downgrade(group, "c1", "downgrade", 1)
    classic = migration.downgraded_group(group, "c1", 0)
    assert (classic.state, classic.generation_id, classic.protocol_name, list(classic.members)) == (
        STABLE, 6, "range", ["m1", "m2"])
    assert cp.decode_assignment(classic.members["m1"].assignment) == {"t": {0, 1}}
    tombstones = migration.downgrade_records(group)
    assert all(r.value is None for r in tombstones) and tombstones[-1].type == cr.GROUP_EPOCH
