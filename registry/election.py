"""Who may write: leader election among registry instances sharing one `_schemas` topic.

Instances join the consumer group `--group-id` on a one-partition coordination topic; the member
that is assigned its partition is the writer, the others serve reads and forward writes to it.
Each instance is a static member (group.instance.id) so that a restart after a crash takes its
slot back at once, and a writer that only loses its session keeps writing (see GroupElection).
Brokers without a group coordinator (one that does not advertise FindCoordinator and JoinGroup)
cannot elect: there a single instance makes itself the writer and says so in its log.

Followers forward writes to the leader (registry/forwarding.py). They learn who it is from the
group itself: each member joins with its identity (registry/identity.py) as its client.id, and
DescribeGroups shows which member holds the partition. An instance with leader.eligibility=false
does not join at all (Confluent's joins and is never picked; a consumer group cannot be told to
pass a member over), so it can never be assigned the partition; it describes the group too.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from typing import Callable

from confluent_kafka import ConsumerGroupState, Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from registry import errors, kafkastore
from registry.store import RECONNECT, StoreError

log = logging.getLogger("registry.election")

FIND_COORDINATOR, JOIN_GROUP, API_VERSIONS = 10, 11, 18


def advertised_api_keys(bootstrap_servers: str, timeout_s: float = 5.0,
                        connection: dict[str, str] | None = None) -> set[int] | None:
    """The API keys the first reachable bootstrap broker advertises (ApiVersions v0), or None.

    Over TLS when the store's clients use TLS (its CA, client certificate and hostname check).
    No SASL exchange: Kafka answers ApiVersions before authentication, which is how clients
    learn the SaslHandshake versions."""
    connection = connection or {}
    context = kafkastore.probe_tls_context(connection) if kafkastore.uses_tls(connection) else None
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        host = host.strip("[]")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s) as raw:
                sock = context.wrap_socket(raw, server_hostname=host) if context is not None else raw
                client_id = b"schemabus-registry"
                body = struct.pack(">hhih", API_VERSIONS, 0, 1, len(client_id)) + client_id
                sock.sendall(struct.pack(">i", len(body)) + body)
                size = struct.unpack(">i", _read(sock, 4))[0]
                frame = _read(sock, size)
        except (OSError, ValueError, struct.error) as exc:  # ssl.SSLError is an OSError
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

    def start(self, on_elected: Callable[[], None], foreign_writes: Callable[[], int] | None = None) -> None:
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
            raise errors.not_leader(self.not_leader_message())

    def not_leader_message(self) -> str:
        return "Leader not known."

    def describe(self) -> str:
        return "leader" if self.leader else "follower"

    # Followers' view of the leader (registry/forwarding.py).
    identity: str | None = None   # this instance's identity JSON, set before start()
    changes = 0                   # bumped by every rebalance this instance takes part in

    def leader_identity(self, timeout_s: float = 5.0) -> str | None:
        """The identity JSON of the member currently elected, None while unknown."""
        return None

    def taking_over(self) -> bool:
        """Elected by the group but still reading the schemas topic to its end."""
        return False


class SingleWriter(Election):
    """The only instance: it writes. Used when the broker has no group coordinator."""

    def __init__(self, reason: str):
        self.reason = reason

    def start(self, on_elected: Callable[[], None], foreign_writes: Callable[[], int] | None = None) -> None:
        on_elected()
        self.leader = True
        log.warning("%s; this registry instance is the single writer of the schemas topic "
                    "(do not run a second instance on it)", self.reason)

    def describe(self) -> str:
        return "single writer (no group coordinator)"


class GroupElection(Election):
    """The member assigned partition 0 of the coordination topic is the writer.

    Like Confluent's registry, an instance keeps its writer role until a rebalance names another
    member: when it merely loses its group session (the broker is away, or answers that the
    session is gone), it goes on being the writer, "unconfirmed", until the group answers again.
    Unconfirmed, each write first reads the schemas topic to its end (so ids are handed out
    knowing everything written so far), and the role is given up as soon as a record written by
    another instance shows up there. With `instance_id` the instance is a static member
    (group.instance.id, KIP-345): started again after a crash, it takes back its slot and
    assignment at once instead of waiting for the dead session to time out.
    """

    def __init__(self, bootstrap_servers: str, group_id: str, topic: str, client_id: str = "schemabus-registry",
                 session_timeout_ms: int = 10000, heartbeat_interval_ms: int = 1000, instance_id: str | None = None,
                 connection: dict[str, str] | None = None, eligible: bool = True):
        self.bootstrap_servers = bootstrap_servers
        self.connection = dict(connection or {})  # security.protocol, ssl.*, sasl.*: as the store's clients
        self.group_id = group_id
        self.topic = topic
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.instance_id = instance_id
        self.eligible = eligible
        self._admin: AdminClient | None = None
        self._owns_partition = False
        self.confirmed = False           # the group currently assigns this instance the partition
        self._lost_foreign_mark = -1     # the store's last foreign write when the session was lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._on_elected: Callable[[], None] | None = None
        self._foreign_writes: Callable[[], int] = lambda: -1
        self._settled = threading.Event()
        self._role_lock = threading.RLock()
        self._failed = False             # a fatal consumer error: this instance no longer takes part

    def start(self, on_elected: Callable[[], None], foreign_writes: Callable[[], int] | None = None) -> None:
        """`on_elected` reads the schemas topic to its end (raising if it cannot); `foreign_writes`
        is the offset of the last record another writer wrote."""
        self._on_elected = on_elected
        if foreign_writes is not None:
            self._foreign_writes = foreign_writes
        self._ensure_topic()
        if not self.eligible:
            log.info("leader.eligibility is false: this instance does not join group %s and is never the writer",
                     self.group_id)
            self._settled.set()
            return
        config = {
            "bootstrap.servers": self.bootstrap_servers,
            **self.connection,
            "group.id": self.group_id,
            # The identity other instances forward writes to (see the module's docstring).
            "client.id": self.identity or self.client_id,
            "enable.auto.commit": False,
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": self.heartbeat_interval_ms,
            "partition.assignment.strategy": "range",
            **RECONNECT,
        }
        if self.instance_id:
            config["group.instance.id"] = self.instance_id
        self._consumer = Consumer(config)
        self._consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked,
                                 on_lost=self._lost)
        self._thread = threading.Thread(target=self._loop, name="leader-election", daemon=True)
        self._thread.start()

    def _ensure_topic(self) -> None:
        admin = self._admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, **self.connection,
                                           "client.id": f"{self.client_id}-election"})
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
        owns = any(p.partition == 0 for p in partitions)
        log.info("group %s assigned %s to this instance", self.group_id, [p.partition for p in partitions])
        with self._role_lock:
            self.changes += 1
            self._owns_partition = owns
            if not owns:
                if self.leader:
                    log.warning("the group %s named another writer; this instance now forwards writes to it",
                                self.group_id)
                self.leader = False
                self.confirmed = False
                self._settled.set()  # a follower: another member writes

    def _revoked(self, consumer, partitions) -> None:
        """A rebalance: like Confluent's, the leader is unknown until it completes."""
        with self._role_lock:
            self.changes += 1
            if self.leader:
                log.warning("group %s is rebalancing; writes wait for it to complete", self.group_id)
            self.leader = False
            self.confirmed = False
            self._owns_partition = False

    def _lost(self, consumer, partitions) -> None:
        """The session is gone (broker away, or it no longer knows this member): no other writer is
        known, so the writer stays the writer, unconfirmed, until the group answers again."""
        with self._role_lock:
            self.changes += 1
            self._owns_partition = False
            if self.leader and self.confirmed:  # (lost again before it was back: keep the first mark)
                self.confirmed = False
                self._lost_foreign_mark = self._foreign_writes()
                log.warning("lost the session in group %s; still the writer until the group names another "
                            "(meanwhile each write first reads the schemas topic to its end)", self.group_id)

    def _loop(self) -> None:
        while not self._stop.is_set() and not self._failed:
            try:
                msg = self._consumer.poll(0.2)
            except KafkaException as exc:
                self._error(exc.args[0])
                time.sleep(0.5)
                continue
            if msg is not None and msg.error() is not None:
                self._error(msg.error())
            if self._failed:
                return
            if self._owns_partition and not (self.leader and self.confirmed):
                try:
                    # Read everything the previous writer wrote before handing out ids.
                    self._on_elected()
                    with self._role_lock:
                        if self._owns_partition:
                            if not self.leader:
                                log.info("this instance is now the writer (group %s, topic %s)",
                                         self.group_id, self.topic)
                            else:
                                log.info("back in group %s: still the writer", self.group_id)
                            self.leader = self.confirmed = True
                    self._settled.set()
                except Exception as exc:  # the store is unreachable: retry on the next turn
                    log.warning("elected but could not catch up with the schemas topic: %s", exc)
                    time.sleep(0.5)

    def _error(self, error) -> None:
        """An error from the consumer: fatal ones (which poll() hands out as _FATAL) end its part."""
        if not (error.fatal() or error.code() == KafkaError._FATAL):
            log.debug("leader election: %s", error)  # librdkafka retries (and logs) these itself
            return
        # e.g. FENCED_INSTANCE_ID: another process joined with this instance's group.instance.id.
        log.error("leader election stopped: %s; this instance serves reads only (is another registry instance "
                  "running with group.instance.id %r?)", error, self.instance_id)
        with self._role_lock:
            self._failed = True
            self._owns_partition = False
            self.leader = self.confirmed = False
        self._settled.set()

    def check_writer(self) -> None:
        with self._role_lock:
            leader, confirmed, mark = self.leader, self.confirmed, self._lost_foreign_mark
        if not leader:
            raise errors.not_leader(self.not_leader_message())
        if confirmed:
            return
        # Unconfirmed: catch up with the topic, and give way if another instance has written.
        try:
            self._on_elected()
        except StoreError as exc:
            if exc.timeout:
                raise errors.timeout_error(f"Kafka store timed out: {exc}") from None
            raise errors.store_error(f"Error while reading from the Kafka store: {exc}") from None
        if self._foreign_writes() > mark:
            with self._role_lock:
                if not self.confirmed:
                    self.leader = False
            log.warning("another instance wrote to the schemas topic while this one had lost its session in group "
                        "%s; no longer the writer", self.group_id)
            raise errors.not_leader("Another instance took over writing while this one had lost its session "
                                        f"in group '{self.group_id}'. " + self.not_leader_message())

    def taking_over(self) -> bool:
        return self._owns_partition and not self.leader

    def leader_identity(self, timeout_s: float = 5.0) -> str | None:
        """The client.id (identity JSON) of the member assigned the partition, from DescribeGroups;
        None while the group rebalances (assignments are only shown once it is Stable) or has no
        member. A failed request is None too: the caller waits and asks again."""
        if self._admin is None:
            return None
        try:
            future = self._admin.describe_consumer_groups([self.group_id], request_timeout=timeout_s)[self.group_id]
            group = future.result()
        except KafkaException as exc:
            log.debug("describing group %s: %s", self.group_id, exc)
            return None
        if group.state != ConsumerGroupState.STABLE:
            return None
        for member in group.members:
            assignment = member.assignment.topic_partitions if member.assignment is not None else []
            if any(tp.topic == self.topic and tp.partition == 0 for tp in assignment):
                return member.client_id
        return None

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
        role = "leader" if self.leader else "follower"
        if self.leader and not self.confirmed:
            role = "leader (group session lost)"
        static = f", group.instance.id {self.instance_id}" if self.instance_id else ""
        return f"{role} in group {self.group_id}{static}"


def choose_election(bootstrap_servers: str, group_id: str, topic: str, instance_id: str | None = None,
                    connection: dict[str, str] | None = None, eligible: bool = True,
                    session_timeout_ms: int = 10000, heartbeat_interval_ms: int = 1000) -> Election:
    """Group election where the broker can coordinate groups; a single writer where it cannot."""
    keys = advertised_api_keys(bootstrap_servers, connection=connection)
    if keys is not None and FIND_COORDINATOR in keys and JOIN_GROUP in keys:
        return GroupElection(bootstrap_servers, group_id, topic, instance_id=instance_id, connection=connection,
                             eligible=eligible, session_timeout_ms=session_timeout_ms,
                             heartbeat_interval_ms=heartbeat_interval_ms)
    if not eligible:
        log.warning("leader.eligibility is false and the broker cannot elect a leader: this instance takes no writes")
        return Election()
    reason = ("the broker does not advertise FindCoordinator/JoinGroup in ApiVersions, so there is no group "
              "coordinator for leader election" if keys is not None
              else "could not ask the broker for its API versions")
    return SingleWriter(reason)
