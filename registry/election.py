"""Who may write: leader election among registry instances sharing one `_schemas` topic.

Instances join the consumer group `--group-id` on a one-partition coordination topic; the member
that is assigned its partition is the writer, the others serve reads and answer writes with
50004. Brokers without a group coordinator (one that does not advertise FindCoordinator and
JoinGroup) cannot elect: there a single instance makes itself the writer and says so in its log.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from typing import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from registry import errors
from registry.store import RECONNECT

log = logging.getLogger("registry.election")

FIND_COORDINATOR, JOIN_GROUP, API_VERSIONS = 10, 11, 18


def advertised_api_keys(bootstrap_servers: str, timeout_s: float = 5.0) -> set[int] | None:
    """The API keys the first reachable bootstrap broker advertises (ApiVersions v0), or None."""
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s) as sock:
                client_id = b"schemabus-registry"
                body = struct.pack(">hhih", API_VERSIONS, 0, 1, len(client_id)) + client_id
                sock.sendall(struct.pack(">i", len(body)) + body)
                size = struct.unpack(">i", _read(sock, 4))[0]
                frame = _read(sock, size)
        except (OSError, ValueError, struct.error) as exc:
            log.debug("ApiVersions probe of %s failed: %s", server, exc)
            continue
        _, error_code, count = struct.unpack_from(">ihi", frame)
        if error_code != 0:
            continue
        return {struct.unpack_from(">h", frame, 10 + 6 * i)[0] for i in range(count)}
    return None


def _read(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return bytes(buf)


class Election:
    """The base: a writer check for the REST layer."""

    leader = False

    def start(self, on_elected: Callable[[], None]) -> None:
        raise NotImplementedError

    def wait_settled(self, timeout_s: float) -> bool:
        """Wait until this instance knows its role (writer or follower)."""
        return True

    def close(self) -> None:
        pass

    def is_leader(self) -> bool:
        return self.leader

    def check_writer(self) -> None:
        if not self.leader:
            raise errors.unknown_leader(self.not_leader_message())

    def not_leader_message(self) -> str:
        return "Leader not known."

    def describe(self) -> str:
        return "leader" if self.leader else "follower"


class SingleWriter(Election):
    """The only instance: it writes. Used when the broker has no group coordinator."""

    def __init__(self, reason: str):
        self.reason = reason

    def start(self, on_elected: Callable[[], None]) -> None:
        on_elected()
        self.leader = True
        log.warning("%s; this registry instance is the single writer of the schemas topic "
                    "(do not run a second instance on it)", self.reason)

    def describe(self) -> str:
        return "single writer (no group coordinator)"


class GroupElection(Election):
    """The member assigned partition 0 of the coordination topic is the writer."""

    def __init__(self, bootstrap_servers: str, group_id: str, topic: str, client_id: str = "schemabus-registry",
                 session_timeout_ms: int = 10000):
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topic = topic
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms
        self._owns_partition = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._on_elected: Callable[[], None] | None = None
        self._settled = threading.Event()

    def start(self, on_elected: Callable[[], None]) -> None:
        self._on_elected = on_elected
        self._ensure_topic()
        self._consumer = Consumer({
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group_id,
            "client.id": self.client_id,
            "enable.auto.commit": False,
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(500, self.session_timeout_ms // 5),
            "partition.assignment.strategy": "range",
            **RECONNECT,
        })
        self._consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked,
                                 on_lost=self._revoked)
        self._thread = threading.Thread(target=self._loop, name="leader-election", daemon=True)
        self._thread.start()

    def _ensure_topic(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        metadata = admin.list_topics(timeout=10)
        if self.topic in metadata.topics and metadata.topics[self.topic].error is None:
            return
        replication = max(1, min(3, len(metadata.brokers)))
        future = admin.create_topics([NewTopic(self.topic, 1, replication)], request_timeout=15)[self.topic]
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def wait_settled(self, timeout_s: float) -> bool:
        return self._settled.wait(timeout_s)

    def _assigned(self, consumer, partitions) -> None:
        self._owns_partition = any(p.partition == 0 for p in partitions)
        log.info("group %s assigned %s to this instance", self.group_id, [p.partition for p in partitions])
        if not self._owns_partition:
            self._settled.set()  # a follower: another member writes

    def _revoked(self, consumer, partitions) -> None:
        if self.leader:
            log.warning("lost the writer role in group %s", self.group_id)
        self.leader = False
        self._owns_partition = False

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._consumer.poll(0.2)
            except KafkaException as exc:
                log.warning("leader election: %s", exc)
                time.sleep(0.5)
            if self._owns_partition and not self.leader:
                try:
                    # Read everything the previous writer wrote before handing out ids.
                    self._on_elected()
                    self.leader = self._owns_partition
                    if self.leader:
                        log.info("this instance is now the writer (group %s, topic %s)", self.group_id, self.topic)
                    self._settled.set()
                except Exception as exc:  # the store is unreachable: retry on the next turn
                    log.warning("elected but could not catch up with the schemas topic: %s", exc)
                    time.sleep(0.5)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.leader = False
        if self._consumer is not None:
            try:
                self._consumer.close()
            except KafkaException:
                pass

    def not_leader_message(self) -> str:
        return (f"This instance is not the leader of group '{self.group_id}'; the leader (the member assigned "
                f"partition 0 of '{self.topic}') takes writes. Leader not known.")

    def describe(self) -> str:
        return f"{'leader' if self.leader else 'follower'} in group {self.group_id}"


def choose_election(bootstrap_servers: str, group_id: str, topic: str) -> Election:
    """Group election where the broker can coordinate groups; a single writer where it cannot."""
    keys = advertised_api_keys(bootstrap_servers)
    if keys is not None and FIND_COORDINATOR in keys and JOIN_GROUP in keys:
        return GroupElection(bootstrap_servers, group_id, topic)
    reason = ("the broker does not advertise FindCoordinator/JoinGroup in ApiVersions, so there is no group "
              "coordinator for leader election" if keys is not None
              else "could not ask the broker for its API versions")
    return SingleWriter(reason)
