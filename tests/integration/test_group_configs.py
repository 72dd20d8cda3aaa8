"""Per-group configs (KIP-848: kafka-configs --entity-type groups): DescribeConfigs and
(Incremental)AlterConfigs on GROUP resources, their checks against the broker's bounds, their
use by the consumer group coordinator, and a restart. Every scenario but the restart runs on our
broker and on Apache Kafka 4.1 with the same expectations (the kip848_broker fixture: heartbeat
interval 500 ms, session timeout 4 s, both at their lower bound)."""

from __future__ import annotations

import pytest

from broker.protocol.errors import code
from tests.conftest import KIP848_CONFIGS, wait_until
from tests.integration.test_consumer_protocol import connect, describe, group_name, heartbeat, join
from tests.kafka_wire import RawClient

GROUP = 32  # the GROUP config resource type
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
DEFAULT, GROUP_CONFIG = 5, 8  # config sources
INT, STRING = 3, 2
DEFAULTS = {  # with KIP848_CONFIGS, in the order Kafka lists them
    "consumer.session.timeout.ms": ("4000", INT), "streams.heartbeat.interval.ms": ("5000", INT),
    "share.auto.offset.reset": ("latest", STRING), "share.record.lock.duration.ms": ("30000", INT),
    "consumer.heartbeat.interval.ms": ("500", INT), "share.session.timeout.ms": ("45000", INT),
    "share.isolation.level": ("read_uncommitted", STRING), "streams.session.timeout.ms": ("45000", INT),
    "share.heartbeat.interval.ms": ("5000", INT), "streams.num.standby.replicas": ("0", INT),
}


@pytest.fixture
def client(kip848_broker):
    c = connect(kip848_broker.bootstrap)
    yield c
    c.close()


def describe_configs(client: RawClient, group: str, keys: list[str] | None = None) -> dict:
    answer = client.call(32, 4, {"resources": [{"resource_type": GROUP, "resource_name": group,
                                                "configuration_keys": keys}],
                                 "include_synonyms": True, "include_documentation": False})
    return answer["results"][0]


def configs_of(client: RawClient, group: str) -> list[tuple]:
    result = describe_configs(client, group)
    assert result["error_code"] == 0, result
    return [(c["name"], c["value"], c["config_source"], c["config_type"], c["read_only"], c["is_sensitive"],
             [(s["name"], s["value"], s["source"]) for s in c["synonyms"]]) for c in result["configs"]]


def expected(overrides: dict[str, str]) -> list[tuple]:
    out = []
    for name, (value, config_type) in DEFAULTS.items():
        value, source = (overrides[name], GROUP_CONFIG) if name in overrides else (value, DEFAULT)
        out.append((name, value, source, config_type, False, False, [(name, value, source)]))
    return out


def alter(client: RawClient, group: str, changes: list[tuple], validate_only: bool = False) -> tuple:
    answer = client.call(44, 1, {"resources": [{"resource_type": GROUP, "resource_name": group, "configs": [
        {"name": n, "config_operation": op, "value": v} for n, op, v in changes]}], "validate_only": validate_only})
    (result,) = answer["responses"]
    return result["error_code"], result["error_message"]


def settled(client: RawClient, group: str, overrides: dict[str, str]) -> None:
    """Kafka applies a config change through its metadata log: wait until it describes it."""
    wait_until(lambda: configs_of(client, group) == expected(overrides), 15, f"{group}'s configs {overrides}")


def test_a_group_without_overrides_has_the_brokers_configs(client):
    assert configs_of(client, group_name()) == expected({})
    keys = describe_configs(client, group_name(), ["consumer.session.timeout.ms", "no.such.config"])
    assert [(c["name"], c["value"]) for c in keys["configs"]] == [("consumer.session.timeout.ms", "4000")]
    empty = describe_configs(client, "")
    assert (empty["error_code"], empty["error_message"]) == (code("INVALID_REQUEST"), "Group name must not be empty")


