"""The Kafka-backed store: every change is a record in `_schemas`, read back into the state.

One reader thread consumes the topic from offset 0 with assign() (no group, no commits) and
applies each record to the in-memory state. A write produces with an idempotent producer
(acks=all) and is answered only once the reader has read its own record back, so what a client
is told was written is what every instance reads. A NOOP record written at start tells the
reader where the end of the topic was: replay is complete once it has read past it.

Every record this process writes carries a `schemabus.writer` header with a per-process id
(readers that do not know it, Confluent's included, ignore headers). After replay the reader
remembers the offset of the last record some other writer wrote (NOOPs aside): the election
uses it to notice that another instance has taken over while this one had lost its group
session.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition, Consumer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from registry import errors, records
from registry.state import RegistryState

log = logging.getLogger("registry.store")

# While the broker is down, retry connections a few times a second but never less often than once
# a second, so that writes work again within about a second of its return (librdkafka's default
# backoff grows to 10 s).
RECONNECT = {"reconnect.backoff.ms": 250, "reconnect.backoff.max.ms": 1000}

WRITER_HEADER = "schemabus.writer"


@dataclass
class StoreConfig:
    bootstrap_servers: str
    topic: str = "_schemas"
    timeout_s: float = 10.0            # one write: produce, acknowledge, read back
    init_timeout_s: float = 60.0       # start: reach the broker, create the topic, replay
    max_record_bytes: int = 1_000_000  # larger schemas are refused with 42209
    client_id: str = "schemabus-registry"
    # How to connect (security.protocol, ssl.*, sasl.*), librdkafka's names: from kafkastore.*.
    connection: dict[str, str] = field(default_factory=dict)

    def client(self, **settings) -> dict:
        """A Kafka client's config: the bootstrap servers, the connection settings, `settings`."""
        return {"bootstrap.servers": self.bootstrap_servers, **self.connection, **settings}


class StoreError(Exception):
    """The broker could not take or confirm a write (50001); `timeout` marks a 50002."""

    def __init__(self, message: str, timeout: bool = False):
        super().__init__(message)
        self.timeout = timeout


