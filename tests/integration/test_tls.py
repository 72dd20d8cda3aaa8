"""TLS listeners: real clients over real handshakes (confluent-kafka, kafka-python), mTLS, two
listeners side by side, and what a listener that cannot be served does at start-up."""

from __future__ import annotations

import re
import socket
import subprocess

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.conftest import round_trip as shared_round_trip
from tests.conftest import REPO, BrokerProcess, free_port, unique_topic, wait_until
from tests.kafka_wire import request_frame
from tests.tls import CertificateAuthority

SECRET = "not-a-real-password-5b1f"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


def tls_broker(tmp_path, ca, extra: dict[str, str] | None = None, listeners: str | None = None) -> BrokerProcess:
    port = free_port()
    server = ca.issue("broker", server=True)
    configs = {"listeners": listeners or f"SSL://127.0.0.1:{port}", "ssl.keystore.location": str(server.keystore),
               "ssl.truststore.location": str(ca.ca_file), **(extra or {})}
    return BrokerProcess(tmp_path / "data", configs, port=port)


def ssl_client(broker: BrokerProcess, ca, **extra) -> dict:
    return {"bootstrap.servers": broker.bootstrap, "security.protocol": "SSL", "ssl.ca.location": str(ca.ca_file),
            **extra}


def round_trip(conf: dict, n: int = 2000) -> list[bytes]:
    return shared_round_trip(conf, [b"record-%06d" % i + b"x" * 500 for i in range(n)], "over TLS")


def test_confluent_kafka_produces_and_fetches_over_tls(tmp_path, ca):
    broker = tls_broker(tmp_path, ca).start()
    try:
        values = round_trip(ssl_client(broker, ca))
        assert [v[:13] for v in values] == [b"record-%06d" % i for i in range(2000)]
    finally:
        broker.stop()


