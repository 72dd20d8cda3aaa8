"""A worker's membership in the Connect group (WorkerCoordinator): JoinGroup with protocol type
`connect` and Connect's metadata, SyncGroup with the leader's assignment, heartbeats.

The classic group protocol client is kafka-python's BaseCoordinator (confluent-kafka exposes no
custom group protocols); this module supplies what is Connect's: the protocols offered, the
metadata, and the leader's assignment through the herder.
"""

from __future__ import annotations

import logging
from typing import Callable

from kafka.client_async import KafkaClient
from kafka.coordinator.base import BaseCoordinator

from connect.protocol import PROTOCOLS, Assignment, MemberMetadata

log = logging.getLogger("connect.group")


def kafka_python_config(librdkafka: dict) -> dict:
    """Our librdkafka client settings as kafka-python's keyword arguments."""
    out = {"bootstrap_servers": librdkafka["bootstrap.servers"].split(",")}
    protocol = librdkafka.get("security.protocol", "PLAINTEXT").upper()
    out["security_protocol"] = protocol
    if protocol.startswith("SASL"):
        out["sasl_mechanism"] = librdkafka.get("sasl.mechanism", librdkafka.get("sasl.mechanisms", "PLAIN")).upper()
        out["sasl_plain_username"] = librdkafka.get("sasl.username")
        out["sasl_plain_password"] = librdkafka.get("sasl.password")
    if protocol.endswith("SSL"):
        for ours, theirs in (("ssl.ca.location", "ssl_cafile"), ("ssl.certificate.location", "ssl_certfile"),
                             ("ssl.key.location", "ssl_keyfile"), ("ssl.key.password", "ssl_password")):
            if librdkafka.get(ours):
                out[theirs] = librdkafka[ours]
        if librdkafka.get("ssl.endpoint.identification.algorithm", "https") == "none":
            out["ssl_check_hostname"] = False
    return out


class ConnectGroupMember(BaseCoordinator):
    """Callbacks into the herder: `metadata()` -> MemberMetadata (ours now), `assign(leader_id,
    protocol, {member: MemberMetadata})` -> {member: Assignment} (as leader), `on_assignment(
    generation, member_id, protocol, Assignment)`, `on_revoke_all()` (eager protocol)."""

    def __init__(self, client_config: dict, group_id: str, connect_protocol: str, session_timeout_ms: int,
                 heartbeat_interval_ms: int, rebalance_timeout_ms: int, herder):
        self.client = KafkaClient(client_id=f"connect-{group_id}", **kafka_python_config(client_config))
        super().__init__(self.client, group_id=group_id, session_timeout_ms=session_timeout_ms,
                         heartbeat_interval_ms=heartbeat_interval_ms, max_poll_interval_ms=rebalance_timeout_ms,
                         api_version=(2, 3))
        self.protocols = PROTOCOLS[connect_protocol.lower()]
        self.herder = herder

    def protocol_type(self) -> str:
        return "connect"

    def group_protocols(self):
        current = self.herder.metadata()
        return [(name, MemberMetadata(current.url, current.config_offset,
                                      current.allocation if version > 0 else None, version).encode())
                for name, version in self.protocols]

    def _on_join_prepare(self, generation, member_id, timeout_ms=None):
        self.herder.on_join_prepare()

    def _perform_assignment(self, leader_id, protocol, members):
        metadata = {m.member_id: MemberMetadata.decode(m.metadata_bytes) for m in members}
        return {member: assignment.encode()
                for member, assignment in self.herder.assign(leader_id, protocol, metadata).items()}

    def _on_join_complete(self, generation, member_id, protocol, member_assignment_bytes):
        self.herder.on_assignment(generation, member_id, protocol, Assignment.decode(member_assignment_bytes))

    def poll(self, timeout_ms: int, until: Callable[[], bool] | None = None) -> None:
        """Keep membership alive: join when needed, heartbeat, serve the network for a while."""
        self.ensure_active_group(timeout_ms=timeout_ms)
        self.poll_heartbeat()
        self.client.poll(timeout_ms=timeout_ms)

    def leave(self) -> None:
        try:
            self.close(timeout_ms=5000)
        finally:
            self.client.close()
