"""Online migration between the classic and the consumer group protocols (KIP-848) on the wire:
classic members (JoinGroup/SyncGroup/Heartbeat) inside a consumer group, the online upgrade of
a running classic group when a ConsumerGroupHeartbeat member joins, and the downgrade when the
last consumer-protocol member leaves. Every scenario runs on our broker and on Apache Kafka 4.1
with the same expectations (the kip848_broker fixture); which member the uniform assignor
moves a partition from is the assignor's business, so only shares and ownership are checked."""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor

import pytest

from broker.coordinator.consumer_protocol import decode_assignment
from broker.protocol.errors import code
from tests.conftest import wait_until
from tests.integration.test_consumer_protocol import (
    LIST_GROUPS, OFFSET_COMMIT, OFFSET_FETCH, connect, create_topic, describe, group_name, heartbeat, join,
    join_owning, owned, partitions_of,
)

JOIN_GROUP, HEARTBEAT_CLASSIC, LEAVE_GROUP, SYNC_GROUP, DESCRIBE_GROUPS = 11, 12, 13, 14, 15
REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION = code("REBALANCE_IN_PROGRESS"), code("ILLEGAL_GENERATION")
CLASSIC_TYPE, CONSUMER_TYPE = 0, 1  # ConsumerGroupDescribe v1's member_type


