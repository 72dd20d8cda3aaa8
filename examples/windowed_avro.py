"""A windowed, schema'd aggregation: per user, the number and total of purchases in each
tumbling window, emitted once per window when it closes (Avro in, Avro out, through the registry).

    python examples/windowed_avro.py --bootstrap-server HOST:PORT --schema-registry-url URL \
        --input TOPIC --output TOPIC [--window-seconds 60] [--grace-seconds 10] [--exactly-once]

Input: Avro values of `Purchase` {user: string, amount: double} with the user as a UTF-8 key,
timestamped when the purchase happened. Output: the key as Kafka's time-windowed key (the user's
bytes and the window start as an 8-byte long), the value as Avro `PurchaseWindow` {user,
window_start, window_end, count, total}, registered under `<output>-value`.
"""

from __future__ import annotations

import argparse
import json
import logging

from streams import (AT_LEAST_ONCE, EXACTLY_ONCE_V2, Consumed, Grouped, KafkaStreams, Materialized, Produced,
                     Serdes, StreamsBuilder, Suppressed, TimeWindows, WindowedSerdes, avro_serde)

PURCHASE = json.dumps({"type": "record", "name": "Purchase", "namespace": "example", "fields": [
    {"name": "user", "type": "string"}, {"name": "amount", "type": "double"}]})
PURCHASE_WINDOW = json.dumps({"type": "record", "name": "PurchaseWindow", "namespace": "example", "fields": [
    {"name": "user", "type": "string"}, {"name": "window_start", "type": "long"},
    {"name": "window_end", "type": "long"}, {"name": "count", "type": "long"}, {"name": "total", "type": "double"}]})


def purchases_per_window(input_topic: str, output_topic: str, registry_url: str, window_ms: int, grace_ms: int):
    windows = TimeWindows.of_size_and_grace(window_ms, grace_ms)
    builder = StreamsBuilder()
    (builder.stream(input_topic, Consumed.with_(Serdes.String(), avro_serde(registry_url, PURCHASE)))
        .group_by_key(Grouped.with_(Serdes.String(), avro_serde(registry_url, PURCHASE)))
        .windowed_by(windows)
        .aggregate(lambda: {"count": 0, "total": 0.0},
                   lambda user, purchase, agg: {"count": agg["count"] + 1, "total": agg["total"] + purchase["amount"]},
                   Materialized.as_("purchases-per-window").with_value_serde(Serdes.Json()))
        .suppress(Suppressed.until_window_closes())
        .to_stream()
        .map_values(lambda windowed, agg: {"user": windowed.key, "window_start": windowed.window.start,
                                           "window_end": windowed.window.end, **agg})
        .to(output_topic, Produced.with_(WindowedSerdes.time_windowed_serde_from(Serdes.String(), window_ms),
                                         avro_serde(registry_url, PURCHASE_WINDOW))))
    return builder.build()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--schema-registry-url", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--application-id", default="purchases-per-window")
    parser.add_argument("--window-seconds", type=float, default=60)
    parser.add_argument("--grace-seconds", type=float, default=10)
    parser.add_argument("--exactly-once", action="store_true")
    parser.add_argument("--state-dir", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    topology = purchases_per_window(args.input, args.output, args.schema_registry_url,
                                    int(args.window_seconds * 1000), int(args.grace_seconds * 1000))
    config = {"application.id": args.application_id, "bootstrap.servers": args.bootstrap_server,
              "processing.guarantee": EXACTLY_ONCE_V2 if args.exactly_once else AT_LEAST_ONCE,
              "commit.interval.ms": 1000}
    if args.state_dir:
        config["state.dir"] = args.state_dir
    streams = KafkaStreams(topology, config)
    return streams.run_until_signalled()


if __name__ == "__main__":
    raise SystemExit(main())
