"""`schemabus topics|groups|schemas|status`: administration of a broker and a registry.

Works against our broker and registry or against Apache Kafka and Confluent's registry:
it only speaks the Kafka protocol (AdminClient) and the registry's REST API.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, NewTopic, OffsetSpec,
)

from cli.client_config import connection_settings, librdkafka_config, read_properties
from cli import metrics_status
from cli.output import CommandError, emit
from cli.registry_client_config import registry_client_conf
from formats import Schema, SchemaReference
from registry_client import SchemaRegistryClient, SchemaRegistryError, url_without_userinfo

TIMEOUT = 15
EXIT_UNREACHABLE = 3
EXIT_USAGE = 2
# librdkafka logs every failed connection attempt to stderr; the tools say it once, clearly.
QUIET = {"log_level": 0}


# -- plumbing ------------------------------------------------------------------------------


def _client_conf(args) -> dict:
    """bootstrap.servers plus the connection settings of --command-config (Kafka's names)."""
    return {"bootstrap.servers": args.bootstrap_server,
            **connection_settings(librdkafka_config(read_properties(args.command_config)))}


def _admin(args) -> AdminClient:
    """A connected AdminClient; a clear error when the broker cannot be reached or refuses the
    credentials (librdkafka retries a failed authentication and reports it only through
    error_cb, so the first metadata request is made in short steps that watch for it)."""
    refused: list = []

    def on_error(err) -> None:
        if err.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
            refused.append(err)

    admin = AdminClient({**_client_conf(args), "socket.connection.setup.timeout.ms": 5000, "error_cb": on_error,
                         **QUIET})
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            admin.list_topics(timeout=1)
            return admin
        except KafkaException as exc:
            admin.poll(0)  # serve error_cb
            if refused:
                raise CommandError(f"the Kafka broker at {args.bootstrap_server} refused the credentials: "
                                   f"{refused[0].str()}", EXIT_UNREACHABLE) from None
            if time.monotonic() >= deadline:
                raise CommandError(f"cannot reach the Kafka broker at {args.bootstrap_server}: {exc.args[0].str()}",
                                   EXIT_UNREACHABLE) from None


def _wait(future, what: str):
    try:
        return future.result(TIMEOUT)
    except KafkaException as exc:
        err = exc.args[0]
        raise CommandError(f"{what}: {err.name()}: {err.str()}") from None


def _registry(args, **settings) -> SchemaRegistryClient:
    """--registry-url with --registry-config's properties (Confluent's serializer names)."""
    properties = read_properties(getattr(args, "registry_config", None))
    conf = registry_client_conf(properties, url=args.registry_url)
    try:
        return SchemaRegistryClient({**conf, "max.retries": 1, "timeout": 10, **settings})
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def _registry_call(fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except SchemaRegistryError as exc:
        if exc.http_status == -1:
            raise CommandError(f"schema registry unreachable: {exc.error_message}", EXIT_UNREACHABLE) from None
        raise CommandError(f"schema registry error {exc.error_code}: {exc.error_message}") from None


def _configs(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise CommandError(f"--config expects key=value, got {pair!r}", 2)
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _existing_topic(admin: AdminClient, name: str):
    """The topic's metadata. Asks for all topics: a metadata request naming a missing topic
    would auto-create it on brokers with auto.create.topics.enable."""
    topic = admin.list_topics(timeout=TIMEOUT).topics.get(name)
    if topic is None or topic.error is not None:
        raise CommandError(f"unknown topic {name}")
    return topic


# -- topics --------------------------------------------------------------------------------


def topics_create(args) -> None:
    configs = _configs(args.config)
    if args.value_schema_validation:
        configs["confluent.value.schema.validation"] = "true"
    if args.key_schema_validation:
        configs["confluent.key.schema.validation"] = "true"
    if args.validation_mode:
        configs["schemabus.schema.validation.mode"] = args.validation_mode
    admin = _admin(args)
    topic = NewTopic(args.name, args.partitions, args.replication_factor, config=configs)
    _wait(admin.create_topics([topic])[args.name], f"cannot create topic {args.name}")
    emit({"created": args.name, "partitions": args.partitions, "configs": configs}, args.output)


def topics_list(args) -> None:
    md = _admin(args).list_topics(timeout=TIMEOUT)
    rows = [{"topic": name, "partitions": len(t.partitions)} for name, t in sorted(md.topics.items())
            if args.internal or not name.startswith("__")]
    emit(rows, args.output, ["topic", "partitions"])


def topics_describe(args) -> None:
    admin = _admin(args)
    topic = _existing_topic(admin, args.name)
    tps = [TopicPartition(args.name, p) for p in sorted(topic.partitions)]
    earliest = admin.list_offsets({tp: OffsetSpec.earliest() for tp in tps})
    latest = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps})
    partitions = [{"partition": tp.partition, "leader": topic.partitions[tp.partition].leader,
                   "start_offset": _wait(earliest[tp], "list offsets").offset,
                   "end_offset": _wait(latest[tp], "list offsets").offset} for tp in tps]
    res = ConfigResource(ConfigResource.Type.TOPIC, args.name)
    configs = _wait(admin.describe_configs([res])[res], "describe configs")
    overrides = {k: v.value for k, v in sorted(configs.items()) if not v.is_default}
    if args.output == "json":
        emit({"topic": args.name, "partitions": partitions, "configs": overrides}, "json")
        return
    emit(partitions, "table", ["partition", "leader", "start_offset", "end_offset"])
    if overrides:
        print()
        emit(overrides, "table")


def topics_alter(args) -> None:
    admin = _admin(args)
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in _configs(args.config).items()]
    entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in args.delete_config or []]
    if entries:
        res = ConfigResource(ConfigResource.Type.TOPIC, args.name, incremental_configs=entries)
        _wait(admin.incremental_alter_configs([res])[res], f"cannot alter topic {args.name}")
    if args.partitions:
        _wait(admin.create_partitions([NewPartitions(args.name, args.partitions)])[args.name],
              f"cannot add partitions to {args.name}")
    emit({"altered": args.name}, args.output)


