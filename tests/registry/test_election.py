"""Leader election: one writer among instances sharing `_schemas`; the others forward writes to it
(tests/registry/test_forwarding.py tests the forwarding itself).

Against Apache Kafka (slow: it starts a JVM) and against our broker; plus the fallback for brokers
without a group coordinator, where a single instance makes itself the writer.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from registry.election import GroupElection, SingleWriter, advertised_api_keys, choose_election
from tests.conftest import unique_topic, wait_until
from tests.registry.conftest import leader_port, record_schema


class _ApiVersionsOnly:
    """A TCP peer that answers ApiVersions v0 with a chosen API list, like a broker without groups."""

    def __init__(self, api_keys):
        self.api_keys = api_keys
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                size = struct.unpack(">i", conn.recv(4))[0]
                request = conn.recv(size)
                correlation_id = struct.unpack_from(">i", request, 4)[0]
                body = struct.pack(">ihi", correlation_id, 0, len(self.api_keys))
                body += b"".join(struct.pack(">hhh", key, 0, 3) for key in self.api_keys)
                conn.sendall(struct.pack(">i", len(body)) + body)

    def close(self):
        self.sock.close()


def test_broker_without_group_coordinator_gets_a_single_writer():
    peer = _ApiVersionsOnly([0, 1, 3, 18, 19, 22])
    try:
        bootstrap = f"127.0.0.1:{peer.port}"
        assert advertised_api_keys(bootstrap) == {0, 1, 3, 18, 19, 22}
        election = choose_election(bootstrap, "g", "t")
        assert isinstance(election, SingleWriter)
        assert "FindCoordinator/JoinGroup" in election.reason
        elected = []
        election.start(lambda: elected.append(True))
        assert election.is_leader() and elected == [True]
    finally:
        peer.close()
    with_groups = _ApiVersionsOnly([0, 1, 3, 10, 11, 12, 13, 14, 18])
    try:
        assert isinstance(choose_election(f"127.0.0.1:{with_groups.port}", "g", "t"), GroupElection)
    finally:
        with_groups.close()


def _writer_and_follower(regs, bootstrap: str, group: str):
    """Which instance the group elected (its identity names its port), and the other one. A
    rebalance (the second instance joining) briefly leaves no writer, so this waits for the group
    to settle; then both take writes (the follower forwards them)."""
    ports = {reg.port: reg for reg in regs}
    port = wait_until(lambda: leader_port(bootstrap, group) in ports and leader_port(bootstrap, group), 60,
                      "no single writer emerged")
    for index, reg in enumerate(regs):
        answer = reg.register(f"probe-{index}", {"type": "string"})
        assert answer.status_code == 200, answer.text
    return ports[port], next(reg for reg in regs if reg.port != port)


def _two_instances_one_writer(bootstrap, registry_factory):
    topic = unique_topic("elected")
    group = unique_topic("group")
    a = registry_factory(bootstrap=bootstrap, topic=topic, group_id=group)
    b = registry_factory(bootstrap=bootstrap, topic=topic, group_id=group)
    writer, follower = _writer_and_follower([a, b], bootstrap, group)

    first = writer.register("shared", record_schema("S", {"name": "a", "type": "int"}))
    assert first.status_code == 200
    # The follower reads what the writer wrote (it replays the same topic).
    wait_until(lambda: follower.call("GET", "/subjects/shared/versions").status_code == 200, 20,
               "the follower did not see the writer's schema")
    assert follower.call("GET", f"/schemas/ids/{first.json()['id']}").status_code == 200

    # The writer dies; the follower takes over after the group notices, and ids do not collide.
    writer.kill()
    def takes_writes():
        answer = follower.register("shared", record_schema("S", {"name": "a", "type": "int"},
                                                           {"name": "b", "type": "int", "default": 1}))
        return answer if answer.status_code == 200 else None
    answer = wait_until(takes_writes, 60, "the follower never became the writer")
    assert answer.json()["id"] > first.json()["id"] and answer.json()["version"] == 2
    assert "is now the writer" in follower.log_text()


def test_two_instances_on_our_broker(registry_broker, registry_factory):
    keys = advertised_api_keys(registry_broker.bootstrap) or set()
    if not {10, 11} <= keys:
        pytest.skip("this broker build has no group coordinator yet")
    _two_instances_one_writer(registry_broker.bootstrap, registry_factory)


@pytest.mark.slow
def test_two_instances_on_apache_kafka(tmp_path, registry_factory):
    from tests.interop.apache_kafka import ApacheKafka

    kafka = ApacheKafka(tmp_path / "kafka").start()
    try:
        started = time.monotonic()
        _two_instances_one_writer(kafka.bootstrap, registry_factory)
        assert time.monotonic() - started < 600
    finally:
        kafka.destroy()