def subscription(topics: list[str], owned_partitions: dict[str, set[int]] | None = None) -> bytes:
    """A ConsumerProtocolSubscription v3, as the Java client writes it."""
    out = struct.pack(">hi", 3, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    out += struct.pack(">i", -1)  # no user data
    parts = owned_partitions or {}
    out += struct.pack(">i", len(parts))
    for t, ps in sorted(parts.items()):
        out += struct.pack(">h", len(t)) + t.encode() + struct.pack(">i", len(ps))
        out += b"".join(struct.pack(">i", p) for p in sorted(ps))
    return out + struct.pack(">i", -1) + struct.pack(">h", -1)  # generation, rack


def assignment(topic: str, partitions: list[int], user_data: bytes | None = None) -> bytes:
    """A ConsumerProtocolAssignment v3 (what a classic leader sends in SyncGroup)."""
    return (struct.pack(">hi", 3, 1) + struct.pack(">h", len(topic)) + topic.encode()
            + struct.pack(">i", len(partitions)) + b"".join(struct.pack(">i", p) for p in partitions)
            + (struct.pack(">i", len(user_data)) + user_data if user_data is not None else struct.pack(">i", -1)))


class ClassicMember:
    """A classic consumer on a raw connection that behaves as a cooperative client: it reports
    the partitions it owns when it rejoins, owns what SyncGroup gives it, and rejoins when a
    heartbeat answers REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION."""

    def __init__(self, bootstrap: str, group: str, topic: str, instance_id: str | None = None):
        self.client = connect(bootstrap)
        self.group, self.topic, self.instance_id = group, topic, instance_id
        self.member_id, self.generation, self.protocol = "", -1, None
        self.leader = False
        self.members: list = []
        self.owned: set[int] = set()

    def join(self) -> dict:
        """JoinGroup v9 (MEMBER_ID_REQUIRED first, as a real client does)."""
        while True:
            answer = self.client.call(JOIN_GROUP, 9, {
                "group_id": self.group, "session_timeout": 10000, "rebalance_timeout": 10000,
                "member_id": self.member_id, "group_instance_id": self.instance_id, "protocol_type": "consumer",
                "protocols": [{"name": name, "metadata": subscription([self.topic], {self.topic: self.owned})}
                              for name in ("range", "cooperative-sticky")], "reason": None})
            if answer["error_code"] == code("MEMBER_ID_REQUIRED"):
                self.member_id = answer["member_id"]
                continue
            assert answer["error_code"] == 0, answer
            self.member_id, self.generation = answer["member_id"], answer["generation_id"]
            self.protocol, self.leader, self.members = answer["protocol_name"], answer["leader"] == self.member_id, \
                answer["members"]
            return answer

    def sync(self, assignments: dict[str, list[int]] | None = None, user_data: bytes | None = None) -> dict:
        answer = self.client.call(SYNC_GROUP, 5, {
            "group_id": self.group, "generation_id": self.generation, "member_id": self.member_id,
            "group_instance_id": self.instance_id, "protocol_type": "consumer", "protocol_name": self.protocol,
            "assignments": [{"member_id": m, "assignment": assignment(self.topic, ps, user_data)}
                            for m, ps in (assignments or {}).items()]})
        if answer["error_code"] == 0:
            self.owned = decode_assignment(answer["assignment"]).get(self.topic, set())
        return answer

    def heartbeat(self) -> int:
        return self.client.call(HEARTBEAT_CLASSIC, 4, {"group_id": self.group, "generation_id": self.generation,
                                                       "member_id": self.member_id,
                                                       "group_instance_id": self.instance_id})["error_code"]

    def step(self) -> int:
        """One heartbeat; rejoin and sync if told to. Returns the heartbeat's error code."""
        error = self.heartbeat()
        if error in (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION):
            self.join()
            assert self.sync()["error_code"] in (0, REBALANCE_IN_PROGRESS)
        else:
            assert error == 0, error
        return error

    def commit(self, partition: int, offset: int, generation: int | None = None) -> int:
        generation = self.generation if generation is None else generation
        answer = self.client.call(OFFSET_COMMIT, 8, {
            "group_id": self.group, "generation_id_or_member_epoch": generation,
            "member_id": self.member_id, "group_instance_id": self.instance_id,
            "topics": [{"name": self.topic, "partitions": [{"partition_index": partition, "committed_offset": offset,
                                                            "committed_leader_epoch": -1,
                                                            "committed_metadata": ""}]}]})
        return answer["topics"][0]["partitions"][0]["error_code"]

    def leave(self) -> dict:
        return self.client.call(LEAVE_GROUP, 5, {"group_id": self.group, "members": [
            {"member_id": self.member_id, "group_instance_id": self.instance_id, "reason": None}]})

    def close(self) -> None:
        self.client.close()


class ConsumerMember:
    """A consumer-protocol member on a raw connection, heartbeating what it owns."""

    def __init__(self, client, group: str, topic: str, answer: dict, instance_id: str | None = None):
        self.client, self.group, self.topic, self.instance_id = client, group, topic, instance_id
        self.member_id, self.epoch = answer["member_id"], answer["member_epoch"]
        self.assignment = owned(answer)

    def step(self) -> None:
        answer = heartbeat(self.client, self.group, self.member_id, self.epoch, topic_partitions=self.assignment,
                           instance_id=self.instance_id)
        assert answer["error_code"] == 0, answer
        self.epoch = answer["member_epoch"]
        if answer["assignment"] is not None:
            self.assignment = owned(answer)

    @property
    def partitions(self) -> set[int]:
        return {p for _, p in partitions_of(self.assignment)}


def owned_by_member(client, group: str) -> dict[str, tuple[int, int, frozenset]]:
    """member id -> (member type, member epoch, partitions) as ConsumerGroupDescribe shows them;
    asserts that no partition is owned twice."""
    seen: set[int] = set()
    out = {}
    for m in describe(client, group)["members"]:
        mine = {p for _, p in partitions_of(m["assignment"]["topic_partitions"])}
        assert not mine & seen, f"{mine & seen} owned twice in {group}"
        seen |= mine
        out[m["member_id"]] = (m["member_type"], m["member_epoch"], frozenset(mine))
    return out


def group_type(client, group: str) -> tuple[str, str] | None:
    """(group type, state) as ListGroups v5 shows it."""
    listed = client.call(LIST_GROUPS, 5, {"states_filter": [], "types_filter": []})["groups"]
    return next(((g["group_type"], g["group_state"]) for g in listed if g["group_id"] == group), None)


def settle(client, group: str, members: list, done, what: str) -> dict:
    """Step every member until `done(owned_by_member(...))`, checking at each step that no
    partition is owned twice; returns the last view."""
    def settled():
        for member in members:
            member.step()
        view = owned_by_member(client, group)
        return done(view) and view

    return wait_until(settled, 30, what, interval=0.2)


def shares_of(partitions: int, *counts: int):
    """Everyone reconciled (one epoch, partitions final), with these partition counts, all
    `partitions` owned."""
    def done(view):
        epochs = {epoch for _, epoch, _ in view.values()}
        return (sorted(len(ps) for _, _, ps in view.values()) == sorted(counts) and len(epochs) == 1
                and frozenset().union(*(ps for _, _, ps in view.values())) == set(range(partitions)))
    return done


def shares(*counts: int):
    return shares_of(4, *counts)


@pytest.fixture
def client(kip848_broker):
    c = connect(kip848_broker.bootstrap)
    yield c
    c.close()


def test_a_classic_member_in_a_consumer_group(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 4)
    group = group_name()
    a = ConsumerMember(client, group, topic, join_owning(client, group, [topic], 4))
    c = ClassicMember(kip848_broker.bootstrap, group, topic)
    try:
        first = c.client.call(JOIN_GROUP, 9, {
            "group_id": group, "session_timeout": 10000, "rebalance_timeout": 10000, "member_id": "",
            "group_instance_id": None, "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": subscription([topic])}], "reason": None})
        assert first["error_code"] == code("MEMBER_ID_REQUIRED") and first["member_id"]
        c.member_id = first["member_id"]
        joined = c.join()
        # The member's epoch as generation, its first protocol, and no leader: nobody computes an assignment.
        assert (joined["protocol_type"], joined["protocol_name"], joined["leader"], joined["members"]) == (
            "consumer", "range", "", [])
        assert joined["generation_id"] == owned_by_member(client, group)[c.member_id][1]
        assert c.sync()["error_code"] == 0
        settle(client, group, [a, c], shares(2, 2), "two partitions each")
        types = {mid: t for mid, (t, _, _) in owned_by_member(client, group).items()}
        assert types == {a.member_id: CONSUMER_TYPE, c.member_id: CLASSIC_TYPE}
        assert a.partitions | c.owned == {0, 1, 2, 3}

        # Its OffsetCommit carries its generation: the member epoch.
        assert c.commit(min(c.owned), 3) == 0
        assert c.commit(min(c.owned), 3, generation=c.generation + 5) == ILLEGAL_GENERATION
        # The classic APIs do not know consumer-protocol members, nor other protocol types.
        hb = client.call(HEARTBEAT_CLASSIC, 4, {"group_id": group, "generation_id": a.epoch,
                                                "member_id": a.member_id, "group_instance_id": None})
        assert hb["error_code"] == code("UNKNOWN_MEMBER_ID")
        connect_join = client.call(JOIN_GROUP, 9, {
            "group_id": group, "session_timeout": 10000, "rebalance_timeout": 10000, "member_id": "",
            "group_instance_id": None, "protocol_type": "connect",
            "protocols": [{"name": "range", "metadata": subscription([topic])}], "reason": None})
        assert connect_join["error_code"] == code("INCONSISTENT_GROUP_PROTOCOL")
        described = client.call(DESCRIBE_GROUPS, 6, {"groups": [group], "include_authorized_operations": False})
        assert described["groups"][0]["error_code"] == code("GROUP_ID_NOT_FOUND")  # still a consumer group

        # A second consumer-protocol member: the classic member is told to rejoin and gives one up.
        b_answer = join(client, group, [topic])
        b = ConsumerMember(client, group, topic, b_answer)
        assert c.heartbeat() == REBALANCE_IN_PROGRESS
        settle(client, group, [a, b, c], shares(2, 1, 1), "three members share")

        left = c.leave()
        assert (left["error_code"], left["members"][0]["error_code"]) == (0, 0)
        assert set(owned_by_member(client, group)) == {a.member_id, b.member_id}
        assert group_type(client, group)[0] == "consumer"  # consumer-protocol members remain
    finally:
        c.close()


