"""`schemabus streams`: the stream processing applications on a cluster, what they run and how far
behind they are, and kafka-streams-application-reset's reset.

An application is a consumer group with internal topics named `<application.id>-...-changelog` or
`<application.id>-...-repartition`, as Kafka Streams names them."""

from __future__ import annotations

import os

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import OffsetSpec

from cli.admin import _admin, _common, _wait
from cli.output import CommandError, emit

_INTERNAL_SUFFIXES = ("-changelog", "-repartition")


def _internal_topics(topics, application: str) -> list[str]:
    return sorted(t for t in topics if t.startswith(f"{application}-") and t.endswith(_INTERNAL_SUFFIXES))


def _end_offsets(admin, tps: list[TopicPartition], spec) -> dict[tuple[str, int], int]:
    if not tps:
        return {}
    found = admin.list_offsets({tp: spec for tp in tps})
    return {(tp.topic, tp.partition): _wait(future, "list offsets").offset for tp, future in found.items()}


def _committed(admin, application: str) -> list[TopicPartition]:
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(application)])[application]
    return [tp for tp in _wait(result, f"cannot fetch offsets of {application}").topic_partitions if tp.offset >= 0]


def _lag(admin, committed: list[TopicPartition]) -> dict[tuple[str, int], int]:
    ends = _end_offsets(admin, [TopicPartition(tp.topic, tp.partition) for tp in committed], OffsetSpec.latest())
    return {(tp.topic, tp.partition): max(ends[(tp.topic, tp.partition)] - tp.offset, 0) for tp in committed}


def streams_list(args) -> None:
    admin = _admin(args)
    topics = admin.list_topics(timeout=10).topics
    groups = _wait(admin.list_consumer_groups(), "cannot list groups").valid
    rows = []
    for group in sorted(groups, key=lambda g: g.group_id):
        internal = _internal_topics(topics, group.group_id)
        if not internal:
            continue
        description = _wait(admin.describe_consumer_groups([group.group_id])[group.group_id], "describe group")
        lag = _lag(admin, _committed(admin, group.group_id))
        rows.append({"application": group.group_id, "state": getattr(description.state, "name", ""),
                     "instances": len({m.client_id.split("-StreamThread-")[0] for m in description.members}),
                     "threads": len(description.members), "lag": sum(lag.values()),
                     "stores": sum(1 for t in internal if t.endswith("-changelog"))})
    emit(rows, args.output, ["application", "state", "instances", "threads", "lag", "stores"])


def streams_describe(args) -> None:
    admin = _admin(args)
    application = args.application
    topics = admin.list_topics(timeout=10).topics
    internal = _internal_topics(topics, application)
    description = _wait(admin.describe_consumer_groups([application])[application], f"cannot describe {application}")
    if not internal and not description.members:
        raise CommandError(f"no streams application {application!r}: no internal topics and no members", 1)
    members = [{"thread": m.client_id, "host": m.host,
                "partitions": ",".join(f"{tp.topic}-{tp.partition}"
                                       for tp in (m.assignment.topic_partitions if m.assignment else []))}
               for m in description.members]
    committed = _committed(admin, application)
    lag = _lag(admin, committed)
    offsets = [{"topic": tp.topic, "partition": tp.partition, "committed": tp.offset, "lag": lag[(tp.topic, tp.partition)]}
               for tp in sorted(committed, key=lambda tp: (tp.topic, tp.partition))]
    tps = [TopicPartition(t, p) for t in internal for p in topics[t].partitions]
    ends, starts = _end_offsets(admin, tps, OffsetSpec.latest()), _end_offsets(admin, tps, OffsetSpec.earliest())
    stores = [{"topic": t, "kind": t.rsplit("-", 1)[1], "partitions": len(topics[t].partitions),
               "records": sum(ends[(t, p)] - starts[(t, p)] for p in topics[t].partitions)} for t in internal]
    local = _local_state(args.state_dir, application) if args.state_dir else []
    state = getattr(description.state, "name", "")
    if args.output == "json":
        emit({"application": application, "state": state, "threads": members, "offsets": offsets,
              "internal_topics": stores, "local_state": local}, "json")
        return
    print(f"application {application}: {state}, {len(members)} stream thread(s)")
    emit(members, "table", ["thread", "host", "partitions"])
    print()
    emit(offsets, "table", ["topic", "partition", "committed", "lag"])
    print()
    emit(stores, "table", ["topic", "kind", "partitions", "records"])
    if local:
        print()
        emit(local, "table", ["task", "bytes"])


