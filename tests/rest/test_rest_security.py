"""The REST Proxy's security with real processes and real clients: HTTPS (kafka-rest's ssl.* names),
basic authentication against the registry's users file, and rest.authorization (each caller's
Authorization header becomes its own Kafka login) against a broker with SASL/SCRAM and ACLs."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (
    AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic, ResourcePatternType, ResourceType,
)

from http_security.users import user_entry
from tests.conftest import BrokerProcess, free_port, unique_topic, wait_until
from tests.integration.test_sasl import add_scram_user
from tests.rest.conftest import RestProcess
from tests.tls import CertificateAuthority, sasl_ssl_listener_configs

V2_BINARY = "application/vnd.kafka.binary.v2+json"
V2_JSON = "application/vnd.kafka.v2+json"
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ADMIN_PASSWORD = "admin-pw-51c0"
PASSWORDS = {"alice": "alice-pw-7e21d", "bob": "bob-pw-0c93f", "mallory": "mallory-pw-4d6b"}
UNAUTHORIZED = {"error_code": 401, "message": "Unauthorized"}


class SecureRest(RestProcess):
    """`schemabus rest` with its properties; https when `listeners` says so."""

    @property
    def url(self) -> str:
        scheme = self.configs.get("listeners", "http://").partition("://")[0]
        return f"{scheme}://127.0.0.1:{self.port}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("rest-ca"))


@pytest.fixture(scope="module")
def plain_broker(tmp_path_factory):
    broker = BrokerProcess(tmp_path_factory.mktemp("rest-sec") / "data", {"num.partitions": "1"}).start()
    yield broker
    broker.stop()


@pytest.fixture
def rest_factory(tmp_path):
    started: list[SecureRest] = []

    def make(bootstrap: str, configs: dict[str, str]) -> SecureRest:
        rest = SecureRest(tmp_path, bootstrap, configs)
        started.append(rest)
        return rest.start()

    yield make
    for rest in started:
        rest.stop()


def https_configs(ca: CertificateAuthority, **extra: str) -> dict[str, str]:
    server = ca.issue("rest-proxy", server=True)
    return {"listeners": "https://127.0.0.1:0", "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(server.keystore), **extra}


# -- HTTPS and basic authentication --------------------------------------------------------------


def test_https_and_basic_authentication(tmp_path, ca, plain_broker, rest_factory):
    users = tmp_path / "rest-users"
    users.write_text("\n".join([user_entry("alice", PASSWORDS["alice"], ["developer"]),
                                user_entry("mallory", PASSWORDS["mallory"], ["guest"])]) + "\n")
    rest = rest_factory(plain_broker.bootstrap, https_configs(
        ca, **{"authentication.method": "BASIC", "authentication.realm": "RestRealm",
               "authentication.roles": "developer,admin", "schemabus.authentication.users.file": str(users)}))
    assert rest.ready_line.split("ready: ")[1].startswith(rest.url) and rest.url.startswith("https://")
    verify = str(ca.ca_file)

    # No credentials, a wrong password, an unknown user: 401 with the challenge and kafka-rest's body.
    for auth in (None, ("alice", "wrong-password-1"), ("nobody", "x")):
        answer = requests.get(rest.url + "/topics", auth=auth, verify=verify, timeout=10)
        assert answer.status_code == 401, answer.text
        assert answer.json() == UNAUTHORIZED
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="RestRealm"'
    garbled = requests.get(rest.url + "/", headers={"Authorization": "Basic !!!"}, verify=verify, timeout=10)
    assert garbled.status_code == 401
    # A user without one of authentication.roles: 403.
    answer = requests.get(rest.url + "/", auth=("mallory", PASSWORDS["mallory"]), verify=verify, timeout=10)
    assert answer.status_code == 403 and answer.json()["error_code"] == 403

    # The right credentials: the API as without security (v2 produce and listing, v3).
    alice = ("alice", PASSWORDS["alice"])
    assert requests.get(rest.url + "/", auth=alice, verify=verify, timeout=10).json() == {}
    topic = unique_topic("https")
    admin = AdminClient({"bootstrap.servers": plain_broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    produced = requests.post(f"{rest.url}/topics/{topic}", auth=alice, verify=verify, timeout=30,
                             headers={"Content-Type": V2_BINARY}, json={"records": [{"value": b64(b"over https")}]})
    assert produced.status_code == 200 and produced.json()["offsets"][0]["offset"] == 0, produced.text
    assert topic in requests.get(rest.url + "/topics", auth=alice, verify=verify, timeout=10).json()
    clusters = requests.get(rest.url + "/v3/clusters", auth=alice, verify=verify, timeout=10)
    assert clusters.status_code == 200 and clusters.json()["data"][0]["cluster_id"]

    # /metrics is behind the same authentication; refused requests are counted, no credential shows.
    assert requests.get(rest.url + "/metrics", verify=verify, timeout=10).status_code == 401
    metrics = requests.get(rest.url + "/metrics", auth=alice, verify=verify, timeout=10)
    assert metrics.status_code == 200 and 'status="401"' in metrics.text and 'status="403"' in metrics.text
    assert not any(secret in metrics.text for secret in ("alice", "mallory", *PASSWORDS.values()))

    # TLS is required and checked: plain http to the https port, and a client that does not trust the CA.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(rest.url.replace("https://", "http://") + "/", auth=alice, timeout=10)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(rest.url + "/", auth=alice, timeout=10)
    assert requests.get(rest.url + "/", auth=alice, verify=verify, timeout=10).status_code == 200  # still serving

    log = rest.log_text()
    assert "authentication failed for user 'alice'" in log
    assert all(password not in log for password in PASSWORDS.values()) and "wrong-password-1" not in log


def test_https_client_certificates_required(ca, plain_broker, rest_factory):
    rest = rest_factory(plain_broker.bootstrap, https_configs(
        ca, **{"ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca.ca_file),
               "ssl.client.authentication": "REQUIRED"}))
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        requests.get(rest.url + "/", verify=str(ca.ca_file), timeout=10)
    client = ca.issue("rest-client")
    answer = requests.get(rest.url + "/", verify=str(ca.ca_file), cert=(str(client.cert), str(client.key)), timeout=10)
    assert answer.status_code == 200 and answer.json() == {}


@pytest.mark.parametrize("configs, message", [
    ({"listeners": "https://127.0.0.1:0"}, "ssl.keystore.location"),
    ({"listeners": "https://127.0.0.1:0", "ssl.keystore.location": "/nonexistent.pem"}, "cannot load"),
    ({"listeners": "https://127.0.0.1:0", "ssl.keystore.location": "x.jks", "ssl.keystore.type": "JKS"}, "PEM"),
    ({"authentication.method": "BASIC"}, "schemabus.authentication.users.file"),
    ({"authentication.method": "BEARER"}, "authentication.method"),
    ({"rest.authorization": "yes"}, "rest.authorization"),
])
def test_unusable_security_settings_stop_the_start(tmp_path, plain_broker, configs, message):
    rest = SecureRest(tmp_path, plain_broker.bootstrap, configs)
    with pytest.raises(RuntimeError) as exc:
        rest.start(timeout=30)
    assert message in str(exc.value)


# -- rest.authorization against SASL/SCRAM and ACLs -------------------------------------------------


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory, ca):
    """SASL_SSL with PLAIN (admin) and SCRAM-SHA-512 (alice, bob) and unsecured OAUTHBEARER tokens,
    the StandardAuthorizer, User:admin a super user; topic A writable by alice, topic B not."""
    port = free_port()
    configs = sasl_ssl_listener_configs(ca, {"admin": ADMIN_PASSWORD})
    configs["sasl.enabled.mechanisms"] += ",OAUTHBEARER"
    broker = BrokerProcess(tmp_path_factory.mktemp("rest-acls") / "data", {
        **configs, "listeners": f"SASL_SSL://127.0.0.1:{port}", "authorizer.class.name": STANDARD_AUTHORIZER,
        "super.users": "User:admin", "num.partitions": "1", "group.initial.rebalance.delay.ms": "0"}, port=port).start()
    admin = AdminClient(admin_conf(broker, ca))
    for user in ("alice", "bob"):
        add_scram_user(admin, user, PASSWORDS[user])
    topics = {"a": unique_topic("A"), "b": unique_topic("B")}
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics.values()]).values():
        future.result(30)
    bindings = [AclBinding(ResourceType.TOPIC, topics["a"], ResourcePatternType.LITERAL, "User:alice", "*", op,
                           AclPermissionType.ALLOW) for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]
    for future in admin.create_acls(bindings).values():
        future.result(30)
    yield broker, topics
    broker.stop()


def admin_conf(broker: BrokerProcess, ca: CertificateAuthority) -> dict:
    return {"bootstrap.servers": broker.bootstrap, "security.protocol": "SASL_SSL", "ssl.ca.location": str(ca.ca_file),
            "sasl.mechanism": "PLAIN", "sasl.username": "admin", "sasl.password": ADMIN_PASSWORD}


def unsecured_token(sub: str, lifetime_s: int = 300) -> str:
    """An unsecured JWT (alg none), which the broker accepts without a validator configured."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    now = int(time.time())
    return f"{part({'alg': 'none'})}.{part({'sub': sub, 'iat': now, 'exp': now + lifetime_s})}."