def topics_delete(args) -> None:
    admin = _admin(args)  # keep the client alive until its future resolves
    _wait(admin.delete_topics([args.name])[args.name], f"cannot delete topic {args.name}")
    emit({"deleted": args.name}, args.output)


# -- groups --------------------------------------------------------------------------------


def groups_list(args) -> None:
    admin = _admin(args)
    result = _wait(admin.list_consumer_groups(), "cannot list groups")
    rows = [{"group": g.group_id, "state": getattr(g.state, "name", str(g.state))} for g in result.valid]
    emit(sorted(rows, key=lambda r: r["group"]), args.output, ["group", "state"])


def groups_describe(args) -> None:
    admin = _admin(args)
    desc = _wait(admin.describe_consumer_groups([args.group])[args.group], f"cannot describe {args.group}")
    members = {}
    for m in desc.members:
        for tp in (m.assignment.topic_partitions if m.assignment else []):
            members[(tp.topic, tp.partition)] = m.consumer_id
    from confluent_kafka import ConsumerGroupTopicPartitions

    offsets = _wait(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(args.group)])[args.group],
                    f"cannot fetch offsets of {args.group}")
    tps = [TopicPartition(tp.topic, tp.partition) for tp in offsets.topic_partitions]
    latest = admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}) if tps else {}
    rows = []
    for tp in offsets.topic_partitions:
        end = _wait(latest[TopicPartition(tp.topic, tp.partition)], "list offsets").offset
        rows.append({"topic": tp.topic, "partition": tp.partition, "committed": tp.offset, "end": end,
                     "lag": end - tp.offset if tp.offset >= 0 else None,
                     "member": members.get((tp.topic, tp.partition))})
    state = getattr(desc.state, "name", str(desc.state))
    if args.output == "json":
        emit({"group": args.group, "state": state, "members": len(desc.members), "offsets": rows}, "json")
        return
    print(f"group {args.group}: {state}, {len(desc.members)} member(s)")
    emit(rows, "table", ["topic", "partition", "committed", "end", "lag", "member"])


