"""Feature versions in ApiVersions (KIP-584), on our broker and on Apache Kafka 4.1."""

from __future__ import annotations

import pytest

from broker.protocol.errors import code
from tests.conftest import unique_topic
from tests.kafka_wire import RawClient

API_VERSIONS = 18
# The levels Apache Kafka 4.1 finalizes for the features that change client protocols.
KAFKA_LEVELS = {"group.version": 1, "transaction.version": 2}


def features(bootstrap: str, version: int) -> dict:
    answer = RawClient(bootstrap).call(API_VERSIONS, version, {"client_software_name": "features-test",
                                                                "client_software_version": "1"})
    assert answer["error_code"] == 0
    return answer


@pytest.mark.parametrize("version", [3, 4])
def test_finalized_features_lie_within_the_supported_ranges(any_broker, version):
    answer = features(any_broker.bootstrap, version)
    supported = {f["name"]: (f["min_version"], f["max_version"]) for f in answer["supported_features"]}
    if version < 4:  # before v4 a range starting at 0 is left out
        assert all(low > 0 for low, _ in supported.values()), supported
    for f in answer["finalized_features"]:
        assert f["min_version_level"] == f["max_version_level"] >= 1, f
        if version >= 4:
            low, high = supported[f["name"]]
            assert low <= f["max_version_level"] <= high, (f, supported)
    assert (answer["finalized_features_epoch"] >= 0) == bool(answer["finalized_features"])


def test_what_we_finalize_is_what_kafka_finalizes(shared_broker):
    """A feature we finalize runs at Kafka 4.1's level: the clients' protocol choice is the
    same against both brokers."""
    ours = {f["name"]: f["max_version_level"] for f in features(shared_broker.bootstrap, 4)["finalized_features"]}
    for name, level in ours.items():
        assert KAFKA_LEVELS.get(name) == level, f"{name} finalized at {level}, Kafka 4.1 at {KAFKA_LEVELS.get(name)}"


# -- UpdateFeatures (kafka-features upgrade / downgrade) -----------------------------------------

UPDATE_FEATURES = 57
INVALID_UPDATE_VERSION = 95
HEAD = "The update failed for all features since the following feature had an error: Invalid update version"
# (feature, level, upgrade type) -> the end of Kafka 4.1.1's message, or None when it is accepted
# (validate_only: nothing changes).
UPDATE_CASES = [
    (("group.version", 1, 1), None),
    (("group.version", 0, 2), None),
    (("transaction.version", 1, 3), None),
    (("group.version", 0, 1), "0 for feature group.version. Can't downgrade the version of this feature without "
                              "setting the upgrade type to either safe or unsafe downgrade."),
    (("transaction.version", 3, 1), "3 for feature transaction.version. Local controller {node} only supports "
                                    "versions 0-2"),
    (("foo.version", 1, 1), "1 for feature foo.version. Local controller {node} does not support this feature."),
    (("group.version", -1, 1), "-1 for feature group.version. A feature version cannot be less than 0."),
    (("group.version", 0, 7), "0 for feature group.version. The controller does not support the given upgrade type."),
]


def _update(client: RawClient, version: int, updates: list[tuple[str, int, int]], validate_only: bool) -> dict:
    return client.call(UPDATE_FEATURES, version, {
        "timeout": 10_000, "validate_only": validate_only,
        "feature_updates": [{"feature": f, "max_version_level": level, "upgrade_type": kind,
                             "allow_downgrade": kind != 1} for f, level, kind in updates]})


