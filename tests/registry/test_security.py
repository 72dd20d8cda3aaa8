"""Registry security: the `_schemas` store on a secured Kafka (our broker's mTLS listener), HTTPS
listeners, HTTP basic authentication and per-subject authorization, with real handshakes and real
clients (requests, confluent-kafka's SchemaRegistryClient, our registry_client)."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from cryptography.hazmat.primitives import serialization

from tests.conftest import BrokerProcess, free_port
from tests.registry.conftest import FAST_GROUPS, V1, RegistryProcess, record_schema
from tests.tls import CertificateAuthority

KEY_SECRET = "kafkastore-key-pass-7c41e"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("registry-ca"))


@pytest.fixture(scope="module")
def mtls_broker(tmp_path_factory, ca):
    """Our broker with one listener, SSL with client certificates required."""
    port = free_port()
    server = ca.issue("broker", server=True)
    broker = BrokerProcess(tmp_path_factory.mktemp("mtls-broker") / "data",
                           {**FAST_GROUPS, "listeners": f"SSL://127.0.0.1:{port}",
                            "ssl.keystore.location": str(server.keystore),
                            "ssl.truststore.location": str(ca.ca_file), "ssl.client.auth": "required"},
                           port=port).start()
    yield broker
    broker.stop()


def encrypted_keystore(ca: CertificateAuthority, name: str, password: str):
    """A client keystore (PEM: encrypted key + certificate), as Kafka's PEM keystores are."""
    issued = ca.issue(name)
    key = serialization.load_pem_private_key(issued.key.read_bytes(), None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(password.encode()))
    path = ca.directory / f"{name}.encrypted.keystore.pem"
    path.write_bytes(encrypted + issued.cert.read_bytes())
    path.chmod(0o600)
    return path


def kafkastore_config(ca, keystore) -> list[str]:
    settings = {"kafkastore.security.protocol": "SSL", "kafkastore.ssl.truststore.location": str(ca.ca_file),
                "kafkastore.ssl.truststore.type": "PEM", "kafkastore.ssl.keystore.type": "PEM",
                "kafkastore.ssl.keystore.location": str(keystore), "kafkastore.ssl.key.password": KEY_SECRET,
                "kafkastore.ssl.endpoint.identification.algorithm": "https"}
    return [arg for key, value in settings.items() for arg in ("--config", f"{key}={value}")]


def schemas_records(broker, ca, topic: str) -> list[tuple[bytes, bytes]]:
    """What `_schemas` holds, read over mTLS with a client certificate of our own."""
    client = ca.issue("reader")
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "security.protocol": "SSL",
                         "ssl.ca.location": str(ca.ca_file), "ssl.certificate.location": str(client.cert),
                         "ssl.key.location": str(client.key), "group.id": "reader", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out = []
    try:
        while True:
            message = consumer.poll(15)
            assert message is not None, "no end of the schemas topic within 15s"
            if message.error() is not None:
                break  # partition EOF
            out.append((message.key(), message.value()))
    finally:
        consumer.close()
    return out


def test_kafkastore_over_mutual_tls(tmp_path, ca, mtls_broker):
    keystore = encrypted_keystore(ca, "registry", KEY_SECRET)
    registry = RegistryProcess("", tmp_path, extra_args=[
        "--config", f"kafkastore.bootstrap.servers=SSL://{mtls_broker.bootstrap}", *kafkastore_config(ca, keystore)])
    registry.start()
    try:
        answer = registry.register("secure-value", record_schema("Secure"))
        assert answer.status_code == 200, answer.text
        schema_id = answer.json()["id"]
        assert "leader in group" in registry.ready_line  # the ApiVersions probe went over TLS too
        keys = [json.loads(key) for key, _ in schemas_records(mtls_broker, ca, registry.topic)]
        assert {"keytype": "SCHEMA", "subject": "secure-value", "version": 1, "magic": 1} in keys
        # A restart replays the topic over TLS again.
        registry.restart()
        assert registry.call("GET", f"/schemas/ids/{schema_id}").status_code == 200
    finally:
        registry.stop()
    assert KEY_SECRET not in registry.log_text()


def test_kafkastore_without_a_client_certificate_is_refused(tmp_path, ca, mtls_broker):
    registry = RegistryProcess(mtls_broker.bootstrap, tmp_path, extra_args=[
        "--config", "kafkastore.security.protocol=SSL", "--config", f"kafkastore.ssl.truststore.location={ca.ca_file}",
        "--config", "kafkastore.ssl.truststore.type=PEM"])
    with pytest.raises(RuntimeError, match="did not become ready"):
        registry.start(timeout=10)
    assert "SSL connection closed by peer" in registry.log_text()  # the broker wanted a certificate


@pytest.mark.parametrize("setting, message", [
    ("kafkastore.security.protocol=TLS", "kafkastore.security.protocol must be one of"),
    ("kafkastore.ssl.truststore.type=JKS", "kafkastore.ssl.truststore.location: a JKS store cannot be read"),
    ("kafkastore.ssl.truststore.location=/nonexistent/ca.pem", "cannot use the TLS files"),
])
def test_unusable_kafkastore_settings_stop_the_start(tmp_path, setting, message):
    args = [sys.executable, "-m", "cli.main", "registry", "--bootstrap-server", "127.0.0.1:1",
            "--config", "kafkastore.security.protocol=SSL", "--config", "kafkastore.ssl.truststore.location=/x.pem",
            "--config", "kafkastore.ssl.truststore.type=PEM",
            "--config", setting]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


