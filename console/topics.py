"""Topics through the Admin API (confluent-kafka's AdminClient): list, describe, create, alter
configs, add partitions, delete; sizes and rates from the broker's Prometheus metrics.

Why the metrics for sizes: Kafka answers a topic's size on disk through DescribeLogDirs, which our
broker implements but confluent-kafka's AdminClient does not expose (2.x has no
describe_log_dirs), and kafka-rest's v3 API has no size either. The broker's /metrics has it per
partition (`kafka_log_log_size`, as jmx_exporter names Kafka's Log.Size), next to the per-topic
counters the rates come from (`kafka_server_brokertopicmetrics_messagesin_total`, `bytesin`,
`bytesout`). So the console reads them when given `broker.metrics.url`; without it those
columns say so.
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewPartitions, NewTopic, OffsetSpec,
)

from cli.metrics_status import Samples, metrics_url, scrape
from console.backends import SERVICE_TIMEOUT_S, ServiceError

LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
SCHEMA_VALIDATION = ("confluent.value.schema.validation", "confluent.key.schema.validation")
# Consumer groups are asked one by one for their offsets (the Admin API takes one group per
# ListConsumerGroupOffsets call): past this many the topic page does not look.
MAX_GROUPS_SCANNED = 200


class AdminFailure(ServiceError):
    """Kafka refused or did not answer; `code` is Kafka's error name (TOPIC_EXCEPTION, ...) so a form
    can put the broker's `message` next to the field it is about. Left uncaught, the console's
    ServiceError page shows it."""

    def __init__(self, code: str, message: str):
        super().__init__("Kafka", message)
        self.code = code


def wait(future):
    try:
        return future.result(SERVICE_TIMEOUT_S + 1)
    except KafkaException as exc:
        err = exc.args[0]
        raise AdminFailure(err.name(), err.str()) from None
    except concurrent.futures.TimeoutError:
        raise AdminFailure("_TIMED_OUT", f"Kafka did not answer within {SERVICE_TIMEOUT_S:g} s") from None


def is_internal(name: str) -> bool:
    """Kafka's own topics (__consumer_offsets, __transaction_state) and the services' `_`-prefixed
    ones (the registry's _schemas): hidden from the list unless asked for."""
    return name.startswith("_")


# -- listing --------------------------------------------------------------------------------


@dataclass
class TopicRow:
    name: str
    partitions: int
    replication: int
    under_replicated: int
    internal: bool
    size: int | None = None           # bytes on disk, from the metrics
    messages_in: float | None = None  # per second, from the metrics
    bytes_in: float | None = None
    bytes_out: float | None = None


def topic_rows(admin: AdminClient) -> list[TopicRow]:
    """Every topic from one Metadata request (which never auto-creates: it names no topic)."""
    try:
        listed = admin.list_topics(timeout=SERVICE_TIMEOUT_S).topics
    except KafkaException as exc:
        raise AdminFailure(exc.args[0].name(), exc.args[0].str()) from None
    rows = []
    for name, topic in sorted(listed.items()):
        if topic.error is not None:
            continue
        parts = topic.partitions.values()
        rows.append(TopicRow(name, len(topic.partitions), max((len(p.replicas) for p in parts), default=0),
                             sum(1 for p in parts if len(p.isrs) < len(p.replicas)), is_internal(name)))
    return rows


# -- the broker's metrics ---------------------------------------------------------------------


@dataclass
class TopicFigures:
    size: int = 0
    messages_in: float | None = None
    bytes_in: float | None = None
    bytes_out: float | None = None


COUNTERS = {"messages_in": "kafka_server_brokertopicmetrics_messagesin_total",
            "bytes_in": "kafka_server_brokertopicmetrics_bytesin_total",
            "bytes_out": "kafka_server_brokertopicmetrics_bytesout_total"}
# Rates compare two scrapes at least this far apart (closer ones say little), at most RATE_WINDOW_S.
MIN_RATE_INTERVAL_S = 1.0
RATE_WINDOW_S = 300.0


class BrokerMetrics:
    """Scrapes the broker's /metrics; keeps the scrapes of the last minutes so each page can show
    per-second rates (counter deltas over time) without waiting for a second scrape."""

    def __init__(self, url: str):
        self.url = metrics_url(url)
        self._history: list[tuple[float, Samples]] = []
        self._lock = threading.Lock()

    def figures(self) -> dict[str, TopicFigures]:
        """Per topic: bytes on disk, and rates since an earlier scrape (None on the first)."""
        now, samples = time.monotonic(), scrape(self.url)
        with self._lock:
            self._history = [(t, s) for t, s in self._history if now - t <= RATE_WINDOW_S]
            earlier = next(((t, s) for t, s in reversed(self._history) if now - t >= MIN_RATE_INTERVAL_S), None)
            self._history.append((now, samples))
        out: dict[str, TopicFigures] = {}
        for labels, value in samples.rows("kafka_log_log_size"):
            out.setdefault(labels.get("topic", ""), TopicFigures()).size += int(value)
        if earlier is not None:
            interval = now - earlier[0]
            for attr, name in COUNTERS.items():
                before, after = earlier[1].by(name, "topic"), samples.by(name, "topic")
                for topic, figures in out.items():
                    # A counter that went down was reset (the broker restarted): no rate from it.
                    delta = after.get(topic, 0.0) - before.get(topic, 0.0)
                    setattr(figures, attr, round(delta / interval, 1) if delta >= 0 else None)
        return out


_metrics: dict[str, BrokerMetrics] = {}
_metrics_lock = threading.Lock()


def broker_metrics(url: str) -> BrokerMetrics:
    """One reader per URL for the process, so its scrape history is shared by every page."""
    with _metrics_lock:
        if url not in _metrics:
            _metrics[url] = BrokerMetrics(url)
        return _metrics[url]


def add_figures(rows: list[TopicRow], url: str | None) -> str | None:
    """Fills sizes and rates in from the metrics; the reason when they cannot be had."""
    if not url:
        return "the broker's metrics endpoint is not configured (broker.metrics.url)"
    try:
        figures = broker_metrics(url).figures()
    except (OSError, ValueError) as exc:
        return f"the broker's metrics at {url} cannot be read: {getattr(exc, 'reason', None) or exc}"
    for row in rows:
        found = figures.get(row.name)
        if found is not None:
            row.size, row.messages_in, row.bytes_in, row.bytes_out = \
                found.size, found.messages_in, found.bytes_in, found.bytes_out
    return None


# -- one topic --------------------------------------------------------------------------------


@dataclass
class PartitionRow:
    id: int
    leader: int | None
    replicas: list[int]
    isr: list[int]
    earliest: int | None = None
    latest: int | None = None


@dataclass
class ConfigRow:
    name: str
    value: str | None
    source: str
    is_default: bool
    sensitive: bool
    read_only: bool


@dataclass
class TopicDetail:
    name: str
    internal: bool
    partitions: list[PartitionRow]
    configs: list[ConfigRow]
    groups: list[tuple[str, int, int]] = field(default_factory=list)  # (group, committed total, lag total)
    groups_note: str | None = None

    @property
    def replication(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)


def source_name(source) -> str:
    try:
        return ConfigSource(int(getattr(source, "value", source))).name
    except ValueError:
        return "UNKNOWN"


def describe(admin: AdminClient, name: str) -> TopicDetail:
    """Partitions with their offsets, configs and the groups with offsets on it; AdminFailure
    UNKNOWN_TOPIC_OR_PART when there is no such topic."""
    described = wait(admin.describe_topics(TopicCollection([name]), request_timeout=SERVICE_TIMEOUT_S)[name])
    partitions = [PartitionRow(p.id, p.leader.id if p.leader is not None else None,
                               [r.id for r in p.replicas], [r.id for r in p.isr])
                  for p in sorted(described.partitions, key=lambda p: p.id)]
    bounds = offsets(admin, name, [p.id for p in partitions])
    for p in partitions:
        p.earliest, p.latest = bounds.get(p.id, (None, None))
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    entries = wait(admin.describe_configs([resource], request_timeout=SERVICE_TIMEOUT_S)[resource])
    configs = [ConfigRow(e.name, None if e.is_sensitive else e.value, source_name(e.source), e.is_default,
                         e.is_sensitive, e.is_read_only) for e in sorted(entries.values(), key=lambda e: e.name)]
    detail = TopicDetail(name, described.is_internal or is_internal(name), partitions, configs)
    detail.groups, detail.groups_note = groups_reading(admin, name, {p.id: p.latest for p in partitions})
    return detail


def offsets(admin: AdminClient, name: str, partition_ids: list[int]) -> dict[int, tuple[int, int]]:
    """partition -> (earliest, latest) offsets."""
    if not partition_ids:
        return {}
    found: dict[int, list[int]] = {p: [] for p in partition_ids}
    for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
        futures = admin.list_offsets({TopicPartition(name, p): spec for p in partition_ids},
                                     request_timeout=SERVICE_TIMEOUT_S)
        for tp, future in futures.items():
            found[tp.partition].append(wait(future).offset)
    return {p: (pair[0], pair[1]) for p, pair in found.items()}


def groups_reading(admin: AdminClient, topic: str, ends: dict[int, int | None]):
    """[(group, partitions with a committed offset, lag)] of the groups with offsets on `topic`,
    and a note when not every group was looked at."""
    listed = wait(admin.list_consumer_groups(request_timeout=SERVICE_TIMEOUT_S))
    group_ids = sorted(g.group_id for g in listed.valid)
    note = None
    if len(group_ids) > MAX_GROUPS_SCANNED:
        note = f"only the first {MAX_GROUPS_SCANNED} of {len(group_ids)} groups were looked at"
        group_ids = group_ids[:MAX_GROUPS_SCANNED]
    futures = {g: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)],
                                                    request_timeout=SERVICE_TIMEOUT_S)[g] for g in group_ids}
    out = []
    for group_id, future in futures.items():
        try:
            answer = wait(future)
        except AdminFailure:
            continue  # a group deleted meanwhile, or one we may not describe
        committed = [tp for tp in answer.topic_partitions or []
                     if tp.topic == topic and tp.error is None and tp.offset >= 0]
        if committed:
            lag = sum(max((ends.get(tp.partition) or 0) - tp.offset, 0) for tp in committed)
            out.append((group_id, len(committed), lag))
    return out, note


