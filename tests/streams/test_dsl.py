"""The DSL and the processor API in one application against a real broker (in-process
KafkaStreams): each output topic is compared with what the input says it should hold."""

from __future__ import annotations

import json
import logging
import random
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streams import (Branched, Consumed, Grouped, JoinWindows, KafkaStreams, Materialized, Named, Processor, Produced,
                     PunctuationType, Record, Serdes, SessionWindows, SlidingWindows, Stores, StreamsBuilder, Suppressed,
                     WindowedSerdes)
from tests.conftest import unique_topic
from tests.streams.kafka_topics import create_topics, read_messages

STRING, LONG, JSON = Serdes.String(), Serdes.Long(), Serdes.Json()


def read_all(bootstrap: str, topic: str, key_serde=STRING, value_serde=STRING) -> list[tuple]:
    return [(key_serde.deserialize(topic, m.key()), value_serde.deserialize(topic, m.value()))
            for m in read_messages(bootstrap, topic)]


def wait_for(predicate, timeout: float, what: str, streams=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        if streams is not None and streams.state == "ERROR":
            raise AssertionError(f"the application failed while waiting for {what}")
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


class EverySecond(Processor):
    """Processor API: counts records per key in a store, emits the counts on a wall-clock
    punctuation, and the stream time on a stream-time punctuation."""

    def init(self, context):
        super().init(context)
        self.store = context.get_state_store("seen")
        context.schedule(200, PunctuationType.WALL_CLOCK_TIME, self.emit)
        context.schedule(1000, PunctuationType.STREAM_TIME,
                         lambda t: context.forward(Record("stream-time", f"{t}", t)))

    def process(self, record):
        self.store.put(record.key, (self.store.get(record.key) or 0) + 1)

    def emit(self, now):
        for key, count in self.store.all():
            self.context.forward(Record(key, str(count), now))


def test_dsl_operations_and_the_processor_api(any_broker, tmp_path):
    bootstrap = any_broker.bootstrap
    orders, prices, out = unique_topic("orders"), unique_topic("prices"), unique_topic("out")
    outputs = {name: f"{out}-{name}" for name in ("big", "small", "other", "totals", "merged", "prices", "api")}
    create_topics(bootstrap, orders, prices, *outputs.values(), partitions=2)

    builder = StreamsBuilder()
    stream = builder.stream(orders, Consumed.with_(STRING, JSON))
    branches = (stream.filter(lambda k, v: v["qty"] > 0)
                .split(Named.as_("size-"))
                .branch(lambda k, v: v["qty"] >= 10, Branched.as_("big"))
                .branch(lambda k, v: v["qty"] < 3, Branched.as_("small"))
                .default_branch(Branched.as_("other")))
    for name in ("big", "small", "other"):
        branches[f"size-{name}"].map_values(lambda v: v["item"]).to(outputs[name], Produced.with_(STRING, STRING))
    # Totals per item: re-keyed, so grouped through a repartition topic, then aggregated.
    (stream.select_key(lambda k, v: v["item"])
        .group_by_key(Grouped.as_("by-item").with_key_serde(STRING).with_value_serde(JSON))
        .aggregate(lambda: 0, lambda item, order, total: total + order["qty"],
                   Materialized.as_("totals").with_value_serde(LONG).with_caching_disabled())
        .to_stream().to(outputs["totals"], Produced.with_(STRING, LONG)))
    # merge of two branches of the same stream, with keys from flat_map.
    (branches["size-big"].merge(branches["size-small"])
        .flat_map(lambda k, v: [(v["item"], "x")] * 2).to(outputs["merged"], Produced.with_(STRING, STRING)))
    # A table from a topic, filtered, back to a stream; the latest price per item wins.
    (builder.table(prices, Consumed.with_(STRING, STRING), Materialized.as_("prices-store"))
        .filter(lambda item, price: price != "free").to_stream()
        .to(outputs["prices"], Produced.with_(STRING, STRING)))
    builder.topology.add_state_store(
        Stores.key_value_store_builder(Stores.in_memory_key_value_store("seen"), STRING, LONG))
    stream.process(EverySecond, "seen").to(outputs["api"], Produced.with_(STRING, STRING))
    topology = builder.build()
    assert "by-item-repartition" in topology.internal_topics

    producer = Producer({"bootstrap.servers": bootstrap})
    sent = [("o1", {"item": "apple", "qty": 12}), ("o2", {"item": "pear", "qty": 1}),
            ("o3", {"item": "apple", "qty": 5}), ("o4", {"item": "plum", "qty": 0}),
            ("o5", {"item": "pear", "qty": 2})]
    for i, (key, value) in enumerate(sent):
        producer.produce(orders, json.dumps(value).encode(), key.encode(), timestamp=1_000_000 + i * 1000)
    for item, price in [("apple", "3"), ("pear", "free"), ("apple", "4")]:
        producer.produce(prices, price.encode(), item.encode())
    producer.flush(10)

    streams = KafkaStreams(topology, {"application.id": unique_topic("dsl"), "bootstrap.servers": bootstrap,
                                      "state.dir": str(tmp_path), "commit.interval.ms": 200})
    streams.start()
    try:
        wait_for(lambda: sorted(read_all(bootstrap, outputs["big"])) == [("o1", "apple")], 60, "big", streams)
        assert sorted(read_all(bootstrap, outputs["small"])) == [("o2", "pear"), ("o5", "pear")]
        wait_for(lambda: sorted(read_all(bootstrap, outputs["other"])) == [("o3", "apple")], 10, "other")
        wait_for(lambda: dict(read_all(bootstrap, outputs["totals"], STRING, LONG)) ==
                 {"apple": 17, "pear": 3, "plum": 0}, 30, "totals", streams)
        wait_for(lambda: sorted(read_all(bootstrap, outputs["merged"])) ==
                 sorted([("apple", "x")] * 2 + [("pear", "x")] * 4), 10, "merged")
        wait_for(lambda: dict(read_all(bootstrap, outputs["prices"])) == {"apple": "4", "pear": None}, 30,
                 "prices", streams)
        assert streams.store("totals").get("apple") == 17
        assert streams.store("prices-store").get("pear") == "free"

        def api_output():
            records = dict(read_all(bootstrap, outputs["api"]))
            return records if records.get("o1") == "1" and "stream-time" in records else None
        records = wait_for(api_output, 30, "the punctuations' output", streams)
        assert int(records["stream-time"]) >= 1_001_000
    finally:
        streams.close()
    assert streams.state == "NOT_RUNNING"


@pytest.mark.parametrize("handler", ["LogAndContinueExceptionHandler", "LogAndFailExceptionHandler"])
def test_deserialization_errors_follow_the_configured_handler(any_broker, tmp_path, handler, caplog):
    bootstrap = any_broker.bootstrap
    source, sink = unique_topic("numbers"), unique_topic("doubled")
    create_topics(bootstrap, source, sink, partitions=1)
    builder = StreamsBuilder()
    builder.stream(source, Consumed.with_(STRING, LONG)).map_values(lambda v: v * 2) \
        .to(sink, Produced.with_(STRING, LONG))
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(source, LONG.serialize(source, 1), b"a")
    producer.produce(source, b"not a long", b"b")  # 10 bytes: LongDeserializer refuses it
    producer.produce(source, LONG.serialize(source, 3), b"c")
    producer.flush(10)
    streams = KafkaStreams(builder.build(), {
        "application.id": unique_topic("deser"), "bootstrap.servers": bootstrap, "state.dir": str(tmp_path),
        "commit.interval.ms": 200,
        "default.deserialization.exception.handler": f"org.apache.kafka.streams.errors.{handler}"})
    caplog.set_level(logging.WARNING, logger="streams")
    streams.start()
    try:
        if handler.startswith("LogAndContinue"):
            wait_for(lambda: read_all(bootstrap, sink, STRING, LONG) == [("a", 2), ("c", 6)], 60, "a and c",
                     streams)
            assert "Skipping record due to deserialization error" in caplog.text
        else:
            wait_for(lambda: streams.state == "ERROR", 60, "the ERROR state")
            assert read_all(bootstrap, sink, STRING, LONG) == [("a", 2)]
            assert "Deserialization exception handler is set to fail" in caplog.text
    finally:
        streams.close()


def test_stream_table_and_table_table_joins(any_broker, tmp_path):
    bootstrap = any_broker.bootstrap
    users, balances, orders = unique_topic("users"), unique_topic("balances"), unique_topic("orders")
    outs = {n: unique_topic(n) for n in ("join", "left", "tables", "outer")}
    create_topics(bootstrap, users, balances, orders, *outs.values(), partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in [("u1", "Ann"), ("u2", "Bob"), ("u2", "Bobby")]:
        producer.produce(users, value.encode(), key.encode())
    for key, value in [("u1", "10"), ("u9", "99")]:
        producer.produce(balances, value.encode(), key.encode())
    producer.flush(10)

    builder = StreamsBuilder()
    consumed = Consumed.with_(STRING, STRING)
    user_table = builder.table(users, consumed, Materialized.as_("users"))
    balance_table = builder.table(balances, consumed)
    order_stream = builder.stream(orders, consumed)
    order_stream.join(user_table, lambda item, name: f"{name} bought {item}").to(outs["join"])
    order_stream.left_join(user_table, lambda item, name: f"{name} bought {item}").to(outs["left"])
    user_table.join(balance_table, lambda name, balance: f"{name}:{balance}").to_stream().to(outs["tables"])
    user_table.outer_join(balance_table, lambda name, balance: f"{name}:{balance}").to_stream().to(outs["outer"])
    streams = KafkaStreams(builder.build(), {
        "application.id": unique_topic("joins"), "bootstrap.servers": bootstrap, "state.dir": str(tmp_path),
        "commit.interval.ms": 200, "default.key.serde": "String", "default.value.serde": "String"})
    streams.start()
    try:
        # The tables are loaded first, then the orders come: each order meets the current names.
        wait_for(lambda: streams.store("users").get("u2") == "Bobby", 60, "the users table", streams)
        for key, item in [("u1", "book"), ("u2", "pen"), ("u3", "cup")]:
            producer.produce(orders, item.encode(), key.encode())
        producer.flush(10)
        wait_for(lambda: sorted(read_all(bootstrap, outs["join"])) == [("u1", "Ann bought book"),
                                                                     ("u2", "Bobby bought pen")], 30, "join")
        wait_for(lambda: ("u3", "None bought cup") in read_all(bootstrap, outs["left"]), 30, "left join")
        assert len(read_all(bootstrap, outs["left"])) == 3
        wait_for(lambda: dict(read_all(bootstrap, outs["tables"])) == {"u1": "Ann:10"}, 30, "table join")
        wait_for(lambda: dict(read_all(bootstrap, outs["outer"])) ==
                 {"u1": "Ann:10", "u2": "Bobby:None", "u9": "None:99"}, 30, "outer join")
    finally:
        streams.close()


def test_joins_refuse_inputs_that_are_not_co_partitioned(any_broker, tmp_path):
    bootstrap = any_broker.bootstrap
    three, two = unique_topic("three"), unique_topic("two")
    create_topics(bootstrap, three, partitions=3)
    create_topics(bootstrap, two, partitions=2)
    builder = StreamsBuilder()
    builder.stream(three).join(builder.table(two), lambda a, b: a).to(unique_topic("never"))
    streams = KafkaStreams(builder.build(), {"application.id": unique_topic("copart"), "bootstrap.servers": bootstrap,
                                            "state.dir": str(tmp_path)})
    with pytest.raises(Exception, match="Topics not co-partitioned"):
        streams.start()
    assert streams.state == "ERROR"


def test_windowed_stream_stream_joins_on_out_of_order_input(any_broker, tmp_path):
    """Inner, left and outer joins of two streams within 5 s of each other, the input out of time
    order (within grace): every pair within the window joins; left and outer joins send a record
    without a partner only after its window has closed, never a premature half result."""
    bootstrap = any_broker.bootstrap
    lefts, rights = unique_topic("left"), unique_topic("right")
    outs = {n: unique_topic(n) for n in ("inner", "left", "outer")}
    create_topics(bootstrap, lefts, rights, *outs.values(), partitions=1)
    rng, t0, diff = random.Random(5), 1_700_000_000_000, 5_000
    left_records = [(f"k{rng.randint(0, 4)}", f"l{i}", t0 + rng.randint(0, 60_000)) for i in range(40)]
    right_records = [(f"k{rng.randint(0, 4)}", f"r{i}", t0 + rng.randint(0, 60_000)) for i in range(40)]
    pairs = sorted((lk, f"{lv}+{rv}") for lk, lv, lt in left_records for rk, rv, rt in right_records
                   if lk == rk and abs(lt - rt) <= diff)
    lonely_left = [(k, f"{v}+None") for k, v, t in left_records if not any(p.startswith(f"{v}+") for _, p in pairs)]
    lonely_right = [(k, f"None+{v}") for k, v, t in right_records if not any(p.endswith(f"+{v}") for _, p in pairs)]
    assert pairs and lonely_left and lonely_right

    builder = StreamsBuilder()
    consumed = Consumed.with_(STRING, STRING)
    left_stream, right_stream = builder.stream(lefts, consumed), builder.stream(rights, consumed)
    windows = JoinWindows.of_time_difference_and_grace(diff, 600_000)
    joiner = lambda left, right: f"{left}+{right}"  # noqa: E731
    left_stream.join(right_stream, joiner, windows).to(outs["inner"])
    left_stream.left_join(right_stream, joiner, windows).to(outs["left"])
    left_stream.outer_join(right_stream, joiner, windows).to(outs["outer"])
    streams = KafkaStreams(builder.build(), {
        "application.id": unique_topic("sjoin"), "bootstrap.servers": bootstrap, "state.dir": str(tmp_path),
        "commit.interval.ms": 200, "default.key.serde": "String", "default.value.serde": "String"})
    producer = Producer({"bootstrap.servers": bootstrap})
    for (lk, lv, lt), (rk, rv, rt) in zip(left_records, right_records):  # time order is not offset order
        producer.produce(lefts, lv.encode(), lk.encode(), timestamp=lt)
        producer.produce(rights, rv.encode(), rk.encode(), timestamp=rt)
    producer.flush(10)
    streams.start()
    try:
        wait_for(lambda: sorted(read_all(bootstrap, outs["inner"])) == pairs, 60, "the inner join's pairs", streams)
        wait_for(lambda: sorted(read_all(bootstrap, outs["outer"])) == pairs, 10, "the outer join's pairs")
        assert sorted(read_all(bootstrap, outs["left"])) == pairs  # nothing unmatched sent before its window closed
        # Time moves past every window (and its grace): the records without a partner come out.
        producer.produce(lefts, b"end", b"zz", timestamp=t0 + 36_000_000)
        producer.produce(rights, b"end", b"zy", timestamp=t0 + 36_000_000)
        producer.flush(10)
        wait_for(lambda: sorted(read_all(bootstrap, outs["left"])) == sorted(pairs + lonely_left), 30,
                 "the left join's unmatched records", streams)
        wait_for(lambda: sorted(read_all(bootstrap, outs["outer"])) == sorted(pairs + lonely_left + lonely_right),
                 30, "the outer join's unmatched records", streams)
    finally:
        streams.close()


def test_stream_global_table_join_by_any_key(any_broker, tmp_path):
    """A global table (one partition) joined with a stream of another partition count, by a key
    taken from the record's value; updates of the table reach later records."""
    bootstrap = any_broker.bootstrap
    products, sales, out = unique_topic("products"), unique_topic("sales"), unique_topic("priced")
    create_topics(bootstrap, products, partitions=1)
    create_topics(bootstrap, sales, out, partitions=3)
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in [("p1", "pen"), ("p2", "ink")]:
        producer.produce(products, value.encode(), key.encode())
    producer.flush(10)
    builder = StreamsBuilder()
    catalogue = builder.global_table(products, Consumed.with_(STRING, STRING), Materialized.as_("catalogue"))
    (builder.stream(sales, Consumed.with_(STRING, JSON))
        .left_join(catalogue, lambda key, sale: sale["product"], lambda sale, name: f"{sale['qty']} x {name}")
        .to(out, Produced.with_(STRING, STRING)))
    streams = KafkaStreams(builder.build(), {"application.id": unique_topic("global"), "bootstrap.servers": bootstrap,
                                            "state.dir": str(tmp_path), "commit.interval.ms": 200})
    streams.start()
    try:
        assert streams.store("catalogue").get("p2") == "ink"  # loaded before start() returns
        for i, product in enumerate(["p1", "p2", "p3"]):
            producer.produce(sales, json.dumps({"product": product, "qty": i + 1}).encode(), f"s{i}".encode())
        producer.flush(10)
        wait_for(lambda: sorted(read_all(bootstrap, out)) == [("s0", "1 x pen"), ("s1", "2 x ink"),
                                                              ("s2", "3 x None")], 60, "the joined sales", streams)
        producer.produce(products, b"quill", b"p1")
        producer.flush(10)
        wait_for(lambda: streams.store("catalogue").get("p1") == "quill", 30, "the table update")
        producer.produce(sales, json.dumps({"product": "p1", "qty": 9}).encode(), b"s9")
        producer.flush(10)
        wait_for(lambda: ("s9", "9 x quill") in read_all(bootstrap, out), 30, "a sale after the update", streams)
    finally:
        streams.close()


def test_table_group_by_moves_values_between_groups(any_broker, tmp_path):
    """Users per region from a table of user -> region: a user moving region leaves one group and
    joins another; a deleted user leaves its group (Kafka's KGroupedTable adder/subtractor)."""
    bootstrap = any_broker.bootstrap
    users, per_region, joined = unique_topic("user-regions"), unique_topic("per-region"), unique_topic("names")
    create_topics(bootstrap, users, per_region, joined, partitions=2)
    builder = StreamsBuilder()
    table = builder.table(users, Consumed.with_(STRING, STRING))
    table.group_by(lambda user, region: (region, user), Grouped.with_(STRING, STRING)).count() \
        .to_stream().to(per_region, Produced.with_(STRING, LONG))
    table.group_by(lambda user, region: (region, user), Grouped.as_("names").with_key_serde(STRING).with_value_serde(STRING)) \
        .reduce(lambda agg, user: ",".join(sorted(agg.split(",") + [user])),
                lambda agg, user: ",".join(u for u in agg.split(",") if u != user),
                Materialized.with_(STRING, STRING)) \
        .to_stream().to(joined, Produced.with_(STRING, STRING))
    streams = KafkaStreams(builder.build(), {"application.id": unique_topic("regions"), "bootstrap.servers": bootstrap,
                                            "state.dir": str(tmp_path), "commit.interval.ms": 200,
                                            "default.key.serde": "String", "default.value.serde": "String"})
    producer = Producer({"bootstrap.servers": bootstrap})
    for user, region in [("ann", "eu"), ("bob", "eu"), ("cid", "us"), ("dee", "us")]:
        producer.produce(users, region.encode(), user.encode())
    producer.flush(10)
    streams.start()
    try:
        wait_for(lambda: dict(read_all(bootstrap, per_region, STRING, LONG)) == {"eu": 2, "us": 2}, 60, "2 and 2",
                 streams)
        producer.produce(users, b"us", b"ann")   # ann moves
        producer.produce(users, None, b"dee")    # dee is deleted
        producer.produce(users, b"apac", b"eve")
        producer.flush(10)
        wait_for(lambda: dict(read_all(bootstrap, per_region, STRING, LONG)) == {"eu": 1, "us": 2, "apac": 1}, 30,
                 "the moves counted", streams)
        wait_for(lambda: dict(read_all(bootstrap, joined)) == {"eu": "bob", "us": "ann,cid", "apac": "eve"}, 30,
                 "the names per region", streams)
    finally:
        streams.close()


def test_session_windows_merge_out_of_order_records_and_emit_each_final_session_once(any_broker, tmp_path):
    bootstrap = any_broker.bootstrap
    clicks, sessions = unique_topic("clicks"), unique_topic("sessions")
    create_topics(bootstrap, clicks, sessions, partitions=1)
    rng, t0, gap = random.Random(9), 1_700_000_000_000, 5_000
    records = [(f"u{rng.randint(1, 3)}", t0 + rng.randint(0, 120_000)) for _ in range(150)]
    expected = {}
    for user in {u for u, _ in records}:  # sessions: runs of timestamps less than the gap apart
        times = sorted(t for u, t in records if u == user)
        start = prev = times[0]
        count = 0
        for t in times:
            if t - prev > gap:
                expected[(user, start, prev)] = count
                start, count = t, 0
            prev, count = t, count + 1
        expected[(user, start, prev)] = count
    builder = StreamsBuilder()
    (builder.stream(clicks, Consumed.with_(STRING, STRING))
        .group_by_key()
        .windowed_by(SessionWindows.of_inactivity_gap_and_grace(gap, 300_000))
        .count()
        .suppress(Suppressed.until_window_closes())
        .to_stream()
        .to(sessions, Produced.with_(WindowedSerdes.session_windowed_serde_from(STRING), LONG)))
    producer = Producer({"bootstrap.servers": bootstrap})
    rng.shuffle(records)  # out of time order: later records bridge earlier sessions
    for user, ts in records + [("end", t0 + 10_000_000)]:
        producer.produce(clicks, b"click", user.encode(), timestamp=ts)
    producer.flush(10)
    streams = KafkaStreams(builder.build(), {"application.id": unique_topic("sessions"), "bootstrap.servers": bootstrap,
                                            "state.dir": str(tmp_path), "commit.interval.ms": 200,
                                            "default.key.serde": "String", "default.value.serde": "String"})
    key_serde = WindowedSerdes.session_windowed_serde_from(STRING)
    streams.start()
    try:
        def emitted():
            out = read_all(bootstrap, sessions, key_serde, LONG)
            return out if len(out) >= len(expected) else None
        output = wait_for(emitted, 60, "every session", streams)
    finally:
        streams.close()
    got = [((w.key, w.window.start, w.window.end), n) for w, n in output]
    assert len(got) == len({k for k, _ in got}), "a session emitted more than once"
    assert dict(got) == expected


def test_sliding_windows_hold_every_distinct_set_of_records_within_the_time_difference(any_broker, tmp_path):
    """Sliding windows over out-of-order input: the final count of every window equals the one
    computed here from Kafka's definition (a window ending at each record, one starting just
    after each record when another follows within the difference; ends inclusive); a record
    later than the grace period is dropped."""
    bootstrap = any_broker.bootstrap
    clicks, counts = unique_topic("clicks"), unique_topic("sliding")
    create_topics(bootstrap, clicks, counts, partitions=1)
    rng, t0, difference = random.Random(12), 1_700_000_000_000, 10_000
    records = [(f"u{rng.randint(1, 3)}", t0 + rng.randint(0, 120_000)) for _ in range(150)]
    records += [("u1", t0 + 50_000)] * 2  # two records at one time
    expected = {}
    for user in {u for u, _ in records}:
        times = [t for u, t in records if u == user]
        starts = {t - difference for t in times} | {t + 1 for t in times
                                                     if any(t < u <= t + 1 + difference for u in times)}
        for start in starts:
            expected[(user, start, start + difference)] = sum(start <= u <= start + difference for u in times)
    builder = StreamsBuilder()
    (builder.stream(clicks, Consumed.with_(STRING, STRING))
        .group_by_key()
        .windowed_by(SlidingWindows.of_time_difference_and_grace(difference, 300_000))
        .count()
        .suppress(Suppressed.until_window_closes())
        .to_stream()
        .to(counts, Produced.with_(WindowedSerdes.time_windowed_serde_from(STRING, difference), LONG)))
    producer = Producer({"bootstrap.servers": bootstrap})
    rng.shuffle(records)
    late = [("u2", t0 + 5_000)]  # after the end marker: more than the grace period behind
    for user, ts in records + [("end", t0 + 10_000_000)] + late:
        producer.produce(clicks, b"click", user.encode(), timestamp=ts)
    producer.flush(10)
    streams = KafkaStreams(builder.build(), {"application.id": unique_topic("sliding"), "bootstrap.servers": bootstrap,
                                            "state.dir": str(tmp_path), "commit.interval.ms": 200,
                                            "default.key.serde": "String", "default.value.serde": "String"})
    key_serde = WindowedSerdes.time_windowed_serde_from(STRING, difference)
    streams.start()
    try:
        def emitted():
            out = read_all(bootstrap, counts, key_serde, LONG)
            return out if len(out) >= len(expected) else None
        output = wait_for(emitted, 60, "every window", streams)
        time.sleep(1.0)  # anything emitted twice, or for the late record, would be here by now
        output = read_all(bootstrap, counts, key_serde, LONG)
    finally:
        streams.close()
    got = [((w.key, w.window.start, w.window.end), n) for w, n in output]
    assert len(got) == len({k for k, _ in got}), "a window emitted more than once"
    assert dict(got) == expected


def test_a_source_with_its_own_offset_reset_policy_starts_where_it_says(any_broker, tmp_path):
    """Consumed.with_offset_reset_policy("latest") skips what one input held before the first
    start; the other input keeps auto.offset.reset (earliest, Kafka Streams' default)."""
    bootstrap = any_broker.bootstrap
    backlog, fresh, out = unique_topic("backlog"), unique_topic("fresh"), unique_topic("merged")
    create_topics(bootstrap, backlog, fresh, out, partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap})

    def send(topic: str, *values: str) -> None:
        for value in values:
            producer.produce(topic, value.encode(), value.encode())
        assert producer.flush(10) == 0

    send(backlog, "b-old1", "b-old2", "b-old3")
    send(fresh, "f-old1", "f-old2")
    builder = StreamsBuilder()
    (builder.stream(backlog, Consumed.with_(STRING, STRING).with_offset_reset_policy("LATEST"))
        .merge(builder.stream(fresh, Consumed.with_(STRING, STRING)))
        .to(out, Produced.with_(STRING, STRING)))
    streams = KafkaStreams(builder.build(), {"application.id": unique_topic("reset"), "bootstrap.servers": bootstrap,
                                            "state.dir": str(tmp_path), "commit.interval.ms": 200})
    streams.start()
    try:
        wait_for(lambda: streams.state == "RUNNING", 60, "RUNNING", streams)
        send(backlog, "b-new1", "b-new2")
        send(fresh, "f-new1")
        expected = ["b-new1", "b-new2", "f-new1", "f-old1", "f-old2"]
        wait_for(lambda: sorted(v for _, v in read_all(bootstrap, out)) == expected, 60, "the merged inputs", streams)
    finally:
        streams.close()
    with pytest.raises(ValueError, match="earliest or latest"):
        Consumed.with_(STRING, STRING).with_offset_reset_policy("sometimes")


def test_repartition_topics_are_purged_below_the_committed_offsets(any_broker, tmp_path):
    bootstrap = any_broker.bootstrap
    source, out, app_id = unique_topic("purchases"), unique_topic("per-user"), unique_topic("purge")
    create_topics(bootstrap, source, out, partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(60):
        producer.produce(source, f"user{i % 6}".encode(), f"order{i}".encode())
    assert producer.flush(10) == 0
    builder = StreamsBuilder()
    (builder.stream(source, Consumed.with_(STRING, STRING))
        .group_by(lambda order, user: user, Grouped.as_("by-user").with_key_serde(STRING).with_value_serde(STRING))
        .count().to_stream().to(out, Produced.with_(STRING, LONG)))
    streams = KafkaStreams(builder.build(), {"application.id": app_id, "bootstrap.servers": bootstrap,
                                            "state.dir": str(tmp_path), "commit.interval.ms": 100,
                                            "repartition.purge.interval.ms": 100})
    streams.start()
    repartition = f"{app_id}-by-user-repartition"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("watermarks")})
    try:
        wait_for(lambda: {k: v for k, v in read_all(bootstrap, out, value_serde=LONG)} ==
                 {f"user{u}": 10 for u in range(6)}, 60, "the counts", streams)

        def purged():
            marks = [consumer.get_watermark_offsets(TopicPartition(repartition, p), timeout=5) for p in range(2)]
            return all(low == high for low, high in marks) and sum(high for _, high in marks) == 60 and marks
        wait_for(purged, 30, "the repartition topic purged up to its end", streams)
    finally:
        consumer.close()
        streams.close()
