"""A stream task (Kafka's StreamTask): one sub-topology on one partition number, with its own
processor instances and state stores. It buffers the records of its input partitions, processes
them in timestamp order across partitions, runs punctuations, and says what to commit.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from typing import Callable

from streams.collector import RecordCollector
from streams.errors import StreamsException
from streams.processor import Cancellable, ProcessorContext, PunctuationType, Record, RecordMetadata
from streams.serdes import Serde
from streams.state import KeyValueStore
from streams.state_manager import ChangelogReader, delete_checkpoint, read_checkpoint, write_checkpoint
from streams.timestamps import TimestampExtractor
from streams.topology import ProcessorNode, SinkNode, SourceNode, SubTopology, Topology

log = logging.getLogger("streams.task")


class TaskContext:
    """What every node of a task shares."""

    def __init__(self, application_id: str, task_id: str, partition: int):
        self.application_id = application_id
        self.task_id = task_id
        self.partition = partition
        self.message = None  # the consumed message being processed (none in a punctuation)
        self.stream_time = -1
        self.commit_requested = False
        self.stores: dict[str, KeyValueStore] = {}
        self.global_stores: dict[str, KeyValueStore] = {}  # any processor may read these
        self.punctuations: list[list] = []  # [interval, type, due, punctuator, cancellable]


class NodeContext(ProcessorContext):
    """The context one processor node gets: forward() reaches that node's children."""

    def __init__(self, task: TaskContext, node_name: str, stores: list[str], key_serde: Serde,
                 value_serde: Serde):
        self._task = task
        self._node = node_name
        self._stores = set(stores)
        self.application_id = task.application_id
        self.task_id = task.task_id
        self.key_serde, self.value_serde = key_serde, value_serde
        self.children: list = []
        self.children_by_name: dict[str, object] = {}

    def forward(self, record: Record, child_name: str | None = None) -> None:
        if child_name is not None:
            child = self.children_by_name.get(child_name)
            if child is None:
                raise StreamsException(f"Unknown downstream node {child_name} of {self._node}")
            child(record)
            return
        for child in self.children:
            child(record)

    def schedule(self, interval_ms: int, punctuation_type: PunctuationType,
                 punctuator: Callable[[int], None]) -> Cancellable:
        if interval_ms < 1:
            raise ValueError("The minimum supported scheduling interval is 1 millisecond.")
        cancellable = Cancellable()
        now = self._task.stream_time if punctuation_type is PunctuationType.STREAM_TIME else _now_ms()
        due = (now + interval_ms) if now >= 0 else -1
        self._task.punctuations.append([interval_ms, punctuation_type, due, punctuator, cancellable])
        return cancellable

    def get_state_store(self, name: str):
        if name in self._task.global_stores:
            return self._task.global_stores[name]
        if name not in self._stores:
            raise StreamsException(f"Processor {self._node} has no access to StateStore {name} as the store is not "
                                   f"connected to the processor.")
        return self._task.stores[name]

    def record_metadata(self) -> RecordMetadata | None:
        msg = self._task.message  # made on request: most records are never asked for theirs
        return None if msg is None else RecordMetadata(msg.topic(), msg.partition(), msg.offset())

    def current_stream_time_ms(self) -> int:
        return self._task.stream_time

    def current_system_time_ms(self) -> int:
        return _now_ms()

    def commit(self) -> None:
        self._task.commit_requested = True


def _now_ms() -> int:
    return int(time.time() * 1000)


class Source:
    """A source node at run time: bytes to a Record, handed to the children."""

    def __init__(self, node: SourceNode, topic: str, key_serde: Serde, value_serde: Serde,
                 extractor: TimestampExtractor):
        self.name = node.name
        self.topic = topic
        self.key_deserialize = key_serde.deserialize
        self.value_deserialize = value_serde.deserialize
        self.extractor = extractor
        self.children: list = []


