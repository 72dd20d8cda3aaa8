"""Streams pieces that need no broker: Kafka's byte layouts of the primitive serdes, the DSL's
node and topic names and sub-topologies, config checks, the store cache and the checkpoint file."""

from __future__ import annotations

import struct

import pytest

from streams import (Consumed, Grouped, Materialized, Produced, Serdes, StreamsBuilder, StreamsConfig,
                     StreamsConfigError, TopologyError)
from streams.serdes import serde_from_config
from streams.state import InMemoryBytesStore, KeyValueStore
from streams.state_manager import read_checkpoint, write_checkpoint


def test_primitive_serdes_write_kafkas_byte_layouts():
    assert Serdes.Long().serialize("t", 5) == struct.pack(">q", 5) == b"\0\0\0\0\0\0\0\x05"
    assert Serdes.Integer().serialize("t", -2) == b"\xff\xff\xff\xfe"
    assert Serdes.Double().serialize("t", 1.5) == struct.pack(">d", 1.5)
    assert Serdes.String().serialize("t", "ü") == "ü".encode()
    assert Serdes.Long().deserialize("t", None) is None and Serdes.String().serialize("t", None) is None
    with pytest.raises(Exception, match="Size of data received by LongDeserializer is not 8"):
        Serdes.Long().deserialize("t", b"abc")
    assert serde_from_config("org.apache.kafka.common.serialization.Serdes$LongSerde").name == "LongSerde"
    assert serde_from_config("String").name == "StringSerde"
    with pytest.raises(ValueError, match="unknown serde"):
        serde_from_config("Nope")


def word_count(builder: StreamsBuilder, **grouped):
    (builder.stream("text", Consumed.with_(Serdes.String(), Serdes.String()))
        .flat_map_values(lambda line: line.split())
        .group_by(lambda k, w: w, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(**grouped)
        .to_stream().to("counts", Produced.with_(Serdes.String(), Serdes.Long())))
    return builder.build()


def test_the_dsl_names_nodes_and_internal_topics_as_kafka_does():
    topology = word_count(StreamsBuilder(), materialized=Materialized.as_("counts-store"))
    subs = topology.sub_topologies()
    assert [s.source_topics for s in subs] == [["text"], ["counts-store-repartition"]]
    assert subs[0].nodes[:3] == ["KSTREAM-SOURCE-0000000000", "KSTREAM-FLATMAPVALUES-0000000001",
                                 "KSTREAM-KEY-SELECT-0000000002"]
    assert subs[1].stores == ["counts-store"]
    assert set(topology.internal_topics) == {"counts-store-repartition", "counts-store-changelog"}
    assert topology.internal_topics["counts-store-changelog"].configs["cleanup.policy"] == "compact"
    assert "Sub-topology: 1" in topology.describe()
    # Unnamed, the store and its topics take the generated name.
    generated = word_count(StreamsBuilder())
    assert set(generated.internal_topics) == {"KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition",
                                              "KSTREAM-AGGREGATE-STATE-STORE-0000000003-changelog"}


def test_topology_refuses_what_kafka_refuses():
    builder = StreamsBuilder()
    builder.stream("a")
    with pytest.raises(TopologyError, match="already been registered"):
        builder.stream("a")
    with pytest.raises(TopologyError, match="not added yet"):
        builder.topology.add_processor("p", object, "missing")


def test_config_names_defaults_and_checks():
    config = StreamsConfig({"application.id": "app", "bootstrap.servers": "h:1",
                            "processing.guarantee": "exactly_once_v2", "consumer.fetch.min.bytes": "10",
                            "producer.linger.ms": "5"})
    assert config["commit.interval.ms"] == 100  # exactly_once_v2's default
    consumer = config.consumer_config("c")
    assert consumer["isolation.level"] == "read_committed" and consumer["group.id"] == "app"
    assert consumer["fetch.min.bytes"] == "10" and "linger.ms" not in consumer
    producer = config.producer_config("c", "app-1-1")
    assert producer["transactional.id"] == "app-1-1" and producer["linger.ms"] == "5"
    assert StreamsConfig({"application.id": "a", "bootstrap.servers": "b"})["commit.interval.ms"] == 30000
    with pytest.raises(StreamsConfigError, match="application.id"):
        StreamsConfig({"bootstrap.servers": "b"})
    with pytest.raises(StreamsConfigError, match="processing.guarantee"):
        StreamsConfig({"application.id": "a", "bootstrap.servers": "b", "processing.guarantee": "twice"})


def test_the_store_cache_sends_one_update_per_key_at_flush():
    logged, flushed = [], []
    store = KeyValueStore("s", InMemoryBytesStore("s"), Serdes.String(), Serdes.Long(), caching=True)
    store.init(None, Serdes.String(), Serdes.Long(), "app-s-changelog", lambda k, v, ts: logged.append((k, v)), 100)
    assert store.set_flush_listener(lambda k, new, old, ts: flushed.append((k, new, old)))
    store.put("a", 1)
    store.put("a", 2)
    store.put("b", 7)
    store.delete("b")
    assert store.get("a") == 2 and store.get("b") is None and logged == []
    store.flush()
    assert logged == [(b"a", struct.pack(">q", 2)), (b"b", None)]
    assert flushed == [("a", 2, None)]  # b was added and deleted within one flush: nothing to tell
    store.put("a", 3)
    assert list(store.all()) == [("a", 3)]
    store.flush()
    assert flushed[-1] == ("a", 3, 2)


def test_checkpoint_file_round_trip_and_damage(tmp_path):
    write_checkpoint(str(tmp_path), {("app-s-changelog", 2): 41, ("app-t-changelog", 2): 7})
    assert (tmp_path / ".checkpoint").read_text() == "0\n2\napp-s-changelog 2 41\napp-t-changelog 2 7\n"
    assert read_checkpoint(str(tmp_path)) == {("app-s-changelog", 2): 41, ("app-t-changelog", 2): 7}
    (tmp_path / ".checkpoint").write_text("7\ngarbage")
    assert read_checkpoint(str(tmp_path)) == {}  # unreadable: restore from the beginning
