"""Topology: source, processor and sink nodes, the state stores processors use, and the
sub-topologies they fall into (Kafka's Topology and InternalTopologyBuilder).

Nodes joined by a parent/child edge or by a shared store are one sub-topology; a repartition
topic (written by a sink, read by a source) separates two. A task is one sub-topology on one
partition number: `<sub-topology>_<partition>`, as Kafka names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from streams.processor import Processor
from streams.serdes import Serde
from streams.state import StoreBuilder


class TopologyError(ValueError):
    pass


@dataclass
class SourceNode:
    name: str
    topics: list[str]
    pattern: re.Pattern | None = None
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    timestamp_extractor: Callable | None = None
    offset_reset: str | None = None
    children: list[str] = field(default_factory=list)


@dataclass
class ProcessorNode:
    name: str
    supplier: Callable[[], Processor]
    parents: list[str]
    stores: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)


@dataclass
class SinkNode:
    name: str
    topic: str | Callable
    parents: list[str]
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    partitioner: Callable | None = None  # (topic, key, value, num_partitions) -> partition or None
    children: list[str] = field(default_factory=list)


@dataclass
class InternalTopic:
    """A topic the application owns: created with `<application.id>-` in front of its name."""
    name: str
    kind: str  # "repartition" or "changelog"
    partitions: int | None = None  # None: from the sub-topology's inputs
    configs: dict = field(default_factory=dict)


@dataclass
class SubTopology:
    id: int
    nodes: list[str]
    source_topics: list[str]          # as written in the topology (internal ones without the prefix)
    sink_topics: list[str]
    stores: list[str]


class Topology:
    def __init__(self):
        self.nodes: dict[str, SourceNode | ProcessorNode | SinkNode] = {}
        self.stores: dict[str, StoreBuilder] = {}
        self.internal_topics: dict[str, InternalTopic] = {}
        self.copartitioned: list[str] = []
        self.global_stores: dict[str, tuple[str, StoreBuilder]] = {}  # store -> (topic, builder)  # join nodes: the inputs of their sub-topology must be co-partitioned
        self._order: list[str] = []

    # -- building (Kafka's Topology methods) -------------------------------------------------------

    def _add(self, node) -> None:
        if node.name in self.nodes:
            raise TopologyError(f"Processor {node.name} is already added.")
        self.nodes[node.name] = node
        self._order.append(node.name)

    def _link(self, name: str, parents) -> None:
        for parent in parents:
            if parent not in self.nodes:
                raise TopologyError(f"Parent processor {parent} is not added yet for {name}.")
            if isinstance(self.nodes[parent], SinkNode):
                raise TopologyError(f"Sink {parent} cannot be used as a parent.")
            self.nodes[parent].children.append(name)

    def add_source(self, name: str, *topics: str, pattern: str | None = None, key_serde: Serde | None = None,
                   value_serde: Serde | None = None, timestamp_extractor: Callable | None = None,
                   offset_reset: str | None = None) -> "Topology":
        if not topics and pattern is None:
            raise TopologyError(f"Source {name} needs at least one topic or a pattern")
        for topic in topics:
            for other in self.nodes.values():
                if isinstance(other, SourceNode) and topic in other.topics:
                    raise TopologyError(f"Topic {topic} has already been registered by another source.")
        self._add(SourceNode(name, list(topics), re.compile(pattern) if pattern else None, key_serde, value_serde,
                             timestamp_extractor, offset_reset))
        return self

    def add_processor(self, name: str, supplier: Callable[[], Processor], *parents: str) -> "Topology":
        if not parents:
            raise TopologyError(f"Processor {name} must have at least one parent")
        self._add(ProcessorNode(name, supplier, list(parents)))
        self._link(name, parents)
        return self

    def add_sink(self, name: str, topic, *parents: str, key_serde: Serde | None = None,
                 value_serde: Serde | None = None, partitioner: Callable | None = None) -> "Topology":
        if not parents:
            raise TopologyError(f"Sink {name} must have at least one parent")
        self._add(SinkNode(name, topic, list(parents), key_serde, value_serde, partitioner))
        self._link(name, parents)
        return self

    def add_state_store(self, builder: StoreBuilder, *processor_names: str) -> "Topology":
        if builder.name in self.stores:
            raise TopologyError(f"StateStore {builder.name} is already added.")
        self.stores[builder.name] = builder
        if builder.logging:
            self.internal_topics.setdefault(
                changelog_name(builder.name),
                InternalTopic(changelog_name(builder.name), "changelog",
                              configs={"cleanup.policy": "compact", **builder.log_config}))
        self.connect_processor_and_state_stores(*processor_names, stores=[builder.name])
        return self

    def connect_processor_and_state_stores(self, *processor_names: str, stores: list[str]) -> "Topology":
        for name in processor_names:
            node = self.nodes.get(name)
            if not isinstance(node, ProcessorNode):
                raise TopologyError(f"Processor {name} is not added yet.")
            for store in stores:
                if store not in self.stores:
                    raise TopologyError(f"StateStore {store} is not added yet.")
                if store not in node.stores:
                    node.stores.append(store)
        return self

    def add_repartition_topic(self, name: str, partitions: int | None = None) -> None:
        self.internal_topics[name] = InternalTopic(name, "repartition", partitions,
                                                   {"cleanup.policy": "delete", "retention.ms": "-1",
                                                    "segment.bytes": "52428800"})

    # -- what it became ------------------------------------------------------------------------

    def sub_topologies(self) -> list[SubTopology]:
        parent = {name: name for name in self.nodes}

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def union(a, b):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb, key=self._order.index)] = min(ra, rb, key=self._order.index)

        by_store: dict[str, str] = {}
        for name, node in self.nodes.items():
            for child in node.children:
                union(name, child)
            for store in getattr(node, "stores", []):
                if store in by_store:
                    union(name, by_store[store])
                by_store.setdefault(store, name)
        groups: dict[str, list[str]] = {}
        for name in self._order:
            groups.setdefault(find(name), []).append(name)
        result = []
        for index, members in enumerate(groups.values()):
            sources = [t for m in members if isinstance(self.nodes[m], SourceNode) for t in self.nodes[m].topics]
            sinks = [self.nodes[m].topic for m in members
                     if isinstance(self.nodes[m], SinkNode) and isinstance(self.nodes[m].topic, str)]
            stores = sorted({s for m in members for s in getattr(self.nodes[m], "stores", [])})
            result.append(SubTopology(index, members, sources, sinks, stores))
        return result

    def describe(self) -> str:
        """Kafka's TopologyDescription text."""
        lines = ["Topologies:"]
        for sub in self.sub_topologies():
            lines.append(f"   Sub-topology: {sub.id}")
            for name in sub.nodes:
                node = self.nodes[name]
                if isinstance(node, SourceNode):
                    what = f"Source: {name} (topics: [{', '.join(node.topics)}])"
                elif isinstance(node, SinkNode):
                    what = f"Sink: {name} (topic: {node.topic if isinstance(node.topic, str) else '<extractor>'})"
                else:
                    what = f"Processor: {name} (stores: [{', '.join(node.stores)}])"
                lines.append(f"    {what}")
                if node.children:
                    lines.append(f"      --> {', '.join(node.children)}")
                parents = getattr(node, "parents", None)
                if parents:
                    lines.append(f"      <-- {', '.join(parents)}")
        return "\n".join(lines) + "\n"


def changelog_name(store: str) -> str:
    return f"{store}-changelog"
