"""Feature versions in ApiVersions (KIP-584), on our broker and on Apache Kafka 4.1."""

from __future__ import annotations

import pytest

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