class KafkaStore:
    def __init__(self, config: StoreConfig, state: RegistryState):
        self.config = config
        self.state = state
        self._read_offset = 0            # next offset the reader will apply
        self._offset_changed = threading.Condition()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._offsets: Consumer | None = None   # end-offset queries (catch_up)
        self._offsets_lock = threading.Lock()
        self._producer_lock = threading.Lock()
        self.replay_seconds: float | None = None
        self.cluster_id: str | None = None
        self.writer_id = uuid.uuid4().hex.encode()
        self._headers = [(WRITER_HEADER, self.writer_id)]
        self._track_foreign = False      # set once replay is complete
        self.last_foreign_offset = -1    # the last non-NOOP record another writer wrote (after replay)

    # ------------------------------------------------------------------ start / stop

    def start(self) -> None:
        """Create the topic if missing, start the reader, replay the whole topic."""
        started = time.monotonic()
        deadline = started + self.config.init_timeout_s
        self._ensure_topic(deadline)
        self._consumer = Consumer(self.config.client(**{
            "group.id": f"{self.config.client_id}-reader",  # unused: assign() with explicit offsets
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50,
            # A modest prefetch queue, refilled at once (librdkafka waits 1 s by default when full).
            "queued.max.messages.kbytes": 16384,
            "fetch.queue.backoff.ms": 5,
            "enable.partition.eof": False,
            "client.id": f"{self.config.client_id}-reader",
            **RECONNECT,
        }))
        self._consumer.assign([TopicPartition(self.config.topic, 0, 0)])
        self._reader = threading.Thread(target=self._read_loop, name="schemas-reader", daemon=True)
        self._reader.start()
        while True:
            try:
                self.sync(timeout_s=max(1.0, deadline - time.monotonic()))
                break
            except StoreError as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(f"could not replay {self.config.topic} from "
                                     f"{self.config.bootstrap_servers}: {exc}") from None
                log.warning("replay not complete yet (%s); retrying", exc)
        self.replay_seconds = time.monotonic() - started
        self._track_foreign = True
        log.info("replayed %s up to offset %d in %.2fs", self.config.topic, self._read_offset, self.replay_seconds)

    def close(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join(5)
        if self._consumer is not None:
            self._consumer.close()
        if self._offsets is not None:
            self._offsets.close()
        if self._producer is not None:
            self._producer.flush(2)

    # ------------------------------------------------------------------ topic

    def _ensure_topic(self, deadline: float) -> None:
        admin = AdminClient(self.config.client(**{"client.id": f"{self.config.client_id}-admin"}))
        topic = self.config.topic
        while True:
            try:
                metadata = admin.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
                self.cluster_id = metadata.cluster_id
                if topic in metadata.topics and metadata.topics[topic].error is None:
                    self._check_topic(admin, metadata)
                    return
                self._create_topic(admin, len(metadata.brokers))
                return
            except KafkaException as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(f"cannot reach the broker at {self.config.bootstrap_servers} to set up "
                                     f"{topic}: {exc}") from None
                log.warning("waiting for the broker at %s: %s", self.config.bootstrap_servers, exc)
                time.sleep(0.5)

    def _create_topic(self, admin: AdminClient, brokers: int) -> None:
        replication = max(1, min(3, brokers))
        config = {"cleanup.policy": "compact", "min.insync.replicas": str(max(1, replication - 1))}
        future = admin.create_topics([NewTopic(self.config.topic, 1, replication, config=config)],
                                     request_timeout=15)[self.config.topic]
        try:
            future.result()
            log.info("created %s (1 partition, compact, replication factor %d)", self.config.topic, replication)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def _check_topic(self, admin: AdminClient, metadata) -> None:
        partitions = len(metadata.topics[self.config.topic].partitions)
        if partitions != 1:
            raise StoreError(f"the schemas topic {self.config.topic} has {partitions} partitions; it must have "
                             f"exactly 1", timeout=False)
        resource = ConfigResource(ConfigResource.Type.TOPIC, self.config.topic)
        try:
            configs = admin.describe_configs([resource], request_timeout=10)[resource].result()
        except KafkaException as exc:
            log.warning("could not read the configs of %s: %s", self.config.topic, exc)
            return
        policy = configs.get("cleanup.policy")
        if policy is not None and "compact" not in (policy.value or ""):
            raise StoreError(f"the schemas topic {self.config.topic} has cleanup.policy={policy.value}; it must be "
                             f"'compact' or schemas would be lost to retention")

    # ------------------------------------------------------------------ reading

    def _read_loop(self) -> None:
        consumer = self._consumer
        while not self._stop.is_set():
            try:
                # poll() returns as soon as one record arrives; consume(timeout=0) then takes what is
                # already fetched (consume() alone would wait for a full batch or its timeout).
                first = consumer.poll(0.2)
                batch = [] if first is None else [first] + consumer.consume(num_messages=1000, timeout=0)
            except KafkaException as exc:
                log.warning("reading %s: %s", self.config.topic, exc)
                time.sleep(0.2)
                continue
            if not batch:
                continue
            last = None
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        log.warning("reading %s: %s", self.config.topic, err)
                    continue
                self.state.apply(msg.key(), msg.value(), msg.offset())
                last = msg.offset()
                if self._track_foreign and not self._own(msg):
                    self.last_foreign_offset = last
            if last is not None:
                with self._offset_changed:
                    self._read_offset = last + 1
                    self._offset_changed.notify_all()

    def _own(self, msg) -> bool:
        """Whether this process wrote the record (or it is a NOOP, which every instance writes)."""
        if (WRITER_HEADER, self.writer_id) in (msg.headers() or ()):
            return True
        try:
            return json.loads(msg.key()).get("keytype") == "NOOP"
        except (TypeError, ValueError, AttributeError):
            return False

    @property
    def read_offset(self) -> int:
        return self._read_offset

    def wait_for_offset(self, offset: int, timeout_s: float) -> None:
        """Block until the reader has applied the record at `offset`."""
        deadline = time.monotonic() + timeout_s
        with self._offset_changed:
            while self._read_offset <= offset:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreError(f"the write at offset {offset} of {self.config.topic} was acknowledged but "
                                     f"not read back within {timeout_s:.1f}s", timeout=True)
                self._offset_changed.wait(remaining)

    def catch_up(self, timeout_s: float) -> None:
        """Block until the reader has applied everything the topic held when called: after a write
        forwarded to the leader (which answers only once its record is in the log) a follower reads
        that far before answering, so the caller reads its own write here too. Asks the broker for
        the end offset instead of writing a NOOP (sync()): a follower writes nothing while serving."""
        deadline = time.monotonic() + timeout_s
        try:
            _, high = self._offsets_client().get_watermark_offsets(TopicPartition(self.config.topic, 0),
                                                                   timeout=max(0.1, timeout_s), cached=False)
        except KafkaException as exc:
            raise StoreError(f"could not learn the end offset of {self.config.topic}: {exc}",
                             timeout=True) from None
        if high > 0:
            self.wait_for_offset(high - 1, max(0.0, deadline - time.monotonic()))

    def _offsets_client(self) -> Consumer:
        # Its own client: asked from the reader's consumer while the reader thread polls it, the
        # query did not come back.
        with self._offsets_lock:
            if self._offsets is None:
                self._offsets = Consumer(self.config.client(**{
                    "group.id": f"{self.config.client_id}-offsets",  # unused: no subscription, no commits
                    "enable.auto.commit": False,
                    "client.id": f"{self.config.client_id}-offsets",
                    **RECONNECT,
                }))
            return self._offsets

    # ------------------------------------------------------------------ writing

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.config.client(**{
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 0,
                "message.timeout.ms": int(self.config.timeout_s * 1000),
                "client.id": f"{self.config.client_id}-writer",
                **RECONNECT,
            }))
        return self._producer

    def write(self, key: bytes, value: bytes | None) -> int:
        return self.write_many([(key, value)])

    def write_many(self, batch: list[tuple[bytes, bytes | None]]) -> int:
        """Produce the records in order, wait until all are read back; the last record's offset."""
        for key, value in batch:
            if value is not None and len(key) + len(value) > self.config.max_record_bytes:
                raise errors.schema_too_large("Register operation failed because schema is too large")
        with self._producer_lock:
            offsets = self._produce(batch)
        last = max(offsets)
        self.wait_for_offset(last, self.config.timeout_s)
        return last

    def _produce(self, batch) -> list[int]:
        producer = self._get_producer()
        results: list = [None] * len(batch)

        def on_delivery(index):
            def callback(err, msg):
                results[index] = err if err is not None else msg.offset()
            return callback

        for index, (key, value) in enumerate(batch):
            try:
                producer.produce(self.config.topic, key=key, value=value, partition=0, headers=self._headers,
                                 on_delivery=on_delivery(index))
            except (BufferError, KafkaException) as exc:
                raise StoreError(f"could not send to {self.config.topic}: {exc}") from None
        deadline = time.monotonic() + self.config.timeout_s + 2
        while any(r is None for r in results) and time.monotonic() < deadline:
            producer.poll(0.05)
        failures = [r for r in results if not isinstance(r, int)]
        if not failures:
            return results
        first = failures[0]
        if first is None:
            raise StoreError(f"the broker at {self.config.bootstrap_servers} did not acknowledge the write to "
                             f"{self.config.topic} in time", timeout=True)
        if first.fatal():
            log.error("producer failed fatally (%s); a new one will be created", first)
            self._producer = None
        if first.code() in (KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT):
            raise StoreError(f"the broker at {self.config.bootstrap_servers} did not acknowledge the write to "
                             f"{self.config.topic} within {self.config.timeout_s:g}s ({first.str()})", timeout=True)
        raise StoreError(f"the broker at {self.config.bootstrap_servers} refused the write to {self.config.topic}: "
                         f"{first.str()}")

    def sync(self, timeout_s: float | None = None) -> int:
        """Write a NOOP and wait to read it: afterwards the state holds everything written before."""
        timeout = self.config.timeout_s if timeout_s is None else timeout_s
        with self._producer_lock:
            offset = self._produce([(records.noop_key(), None)])[0]
        self.wait_for_offset(offset, timeout)
        return offset
