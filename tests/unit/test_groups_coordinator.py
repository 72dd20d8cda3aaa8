"""Unit tests of the group coordinator's pieces that need a clock or exact bytes:
the `__consumer_offsets` record layout, group placement, protocol selection, and offset
expiry (offsets.retention.minutes) with a fake `now`, followed by a replay of the log."""

from __future__ import annotations

import asyncio

import pytest

from broker.config import BrokerConfig
from broker.coordinator import messages as m
from broker.coordinator.group import CONSUMER_PROTOCOL_TYPE, EMPTY, STABLE, Group, Member, subscribed_topics
from broker.coordinator.metadata_manager import GroupMetadataManager
from broker.topics import TopicManager

MINUTE = 60_000


def test_offset_records_round_trip_in_kafkas_layout():
    key = m.encode_offset_key("g", "t", 3)
    assert key == b"\x00\x01" + b"\x00\x01g" + b"\x00\x01t" + b"\x00\x00\x00\x03"
    assert m.decode_key(key) == m.OffsetKey("g", "t", 3)
    v3 = m.OffsetValue(42, 7, "meta", 1_700_000_000_000)
    raw = m.encode_offset_value(v3)
    assert raw[:2] == b"\x00\x03" and m.decode_offset_value(raw) == v3
    v1 = m.OffsetValue(42, -1, "", 1_700_000_000_000, 1_700_000_060_000)  # explicit retention: value v1
    raw = m.encode_offset_value(v1)
    assert raw[:2] == b"\x00\x01" and m.decode_offset_value(raw) == v1


def test_group_records_round_trip():
    value = m.GroupValue("consumer", 5, "range", "m1", 1_700_000_000_000, [
        m.MemberValue("m1", None, "client", "/127.0.0.1", 300000, 10000, b"sub", b"assign"),
        m.MemberValue("m2", "static-2", "client", "/127.0.0.1", 300000, 10000, b"", b"")])
    assert m.decode_key(m.encode_group_key("g")) == m.GroupKey("g")
    assert m.decode_group_value(m.encode_group_value(value)) == value
    with pytest.raises(m.FormatError):
        m.decode_group_value(m.encode_group_value(value)[:-3])
    assert m.decode_key(b"\x00\x07anything") is None  # newer record types are skipped


def test_group_placement_is_kafkas():
    assert m.java_string_hash("") == 0
    assert m.java_string_hash("hello") == 99162322
    assert m.java_string_hash("\U0001F600") == 55357 * 31 + 56832  # surrogate pair, as Java sees it
    assert m.java_string_hash("polygenelubricants") == -2147483648
    assert m.partition_for("polygenelubricants", 50) == 0  # Utils.abs(Integer.MIN_VALUE) is 0
    assert m.partition_for("hello", 50) == 99162322 % 50


def _member(member_id: str, protocols: list[str]) -> Member:
    return Member(member_id, None, "c", "/h", 1000, 1000, "consumer", [(p, b"") for p in protocols])


def test_protocol_selection_by_votes():
    group = Group("g", 0)
    for member_id, prefs in (("a", ["roundrobin", "range"]), ("b", ["range", "roundrobin"]),
                             ("c", ["range", "roundrobin", "sticky"])):
        group.add(_member(member_id, prefs), None)
    assert group.candidate_protocols() == {"range", "roundrobin"}
    assert group.select_protocol() == "range"
    assert group.supports_protocols("consumer", ["sticky", "roundrobin"])
    assert not group.supports_protocols("consumer", ["sticky"])
    assert not group.supports_protocols("connect", ["range"])


def test_subscription_parsing():
    sub = b"\x00\x01" + b"\x00\x00\x00\x02" + b"\x00\x01a" + b"\x00\x02bb" + b"\xff\xff\xff\xff" + b"more"
    assert subscribed_topics(sub) == {"a", "bb"}
    assert subscribed_topics(b"\x00") is None