class StreamTask:
    def __init__(self, task_id: str, sub: SubTopology, topology: Topology, partition: int, topics: dict[str, str],
                 config, collector: RecordCollector, deserialization_handler, state_dir: str | None,
                 global_stores: dict | None = None):
        """`topics` maps each topic name written in the topology to the one on the broker
        (internal topics get `<application.id>-` in front)."""
        self.id = task_id
        self.sub = sub
        self.partition = partition
        self.collector = collector
        self.exactly_once = config.exactly_once
        self._deserialization_handler = deserialization_handler
        self.context = TaskContext(config.application_id, task_id, partition)
        self.context.global_stores = global_stores or {}
        self.directory = os.path.join(state_dir, config.application_id, task_id) if state_dir else None
        self.queues: dict[str, collections.deque] = {}
        self.consumed: dict[str, int] = {}  # topic -> next offset to commit
        self.sources: dict[str, Source] = {}
        self._processors: list = []
        default_key = config.default_key_serde
        default_value = config.default_value_serde
        self._build(topology, topics, config, default_key, default_value)
        self.changelogs = {name: topics[name + "-changelog"] for name in self.context.stores
                           if self.context.stores[name].logging}

    # -- building the node graph ----------------------------------------------------------------

    def _build(self, topology: Topology, topics: dict[str, str], config, default_key, default_value) -> None:
        for name in self.sub.stores:
            self.context.stores[name] = topology.stores[name].build()
        runtime: dict[str, object] = {}
        contexts: dict[str, NodeContext] = {}
        for name in self.sub.nodes:
            node = topology.nodes[name]
            if isinstance(node, SourceNode):
                for topic in node.topics:
                    extractor = TimestampExtractor.of(node.timestamp_extractor or config["default.timestamp.extractor"])
                    self.sources[topics[topic]] = Source(node, topics[topic], _resolve(node.key_serde, default_key),
                                                         _resolve(node.value_serde, default_value), extractor)
                    self.queues[topics[topic]] = collections.deque()
            elif isinstance(node, ProcessorNode):
                processor = node.supplier()
                contexts[name] = NodeContext(self.context, name, node.stores, default_key, default_value)
                runtime[name] = processor
                self._processors.append((processor, contexts[name]))
            else:
                runtime[name] = self._sink(node, topics, default_key, default_value)
        for name in self.sub.nodes:
            node = topology.nodes[name]
            targets = [_entry(runtime[c]) for c in node.children]
            if isinstance(node, SourceNode):
                for source in self.sources.values():
                    if source.name == name:
                        source.children = targets
            elif isinstance(node, ProcessorNode):
                contexts[name].children = targets
                contexts[name].children_by_name = {c: _entry(runtime[c]) for c in node.children}

    def _sink(self, node: SinkNode, topics: dict[str, str], default_key, default_value):
        key_serialize = _resolve(node.key_serde, default_key).serialize
        value_serialize = _resolve(node.value_serde, default_value).serialize
        collector, context, partitioner = self.collector, self.context, node.partitioner

        def sink(record: Record) -> None:
            topic = node.topic(record.key, record.value, context) if callable(node.topic) else topics[node.topic]
            key = key_serialize(topic, record.key, record.headers)
            value = value_serialize(topic, record.value, record.headers)
            partition = None
            if partitioner is not None:
                partition = partitioner(topic, record.key, record.value, collector.partitions_of(topic))
            collector.send(topic, key, value, record.timestamp, record.headers, partition)
        return sink

    # -- lifecycle -----------------------------------------------------------------------------

    def initialize(self, reader: ChangelogReader, key_serde: Serde, value_serde: Serde,
                   cache_max_entries: int) -> None:
        """Open the stores, bring them up to date from their changelogs, then init processors."""
        if self.directory:
            os.makedirs(self.directory, exist_ok=True)
        checkpoints = read_checkpoint(self.directory) if self.directory else {}
        if self.exactly_once and self.directory:
            delete_checkpoint(self.directory)  # while processing, the local state may run ahead of commits
        for name, store in self.context.stores.items():
            topic = self.changelogs.get(name)
            logger = None
            if topic is not None:
                self.collector.changelog_topics.add(topic)
                logger = self._changelog_writer(topic)
            store.init(self.directory, key_serde, value_serde, topic, logger, cache_max_entries)
            if topic is None:
                continue
            checkpoint = checkpoints.get((topic, self.partition)) if store.persistent else None
            start, end = reader.start_offset(topic, self.partition, checkpoint)
            if start < 0 and store.persistent:
                store.inner.wipe()
            reader.restore(topic, self.partition, start, end, store)
        self._end_offset = reader.end_offset
        for processor, context in self._processors:
            processor.init(context)

    def _changelog_writer(self, topic: str):
        send, partition, context = self.collector.send, self.partition, self.context

        def log_change(key: bytes, value: bytes | None, timestamp: int) -> None:
            send(topic, key, value, timestamp if timestamp >= 0 else max(context.stream_time, 0), None, partition)
        return log_change

    def add_records(self, topic: str, messages: list) -> None:
        self.queues[topic].extend(messages)

    def buffered(self) -> int:
        return sum(len(q) for q in self.queues.values())

    # -- processing ----------------------------------------------------------------------------

    def process(self) -> int:
        """Process everything buffered, the lowest head timestamp first across partitions."""
        queues = [(topic, q) for topic, q in self.queues.items() if q]
        count = 0
        if len(queues) == 1:
            topic, queue = queues[0]
            source = self.sources[topic]
            while queue:
                self._process_one(source, queue.popleft())
                count += 1
            return count
        while queues:
            topic, queue = min(queues, key=lambda item: item[1][0].timestamp()[1])
            self._process_one(self.sources[topic], queue.popleft())
            count += 1
            if not queue:
                queues = [(t, q) for t, q in queues if q]
        return count

    def _process_one(self, source: Source, msg) -> None:
        context = self.context
        topic, offset = source.topic, msg.offset()
        headers = msg.headers()
        try:
            key = source.key_deserialize(topic, msg.key(), headers)
            value = source.value_deserialize(topic, msg.value(), headers)
        except Exception as exc:
            self._deserialization_handler(exc, topic, msg.partition(), offset)  # raises to fail
            self.consumed[topic] = offset + 1
            return
        timestamp = source.extractor(msg, context.stream_time)
        if timestamp < 0:  # an extractor that skips (LogAndSkipOnInvalidTimestamp)
            self.consumed[topic] = offset + 1
            return
        context.message = msg
        if timestamp > context.stream_time:
            context.stream_time = timestamp
        record = Record(key, value, timestamp, headers)
        for child in source.children:
            child(record)
        self.consumed[topic] = offset + 1
        context.message = None
        if context.punctuations:
            self.punctuate(PunctuationType.STREAM_TIME, context.stream_time)

    def punctuate(self, kind: PunctuationType, now: int) -> None:
        for entry in list(self.context.punctuations):
            interval, entry_kind, due, punctuator, cancellable = entry
            if cancellable.cancelled:
                self.context.punctuations.remove(entry)
                continue
            if entry_kind is not kind or now < 0:
                continue
            if due < 0:
                entry[2] = now + interval  # the first stream time seen starts the schedule
                continue
            if now >= due:
                entry[2] = now + interval - ((now - due) % interval) if kind is PunctuationType.STREAM_TIME \
                    else now + interval
                punctuator(now)

    # -- commit --------------------------------------------------------------------------------

    def prepare_commit(self) -> dict[str, int]:
        """Flush the stores' caches (their changes go to the changelogs and downstream); the
        input offsets to commit for this task."""
        for store in self.context.stores.values():
            store.flush()
        self.context.commit_requested = False
        return {topic: offset for topic, offset in self.consumed.items()}

    def checkpoint(self) -> None:
        """After a commit: where the changelogs stand, for a restart to restore only the rest."""
        if not self.directory or not any(s.persistent for s in self.context.stores.values()):
            return
        # After the flush every write of this task is in its changelog partitions, whose only
        # writer it is: their end is where the local stores stand.
        offsets = {(topic, self.partition): self._end_offset(topic, self.partition)
                   for name, topic in self.changelogs.items() if self.context.stores[name].persistent}
        for store in self.context.stores.values():
            store.inner.flush()
        write_checkpoint(self.directory, offsets)

    def close(self, clean: bool) -> None:
        """Clean: after a commit, checkpoint and close. Dirty (after an error or an abort): drop
        what was not committed; the local state is restored again when the task comes back."""
        for processor, _ in self._processors:
            try:
                processor.close()
            except Exception:
                log.exception("task %s: a processor failed to close", self.id)
        if clean:
            self.checkpoint()
        for store in self.context.stores.values():
            if not clean:
                store.drop_cache()
            store.close()
        if not clean and self.directory:
            delete_checkpoint(self.directory)


def _entry(node) -> Callable[[Record], None]:
    return node.process if hasattr(node, "process") else node


def _resolve(serde: Serde | None, default: Serde | None) -> Serde:
    """A node's serde, the configured default where it has none (inside wrappers too)."""
    return serde.resolved(default) if serde is not None else _need(default)


def _need(serde: Serde | None) -> Serde:
    if serde is None:
        raise StreamsException("No serde given and no default.key.serde / default.value.serde configured")
    return serde
