"""Which instance of an application hosts which tasks, stores and keys (Kafka Streams'
StreamsMetadata, KeyQueryMetadata and HostInfo), for interactive queries across instances.

Kafka Streams learns each instance's `application.server` from its own assignor's subscription
data; librdkafka offers no custom assignor, so here each main consumer carries its instance's
endpoint at the end of its client.id (`...-StreamThread-1-consumer@host:port`) and the group's
description (members, their client ids and assignments) gives the whole picture."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from streams.errors import StreamsException
from streams.partitioner import partition_for_key
from streams.topology import SubTopology, Topology

ENDPOINT_MARK = "@"
THREAD_MARK = "-StreamThread-"  # a main consumer's client.id: <instance client.id>-StreamThread-<n>-consumer
_FRESH_SECONDS = 2.0  # a description older than this is fetched again (rebalances also clear it)


@dataclass(frozen=True, order=True)
class HostInfo:
    host: str
    port: int

    @classmethod
    def parse(cls, endpoint: str) -> "HostInfo":
        """`host:port` as `application.server` takes it ([v6]:port for IPv6)."""
        host, sep, port = endpoint.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"Error parsing host address {endpoint}. Expected format host:port.")
        return cls(host.strip("[]"), int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass
class StreamsMetadata:
    host_info: HostInfo
    state_store_names: set[str] = field(default_factory=set)
    topic_partitions: set[tuple[str, int]] = field(default_factory=set)


@dataclass
class KeyQueryMetadata:
    active_host: HostInfo | None  # None while no instance owns the key's partition (a rebalance)
    standby_hosts: set[HostInfo]
    partition: int


def consumer_client_id(client_id: str, application_server: str) -> str:
    return f"{client_id}{ENDPOINT_MARK}{application_server}" if application_server else client_id


def endpoint_of(client_id: str) -> HostInfo | None:
    _, mark, endpoint = client_id.rpartition(ENDPOINT_MARK)
    try:
        return HostInfo.parse(endpoint) if mark else None
    except ValueError:
        return None


class StreamsMetadataState:
    """The application's instances and what they host, from its consumer group's description."""

    def __init__(self, application_id: str, admin_config: dict, topology: Topology, subs: list[SubTopology],
                 topic_names: dict[str, str], own: HostInfo | None):
        self.application_id = application_id
        self._admin_config = admin_config
        self._admin_client: AdminClient | None = None
        self._topology = topology
        self._subs = subs
        self._names = topic_names
        self.own = own
        self._lock = threading.Lock()
        self._hosts: dict[HostInfo, StreamsMetadata] | None = None
        self._fetched = 0.0
        self._partitions: dict[str, int] = {}

    @property
    def _admin(self) -> AdminClient:
        """Made on the first query: an application that never asks has no extra client."""
        if self._admin_client is None:
            self._admin_client = AdminClient(self._admin_config)
        return self._admin_client

    def invalidate(self) -> None:
        with self._lock:
            self._hosts = None

    def all_clients(self) -> list[StreamsMetadata]:
        return sorted(self._described().values(), key=lambda m: m.host_info)

    def for_store(self, store: str) -> list[StreamsMetadata]:
        if store in self._topology.global_stores:
            return self.all_clients()
        return [m for m in self.all_clients() if store in m.state_store_names]

    def for_key(self, store: str, key: bytes) -> KeyQueryMetadata:
        """The instance whose task holds `key` (serialized as the store's input is keyed)."""
        if store in self._topology.global_stores:  # every instance holds all of a global store
            return KeyQueryMetadata(self.own, set(), -1)
        sub = self._sub_of_store(store)
        topic = self._names[sub.source_topics[0]]
        partition = partition_for_key(key, self._partition_count(topic))
        owners = [m.host_info for m in self._described().values() if (topic, partition) in m.topic_partitions]
        return KeyQueryMetadata(owners[0] if owners else None, set(), partition)

    def _sub_of_store(self, store: str) -> SubTopology:
        for sub in self._subs:
            if store in sub.stores:
                return sub
        raise StreamsException(f"Cannot get state store {store} because no such store is registered in the "
                               "topology.")

    def _partition_count(self, topic: str) -> int:
        if topic not in self._partitions:
            metadata = self._admin.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise StreamsException(f"topic {topic} is not available: {metadata and metadata.error}")
            self._partitions[topic] = len(metadata.partitions)
        return self._partitions[topic]

    def instance_partitions(self) -> dict[str, set[tuple[str, int]]] | None:
        """Each instance (its client id) with the partitions its threads hold, or None while the
        group rebalances (standby tasks wait for a settled assignment)."""
        group = self._describe_group()
        if group.state != ConsumerGroupState.STABLE:
            return None
        instances: dict[str, set[tuple[str, int]]] = {}
        for member in group.members:
            instance = (member.client_id or "").rpartition(ENDPOINT_MARK)[0] or member.client_id or ""
            partitions = instances.setdefault(instance.rsplit(THREAD_MARK, 1)[0], set())
            partitions.update((tp.topic, tp.partition) for tp in (member.assignment.topic_partitions
                                                                  if member.assignment else []))
        return instances

    def _describe_group(self):
        future = self._admin.describe_consumer_groups([self.application_id], request_timeout=10)
        return future[self.application_id].result(15)

    def _described(self) -> dict[HostInfo, StreamsMetadata]:
        with self._lock:
            if self._hosts is not None and time.monotonic() - self._fetched < _FRESH_SECONDS:
                return self._hosts
        group = self._describe_group()
        stores_of = {self._names[t]: set(sub.stores) for sub in self._subs for t in sub.source_topics}
        hosts: dict[HostInfo, StreamsMetadata] = {}
        for member in group.members:
            endpoint = endpoint_of(member.client_id or "")
            if endpoint is None:
                continue
            metadata = hosts.setdefault(endpoint, StreamsMetadata(endpoint, set(self._topology.global_stores)))
            for tp in member.assignment.topic_partitions if member.assignment else []:
                metadata.topic_partitions.add((tp.topic, tp.partition))
                metadata.state_store_names |= stores_of.get(tp.topic, set())
        with self._lock:
            self._hosts, self._fetched = hosts, time.monotonic()
        return hosts
