"""Running a source task (WorkerSourceTask): poll records, transform, convert, produce; store
the offset of a source partition only once its record and every earlier one were acknowledged."""

from __future__ import annotations

import collections
import logging
import time

from confluent_kafka import KafkaException, Producer

from connect.api import RecordMetadata, SourceTask, SourceTaskContext, freeze_partition
from connect.errors import ConnectException, RetriableException
from connect.converters.json import compact
from connect.storage.offsets import OffsetReader, OffsetWriter, offset_key
from connect.tolerance import HEADER_CONVERTER, KEY_CONVERTER, SKIPPED, TRANSFORMATION, VALUE_CONVERTER, ErrorHandler
from connect.worker_task import Converters, WorkerTask, class_of

log = logging.getLogger("connect.worker")


class SubmittedRecords:
    """Records in flight per source partition, in the order they were sent. The committable offset
    of a partition is that of the last record of its acknowledged prefix."""

    def __init__(self):
        self._pending: dict[tuple, collections.deque] = {}
        self._committable: dict[tuple, tuple[dict, dict | None]] = {}

    def submit(self, record) -> list:
        """A mutable slot [acked, partition, offset] to mark when the producer acknowledges."""
        slot = [False, record.source_partition, record.source_offset]
        if record.source_partition is not None:
            key = freeze_partition(record.source_partition)
            self._pending.setdefault(key, collections.deque()).append(slot)
        return slot

    def committable_in_batch(self) -> dict[tuple, tuple[dict, dict | None]]:
        """Every submitted record's offset, latest per partition, all cleared: in a transaction the
        records commit together, so none waits for an acknowledgement of its own."""
        for queue in self._pending.values():
            for slot in queue:
                slot[0] = True
        return self.committable()

    def committable(self) -> dict[tuple, tuple[dict, dict | None]]:
        """Offsets acked since the last call, removed from the pending set."""
        for key, queue in self._pending.items():
            while queue and queue[0][0]:
                slot = queue.popleft()
                self._committable[key] = (slot[1], slot[2])
        out, self._committable = self._committable, {}
        return out

    def restore(self, offsets: dict[tuple, tuple[dict, dict | None]]) -> None:
        """Offsets taken by committable() that could not be written: offered again next time,
        unless a newer offset of the same partition became committable meanwhile."""
        for key, value in offsets.items():
            self._committable.setdefault(key, value)

    def in_flight(self) -> int:
        return sum(len(q) for q in self._pending.values())


