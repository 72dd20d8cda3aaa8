"""The consumer group protocol (KIP-848) on the wire: ConsumerGroupHeartbeat and
ConsumerGroupDescribe, epochs and reconciliation, static members, errors, the other group
APIs on consumer groups, and a restart. Every scenario but the restart runs on our broker and
on Apache Kafka 4.1 with the same expectations (the kip848_broker fixture)."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from broker.protocol.errors import code
from tests.conftest import unique_topic, wait_until
from tests.kafka_wire import RawClient

HEARTBEAT, DESCRIBE = 68, 69
NOT_READY = {code("COORDINATOR_LOAD_IN_PROGRESS"), code("NOT_COORDINATOR"), code("COORDINATOR_NOT_AVAILABLE")}
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP, DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS = (
    8, 9, 10, 11, 15, 16, 42)


def connect(bootstrap: str) -> RawClient:
    """A raw connection to the coordinator of every group. Kafka answers NOT_COORDINATOR until
    `__consumer_offsets` exists (FindCoordinator creates it), and a Kafka just started may not
    offer ConsumerGroupHeartbeat yet (it closes the connection of a request for it)."""
    client = RawClient(bootstrap)
    wait_until(lambda: client.call(FIND_COORDINATOR, 3, {"key": "any", "key_type": 0})["error_code"] == 0,
               60, "a group coordinator")

    def offers_heartbeat():
        apis = client.call(18, 3, {"client_software_name": "t", "client_software_version": "1"})["api_keys"]
        return any(a["api_key"] == HEARTBEAT for a in apis)

    wait_until(offers_heartbeat, 60, "ConsumerGroupHeartbeat offered")

    def coordinators_loaded():  # groups of every __consumer_offsets partition (20 names cover Kafka's 3)
        probes = [f"load-probe-{i}" for i in range(20)]
        answers = client.call(DESCRIBE, 1, {"group_ids": probes, "include_authorized_operations": False})["groups"]
        return all(g["error_code"] not in NOT_READY for g in answers)

    wait_until(coordinators_loaded, 60, "the group coordinators loaded")
    return client


def create_topic(bootstrap: str, partitions: int, prefix: str = "kip848") -> str:
    return make_topic(bootstrap, unique_topic(prefix), partitions)


def make_topic(bootstrap: str, name: str, partitions: int) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held: the future needs it
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    return name


def topic_id(client: RawClient, topic: str) -> bytes:
    md = client.call(3, 12, {"topics": [{"name": topic, "topic_id": bytes(16)}], "allow_auto_topic_creation": False,
                             "include_topic_authorized_operations": False})
    return bytes(md["topics"][0]["topic_id"])


def heartbeat(client: RawClient, group: str, member_id: str, epoch: int, version: int = 1, **fields) -> dict:
    body = {"group_id": group, "member_id": member_id, "member_epoch": epoch, "instance_id": None, "rack_id": None,
            "rebalance_timeout": -1, "subscribed_topic_names": None, "subscribed_topic_regex": None,
            "server_assignor": None, "topic_partitions": None, **fields}
    return client.call(HEARTBEAT, version, body)


def join(client: RawClient, group: str, topics: list[str], member_id: str | None = None, **fields) -> dict:
    fields = {"rebalance_timeout": 10000, **fields}
    return heartbeat(client, group, member_id or new_member_id(), 0, subscribed_topic_names=topics,
                     topic_partitions=[], **fields)


def join_owning(client: RawClient, group: str, topics: list[str], count: int, **fields) -> dict:
    """Join and heartbeat until the member owns `count` partitions: Kafka's coordinator may not
    see a topic created a moment ago yet."""
    answer = join(client, group, topics, **fields)
    state = {"answer": answer, "owned": owned(answer)}

    def owns_them():
        if len(partitions_of(state["owned"])) == count:
            return True
        a = heartbeat(client, group, answer["member_id"], state["answer"]["member_epoch"],
                      topic_partitions=state["owned"], instance_id=fields.get("instance_id"))
        assert a["error_code"] == 0, a
        state["answer"] = a
        if a["assignment"] is not None:
            state["owned"] = owned(a)
        return False

    wait_until(owns_them, 30, f"{count} partitions assigned", interval=0.2)
    return {**state["answer"], "member_id": answer["member_id"], "assignment": {"topic_partitions": state["owned"]}}


def new_member_id() -> str:
    return uuid.uuid4().hex[:22]


def owned(response: dict) -> list[dict]:
    """The assignment of a heartbeat answer as the next heartbeat reports it."""
    return [{"topic_id": t["topic_id"], "partitions": sorted(t["partitions"])}
            for t in (response["assignment"] or {}).get("topic_partitions", [])]


def partitions_of(response_assignment: list[dict]) -> set[tuple[bytes, int]]:
    return {(bytes(t["topic_id"]), p) for t in response_assignment for p in t["partitions"]}


def describe(client: RawClient, group: str) -> dict:
    return client.call(DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False})["groups"][0]


def assert_no_partition_owned_twice(client: RawClient, group: str) -> None:
    seen: set[tuple[bytes, int]] = set()
    for m in describe(client, group)["members"]:
        mine = partitions_of(m["assignment"]["topic_partitions"])
        assert not mine & seen, f"{mine & seen} owned twice in {group}"
        seen |= mine


@pytest.fixture
def client(kip848_broker):
    c = connect(kip848_broker.bootstrap)
    yield c
    c.close()


def group_name() -> str:
    return unique_topic("g848")


# -- validation ----------------------------------------------------------------------------------

INVALID = [
    ({"member_id": ""}, "INVALID_REQUEST", "MemberId can't be empty."),
    ({"group_id": ""}, "INVALID_REQUEST", "GroupId can't be empty."),
    ({"instance_id": ""}, "INVALID_REQUEST", "InstanceId can't be empty."),
    ({"rack_id": ""}, "INVALID_REQUEST", "RackId can't be empty."),
    ({"rebalance_timeout": -1}, "INVALID_REQUEST", "RebalanceTimeoutMs must be provided in first request."),
    ({"topic_partitions": None}, "INVALID_REQUEST", "TopicPartitions must be empty when (re-)joining."),
    ({"topic_partitions": [{"topic_id": uuid.uuid4().bytes, "partitions": [0]}]}, "INVALID_REQUEST",
     "TopicPartitions must be empty when (re-)joining."),
    ({"subscribed_topic_names": None}, "INVALID_REQUEST",
     "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."),
    ({"member_epoch": -3}, "INVALID_REQUEST", "MemberEpoch is invalid."),
    ({"member_epoch": -2}, "INVALID_REQUEST", "InstanceId can't be null."),
    ({"server_assignor": "sticky"}, "UNSUPPORTED_ASSIGNOR",
     "ServerAssignor sticky is not supported. Supported assignors: uniform, range."),
    ({"subscribed_topic_names": None, "subscribed_topic_regex": "topic-(["}, "INVALID_REGULAR_EXPRESSION", None),
]


@pytest.mark.parametrize("change,error,message", INVALID, ids=[m or e for _, e, m in INVALID])
def test_invalid_heartbeats_are_answered_with_kafkas_error(client, change, error, message):
    fields = {"group_id": group_name(), "member_id": new_member_id(), "member_epoch": 0, "rebalance_timeout": 5000,
              "subscribed_topic_names": ["t"], "topic_partitions": [], **change}
    response = heartbeat(client, fields.pop("group_id"), fields.pop("member_id"), fields.pop("member_epoch"), **fields)
    assert response["error_code"] == code(error), response
    if message is not None:
        assert response["error_message"] == message
    else:
        assert response["error_message"].startswith("SubscribedTopicRegex `topic-([` is not a valid regular expression")
    assert (response["member_id"], response["member_epoch"], response["heartbeat_interval"]) == (None, 0, 0)


def test_v0_member_ids_come_from_the_coordinator(client):
    response = heartbeat(client, group_name(), "", 0, version=0, rebalance_timeout=5000,
                         subscribed_topic_names=["t"], topic_partitions=[])
    assert response["error_code"] == 0
    assert len(response["member_id"]) == 22 and response["member_epoch"] == 1
    assert response["heartbeat_interval"] == 500


def test_unknown_groups_and_members(client):
    missing = group_name()
    assert heartbeat(client, missing, new_member_id(), 3)["error_code"] == code("GROUP_ID_NOT_FOUND")
    assert heartbeat(client, missing, new_member_id(), -1)["error_message"] == f"Group {missing} not found."
    group = group_name()
    first = join(client, group, ["t"])
    assert first["error_code"] == 0 and first["member_epoch"] == 1
    unknown = heartbeat(client, group, "nobody", 1)
    assert (unknown["error_code"], unknown["error_message"]) == (
        code("UNKNOWN_MEMBER_ID"), f"Member nobody is not a member of group {group}.")
    assert heartbeat(client, group, "nobody", -1)["error_code"] == code("UNKNOWN_MEMBER_ID")
    fenced = heartbeat(client, group, first["member_id"], 7)
    assert fenced["error_code"] == code("FENCED_MEMBER_EPOCH")
    assert "greater member epoch (7)" in fenced["error_message"]
    # Epoch 0 from a known member is a rejoin: accepted, nothing changes.
    again = join(client, group, ["t"], member_id=first["member_id"])
    assert (again["error_code"], again["member_epoch"]) == (0, 1)
    left = heartbeat(client, group, first["member_id"], -1)
    assert (left["error_code"], left["member_epoch"], left["heartbeat_interval"]) == (0, -1, 0)
    assert heartbeat(client, group, first["member_id"], 1)["error_code"] == code("UNKNOWN_MEMBER_ID")


def test_garbage_fields_get_an_error_or_are_ignored_never_a_crash(client):
    group = group_name()
    weird = join(client, group, ["", "no-such-topic", "x" * 300], rack_id="r" * 1000,
                 server_assignor="range", rebalance_timeout=2**31 - 1)
    assert weird["error_code"] == 0 and weird["assignment"] == {"topic_partitions": []}
    unknown_topic = heartbeat(client, group, weird["member_id"], weird["member_epoch"],
                              topic_partitions=[{"topic_id": uuid.uuid4().bytes, "partitions": [-5, 2**31 - 1]}])
    assert unknown_topic["error_code"] == 0
    assert heartbeat(client, group, weird["member_id"], 2**31 - 1)["error_code"] == code("FENCED_MEMBER_EPOCH")
    assert heartbeat(client, group, weird["member_id"], -2**31)["error_code"] == code("INVALID_REQUEST")
    assert heartbeat(client, group, weird["member_id"], -1)["error_code"] == 0


# -- epochs and reconciliation ------------------------------------------------------------------


def test_partitions_move_only_after_their_owner_revoked_them(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 4)
    tid = topic_id(client, topic)
    group = group_name()
    a = join_owning(client, group, [topic], 4)
    e = a["member_epoch"]
    assert partitions_of(owned(a)) == {(tid, p) for p in range(4)}
    a_owned = owned(a)
    b = join(client, group, [topic])
    assert b["member_epoch"] == e + 1
    # Everything is still A's: B waits for A to let go of its share.
    assert partitions_of(owned(b)) == set()
    assert describe(client, group)["group_state"] == "Reconciling"
    a2 = heartbeat(client, group, a["member_id"], e, topic_partitions=a_owned)
    assert a2["member_epoch"] == e  # revoking: the epoch moves once the revocation is acknowledged
    kept = owned(a2)
    assert len(partitions_of(kept)) == 2
    assert_no_partition_owned_twice(client, group)
    b2 = heartbeat(client, group, b["member_id"], e + 1, topic_partitions=[])
    assert partitions_of(owned(b2) if b2["assignment"] else []) == set()
    a3 = heartbeat(client, group, a["member_id"], e, topic_partitions=kept)
    assert a3["member_epoch"] == e + 1
    b3 = heartbeat(client, group, b["member_id"], e + 1, topic_partitions=[])
    assert b3["member_epoch"] == e + 1
    assert partitions_of(owned(b3)) == {(tid, p) for p in range(4)} - partitions_of(kept)
    assert_no_partition_owned_twice(client, group)
    described = describe(client, group)
    assert (described["group_state"], described["group_epoch"], described["assignment_epoch"]) == (
        "Stable", e + 1, e + 1)
    assert described["assignor_name"] == "uniform"
    assert {m["member_epoch"] for m in described["members"]} == {e + 1}
    # A heartbeat with the previous epoch whose answer was lost is still accepted.
    late = heartbeat(client, group, a["member_id"], e, topic_partitions=kept)
    assert late["error_code"] == 0 and late["member_epoch"] == e + 1


def test_range_assignor_and_the_uniform_default(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 5)
    group = group_name()
    a = join_owning(client, group, [topic], 5, server_assignor="range")
    b = join(client, group, [topic], server_assignor="range")
    heartbeat(client, group, a["member_id"], a["member_epoch"], topic_partitions=owned(a))
    a2 = heartbeat(client, group, a["member_id"], a["member_epoch"], topic_partitions=[])
    b2 = heartbeat(client, group, b["member_id"], b["member_epoch"], topic_partitions=[])
    described = describe(client, group)
    assert described["assignor_name"] == "range"
    first, second = sorted([a["member_id"], b["member_id"]])
    sizes = {m["member_id"]: len(partitions_of(m["target_assignment"]["topic_partitions"])) for m in described["members"]}
    assert sizes == {first: 3, second: 2}  # ranges by member id: the first member takes the extra partition
    assert a2["error_code"] == b2["error_code"] == 0


# -- static members --------------------------------------------------------------------------------


def test_static_member_restart_gets_its_partitions_back_without_a_rebalance(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 4)
    group = group_name()
    s = join_owning(client, group, [topic], 4, instance_id="instance-1")
    e = s["member_epoch"]
    d = join(client, group, [topic])
    s2 = heartbeat(client, group, s["member_id"], e, topic_partitions=owned(s), instance_id="instance-1")
    s3 = heartbeat(client, group, s["member_id"], e, topic_partitions=owned(s2), instance_id="instance-1")
    d2 = heartbeat(client, group, d["member_id"], e + 1, topic_partitions=[])
    assert s3["assignment"] is None  # only a new epoch: the assignment is sent when it changes
    mine = partitions_of(owned(s2))
    assert len(mine) == 2 and len(partitions_of(owned(d2))) == 2
    before = describe(client, group)
    dup = join(client, group, [topic], instance_id="instance-1")
    assert dup["error_code"] == code("UNRELEASED_INSTANCE_ID")
    other = heartbeat(client, group, "someone-else", e + 1, instance_id="instance-1")
    assert other["error_code"] == code("FENCED_INSTANCE_ID")
    assert heartbeat(client, group, s["member_id"], e + 1, instance_id="instance-9")["error_code"] == code(
        "UNKNOWN_MEMBER_ID")
    left = heartbeat(client, group, s["member_id"], -2, instance_id="instance-1")
    assert (left["error_code"], left["member_epoch"]) == (0, -2)
    back = join(client, group, [topic], instance_id="instance-1")
    assert back["error_code"] == 0
    assert back["member_id"] != s["member_id"] and back["member_epoch"] == e + 1
    assert partitions_of(owned(back)) == mine
    after = describe(client, group)
    assert after["group_epoch"] == before["group_epoch"] and after["assignment_epoch"] == before["assignment_epoch"]
    assert {m["instance_id"]: m["member_id"] for m in after["members"]}["instance-1"] == back["member_id"]
    assert_no_partition_owned_twice(client, group)


def test_a_member_that_does_not_revoke_in_its_rebalance_timeout_is_removed(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 2)
    group = group_name()
    slow = join_owning(client, group, [topic], 2, rebalance_timeout=1000)
    other = join(client, group, [topic])
    revoking = heartbeat(client, group, slow["member_id"], slow["member_epoch"], topic_partitions=owned(slow))
    assert len(partitions_of(owned(revoking))) == 1

    def fenced():  # still reporting the partition it should have given up
        answer = heartbeat(client, group, slow["member_id"], slow["member_epoch"], topic_partitions=owned(slow))
        heartbeat(client, group, other["member_id"], other["member_epoch"], topic_partitions=[])
        return answer["error_code"] != 0 and answer

    answer = wait_until(fenced, 20, "the slow member fenced", interval=0.3)
    assert answer["error_code"] == code("UNKNOWN_MEMBER_ID")


def test_group_max_size(client):
    group = group_name()
    for _ in range(4):
        assert join(client, group, ["t"])["error_code"] == 0
    full = join(client, group, ["t"])
    assert (full["error_code"], full["error_message"]) == (
        code("GROUP_MAX_SIZE_REACHED"), "The consumer group has reached its maximum capacity of 4 members.")


def test_session_timeout_removes_a_silent_member(client):
    group = group_name()
    gone = join(client, group, ["t"])
    stays = join(client, group, ["t"])

    def only_one_left():
        heartbeat(client, group, stays["member_id"], stays["member_epoch"], topic_partitions=[])
        return [m["member_id"] for m in describe(client, group)["members"]] == [stays["member_id"]]

    wait_until(only_one_left, 20, "the silent member removed after its session", interval=0.5)
    assert heartbeat(client, group, gone["member_id"], gone["member_epoch"])["error_code"] == code("UNKNOWN_MEMBER_ID")


# -- the other group APIs ----------------------------------------------------------------------------


def test_regex_subscription_picks_up_a_new_topic(client, kip848_broker):
    prefix = unique_topic("rx")
    group = group_name()
    member = heartbeat(client, group, new_member_id(), 0, rebalance_timeout=5000,
                       subscribed_topic_regex=f"{prefix}-.*", topic_partitions=[])
    assert member["error_code"] == 0 and owned(member) == []
    name = f"{prefix}-new"
    make_topic(kip848_broker.bootstrap, name, 2)
    tid = topic_id(client, name)

    epoch = [member["member_epoch"]]

    def assigned():
        r = heartbeat(client, group, member["member_id"], epoch[0], topic_partitions=[])
        epoch[0] = r["member_epoch"] or epoch[0]
        return r["assignment"] and partitions_of(owned(r)) == {(tid, 0), (tid, 1)}

    wait_until(assigned, 40, "the new topic matching the regex assigned", interval=0.5)
    described = describe(client, group)["members"][0]
    assert described["subscribed_topic_regex"] == f"{prefix}-.*"


def test_offset_commit_and_fetch_v9_check_the_member_epoch(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 1)
    group = group_name()
    m = join(client, group, [topic])

    def commit(member_id, epoch):
        return client.call(OFFSET_COMMIT, 9, {
            "group_id": group, "generation_id_or_member_epoch": epoch, "member_id": member_id,
            "group_instance_id": None, "topics": [{"name": topic, "partitions": [
                {"partition_index": 0, "committed_offset": 5, "committed_leader_epoch": -1,
                 "committed_metadata": ""}]}]})["topics"][0]["partitions"][0]["error_code"]

    def fetch(member_id, epoch):
        return client.call(OFFSET_FETCH, 9, {"groups": [{"group_id": group, "member_id": member_id,
                                                         "member_epoch": epoch, "topics": None}],
                                              "require_stable": False})["groups"][0]

    assert commit(m["member_id"], 0) == code("STALE_MEMBER_EPOCH")
    assert commit(m["member_id"], 2) == code("STALE_MEMBER_EPOCH")
    assert commit("stranger", 1) == code("UNKNOWN_MEMBER_ID")
    assert commit("", -1) == code("UNKNOWN_MEMBER_ID")  # only members commit to a non-empty group
    assert commit(m["member_id"], 1) == 0
    assert fetch(m["member_id"], 0)["error_code"] == code("STALE_MEMBER_EPOCH")
    assert fetch("stranger", 1)["error_code"] == code("UNKNOWN_MEMBER_ID")
    fetched = fetch(m["member_id"], 1)
    assert fetched["error_code"] == 0
    assert fetched["topics"][0]["partitions"][0]["committed_offset"] == 5
    assert fetch(None, -1)["topics"][0]["partitions"][0]["committed_offset"] == 5  # an admin's fetch


def test_classic_apis_on_a_consumer_group(client):
    group = group_name()
    m = join(client, group, ["t"])
    entry = {"group_id": group, "protocol_type": "consumer", "group_state": "Stable", "group_type": "consumer"}

    def listed_consumer_groups():  # Kafka lists what its log has committed: a moment later
        return client.call(LIST_GROUPS, 5, {"states_filter": [], "types_filter": ["Consumer"]})["groups"]

    listed = wait_until(lambda: (groups := listed_consumer_groups()) and entry in groups and groups, 10, "listed")
    assert all(g["group_type"] == "consumer" for g in listed)
    assert group not in [g["group_id"] for g in client.call(LIST_GROUPS, 5, {"states_filter": [],
                                                                           "types_filter": ["classic"]})["groups"]]
    described = client.call(DESCRIBE_GROUPS, 6, {"groups": [group], "include_authorized_operations": False})["groups"][0]
    assert (described["error_code"], described["error_message"], described["group_state"]) == (
        code("GROUP_ID_NOT_FOUND"), f"Group {group} is not a classic group.", "Dead")
    classic_heartbeat = client.call(12, 4, {"group_id": group, "generation_id": 1, "member_id": m["member_id"],
                                            "group_instance_id": None})
    assert classic_heartbeat["error_code"] == code("UNKNOWN_MEMBER_ID")
    old = client.call(DESCRIBE_GROUPS, 5, {"groups": [group], "include_authorized_operations": False})["groups"][0]
    assert (old["error_code"], old["group_state"], old["members"]) == (0, "Dead", [])  # before v6: a Dead group
    joined = client.call(JOIN_GROUP, 9, {"group_id": group, "session_timeout": 10000, "rebalance_timeout": 10000,
                                         "member_id": "", "group_instance_id": None, "protocol_type": "connect",
                                         "protocols": [{"name": "default", "metadata": b""}], "reason": None})
    assert joined["error_code"] == code("INCONSISTENT_GROUP_PROTOCOL")
    missing = client.call(DESCRIBE, 1, {"group_ids": ["no-such-group-848"], "include_authorized_operations": False})
    assert (missing["groups"][0]["error_code"], missing["groups"][0]["error_message"]) == (
        code("GROUP_ID_NOT_FOUND"), "Group no-such-group-848 not found.")
    delete = client.call(DELETE_GROUPS, 2, {"groups_names": [group]})["results"][0]["error_code"]
    assert delete == code("NON_EMPTY_GROUP")
    heartbeat(client, group, m["member_id"], -1)
    empty = describe(client, group)
    assert (empty["group_state"], empty["members"], empty["assignor_name"]) == ("Empty", [], "uniform")
    assert client.call(DELETE_GROUPS, 2, {"groups_names": [group]})["results"][0]["error_code"] == 0
    assert describe(client, group)["error_code"] == code("GROUP_ID_NOT_FOUND")


def test_an_empty_classic_group_becomes_a_consumer_group_with_its_offsets(client, kip848_broker):
    topic = create_topic(kip848_broker.bootstrap, 1)
    group = group_name()
    commit = client.call(OFFSET_COMMIT, 8, {
        "group_id": group, "generation_id_or_member_epoch": -1, "member_id": "", "group_instance_id": None,
        "topics": [{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 7,
                                                   "committed_leader_epoch": -1, "committed_metadata": ""}]}]})
    assert commit["topics"][0]["partitions"][0]["error_code"] == 0
    def group_types():  # Kafka lists what its log has committed: a moment later
        listed = client.call(LIST_GROUPS, 5, {"states_filter": [], "types_filter": []})["groups"]
        return [g["group_type"] for g in listed if g["group_id"] == group]

    wait_until(lambda: group_types() == ["classic"], 10, "a classic group listed")
    m = join(client, group, [topic])
    assert m["error_code"] == 0
    wait_until(lambda: group_types() == ["consumer"], 10, "a consumer group listed")
    fetched = client.call(OFFSET_FETCH, 9, {"groups": [{"group_id": group, "member_id": m["member_id"],
                                                        "member_epoch": 1, "topics": None}], "require_stable": False})
    assert fetched["groups"][0]["topics"][0]["partitions"][0]["committed_offset"] == 7


def test_find_coordinator_v6(client):
    for key_type in (2, 3):
        answer = client.call(FIND_COORDINATOR, 6, {"key_type": key_type, "coordinator_keys": ["g"]})
        assert answer["coordinators"][0]["error_code"] == code("INVALID_REQUEST")
    assert client.call(FIND_COORDINATOR, 6, {"key_type": 0, "coordinator_keys": ["g"]})["coordinators"][0][
        "error_code"] == 0


# -- a restart (our broker: Kafka's durability is Kafka's) ---------------------------------------------


def test_consumer_groups_survive_a_restart(broker_factory):
    from tests.conftest import KIP848_CONFIGS

    broker = broker_factory({**KIP848_CONFIGS, "group.consumer.session.timeout.ms": "60000"})
    client = connect(broker.bootstrap)
    topic = create_topic(broker.bootstrap, 4)
    group, gone = group_name(), group_name()
    a = join(client, group, [topic], instance_id="static-a")
    b = join(client, group, [topic])
    a2 = heartbeat(client, group, a["member_id"], 1, topic_partitions=owned(a))
    a3 = heartbeat(client, group, a["member_id"], 1, topic_partitions=owned(a2))
    b2 = heartbeat(client, group, b["member_id"], 2, topic_partitions=[])
    g = join(client, gone, [topic])
    heartbeat(client, gone, g["member_id"], -1)
    assert client.call(DELETE_GROUPS, 2, {"groups_names": [gone]})["results"][0]["error_code"] == 0
    before = describe(client, group)
    client.close()
    broker.stop()
    broker.start()
    client = connect(broker.bootstrap)
    after = wait_until(lambda: (d := describe(client, group))["error_code"] == 0 and d, 30, "the group loaded")
    key = lambda d: sorted((m["member_id"], m["member_epoch"], m["instance_id"], str(m["assignment"]),  # noqa: E731
                            str(m["target_assignment"]), tuple(m["subscribed_topic_names"])) for m in d["members"])
    assert key(after) == key(before)
    assert (after["group_epoch"], after["assignment_epoch"], after["group_state"]) == (2, 2, "Stable")
    # The members carry on with their epochs and partitions.
    a4 = heartbeat(client, group, a["member_id"], 2, topic_partitions=owned(a3), instance_id="static-a")
    b3 = heartbeat(client, group, b["member_id"], 2, topic_partitions=owned(b2))
    assert (a4["error_code"], a4["member_epoch"], b3["error_code"], b3["member_epoch"]) == (0, 2, 0, 2)
    assert describe(client, gone)["error_code"] == code("GROUP_ID_NOT_FOUND")
    listed = [g["group_id"] for g in client.call(LIST_GROUPS, 5, {"states_filter": [], "types_filter": []})["groups"]]
    assert gone not in listed and group in listed
    client.close()


def test_consumer_offsets_records_replay_to_the_described_group(client, kip848_broker):
    """The group's records in `__consumer_offsets`, read back with our decoder: Kafka's own
    (the layout we write must be Kafka's) and ours replay to the group Describe shows."""
    from confluent_kafka import Consumer, TopicPartition

    from broker.coordinator import consumer_records as cr
    from broker.coordinator.consumer_group import ConsumerGroup

    topic = create_topic(kip848_broker.bootstrap, 4)
    tid = topic_id(client, topic)
    group = group_name()
    a = join_owning(client, group, [topic], 4, instance_id="replayed")
    b = join(client, group, [topic], server_assignor="range")
    heartbeat(client, group, a["member_id"], a["member_epoch"], topic_partitions=owned(a), instance_id="replayed")
    described = describe(client, group)
    consumer = Consumer({"bootstrap.servers": kip848_broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    partitions = consumer.list_topics("__consumer_offsets", timeout=10).topics["__consumer_offsets"].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition("__consumer_offsets", p), timeout=10)[1]
            for p in partitions}
    consumer.assign([TopicPartition("__consumer_offsets", p, 0) for p, end in ends.items() if end > 0])
    replayed = ConsumerGroup(group)
    remaining = {p for p, end in ends.items() if end > 0}
    deadline = time.monotonic() + 30
    while remaining and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        if message.offset() >= ends[message.partition()] - 1:
            remaining.discard(message.partition())
        key = cr.decode_key(message.key())
        if key is not None and key[1] == group:
            replayed.apply(cr.decode(key, message.value(), {tid: topic}.get))
    consumer.close()
    assert not remaining
    assert (replayed.group_epoch, replayed.assignment_epoch) == (described["group_epoch"], described["assignment_epoch"])
    assert replayed.state == described["group_state"]
    for m in described["members"]:
        member = replayed.members[m["member_id"]]
        assert (member.member_epoch, member.instance_id, member.subscribed_topic_names) == (
            m["member_epoch"], m["instance_id"], (topic,))
        assert {(tid, p) for p in member.assigned.get(topic, ())} == partitions_of(m["assignment"]["topic_partitions"])
        assert {(tid, p) for p in replayed.target[m["member_id"]].get(topic, ())} == partitions_of(
            m["target_assignment"]["topic_partitions"])
    assert replayed.members[b["member_id"]].server_assignor == "range"


def test_an_empty_consumer_group_becomes_a_classic_group_on_join(client):
    group = group_name()
    m = join(client, group, ["t"])
    assert heartbeat(client, group, m["member_id"], -1)["error_code"] == 0
    joined = client.call(JOIN_GROUP, 9, {"group_id": group, "session_timeout": 10000, "rebalance_timeout": 10000,
                                         "member_id": "", "group_instance_id": None, "protocol_type": "consumer",
                                         "protocols": [{"name": "range", "metadata": b""}], "reason": None})
    assert joined["error_code"] == code("MEMBER_ID_REQUIRED") and joined["member_id"]
    rejoined = client.call(JOIN_GROUP, 9, {"group_id": group, "session_timeout": 10000, "rebalance_timeout": 10000,
                                           "member_id": joined["member_id"], "group_instance_id": None,
                                           "protocol_type": "consumer",
                                           "protocols": [{"name": "range", "metadata": b""}], "reason": None})
    assert (rejoined["error_code"], rejoined["generation_id"]) == (0, 1)

    def listed_as_classic():  # Kafka describes and lists what its log has committed: a moment later
        listed = client.call(LIST_GROUPS, 5, {"states_filter": [], "types_filter": []})["groups"]
        return [g["group_type"] for g in listed if g["group_id"] == group] == ["classic"]

    wait_until(listed_as_classic, 10, "the group listed as a classic group")
    assert describe(client, group)["error_code"] == code("GROUP_ID_NOT_FOUND")
