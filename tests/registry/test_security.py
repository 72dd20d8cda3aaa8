"""Registry security: the `_schemas` store on a secured Kafka (our broker's mTLS listener), HTTPS
listeners, HTTP basic authentication and per-subject authorization, with real handshakes and real
clients (requests, confluent-kafka's SchemaRegistryClient, our registry_client)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families

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


# ------------------------------------------------------------------ basic authentication, authorization

PASSWORDS = {"alice": "alice-pw-0a9f1", "dev": "dev-pw-71c2e", "bob": "bob-pw-5d3a8", "eve": "eve-pw-e6b40",
             "legacy": "legacy-pw-2b7c9"}
ACLS = """
# principal      operation        subject
Role:developer   SUBJECT_READ     *
Role:developer   SUBJECT_WRITE    orders-*
Role:developer   GLOBAL_READ
User:bob         SUBJECT_READ     *
"""


@pytest.fixture
def auth_registry(tmp_path, secure_factory):
    import hashlib

    from registry.auth import user_entry
    users = tmp_path / "users.properties"
    users.write_text("\n".join([
        user_entry("alice", PASSWORDS["alice"], ["admin"]),
        user_entry("dev", PASSWORDS["dev"], ["developer"]),
        user_entry("bob", PASSWORDS["bob"], ["reader"]),
        user_entry("eve", PASSWORDS["eve"], ["guest"]),
        # Jetty's MD5 form, as an existing Confluent users file may hold
        f"legacy: MD5:{hashlib.md5(PASSWORDS['legacy'].encode()).hexdigest()},reader",
    ]) + "\n")
    acls = tmp_path / "acls.txt"
    acls.write_text(ACLS)
    registry = secure_factory(**{"authentication.method": "BASIC", "authentication.realm": "SchemaRegistry-Props",
                                 "authentication.roles": "admin,developer,reader",
                                 "schemabus.authentication.users.file": str(users),
                                 "schemabus.authorization.acl.file": str(acls)})
    registry.users_file = users
    return registry


def as_user(registry, name: str):
    registry.auth = (name, PASSWORDS[name])
    return registry


def schemas_end_offset(registry) -> int:
    consumer = Consumer({"bootstrap.servers": registry.bootstrap, "group.id": "offsets"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(registry.topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def test_no_credentials_is_401_with_a_challenge(auth_registry):
    answer = auth_registry.call("GET", "/subjects")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="SchemaRegistry-Props"'
    assert answer.json()["error_code"] == 401
    # The plain listener is guarded the same way.
    assert requests.get(f"http://127.0.0.1:{auth_registry.port}/schemas/ids/1", timeout=10).status_code == 401


@pytest.mark.parametrize("header", ["Basic", "Basic !!!notbase64", "Bearer abc", "Basic " + "YWxpY2U=",
                                    "Basic " + "/w==", "Digest username=alice", "Basic YWxpY2U6" + "A" * 5000,
                                    "basic"])
def test_malformed_authorization_headers_are_401(auth_registry, header):
    answer = auth_registry.call("GET", "/subjects", headers={"Authorization": header})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error_code"] == 401


def test_wrong_password_or_unknown_user_is_401_and_writes_nothing(auth_registry):
    before = schemas_end_offset(auth_registry)
    for auth in [("alice", "wrong"), ("nobody", "x"), ("alice", PASSWORDS["alice"] + " ")]:
        auth_registry.auth = auth
        answer = auth_registry.register("orders-value", record_schema("Order"))
        assert answer.status_code == 401, answer.text
    assert schemas_end_offset(auth_registry) == before


def test_metrics_need_the_same_credentials_and_hold_no_secrets(auth_registry):
    """/metrics is one more path behind authentication.method=BASIC: any user with a role in
    authentication.roles reads it (no ACL needed); it names no subject, user or password."""
    registry = as_user(auth_registry, "alice")
    assert registry.register("metrics-secret-subject-value", record_schema("Secret")).status_code == 200
    registry.auth = None
    assert registry.call("GET", "/metrics").status_code == 401
    assert as_user(auth_registry, "eve").call("GET", "/metrics").status_code == 403
    answer = as_user(auth_registry, "bob").call("GET", "/metrics")
    assert answer.status_code == 200 and "schema_registry_schemas" in answer.text
    refused = [sample for family in text_string_to_metric_families(answer.text) for sample in family.samples
               if sample.name == "schema_registry_requests_total" and sample.labels["status"] == "401"]
    assert refused and all(sample.labels["endpoint"] == "/metrics" for sample in refused)
    for secret in ("metrics-secret-subject-value", "alice", "bob", *PASSWORDS.values()):
        assert secret not in answer.text


def test_a_user_without_an_authentication_role_is_403(auth_registry):
    answer = as_user(auth_registry, "eve").call("GET", "/subjects")
    assert answer.status_code == 403
    assert answer.json()["error_code"] == 403


def test_per_subject_authorization(auth_registry):
    dev = as_user(auth_registry, "dev")
    created = dev.register("orders-value", record_schema("Order"))
    assert created.status_code == 200, created.text
    schema_id = created.json()["id"]
    before = schemas_end_offset(auth_registry)
    denied = dev.register("payments-value", record_schema("Payment"))
    assert denied.status_code == 403
    assert denied.json() == {"error_code": 40301, "message": "User is denied operation Write on Subject: payments-value"}
    assert dev.call("PUT", "/config", {"compatibility": "NONE"}).json()["error_code"] == 40301
    assert dev.call("DELETE", "/subjects/orders-value").status_code == 403
    assert dev.call("GET", "/subjects").json() == ["orders-value"]
    bob = as_user(auth_registry, "bob")
    assert bob.call("GET", f"/schemas/ids/{schema_id}").status_code == 200  # SUBJECT_READ on orders-value
    assert bob.call("GET", "/subjects/orders-value/versions/1").status_code == 200
    assert bob.call("GET", "/subjects").status_code == 403  # GLOBAL_READ not granted
    assert bob.register("orders-value", record_schema("Order", {"name": "x", "type": "int"})).status_code == 403
    assert bob.call("PUT", "/config/orders-value", {"compatibility": "NONE"}).status_code == 403
    assert as_user(auth_registry, "legacy").call("GET", "/subjects").status_code == 403  # reader, no ACL: denied
    assert schemas_end_offset(auth_registry) == before  # nothing refused was written
    admin = as_user(auth_registry, "alice")
    assert admin.call("PUT", "/config/orders-value", {"compatibility": "NONE"}).status_code == 200
    assert admin.call("DELETE", "/subjects/orders-value").json() == [1]
    log = auth_registry.log_text()
    for password in PASSWORDS.values():
        assert password not in log


def test_legacy_md5_credential_authenticates(auth_registry):
    legacy = as_user(auth_registry, "legacy")
    assert legacy.call("GET", "/").status_code == 200


def test_users_file_changes_apply_without_a_restart(auth_registry):
    from tests.conftest import wait_until
    added = subprocess.run([sys.executable, "-m", "cli.main", "registry-users", "add", "carol", "--role", "admin",
                            "--password-stdin", "--file", str(auth_registry.users_file)],
                           input="carol-pw-93d1\n", capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    auth_registry.auth = ("carol", "carol-pw-93d1")
    wait_until(lambda: auth_registry.call("GET", "/subjects").status_code == 200, 15, "carol was never let in")
    assert "carol-pw-93d1" not in auth_registry.users_file.read_text()


def test_confluent_kafka_client_over_https_with_basic_auth(auth_registry):
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    client = SchemaRegistryClient({"url": auth_registry.https_url, "ssl.ca.location": str(auth_registry.ca.ca_file),
                                   "basic.auth.user.info": f"dev:{PASSWORDS['dev']}"})
    schema_id = client.register_schema("orders-key", Schema('"string"', "AVRO"))
    assert client.get_schema(schema_id).schema_str == '"string"'
    denied = SchemaRegistryClient({"url": auth_registry.https_url, "ssl.ca.location": str(auth_registry.ca.ca_file),
                                   "basic.auth.user.info": "dev:wrong"})
    with pytest.raises(Exception, match="401"):
        denied.get_subjects()


# ------------------------------------------------------------------ kafkastore over SASL_SSL

STORE_SCRAM_PASSWORD = "store-scram-pw-51aa0"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_kafkastore_over_sasl_ssl(tmp_path, ca, mechanism):
    from tests.integration.test_sasl import ALICE_PASSWORD, add_scram_user, admin_client, sasl_broker
    broker = sasl_broker(tmp_path, "SASL_SSL", ca, extra=FAST_GROUPS).start()
    try:
        if mechanism == "PLAIN":
            module, user, password = "plain.PlainLoginModule", "alice", ALICE_PASSWORD
        else:
            add_scram_user(admin_client(broker, protocol="SASL_SSL", **{"ssl.ca.location": str(ca.ca_file)}),
                           "registry", STORE_SCRAM_PASSWORD)
            module, user, password = "scram.ScramLoginModule", "registry", STORE_SCRAM_PASSWORD
        jaas = f'org.apache.kafka.common.security.{module} required username="{user}" password="{password}";'
        registry = RegistryProcess("", tmp_path, extra_args=[
            "--config", f"kafkastore.bootstrap.servers=SASL_SSL://{broker.bootstrap}",
            "--config", f"kafkastore.sasl.mechanism={mechanism}", "--config", f"kafkastore.sasl.jaas.config={jaas}",
            "--config", f"kafkastore.ssl.truststore.location={ca.ca_file}",
            "--config", "kafkastore.ssl.truststore.type=PEM"]).start()
        try:
            assert registry.register("sasl-value", record_schema("Sasl")).status_code == 200
            assert "leader in group" in registry.ready_line
        finally:
            registry.stop()
        assert password not in registry.log_text()
        assert "kafkastore.sasl.jaas.config=[hidden]" in registry.log_text()
    finally:
        broker.stop()


# ------------------------------------------------------------------ forwarding between instances


def test_followers_forward_over_https_with_the_callers_credentials(tmp_path, registry_broker, ca):
    """inter.instance.protocol=https: instances name their https listener, a follower checks the
    leader's certificate against ssl.truststore.location, and the caller's Authorization goes along
    (the leader requires it too: without it the answer would be its 401)."""
    from registry.auth import user_entry
    from tests.conftest import unique_topic, wait_until
    from tests.registry.conftest import leader_port

    users = tmp_path / "users.properties"
    users.write_text(user_entry("alice", PASSWORDS["alice"], ["admin"]) + "\n")
    properties = {"inter.instance.protocol": "https", "ssl.truststore.location": str(ca.ca_file),
                  "ssl.truststore.type": "PEM", "authentication.method": "BASIC",
                  "authentication.realm": "SchemaRegistry-Props", "authentication.roles": "admin",
                  "schemabus.authentication.users.file": str(users), "kafkagroup.session.timeout.ms": "6000"}
    topic, group = unique_topic("secure-fwd"), unique_topic("secure-fwd-group")
    regs = []
    try:
        for _ in range(2):
            regs.append(SecureRegistry(registry_broker.bootstrap, tmp_path, ca, properties, topic=topic,
                                       group_id=group).start())
        by_https_port = {reg.https_port: reg for reg in regs}
        port = wait_until(lambda: leader_port(registry_broker.bootstrap, group) in by_https_port
                          and leader_port(registry_broker.bootstrap, group), 30, "no leader named its https port")
        follower = next(reg for reg in regs if reg.https_port != port)
        follower.auth = ("alice", PASSWORDS["alice"])
        answer = follower.register("secure-forwarded", record_schema("SecureForwarded"))
        assert answer.status_code == 200, answer.text
        assert follower.call("GET", f"/schemas/ids/{answer.json()['id']}").status_code == 200
        # The follower authenticates the caller itself: a wrong password never reaches the leader.
        follower.auth = ("alice", "wrong")
        assert follower.register("secure-forwarded", record_schema("Other")).status_code == 401
    finally:
        for reg in regs:
            reg.stop()