def _local_state(state_dir: str, application: str) -> list[dict]:
    """Each task directory's size on disk (its RocksDB stores and checkpoint)."""
    root = os.path.join(state_dir, application)
    rows = []
    for task in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        path = os.path.join(root, task)
        if os.path.isdir(path):
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
            rows.append({"task": task, "bytes": size})
    return rows


def streams_reset(args) -> None:
    """kafka-streams-application-reset: input topics back to their beginning, intermediate topics
    to their end, internal topics deleted; the application must not be running. Its instances
    rebuild their local state on the next start (their checkpoints no longer match)."""
    admin = _admin(args)
    application = args.application
    description = _wait(admin.describe_consumer_groups([application])[application], f"cannot describe {application}")
    if description.members:
        raise CommandError(f"Consumer group {application} is still active: stop every instance of the application "
                           f"first ({len(description.members)} member(s) left)", 1)
    topics = admin.list_topics(timeout=10).topics
    internal = _internal_topics(topics, application)
    intermediate = [t for t in (args.intermediate_topics or "").split(",") if t]
    committed = _committed(admin, application)
    inputs = [t for t in (args.input_topics or "").split(",") if t] or \
        sorted({tp.topic for tp in committed} - set(internal) - set(intermediate))
    missing = [t for t in inputs + intermediate if t not in topics]
    if missing:
        raise CommandError(f"topics not found: {', '.join(missing)}", 1)
    targets = _end_offsets(admin, [TopicPartition(t, p) for t in inputs for p in topics[t].partitions],
                           OffsetSpec.earliest())
    targets.update(_end_offsets(admin, [TopicPartition(t, p) for t in intermediate for p in topics[t].partitions],
                                OffsetSpec.latest()))
    plan = {"application": application, "input_topics": inputs, "intermediate_topics": intermediate,
            "internal_topics_deleted": internal,
            "offsets": [{"topic": t, "partition": p, "new_offset": o} for (t, p), o in sorted(targets.items())]}
    if args.dry_run:
        emit(plan, args.output)
        return
    if internal:
        for topic, future in admin.delete_topics(internal, operation_timeout=30).items():
            _wait(future, f"cannot delete {topic}")
    if committed:  # the internal topics' offsets go too; the inputs' are set again below
        _wait(admin.delete_consumer_groups([application])[application], f"cannot clear the offsets of {application}")
    if targets:
        request = ConsumerGroupTopicPartitions(application, [TopicPartition(t, p, o) for (t, p), o in targets.items()])
        _wait(admin.alter_consumer_group_offsets([request])[application], f"cannot reset offsets of {application}")
    emit(plan, args.output)


def add_streams_commands(sub) -> None:
    streams = sub.add_parser("streams", help="stream processing applications: list, describe, reset")
    s = streams.add_subparsers(dest="action", required=True)
    p = s.add_parser("list", help="applications with their state, instances and lag")
    _common(p)
    p.set_defaults(func=streams_list)
    p = s.add_parser("describe", help="an application's threads, committed offsets, lag and state stores")
    p.add_argument("application")
    p.add_argument("--state-dir", help="also show the sizes of this machine's task directories under it")
    _common(p)
    p.set_defaults(func=streams_describe)
    p = s.add_parser("reset", help="as kafka-streams-application-reset: inputs to the beginning, internal "
                                   "topics deleted")
    p.add_argument("application")
    p.add_argument("--input-topics", help="comma-separated; default: the non-internal topics it committed")
    p.add_argument("--intermediate-topics", help="comma-separated topics the application writes and reads: to "
                                                 "their end")
    p.add_argument("--dry-run", action="store_true")
    _common(p)
    p.set_defaults(func=streams_reset)
