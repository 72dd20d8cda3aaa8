"""Client quotas set with Kafka's kafka-configs and enforced: a producer and a consumer over their
byte rates are slowed to them, on our broker and on Apache Kafka alike."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import Consumer, Producer

from tests.conftest import unique_topic
from tests.interop.kafka_tools import CONFIGS, TOPICS, run_tools
from tests.kafka_wire import RawClient, read_frame, request_frame

pytestmark = pytest.mark.slow

RECORD = 10_000
QUOTA = 400_000  # bytes per second
# Kafka measures a client's rate over 11 windows of 1 s, never over less than 10 of them: a
# client that always wants more gets a window's credit (10 x its quota) at once, is throttled
# until that burst has left the 11 windows, then gets the next. Its rate is measured over whole
# such periods: from its first burst to its third (two periods, ~11-12 s each).
BURST_BYTES = 3 * QUOTA  # a second with more than this is a burst
PERIODS = 2
GIVE_UP_S = 45


def _quota(bs: str, client_id: str, *change: str):
    (answer,) = run_tools([[CONFIGS, "--bootstrap-server", bs, "--entity-type", "clients",
                            "--entity-name", client_id, "--alter", *change]])
    assert answer.returncode == 0, answer.stdout + answer.stderr[-2000:]


def _burst_starts(events: list[tuple[float, int]]) -> list[float]:
    per_second: dict[int, int] = {}
    for at, size in events:
        per_second[int(at)] = per_second.get(int(at), 0) + size
    bursts = sorted(second for second, size in per_second.items() if size > BURST_BYTES)
    # A burst may straddle a second boundary: keep the first second of each.
    firsts = [second for i, second in enumerate(bursts) if i == 0 or second > bursts[i - 1] + 1]
    return [min(at for at, _ in events if int(at) == second) for second in firsts]


def _rate_over_periods(events: list[tuple[float, int]]) -> float:
    starts = _burst_starts(events)
    assert len(starts) > PERIODS, f"fewer than {PERIODS + 1} bursts in {GIVE_UP_S} s: {starts}"
    begin, end = starts[0], starts[PERIODS]
    return sum(size for at, size in events if begin <= at < end) / (end - begin)


def _enough(events) -> bool:
    return len(_burst_starts(events)) > PERIODS


def test_kafka_configs_sets_describes_and_removes_client_quotas(any_broker):
    bs = any_broker.bootstrap
    client, user = unique_topic("quota-client"), unique_topic("quota-user")
    clients = [CONFIGS, "--bootstrap-server", bs, "--entity-type", "clients", "--entity-name", client]
    both = [CONFIGS, "--bootstrap-server", bs, "--entity-type", "users", "--entity-name", user,
            "--entity-type", "clients", "--entity-name", client]
    results = run_tools([
        [*clients, "--alter", "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048"],
        [*both, "--alter", "--add-config", "request_percentage=50"],
        [*clients, "--describe"],
        [*both, "--describe"],
        [*clients, "--alter", "--add-config", "producer_byte_rate=1.5"],
        [*clients, "--alter", "--delete-config", "producer_byte_rate"],
        [*clients, "--describe"],
        [*both, "--alter", "--delete-config", "request_percentage"],
        [*both, "--describe"],
        [*clients, "--alter", "--delete-config", "consumer_byte_rate"],
    ])
    added, added_both, described, described_both, fractional, removed, after, _, gone, _ = results
    assert added.stdout.strip() == f"Completed updating config for client {client}."
    assert added_both.stdout.strip() == f"Completed updating config for user {user}."
    assert described.stdout.strip() == (f"Quota configs for client-id '{client}' are consumer_byte_rate=2048.0, "
                                        "producer_byte_rate=1024.0")
    assert described_both.stdout.strip() == (f"Quota configs for user-principal '{user}', client-id '{client}' are "
                                             "request_percentage=50.0")
    assert fractional.returncode == 1
    assert "InvalidRequestException: producer_byte_rate cannot be a fractional value." in fractional.stderr
    assert removed.returncode == 0
    assert after.stdout.strip() == f"Quota configs for client-id '{client}' are consumer_byte_rate=2048.0"
    assert gone.stdout.strip() == ""


def _produce_over_quota(bs: str) -> float:
    """A producer that always wants more than its producer_byte_rate: the rate it gets."""
    topic, client = unique_topic("quota-produce"), unique_topic("quota-producer")
    run_tools([[TOPICS, "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "1"]])
    _quota(bs, client, "--add-config", f"producer_byte_rate={QUOTA}")
    acked: list[tuple[float, int]] = []
    producer = Producer({"bootstrap.servers": bs, "client.id": client, "linger.ms": 5, "batch.size": 65536,
                         "queue.buffering.max.kbytes": 1024})
    started = time.monotonic()

    def delivered(err, msg):
        if err is None:
            acked.append((time.monotonic() - started, len(msg.value())))

    try:
        while not _enough(acked) and time.monotonic() < started + GIVE_UP_S:
            try:
                producer.produce(topic, b"p" * RECORD, on_delivery=delivered)
            except BufferError:
                producer.poll(0.05)
            producer.poll(0)
    finally:
        producer.purge()
        producer.flush(30)
        _quota(bs, client, "--delete-config", "producer_byte_rate")
    return _rate_over_periods(acked)


def _consume_over_quota(bs: str) -> float:
    """A consumer with more to read than its consumer_byte_rate allows: the rate it gets."""
    topic, client = unique_topic("quota-fetch"), unique_topic("quota-consumer")
    run_tools([[TOPICS, "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "1"]])
    total = int(QUOTA * GIVE_UP_S / RECORD)  # more than it may read in the time
    producer = Producer({"bootstrap.servers": bs, "linger.ms": 20})
    for _ in range(total):
        producer.produce(topic, b"c" * RECORD)
        producer.poll(0)
    assert producer.flush(60) == 0
    _quota(bs, client, "--add-config", f"consumer_byte_rate={QUOTA}")
    consumer = Consumer({"bootstrap.servers": bs, "client.id": client, "group.id": client,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    received: list[tuple[float, int]] = []
    started = time.monotonic()
    try:
        consumer.subscribe([topic])
        while not _enough(received) and time.monotonic() < started + GIVE_UP_S:
            for msg in consumer.consume(100, timeout=0.2):
                if msg.error() is None:
                    received.append((time.monotonic() - started, len(msg.value())))
    finally:
        consumer.close()
        _quota(bs, client, "--delete-config", "consumer_byte_rate")
    return _rate_over_periods(received)


def test_a_producer_and_a_consumer_over_their_byte_rates_are_slowed_to_them(any_broker):
    """Both at once (their quotas are their own client ids'): each is measured over two quota
    periods of ~12 s, which the two share instead of taking turns."""
    with ThreadPoolExecutor(2) as pool:
        producing = pool.submit(_produce_over_quota, any_broker.bootstrap)
        consuming = pool.submit(_consume_over_quota, any_broker.bootstrap)
        produced, consumed = producing.result(), consuming.result()
    print(f"producer: {produced:,.0f} B/s, consumer: {consumed:,.0f} B/s against a quota of {QUOTA:,} B/s")
    assert 0.8 * QUOTA <= produced <= 1.2 * QUOTA, produced
    # A fetch that would go over the quota is answered empty and not counted (Kafka's rule), so
    # a consumer gets its 10 windows' credit per period of ~12 s and nothing between: Apache
    # Kafka measures 0.82 of the quota here, ours the same; hence 25% below rather than 20%.
    assert 0.75 * QUOTA <= consumed <= 1.2 * QUOTA, consumed


def _ip_quota(client: RawClient, rate: float | None) -> None:
    op = {"key": "connection_creation_rate", "value": rate or 0.0, "remove": rate is None}
    answer = client.call(49, 1, {"entries": [{"entity": [{"entity_type": "ip", "entity_name": "127.0.0.1"}],
                                              "ops": [op]}], "validate_only": False})
    assert answer["entries"][0]["error_code"] == 0, answer


def _served_within(bs: str, connections: int, wait_s: float) -> int:
    """Open `connections` at once, each asking ApiVersions; how many were answered in `wait_s`."""
    host, port = bs.rsplit(":", 1)
    socks = [socket.create_connection((host, int(port)), timeout=wait_s) for _ in range(connections)]
    served = 0
    try:
        for sock in socks:
            sock.sendall(request_frame(18, 3, {"client_software_name": "quota-test", "client_software_version": "1"}))
        deadline = time.monotonic() + wait_s
        for sock in socks:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                read_frame(sock)
                served += 1
            except (OSError, ConnectionError):
                pass  # closed unserved, or not answered in time
    finally:
        for sock in socks:
            sock.close()
    return served


def test_connections_over_an_ips_creation_rate_are_not_served(any_broker):
    """KIP-612: with connection_creation_rate 2/s for 127.0.0.1, 60 connections at once get the
    credit of the 10 windows Kafka measures over (about 20) served; the rest are closed unserved."""
    admin = RawClient(any_broker.bootstrap)  # connected before the quota: not subject to it
    try:
        _ip_quota(admin, 2)
        # Apache Kafka applies a quota once it reaches the broker through its metadata log.
        time.sleep(1)
        served = _served_within(any_broker.bootstrap, 60, 3.0)
    finally:
        _ip_quota(admin, None)
        admin.close()
    print(f"{served} of 60 connections served under connection_creation_rate=2")
    assert 15 <= served <= 30, served
