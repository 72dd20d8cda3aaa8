"""Running a sink task (WorkerSinkTask): consume as the group `connect-<connector>`, convert,
transform, put; commit what pre_commit() says is safe every `offset.flush.interval.ms`, on
revocation and on stop. A RetriableException from put redelivers the same batch."""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

from connect.api import Header, SinkRecord, SinkTask, SinkTaskContext, TimestampType, TopicPartition
from connect.errors import RetriableException
from connect.tolerance import HEADER_CONVERTER, KEY_CONVERTER, SKIPPED, TRANSFORMATION, VALUE_CONVERTER, \
    ErrorHandler
from connect.worker_task import Converters, WorkerTask, class_of

log = logging.getLogger("connect.worker")

_TIMESTAMP_TYPES = {0: TimestampType.NO_TIMESTAMP_TYPE, 1: TimestampType.CREATE_TIME,
                    2: TimestampType.LOG_APPEND_TIME}
POLL_BATCH = 500


class WorkerSinkTask(WorkerTask):
    def __init__(self, ident, status, target_state, task: SinkTask, task_config: dict, connector_config: dict,
                 converters: Converters, transforms, consumer_config: dict, errors: ErrorHandler,
                 flush_interval_ms: int):
        super().__init__(ident, status, target_state)
        self.task = task
        self.task_config = task_config
        self.connector_config = connector_config
        self.converters = converters
        self.transforms = transforms
        self.consumer_config = {**consumer_config, "group.id": f"connect-{ident[0]}",
                                "client.id": f"connector-consumer-{ident[0]}-{ident[1]}",
                                "enable.auto.commit": False, "enable.auto.offset.store": False,
                                "auto.offset.reset": consumer_config.get("auto.offset.reset", "earliest")}
        self.consumer: Consumer | None = None
        self.errors = errors
        self.flush_interval = flush_interval_ms / 1000
        self.context = SinkTaskContext(dict(task_config))
        self.current_offsets: dict[TopicPartition, int] = {}
        self.last_committed: dict[TopicPartition, int] = {}
        self.retry_batch: list[SinkRecord] | None = None
        self.records_put = 0
        self.closing = False

    def initialize_and_start(self) -> None:
        self.task.initialize(self.context)
        self.task.start(dict(self.task_config))
        self.consumer = Consumer(self.consumer_config)
        topics = [t.strip() for t in (self.task_config.get("topics") or "").split(",") if t.strip()]
        regex = (self.task_config.get("topics.regex") or "").strip()
        subscription = topics or ["^" + regex]  # librdkafka reads a leading ^ as "this is a regex"
        self.consumer.subscribe(subscription, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)

    # -- rebalance callbacks (they run inside consume() on this thread) ---------------------------

    def _on_assign(self, consumer, partitions) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        for topic in {tp.topic for tp in tps}:
            self.status.on_topic(self.id, topic)
        self.context.assignment.update(tps)
        self.task.open(tps)
        if self.paused:
            consumer.pause(partitions)

    def _on_revoke(self, consumer, partitions) -> None:
        if self.closing:
            return
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        self._commit(tps, asynchronous=False)
        self._forget(tps)

    def _on_lost(self, consumer, partitions) -> None:
        if self.closing:
            return
        self._forget([TopicPartition(p.topic, p.partition) for p in partitions])

    def _forget(self, tps) -> None:
        if tps:
            self.task.close(tps)
        for tp in tps:
            self.context.assignment.discard(tp)
            self.current_offsets.pop(tp, None)
            self.last_committed.pop(tp, None)

    # -- the loop --------------------------------------------------------------------------------

    def execute(self) -> None:
        next_commit = time.monotonic() + self.flush_interval
        while not self.stopping.is_set():
            self._apply_context()
            batch = self.retry_batch
            messages = self.consumer.consume(POLL_BATCH, 0.1 if batch or self.paused else 1.0)
            if batch is None and messages:
                batch = self._convert(messages)
            elif messages:
                log.warning("%s got records while paused for a retry; rewinding", self)
                self._rewind_to(messages)
            if batch:
                self._deliver(batch)
            if self.context.commit_requested or time.monotonic() >= next_commit:
                self.context.commit_requested = False
                self._commit(list(self.current_offsets), asynchronous=True)
                next_commit = time.monotonic() + self.flush_interval

    def _apply_context(self) -> None:
        """Rewinds, pauses and resumes the task asked for through its context."""
        if self.context.rewinds:
            for tp, offset in self.context.rewinds.items():
                try:
                    self.consumer.seek(KafkaTopicPartition(tp.topic, tp.partition, offset))
                    self.current_offsets[tp] = offset
                except KafkaException as exc:
                    log.warning("%s could not rewind %s to %d: %s", self, tp, offset, exc)
            self.context.rewinds.clear()
        wanted_paused = set(self.context.assignment) if (self.paused or self.retry_batch) else set(self.context.paused)
        assignment = [KafkaTopicPartition(tp.topic, tp.partition) for tp in self.context.assignment]
        if assignment:
            to_pause = [p for p in assignment if TopicPartition(p.topic, p.partition) in wanted_paused]
            to_resume = [p for p in assignment if TopicPartition(p.topic, p.partition) not in wanted_paused]
            if to_pause:
                self.consumer.pause(to_pause)
            if to_resume:
                self.consumer.resume(to_resume)

    def _rewind_to(self, messages) -> None:
        first: dict[tuple, int] = {}
        for msg in messages:
            if not msg.error():
                first.setdefault((msg.topic(), msg.partition()), msg.offset())
        for (topic, partition), offset in first.items():
            self.consumer.seek(KafkaTopicPartition(topic, partition, offset))

    def _convert(self, messages) -> list[SinkRecord]:
        out = []
        for msg in messages:
            if msg.error():
                log.warning("%s consumer error: %s", self, msg.error())
                continue
            tp = TopicPartition(msg.topic(), msg.partition())
            self.current_offsets[tp] = msg.offset() + 1
            record = self._to_sink_record(msg)
            if record is not None:
                out.append(record)
        return out

    def _to_sink_record(self, msg) -> SinkRecord | None:
        topic = msg.topic()
        try:  # the common case in one go; a failure is redone stage by stage under errors.*
            key = self.converters.key.to_connect_data(topic, msg.key())
            value = self.converters.value.to_connect_data(topic, msg.value())
            headers = msg.headers()
            return self.transforms.apply(self._sink_record(msg, key, value, self._headers(topic, headers)
                                                           if headers else ()))
        except Exception:
            return self._to_sink_record_by_stage(msg)

    def _sink_record(self, msg, key, value, headers) -> SinkRecord:
        ts_type, ts = msg.timestamp()
        partition, offset, topic = msg.partition(), msg.offset(), msg.topic()
        return SinkRecord(topic, partition, key.schema, key.value, value.schema, value.value,
                          ts if ts_type else None, tuple(headers), offset,
                          _TIMESTAMP_TYPES.get(ts_type, TimestampType.NO_TIMESTAMP_TYPE), topic, partition, offset)

    def _to_sink_record_by_stage(self, msg) -> SinkRecord | None:
        """Each stage under the error handler (retries, tolerance, log, DLQ with the record's context)."""
        topic = msg.topic()
        headers = msg.headers() or []
        ts_type, ts = msg.timestamp()
        context = {"topic": topic, "partition": msg.partition(), "offset": msg.offset(), "key": msg.key(),
                   "value": msg.value(), "headers": headers, "timestamp": ts if ts_type else None}
        key = self.errors.execute(lambda: self.converters.key.to_connect_data(topic, msg.key()), KEY_CONVERTER,
                                  class_of(self.converters.key), context)
        value = self.errors.execute(lambda: self.converters.value.to_connect_data(topic, msg.value()),
                                    VALUE_CONVERTER, class_of(self.converters.value), context)
        connect_headers = self.errors.execute(lambda: self._headers(topic, headers), HEADER_CONVERTER,
                                              class_of(self.converters.header), context)
        if SKIPPED in (key, value, connect_headers):
            return None
        record = self._sink_record(msg, key, value, connect_headers)
        transformed = self.errors.execute(lambda: self.transforms.apply(record), TRANSFORMATION,
                                          class_of(self.transforms), context)
        return None if transformed is SKIPPED else transformed

    def _headers(self, topic, headers) -> list:
        out = []
        for k, v in headers:
            converted = self.converters.header.to_connect_header(topic, k, v)
            out.append(Header(k, converted.schema, converted.value))
        return out

    def _deliver(self, batch: list[SinkRecord]) -> None:
        try:
            self.task.put(batch)
        except RetriableException as exc:
            log.info("%s RetriableException from SinkTask: %s; redelivering the batch", self, exc)
            self.retry_batch = batch
            if self.context.timeout_ms > 0:
                self.stopping.wait(self.context.timeout_ms / 1000)
            return
        self.retry_batch = None
        self.records_put += len(batch)

    def _commit(self, tps: list[TopicPartition], asynchronous: bool) -> None:
        wanted = set(tps)
        current = {tp: off for tp, off in self.current_offsets.items() if tp in wanted}
        if not current:
            return
        if self.retry_batch:  # nothing of a batch not yet put may be committed
            for record in self.retry_batch:
                tp = TopicPartition(record.original_topic or record.topic,
                                    record.original_kafka_partition if record.original_kafka_partition is not None
                                    else record.kafka_partition)
                offset = record.original_kafka_offset if record.original_kafka_offset is not None else record.kafka_offset
                if tp in current:
                    current[tp] = min(current[tp], offset)
        try:
            to_commit = self.task.pre_commit(dict(current))
        except Exception as exc:
            log.error("%s Commit of offsets threw an unexpected exception: %s", self, exc)
            return
        offsets = [KafkaTopicPartition(tp.topic, tp.partition, off) for tp, off in (to_commit or {}).items()
                   if tp in self.context.assignment and self.last_committed.get(tp) != off]
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
            self.last_committed.update({TopicPartition(o.topic, o.partition): o.offset for o in offsets})
        except KafkaException as exc:
            log.warning("%s offset commit failed: %s", self, exc)

    def close(self) -> None:
        if self.consumer is None:
            return
        try:
            if not self.failed:
                self._commit(list(self.current_offsets), asynchronous=False)
            self.task.close(list(self.context.assignment))
        finally:
            self.closing = True  # the consumer's close revokes: nothing is left to commit or close
            try:
                self.consumer.close()
            finally:
                self.task.stop()