def has_schema_validation(admin: AdminClient) -> bool:
    """Whether the broker validates records against the registry (ours and Confluent Server do; Apache
    Kafka refuses the topic configs as unknown): such a broker has `confluent.schema.registry.url`
    among its configs. When Kafka cannot be asked, the form offers it and the broker decides."""
    try:
        cluster = wait(admin.describe_cluster(request_timeout=SERVICE_TIMEOUT_S))
        resource = ConfigResource(ConfigResource.Type.BROKER, str(cluster.nodes[0].id))
        return "confluent.schema.registry.url" in wait(
            admin.describe_configs([resource], request_timeout=SERVICE_TIMEOUT_S)[resource])
    except (AdminFailure, IndexError):
        return True


# -- changes ----------------------------------------------------------------------------------


def create(admin: AdminClient, name: str, partitions: int, replication: int, configs: dict[str, str]) -> None:
    """Validated by the broker first (validate_only), so a refused topic leaves nothing behind."""
    new_topic = NewTopic(name, partitions, replication, config=configs)
    for validate_only in (True, False):
        wait(admin.create_topics([new_topic], validate_only=validate_only,
                                 request_timeout=SERVICE_TIMEOUT_S)[name])
    _wait_for_leaders(admin, name)


def alter_configs(admin: AdminClient, name: str, sets: dict[str, str], deletes: list[str]) -> None:
    """IncrementalAlterConfigs: SET each of `sets`, reset each of `deletes` to its default."""
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in sets.items()]
    entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in deletes]
    for validate_only in (True, False):
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)
        wait(admin.incremental_alter_configs([resource], validate_only=validate_only,
                                             request_timeout=SERVICE_TIMEOUT_S)[resource])


