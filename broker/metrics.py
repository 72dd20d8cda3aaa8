"""The broker's Prometheus metrics, named as Kafka's JMX metrics come out of the usual
jmx_exporter rules (`kafka_server_brokertopicmetrics_messagesin_total{topic}`, ...) and, for the
offsets and group lag, as kafka_exporter names them (`kafka_consumergroup_lag`, ...), so existing
dashboards and alerts work.

Two kinds:
- counters bumped on the hot path, once per produced batch, per fetch response and per request,
  never per record (a batch's record count is read from its header);
- gauges computed when scraped (log sizes, offsets, group lag, partition counts): a snapshot of
  broker state taken on the event loop (the only thread that changes it), then turned into
  metric families in the scraping thread.

The endpoint (`schemabus.metrics.listen`, `--metrics-listen`) is an HTTP server on a thread of
its own, so a scrape never blocks the event loop beyond the snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from broker.config import ConfigError
from broker.protocol import apis
from http_metrics.exposition import MetricsServer, split_host_port

log = logging.getLogger("schemabus.broker")

# RecordBatch v2: the record count (int32) sits at byte 57 of the header.
_RECORD_COUNT = struct.Struct(">i")
_RECORD_COUNT_AT = 57
# Request latency buckets in milliseconds (the unit of Kafka's TotalTimeMs).
LATENCY_BUCKETS_MS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
# A scrape's snapshot yields the loop after this many partitions, so huge brokers stay responsive.
SNAPSHOT_SLICE = 1000
SNAPSHOT_TIMEOUT_S = 10.0


def request_name(api_name: str) -> str:
    """Kafka's request label: `offset_commit` -> `OffsetCommit`."""
    return "".join(part.capitalize() for part in api_name.split("_"))


class BrokerMetrics:
    """The hot-path counters; one per broker process (a registry of its own, so tests running
    several brokers in one process, or services sharing one, never clash on names)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.messages_in = Counter("kafka_server_brokertopicmetrics_messagesin", "Records appended, by topic",
                                   ("topic",), registry=self.registry)
        self.bytes_in = Counter("kafka_server_brokertopicmetrics_bytesin", "Record batch bytes appended, by topic",
                                ("topic",), registry=self.registry)
        self.bytes_out = Counter("kafka_server_brokertopicmetrics_bytesout",
                                 "Record bytes sent in fetch responses, by topic", ("topic",), registry=self.registry)
        self.requests = Counter("kafka_network_requestmetrics_requests", "Requests answered, by API",
                                ("request",), registry=self.registry)
        self.total_time = Histogram("kafka_network_requestmetrics_totaltimems",
                                    "Time from a request's arrival to its response sent, in ms, by API",
                                    ("request",), buckets=LATENCY_BUCKETS_MS, registry=self.registry)
        # Children by topic / API key: labels() locks and hashes, the hot path does one dict get.
        self._topic_in: dict[str, tuple] = {}
        self._topic_out: dict[str, object] = {}
        self._by_api: dict[int, tuple] = {}

    def produced(self, topic: str, batch) -> None:
        """One appended batch (already checked: its header is whole)."""
        counters = self._topic_in.get(topic)
        if counters is None:
            counters = self._topic_in[topic] = (self.messages_in.labels(topic), self.bytes_in.labels(topic))
        counters[0].inc(_RECORD_COUNT.unpack_from(batch, _RECORD_COUNT_AT)[0])
        counters[1].inc(len(batch))

    def fetched(self, response: dict) -> None:
        """The record bytes of a fetch response, per topic."""
        for topic in response["responses"]:
            size = 0
            for part in topic["partitions"]:
                size += len(part["records"])
            if size:
                name = topic["topic"]
                counter = self._topic_out.get(name)
                if counter is None:
                    counter = self._topic_out[name] = self.bytes_out.labels(name)
                counter.inc(size)

    def answered(self, api_key: int, elapsed_s: float) -> None:
        children = self._by_api.get(api_key)
        if children is None:
            api = apis.REGISTRY.get(api_key)
            if api is None:
                return
            name = request_name(api.name)
            children = self._by_api[api_key] = (self.requests.labels(name), self.total_time.labels(name))
        children[0].inc()
        children[1].observe(elapsed_s * 1000.0)


@dataclass
class _PartitionState:
    topic: str
    index: int
    start_offset: int | None  # None: the log is not open (not used since the broker started)
    end_offset: int | None
    size: int | None
    directory: str


@dataclass
class _Snapshot:
    partitions: list[_PartitionState] = field(default_factory=list)
    min_isr: dict[str, int] = field(default_factory=dict)
    group_offsets: list[tuple[str, str, int, int]] = field(default_factory=list)  # group, topic, partition, offset


def _closed_log_size(directory: str) -> int:
    """A log not opened yet: its segment files' sizes (opening it would run recovery checks)."""
    try:
        return sum(entry.stat().st_size for entry in os.scandir(directory) if entry.name.endswith(".log"))
    except OSError:  # deleted meanwhile
        return 0


