"""Consumer groups and committed offsets with confluent-kafka (librdkafka) against a real broker.

Most tests run the broker with group.initial.rebalance.delay.ms=0 to stay fast; one keeps
Kafka's default (3000 ms) and checks what it is for: members starting together land in
one generation.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker.protocol.errors import code
from tests.conftest import unique_topic, wait_until
from tests.kafka_wire import RawClient
from tests.integration.groups_scenario import PARTITIONS, produce, python_member, run_membership_scenario

FAST = {"group.initial.rebalance.delay.ms": "0"}


@pytest.fixture(scope="module", params=["schemabus", "apache-kafka"])
def fast_broker(request, tmp_path_factory):
    """Our broker, and Apache Kafka (also with group.initial.rebalance.delay.ms=0): the same
    group scenarios run on both, so behaviour that differs shows up as a failing case."""
    from tests.conftest import BrokerProcess

    if request.param == "apache-kafka":
        yield request.getfixturevalue("apache_kafka")
        return
    b = BrokerProcess(tmp_path_factory.mktemp("groups") / "data", FAST)
    b.start()
    yield b
    b.stop()


def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the future
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(10)


def consumer(bootstrap: str, group: str, **extra) -> Consumer:
    config = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
              "enable.partition.eof": False}
    config.update({k.replace("_", "."): v for k, v in extra.items()})
    return Consumer(config)


def consume(c: Consumer, count: int, timeout: float = 30.0) -> list:
    """Poll until `count` records arrived (bounded)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        for m in c.consume(1000, 0.2):
            assert m.error() is None, m.error()
            out.append(m)
    assert len(out) >= count, f"got {len(out)} of {count} records within {timeout}s"
    return out


def poll_until(consumers: list[Consumer], predicate, timeout: float, message: str) -> None:
    """Keep the consumers polling (records are dropped) until `predicate()` holds."""
    def step():
        for c in consumers:
            c.consume(100, 0.05)
        return predicate()
    wait_until(step, timeout, message, interval=0)


def drain(c: Consumer, idle: float = 1.5) -> list:
    """Everything available until nothing arrives for `idle` seconds."""
    out = []
    last = time.monotonic()
    while time.monotonic() - last < idle:
        batch = [m for m in c.consume(1000, 0.2) if m.error() is None]
        if batch:
            out += batch
            last = time.monotonic()
    return out


# -- the group scenario with each librdkafka assignor -----------------------------------


@pytest.mark.parametrize("assignor", ["range", "roundrobin", "cooperative-sticky"])
def test_three_members_close_one_kill_one(fast_broker, tmp_path, assignor):
    topic = unique_topic(f"grp-{assignor}")
    create_topic(fast_broker.bootstrap, topic)
    group = f"group-{topic}"
    run_membership_scenario(
        lambda name: python_member("confluent", fast_broker.bootstrap, group, topic, tmp_path, name, assignor),
        fast_broker.bootstrap, topic)


# -- committed offsets ------------------------------------------------------------------


def test_commits_with_metadata_survive_a_crash(broker_factory):
    b = broker_factory(FAST)
    topic = unique_topic("durable")
    create_topic(b.bootstrap, topic, 3)
    produce(b.bootstrap, topic, 300, partitions=3)
    group = f"g-{topic}"
    c = consumer(b.bootstrap, group)
    c.subscribe([topic])
    consume(c, 300)
    wanted = [TopicPartition(topic, 0, 40, metadata="zero", leader_epoch=0),
              TopicPartition(topic, 1, 50, metadata="one"), TopicPartition(topic, 2, 60)]
    c.commit(offsets=wanted, asynchronous=False)
    c.close()

    b.kill()  # kill -9: nothing but what is in __consumer_offsets survives
    b.start()

    c = consumer(b.bootstrap, group)
    committed = {tp.partition: tp for tp in c.committed([TopicPartition(topic, p) for p in range(3)], timeout=15)}
    assert {p: committed[p].offset for p in range(3)} == {0: 40, 1: 50, 2: 60}
    assert (committed[0].metadata, committed[1].metadata) == ("zero", "one")
    assert committed[0].leader_epoch == 0
    c.subscribe([topic])
    resumed = consume(c, 60 + 50 + 40)
    c.close()
    assert min(m.offset() for m in resumed if m.partition() == 0) == 40
    assert min(m.offset() for m in resumed if m.partition() == 1) == 50
    assert min(m.offset() for m in resumed if m.partition() == 2) == 60

    # The group itself came back too: Empty, with its consumer protocol and offsets.
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    listing = admin.list_consumer_groups().result()
    states = {g.group_id: g.state for g in listing.valid}
    assert states.get(group) == ConsumerGroupState.EMPTY


