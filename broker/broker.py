"""The broker: configuration, topics, the Kafka listener and the background work.

Background work mirrors Kafka's schedulers: retention every
`log.retention.check.interval.ms`, the log cleaner every `log.cleaner.backoff.ms`
(its heavy work in a spawned worker process, broker/storage/cleaner_worker.py, so
produce and fetch keep being served), and the
`flush.ms` scheduler.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
import uuid
from pathlib import Path

from broker import listeners, recordscan, schema_validation
from broker.authorizer import create_authorizer
from broker.config import BrokerConfig
from broker.metrics import BrokerMetrics, MetricsEndpointRunner
from broker.coordinator.group_coordinator import GroupCoordinator
from broker.coordinator.transaction import OFFSETS_TOPIC, TransactionCoordinator
from broker.dynamic_config import DynamicBrokerConfigs
from broker.features import FinalizedFeatures
from broker.fetch_session import FetchSessionCache
from broker.group_configs import GroupConfigs
from broker.producer_ids import ProducerIdManager
from broker.quotas import Quotas
from broker.sasl.scram import ScramCredentials
from broker.schema_validation import SchemaValidator
from broker.server import KafkaServer
from broker.storage import files
from broker.storage.cleaner_worker import CleanerWorker
from broker.storage.log import CLEAN_SHUTDOWN_FILE
from broker.topics import TopicManager

# Importing the handler modules registers them with the API table.
from broker.handlers import (  # noqa: F401
    acls, admin, client_quotas, consumer_groups, features, fetch, groups, metadata, offsets, offsets_commit, produce,
    replicas, security, transaction_admin, transactions)

log = logging.getLogger("schemabus.broker")

# Background passes over all partitions (retention, flush, cleaning, opening) give the event
# loop back after this much work, so tens of thousands of partitions never stall a client.
PASS_SLICE_S = 0.01


# Python's collector thresholds. The defaults (700, 10, 10) ran a collection of the older
# generations every few seconds under load (500 consumer groups: gen1 passes of ~16 ms, nine
# full passes of 120-140 ms a minute), each pausing the event loop while it walked every
# long-lived object (partitions, groups, members). A request's objects die by reference
# counting, so the collector only has cycles to find and can run far less often.
GC_THRESHOLDS = (50_000, 20, 100)


class Broker:
    def __init__(self, data_dir: str | Path, listen: str = "127.0.0.1:9092", config: BrokerConfig | None = None):
        self.config = config or BrokerConfig()
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Kafka's log.dirs names where the logs are: here, whichever directory the broker was given.
        self.config.explicit.setdefault("log.dirs", str(self.data_dir.resolve()))
        self.dynamic_configs = DynamicBrokerConfigs(self.data_dir, self.config)
        self.quotas = Quotas(self.data_dir)
        self.group_configs = GroupConfigs(self.data_dir, self.config)
        self.node_id = self.config["node.id"]
        self.cluster_id = self._load_cluster_id()
        self.features = FinalizedFeatures(self.data_dir, self.node_id)
        self.authorizer = create_authorizer(self.config, self.data_dir)
        self.listeners = listeners.configure(self.config, listen)
        self.servers = [KafkaServer(self, listener, self.config["socket.request.max.bytes"],
                                    self.config["schemabus.request.max.array.entries"])
                        for listener in self.listeners]
        self.topics: TopicManager | None = None
        self.fetch_sessions = FetchSessionCache(self.config["max.incremental.fetch.session.cache.slots"])
        self.group_coordinator: GroupCoordinator | None = None
        self.producer_ids = ProducerIdManager(self.data_dir)
        self.scram_credentials = ScramCredentials(self.data_dir)
        self.validator = SchemaValidator(self.config["confluent.schema.registry.url"],
                                         client_config=schema_validation.client_settings(self.config))
        self.transactions: TransactionCoordinator | None = None
        self._tasks: list[asyncio.Task] = []
        self._cleaner = CleanerWorker()
        self.metrics = BrokerMetrics()
        self.metrics_endpoint = MetricsEndpointRunner(self, self.config["schemabus.metrics.listen"])

    def _load_cluster_id(self) -> str:
        path = self.data_dir / "meta.properties"
        if path.exists():
            for line in path.read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1]
        cluster_id = uuid.uuid4().hex[:22]
        path.write_text(f"version=1\ncluster.id={cluster_id}\nnode.id={self.node_id}\n")
        return cluster_id

    @property
    def advertised(self) -> tuple[str, int]:
        """Host and port of the first listener as clients should reach it (the ready line)."""
        return self.listeners[0].advertised()

    def _limit_open_files(self) -> None:
        """Bound the log files held open (each partition has at least one), so that tens of
        thousands of partitions fit in the descriptor limit next to the client sockets."""
        soft = files.raise_descriptor_limit()
        configured = self.config["schemabus.log.max.open.files"]
        limit = configured if configured >= 0 else files.default_limit()
        files.open_files().set_limit(limit)
        log.info("keeping at most %d log files open (descriptor limit %d)", files.open_files().limit, soft)

    async def start(self) -> None:
        self._limit_open_files()
        self.topics = TopicManager(self.data_dir, self.config)
        self.group_coordinator = GroupCoordinator(self.topics, self.config, self.group_configs)
        self.transactions = TransactionCoordinator(self, self.config["transaction.state.log.num.partitions"])
        self.transactions.offsets_partition_for = self.group_coordinator.manager.log.partition_for
        self.transactions.complete_group_offsets = self.group_coordinator.complete_transaction
        # Both coordinators load in the background while the broker already serves produce
        # and fetch (their APIs answer COORDINATOR_LOAD_IN_PROGRESS meanwhile), transactions
        # after the groups: finishing a transaction may complete a group's pending offsets.
        self.group_coordinator.start(on_loaded=self.transactions.start)
        gc.set_threshold(*GC_THRESHOLDS)
        await self.metrics_endpoint.start()  # first: a taken metrics port fails the start before clients connect
        for server in self.servers:
            await server.start()
        self._tasks = [
            asyncio.create_task(self._every(self.config["log.retention.check.interval.ms"], self._apply_retention)),
            asyncio.create_task(self._every(self.config["log.flush.scheduler.interval.ms"], self._flush_due)),
            asyncio.create_task(self._every(self.config["transaction.abort.timed.out.transaction.cleanup.interval.ms"],
                                            self._abort_timed_out_transactions)),
        ]
        self._tasks.append(asyncio.create_task(self._every(
            self.config["offsets.retention.check.interval.ms"], self.group_coordinator.expire_offsets)))
        if self.config["log.cleaner.enable"]:
            self._tasks.append(asyncio.create_task(self._every(self.config["log.cleaner.backoff.ms"], self._clean)))
        self._tasks.append(asyncio.create_task(self._open_unclean_partitions()))
        log.info("broker %s listening on %s (cluster %s, data %s)", self.node_id,
                 ", ".join(f"{x.name}://{x.host}:{x.port} ({x.protocol})" for x in self.listeners),
                 self.cluster_id, self.data_dir)
        if not recordscan.NATIVE:
            log.warning("the C record scanner broker/_recordscan is not built (%s): schema-governed topics "
                        "read schema ids with the slower Python version; reinstall with a C compiler to build it",
                        recordscan.NOT_NATIVE_BECAUSE)

    async def stop(self) -> None:
        self.metrics_endpoint.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self.servers:
            await server.stop()
        if self.group_coordinator is not None:
            self.group_coordinator.stop()
        self._cleaner.close()
        if self.topics is not None:
            self.topics.close()
        self.validator.close()
        log.info("broker stopped")

    # -- background work ----------------------------------------------------------

    async def _every(self, interval_ms: int, job) -> None:
        while True:
            await asyncio.sleep(interval_ms / 1000)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s failed", job.__name__)

    def _partitions(self):
        for topic in list(self.topics.topics.values()):
            yield from list(topic.partitions)

    async def _paced_partitions(self):
        """All partitions, handing the loop back every PASS_SLICE_S of the caller's work.
        A partition deleted meanwhile is skipped."""
        loop = asyncio.get_running_loop()
        slice_end = loop.time() + PASS_SLICE_S
        for partition in self._partitions():
            if loop.time() >= slice_end:
                await asyncio.sleep(0)
                slice_end = loop.time() + PASS_SLICE_S
            if self.topics.partition(partition.topic, partition.index) is partition:
                yield partition

    async def _open_unclean_partitions(self) -> None:
        """Partitions are opened on first use; those not shut down cleanly are opened (and so
        checked and repaired, storage/log.py) right after the start, in the background."""
        opened = 0
        async for partition in self._paced_partitions():
            if not partition.is_open and not os.path.exists(os.path.join(partition.directory, CLEAN_SHUTDOWN_FILE)):
                try:
                    partition.open()
                    opened += 1
                except Exception:
                    log.exception("opening %s-%d failed", partition.topic, partition.index)
        if opened:
            log.info("opened and checked %d partition(s) not shut down cleanly", opened)

    async def _apply_retention(self) -> None:
        """Kafka's log retention check, plus producer-state upkeep on the same schedule."""
        now = int(time.time() * 1000)
        expiration = self.config["producer.id.expiration.ms"]
        async for partition in self._paced_partitions():
            deleted = partition.log.apply_retention(now)
            if deleted:
                log.info("retention deleted %d segment(s) of %s-%d", deleted, partition.topic, partition.index)
            partition.producers.truncate_before(partition.log_start_offset)
            partition.producers.expire(now, expiration)
            partition.snapshot_producer_state()

    async def _abort_timed_out_transactions(self) -> None:
        self.transactions.abort_timed_out()

    async def _flush_due(self) -> None:
        now = int(time.time() * 1000)
        async for partition in self._paced_partitions():
            if partition.is_open:  # one not opened has nothing unflushed
                partition.log.flush_if_due(now)

    async def _clean(self) -> None:
        now = int(time.time() * 1000)
        async for partition in self._paced_partitions():
            if not partition.config.compact:
                continue
            if partition.topic == OFFSETS_TOPIC and self.group_coordinator.loading:
                continue  # being replayed: a swap could drop a tombstone the replay has not seen
            job = partition.log.clean_job(now)
            if job is None:
                continue
            try:
                result = await self._cleaner.run(job)
            except Exception:
                # e.g. a corrupt closed segment: skip this partition, keep cleaning the others
                log.exception("compaction of %s-%d failed", partition.topic, partition.index)
                continue
            try:
                swapped = await self._cleaner.install(partition.log, result)
            except OSError as exc:  # e.g. the topic was deleted meanwhile
                log.warning("compaction of %s-%d not installed: %s", partition.topic, partition.index, exc)
                continue
            if swapped:
                log.info("compacted %s-%d", partition.topic, partition.index)

    async def run_until(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