class BrokerStateCollector(Collector):
    """Gauges computed at scrape time from a snapshot of the broker's state."""

    def __init__(self, broker, loop: asyncio.AbstractEventLoop):
        self.broker = broker
        self.loop = loop

    async def _snapshot(self) -> _Snapshot:
        snap = _Snapshot()
        topics = self.broker.topics
        seen = 0
        for topic in list(topics.topics.values()):
            snap.min_isr[topic.name] = topics.topic_value(topic, "min.insync.replicas")
            for partition in list(topic.partitions):
                seen += 1
                if seen % SNAPSHOT_SLICE == 0:
                    await asyncio.sleep(0)
                if partition.is_open:
                    plog = partition.log
                    snap.partitions.append(_PartitionState(topic.name, partition.index, plog.log_start_offset,
                                                           plog.log_end_offset, plog.size_bytes,
                                                           str(partition.directory)))
                else:
                    snap.partitions.append(_PartitionState(topic.name, partition.index, None, None, None,
                                                           str(partition.directory)))
        coordinator = self.broker.group_coordinator
        if coordinator is not None:
            store = coordinator.manager.offsets
            for group_id in [*coordinator.groups, *coordinator.consumer.groups]:  # classic and KIP-848 groups
                for (topic_name, index), value in store.of_group(group_id).items():
                    snap.group_offsets.append((group_id, topic_name, index, value.offset))
        return snap

    def collect(self):
        if self.broker.topics is None:
            return
        try:
            snap = asyncio.run_coroutine_threadsafe(self._snapshot(), self.loop).result(SNAPSHOT_TIMEOUT_S)
        except Exception as exc:  # the loop is stopping, or too busy: an empty scrape, not an error page
            log.warning("metrics scrape: no broker snapshot (%s)", exc.__class__.__name__)
            return
        yield from self._families(snap)

    @staticmethod
    def _families(snap: _Snapshot):
        partitions = GaugeMetricFamily("kafka_topic_partitions", "Partitions of a topic", labels=("topic",))
        current = GaugeMetricFamily("kafka_topic_partition_current_offset", "Log end offset of a partition",
                                    labels=("topic", "partition"))
        oldest = GaugeMetricFamily("kafka_topic_partition_oldest_offset", "Log start offset of a partition",
                                   labels=("topic", "partition"))
        size = GaugeMetricFamily("kafka_log_log_size", "Bytes of a partition's log segments",
                                 labels=("topic", "partition"))
        counts: dict[str, int] = {}
        under_min_isr = 0
        ends: dict[tuple[str, int], int] = {}
        for p in snap.partitions:
            counts[p.topic] = counts.get(p.topic, 0) + 1
            label = (p.topic, str(p.index))
            # One replica: a partition is under min ISR whenever its topic asks for more than one.
            if snap.min_isr.get(p.topic, 1) > 1:
                under_min_isr += 1
            size.add_metric(label, p.size if p.size is not None else _closed_log_size(p.directory))
            if p.end_offset is not None:
                ends[(p.topic, p.index)] = p.end_offset
                current.add_metric(label, p.end_offset)
                oldest.add_metric(label, p.start_offset)
        for topic, count in sorted(counts.items()):
            partitions.add_metric((topic,), count)
        yield partitions
        yield current
        yield oldest
        yield size
        yield GaugeMetricFamily("kafka_server_replicamanager_partitioncount", "Partitions on this broker",
                                value=len(snap.partitions))
        yield GaugeMetricFamily("kafka_server_replicamanager_leadercount", "Partitions this broker leads",
                                value=len(snap.partitions))
        yield GaugeMetricFamily("kafka_server_replicamanager_underminisrpartitioncount",
                                "Partitions whose in-sync replicas are fewer than min.insync.replicas",
                                value=under_min_isr)
        yield GaugeMetricFamily("kafka_server_replicamanager_underreplicatedpartitions",
                                "Partitions with fewer in-sync replicas than replicas (one replica: none)", value=0)
        group_offset = GaugeMetricFamily("kafka_consumergroup_current_offset", "Committed offset of a group",
                                         labels=("consumergroup", "topic", "partition"))
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "Log end offset minus the group's committed offset",
                                labels=("consumergroup", "topic", "partition"))
        for group_id, topic, index, offset in snap.group_offsets:
            label = (group_id, topic, str(index))
            group_offset.add_metric(label, offset)
            end = ends.get((topic, index))
            if end is not None and offset >= 0:
                lag.add_metric(label, max(end - offset, 0))
        yield group_offset
        yield lag
        yield GaugeMetricFamily("kafka_brokers", "Brokers in the cluster", value=1)


class MetricsEndpointRunner:
    """Starts and stops the broker's /metrics server (only when schemabus.metrics.listen is set)."""

    def __init__(self, broker, listen: str | None):
        self.broker = broker
        self.listen = (listen or "").strip()
        self.server = None

    async def start(self) -> None:
        if not self.listen:
            return
        try:
            host, port = split_host_port(self.listen)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        registry = self.broker.metrics.registry
        registry.register(BrokerStateCollector(self.broker, asyncio.get_running_loop()))
        try:
            self.server = MetricsServer(registry, host, port).start()
        except OSError as exc:
            raise OSError(exc.errno, f"schemabus.metrics.listen={self.listen}: {exc.strerror}") from None
        log.info("metrics at %s", self.server.url)

    @property
    def url(self) -> str | None:
        return self.server.url if self.server is not None else None

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
