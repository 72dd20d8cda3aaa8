"""A stream thread (Kafka's StreamThread): one consumer in the application's group, one producer
(transactional under exactly_once_v2), the tasks of the partitions it was assigned; the loop
polls, processes, punctuates and commits every `commit.interval.ms`.

Rebalances are eager (the range assignor: co-partitioned inputs of a task land together):
before partitions go, their tasks commit and close cleanly, checkpointing their stores; new
tasks restore their stores from the changelogs before they process anything.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.collector import RecordCollector
from streams.config import StreamsConfig
from streams.errors import StreamsException
from streams.processor import PunctuationType
from streams.state_manager import ChangelogReader
from streams.task import StreamTask
from streams.topology import SourceNode, SubTopology, Topology

log = logging.getLogger("streams.thread")

CREATED, STARTING, PARTITIONS_REVOKED, PARTITIONS_ASSIGNED, RUNNING, PENDING_SHUTDOWN, DEAD = (
    "CREATED", "STARTING", "PARTITIONS_REVOKED", "PARTITIONS_ASSIGNED", "RUNNING", "PENDING_SHUTDOWN", "DEAD")
_MAX_POLL_RECORDS = 1000
# An approximate entry size for turning statestore.cache.max.bytes into a number of entries.
_CACHE_ENTRY_BYTES = 128


class StreamThread(threading.Thread):
    def __init__(self, index: int, client_id: str, process_id: str, topology: Topology, config: StreamsConfig,
                 topics: dict[str, str], subs: list[SubTopology], on_state_change, state_dir: str | None,
                 global_stores: dict | None = None):
        super().__init__(name=f"{client_id}-StreamThread-{index}", daemon=True)
        self.index = index
        self.client_id = f"{client_id}-StreamThread-{index}"
        self.topology = topology
        self.config = config
        self.topics = topics
        self.subs = {sub.id: sub for sub in subs}
        self.sub_of_topic = {topics[t]: sub.id for sub in subs for t in sub.source_topics}
        self.reset_of_topic = {topics[t]: node.offset_reset for node in topology.nodes.values()
                               if isinstance(node, SourceNode) and node.offset_reset for t in node.topics}
        self.transactional_id = f"{config.application_id}-{process_id}-{index}" if config.exactly_once else None
        self.state_dir = state_dir
        self.global_stores = global_stores or {}
        self.tasks: dict[str, StreamTask] = {}
        self._task_of: dict[tuple[str, int], StreamTask] = {}  # (source topic, partition): its task
        self.state = CREATED
        self.error: BaseException | None = None
        self._on_state_change = on_state_change
        self._stopping = threading.Event()
        self._in_transaction = False
        self._committed: dict[tuple[str, int], int] = {}
        self._last_commit = time.monotonic()
        cache_bytes = int(config["statestore.cache.max.bytes"])
        self._cache_entries = max(cache_bytes // _CACHE_ENTRY_BYTES // config["num.stream.threads"], 0)
        handler = str(config["default.deserialization.exception.handler"]).rsplit(".", 1)[-1].lower()
        self._continue_on_bad_input = "continue" in handler
        production = str(config["default.production.exception.handler"]).rsplit(".", 1)[-1].lower()
        self._continue_on_send_error = "continue" in production
        self.repartition_topics = {topics[name] for name, t in topology.internal_topics.items()
                                   if t.kind == "repartition"}
        self._purgeable: dict[tuple[str, int], int] = {}
        self._purge_interval_ms = int(config["repartition.purge.interval.ms"])
        self._last_purge = time.monotonic()
        self.admin: AdminClient | None = None
        self.standbys = None  # the client's StandbyTasks, told which tasks this thread takes
        self.consumer: Consumer | None = None
        self.collector: RecordCollector | None = None
        self.reader: ChangelogReader | None = None

    # -- state ---------------------------------------------------------------------------------

    def _set_state(self, state: str) -> None:
        old, self.state = self.state, state
        if old != state:
            self._on_state_change(self, old, state)

    def shutdown(self) -> None:
        self._stopping.set()

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        self._set_state(STARTING)
        try:
            self._open_clients()
            self.consumer.subscribe(sorted(self.sub_of_topic), on_assign=self._on_assign,
                                    on_revoke=self._on_revoke, on_lost=self._on_lost)
            while not self._stopping.is_set():
                self._run_once()
            self._set_state(PENDING_SHUTDOWN)
            self._commit()
            self._close_tasks(clean=True)
        except BaseException as exc:  # the client decides what a dead thread means
            log.error("stream-thread [%s] Encountered the following exception during processing and the thread "
                      "is going to shut down:", self.name, exc_info=True)
            self.error = exc
            self._close_tasks(clean=False)
        finally:
            self._close_clients()
            self._set_state(DEAD)

    def _open_clients(self) -> None:
        self.collector = RecordCollector(self.config.producer_config(self.client_id, self.transactional_id),
                                         self._continue_on_send_error)
        if self.transactional_id:
            self.collector.producer.init_transactions(60)  # fences a previous instance's transactions
        self.reader = ChangelogReader(self.config.restore_consumer_config(self.client_id))
        self.consumer = Consumer(self.config.consumer_config(self.client_id))
        self.admin = AdminClient(self.config.admin_config(self.client_id))

    def _close_clients(self) -> None:
        for close in (lambda: self.consumer and self.consumer.close(),
                      lambda: self.reader and self.reader.close(),
                      lambda: self.collector and self.collector.producer.flush(10)):
            try:
                close()
            except Exception as exc:
                log.warning("stream-thread [%s] closing a client: %s", self.name, exc)
        self.consumer = self.reader = self.collector = self.admin = None  # librdkafka handles go with their objects

    def _run_once(self) -> None:
        messages = self.consumer.consume(_MAX_POLL_RECORDS, self.config["poll.ms"] / 1000)
        self._route(messages)
        if self.tasks:
            self._ensure_transaction()
            for task in self.tasks.values():
                if task.buffered():
                    task.process()
            now = int(time.time() * 1000)
            for task in self.tasks.values():
                if task.context.punctuations:
                    task.punctuate(PunctuationType.WALL_CLOCK_TIME, now)
        self.collector.poll()
        due = (time.monotonic() - self._last_commit) * 1000 >= self.config["commit.interval.ms"]
        if due or any(t.context.commit_requested for t in self.tasks.values()):
            self._commit()

    def _route(self, messages) -> None:
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                log.warning("stream-thread [%s] consumer: %s", self.name, error)
                continue
            task = self._task_of.get((msg.topic(), msg.partition()))
            if task is not None:
                task.queues[msg.topic()].append(msg)

    # -- transactions and commits -----------------------------------------------------------------

    def _ensure_transaction(self) -> None:
        if self.transactional_id and not self._in_transaction:
            self.collector.producer.begin_transaction()
            self._in_transaction = True

    def _commit(self) -> None:
        """Flush the stores (their changes go out), then make the output and the input offsets
        durable together: one transaction under exactly_once_v2; flush-then-commit otherwise."""
        self._last_commit = time.monotonic()
        if not self.tasks:
            return
        self._ensure_transaction()
        offsets = []
        for task in self.tasks.values():
            for topic, offset in task.prepare_commit().items():
                if self._committed.get((topic, task.partition)) != offset:
                    offsets.append(TopicPartition(topic, task.partition, offset))
        if self.transactional_id:
            if not self._commit_transaction(offsets):
                return  # aborted: the tasks went back to the last commit, these offsets never counted
        else:
            self.collector.flush()
            if offsets:
                try:
                    self.consumer.commit(offsets=offsets, asynchronous=False)
                except KafkaException as exc:
                    log.warning("stream-thread [%s] committing offsets failed (%s); the records since the last "
                                "commit will be processed again", self.name, exc)
                    return
            for task in self.tasks.values():
                task.checkpoint()
        for tp in offsets:
            self._committed[(tp.topic, tp.partition)] = tp.offset
            if tp.topic in self.repartition_topics:
                self._purgeable[(tp.topic, tp.partition)] = tp.offset
        self._purge_repartition_topics()

    def _purge_repartition_topics(self) -> None:
        """Every repartition.purge.interval.ms, delete what the application has consumed and
        committed from its repartition topics (only it reads them), as Kafka Streams does."""
        if not self._purgeable or (time.monotonic() - self._last_purge) * 1000 < self._purge_interval_ms:
            return
        self._last_purge = time.monotonic()
        below = [TopicPartition(t, p, offset) for (t, p), offset in sorted(self._purgeable.items())]
        self._purgeable.clear()
        for tp, future in self.admin.delete_records(below, request_timeout=30).items():
            future.add_done_callback(lambda f, tp=tp: f.exception() and log.debug(
                "stream-thread [%s] purging %s-%d below %d: %s", self.name, tp.topic, tp.partition, tp.offset,
                f.exception()))

    def _commit_transaction(self, offsets: list[TopicPartition]) -> bool:
        producer = self.collector.producer
        try:
            if offsets:
                producer.send_offsets_to_transaction(offsets, self.consumer.consumer_group_metadata(), 60)
            producer.commit_transaction(60)
            self._in_transaction = False
            self.collector.raise_error()
            return True
        except KafkaException as exc:
            error = exc.args[0]
            if error.fatal() or not error.txn_requires_abort():
                raise StreamsException(f"stream-thread [{self.name}] could not commit the transaction: "
                                       f"{error}") from exc
            log.warning("stream-thread [%s] aborting the transaction (%s); the tasks restart from their last "
                        "commit", self.name, error)
            producer.abort_transaction(60)
            self._in_transaction = False
            self.collector.forget_errors()
            self._revive_tasks()
            return False

    def _revive_tasks(self) -> None:
        """After an abort: every task's local state and position go back to the last commit."""
        partitions = [tp for task in self.tasks.values()
                      for tp in (TopicPartition(t, task.partition) for t in task.queues)]
        self._close_tasks(clean=False)
        committed = self.consumer.committed(partitions, timeout=30)
        self._create_tasks(partitions)
        for tp in committed:
            start = OFFSET_END if self.reset_of_topic.get(tp.topic) == "latest" else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else start))

    # -- rebalances ----------------------------------------------------------------------------

    def _on_assign(self, consumer, partitions: list[TopicPartition]) -> None:
        self._set_state(PARTITIONS_ASSIGNED)
        try:
            self._apply_offset_reset_policies(consumer, partitions)
            self._create_tasks(partitions)
        except BaseException as exc:
            self.error = exc
            self._stopping.set()
            log.exception("stream-thread [%s] could not create its tasks", self.name)
            return
        log.info("stream-thread [%s] assigned tasks %s", self.name, sorted(self.tasks))
        self._set_state(RUNNING)

    def _apply_offset_reset_policies(self, consumer, partitions: list[TopicPartition]) -> None:
        """Sources with their own reset policy (Consumed.with_offset_reset_policy) start where it
        says on partitions without a committed offset; the others keep auto.offset.reset."""
        own = [tp for tp in partitions if tp.topic in self.reset_of_topic]
        if not own:
            return
        uncommitted = {(tp.topic, tp.partition) for tp in consumer.committed(own, timeout=30) if tp.offset < 0}
        for tp in partitions:
            if (tp.topic, tp.partition) in uncommitted:
                tp.offset = OFFSET_BEGINNING if self.reset_of_topic[tp.topic] == "earliest" else OFFSET_END
        consumer.assign(partitions)

    def _on_revoke(self, consumer, partitions) -> None:
        if self.state not in (PENDING_SHUTDOWN, DEAD):
            self._set_state(PARTITIONS_REVOKED)
        try:
            self._commit()
        except Exception:
            log.exception("stream-thread [%s] commit before the rebalance failed; closing the tasks dirty", self.name)
            self._close_tasks(clean=False)
            return
        self._close_tasks(clean=True)

    def _on_lost(self, consumer, partitions) -> None:
        log.warning("stream-thread [%s] lost its partitions (its membership expired); closing its tasks dirty",
                    self.name)
        if self._in_transaction:
            try:
                self.collector.producer.abort_transaction(30)
            except KafkaException:
                pass
            self._in_transaction = False
        self._close_tasks(clean=False)

    def _create_tasks(self, partitions: list[TopicPartition]) -> None:
        numbers: dict[str, tuple[int, int]] = {}
        for tp in partitions:
            sub = self.sub_of_topic[tp.topic]
            numbers[f"{sub}_{tp.partition}"] = (sub, tp.partition)
        default_key, default_value = self.config.default_key_serde, self.config.default_value_serde
        for task_id, (sub, partition) in sorted(numbers.items()):
            if task_id in self.tasks:
                continue
            if self.standbys is not None:
                self.standbys.claim(task_id)  # its standby hands over the store and the checkpoint
            task = StreamTask(task_id, self.subs[sub], self.topology, partition, self.topics, self.config,
                              self.collector, self._bad_input, self.state_dir, self.global_stores)
            task.initialize(self.reader, default_key, default_value, self._cache_entries)
            self.tasks[task_id] = task
            for topic in task.queues:
                self._task_of[(topic, partition)] = task

    def _close_tasks(self, clean: bool) -> None:
        tasks, self.tasks = self.tasks, {}
        self._task_of.clear()
        for task in tasks.values():
            try:
                task.close(clean)
            except Exception:
                log.exception("stream-thread [%s] closing task %s", self.name, task.id)
            if self.standbys is not None:
                self.standbys.unclaim(task.id)
        self._committed.clear()

    def _bad_input(self, exc: Exception, topic: str, partition: int, offset: int) -> None:
        """The deserialization exception handler (default.deserialization.exception.handler)."""
        if self._continue_on_bad_input:
            log.warning("Skipping record due to deserialization error. topic=[%s] partition=[%d] offset=[%d]: %s",
                        topic, partition, offset, exc)
            return
        raise StreamsException(f"Deserialization exception handler is set to fail upon a deserialization error. "
                               f"topic=[{topic}] partition=[{partition}] offset=[{offset}]: {exc}") from exc
