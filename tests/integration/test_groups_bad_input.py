"""Group and offset APIs with exact requests: every error Apache Kafka answers for bad input,
and no member can keep a group from moving on.

Requests go through tests/kafka_wire.RawClient, so each test states the request version
and fields it sends. Raw members join on a broker with group.initial.rebalance.delay.ms
= 1000, so members that join together land in one generation.
"""

from __future__ import annotations

import struct
import threading
import time

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from broker.protocol.errors import code
from tests.conftest import BrokerProcess, unique_topic, wait_until
from tests.kafka_wire import RawClient

JOIN, SYNC, HEARTBEAT, LEAVE, DESCRIBE, LIST, COMMIT, FETCH, DELETE_GROUPS, OFFSET_DELETE, FIND = (
    11, 14, 12, 13, 15, 16, 8, 9, 42, 47, 10)
NONE = 0


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = BrokerProcess(tmp_path_factory.mktemp("groups-raw") / "data", {
        "group.initial.rebalance.delay.ms": "1000",
        "offsets.retention.check.interval.ms": "300",
    })
    b.start()
    yield b
    b.stop()


@pytest.fixture
def raw(broker):
    clients = []

    def make(timeout: float = 20.0) -> RawClient:
        c = RawClient(broker.bootstrap, timeout=timeout)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def subscription(*topics: str) -> bytes:
    """ConsumerProtocolSubscription v0: the member metadata of protocol type "consumer"."""
    body = struct.pack(">hi", 0, len(topics))
    for t in topics:
        body += struct.pack(">h", len(t)) + t.encode()
    return body + struct.pack(">i", -1)


def create_topic(bootstrap: str, name: str, partitions: int = 2) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)


def join_request(group: str, member_id: str = "", session: int = 10000, rebalance: int = 10000,
                 protocol_type: str = "consumer", protocols=(("range", b"m"),), instance: str | None = None) -> dict:
    return {"group_id": group, "session_timeout": session, "rebalance_timeout": rebalance, "member_id": member_id,
            "group_instance_id": instance, "protocol_type": protocol_type,
            "protocols": [{"name": n, "metadata": m} for n, m in protocols]}


def join(client: RawClient, group: str, version: int = 7, **kw) -> dict:
    """JoinGroup, doing the MEMBER_ID_REQUIRED round trip of v4+ when it comes."""
    resp = client.call(JOIN, version, join_request(group, **kw))
    if resp["error_code"] == code("MEMBER_ID_REQUIRED"):
        kw["member_id"] = resp["member_id"]
        resp = client.call(JOIN, version, join_request(group, **kw))
    return resp


def sync(client: RawClient, group: str, generation: int, member_id: str, assignments=None, version: int = 5,
         **extra) -> dict:
    body = {"group_id": group, "generation_id": generation, "member_id": member_id,
            "protocol_type": "consumer", "protocol_name": "range",
            "assignments": [{"member_id": m, "assignment": a} for m, a in (assignments or {}).items()]}
    body.update(extra)
    return client.call(SYNC, version, body)


def heartbeat(client: RawClient, group: str, generation: int, member_id: str, instance=None) -> int:
    return client.call(HEARTBEAT, 4, {"group_id": group, "generation_id": generation, "member_id": member_id,
                                      "group_instance_id": instance})["error_code"]


def commit(client: RawClient, group: str, generation: int, member_id: str, topic: str, partition: int = 0,
           offset: int = 5, metadata: str | None = "", instance=None, version: int = 8) -> int:
    resp = client.call(COMMIT, version, {
        "group_id": group, "generation_id_or_member_epoch": generation, "member_id": member_id,
        "group_instance_id": instance, "retention_time": -1,
        "topics": [{"name": topic, "partitions": [{"partition_index": partition, "committed_offset": offset,
                                                   "committed_leader_epoch": -1, "committed_metadata": metadata}]}]})
    return resp["topics"][0]["partitions"][0]["error_code"]


def fetch(client: RawClient, group: str, topic: str, partitions=(0,), version: int = 8) -> list[dict]:
    resp = client.call(FETCH, version, {"groups": [{"group_id": group, "topics": [
        {"name": topic, "partition_indexes": list(partitions)}]}], "require_stable": False})
    return resp["groups"][0]["topics"][0]["partitions"]