def test_overrides_are_set_validated_and_deleted(client):
    group = group_name()
    assert alter(client, group, [("consumer.session.timeout.ms", SET, "10000"),
                                 ("consumer.heartbeat.interval.ms", SET, "1000")]) == (0, None)
    settled(client, group, {"consumer.session.timeout.ms": "10000", "consumer.heartbeat.interval.ms": "1000"})
    assert alter(client, group, [("consumer.heartbeat.interval.ms", DELETE, None)]) == (0, None)
    settled(client, group, {"consumer.session.timeout.ms": "10000"})
    # validate_only checks and changes nothing.
    assert alter(client, group, [("consumer.session.timeout.ms", SET, "20000")], validate_only=True) == (0, None)
    assert alter(client, group, [("consumer.session.timeout.ms", SET, "1")], validate_only=True)[0] != 0
    assert configs_of(client, group) == expected({"consumer.session.timeout.ms": "10000"})
    # AlterConfigs (the legacy API) replaces all of a group's overrides.
    legacy = client.call(33, 2, {"resources": [{"resource_type": GROUP, "resource_name": group, "configs": [
        {"name": "consumer.heartbeat.interval.ms", "value": "800"}]}], "validate_only": False})
    assert legacy["responses"][0]["error_code"] == 0, legacy
    settled(client, group, {"consumer.heartbeat.interval.ms": "800"})
    assert alter(client, group, [("consumer.heartbeat.interval.ms", DELETE, None)]) == (0, None)
    settled(client, group, {})


INVALID = code("INVALID_CONFIG")
REFUSED = [  # (changes, error, Kafka's message)
    ([("consumer.session.timeout.ms", SET, "1000")], INVALID,
     "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"),
    ([("consumer.session.timeout.ms", SET, "100000")], INVALID,
     "consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms"),
    ([("consumer.heartbeat.interval.ms", SET, "100")], INVALID,
     "consumer.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms"),
    ([("consumer.heartbeat.interval.ms", SET, "20000")], INVALID,
     "consumer.heartbeat.interval.ms must be less than or equal to group.consumer.max.heartbeat.interval.ms"),
    # Checked with the broker's value of what the change leaves unset (a 4 s session timeout).
    ([("consumer.heartbeat.interval.ms", SET, "4500")], INVALID,
     "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"),
    ([("consumer.session.timeout.ms", SET, "abc")], INVALID,
     "Invalid value abc for configuration consumer.session.timeout.ms: Not a number of type INT"),
    ([("consumer.session.timeout.ms", SET, "99999999999")], INVALID,
     "Invalid value 99999999999 for configuration consumer.session.timeout.ms: Not a number of type INT"),
    ([("consumer.session.timeout.ms", SET, "0")], INVALID,
     "Invalid value 0 for configuration consumer.session.timeout.ms: Value must be at least 1"),
    ([("group.consumer.session.timeout.ms", SET, "5000")], INVALID,
     "Unknown group config name: group.consumer.session.timeout.ms"),
    ([("consumer.session.timeout.ms", APPEND, "5000")], INVALID,
     "Can't APPEND to key consumer.session.timeout.ms because its type is not LIST."),
    ([("consumer.session.timeout.ms", SUBTRACT, "5000")], INVALID,
     "Can't SUBTRACT to key consumer.session.timeout.ms because its type is not LIST."),
    ([("consumer.session.timeout.ms", SET, None)], code("INVALID_REQUEST"),
     "Null value not supported for : consumer.session.timeout.ms"),
    ([("consumer.session.timeout.ms", SET, "5000"), ("consumer.session.timeout.ms", SET, "6000")],
     code("INVALID_REQUEST"), "Error due to duplicate config keys"),
    ([("share.isolation.level", SET, "READ_COMMITTED")], INVALID,
     "Invalid value READ_COMMITTED for configuration share.isolation.level: String must be one of: "
     "read_committed, read_uncommitted"),
    ([("share.auto.offset.reset", SET, "by_duration:-PT1H")], INVALID,
     "Invalid value by_duration:-PT1H for configuration share.auto.offset.reset: Invalid value `by_duration:-PT1H` "
     "for configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format "
     "'by_duration:<PnDTnHnMn.nS>'."),
    ([("share.record.lock.duration.ms", SET, "999999")], INVALID,
     "share.record.lock.duration.ms must be less than or equal to group.share.max.record.lock.duration.ms"),
    ([("streams.num.standby.replicas", SET, "9")], INVALID,
     "streams.num.standby.replicas must be less than or equal to group.streams.max.standby.replicas"),
]


@pytest.mark.parametrize("changes,error,message", REFUSED, ids=[m[:60] for _, _, m in REFUSED])
def test_a_refused_change_gets_kafkas_error(client, changes, error, message):
    group = group_name()
    assert alter(client, group, changes) == (error, message)
    assert configs_of(client, group) == expected({})