def groups_reset_offsets(args) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions

    admin = _admin(args)
    md = _existing_topic(admin, args.topic)
    tps = [TopicPartition(args.topic, p) for p in sorted(md.partitions)]
    targets = _reset_targets(args, admin, tps)
    if args.dry_run:
        emit([{"topic": tp.topic, "partition": tp.partition, "new_offset": tp.offset} for tp in targets],
             args.output, ["topic", "partition", "new_offset"])
        return
    request = ConsumerGroupTopicPartitions(args.group, targets)
    _wait(admin.alter_consumer_group_offsets([request])[args.group],
          f"cannot reset offsets of {args.group} (is the group still active?)")
    emit([{"topic": tp.topic, "partition": tp.partition, "new_offset": tp.offset} for tp in targets],
         args.output, ["topic", "partition", "new_offset"])


def _reset_targets(args, admin, tps: list[TopicPartition]) -> list[TopicPartition]:
    if args.to_offset is not None:
        return [TopicPartition(tp.topic, tp.partition, args.to_offset) for tp in tps]
    if args.to_datetime:
        try:
            when = datetime.fromisoformat(args.to_datetime)
        except ValueError:
            raise CommandError(f"--to-datetime expects ISO 8601, got {args.to_datetime!r}", 2) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        spec = OffsetSpec.for_timestamp(int(when.timestamp() * 1000))
    else:
        spec = OffsetSpec.earliest() if args.to_earliest else OffsetSpec.latest()
    found = admin.list_offsets({tp: spec for tp in tps})
    out = []
    for tp in tps:
        offset = _wait(found[tp], "list offsets").offset
        if offset < 0:  # no record at or after the time: the end of the partition
            offset = _wait(admin.list_offsets({tp: OffsetSpec.latest()})[tp], "list offsets").offset
        out.append(TopicPartition(tp.topic, tp.partition, offset))
    return out


def groups_delete(args) -> None:
    admin = _admin(args)
    _wait(admin.delete_consumer_groups([args.group])[args.group], f"cannot delete group {args.group}")
    emit({"deleted": args.group}, args.output)


# -- schemas -------------------------------------------------------------------------------


def _schema_from_args(args) -> Schema:
    try:
        text = Path(args.file).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}", 2) from None
    schema_type = args.type or {".proto": "PROTOBUF", ".json": "JSON"}.get(Path(args.file).suffix, "AVRO")
    refs = []
    for ref in args.reference or []:
        try:
            name, target = ref.split("=", 1)
            subject, version = target.rsplit(":", 1)
            refs.append(SchemaReference(name, subject, int(version)))
        except ValueError:
            raise CommandError(f"--reference expects name=subject:version, got {ref!r}", 2) from None
    return Schema(text, schema_type, tuple(refs))


def schemas_list(args) -> None:
    client = _registry(args)
    subjects = _registry_call(client.get_subjects)
    rows = []
    for subject in sorted(s for s in subjects if s.startswith(args.prefix or "")):
        latest = _registry_call(client.get_latest_version, subject)
        rows.append({"subject": subject, "latest_version": latest.version, "id": latest.schema_id,
                     "type": latest.schema.schema_type})
    emit(rows, args.output, ["subject", "latest_version", "id", "type"])


def schemas_get(args) -> None:
    client = _registry(args)
    if args.id is not None:
        schema = _registry_call(client.get_schema, args.id)
        emit({"id": args.id, "type": schema.schema_type, "schema": schema.schema_str}, args.output)
        return
    if not args.subject:
        raise CommandError("give a SUBJECT or --id", 2)
    reg = _registry_call(client.get_version, args.subject, args.version)
    emit({"subject": reg.subject, "version": reg.version, "id": reg.schema_id, "type": reg.schema.schema_type,
          "schema": reg.schema.schema_str}, args.output)


def schemas_register(args) -> None:
    client = _registry(args)
    reg = _registry_call(client.register_schema_full_response, args.subject, _schema_from_args(args),
                         args.normalize)
    emit({"subject": args.subject, "id": reg.schema_id}, args.output)