def test_rest_authorization_passes_each_callers_credentials_to_kafka(ca, acl_broker, rest_factory):
    broker, topics = acl_broker
    a, b = topics["a"], topics["b"]
    rest = rest_factory(broker.bootstrap, {
        "rest.authorization": "true", "client.security.protocol": "SASL_SSL", "client.sasl.mechanism": "SCRAM-SHA-512",
        "client.ssl.truststore.type": "PEM", "client.ssl.truststore.location": str(ca.ca_file),
        "consumer.instance.timeout.ms": "3000", "rest.authorization.idle.timeout.ms": "3000"})
    alice, bob = ("alice", PASSWORDS["alice"]), ("bob", PASSWORDS["bob"])

    def v2(topic, auth, value: bytes):
        return requests.post(f"{rest.url}/topics/{topic}", auth=auth, headers={"Content-Type": V2_BINARY},
                             json={"records": [{"value": b64(value)}]}, timeout=60)

    def v3(topic, auth, value: str, headers=None):
        return requests.post(f"{rest.url}/v3/clusters/{cluster_id}/topics/{topic}/records", auth=auth,
                             headers=headers, json={"value": {"type": "STRING", "data": value}}, timeout=60)

    # No Authorization header, or one of another scheme: 401 before any Kafka client is made.
    for headers in ({}, {"Authorization": "Digest abc"}):
        answer = requests.get(rest.url + "/topics", headers=headers, timeout=10)
        assert answer.status_code == 401 and answer.json() == UNAUTHORIZED
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="KafkaRest"'

    # alice may write to A (v2 and v3), not to B: Kafka's authorization error, kafka-rest's 403/40301.
    answer = v2(a, alice, b"v2 by alice")
    assert answer.status_code == 200, answer.text
    assert answer.json()["offsets"][0]["error_code"] is None
    admin = AdminClient(admin_conf(broker, ca))
    cluster_id = admin.describe_cluster().result(30).cluster_id
    answer = v3(a, alice, "v3 by alice")
    assert answer.status_code == 200 and answer.json()["error_code"] == 200, answer.text
    for answer in (v2(b, alice, b"x"), v3(b, alice, "x")):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error_code"] == 40301 and b in answer.json()["message"]
    assert requests.get(rest.url + "/topics", auth=alice, timeout=30).json() == [a]  # what Kafka lets alice see

    # bob authenticates, but the broker's ACLs grant him nothing.
    for answer in (v2(a, bob, b"x"), v3(a, bob, "x")):
        assert answer.status_code == 403 and answer.json()["error_code"] == 40301, answer.text
    assert requests.get(rest.url + "/topics", auth=bob, timeout=30).json() == []

    # A credential the broker refuses: 401/40101 (kafka-rest's code for an AuthenticationException).
    for auth in (("alice", "not-alices-password"), ("nobody", "whatever-pw-1")):
        answer = requests.get(rest.url + "/topics", auth=auth, timeout=30)
        assert answer.status_code == 401 and answer.json()["error_code"] == 40101, answer.text
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="KafkaRest"'
    assert v2(a, alice, b"still fine").status_code == 200  # alice's own clients were not disturbed

    # A bearer token becomes an OAUTHBEARER login (the broker accepts unsecured tokens here).
    answer = v3(a, None, "v3 by alice's token", headers={"Authorization": f"Bearer {unsecured_token('alice')}"})
    assert answer.status_code == 200 and answer.json()["error_code"] == 200, answer.text
    answer = v3(b, None, "x", headers={"Authorization": f"Bearer {unsecured_token('alice')}"})
    assert answer.status_code == 403 and answer.json()["error_code"] == 40301

    # Consumer instances belong to their caller's clients: bob does not see alice's.
    created = requests.post(f"{rest.url}/consumers/g-alice", auth=alice, headers={"Content-Type": V2_JSON},
                            json={"name": "c1", "format": "binary"}, timeout=30)
    assert created.status_code == 200, created.text
    assert requests.get(f"{rest.url}/consumers/g-alice/instances/c1/subscription", auth=alice,
                        timeout=30).status_code == 200
    answer = requests.get(f"{rest.url}/consumers/g-alice/instances/c1/subscription", auth=bob, timeout=30)
    assert answer.status_code == 404 and answer.json()["error_code"] == 40403

    # What alice wrote is in A, as she wrote it.
    consumer = Consumer({**admin_conf(broker, ca), "group.id": unique_topic("check"), "enable.auto.commit": False})
    consumer.assign([TopicPartition(a, 0, 0)])
    values = []
    deadline = time.monotonic() + 30
    while len(values) < 4 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
    consumer.close()
    assert values == [b"v2 by alice", b"v3 by alice", b"still fine", b"v3 by alice's token"]

    # Idle callers' clients are closed; the next request makes them again.
    wait_until(lambda: "Kafka clients for bob closed" in rest.log_text(), 30, "bob's idle clients were not closed")
    assert v2(a, alice, b"after idle").status_code == 200

    log = rest.log_text()
    assert "Kafka clients for alice (rest.authorization) created" in log
    assert "Kafka refused the credentials of nobody" in log
    for secret in (*PASSWORDS.values(), "not-alices-password", "whatever-pw-1", ADMIN_PASSWORD):
        assert secret not in log


