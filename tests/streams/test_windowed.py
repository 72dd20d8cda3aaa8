"""examples/windowed_avro.py as a real process with a real registry: per-user purchase counts and
totals in tumbling windows, out-of-order records within the grace period counted, late ones
dropped, and each window's final result emitted exactly once when it closes; the expected
results are computed here from the input, partition by partition, as the rules say."""

from __future__ import annotations

import collections
import json
import random
import signal
import subprocess
import sys
import time

from confluent_kafka import Producer

from serdes import MessageField, SchemaRegistryClient, SerializationContext
from serdes.avro import AvroDeserializer, AvroSerializer
from streams import Serdes, WindowedSerdes
from tests.conftest import REPO, unique_topic
from tests.streams.kafka_topics import create_topics, read_messages

WINDOW, GRACE = 10_000, 5_000
T0 = 1_700_000_000_000  # a multiple of the window size: windows start at multiples of it
PURCHASE = json.dumps({"type": "record", "name": "Purchase", "namespace": "example", "fields": [
    {"name": "user", "type": "string"}, {"name": "amount", "type": "double"}]})
USERS = {"ann": 0, "bob": 1, "cid": 0, "dee": 1, "eve": 0}  # user -> input partition


def purchases(seed: int) -> list[tuple[str, float, int]]:
    """(user, amount, timestamp): time moves on with jitter of up to 4 s back (inside the grace
    period) and now and then a record 20-40 s late (outside it)."""
    rng = random.Random(seed)
    out, now = [], T0
    for i in range(600):
        now += rng.randint(0, 400)
        ts = now - rng.randint(0, 4000) if rng.random() < 0.3 else now
        if rng.random() < 0.02:
            ts = now - rng.randint(20_000, 40_000)
        out.append((rng.choice(sorted(USERS)), round(rng.uniform(1, 100), 2), ts))
    return out


def expected_windows(records) -> dict[tuple[str, int], tuple[int, float]]:
    """What Kafka Streams' rules give, per input partition in order: a record counts in its window
    unless the window ended at or before (highest timestamp seen so far - grace)."""
    result: dict = collections.defaultdict(lambda: [0, 0.0])
    observed = collections.defaultdict(lambda: -1)
    for user, amount, ts in records:
        partition = USERS[user]
        observed[partition] = max(observed[partition], ts)
        start = ts - ts % WINDOW
        if start + WINDOW <= observed[partition] - GRACE:
            continue  # late
        result[(user, start)][0] += 1
        result[(user, start)][1] += amount
    return {k: (c, round(t, 6)) for k, (c, t) in result.items()}


def read_output(bootstrap: str, topic: str, registry_url: str) -> list[tuple[str, int, int, dict]]:
    key_serde = WindowedSerdes.time_windowed_serde_from(Serdes.String(), WINDOW)
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    out = []
    for msg in read_messages(bootstrap, topic):
        windowed = key_serde.deserialize(topic, msg.key())
        value = deserialize(msg.value(), SerializationContext(topic, MessageField.VALUE))
        out.append((windowed.key, windowed.window.start, windowed.window.end, value))
    return out


def test_windowed_avro_aggregation_emits_each_closed_window_once(platform, tmp_path):
    broker, registry = platform  # our broker and registry, and Apache Kafka with our registry
    bootstrap = broker.bootstrap
    source, sink = unique_topic("purchases"), unique_topic("per-window")
    create_topics(bootstrap, source, sink, partitions=2)
    records = purchases(seed=11)
    serialize = AvroSerializer(SchemaRegistryClient({"url": registry.url}), PURCHASE)
    producer = Producer({"bootstrap.servers": bootstrap})
    for user, amount, ts in records + [("zz-end", 0.0, T0 + 10_000_000)]:
        for partition in ([USERS[user]] if user in USERS else [0, 1]):  # the end marker closes every window
            value = serialize({"user": user, "amount": amount}, SerializationContext(source, MessageField.VALUE))
            producer.produce(source, value, user.encode(), partition=partition, timestamp=ts)
    producer.flush(10)
    expected = expected_windows(records)
    assert sum(1 for _, _, ts in records if ts < T0 + 1000) and len(expected) > 50

    app = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "windowed_avro.py"), "--bootstrap-server", bootstrap,
         "--schema-registry-url", registry.url, "--input", source, "--output", sink, "--application-id",
         unique_topic("windows"), "--window-seconds", str(WINDOW / 1000), "--grace-seconds", str(GRACE / 1000),
         "--state-dir", str(tmp_path / "state")],
        cwd=REPO, stdout=open(tmp_path / "app.log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            output = read_output(bootstrap, sink, registry.url)
            if len(output) >= len(expected) or time.monotonic() > deadline or app.poll() is not None:
                break
            time.sleep(1)
        time.sleep(2)
        output = read_output(bootstrap, sink, registry.url)
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(30)
    log = (tmp_path / "app.log").read_text()
    got = collections.Counter((user, start) for user, start, _, _ in output)
    assert not [k for k, n in got.items() if n > 1], f"a window emitted more than once: {[o for o in output if o[0] == 'ann'][:6]}"
    results = {(user, start): (value["count"], round(value["total"], 6)) for user, start, end, value in output
               if end == start + WINDOW and value["user"] == user and value["window_start"] == start}
    assert results == expected, (f"{len(results)} windows out, {len(expected)} expected; differing: "
                                 f"{sorted(set(results.items()) ^ set(expected.items()))[:6]}\n{log[-2000:]}")
    assert "Skipping record for expired window" in log  # the late records were dropped, and said so
