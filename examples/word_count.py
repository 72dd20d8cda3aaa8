"""Word count, as Kafka's WordCountDemo: text lines in, each word's running count out.

    python examples/word_count.py --bootstrap-server HOST:PORT --input TOPIC --output TOPIC \
        [--application-id ID] [--exactly-once] [--state-dir DIR] [--application-server HOST:PORT]
        [--standby-replicas N]

Values of the input topic are UTF-8 text, split on whitespace and lower-cased; the output topic
gets the word as a UTF-8 string key and its count as an 8-byte big-endian long (Kafka's
LongSerde). Runs until SIGTERM or Ctrl-C, then commits and closes cleanly. With
--application-server, any instance answers `GET http://HOST:PORT/v1/stores/counts-store/keys/WORD`
with the word's count, asking the instance that holds it (streams/query_server.py).
"""

from __future__ import annotations

import argparse
import logging

from streams import (EXACTLY_ONCE_V2, AT_LEAST_ONCE, Consumed, Grouped, KafkaStreams, Materialized, Produced,
                     Serdes, StreamsBuilder)
from streams.query_server import QueryServer


def word_count_topology(input_topic: str, output_topic: str):
    builder = StreamsBuilder()
    (builder.stream(input_topic, Consumed.with_(Serdes.String(), Serdes.String()))
        .flat_map_values(lambda line: line.lower().split())
        .group_by(lambda key, word: word, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(Materialized.as_("counts-store"))
        .to_stream()
        .to(output_topic, Produced.with_(Serdes.String(), Serdes.Long())))
    return builder.build()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--application-id", default="streams-wordcount")
    parser.add_argument("--exactly-once", action="store_true")
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--commit-interval-ms", type=int, default=None)
    parser.add_argument("--application-server", default="", help="host:port of this instance's query endpoint")
    parser.add_argument("--standby-replicas", type=int, default=0, help="num.standby.replicas")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="any Kafka Streams config, e.g. consumer.session.timeout.ms=10000 (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = {"application.id": args.application_id, "bootstrap.servers": args.bootstrap_server,
              "processing.guarantee": EXACTLY_ONCE_V2 if args.exactly_once else AT_LEAST_ONCE}
    if args.state_dir:
        config["state.dir"] = args.state_dir
    if args.commit_interval_ms is not None:
        config["commit.interval.ms"] = args.commit_interval_ms
    if args.application_server:
        config["application.server"] = args.application_server
    if args.standby_replicas:
        config["num.standby.replicas"] = args.standby_replicas
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--config {item}: expected KEY=VALUE")
        config[key] = value
    streams = KafkaStreams(word_count_topology(args.input, args.output), config)
    queries = QueryServer(streams).start() if args.application_server else None
    try:
        return streams.run_until_signalled()
    finally:
        if queries is not None:
            queries.stop()


if __name__ == "__main__":
    raise SystemExit(main())