def test_rest_authorization_with_basic_authentication_too(tmp_path, ca, acl_broker, rest_factory):
    """Both on: the users file admits the caller, then the same credentials log in to Kafka."""
    broker, topics = acl_broker
    users = tmp_path / "users"
    users.write_text(user_entry("alice", PASSWORDS["alice"]) + "\n")
    rest = rest_factory(broker.bootstrap, https_configs(ca, **{
        "authentication.method": "BASIC", "schemabus.authentication.users.file": str(users),
        "rest.authorization": "true", "client.security.protocol": "SSL", "client.sasl.mechanism": "SCRAM-SHA-512",
        "client.ssl.truststore.type": "PEM", "client.ssl.truststore.location": str(ca.ca_file)}))
    verify = str(ca.ca_file)
    answer = requests.post(f"{rest.url}/topics/{topics['a']}", auth=("alice", PASSWORDS["alice"]), verify=verify,
                           headers={"Content-Type": V2_BINARY}, json={"records": [{"value": b64(b"both")}]},
                           timeout=60)
    assert answer.status_code == 200 and answer.json()["offsets"][0]["error_code"] is None, answer.text
    # bob is a Kafka user but not in the proxy's users file: refused before Kafka is asked.
    answer = requests.get(f"{rest.url}/topics", auth=("bob", PASSWORDS["bob"]), verify=verify, timeout=10)
    assert answer.status_code == 401 and answer.json() == UNAUTHORIZED
    assert "Kafka clients for bob" not in rest.log_text()