def _finalized(bootstrap: str) -> dict:
    return {f["name"]: f["max_version_level"] for f in features(bootstrap, 4)["finalized_features"]}


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("update,refusal", UPDATE_CASES, ids=[f"{u[0]}={u[1]}/type{u[2]}" for u, _ in UPDATE_CASES])
def test_update_features_validates_as_kafka_does(any_broker, version, update, refusal):
    client = RawClient(any_broker.bootstrap)
    before = _finalized(any_broker.bootstrap)
    answer = _update(client, version, [update], validate_only=True)
    if refusal is None:
        assert (answer["error_code"], answer["error_message"]) == (0, None)
        if version < 2:
            assert answer["results"] == [{"feature": update[0], "error_code": 0, "error_message": "NONE"}]
    else:
        assert answer["error_code"] == INVALID_UPDATE_VERSION
        assert answer["error_message"] == f"{HEAD} {refusal.format(node=1)}"
        assert answer.get("results", []) == []
    assert _finalized(any_broker.bootstrap) == before  # validate_only, or refused: nothing changed


def test_kafka_features_downgrades_and_upgrades_group_and_transaction_versions(any_broker):
    """kafka-features (FeatureCommand) on both brokers: describe, a safe downgrade, back up."""
    from tests.interop.kafka_tools import run_tools

    tool, bs = "org.apache.kafka.tools.FeatureCommand", any_broker.bootstrap
    try:
        downgraded, described, noop = run_tools([
            [tool, "--bootstrap-server", bs, "downgrade", "--feature", "group.version=0",
             "--feature", "transaction.version=1"],
            [tool, "--bootstrap-server", bs, "describe"],
            [tool, "--bootstrap-server", bs, "upgrade", "--feature", "transaction.version=1"],
        ])
        # Without group.version 1 the consumer group protocol's APIs answer UNSUPPORTED_VERSION.
        heartbeat = _join_consumer_group(RawClient(bs), unique_topic("gv0"))
    finally:
        restored = run_tools([[tool, "--bootstrap-server", bs, "upgrade", "--feature", "group.version=1",
                               "--feature", "transaction.version=2"]])
    assert heartbeat["error_code"] == code("UNSUPPORTED_VERSION"), heartbeat
    assert _join_consumer_group(RawClient(bs), unique_topic("gv1"))["error_code"] != code("UNSUPPORTED_VERSION")
    assert downgraded.returncode == 0, downgraded.stdout + downgraded.stderr
    assert sorted(downgraded.stdout.split("\n"))[-2:] == [
        "group.version was downgraded to 0.", "transaction.version was downgraded to 1."], downgraded.stdout
    rows = {line.split("\t")[0]: line.split("\t")[1:4] for line in described.stdout.splitlines()}
    assert rows["Feature: group.version"] == ["SupportedMinVersion: 0", "SupportedMaxVersion: 1",
                                              "FinalizedVersionLevel: 0"], described.stdout
    assert rows["Feature: transaction.version"] == ["SupportedMinVersion: 0", "SupportedMaxVersion: 2",
                                                    "FinalizedVersionLevel: 1"], described.stdout
    assert noop.returncode == 0, noop.stdout + noop.stderr
    assert restored[0].returncode == 0, restored[0].stdout + restored[0].stderr
    assert {k: v for k, v in _finalized(bs).items() if k in KAFKA_LEVELS} == KAFKA_LEVELS


def _join_consumer_group(client: RawClient, group: str) -> dict:
    return client.call(68, 0, {"group_id": group, "member_id": "", "member_epoch": 0, "instance_id": None,
                               "rack_id": None, "rebalance_timeout": 30_000, "subscribed_topic_names": ["t"],
                               "subscribed_topic_regex": None, "server_assignor": None, "topic_partitions": []})


def test_finalized_levels_survive_a_restart(broker_factory):
    broker = broker_factory()
    client = RawClient(broker.bootstrap)
    assert _update(client, 1, [("group.version", 0, 2)], validate_only=False)["error_code"] == 0
    epoch = features(broker.bootstrap, 4)["finalized_features_epoch"]
    client.close()
    broker.restart()
    assert "group.version" not in _finalized(broker.bootstrap)
    assert features(broker.bootstrap, 4)["finalized_features_epoch"] == epoch
