"""Every API we implement is advertised up to the version Apache Kafka 4.1 advertises, so a
Kafka 4.1 client uses the same request versions with both brokers."""

from __future__ import annotations

from tests.kafka_wire import RawClient

API_VERSIONS = 18
# Versions below Kafka's that we do not serve, and why.
OLDER_NOT_SERVED = {
    0: "Produce v0-v2 (message format v0/v1 records, removed by KIP-896): Kafka 4 still lists them; "
       "we serve v3 and up",
}


def advertised(bootstrap: str) -> dict[int, tuple[int, int]]:
    answer = RawClient(bootstrap).call(API_VERSIONS, 4, {"client_software_name": "versions-test",
                                                          "client_software_version": "1"})
    return {a["api_key"]: (a["min_version"], a["max_version"]) for a in answer["api_keys"]}


def test_our_apis_go_as_far_as_kafkas(shared_broker, apache_kafka):
    ours, kafkas = advertised(shared_broker.bootstrap), advertised(apache_kafka.bootstrap)
    assert set(ours) <= set(kafkas), f"APIs Kafka 4.1 does not have: {sorted(set(ours) - set(kafkas))}"
    behind = {key: (ours[key], kafkas[key]) for key in ours if ours[key][1] != kafkas[key][1]}
    assert not behind, f"max versions differ from Kafka 4.1's (ours, Kafka's): {behind}"
    older = {key for key in ours if ours[key][0] > kafkas[key][0]}
    assert older <= set(OLDER_NOT_SERVED), {key: (ours[key], kafkas[key]) for key in older - set(OLDER_NOT_SERVED)}
