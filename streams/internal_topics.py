"""The topics an application owns (Kafka's InternalTopicManager and the partition counts its
assignor computes): `<application.id>-<name>-repartition` and `<application.id>-<store>-changelog`.

A repartition topic gets as many partitions as the largest input of the sub-topologies writing
to it (unless the topology fixed a number); a changelog as many as its sub-topology's inputs.
Missing ones are created; existing ones must have the expected partition count.
"""

from __future__ import annotations

import logging

from confluent_kafka.admin import AdminClient, NewTopic

from streams.errors import MissingSourceTopicException, StreamsException
from streams.topology import SinkNode, SourceNode, SubTopology, Topology

log = logging.getLogger("streams.topics")


def topic_names(topology: Topology, application_id: str) -> dict[str, str]:
    """Each topic name as the topology writes it -> the name on the broker."""
    names = {}
    for node in topology.nodes.values():
        topics = node.topics if isinstance(node, SourceNode) else \
            [node.topic] if isinstance(node, SinkNode) and isinstance(node.topic, str) else []
        for topic in topics:
            names[topic] = f"{application_id}-{topic}" if topic in topology.internal_topics else topic
    for name in topology.internal_topics:
        names[name] = f"{application_id}-{name}"
    return names


def prepare(admin: AdminClient, topology: Topology, subs: list[SubTopology], names: dict[str, str],
            replication_factor: int, timeout: float = 30.0) -> dict[str, int]:
    """Check the source topics, create the internal ones; the partition count of every topic."""
    metadata = admin.list_topics(timeout=timeout).topics
    counts: dict[str, int] = {}
    internal = topology.internal_topics
    missing = []
    for sub in subs:
        for topic in sub.source_topics:
            if topic in internal:
                continue
            found = metadata.get(names[topic])
            if found is None or found.error is not None:
                missing.append(names[topic])
            else:
                counts[topic] = len(found.partitions)
    if missing:
        raise MissingSourceTopicException(f"One or more source topics were missing during rebalance: "
                                          f"{sorted(set(missing))}")
    _repartition_counts(topology, subs, counts)
    _check_copartitioned(topology, subs, counts, names)
    for sub in subs:
        inputs = [counts[t] for t in sub.source_topics if t in counts]
        for store in sub.stores:
            changelog = f"{store}-changelog"
            if changelog in internal:
                counts[changelog] = max(inputs) if inputs else 1
    _create(admin, topology, names, counts, metadata, replication_factor, timeout)
    return {names[t]: n for t, n in counts.items()}


def _repartition_counts(topology: Topology, subs: list[SubTopology], counts: dict[str, int]) -> None:
    pending = {name for name, t in topology.internal_topics.items() if t.kind == "repartition"}
    for name in list(pending):
        if topology.internal_topics[name].partitions:
            counts[name] = topology.internal_topics[name].partitions
            pending.discard(name)
    while pending:
        progressed = False
        for name in sorted(pending):
            writers = [sub for sub in subs if name in sub.sink_topics]
            inputs = [counts.get(t) for sub in writers for t in sub.source_topics]
            if inputs and all(n is not None for n in inputs):
                counts[name] = max(inputs)
                pending.discard(name)
                progressed = True
        if not progressed:
            raise StreamsException(f"Could not compute the partition counts of repartition topics {sorted(pending)}")


def _check_copartitioned(topology: Topology, subs: list[SubTopology], counts: dict[str, int],
                         names: dict[str, str]) -> None:
    """A join's inputs must have the same number of partitions, or keys would not meet (Kafka
    checks this at the first rebalance; here at start)."""
    for node in topology.copartitioned:
        sub = next(s for s in subs if node in s.nodes)
        # Repartition topics feeding a join take the partition count of its other inputs.
        fixed = [counts[t] for t in sub.source_topics if t not in topology.internal_topics]
        for topic in sub.source_topics:
            if topic in topology.internal_topics and not topology.internal_topics[topic].partitions:
                counts[topic] = max(fixed) if fixed else max(counts[t] for t in sub.source_topics)
        found = {names[t]: counts[t] for t in sub.source_topics}
        if len(set(found.values())) > 1:
            raise StreamsException(f"Topics not co-partitioned: [{', '.join(f'{t}:{n}' for t, n in sorted(found.items()))}]"
                                   f" (the inputs of {node} need the same number of partitions)")


def _create(admin: AdminClient, topology: Topology, names: dict[str, str], counts: dict[str, int], metadata,
            replication_factor: int, timeout: float) -> None:
    new = []
    for name, spec in topology.internal_topics.items():
        if name not in counts:
            continue  # a store of no sub-topology: unused
        actual, partitions = names[name], counts[name]
        existing = metadata.get(actual)
        if existing is not None and existing.error is None:
            if len(existing.partitions) != partitions:
                raise StreamsException(f"Existing internal topic {actual} has invalid partitions: expected: "
                                       f"{partitions}; actual: {len(existing.partitions)}. Use 'Cleaning Up "
                                       f"(schemabus streams reset)' to reset the application.")
            continue
        new.append(NewTopic(actual, partitions, replication_factor, config=dict(spec.configs)))
    if not new:
        return
    for topic, future in admin.create_topics(new, operation_timeout=timeout).items():
        try:
            future.result(timeout)
            log.info("Created internal topic %s", topic)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                raise StreamsException(f"Could not create internal topic {topic}: {exc}") from exc