def test_restart_serves_at_once_and_never_answers_offsets_from_a_partial_load(broker_factory):
    """__consumer_offsets is replayed in the background after a restart (Kafka's
    COORDINATOR_LOAD_IN_PROGRESS meanwhile): the broker listens before the load is over,
    and an OffsetFetch gets either that error or the committed offsets, never "none"."""
    b = broker_factory(FAST)
    topic = unique_topic("load")
    partitions, rounds = 50, 400  # 20,000 offset records: dozens of load slices
    create_topic(b.bootstrap, topic, partitions)
    group = f"g-{topic}"
    c = consumer(b.bootstrap, group)
    for r in range(1, rounds + 1):
        c.commit(offsets=[TopicPartition(topic, p, r + p) for p in range(partitions)], asynchronous=False)
    c.close()
    b.stop()
    b.start()

    request = {"group_id": group, "topics": [{"name": topic, "partition_indexes": list(range(partitions))}],
               "require_stable": False}
    answers = []
    raw = RawClient(b.bootstrap)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = raw.call(9, 7, request)
            answers.append(response["error_code"])
            if response["error_code"] == 0:
                offsets = {p["partition_index"]: p["committed_offset"] for t in response["topics"]
                           for p in t["partitions"]}
                break
            assert response["error_code"] == code("COORDINATOR_LOAD_IN_PROGRESS"), response
    finally:
        raw.close()
    assert answers[-1] == 0, f"the coordinator did not load within 30 s: {answers[-5:]}"
    assert offsets == {p: rounds + p for p in range(partitions)}
    log_text = b.log_text()
    assert log_text.rindex("listening on") < log_text.rindex("group coordinator loaded"), \
        "the broker waited for the replay before listening"


def test_group_resumes_after_broker_restart(broker_factory):
    """A member keeps its membership across a broker restart (the stored generation and
    assignment come back) and goes on without a record lost or repeated."""
    b = broker_factory(FAST)
    topic = unique_topic("restart")
    create_topic(b.bootstrap, topic, 2)
    produce(b.bootstrap, topic, 100, partitions=2)
    group = f"g-{topic}"
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    c = consumer(b.bootstrap, group)
    c.subscribe([topic])
    first = consume(c, 100)
    c.commit(asynchronous=False)
    [member] = admin.describe_consumer_groups([group])[group].result(10).members
    b.restart()
    produce(b.bootstrap, topic, 100, start=100, partitions=2)
    second = drain(c, idle=3.0)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})  # librdkafka's admin handle may not reconnect
    described = admin.describe_consumer_groups([group])[group].result(10)
    c.close()
    assert len(first) == 100
    assert sorted(m.value() for m in second) == sorted(b"record-%d" % i for i in range(100, 200))
    assert [m.member_id for m in described.members] == [member.member_id]


def test_auto_offset_reset_earliest_and_latest(fast_broker):
    topic = unique_topic("reset")
    create_topic(fast_broker.bootstrap, topic, 1)
    produce(fast_broker.bootstrap, topic, 50, partitions=1)
    early = consumer(fast_broker.bootstrap, f"early-{topic}", auto_offset_reset="earliest")
    late = consumer(fast_broker.bootstrap, f"late-{topic}", auto_offset_reset="latest")
    for c in (early, late):
        c.subscribe([topic])
    got_early = consume(early, 50)
    # `latest` resolves its position some time after the assignment: produce one record at a
    # time until it sees one; it must never see any of the first 50.
    got_late = []
    produced = 50

    def late_sees_new_records():
        nonlocal produced
        produce(fast_broker.bootstrap, topic, 1, start=produced, partitions=1)
        produced += 1
        got_late.extend(m for m in late.consume(100, 0.3) if m.error() is None)
        return got_late

    wait_until(late_sees_new_records, 30, "the `latest` consumer receives new records", interval=0)
    produce(fast_broker.bootstrap, topic, 10, start=produced, partitions=1)
    produced += 10
    got_late += drain(late)
    got_early += drain(early)
    early.close()
    late.close()
    first = got_late[0].offset()
    assert first >= 50
    assert [m.offset() for m in got_late] == list(range(first, produced))
    assert [m.value() for m in got_early] == [b"record-%d" % i for i in range(produced)]