def test_online_upgrade_of_a_running_classic_group(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 4)
    group = group_name()
    c1 = ClassicMember(kip848_broker.bootstrap, group, topic)
    c2 = ClassicMember(kip848_broker.bootstrap, group, topic)
    try:
        c1.join()
        assert c1.leader and c1.sync({c1.member_id: [0, 1, 2, 3]})["error_code"] == 0
        with ThreadPoolExecutor(1) as pool:  # c2's JoinGroup waits for c1 to rejoin
            second = pool.submit(c2.join)
            wait_until(lambda: c1.heartbeat() == REBALANCE_IN_PROGRESS, 10, "a rebalance for c2")
            c1.join()
            second.result(30)
        with ThreadPoolExecutor(1) as pool:
            synced = pool.submit(c2.sync)
            c1.sync({c1.member_id: [0, 1], c2.member_id: [2, 3]})
            assert synced.result(30)["error_code"] == 0
        assert (c1.owned, c2.owned, c1.generation) == ({0, 1}, {2, 3}, 2)
        assert c1.commit(0, 5) == 0
        wait_until(lambda: group_type(client, group) == ("classic", "Stable"), 10, "a Stable classic group listed")

        # A consumer-protocol member joins: the group becomes a consumer group at once, its
        # classic members keep their partitions at the generation as epoch.
        a_answer = join(client, group, [topic])
        assert a_answer["error_code"] == 0 and a_answer["member_epoch"] == 3  # the generation, bumped by the join
        a = ConsumerMember(client, group, topic, a_answer)
        members = owned_by_member(client, group)
        assert members[c1.member_id] == (CLASSIC_TYPE, 2, frozenset({0, 1}))
        assert members[c2.member_id] == (CLASSIC_TYPE, 2, frozenset({2, 3}))
        assert members[a.member_id][:2] == (CONSUMER_TYPE, 3)
        wait_until(lambda: group_type(client, group)[0] == "consumer", 10, "listed as a consumer group")
        assert c1.heartbeat() == REBALANCE_IN_PROGRESS and c2.heartbeat() == REBALANCE_IN_PROGRESS

        settle(client, group, [a, c1, c2], shares(2, 1, 1), "the new member gets its share")
        # The offsets committed before the upgrade are there.
        fetched = client.call(OFFSET_FETCH, 9, {"groups": [{"group_id": group, "member_id": a.member_id,
                                                            "member_epoch": a.epoch, "topics": None}],
                                                "require_stable": False})
        committed = {(t["name"], p["partition_index"]): p["committed_offset"]
                     for t in fetched["groups"][0]["topics"] for p in t["partitions"]}
        assert committed == {(topic, 0): 5}
    finally:
        c1.close()
        c2.close()