def add_partitions(admin: AdminClient, name: str, total: int) -> None:
    for validate_only in (True, False):
        wait(admin.create_partitions([NewPartitions(name, total)], validate_only=validate_only,
                                     request_timeout=SERVICE_TIMEOUT_S)[name])
    _wait_for_leaders(admin, name, total)


def _wait_for_leaders(admin: AdminClient, name: str, partitions: int | None = None) -> None:
    """Apache Kafka answers CreateTopics and CreatePartitions before its broker serves the new
    partitions (ours, at once): for a moment ListOffsets answers NOT_LEADER_OR_FOLLOWER and the topic's
    page could not show its offsets. So wait, bounded, until their offsets can be read; past the
    bound the page says what Kafka says."""
    deadline = time.monotonic() + SERVICE_TIMEOUT_S
    while True:
        try:
            described = wait(admin.describe_topics(TopicCollection([name]), request_timeout=SERVICE_TIMEOUT_S)[name])
            ids = [p.id for p in described.partitions]
            led = all(p.leader is not None for p in described.partitions)
            if led and (partitions is None or len(ids) >= partitions):
                offsets(admin, name, ids)
                return
        except AdminFailure:
            pass  # not yet
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)


def delete(admin: AdminClient, name: str) -> None:
    wait(admin.delete_topics([name], request_timeout=SERVICE_TIMEOUT_S)[name])