def schemas_check(args) -> None:
    client = _registry(args)
    compatible = _registry_call(client.test_compatibility, args.subject, _schema_from_args(args), args.version)
    emit({"subject": args.subject, "compatible": compatible}, args.output)
    if not compatible:
        raise CommandError(f"the schema is not compatible with {args.subject} version {args.version}")


def schemas_delete(args) -> None:
    client = _registry(args)
    if args.version:
        deleted = _registry_call(client.delete_version, args.subject, int(args.version), args.permanent)
    else:
        deleted = _registry_call(client.delete_subject, args.subject, args.permanent)
    emit({"subject": args.subject, "deleted": deleted}, args.output)


def schemas_config(args) -> None:
    client = _registry(args)
    if args.set:
        level = _registry_call(client.set_compatibility, args.subject, args.set.upper())
    else:
        level = _registry_call(client.get_compatibility, args.subject)
    emit({"subject": args.subject or "(global)", "compatibility": level}, args.output)


def schemas_mode(args) -> None:
    client = _registry(args)
    if args.set:
        mode = _registry_call(client.set_mode, args.set.upper(), args.subject, args.force)
    else:
        mode = _registry_call(client.get_mode, args.subject)
    emit({"subject": args.subject or "(global)", "mode": mode}, args.output)


# -- status --------------------------------------------------------------------------------


def status(args) -> None:
    out: dict = {}
    failed = False
    admin = AdminClient({**_client_conf(args), **QUIET})
    try:
        md = admin.list_topics(timeout=5)
        out["broker"] = f"up at {args.bootstrap_server} (cluster {md.cluster_id}, {len(md.brokers)} broker(s), " \
                        f"{len(md.topics)} topic(s))"
    except KafkaException as exc:
        out["broker"] = f"unreachable at {args.bootstrap_server}: {exc.args[0].str()}"
        failed = True
    client = _registry(args, **{"max.retries": 0, "timeout": 5})
    url = url_without_userinfo(args.registry_url)
    try:
        subjects = client.get_subjects()
        out["registry"] = f"up at {url} ({len(subjects)} subject(s), mode {client.get_mode()})"
    except SchemaRegistryError as exc:
        out["registry"] = f"unreachable at {url}: {exc.error_message}"
        failed = True
    summaries = None if args.no_metrics else metrics_status.collect(args, _registry_scrape_auth(args))
    if summaries is not None and args.output == "json":
        out["metrics"] = summaries
    emit(out, args.output)
    if summaries is not None and args.output != "json":
        print(metrics_status.render(summaries))
    if failed:
        raise CommandError("not everything is up", EXIT_UNREACHABLE)


def _registry_scrape_auth(args) -> tuple[str | None, str | None]:
    """(user:password, CA file) for reading the registry's /metrics as the registry client would."""
    conf = registry_client_conf(read_properties(getattr(args, "registry_config", None)), url=args.registry_url)
    return conf.get("basic.auth.user.info"), conf.get("ssl.ca.location")


# -- argument parsing ------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, broker: bool = True, registry: bool = False) -> None:
    if broker:
        p.add_argument("--bootstrap-server", default="127.0.0.1:9092")
        p.add_argument("--command-config", metavar="FILE",
                       help="client properties as Kafka's tools take them (security.protocol, ssl.*, sasl.*)")
    if registry:
        p.add_argument("--registry-url", default="http://127.0.0.1:8081")
        p.add_argument("--registry-config", metavar="FILE",
                       help="registry client properties as Confluent's serializers take them "
                            "(schema.registry.basic.auth.user.info, schema.registry.ssl.*, ...)")
    p.add_argument("--output", choices=("table", "json"), default="table")