def test_seek_then_commit_and_resume(fast_broker):
    topic = unique_topic("seek")
    create_topic(fast_broker.bootstrap, topic, 1)
    produce(fast_broker.bootstrap, topic, 100, partitions=1)
    group = f"g-{topic}"
    c = consumer(fast_broker.bootstrap, group)
    c.subscribe([topic])
    consume(c, 100)
    c.seek(TopicPartition(topic, 0, 30))
    again = consume(c, 70)
    assert again[0].offset() == 30
    c.commit(offsets=[TopicPartition(topic, 0, 75)], asynchronous=False)
    c.close()
    c2 = consumer(fast_broker.bootstrap, group)
    c2.subscribe([topic])
    resumed = consume(c2, 25)
    c2.close()
    assert [m.offset() for m in resumed] == list(range(75, 100))


def test_reset_offsets_by_timestamp(fast_broker):
    """What `kafka-consumer-groups --reset-offsets --to-datetime` does: look up offsets by
    timestamp, store them for the (empty) group, and the group resumes there."""
    topic = unique_topic("bytime")
    create_topic(fast_broker.bootstrap, topic, 1)
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": fast_broker.bootstrap})
    base = 1_700_000_000_000
    for i in range(100):
        p.produce(topic, value=b"%d" % i, partition=0, timestamp=base + i * 1000)
    p.flush(10)
    group = f"g-{topic}"
    lookup = consumer(fast_broker.bootstrap, group)
    found = lookup.offsets_for_times([TopicPartition(topic, 0, base + 42_500)], timeout=10)
    lookup.close()
    assert found[0].offset == 43

    admin = AdminClient({"bootstrap.servers": fast_broker.bootstrap})
    reset = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, found[0].offset)])
    admin.alter_consumer_group_offsets([reset])[group].result(10)
    listed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    assert [(tp.topic, tp.partition, tp.offset) for tp in listed.topic_partitions] == [(topic, 0, 43)]

    c = consumer(fast_broker.bootstrap, group)
    c.subscribe([topic])
    got = consume(c, 57)
    c.close()
    assert [int(m.value()) for m in got] == list(range(43, 100))


# -- admin: list, describe, delete -------------------------------------------------------