# ----------------------------------------------------------------------------------------- HTTPS


class SecureRegistry(RegistryProcess):
    """`schemabus registry` with an https listener (and the plain one of RegistryProcess), started
    with Confluent's property names; `call` goes over https, trusting the test CA."""

    def __init__(self, bootstrap: str, log_dir, ca: CertificateAuthority, properties: dict[str, str], **kwargs):
        super().__init__(bootstrap, log_dir, **kwargs)
        self.https_port = free_port()
        self.ca = ca
        server = ca.issue("registry", server=True)
        self.properties = {"listeners": f"https://127.0.0.1:{self.https_port},http://127.0.0.1:{self.port}",
                           "ssl.keystore.location": str(server.keystore), "ssl.keystore.type": "PEM",
                           **properties}
        self.extra_args += [arg for key, value in self.properties.items() for arg in ("--config", f"{key}={value}")]
        self.auth = None
        self.cert = None

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def call(self, method: str, path: str, body=None, raw: bytes | None = None, headers=None, **params):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        return requests.request(method, self.https_url + path, data=data, params=params or None, timeout=30,
                                headers={"Content-Type": V1, "Accept": V1, **(headers or {})},
                                verify=str(self.ca.ca_file), auth=self.auth, cert=self.cert)


@pytest.fixture
def secure_factory(tmp_path, registry_broker, ca):
    started: list[SecureRegistry] = []

    def make(**properties) -> SecureRegistry:
        registry = SecureRegistry(registry_broker.bootstrap, tmp_path, ca, properties)
        started.append(registry)
        return registry.start()

    yield make
    for registry in started:
        registry.stop()


def test_https_and_http_listeners_side_by_side(secure_factory):
    registry = secure_factory()
    assert registry.ready_line.split("ready: ")[1].startswith(registry.https_url)
    answer = registry.register("tls-value", record_schema("Tls"))
    assert answer.status_code == 200, answer.text
    # The same registry over its plain listener.
    plain = requests.get(f"http://127.0.0.1:{registry.port}/subjects", timeout=10)
    assert plain.json() == ["tls-value"]
    # Only a client that trusts the CA gets through the handshake.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(registry.https_url + "/subjects", timeout=10)


def test_client_certificates_required(secure_factory, ca):
    registry = secure_factory(**{"ssl.truststore.location": str(ca.ca_file), "ssl.truststore.type": "PEM",
                                 "ssl.client.authentication": "REQUIRED"})
    with pytest.raises(requests.exceptions.RequestException):
        registry.call("GET", "/subjects")
    client = ca.issue("registry-client")
    registry.cert = (str(client.cert), str(client.key))
    assert registry.call("GET", "/subjects").status_code == 200


def test_older_ssl_client_auth_boolean(secure_factory, ca):
    registry = secure_factory(**{"ssl.truststore.location": str(ca.ca_file), "ssl.client.auth": "true"})
    with pytest.raises(requests.exceptions.RequestException):
        registry.call("GET", "/subjects")


def _raw_tls_port(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        try:
            return sock.recv(4096)
        except OSError:
            return b""


def test_garbage_and_silence_on_the_https_port_leave_the_server_serving(secure_factory):
    registry = secure_factory()
    # Connections that never say anything: the handshake waits for their bytes on no thread.
    silent = [socket.create_connection(("127.0.0.1", registry.https_port), timeout=10) for _ in range(20)]
    try:
        _raw_tls_port(registry.https_port, b"\x16\x03\x01\x00\x05garbage-not-a-client-hello" * 10)
        _raw_tls_port(registry.https_port, b"GET /subjects HTTP/1.1\r\nHost: x\r\n\r\n")
        _raw_tls_port(registry.https_port, b"")
        assert registry.call("GET", "/subjects").status_code == 200
    finally:
        for sock in silent:
            sock.close()
    assert registry.alive()
    assert "Traceback" not in registry.log_text()


def test_chunked_body_over_the_limit_is_a_json_413_over_https(secure_factory):
    registry = secure_factory()
    chunks = (b"x" * 65536 for _ in range(80))  # 5 MiB, no Content-Length
    answer = requests.post(registry.https_url + "/subjects/big/versions", data=chunks, timeout=30,
                           headers={"Content-Type": V1}, verify=str(registry.ca.ca_file))
    assert answer.status_code == 413, answer.text
    assert answer.json()["error_code"] == 413


@pytest.mark.parametrize("properties, message", [
    ({"ssl.keystore.type": "JKS"}, "keytool -importkeystore"),
    ({"ssl.keystore.type": "PKCS12"}, "openssl pkcs12"),
    ({"ssl.keystore.location": "/nonexistent.pem"}, "ssl.keystore.location: cannot load"),
    ({"ssl.client.authentication": "REQUIRED"}, "needs ssl.truststore.location"),
    ({"ssl.client.authentication": "SOMETIMES"}, "NONE, REQUESTED or REQUIRED"),
])
def test_unusable_https_settings_stop_the_start(tmp_path, ca, properties, message):
    server = ca.issue("registry", server=True)
    settings = {"listeners": f"https://127.0.0.1:{free_port()}", "ssl.keystore.location": str(server.keystore),
                **properties}
    args = [sys.executable, "-m", "cli.main", "registry", "--bootstrap-server", "127.0.0.1:1"]
    args += [arg for key, value in settings.items() for arg in ("--config", f"{key}={value}")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