def test_downgrade_when_the_last_consumer_member_leaves(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 4)
    group = group_name()
    a = ConsumerMember(client, group, topic, join_owning(client, group, [topic], 4))
    c = ClassicMember(kip848_broker.bootstrap, group, topic)
    try:
        c.join()
        c.sync()
        settle(client, group, [a, c], shares(2, 2), "two partitions each")
        epoch = describe(client, group)["group_epoch"]

        assert heartbeat(client, group, a.member_id, -1)["error_code"] == 0
        # A classic group now, rebalancing so that its members rejoin.
        wait_until(lambda: group_type(client, group) == ("classic", "PreparingRebalance"), 10,
                   "a rebalancing classic group listed")
        assert describe(client, group)["error_code"] == code("GROUP_ID_NOT_FOUND")
        # Its generation is the consumer group's epoch: a member at that epoch is asked to rejoin.
        assert c.heartbeat() == (REBALANCE_IN_PROGRESS if c.generation == epoch else ILLEGAL_GENERATION)
        rejoined = c.join()
        assert (rejoined["generation_id"], c.leader, len(rejoined["members"])) == (epoch + 1, True, 1)
        assert c.sync({c.member_id: [0, 1, 2, 3]})["error_code"] == 0
        assert c.heartbeat() == 0
        wait_until(lambda: group_type(client, group) == ("classic", "Stable"), 10, "a Stable classic group listed")
        described = client.call(DESCRIBE_GROUPS, 5, {"groups": [group], "include_authorized_operations": False})
        (g,) = described["groups"]
        assert (g["error_code"], g["group_state"], g["protocol_data"], [m["member_id"] for m in g["members"]]) == (
            0, "Stable", "range", [c.member_id])
    finally:
        c.close()


