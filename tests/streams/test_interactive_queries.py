"""Interactive queries across instances: two word-count processes, each with an
`application.server` endpoint; every word's count is asked of both, and each answers every
word, from its own store or by asking the instance that hosts the word (found through the
group's assignment and Kafka's key partitioning). Also on Apache Kafka."""

from __future__ import annotations

import random

import pytest
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams import KafkaStreams, Serdes, StreamsBuilder, StreamsConfigError, TimeWindows
from streams.options import Consumed, Grouped
from streams.partitioner import partition_for_key
from streams.query_server import create_app
from tests.conftest import free_port, unique_topic, wait_until
from tests.streams.kafka_topics import create_topics
from tests.streams.word_count_app import WordCountApp, produce_lines, start_all, wait_for_counts


@pytest.fixture(params=["schemabus", pytest.param("apache-kafka", marks=pytest.mark.slow)])
def streams_broker(request):
    return request.getfixturevalue("shared_broker" if request.param == "schemabus" else "apache_kafka")


def test_key_partitions_agree_with_librdkafkas_murmur2(shared_broker):
    topic = unique_topic("keys")
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    admin.create_topics([NewTopic(topic, 7)])[topic].result(10)
    producer = Producer({"bootstrap.servers": shared_broker.bootstrap, "partitioner": "murmur2_random"})
    rng = random.Random(5)
    keys = [rng.randbytes(rng.randint(1, 40)) for _ in range(300)] + [b"word1", "wörd".encode()]
    landed: dict[bytes, int] = {}
    for key in keys:
        producer.produce(topic, b"v", key=key, on_delivery=lambda err, msg: landed.__setitem__(msg.key(), msg.partition()))
    assert producer.flush(30) == 0
    assert {k: partition_for_key(k, 7) for k in keys} == landed


def query(endpoint: str, path: str) -> requests.Response:
    return requests.get(f"http://{endpoint}{path}", timeout=15)


def test_every_instance_answers_every_key(streams_broker, tmp_path):
    bootstrap = streams_broker.bootstrap
    source, sink, app_id = unique_topic("lines"), unique_topic("counts"), unique_topic("wordcount")
    create_topics(bootstrap, source, sink)
    endpoints = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    apps = [WordCountApp(bootstrap, source, sink, app_id, tmp_path / f"state{i}", commit_interval_ms=300,
                         application_server=endpoint) for i, endpoint in enumerate(endpoints)]
    try:
        start_all(apps)
        expected = produce_lines(bootstrap, source, 2000, seed=11)
        wait_for_counts(bootstrap, sink, expected, 90, apps[0])
        repartition = f"{app_id}-counts-store-repartition"

        def settled():
            hosts = query(endpoints[0], "/v1/metadata").json()
            owned = [{p["partition"] for p in h["partitions"] if p["topic"] == repartition} for h in hosts]
            return hosts if len(hosts) == 2 and all(owned) and set().union(*owned) == {0, 1, 2} else None

        hosts = wait_until(settled, 60, "both instances in the metadata, sharing the counting tasks")
        assert {f"{h['host']}:{h['port']}" for h in hosts} == set(endpoints)
        assert all("counts-store" in h["stores"] for h in hosts)

        answered_by: dict[str, set] = {endpoint: set() for endpoint in endpoints}
        for asked in endpoints:
            for word, count in expected.items():
                answer = query(asked, f"/v1/stores/counts-store/keys/{word}")
                assert answer.status_code == 200, (asked, word, answer.text)
                body = answer.json()
                assert (body["key"], body["value"]) == (word, count)
                assert body["partition"] == partition_for_key(word.encode(), 3)
                answered_by[asked].add(body["host"])
        # Each instance answered some words itself and passed the others on.
        assert all(hosts_seen == set(endpoints) for hosts_seen in answered_by.values()), answered_by

        missing = query(endpoints[1], "/v1/stores/counts-store/keys/never-said")
        assert missing.status_code == 404 and "not found" in missing.json()["message"]
        unknown = query(endpoints[0], "/v1/stores/no-such-store/keys/the")
        assert (unknown.status_code, unknown.json()["error_code"]) == (404, 404)
    finally:
        for app in apps:
            app.stop()


def windowed_and_long_keyed_streams() -> KafkaStreams:
    builder = StreamsBuilder()
    (builder.stream("clicks", Consumed.with_(Serdes.String(), Serdes.String()))
        .group_by_key().windowed_by(TimeWindows.of_size_with_no_grace(60_000)).count())
    (builder.stream("scores", Consumed.with_(Serdes.Long(), Serdes.Long()))
        .group_by_key(Grouped.with_(Serdes.Long(), Serdes.Long())).count())
    return KafkaStreams(builder.build(), {"application.id": "iq-bad-input", "bootstrap.servers": "127.0.0.1:1"})


def test_bad_lookups_get_clear_4xx_answers():
    streams = windowed_and_long_keyed_streams()
    client = create_app(streams).test_client()
    stores = sorted(streams.topology.stores)
    windowed = next(s for s in stores if streams.topology.stores[s].key_layout is not None)
    long_keyed = next(s for s in stores if streams.topology.stores[s].key_layout is None)
    answer = client.get(f"/v1/stores/{windowed}/keys/alice")
    assert answer.status_code == 400 and "window" in answer.json["message"]
    answer = client.get(f"/v1/stores/{long_keyed}/keys/not-a-number")
    assert answer.status_code == 400 and "not a valid key" in answer.json["message"]
    # Not started: no instance metadata yet, a clear 503 rather than a crash.
    answer = client.get(f"/v1/stores/{long_keyed}/keys/7")
    assert answer.status_code == 503 and "not running" in answer.json["message"]
    assert client.get("/v1/nothing-here").status_code == 404


@pytest.mark.parametrize("endpoint", ["localhost", "localhost:http", ":9000", "host:70000"])
def test_application_server_must_be_host_and_port(endpoint):
    with pytest.raises(StreamsConfigError, match="application.server"):
        KafkaStreams(StreamsBuilder().build(), {"application.id": "a", "bootstrap.servers": "b",
                                                "application.server": endpoint})
