"""Console producer and consumer with Confluent's flags, for every format.

    kafka-avro-console-producer --bootstrap-server HOST:PORT --topic T \\
        --property schema.registry.url=http://127.0.0.1:8081 --property value.schema.file=user.avsc
    kafka-avro-console-consumer --bootstrap-server HOST:PORT --topic T --from-beginning \\
        --property schema.registry.url=... --property print.key=true

The producer reads one record per line from stdin; the consumer prints one line per
record. Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, Producer, TopicPartition

from cli.client_config import connection_settings, librdkafka_config, read_properties
from cli.registry_client_config import registry_client_conf, split_registry_properties
from cli.formats import CODECS, FORMATS, PRINTERS, SCHEMA_TYPES, LineError
from cli.admin import QUIET
from cli.output import CommandError, Progress
from formats import Schema, SchemaReference
from registry_client import SchemaRegistryClient, SchemaRegistryError
from serdes import MessageField, SerializationContext, SerializationError

EXIT_OK, EXIT_BAD_INPUT, EXIT_UNREACHABLE, EXIT_USAGE = 0, 1, 3, 2


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in values or []:
        if "=" not in item:
            raise CommandError(f"{flag} expects key=value, got {item!r}", EXIT_USAGE)
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def _truthy(props: dict, key: str, default: bool = False) -> bool:
    return props.get(key, str(default)).strip().lower() == "true"


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap-server", required=True, help="HOST:PORT of a Kafka broker")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--property", action="append", metavar="KEY=VALUE",
                        help="schema.registry.url, value.schema, value.schema.file, value.schema.id, key.schema..., "
                             "parse.key, key.separator, print.key, print.timestamp, ...")


def producer_parser(prog: str, fmt: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Read records from stdin, one per line, and produce them.")
    add_common_flags(parser)
    if fmt is None:
        parser.add_argument("--format", choices=FORMATS, default="string")
    parser.add_argument("--reader-property", action="append", metavar="KEY=VALUE", help="same as --property")
    parser.add_argument("--producer-property", action="append", metavar="KEY=VALUE")
    parser.add_argument("--producer.config", dest="producer_config")
    parser.add_argument("--skip-bad-lines", action="store_true",
                        help="report lines that do not parse or match the schema and go on")
    return parser


def consumer_parser(prog: str, fmt: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Consume records and print one per line.")
    add_common_flags(parser)
    if fmt is None:
        parser.add_argument("--format", choices=FORMATS, default="string")
    parser.add_argument("--formatter-property", action="append", metavar="KEY=VALUE", help="same as --property")
    parser.add_argument("--consumer-property", action="append", metavar="KEY=VALUE")
    parser.add_argument("--consumer.config", dest="consumer_config")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--group")
    parser.add_argument("--max-messages", type=int)
    parser.add_argument("--partition", type=int)
    parser.add_argument("--offset", default="latest", help="earliest, latest or an offset (with --partition)")
    parser.add_argument("--timeout-ms", type=int, help="exit when no record arrives for this long")
    parser.add_argument("--isolation-level", choices=("read_committed", "read_uncommitted"),
                        default="read_uncommitted")
    return parser


def _registry(props: dict, fmt: str, kafka_conf: dict | None = None) -> SchemaRegistryClient | None:
    if fmt == "string":
        return None
    if not props.get("schema.registry.url"):
        raise CommandError(f"--property schema.registry.url=... is required for the {fmt} format", EXIT_USAGE)
    try:
        return SchemaRegistryClient({**registry_client_conf(props, kafka_conf=kafka_conf), "max.retries": 1,
                                     "timeout": 10})
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def _client_properties(path: str | None, pairs: dict) -> tuple[dict, dict]:
    """(registry properties, Kafka client properties) of --producer.config/--consumer.config and the
    --producer-property/--consumer-property pairs: schema.registry.* may sit in the same file."""
    return split_registry_properties({**read_properties(path), **pairs})


def _schema_text(props: dict, side: str) -> str | None:
    if f"{side}.schema" in props:
        return props[f"{side}.schema"]
    path = props.get(f"{side}.schema.file")
    if path:
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {side}.schema.file {path}: {exc.strerror}", EXIT_USAGE) from None
    return None


def _codec(fmt: str, client, props: dict, side: str, required: bool):
    text = _schema_text(props, side)
    schema_id = props.get(f"{side}.schema.id")
    if fmt == "string" or (text is None and schema_id is None and side == "key"):
        return CODECS["string"](client, None, None, props)
    if text is None and schema_id is None:
        if required:
            raise CommandError(f"--property {side}.schema=..., {side}.schema.file=... or {side}.schema.id=... "
                               "is required", EXIT_USAGE)
    schema = Schema(text, SCHEMA_TYPES[fmt], _references(props, side)) if text is not None else None
    try:
        return CODECS[fmt](client, schema, int(schema_id) if schema_id is not None else None, props)
    except SchemaRegistryError as exc:
        raise _registry_error(exc) from None
    except (SerializationError, LineError) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def _references(props: dict, side: str) -> tuple[SchemaReference, ...]:
    """`value.refs` (Confluent's property): a JSON list of {"name", "subject", "version"}."""
    raw = props.get(f"{side}.refs")
    if not raw:
        return ()
    try:
        return tuple(SchemaReference(r["name"], r["subject"], int(r["version"])) for r in json.loads(raw))
    except (ValueError, KeyError, TypeError):
        raise CommandError(f"{side}.refs must be a JSON list of {{\"name\", \"subject\", \"version\"}}, "
                           f"got {raw!r}", EXIT_USAGE) from None


def _registry_error(exc: SchemaRegistryError) -> CommandError:
    if exc.http_status == -1:
        return CommandError(f"schema registry unreachable: {exc.error_message}", EXIT_UNREACHABLE)
    return CommandError(f"schema registry error {exc.error_code}: {exc.error_message}")


def _check_broker(conf: dict) -> None:
    """Fail fast with one line when the broker cannot be reached."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**connection_settings(conf), **QUIET})
    try:
        admin.list_topics(timeout=10)  # all topics: naming one would auto-create it
    except KafkaException as exc:
        raise CommandError(f"cannot reach the Kafka broker at {conf['bootstrap.servers']}: {exc.args[0].str()}",
                           EXIT_UNREACHABLE) from None


def run_producer(args, fmt: str) -> int:
    registry_props, kafka_props = _client_properties(args.producer_config,
                                                     _pairs(args.producer_property, "--producer-property"))
    props = {**registry_props, **_pairs(args.property, "--property"),
             **_pairs(args.reader_property, "--reader-property")}
    conf = {"bootstrap.servers": args.bootstrap_server, **QUIET, **librdkafka_config(kafka_props)}
    conf.setdefault("partitioner", "murmur2_random")
    client = _registry(props, fmt, conf)
    value_codec = _codec(fmt, client, props, "value", required=True)
    parse_key = _truthy(props, "parse.key")
    key_codec = _codec(fmt, client, props, "key", required=False) if parse_key else None
    separator = props.get("key.separator", "\t")
    _check_broker(conf)
    producer = Producer(conf)
    failures: list[str] = []

    def delivered(err, msg):
        if err is not None:
            failures.append(f"delivery failed: {err.str()}")

    bad_lines = 0
    interrupted = False
    progress = Progress("produced")
    try:
        for number, raw in enumerate(sys.stdin, start=1):
            line = raw.rstrip("\n")
            if not line:
                continue
            try:
                key, value = _encode_line(line, args.topic, value_codec, key_codec, separator)
            except (LineError, SerializationError) as exc:
                if isinstance(exc.__cause__, SchemaRegistryError):  # not the line's fault
                    raise _registry_error(exc.__cause__) from None
                bad_lines += 1
                print(f"line {number}: {exc}", file=sys.stderr)
                if not args.skip_bad_lines:
                    break
                continue
            except SchemaRegistryError as exc:
                raise _registry_error(exc) from None
            _produce(producer, args.topic, key, value, delivered)
            progress.advance()
    except KeyboardInterrupt:
        interrupted = True
    progress.finish()
    remaining = producer.flush(30)
    if remaining or failures:
        # Records the broker refused are bad input; records it never answered for are not.
        raise CommandError(f"{remaining + len(failures)} record(s) not delivered"
                           + (f": {failures[0]}" if failures else ""),
                           EXIT_UNREACHABLE if remaining else EXIT_BAD_INPUT)
    if bad_lines and not args.skip_bad_lines:
        return EXIT_BAD_INPUT
    return EXIT_OK if not interrupted else 130


def _encode_line(line: str, topic: str, value_codec, key_codec, separator: str):
    key = None
    if key_codec is not None:
        if separator not in line:
            raise LineError(f"no key separator {separator!r} in the line (parse.key=true)")
        key_text, line = line.split(separator, 1)
        key = key_codec.serialize(key_codec.parse_line(key_text), SerializationContext(topic, MessageField.KEY))
    value_obj = None if line == "null" else value_codec.parse_line(line)
    value = value_codec.serialize(value_obj, SerializationContext(topic, MessageField.VALUE))
    return key, value


def _produce(producer: Producer, topic: str, key, value, on_delivery) -> None:
    while True:
        try:
            producer.produce(topic, value, key, on_delivery=on_delivery)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.1)


def run_consumer(args, fmt: str) -> int:
    registry_props, kafka_props = _client_properties(args.consumer_config,
                                                     _pairs(args.consumer_property, "--consumer-property"))
    props = {**registry_props, **_pairs(args.property, "--property"),
             **_pairs(args.formatter_property, "--formatter-property")}
    group = args.group or f"console-consumer-{os.getpid()}"
    conf = {"bootstrap.servers": args.bootstrap_server, "group.id": group, **QUIET,
            "auto.offset.reset": "earliest" if args.from_beginning else "latest",
            "enable.auto.commit": args.group is not None, "isolation.level": args.isolation_level,
            **librdkafka_config(kafka_props)}
    client = _registry(props, fmt, conf)
    value_printer = PRINTERS[fmt](client, None, props)
    key_printer = _key_printer(fmt, client, props)
    _check_broker(conf)
    consumer = Consumer(conf)
    if args.partition is not None:
        offset = {"earliest": OFFSET_BEGINNING, "latest": OFFSET_END}.get(args.offset)
        if offset is None:
            try:
                offset = int(args.offset)
            except ValueError:
                raise CommandError(f"--offset must be earliest, latest or a number, not {args.offset!r}", EXIT_USAGE)
        if args.from_beginning:
            offset = OFFSET_BEGINNING
        consumer.assign([TopicPartition(args.topic, args.partition, offset)])
    else:
        consumer.subscribe([args.topic])
    return _consume_loop(consumer, args, props, key_printer, value_printer)


def _key_printer(fmt: str, client, props: dict):
    """Keys written by a schema serializer (magic byte 0) print in the format, other keys as
    strings; `key.deserializer=...StringDeserializer` forces strings."""
    string = PRINTERS["string"](client, None, props)
    if fmt == "string" or "StringDeserializer" in props.get("key.deserializer", ""):
        return string
    framed = PRINTERS[fmt](client, None, props)

    def deserialize(data, ctx):
        if data is not None and len(data) >= 5 and data[0] == 0:
            return ("framed", framed.deserialize(data, ctx))
        return ("string", string.deserialize(data, ctx))

    def render(tagged) -> str:
        kind, obj = tagged
        return framed.render(obj) if kind == "framed" else string.render(obj)

    return type(string)(deserialize, render)


def _consume_loop(consumer: Consumer, args, props: dict, key_printer, value_printer) -> int:
    printed = 0
    idle_ms = 0
    code = EXIT_OK
    progress = Progress("consumed", args.max_messages)
    try:
        while args.max_messages is None or printed < args.max_messages:
            msg = consumer.poll(0.2)
            if msg is None:
                idle_ms += 200
                if args.timeout_ms is not None and idle_ms >= args.timeout_ms:
                    break
                continue
            idle_ms = 0
            if msg.error() is not None:
                if msg.error().fatal():
                    raise CommandError(f"consumer error: {msg.error().str()}")
                continue
            try:
                print(_format(msg, props, key_printer, value_printer), flush=True)
            except SerializationError as exc:
                print(f"skipping record: {exc}", file=sys.stderr)
                code = EXIT_BAD_INPUT
                continue
            except SchemaRegistryError as exc:
                raise _registry_error(exc) from None
            printed += 1
            progress.advance()
    except KeyboardInterrupt:
        pass
    finally:
        progress.finish()
        consumer.close()  # commits the group's position when it has one
    print(f"Processed a total of {printed} messages", file=sys.stderr)
    return code


def _format(msg, props: dict, key_printer, value_printer) -> str:
    """One line, in Kafka's DefaultMessageFormatter order: timestamp, partition, offset,
    headers, key, value (and the schema ids with print.schema.ids)."""
    sep = props.get("key.separator", "\t")
    parts = []
    if _truthy(props, "print.timestamp"):
        kind, ts = msg.timestamp()
        parts.append(("CreateTime" if kind == 1 else "LogAppendTime" if kind == 2 else "NoTimestampType") + f":{ts}")
    if _truthy(props, "print.partition"):
        parts.append(f"Partition:{msg.partition()}")
    if _truthy(props, "print.offset"):
        parts.append(f"Offset:{msg.offset()}")
    if _truthy(props, "print.headers"):
        headers = msg.headers() or []
        parts.append(",".join(f"{k}:{'' if v is None else v.decode('utf-8', 'replace')}" for k, v in headers)
                     or "NO_HEADERS")
    ctx = SerializationContext(msg.topic(), MessageField.KEY, msg.headers(), msg.partition(), msg.offset())
    if _truthy(props, "print.key"):
        parts.append(key_printer.render(key_printer.deserialize(msg.key(), ctx)))
    ctx.field = MessageField.VALUE
    value = value_printer.deserialize(msg.value(), ctx)
    if _truthy(props, "print.value", True):
        parts.append(value_printer.render(value))
    if _truthy(props, "print.schema.ids") and msg.value() is not None and len(msg.value()) >= 5:
        parts.append(str(int.from_bytes(msg.value()[1:5], "big")))
    return sep.join(parts)


def _interrupt(signum, frame):
    """SIGTERM stops the tools like Ctrl-C: flush, commit, exit."""
    raise KeyboardInterrupt


def _entry(kind: str, fmt: str | None, argv: list[str] | None, prog: str) -> int:
    parser = producer_parser(prog, fmt) if kind == "producer" else consumer_parser(prog, fmt)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        chosen = fmt or args.format
        return run_producer(args, chosen) if kind == "producer" else run_consumer(args, chosen)
    except CommandError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.code
    except KafkaException as exc:
        print(f"{prog}: Kafka error: {exc.args[0].str()}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _script(kind: str, fmt: str | None, prog: str):
    def main(argv: list[str] | None = None) -> int:
        sys.exit(_entry(kind, fmt, argv, prog))
    return main


avro_producer = _script("producer", "avro", "kafka-avro-console-producer")
avro_consumer = _script("consumer", "avro", "kafka-avro-console-consumer")
protobuf_producer = _script("producer", "protobuf", "kafka-protobuf-console-producer")
protobuf_consumer = _script("consumer", "protobuf", "kafka-protobuf-console-consumer")
json_schema_producer = _script("producer", "json-schema", "kafka-json-schema-console-producer")
json_schema_consumer = _script("consumer", "json-schema", "kafka-json-schema-console-consumer")
string_producer = _script("producer", "string", "kafka-console-producer")
string_consumer = _script("consumer", "string", "kafka-console-consumer")


def add_console_commands(sub) -> None:
    """`schemabus produce|consume --format ...`: the same tools as the kafka-*-console-* scripts."""
    for kind, make in (("produce", producer_parser), ("consume", consumer_parser)):
        template = make(f"schemabus {kind}", None)
        p = sub.add_parser(kind, parents=[template], add_help=False, conflict_handler="resolve",
                           help=f"the console {'producer' if kind == 'produce' else 'consumer'} for any format")
        p.set_defaults(func=lambda args, kind=kind: _run_subcommand(args, kind))


def _run_subcommand(args, kind: str) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_producer(args, args.format) if kind == "produce" else run_consumer(args, args.format)
    except KafkaException as exc:
        raise CommandError(f"Kafka error: {exc.args[0].str()}", EXIT_UNREACHABLE) from None