def form_group(make_client, group: str, n: int, **kw) -> list[tuple[RawClient, dict]]:
    """n raw members joining at once (inside the initial delay): one generation, then SyncGroup."""
    results: list = [None] * n
    clients = [make_client() for _ in range(n)]

    def run(i):
        results[i] = join(clients[i], group, **kw)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r is not None and r["error_code"] == NONE for r in results), results
    generation = results[0]["generation_id"]
    assert {r["generation_id"] for r in results} == {generation}
    leader = results[0]["leader"]
    synced: list = [None] * n

    def do_sync(i):
        r = results[i]
        assignments = {m["member_id"]: b"assign-" + m["member_id"].encode() for m in r["members"]}
        synced[i] = sync(clients[i], group, generation, r["member_id"], assignments if r["member_id"] == leader else {},
                         protocol_type=kw.get("protocol_type", "consumer"))

    threads = [threading.Thread(target=do_sync, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(s is not None and s["error_code"] == NONE for s in synced), synced
    return list(zip(clients, results))


def in_thread(fn):
    """Run fn in a thread; returns a function giving its result (waiting at most 30 s)."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("result", fn()))
    t.start()

    def result(timeout: float = 30.0):
        t.join(timeout)
        assert "result" in box, f"{fn} did not return within {timeout}s"
        return box["result"]
    return result


# -- invalid group ids and session timeouts ----------------------------------------------------


def test_empty_group_id_is_invalid_for_membership_apis(raw):
    c = raw()
    assert c.call(JOIN, 7, join_request(""))["error_code"] == code("INVALID_GROUP_ID")
    assert sync(c, "", 1, "m")["error_code"] == code("INVALID_GROUP_ID")
    assert heartbeat(c, "", 1, "m") == code("INVALID_GROUP_ID")
    assert c.call(LEAVE, 5, {"group_id": "", "members": [{"member_id": "m"}]})["error_code"] == code("INVALID_GROUP_ID")
    resp = c.call(OFFSET_DELETE, 0, {"group_id": "", "topics": []})
    assert resp["error_code"] == code("INVALID_GROUP_ID")


def test_empty_group_id_is_legal_for_offsets_as_in_kafka(raw, broker):
    topic = unique_topic("emptyid")
    create_topic(broker.bootstrap, topic)
    c = raw()
    assert commit(c, "", -1, "", topic, offset=9) == NONE
    assert fetch(c, "", topic)[0]["committed_offset"] == 9


@pytest.mark.parametrize("session", [5999, 1800001])
def test_session_timeout_outside_the_broker_bounds(raw, session):
    resp = raw().call(JOIN, 7, join_request(unique_topic("g"), session=session))
    assert resp["error_code"] == code("INVALID_SESSION_TIMEOUT")


# -- member ids ---------------------------------------------------------------------------------


def test_member_id_required_from_v4_and_given_at_once_before(raw):
    c = raw()
    group = unique_topic("g")
    first = c.call(JOIN, 4, join_request(group))
    assert first["error_code"] == code("MEMBER_ID_REQUIRED")
    assert first["member_id"].startswith("raw-test-") and first["generation_id"] == -1
    joined = c.call(JOIN, 4, join_request(group, member_id=first["member_id"]))
    assert joined["error_code"] == NONE and joined["member_id"] == first["member_id"]
    assert joined["leader"] == first["member_id"] and joined["generation_id"] == 1
    assert [m["member_id"] for m in joined["members"]] == [first["member_id"]]

    old = raw().call(JOIN, 3, join_request(unique_topic("g")))  # v3: no MEMBER_ID_REQUIRED round trip
    assert old["error_code"] == NONE and old["member_id"].startswith("raw-test-")


def test_unknown_member_ids(raw):
    c = raw()
    group = unique_topic("g")
    assert c.call(JOIN, 7, join_request(group, member_id="made-up"))["error_code"] == code("UNKNOWN_MEMBER_ID")
    assert heartbeat(c, group, 1, "made-up") == code("UNKNOWN_MEMBER_ID")
    assert sync(c, group, 1, "made-up")["error_code"] == code("UNKNOWN_MEMBER_ID")
    left = c.call(LEAVE, 5, {"group_id": group, "members": [{"member_id": "made-up"}]})
    assert left["error_code"] == NONE and left["members"][0]["error_code"] == code("UNKNOWN_MEMBER_ID")

    [(member, joined)] = form_group(raw, group, 1)
    gen = joined["generation_id"]
    assert c.call(JOIN, 7, join_request(group, member_id="made-up"))["error_code"] == code("UNKNOWN_MEMBER_ID")
    assert heartbeat(c, group, gen, "made-up") == code("UNKNOWN_MEMBER_ID")
    assert sync(c, group, gen, "made-up")["error_code"] == code("UNKNOWN_MEMBER_ID")
    assert c.call(LEAVE, 0, {"group_id": group, "member_id": "made-up"})["error_code"] == code("UNKNOWN_MEMBER_ID")
    assert heartbeat(member, group, gen, joined["member_id"]) == NONE  # the real member is unaffected


def test_illegal_generation(raw, broker):
    topic = unique_topic("gen")
    create_topic(broker.bootstrap, topic)
    group = f"g-{topic}"
    [(c, joined)] = form_group(raw, group, 1)
    me, gen = joined["member_id"], joined["generation_id"]
    assert heartbeat(c, group, gen + 1, me) == code("ILLEGAL_GENERATION")
    assert sync(c, group, gen - 1, me)["error_code"] == code("ILLEGAL_GENERATION")
    assert commit(c, group, gen + 5, me, topic) == code("ILLEGAL_GENERATION")
    # A commit for a generation of a group this coordinator does not know.
    assert commit(c, f"unknown-{group}", 3, "someone", topic) == code("ILLEGAL_GENERATION")
    assert commit(c, group, gen, me, topic) == NONE


def test_inconsistent_group_protocol(raw):
    group = unique_topic("g")
    [(c, joined)] = form_group(raw, group, 1, protocols=(("range", b"m"), ("roundrobin", b"m")))
    other = raw()
    assert join(other, group, protocol_type="connect")["error_code"] == code("INCONSISTENT_GROUP_PROTOCOL")
    assert join(other, group, protocols=(("sticky", b"m"),))["error_code"] == code("INCONSISTENT_GROUP_PROTOCOL")
    assert join(raw(), unique_topic("g"), protocols=())["error_code"] == code("INCONSISTENT_GROUP_PROTOCOL")
    assert join(raw(), unique_topic("g"), protocol_type="")["error_code"] == code("INCONSISTENT_GROUP_PROTOCOL")
    wrong = sync(c, group, joined["generation_id"], joined["member_id"], protocol_name="roundrobin")
    assert wrong["error_code"] == code("INCONSISTENT_GROUP_PROTOCOL")
    wrong = sync(c, group, joined["generation_id"], joined["member_id"], protocol_type="connect")
    assert wrong["error_code"] == code("INCONSISTENT_GROUP_PROTOCOL")
    assert heartbeat(c, group, joined["generation_id"], joined["member_id"]) == NONE


# -- a rebalance step by step -----------------------------------------------------------------------


def test_rebalance_in_progress_and_commits_during_a_rebalance(raw, broker):
    topic = unique_topic("reb")
    create_topic(broker.bootstrap, topic)
    group = f"g-{topic}"
    [(a, a_joined)] = form_group(raw, group, 1)
    a_id, gen = a_joined["member_id"], a_joined["generation_id"]

    b = raw()
    b_join = in_thread(lambda: join(b, group))  # parked until `a` rejoins
    wait_until(lambda: heartbeat(a, group, gen, a_id) == code("REBALANCE_IN_PROGRESS"), 10,
               "a learns of the rebalance from its heartbeat")
    assert sync(a, group, gen, a_id)["error_code"] == code("REBALANCE_IN_PROGRESS")
    # While preparing, members of the old generation may still commit what they processed.
    assert commit(a, group, gen, a_id, topic, offset=7) == NONE

    a_rejoined = join(a, group, member_id=a_id)
    b_joined = b_join()
    assert a_rejoined["generation_id"] == b_joined["generation_id"] == gen + 1
    leader = a_rejoined["leader"]
    assert leader == b_joined["leader"] and {len(a_rejoined["members"]), len(b_joined["members"])} == {0, 2}

    # CompletingRebalance: commits wait for the assignment.
    assert commit(a, group, gen + 1, a_id, topic, offset=8) == code("REBALANCE_IN_PROGRESS")
    follower, follower_id = (b, b_joined["member_id"]) if leader == a_id else (a, a_id)
    leader_client = a if leader == a_id else b
    follower_sync = in_thread(lambda: sync(follower, group, gen + 1, follower_id))
    time.sleep(0.3)  # the follower's SyncGroup is parked until the leader's arrives
    assignments = {a_id: b"for-a", b_joined["member_id"]: b"for-b", "not-a-member": b"ignored"}
    leader_sync = sync(leader_client, group, gen + 1, leader, assignments)
    got = follower_sync()
    assert leader_sync["error_code"] == got["error_code"] == NONE
    assert {leader_sync["assignment"], got["assignment"]} == {b"for-a", b"for-b"}
    assert got["protocol_name"] == "range" and got["protocol_type"] == "consumer"
    assert commit(a, group, gen + 1, a_id, topic, offset=9) == NONE
    assert fetch(a, group, topic)[0]["committed_offset"] == 9


def test_commits_from_non_members(raw, broker):
    topic = unique_topic("nonmember")
    create_topic(broker.bootstrap, topic)
    group = f"g-{topic}"
    [(c, joined)] = form_group(raw, group, 1)
    gen = joined["generation_id"]
    intruder = raw()
    assert commit(intruder, group, gen, "intruder", topic) == code("UNKNOWN_MEMBER_ID")
    # A "simple" commit (no generation, no member id) is only for groups without members.
    assert commit(intruder, group, -1, "", topic) == code("UNKNOWN_MEMBER_ID")
    left = c.call(LEAVE, 5, {"group_id": group, "members": [{"member_id": joined["member_id"]}]})
    assert left["members"][0]["error_code"] == NONE
    wait_until(lambda: commit(intruder, group, -1, "", topic, offset=11) == NONE, 10, "simple commit once empty")
    assert fetch(intruder, group, topic)[0]["committed_offset"] == 11


def test_commit_partition_errors_and_metadata(raw, broker):
    topic = unique_topic("commit")
    create_topic(broker.bootstrap, topic, 2)
    c = raw()
    group = f"g-{topic}"
    resp = c.call(COMMIT, 8, {"group_id": group, "generation_id_or_member_epoch": -1, "member_id": "", "topics": [
        {"name": topic, "partitions": [
            {"partition_index": 0, "committed_offset": 3, "committed_leader_epoch": 0, "committed_metadata": "ok"},
            {"partition_index": 1, "committed_offset": 4, "committed_metadata": "x" * 4097},
            {"partition_index": 2, "committed_offset": 5, "committed_metadata": None}]},
        {"name": "no-such-topic-" + topic, "partitions": [{"partition_index": 0, "committed_offset": 1}]}]})
    errors = [[p["error_code"] for p in t["partitions"]] for t in resp["topics"]]
    assert errors == [[NONE, code("OFFSET_METADATA_TOO_LARGE"), code("UNKNOWN_TOPIC_OR_PARTITION")],
                      [code("UNKNOWN_TOPIC_OR_PARTITION")]]
    fetched = fetch(c, group, topic, partitions=(0, 1))
    assert [(p["committed_offset"], p["committed_leader_epoch"], p["metadata"]) for p in fetched] == \
        [(3, 0, "ok"), (-1, -1, "")]


def test_offset_fetch_versions_and_all_partitions(raw, broker):
    topic = unique_topic("fetchv")
    create_topic(broker.bootstrap, topic, 3)
    c = raw()
    group = f"g-{topic}"
    for p in range(2):
        assert commit(c, group, -1, "", topic, partition=p, offset=10 + p, metadata=f"m{p}", version=2) == NONE
    v1 = c.call(FETCH, 1, {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0, 2]}]})
    assert [(p["committed_offset"], p["metadata"]) for p in v1["topics"][0]["partitions"]] == [(10, "m0"), (-1, "")]
    everything = c.call(FETCH, 5, {"group_id": group, "topics": None})  # v2+: null = every partition
    assert everything["error_code"] == NONE
    assert [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in everything["topics"]] == \
        [(topic, [0, 1])]
    batched = c.call(FETCH, 8, {"groups": [{"group_id": group, "topics": None},
                                           {"group_id": "nobody-" + group, "topics": None}], "require_stable": True})
    assert [len(g["topics"]) for g in batched["groups"]] == [1, 0]
    assert all(g["error_code"] == NONE for g in batched["groups"])


# -- static membership ------------------------------------------------------------------------------


def test_static_member_fencing(raw, broker):
    topic = unique_topic("static")
    create_topic(broker.bootstrap, topic)
    group = f"g-{topic}"
    [(c, first)] = form_group(raw, group, 1, instance="instance-1")
    old_id, gen = first["member_id"], first["generation_id"]
    assert old_id.startswith("instance-1-")

    # The same instance comes back with no member id: a new id, the same generation, no rebalance.
    again = raw()
    second = again.call(JOIN, 7, join_request(group, instance="instance-1"))
    new_id = second["member_id"]
    assert second["error_code"] == NONE and new_id != old_id and second["generation_id"] == gen
    assert sync(again, group, gen, new_id)["assignment"] == b"assign-" + old_id.encode()

    fenced = code("FENCED_INSTANCE_ID")
    assert heartbeat(c, group, gen, old_id, instance="instance-1") == fenced
    assert commit(c, group, gen, old_id, topic, instance="instance-1") == fenced
    assert sync(c, group, gen, old_id, group_instance_id="instance-1")["error_code"] == fenced
    assert c.call(JOIN, 7, join_request(group, member_id=old_id, instance="instance-1"))["error_code"] == fenced
    assert heartbeat(again, group, gen, new_id, instance="instance-1") == NONE

    # An admin can remove a static member by its instance id alone (KIP-345).
    left = c.call(LEAVE, 5, {"group_id": group, "members": [{"member_id": "", "group_instance_id": "instance-1"}]})
    assert left["members"][0]["error_code"] == NONE
    wait_until(lambda: c.call(DESCRIBE, 5, {"groups": [group]})["groups"][0]["group_state"] == "Empty", 10,
               "group empty after its static member was removed")


# -- several members leaving at once, lists and deletes ---------------------------------------------------


def test_leave_group_with_several_members_at_once(raw):
    group = unique_topic("g")
    members = form_group(raw, group, 3)
    (c0, j0), (c1, j1), (c2, j2) = members
    gen = j0["generation_id"]
    resp = c0.call(LEAVE, 5, {"group_id": group, "members": [
        {"member_id": j0["member_id"], "reason": "test"}, {"member_id": j1["member_id"]},
        {"member_id": "not-a-member"}]})
    assert resp["error_code"] == NONE
    assert [m["error_code"] for m in resp["members"]] == [NONE, NONE, code("UNKNOWN_MEMBER_ID")]
    assert heartbeat(c2, group, gen, j2["member_id"]) == code("REBALANCE_IN_PROGRESS")
    alone = join(c2, group, member_id=j2["member_id"])
    assert alone["generation_id"] == gen + 1 and [m["member_id"] for m in alone["members"]] == [j2["member_id"]]
    described = c2.call(DESCRIBE, 5, {"groups": [group], "include_authorized_operations": True})["groups"][0]
    assert described["group_state"] == "CompletingRebalance" and len(described["members"]) == 1
    assert described["members"][0]["member_metadata"] == b""  # shown once Stable only
    assert described["authorized_operations"] > 0


def test_list_describe_and_delete_groups_errors(raw):
    c = raw()
    group = unique_topic("g")
    form_group(raw, group, 1)
    listed = c.call(LIST, 4, {"states_filter": ["stable"]})
    assert group in {g["group_id"] for g in listed["groups"]}
    assert group not in {g["group_id"] for g in c.call(LIST, 4, {"states_filter": ["Empty"]})["groups"]}
    described = c.call(DESCRIBE, 0, {"groups": [group, "never-" + group]})["groups"]
    assert [d["group_state"] for d in described] == ["Stable", "Dead"]
    assert described[0]["protocol_data"] == "range" and described[0]["members"][0]["member_assignment"]

    results = c.call(DELETE_GROUPS, 2, {"groups_names": [group, "never-" + group]})["results"]
    assert [r["error_code"] for r in results] == [code("NON_EMPTY_GROUP"), code("GROUP_ID_NOT_FOUND")]


def test_offset_delete_errors(raw, broker):
    topic = unique_topic("odel")
    create_topic(broker.bootstrap, topic)
    other = unique_topic("odel-other")
    create_topic(broker.bootstrap, other)
    c = raw()
    assert c.call(OFFSET_DELETE, 0, {"group_id": "never-" + topic, "topics": []})["error_code"] == \
        code("GROUP_ID_NOT_FOUND")

    group = f"g-{topic}"
    [(member, joined)] = form_group(raw, group, 1, protocols=(("range", subscription(topic)),))
    for t in (topic, other):
        assert commit(member, group, joined["generation_id"], joined["member_id"], t) == NONE
    resp = c.call(OFFSET_DELETE, 0, {"group_id": group, "topics": [
        {"name": topic, "partitions": [{"partition_index": 0}]},
        {"name": other, "partitions": [{"partition_index": 0}]},
        {"name": "missing-" + topic, "partitions": [{"partition_index": 0}]}]})
    assert resp["error_code"] == NONE
    assert [t["partitions"][0]["error_code"] for t in resp["topics"]] == \
        [code("GROUP_SUBSCRIBED_TO_TOPIC"), NONE, code("UNKNOWN_TOPIC_OR_PARTITION")]
    assert fetch(c, group, other)[0]["committed_offset"] == -1
    assert fetch(c, group, topic)[0]["committed_offset"] == 5

    plain = unique_topic("g")  # not the consumer protocol: offsets of a non-empty group stay
    form_group(raw, plain, 1, protocol_type="connect")
    resp = c.call(OFFSET_DELETE, 0, {"group_id": plain, "topics": [{"name": topic, "partitions": [
        {"partition_index": 0}]}]})
    assert resp["error_code"] == code("NON_EMPTY_GROUP")


def test_find_coordinator_versions(raw, broker):
    c = raw()
    v0 = c.call(FIND, 0, {"key": "g"})
    assert (v0["error_code"], v0["node_id"], v0["port"]) == (NONE, 1, broker.port)
    txn = c.call(FIND, 3, {"key": "txn-id", "key_type": 1})
    assert (txn["error_code"], txn["host"]) == (NONE, "127.0.0.1")
    bad = c.call(FIND, 2, {"key": "x", "key_type": 7})
    assert bad["error_code"] == code("INVALID_REQUEST") and bad["node_id"] == -1
    batch = c.call(FIND, 4, {"key_type": 0, "coordinator_keys": ["a", "b"]})
    assert [(k["key"], k["error_code"], k["port"]) for k in batch["coordinators"]] == \
        [("a", NONE, broker.port), ("b", NONE, broker.port)]


def test_offsets_expire_after_their_retention_time(raw, broker):
    """OffsetCommit v2-v4 carry an explicit retention; the broker checks every 300 ms here.
    A simple group left without offsets is removed."""
    topic = unique_topic("expire")
    create_topic(broker.bootstrap, topic)
    c = raw()
    group = f"g-{topic}"
    resp = c.call(COMMIT, 2, {"group_id": group, "generation_id_or_member_epoch": -1, "member_id": "",
                              "retention_time": 500, "topics": [{"name": topic, "partitions": [
                                  {"partition_index": 0, "committed_offset": 5, "committed_metadata": ""}]}]})
    assert resp["topics"][0]["partitions"][0]["error_code"] == NONE
    kept = f"kept-{topic}"
    assert commit(c, kept, -1, "", topic, offset=6) == NONE  # the broker's retention: 7 days
    assert fetch(c, group, topic)[0]["committed_offset"] == 5
    wait_until(lambda: fetch(c, group, topic)[0]["committed_offset"] == -1, 15, "offset expired")
    wait_until(lambda: group not in {g["group_id"] for g in c.call(LIST, 4, {})["groups"]}, 15,
               "empty simple group removed")
    assert fetch(c, kept, topic)[0]["committed_offset"] == 6



@pytest.mark.parametrize("retention", [2**63 - 1, -(2**63)], ids=["largest", "most-negative"])
def test_an_extreme_retention_time_is_stored_not_an_internal_error(raw, broker, retention):
    """Now plus the retention overflows an int64 (the fuzzer found it): the expiry is clamped,
    the commit is answered and the connection stays open."""
    topic = unique_topic("extreme")
    create_topic(broker.bootstrap, topic)
    c = raw()
    group = f"g-{topic}"
    resp = c.call(COMMIT, 2, {"group_id": group, "generation_id_or_member_epoch": -1, "member_id": "",
                              "retention_time": retention, "topics": [{"name": topic, "partitions": [
                                  {"partition_index": 0, "committed_offset": 5, "committed_metadata": ""}]}]})
    assert resp["topics"][0]["partitions"][0]["error_code"] == NONE
    assert fetch(c, group, topic)[0]["committed_offset"] in (5, -1)  # -1: the most negative expired already
    assert "Traceback" not in broker.log_text()

# -- nobody can wedge a group ---------------------------------------------------------------------------


def test_parked_sync_is_answered_when_the_leader_leaves(raw):
    group = unique_topic("g")
    a, b = raw(), raw()
    joins = [in_thread(lambda: join(a, group)), in_thread(lambda: join(b, group))]
    ja, jb = joins[0](), joins[1]()
    gen = ja["generation_id"]
    leader, follower = (ja, jb) if ja["member_id"] == ja["leader"] else (jb, ja)
    leader_client, follower_client = (a, b) if leader is ja else (b, a)
    parked = in_thread(lambda: sync(follower_client, group, gen, follower["member_id"]))
    time.sleep(0.3)
    left = leader_client.call(LEAVE, 5, {"group_id": group, "members": [{"member_id": leader["member_id"]}]})
    assert left["members"][0]["error_code"] == NONE
    assert parked(10)["error_code"] == code("REBALANCE_IN_PROGRESS")


def test_leader_that_never_syncs_is_removed_after_its_session(raw):
    """The follower's SyncGroup waits for the leader's assignment; a leader that goes
    silent is dropped when its session lapses and the follower is told to rejoin."""
    group = unique_topic("g")
    a, b = raw(), raw()
    joins = [in_thread(lambda: join(a, group, session=6000)), in_thread(lambda: join(b, group, session=6000))]
    ja, jb = joins[0](), joins[1]()
    follower, client = (jb, b) if ja["member_id"] == ja["leader"] else (ja, a)
    parked = in_thread(lambda: sync(client, group, follower["generation_id"], follower["member_id"]))
    assert parked(20)["error_code"] == code("REBALANCE_IN_PROGRESS")
    alone = join(client, group, member_id=follower["member_id"], session=6000)
    assert alone["error_code"] == NONE and alone["leader"] == follower["member_id"]
    assert [m["member_id"] for m in alone["members"]] == [follower["member_id"]]


def test_silent_raw_member_cannot_wedge_a_real_consumer(raw, broker):
    """A member joins beside a librdkafka consumer and then never speaks again: within its
    session timeout the consumer owns every partition again and keeps consuming."""
    topic = unique_topic("wedge")
    create_topic(broker.bootstrap, topic, 4)
    group = f"g-{topic}"
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "enable.auto.commit": False})
    c.subscribe([topic])
    try:
        wait_until(lambda: c.consume(10, 0.1) is not None and len(c.assignment()) == 4, 30, "consumer owns 4")
        silent = raw(timeout=60)
        ghost = in_thread(lambda: join(silent, group, session=6000, rebalance=6000,
                                       protocols=(("range", subscription(topic)),)))
        wait_until(lambda: c.consume(10, 0.1) is not None and ghost and len(c.assignment()) < 4, 30,
                   "the consumer gave partitions to the silent member")
        assert ghost()["error_code"] == NONE
        # The silent member never sends SyncGroup nor a heartbeat.
        wait_until(lambda: c.consume(10, 0.1) is not None and len(c.assignment()) == 4, 30,
                   "the consumer owns every partition again")
    finally:
        c.close()