def test_list_describe_and_delete_groups(fast_broker):
    topic = unique_topic("admin")
    create_topic(fast_broker.bootstrap, topic, 2)
    produce(fast_broker.bootstrap, topic, 20, partitions=2)
    group = f"g-{topic}"
    admin = AdminClient({"bootstrap.servers": fast_broker.bootstrap})
    c = consumer(fast_broker.bootstrap, group, client_id="described-client")
    c.subscribe([topic])
    consume(c, 20)
    c.commit(asynchronous=False)

    described = admin.describe_consumer_groups([group])[group].result(10)
    assert described.state == ConsumerGroupState.STABLE
    assert described.partition_assignor == "range"
    [member] = described.members
    assert member.client_id == "described-client" and member.host.endswith("127.0.0.1")
    assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1]
    assert described.coordinator.port == fast_broker.port

    listed = {g.group_id: g for g in admin.list_consumer_groups().result(10).valid}
    assert listed[group].state == ConsumerGroupState.STABLE and not listed[group].is_simple_consumer_group
    stable_only = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(10).valid
    assert group in {g.group_id for g in stable_only}

    with pytest.raises(KafkaException) as refused:
        admin.delete_consumer_groups([group])[group].result(10)
    assert "NON_EMPTY_GROUP" in str(refused.value)

    # OffsetDelete (confluent-kafka's Python admin has no call for it: send the request itself).
    def offset_delete():
        raw = RawClient(fast_broker.bootstrap)
        try:
            return raw.call(47, 0, {"group_id": group, "topics": [{"name": topic, "partitions": [
                {"partition_index": 0}]}]})
        finally:
            raw.close()

    refused_delete = offset_delete()  # the group still subscribes to the topic
    assert refused_delete["topics"][0]["partitions"][0]["error_code"] == code("GROUP_SUBSCRIBED_TO_TOPIC")

    c.close()
    wait_until(lambda: admin.describe_consumer_groups([group])[group].result(10).state == ConsumerGroupState.EMPTY,
               15, "group empty after its only member left")
    deleted = offset_delete()
    assert deleted["error_code"] == 0 and deleted["topics"][0]["partitions"][0]["error_code"] == 0
    left = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    assert [(tp.partition, tp.offset) for tp in left.topic_partitions] == [(1, 10)]

    admin.delete_consumer_groups([group])[group].result(10)
    assert group not in {g.group_id for g in admin.list_consumer_groups().result(10).valid}
    gone = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    assert all(tp.offset < 0 for tp in gone.topic_partitions)


# -- timing: Kafka's default initial rebalance delay, static membership ---------------------


def test_default_initial_delay_gathers_members_into_one_generation(broker_factory):
    """With group.initial.rebalance.delay.ms=3000 (Kafka's default) members that start
    together are assigned once, in the first generation, without revocations."""
    b = broker_factory()
    topic = unique_topic("delay")
    create_topic(b.bootstrap, topic)
    events = {i: [] for i in range(3)}

    def tracker(i):
        return {"on_assign": lambda c, parts: events[i].append(("assign", len(parts))),
                "on_revoke": lambda c, parts: events[i].append(("revoke", len(parts)))}

    consumers = [consumer(b.bootstrap, f"g-{topic}") for _ in range(3)]
    for i, c in enumerate(consumers):
        c.subscribe([topic], **tracker(i))
    poll_until(consumers, lambda: all(len(c.assignment()) == 2 for c in consumers), 30,
               "three members with two partitions each")
    for c in consumers:
        c.close()
    for i in range(3):
        assigned = [e for e in events[i] if e[0] == "assign"]
        assert assigned == [("assign", 2)], events[i]


def test_static_member_restarts_without_rebalance(fast_broker):
    """group.instance.id (KIP-345): a static member that restarts within its session gets
    its old assignment back and the other member is not disturbed."""
    topic = unique_topic("static")
    create_topic(fast_broker.bootstrap, topic, 4)
    group = f"g-{topic}"
    admin = AdminClient({"bootstrap.servers": fast_broker.bootstrap})
    revokes = []
    steady = consumer(fast_broker.bootstrap, group, group_instance_id="steady", session_timeout_ms=20000)
    steady.subscribe([topic], on_revoke=lambda c, parts: revokes.append(len(parts)))
    bouncer = consumer(fast_broker.bootstrap, group, group_instance_id="bouncer", session_timeout_ms=20000)
    bouncer.subscribe([topic])
    poll_until([steady, bouncer], lambda: len(steady.assignment()) == 2 and len(bouncer.assignment()) == 2,
               30, "2 + 2 partitions")
    before = sorted(tp.partition for tp in bouncer.assignment())
    revokes.clear()
    bouncer.close()  # a static member does not send LeaveGroup
    described = admin.describe_consumer_groups([group])[group].result(10)
    assert {m.group_instance_id for m in described.members} == {"steady", "bouncer"}

    again = consumer(fast_broker.bootstrap, group, group_instance_id="bouncer", session_timeout_ms=20000)
    again.subscribe([topic])
    poll_until([steady, again], lambda: len(again.assignment()) == 2, 30, "restarted static member assigned")
    assert sorted(tp.partition for tp in again.assignment()) == before
    assert revokes == []  # the other member never had to give anything up
    for c in (steady, again):
        c.close()