def test_downgrade_when_the_last_consumer_member_is_fenced(client, kip848_broker):
    """The consumer-protocol member stops heartbeating: once its session (4 s) expires the group
    is a classic group whose remaining member rejoins as its leader."""
    topic = create_topic(kip848_broker.bootstrap, 2)
    group = group_name()
    a = ConsumerMember(client, group, topic, join_owning(client, group, [topic], 2))
    c = ClassicMember(kip848_broker.bootstrap, group, topic)
    try:
        c.join()
        c.sync()
        settle(client, group, [a, c], shares_of(2, 1, 1), "one partition each")

        def downgraded():  # c keeps its session alive meanwhile
            assert c.heartbeat() in (0, REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION)
            return group_type(client, group) == ("classic", "PreparingRebalance")

        wait_until(downgraded, 30, "the group downgraded once the silent member is fenced", interval=0.5)
        rejoined = c.join()
        assert (c.leader, [m["member_id"] for m in rejoined["members"]]) == (True, [c.member_id])
    finally:
        c.close()


def test_downgrade_when_a_static_classic_member_replaces_the_last_consumer_member(client, kip848_broker):
    """A static member restarted with the classic protocol takes its instance's place: the group
    becomes a classic group, Stable (the subscription is the same: no rebalance), and the
    member has the partitions of the one it replaced."""
    topic = create_topic(kip848_broker.bootstrap, 2)
    group = group_name()
    a = ConsumerMember(client, group, topic, join_owning(client, group, [topic], 2, instance_id="s1"), "s1")
    c = ClassicMember(kip848_broker.bootstrap, group, topic)
    s1 = ClassicMember(kip848_broker.bootstrap, group, topic, instance_id="s1")
    try:
        c.join()
        c.sync()
        settle(client, group, [a, c], shares_of(2, 1, 1), "one partition each")
        epoch, a_partitions = describe(client, group)["group_epoch"], set(a.partitions)
        joined = s1.join()
        assert (joined["generation_id"], joined["leader"], joined["members"]) == (epoch, "", [])
        wait_until(lambda: group_type(client, group) == ("classic", "Stable"), 10, "a Stable classic group listed")
        assert s1.sync()["error_code"] == 0 and s1.owned == a_partitions
        assert s1.heartbeat() == 0 and c.heartbeat() == 0
        described = client.call(DESCRIBE_GROUPS, 5, {"groups": [group], "include_authorized_operations": False})
        (g,) = described["groups"]
        assert (g["group_state"], g["protocol_data"], sorted(m["member_id"] for m in g["members"])) == (
            "Stable", "range", sorted([c.member_id, s1.member_id]))
        assert heartbeat(client, group, a.member_id, a.epoch, instance_id="s1")["error_code"] == code(
            "GROUP_ID_NOT_FOUND")  # the replaced member's group is gone
    finally:
        c.close()
        s1.close()