class WorkerSourceTask(WorkerTask):
    def __init__(self, ident, status, target_state, task: SourceTask, task_config: dict, connector_config: dict,
                 converters: Converters, transforms, producer_config: dict, offset_store,
                 errors: ErrorHandler, flush_interval_ms: int, flush_timeout_ms: int):
        super().__init__(ident, status, target_state)
        self.task = task
        self.task_config = task_config
        self.connector_config = connector_config
        self.converters = converters
        self.transforms = transforms
        self.producer_config = {**producer_config, "client.id": f"connector-producer-{ident[0]}-{ident[1]}"}
        self.producer = Producer(self.producer_config)
        self.offset_store = offset_store
        self.offset_reader = OffsetReader(offset_store, ident[0])
        self.offset_writer = OffsetWriter(offset_store, ident[0])
        self.errors = errors
        self.flush_interval = flush_interval_ms / 1000
        self.flush_timeout = flush_timeout_ms / 1000
        self.submitted = SubmittedRecords()
        self.send_error: Exception | None = None
        self.records_sent = 0
        self.topics_seen: set[str] = set()

    def initialize_and_start(self) -> None:
        self.task.initialize(SourceTaskContext(dict(self.task_config), self.offset_reader))
        self.task.start(dict(self.task_config))

    def execute(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
        while not self.stopping.is_set():
            if self.paused:
                self.commit_offsets()
                if not self.wait_while_paused():
                    break
            records = self.task.poll()
            if records:
                for record in records:
                    self._send(record)
            self.producer.poll(0)
            if self.send_error is not None:
                raise ConnectException("Unrecoverable exception from producer send callback") from self.send_error
            if time.monotonic() >= next_flush:
                self.commit_offsets()
                next_flush = time.monotonic() + self.flush_interval

    def _send(self, record) -> None:
        try:  # the common case in one go; a failure is redone stage by stage under errors.*
            transformed = self.transforms.apply(record)
            if transformed is not None:
                topic = transformed.topic
                key = self.converters.key.from_connect_data(topic, transformed.key_schema, transformed.key)
                value = self.converters.value.from_connect_data(topic, transformed.value_schema, transformed.value)
                headers = self._headers(transformed) if transformed.headers else None
        except Exception:
            transformed, key, value, headers = self._convert_by_stage(record)
        if transformed is None or transformed is SKIPPED or SKIPPED in (key, value, headers):
            self._done_without_sending(record)  # filtered or skipped: its offset is still committable
            return
        topic = transformed.topic
        slot = self.submitted.submit(record)
        if topic not in self.topics_seen:
            self.topics_seen.add(topic)
            self.status.on_topic(self.id, topic)
        kwargs = {"key": key, "value": value, "headers": headers or None,
                  "on_delivery": lambda err, msg: self._acked(err, msg, slot, record)}
        if transformed.kafka_partition is not None:
            kwargs["partition"] = transformed.kafka_partition
        if transformed.timestamp is not None and transformed.timestamp >= 0:
            kwargs["timestamp"] = transformed.timestamp
        while True:
            try:
                self.producer.produce(topic, **kwargs)
                break
            except BufferError:  # the producer's queue is full: serve callbacks, then retry
                self.producer.poll(0.1)
                if self.stopping.is_set():
                    return
            except KafkaException as exc:
                raise ConnectException(f"Unrecoverable exception trying to send: {exc}") from exc
        self.records_sent += 1

    def _convert_by_stage(self, record) -> tuple:
        """Transform and convert with each stage under the error handler (retries, tolerance, log);
        SKIPPED where a stage failed and is tolerated."""
        transformed = self.errors.execute(lambda: self.transforms.apply(record), TRANSFORMATION,
                                          class_of(self.transforms))
        if transformed is None or transformed is SKIPPED:
            return transformed, None, None, None
        topic = transformed.topic
        key = self.errors.execute(lambda: self.converters.key.from_connect_data(
            topic, transformed.key_schema, transformed.key), KEY_CONVERTER, class_of(self.converters.key))
        value = self.errors.execute(lambda: self.converters.value.from_connect_data(
            topic, transformed.value_schema, transformed.value), VALUE_CONVERTER, class_of(self.converters.value))
        headers = self.errors.execute(lambda: self._headers(transformed), HEADER_CONVERTER,
                                      class_of(self.converters.header))
        return transformed, key, value, headers

    def _done_without_sending(self, record) -> None:
        self.submitted.submit(record)[0] = True
        self.task.commit_record(record, None)

    def _headers(self, record) -> list:
        convert = self.converters.header.from_connect_header
        return [(h.key, convert(record.topic, h.key, h.schema, h.value)) for h in record.headers]

    def _acked(self, err, msg, slot, record) -> None:
        if err is not None:
            if self.errors.tolerate_all:  # KIP-779: skip a record the producer could not send
                log.warning("%s failed to send record to %s: %s (skipped: errors.tolerance=all)", self, msg.topic(), err)
                slot[0] = True
                self.task.commit_record(record, None)
                return
            self.send_error = RetriableException(str(err)) if err.retriable() else ConnectException(str(err))
            return
        slot[0] = True
        self.task.commit_record(record, RecordMetadata(msg.topic(), msg.partition(), msg.offset(),
                                                       msg.timestamp()[1]))

    def commit_offsets(self) -> bool:
        """Flush the producer's outstanding records (bounded), then store the offsets they made
        committable and call the task's commit()."""
        remaining = self.producer.flush(self.flush_timeout)
        if remaining:
            log.info("%s Timed out waiting for %d records to be acknowledged; committing what was", self, remaining)
        offsets = self.submitted.committable()
        try:
            self.offset_writer.write(offsets)
        except Exception as exc:  # retried on the next flush: the offsets stay ahead of nothing lost
            log.error("%s Failed to commit offsets: %s", self, exc)
            self.submitted.restore(offsets)
            return False
        self.task.commit()
        return True

    def stop(self) -> None:
        super().stop()
        try:
            self.task.stop()  # wakes a blocked poll()
        except Exception:
            log.exception("%s failed to stop", self)

    def close(self) -> None:
        if not self.failed:
            self.commit_offsets()
        else:
            self.producer.flush(self.flush_timeout)


class ExactlyOnceWorkerSourceTask(WorkerSourceTask):
    """KIP-618 (`exactly.once.source.support=enabled`): each batch from poll() and the offsets of
    its records go to Kafka in one transaction of the task's transactional producer
    (`transactional.id = <group.id>-<connector>-<task>`), so a read_committed consumer sees every
    record once even when a worker dies mid-batch; a newer instance of the task fences the old one
    when it initialises its transactions."""

    def __init__(self, *args, transactional_id: str, offsets_topic: str, **kwargs):
        super().__init__(*args, **kwargs)
        config = {**self.producer_config, "transactional.id": transactional_id, "enable.idempotence": True,
                  "partitioner": "murmur2_random"}  # offset keys land where Java's writers put them
        self.producer = Producer(config)
        self.offsets_topic = offsets_topic
        self.boundary = str(self.connector_config.get("transaction.boundary", "poll")).lower()

    def initialize_and_start(self) -> None:
        self.producer.init_transactions(30)
        super().initialize_and_start()

    def execute(self) -> None:
        while not self.stopping.is_set():
            if self.paused and not self.wait_while_paused():
                break
            records = self.task.poll()
            if records and not self.stopping.is_set():
                self._commit_batch(records)

    def _commit_batch(self, records) -> None:
        self.producer.begin_transaction()
        try:
            for record in records:
                self._send(record)
            offsets = self.submitted.committable_in_batch()
            for partition, offset in offsets.values():
                self.producer.produce(self.offsets_topic, key=offset_key(self.id[0], partition),
                                      value=None if offset is None else compact(offset))
            self.producer.commit_transaction(60)
        except Exception:
            self._abort()
            raise
        if self.send_error is not None:
            raise ConnectException("Unrecoverable exception from producer send callback") from self.send_error
        # Our own view of the offsets store catches up when its reader sees the committed records;
        # record them now too, so a restart of this task on this worker reads them at once.
        self.offset_store.remember({offset_key(self.id[0], p): None if o is None else compact(o)
                                    for p, o in offsets.values()})
        self.task.commit()

    def _abort(self) -> None:
        try:
            self.producer.abort_transaction(30)
        except Exception as exc:  # fenced or broken: the task fails anyway
            log.warning("%s could not abort its transaction: %s", self, exc)

    def close(self) -> None:
        pass  # nothing is outside a transaction