def test_share_and_streams_configs_are_kept(client):
    group = group_name()
    overrides = {"share.auto.offset.reset": "by_duration:P1DT2H", "share.isolation.level": "read_committed",
                 "share.session.timeout.ms": "50000", "streams.num.standby.replicas": "1"}
    assert alter(client, group, [(n, SET, v) for n, v in overrides.items()]) == (0, None)
    settled(client, group, overrides)
    answer = client.call(44, 1, {"resources": [{"resource_type": GROUP, "resource_name": "", "configs": [
        {"name": "consumer.session.timeout.ms", "config_operation": SET, "value": "5000"}]}], "validate_only": False})
    assert (answer["responses"][0]["error_code"], answer["responses"][0]["error_message"]) == (
        code("INVALID_REQUEST"), "Default group resources are not allowed.")


def test_list_config_resources_names_the_groups_with_overrides(client):
    """ListConfigResources v1 (what kafka-configs --describe --entity-type groups asks first)."""
    configured, plain = group_name(), group_name()
    assert alter(client, configured, [("consumer.session.timeout.ms", SET, "5000")]) == (0, None)
    settled(client, configured, {"consumer.session.timeout.ms": "5000"})
    join(client, plain, ["t"])  # a group, but without overrides: not listed

    def listed(types: list[int], version: int = 1) -> tuple[int, set]:
        answer = client.call(74, version, {"resource_types": types})
        return answer["error_code"], {(r["resource_type"], r["resource_name"]) for r in answer["config_resources"]}
    error, groups = listed([GROUP])
    assert error == 0 and (GROUP, configured) in groups and (GROUP, plain) not in groups
    assert {t for t, _ in groups} == {GROUP}
    assert listed([4]) == (0, {(4, "1")})
    error, everything = listed([])
    assert error == 0 and {(4, "1"), (GROUP, configured), (2, "__consumer_offsets")} <= everything
    assert listed([3]) == (code("UNSUPPORTED_VERSION"), set())
    assert listed([], version=0) == (0, set())  # v0: client metrics resources, none here


def test_the_coordinator_uses_a_groups_heartbeat_interval_and_session_timeout(client):
    """A group's consumer.heartbeat.interval.ms is what its members are told; its
    consumer.session.timeout.ms (60 s) keeps a silent member that the broker's (4 s) would have
    removed: the silent member of a group without overrides is gone, that of this one is not."""
    patient, default = group_name(), group_name()
    overrides = {"consumer.heartbeat.interval.ms": "1000", "consumer.session.timeout.ms": "60000"}
    assert alter(client, patient, [(n, SET, v) for n, v in overrides.items()]) == (0, None)
    settled(client, patient, overrides)

    members = {}
    for group in (patient, default):
        silent, active = join(client, group, ["t"]), join(client, group, ["t"])
        members[group] = (silent, active)
    assert [members[patient][0]["heartbeat_interval"], members[default][0]["heartbeat_interval"]] == [1000, 500]

    def default_group_lost_its_silent_member():
        for group, (_, active) in members.items():
            answer = heartbeat(client, group, active["member_id"], active["member_epoch"], topic_partitions=[])
            assert answer["error_code"] == 0, answer
        return [m["member_id"] for m in describe(client, default)["members"]] == [members[default][1]["member_id"]]

    wait_until(default_group_lost_its_silent_member, 30, "the silent member of the default group removed", interval=0.4)
    assert sorted(m["member_id"] for m in describe(client, patient)["members"]) == sorted(
        m["member_id"] for m in members[patient])


def test_group_configs_survive_a_restart(broker_factory):
    broker = broker_factory(dict(KIP848_CONFIGS))
    client = connect(broker.bootstrap)
    group = group_name()
    assert alter(client, group, [("consumer.heartbeat.interval.ms", SET, "2000")]) == (0, None)
    client.close()
    broker.stop()
    broker.start()
    client = connect(broker.bootstrap)
    try:
        assert configs_of(client, group) == expected({"consumer.heartbeat.interval.ms": "2000"})
        assert join(client, group, ["t"])["heartbeat_interval"] == 2000
    finally:
        client.close()


def test_a_groups_configs_are_among_its_authorized_operations(client):
    """Kafka 4.1 names DESCRIBE_CONFIGS and ALTER_CONFIGS among a group's operations (without an
    authorizer every supported operation is allowed)."""
    answer = client.call(15, 5, {"groups": [group_name()], "include_authorized_operations": True})
    operations = {3: "READ", 6: "DELETE", 8: "DESCRIBE", 10: "DESCRIBE_CONFIGS", 11: "ALTER_CONFIGS"}
    assert answer["groups"][0]["authorized_operations"] == sum(1 << bit for bit in operations)
