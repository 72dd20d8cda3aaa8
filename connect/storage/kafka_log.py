"""A compacted topic read from the beginning into memory and followed (Kafka's KafkaBasedLog).

A background thread consumes every partition from offset 0 and hands each record to a callback;
`read_to_end()` waits until everything written before the call has been handed over, which is
how a worker knows its view is current before it acts on it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from connect.errors import ConnectException

log = logging.getLogger("connect.storage")


def ensure_topic(admin_config: dict, topic: str, partitions: int, replication_factor: int,
                 configs: dict | None = None, timeout: float = 30.0, purpose: str = "") -> AdminClient:
    """Create the topic unless it exists (TopicAdmin.createOrFindTopics); -1 means the broker's default."""
    admin = AdminClient(admin_config)
    new = NewTopic(topic, partitions, replication_factor, config=dict(configs or {}))
    try:
        admin.create_topics([new], operation_timeout=timeout)[topic].result(timeout)
        log.info("created topic %s (%d partitions) %s", topic, partitions, purpose)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise ConnectException(f"Unable to create topic '{topic}' {purpose}: {exc.args[0].str()}") from None
    return admin


def ensure_compacted_topic(admin_config: dict, topic: str, partitions: int, replication_factor: int,
                           property_name: str, extra_configs: dict | None = None, timeout: float = 30.0) -> None:
    """Create the topic compacted if it is missing; refuse one whose cleanup.policy is not exactly
    compact (TopicAdmin.verifyTopicCleanupPolicyOnlyCompact), since deletion would lose state."""
    admin = ensure_topic(admin_config, topic, partitions, replication_factor,
                         {"cleanup.policy": "compact", **(extra_configs or {})}, timeout, f"for {property_name}")
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout)
    policy = configs["cleanup.policy"].value if "cleanup.policy" in configs else None
    if policy != "compact":
        raise ConnectException(
            f"Topic '{topic}' supplied via the '{property_name}' property is required to have "
            f"'cleanup.policy=compact' to guarantee consistency and durability of source connector offsets, "
            f"but found the topic currently has 'cleanup.policy={policy}'. Continuing would likely result in "
            f"eventually losing source connector offsets and problems restarting this Connect cluster in the "
            f"future. Change the '{property_name}' property in the Connect worker configurations to use a topic "
            f"with 'cleanup.policy=compact'.")


class KafkaBasedLog:
    def __init__(self, topic: str, client_config: dict, on_record: Callable[[bytes | None, bytes | None, int, int], None],
                 producer_overrides: dict | None = None):
        """`on_record(key, value, partition, offset)` runs on the reader thread, in offset order
        per partition."""
        self.topic = topic
        self.on_record = on_record
        self._consumer = Consumer({**client_config, "group.id": f"connect-log-{topic}", "enable.auto.commit": False,
                                   "enable.partition.eof": False, "auto.offset.reset": "earliest",
                                   "isolation.level": "read_committed"})
        # End offsets come from a consumer of their own: the reading one is busy in consume() on
        # another thread, and a watermark query through it waits behind that call.
        self._end_offsets_client = Consumer({**client_config, "group.id": f"connect-log-{topic}",
                                             "enable.auto.commit": False, "isolation.level": "read_committed"})
        # murmur2 as Java's default partitioner: a key written by a Java worker and by us must land
        # in the same partition, or compaction keeps two values and readers see either.
        self._producer = Producer({**client_config, "linger.ms": 0, "partitioner": "murmur2_random",
                                   **(producer_overrides or {})})
        self._positions: dict[int, int] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: str | None = None

    def start(self, timeout: float = 30.0) -> None:
        metadata = self._consumer.list_topics(self.topic, timeout=timeout)
        partitions = sorted(metadata.topics[self.topic].partitions)
        if not partitions:
            raise ConnectException(f"Could not look up partition metadata for offset backing store topic in "
                                   f"allotted period. This could indicate a connectivity issue, unavailable "
                                   f"topic partitions, or if this is your first use of the topic it may have "
                                   f"taken too long to create. (topic {self.topic})")
        self._positions = {p: 0 for p in partitions}
        self._consumer.assign([TopicPartition(self.topic, p, 0) for p in partitions])
        self._thread = threading.Thread(target=self._run, name=f"KafkaBasedLog-{self.topic}", daemon=True)
        self._thread.start()
        self.read_to_end(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._consumer.consume(500, 0.2)
            except KafkaException as exc:  # closed under us at stop
                if self._stop.is_set():
                    return
                log.warning("reading %s: %s", self.topic, exc)
                continue
            for msg in messages:
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("reading %s: %s", self.topic, msg.error())
                    continue
                try:
                    self.on_record(msg.key(), msg.value(), msg.partition(), msg.offset())
                except Exception:  # a bad record is logged and skipped, as Kafka's stores do
                    log.exception("could not apply record at %s-%d@%d", self.topic, msg.partition(), msg.offset())
            if messages:
                with self._cond:
                    for msg in messages:
                        if not msg.error():
                            self._positions[msg.partition()] = msg.offset() + 1
                    self._cond.notify_all()

    def end_offsets(self, timeout: float = 10.0) -> dict[int, int]:
        """Each partition's end offset. A topic just created can answer NOT_LEADER for a moment
        (Apache Kafka does while its leader settles): retried until `timeout`."""
        deadline = time.monotonic() + timeout
        out = {}
        for p in self._positions:
            while True:
                try:
                    _, out[p] = self._end_offsets_client.get_watermark_offsets(
                        TopicPartition(self.topic, p), timeout=max(0.5, deadline - time.monotonic()), cached=False)
                    break
                except KafkaException as exc:
                    if time.monotonic() >= deadline:
                        raise
                    log.info("end offset of %s-%d not ready (%s); retrying", self.topic, p, exc.args[0].str())
                    time.sleep(0.2)
        return out

    def read_to_end(self, timeout: float = 30.0) -> None:
        """Block until every record written before this call has been applied."""
        deadline = time.monotonic() + timeout
        targets = self.end_offsets(timeout)
        with self._cond:
            while any(self._positions[p] < end for p, end in targets.items()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    behind = {p: (self._positions[p], end) for p, end in targets.items() if self._positions[p] < end}
                    raise ConnectException(f"Timed out reading {self.topic} to its end; behind at {behind}")
                self._cond.wait(min(remaining, 0.5))

    def send(self, key: bytes | None, value: bytes | None, partition: int | None = None,
             callback: Callable | None = None) -> None:
        kwargs = {"key": key, "value": value}
        if partition is not None:
            kwargs["partition"] = partition
        if callback is not None:
            kwargs["on_delivery"] = callback
        while True:
            try:
                self._producer.produce(self.topic, **kwargs)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        if self._producer.flush(timeout) > 0:
            raise ConnectException(f"Timed out writing to {self.topic}")

    def send_and_wait(self, records: list[tuple[bytes | None, bytes | None]], timeout: float = 30.0) -> None:
        """Write records in order and wait until every one is acknowledged, raising on an error."""
        errors = []
        for key, value in records:
            self.send(key, value, callback=lambda err, msg: err and errors.append(err))
        self.flush(timeout)
        if errors:
            raise ConnectException(f"Failed to write to {self.topic}: {errors[0]}")

    def stop(self) -> None:
        self._stop.set()
        try:
            self._producer.flush(10)
        finally:
            if self._thread is not None:
                self._thread.join(5)
            self._consumer.close()
            self._end_offsets_client.close()