def add_admin_commands(sub) -> None:
    topics = sub.add_parser("topics", help="create, list, describe, alter and delete topics")
    t = topics.add_subparsers(dest="action", required=True)
    p = t.add_parser("create")
    p.add_argument("name")
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--replication-factor", type=int, default=1)
    p.add_argument("--config", action="append", metavar="KEY=VALUE")
    p.add_argument("--value-schema-validation", action="store_true",
                   help="records must carry the id of a schema registered for TOPIC-value")
    p.add_argument("--key-schema-validation", action="store_true")
    p.add_argument("--validation-mode", choices=("id", "payload"))
    _common(p)
    p.set_defaults(func=topics_create)
    p = t.add_parser("list")
    p.add_argument("--internal", action="store_true", help="include internal topics")
    _common(p)
    p.set_defaults(func=topics_list)
    p = t.add_parser("describe")
    p.add_argument("name")
    _common(p)
    p.set_defaults(func=topics_describe)
    p = t.add_parser("alter")
    p.add_argument("name")
    p.add_argument("--config", action="append", metavar="KEY=VALUE")
    p.add_argument("--delete-config", action="append", metavar="KEY")
    p.add_argument("--partitions", type=int, help="new total partition count")
    _common(p)
    p.set_defaults(func=topics_alter)
    p = t.add_parser("delete")
    p.add_argument("name")
    _common(p)
    p.set_defaults(func=topics_delete)

    groups = sub.add_parser("groups", help="list, describe, reset offsets of and delete consumer groups")
    g = groups.add_subparsers(dest="action", required=True)
    p = g.add_parser("list")
    _common(p)
    p.set_defaults(func=groups_list)
    p = g.add_parser("describe")
    p.add_argument("group")
    _common(p)
    p.set_defaults(func=groups_describe)
    p = g.add_parser("reset-offsets")
    p.add_argument("group")
    p.add_argument("--topic", required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-earliest", action="store_true")
    target.add_argument("--to-latest", action="store_true")
    target.add_argument("--to-offset", type=int)
    target.add_argument("--to-datetime", help="ISO 8601, e.g. 2026-11-25T10:00:00")
    p.add_argument("--dry-run", action="store_true")
    _common(p)
    p.set_defaults(func=groups_reset_offsets)
    p = g.add_parser("delete")
    p.add_argument("group")
    _common(p)
    p.set_defaults(func=groups_delete)

    schemas = sub.add_parser("schemas", help="list, get, register, check and delete schemas; config and mode")
    s = schemas.add_subparsers(dest="action", required=True)
    p = s.add_parser("list")
    p.add_argument("--prefix")
    _common(p, broker=False, registry=True)
    p.set_defaults(func=schemas_list)
    p = s.add_parser("get")
    p.add_argument("subject", nargs="?")
    p.add_argument("--version", default="latest")
    p.add_argument("--id", type=int)
    _common(p, broker=False, registry=True)
    p.set_defaults(func=schemas_get)
    for name, func, help_ in (("register", schemas_register, "register a schema file under SUBJECT"),
                              ("check", schemas_check, "check a schema file against SUBJECT's compatibility")):
        p = s.add_parser(name, help=help_)
        p.add_argument("subject")
        p.add_argument("--file", required=True)
        p.add_argument("--type", choices=("AVRO", "PROTOBUF", "JSON"))
        p.add_argument("--reference", action="append", metavar="NAME=SUBJECT:VERSION")
        if name == "register":
            p.add_argument("--normalize", action="store_true")
        else:
            p.add_argument("--version", default="latest")
        _common(p, broker=False, registry=True)
        p.set_defaults(func=func)
    p = s.add_parser("delete")
    p.add_argument("subject")
    p.add_argument("--version")
    p.add_argument("--permanent", action="store_true")
    _common(p, broker=False, registry=True)
    p.set_defaults(func=schemas_delete)
    for name, func in (("config", schemas_config), ("mode", schemas_mode)):
        p = s.add_parser(name, help=f"show or --set the {'compatibility level' if name == 'config' else 'mode'}")
        p.add_argument("subject", nargs="?")
        p.add_argument("--set")
        if name == "mode":
            p.add_argument("--force", action="store_true")
        _common(p, broker=False, registry=True)
        p.set_defaults(func=func)

    p = sub.add_parser("status", help="is the broker up, is the registry up; every service's headline metrics")
    _common(p, registry=True)
    metrics_status.add_arguments(p)
    p.set_defaults(func=status)