def test_a_silent_classic_member_is_removed_after_its_session_timeout(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 2)
    group = group_name()
    a = ConsumerMember(client, group, topic, join_owning(client, group, [topic], 2))
    c = ClassicMember(kip848_broker.bootstrap, group, topic)
    try:
        c.join()
        c.sync()
        assert c.member_id in owned_by_member(client, group)

        def removed():  # a keeps heartbeating; c is silent
            a.step()
            return set(owned_by_member(client, group)) == {a.member_id}

        wait_until(removed, 30, "the classic member removed", interval=0.5)
        settle(client, group, [a], shares_of(2, 2), "a owns both partitions again")
        assert c.heartbeat() == code("UNKNOWN_MEMBER_ID")
    finally:
        c.close()


def test_a_consumer_member_joining_a_classic_group_of_another_protocol_type(client):
    """Only groups of the "consumer" protocol type are upgraded (Kafka: GROUP_ID_NOT_FOUND)."""
    group = group_name()
    joined = client.call(JOIN_GROUP, 9, {
        "group_id": group, "session_timeout": 10000, "rebalance_timeout": 10000, "member_id": "",
        "group_instance_id": "connect-worker", "protocol_type": "connect",
        "protocols": [{"name": "default", "metadata": b""}], "reason": None})
    assert joined["error_code"] == 0
    answer = join(client, group, ["t"])
    assert (answer["error_code"], answer["error_message"]) == (
        code("GROUP_ID_NOT_FOUND"),
        f"Cannot upgrade classic group {group} to consumer group because the group does not use the consumer "
        "embedded protocol.")
    wait_until(lambda: group_type(client, group) == ("classic", "CompletingRebalance"), 10, "still a classic group")


def test_a_classic_member_of_a_consumer_group_survives_a_restart(broker_factory):
    """Our broker (Kafka's durability is Kafka's): the classic member's metadata (its session
    timeout and protocols, tag 0 of record 5) comes back, and it carries on at its generation."""
    from tests.conftest import KIP848_CONFIGS

    broker = broker_factory({**KIP848_CONFIGS, "group.consumer.session.timeout.ms": "60000"})
    client = connect(broker.bootstrap)
    topic = create_topic(broker.bootstrap, 4)
    group = group_name()
    a = ConsumerMember(client, group, topic, join_owning(client, group, [topic], 4))
    c = ClassicMember(broker.bootstrap, group, topic)
    c.join()
    c.sync()
    before = settle(client, group, [a, c], shares(2, 2), "two partitions each")
    c.close()
    client.close()
    broker.stop()
    broker.start()
    client = connect(broker.bootstrap)
    after = wait_until(lambda: describe(client, group)["error_code"] == 0 and owned_by_member(client, group), 30,
                       "the group loaded")
    assert after == before
    c.client = connect(broker.bootstrap)
    assert c.heartbeat() == 0
    partitions = set(c.owned)
    assert c.sync()["error_code"] == 0 and c.owned == partitions
    c.close()
    client.close()


def test_no_upgrade_of_a_group_whose_assignor_wrote_user_data(client, kip848_broker):
    """A client-side assignor's user data in the assignment (librdkafka's cooperative-sticky
    writes some) would be lost to the server-side assignor: Kafka refuses the upgrade."""
    topic = create_topic(kip848_broker.bootstrap, 2)
    group = group_name()
    c = ClassicMember(kip848_broker.bootstrap, group, topic)
    try:
        c.join()
        assert c.sync({c.member_id: [0, 1]}, user_data=b"custom")["error_code"] == 0
        answer = join(client, group, [topic])
        assert (answer["error_code"], answer["error_message"]) == (
            code("GROUP_ID_NOT_FOUND"),
            f"Cannot upgrade classic group {group} to consumer group because an unsupported custom assignor is in "
            "use. Please refer to the documentation or switch to a default assignor before re-attempting the upgrade.")
        assert c.heartbeat() == 0  # the classic group carries on
        wait_until(lambda: group_type(client, group) == ("classic", "Stable"), 10, "still a Stable classic group")
    finally:
        c.close()