@pytest.fixture
def manager(tmp_path):
    managers = []

    def make(**overrides) -> GroupMetadataManager:
        config = BrokerConfig({"offsets.topic.num.partitions": "3", **overrides})
        topics = TopicManager(tmp_path, config)
        if topics.get("t") is None:
            topics.create("t", 2)
            topics.create("u", 1)
        mgr = GroupMetadataManager(topics, config)
        managers.append(topics)
        return mgr

    yield make
    for topics in managers:
        topics.close()


def _offsets(commit_ts: int, *tps) -> dict:
    return {tp: m.OffsetValue(10, -1, "", commit_ts) for tp in tps}


def test_expiry_rules(manager):
    mgr = manager(**{"offsets.retention.minutes": "10"})
    t0 = 1_700_000_000_000
    retention = 10 * MINUTE

    mgr.create("simple")  # no protocol type: each offset from its own commit
    mgr.store_offsets("simple", _offsets(t0, ("t", 0)))
    mgr.store_offsets("simple", _offsets(t0 + 9 * MINUTE, ("t", 1)))

    empty = mgr.create("empty")  # an Empty consumer group: all offsets from when it became Empty
    empty.protocol_type, empty.generation_id, empty.state_timestamp = CONSUMER_PROTOCOL_TYPE, 3, t0 + 8 * MINUTE
    mgr.store_offsets("empty", _offsets(t0, ("t", 0), ("u", 0)))
    mgr.store_group(empty, {})

    stable = mgr.create("stable")  # Stable: only offsets of topics nobody subscribes to any more
    stable.protocol_type, stable.state, stable.generation_id = CONSUMER_PROTOCOL_TYPE, STABLE, 1
    stable.protocol_name = "range"
    member = Member("m1", None, "c", "/h", 1000, 1000, CONSUMER_PROTOCOL_TYPE,
                    [("range", b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff")])
    stable.members["m1"], stable.leader_id = member, "m1"
    stable.subscribed = stable._compute_subscribed()
    mgr.store_offsets("stable", _offsets(t0, ("t", 0), ("u", 0)))

    assert mgr.expire(t0 + retention - 1) == (0, 0)
    assert mgr.expire(t0 + retention) == (2, 0)  # simple t-0, stable u-0
    assert mgr.offsets.of_group("simple").keys() == {("t", 1)}
    assert mgr.offsets.of_group("stable").keys() == {("t", 0)}
    assert mgr.offsets.of_group("empty").keys() == {("t", 0), ("u", 0)}  # Empty only since t0 + 8 min

    assert mgr.expire(t0 + 8 * MINUTE + retention) == (2, 1)  # the Empty group's offsets, and the group
    assert "empty" not in mgr.groups
    assert mgr.expire(t0 + 9 * MINUTE + retention) == (1, 1)  # simple's last offset, and the group
    assert set(mgr.groups) == {"stable"}

    # Everything above is in __consumer_offsets: a fresh replay sees the same state.
    again = manager(**{"offsets.retention.minutes": "10"})
    loaded = again.load()
    assert set(again.groups) == {"stable"} and again.offsets.of_group("stable").keys() == {("t", 0)}
    assert loaded == []  # the stable group's metadata was never stored with members


def test_replay_restores_groups_and_tombstones(manager):
    mgr = manager()
    group = mgr.create("g")
    group.protocol_type, group.generation_id, group.protocol_name = CONSUMER_PROTOCOL_TYPE, 4, "range"
    group.state = STABLE
    member = Member("m1", "inst", "client", "/127.0.0.1", 5000, 7000, CONSUMER_PROTOCOL_TYPE, [("range", b"sub")])
    group.members["m1"], group.leader_id, group.static_members["inst"] = member, "m1", "m1"
    mgr.store_group(group, {"m1": b"assignment"})
    mgr.store_offsets("g", {("t", 0): m.OffsetValue(5, 0, "x", 1), ("t", 1): m.OffsetValue(6, -1, "", 1)})
    mgr.delete_offsets(group, [("t", 1)])
    doomed = mgr.create("doomed")
    mgr.store_offsets("doomed", _offsets(1, ("u", 0)))
    mgr.delete_group(doomed)

    again = manager()
    [loaded] = again.load()
    assert set(again.groups) == {"g"}
    assert (loaded.state, loaded.generation_id, loaded.protocol_name, loaded.leader_id) == (STABLE, 4, "range", "m1")
    restored = loaded.members["m1"]
    assert (restored.assignment, restored.metadata("range")) == (b"assignment", b"sub")
    assert restored.group_instance_id == "inst"
    assert (restored.session_timeout_ms, restored.rebalance_timeout_ms) == (7000, 5000)
    assert loaded.static_members == {"inst": "m1"}
    assert again.offsets.of_group("g") == {("t", 0): m.OffsetValue(5, 0, "x", 1)}


def test_group_state_machine_refuses_illegal_transitions():
    group = Group("g", 0)
    assert group.state == EMPTY
    with pytest.raises(AssertionError):
        group.transition(STABLE, 1)


def test_coordinator_loads_and_expires_members_of_a_loaded_group(manager):
    """After a restart, loaded members must heartbeat within their session or be removed."""
    from broker.coordinator.group_coordinator import GroupCoordinator

    mgr = manager()
    group = mgr.create("g")
    group.protocol_type, group.generation_id, group.protocol_name = CONSUMER_PROTOCOL_TYPE, 2, "range"
    group.state = STABLE
    group.members["m1"] = Member("m1", None, "c", "/h", 100, 100, CONSUMER_PROTOCOL_TYPE, [("range", b"")])
    group.leader_id = "m1"
    mgr.store_group(group, {"m1": b""})

    async def scenario():
        coordinator = GroupCoordinator(mgr.topics, mgr.config)
        coordinator.start()
        await coordinator.loaded()
        loaded = coordinator.groups["g"]
        assert loaded.state == STABLE and coordinator.heartbeat("g", 2, "m1", None) == "NONE"
        await asyncio.sleep(0.35)  # 100 ms session, no more heartbeats
        state = coordinator.groups["g"].state
        coordinator.stop()
        return state

    assert asyncio.run(scenario()) == EMPTY


def test_group_apis_answer_load_in_progress_until_the_replay_is_done(manager):
    """A large __consumer_offsets is replayed in the background, in slices; until it is
    complete nothing is answered from a partial state (no "nothing committed")."""
    from broker.coordinator import metadata_manager
    from broker.coordinator.group_coordinator import LOADING, GroupCoordinator, JoinRequest

    mgr = manager()
    commits = 3 * metadata_manager.LOAD_RECORDS_PER_PAUSE
    mgr.create("g")
    for i in range(commits):
        mgr.store_offsets("g", {("t", 0): m.OffsetValue(i, -1, "", 1_700_000_000_000)})

    async def scenario():
        coordinator = GroupCoordinator(mgr.topics, mgr.config)
        finished = []
        coordinator.start(on_loaded=lambda: finished.append(coordinator.loading))
        await asyncio.sleep(0)  # the load has started and given the loop back
        assert coordinator.loading
        offsets = {("t", 0): m.OffsetValue(1, -1, "", 1_700_000_000_000)}
        during = [
            coordinator.heartbeat("g", 1, "m", None),
            coordinator.commit_offsets("g", -1, "", None, offsets)[("t", 0)],
            coordinator.txn_commit_offsets("g", 1, 0, -1, "", None, offsets)[("t", 0)],
            coordinator.leave_group("g", [("m", None)])[0],
            coordinator.delete_offsets("g", [("t", 0)])[0],
            coordinator.delete_groups(["g"])[0][1],
            (await coordinator.join_group(JoinRequest("g", "", None, "c", "/h", 10_000, 10_000, "consumer",
                                                      [("range", b"")], True))).error,
            (await coordinator.sync_group("g", 1, "m", None, None, None, {})).error,
        ]
        await coordinator.loaded()
        after = coordinator.fetch_offsets("g", [("t", 0)])
        coordinator.stop()
        return during, finished, after

    during, finished, after = asyncio.run(scenario())
    assert during == [LOADING] * len(during)
    assert finished == [False]  # on_loaded ran once, after loading was over
    assert after[0][2].offset == commits - 1