def test_kafka_python_over_tls(tmp_path, ca):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KPTopicPartition

    broker = tls_broker(tmp_path, ca).start()
    topic = unique_topic("tls-kp")
    try:
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, security_protocol="SSL",
                                 ssl_cafile=str(ca.ca_file))
        for i in range(100):
            producer.send(topic, value=b"v%d" % i, partition=0)
        producer.flush(30)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, security_protocol="SSL",
                                 ssl_cafile=str(ca.ca_file), consumer_timeout_ms=15_000, group_id=None)
        consumer.assign([KPTopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        got = [m.value for _, m in zip(range(100), consumer)]
        consumer.close()
        assert got == [b"v%d" % i for i in range(100)]
    finally:
        broker.stop()


def test_mutual_tls_requires_a_client_certificate(tmp_path, ca):
    broker = tls_broker(tmp_path, ca, {"ssl.client.auth": "required"}).start()
    client = ca.issue("app-1")
    try:
        without = AdminClient(ssl_client(broker, ca))
        with pytest.raises(KafkaException):
            without.list_topics(timeout=5)
        with_cert = ssl_client(broker, ca, **{"ssl.certificate.location": str(client.cert),
                                              "ssl.key.location": str(client.key)})
        assert len(round_trip(with_cert, 50)) == 50
        assert "TLS handshake failed" in broker.log_text()
    finally:
        broker.stop()


def test_plaintext_and_garbage_on_a_tls_port_close_one_connection(tmp_path, ca):
    broker = tls_broker(tmp_path, ca).start()
    try:
        host, port = broker.bootstrap.split(":")
        for payload in (request_frame(18, 3, {"client_software_name": "x", "client_software_version": "1"}),
                        b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64):
            with socket.create_connection((host, int(port)), timeout=15) as sock:
                sock.sendall(payload)
                received = b""
                while chunk := sock.recv(4096):  # times out if the broker kept the connection open
                    received += chunk
            # Closed with at most a TLS alert (record type 21), never a Kafka answer.
            assert received == b"" or received[0] == 21, received[:20]
        # The broker may log a failure just after closing the socket: wait for both lines.
        wait_until(lambda: len(re.findall(r"closing connection from 127\.0\.0\.1:\d+ on listener SSL: TLS handshake "
                                          r"failed", broker.log_text())) == 2, 10,
                   "two failed handshakes logged, one line each")
        assert len(round_trip(ssl_client(broker, ca), 20)) == 20  # the broker still serves TLS clients
    finally:
        broker.stop()


def test_each_listener_answers_with_its_own_endpoint(tmp_path, ca):
    plain_port, tls_port = free_port(), free_port()
    broker = tls_broker(tmp_path, ca, listeners=f"PLAINTEXT://127.0.0.1:{plain_port},SSL://127.0.0.1:{tls_port}")
    broker.port = plain_port
    broker.start()
    try:
        plain = AdminClient({"bootstrap.servers": f"127.0.0.1:{plain_port}"}).list_topics(timeout=10)
        secure = AdminClient({"bootstrap.servers": f"127.0.0.1:{tls_port}", "security.protocol": "SSL",
                              "ssl.ca.location": str(ca.ca_file)}).list_topics(timeout=10)
        assert [b.port for b in plain.brokers.values()] == [plain_port]
        assert [b.port for b in secure.brokers.values()] == [tls_port]
    finally:
        broker.stop()


def test_tls_secrets_are_never_shown(tmp_path, ca):
    broker = tls_broker(tmp_path, ca, {"ssl.key.password": SECRET}).start()
    try:
        admin = AdminClient(ssl_client(broker, ca))
        resource = ConfigResource(ConfigResource.Type.BROKER, "1")
        entries = admin.describe_configs([resource])[resource].result(timeout=15)
        assert entries["ssl.key.password"].value is None and entries["ssl.key.password"].is_sensitive
        assert entries["ssl.keystore.location"].value.endswith("broker.keystore.pem")
    finally:
        broker.stop()
    assert SECRET not in broker.log_text()


@pytest.mark.parametrize("configs,message", [
    ({"listeners": "SASL_PLAINTEXT://127.0.0.1:{port}"}, "names GSSAPI, which this broker does not serve"),
    ({"listeners": "INTERNAL://127.0.0.1:{port}"}, "No security protocol defined for listener INTERNAL"),
    ({"listeners": "SSL://127.0.0.1:{port}"}, "has no keystore"),
    ({"listeners": "SSL://127.0.0.1:{port}", "ssl.keystore.location": "/nonexistent/keystore.pem"},
     "cannot load the TLS key and certificate of listener SSL"),
    ({"listeners": "PLAINTEXT://127.0.0.1:{port}", "listener.security.protocol.map": "PLAINTEXT:TLS"},
     "Invalid security protocol TLS"),
])
def test_a_listener_that_cannot_be_served_stops_the_broker(tmp_path, configs, message):
    port = free_port()
    broker = BrokerProcess(tmp_path / "data", {k: v.format(port=port) for k, v in configs.items()}, port=port)
    result = subprocess.run(broker.command(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert message in result.stderr, result.stderr
    with socket.socket() as probe:  # nothing was left listening, in plaintext or otherwise
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_console_tools_and_schemabus_commands_take_kafka_client_properties(tmp_path, ca):
    """Kafka's tools' property files, Java names (a PEM truststore and keystore), work unchanged."""
    broker = tls_broker(tmp_path, ca, {"ssl.client.auth": "required"}).start()
    client = ca.issue("console")
    properties = tmp_path / "client.properties"
    properties.write_text(f"# as for kafka-console-producer.sh\nsecurity.protocol=SSL\nssl.truststore.type=PEM\n"
                          f"ssl.truststore.location={ca.ca_file}\nssl.keystore.type=PEM\n"
                          f"ssl.keystore.location={client.keystore}\n")
    topic = unique_topic("tls-console")
    try:
        produced = subprocess.run(["kafka-console-producer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                                   "--producer.config", str(properties)],
                                  input="one\ntwo\nthree\n", capture_output=True, text=True, timeout=60)
        assert produced.returncode == 0, produced.stderr
        consumed = subprocess.run(["kafka-console-consumer", "--bootstrap-server", broker.bootstrap, "--topic",
                                   topic, "--from-beginning", "--max-messages", "3", "--consumer.config",
                                   str(properties)], capture_output=True, text=True, timeout=60)
        assert consumed.returncode == 0, consumed.stderr
        assert consumed.stdout.split() == ["one", "two", "three"]
        listed = subprocess.run(["schemabus", "topics", "list", "--bootstrap-server", broker.bootstrap,
                                 "--command-config", str(properties), "--output", "json"],
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert topic in listed.stdout
        without = subprocess.run(["schemabus", "topics", "list", "--bootstrap-server", broker.bootstrap],
                                 capture_output=True, text=True, timeout=60)
        assert without.returncode == 3 and "cannot reach the Kafka broker" in without.stderr
    finally:
        broker.stop()
