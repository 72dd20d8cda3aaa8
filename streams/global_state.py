"""Global tables (Kafka's GlobalKTable, GlobalStateManager and GlobalStreamThread): every
instance keeps a full copy of a topic in a store, read from all its partitions. The topic is the
store's changelog: it is loaded to its end before the stream threads start, then followed by one
thread; `<state.dir>/<application.id>/global/.checkpoint` records how far, so a restart reads
only the rest."""

from __future__ import annotations

import logging
import os
import threading
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition

from streams.config import StreamsConfig
from streams.state import KeyValueStore
from streams.state_manager import ChangelogReader, read_checkpoint, write_checkpoint

log = logging.getLogger("streams.global")


class GlobalStores:
    def __init__(self, topology, config: StreamsConfig, client_id: str):
        self.config = config
        self.client_id = client_id
        self.directory = os.path.join(config["state.dir"], config.application_id, "global")
        self.stores: dict[str, KeyValueStore] = {}
        self.topics: dict[str, str] = {}  # topic -> store
        for name, (topic, builder) in topology.global_stores.items():
            store = builder.build()
            store.logging = False  # the source topic is its changelog
            self.stores[name], self.topics[topic] = store, name
        self.offsets: dict[tuple[str, int], int] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def initialize(self) -> None:
        """Open the stores and load their topics to the end (from the checkpoint when it fits)."""
        os.makedirs(self.directory, exist_ok=True)
        checkpoint = read_checkpoint(self.directory)
        reader = ChangelogReader(self.config.restore_consumer_config(f"{self.client_id}-global"))
        try:
            for topic, name in self.topics.items():
                store = self.stores[name]
                store.init(self.directory, self.config.default_key_serde, self.config.default_value_serde, None,
                           None, 0)
                partitions = reader.consumer.list_topics(topic, timeout=10).topics[topic].partitions
                if not partitions:
                    raise RuntimeError(f"global table topic {topic} does not exist")
                starts = {}
                for partition in sorted(partitions):
                    start, end = reader.start_offset(topic, partition, checkpoint.get((topic, partition)))
                    starts[partition] = (start, end)
                if any(start < 0 for start, _ in starts.values()):
                    store.inner.wipe()  # one partition untrusted: the whole copy is rebuilt
                    starts = {p: (-1, end) for p, (_, end) in starts.items()}
                for partition, (start, end) in starts.items():
                    self.offsets[(topic, partition)] = reader.restore(topic, partition, start, end, store)
        finally:
            reader.close()
        write_checkpoint(self.directory, self.offsets)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.client_id}-GlobalStreamThread", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Follow the topics: every record upserts (a null value deletes) its key."""
        consumer = Consumer({**self.config.restore_consumer_config(f"{self.client_id}-global"),
                             "enable.partition.eof": False})
        try:
            consumer.assign([TopicPartition(t, p, o) for (t, p), o in self.offsets.items()])
            last_checkpoint = time.monotonic()
            while not self._stopping.is_set():
                batches: dict[str, list] = {}
                for msg in consumer.consume(1000, 0.1):
                    if msg.error():
                        if msg.error().code() != KafkaError._PARTITION_EOF:
                            log.warning("global consumer: %s", msg.error())
                        continue
                    batches.setdefault(msg.topic(), []).append((msg.key(), msg.value()))
                    self.offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
                for topic, batch in batches.items():
                    self.stores[self.topics[topic]].restore(batch)
                if time.monotonic() - last_checkpoint > self.config["commit.interval.ms"] / 1000:
                    self._checkpoint()
                    last_checkpoint = time.monotonic()
            self._checkpoint()
        except BaseException as exc:
            log.exception("the global stream thread failed")
            self.error = exc
        finally:
            consumer.close()

    def _checkpoint(self) -> None:
        for store in self.stores.values():
            store.inner.flush()
        write_checkpoint(self.directory, self.offsets)

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(30)
        for store in self.stores.values():
            store.close()
