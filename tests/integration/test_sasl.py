"""SASL listeners with real clients and real exchanges: PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER
(unsecured and JWKS-checked) from confluent-kafka and kafka-python, over SASL_PLAINTEXT and
SASL_SSL; SCRAM users through the Admin API; re-authentication; and every way a client can get
authentication wrong, each closing one connection and leaving the broker serving."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import struct
import subprocess
import time

import jwt
import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import (
    AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion, UserScramCredentialUpsertion,
)
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import round_trip as shared_round_trip
from tests.conftest import JS_DIR, REPO, BrokerProcess, free_port, unique_topic
from tests.kafka_wire import RawClient, read_frame, request_frame
from tests.tls import CertificateAuthority

ADMIN_PASSWORD = "admin-pw-6c1e9"
ALICE_PASSWORD = "alice-pw-0a77f"
SCRAM_PASSWORD = "scram-pw-93d2b"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              f'user_admin="{ADMIN_PASSWORD}" user_alice="{ALICE_PASSWORD}";')
MECHANISMS = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"

SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE = 58, 33, 34
RESOURCE_NOT_FOUND, DUPLICATE_RESOURCE, UNACCEPTABLE_CREDENTIAL = 91, 92, 93


def sasl_broker(tmp_path, protocol: str = "SASL_PLAINTEXT", ca: CertificateAuthority | None = None,
                extra: dict | None = None, internal_port: int | None = None) -> BrokerProcess:
    """A broker whose first listener is `protocol`; with `internal_port`, also a PLAINTEXT
    listener INTERNAL there (raw admin requests without authenticating)."""
    port = free_port()
    listeners = f"{protocol}://127.0.0.1:{port}"
    configs = {"sasl.enabled.mechanisms": MECHANISMS,
               f"listener.name.{protocol.lower()}.plain.sasl.jaas.config": PLAIN_JAAS}
    if internal_port:
        listeners += f",INTERNAL://127.0.0.1:{internal_port}"
        configs["listener.security.protocol.map"] = f"{protocol}:{protocol},INTERNAL:PLAINTEXT"
    configs["listeners"] = listeners
    if ca is not None:
        configs.update({"ssl.keystore.location": str(ca.issue("broker", server=True).keystore),
                        "ssl.truststore.location": str(ca.ca_file)})
    configs.update(extra or {})
    return BrokerProcess(tmp_path / "data", configs, port=port)


def client(broker: BrokerProcess, mechanism: str, user: str | None = None, password: str | None = None,
           protocol: str = "SASL_PLAINTEXT", **extra) -> dict:
    conf = {"bootstrap.servers": broker.bootstrap, "security.protocol": protocol, "sasl.mechanism": mechanism,
            **extra}
    if user is not None:
        conf.update({"sasl.username": user, "sasl.password": password})
    return conf


def admin_client(broker: BrokerProcess, **extra) -> AdminClient:
    return AdminClient(client(broker, "PLAIN", "admin", ADMIN_PASSWORD, **extra))


def add_scram_user(admin: AdminClient, user: str, password: str, mechanism=ScramMechanism.SCRAM_SHA_512,
                   iterations: int = 8192) -> None:
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, iterations), password.encode())])
    for future in futures.values():
        future.result(30)


def round_trip(conf: dict, n: int = 500) -> list[bytes]:
    return shared_round_trip(conf, [b"record-%05d" % i for i in range(n)], "over SASL")


def authentication_error(conf: dict, timeout: float = 15.0) -> KafkaError:
    """The error a producer with `conf` reports (error_cb) when its authentication is refused."""
    errors: list[KafkaError] = []
    producer = Producer({**conf, "error_cb": errors.append})
    deadline = time.monotonic() + timeout
    while not errors and time.monotonic() < deadline:
        producer.poll(0.2)
    assert errors, "the refused client reported no error"
    return errors[0]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


def test_scram_sha_512_over_sasl_ssl_with_users_created_through_the_admin_api(tmp_path, ca):
    broker = sasl_broker(tmp_path, "SASL_SSL", ca).start()
    tls = {"protocol": "SASL_SSL", "ssl.ca.location": str(ca.ca_file)}
    try:
        admin = admin_client(broker, **{"security.protocol": "SASL_SSL", "ssl.ca.location": str(ca.ca_file)})
        add_scram_user(admin, "bob", SCRAM_PASSWORD)
        described = admin.describe_user_scram_credentials(["bob"])["bob"].result(30)
        (info,) = described.scram_credential_infos
        assert (info.mechanism, info.iterations) == (ScramMechanism.SCRAM_SHA_512, 8192)
        values = round_trip(client(broker, "SCRAM-SHA-512", "bob", SCRAM_PASSWORD, **tls))
        assert values == [b"record-%05d" % i for i in range(500)]
        # The same user has no SCRAM-SHA-256 credential: that mechanism refuses it.
        error = authentication_error(client(broker, "SCRAM-SHA-256", "bob", SCRAM_PASSWORD, **tls))
        assert error.code() == KafkaError._AUTHENTICATION
    finally:
        broker.stop()
    assert SCRAM_PASSWORD not in broker.log_text() and ADMIN_PASSWORD not in broker.log_text()


def test_scram_users_persist_salted_and_hashed_and_can_be_deleted(tmp_path):
    broker = sasl_broker(tmp_path).start()
    try:
        admin = admin_client(broker)
        add_scram_user(admin, "carol", SCRAM_PASSWORD, ScramMechanism.SCRAM_SHA_256, 4096)
        broker.restart()
        stored = (tmp_path / "data" / "scram-credentials.json")
        assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
        text = stored.read_text()
        assert SCRAM_PASSWORD not in text and set(json.loads(text)["users"]["carol"]) == {"SCRAM-SHA-256"}
        assert round_trip(client(broker, "SCRAM-SHA-256", "carol", SCRAM_PASSWORD), 10)
        admin = admin_client(broker)
        for future in admin.alter_user_scram_credentials(
                [UserScramCredentialDeletion("carol", ScramMechanism.SCRAM_SHA_256)]).values():
            future.result(30)
        error = authentication_error(client(broker, "SCRAM-SHA-256", "carol", SCRAM_PASSWORD))
        assert "invalid credentials with SASL mechanism SCRAM-SHA-256" in error.str()
    finally:
        broker.stop()


def test_kafka_python_with_plain_and_scram(tmp_path):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KPTopicPartition

    broker = sasl_broker(tmp_path).start()
    topic = unique_topic("sasl-kp")
    try:
        add_scram_user(admin_client(broker), "dave", SCRAM_PASSWORD, ScramMechanism.SCRAM_SHA_256)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                                 sasl_mechanism="PLAIN", sasl_plain_username="alice",
                                 sasl_plain_password=ALICE_PASSWORD)
        for i in range(50):
            producer.send(topic, value=b"kp%d" % i, partition=0)
        producer.flush(30)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                                 sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="dave",
                                 sasl_plain_password=SCRAM_PASSWORD, consumer_timeout_ms=15000)
        consumer.assign([KPTopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        values = [m.value for _, m in zip(range(50), consumer)]
        consumer.close()
        assert values == [b"kp%d" % i for i in range(50)]
    finally:
        broker.stop()


def test_unsecured_oauthbearer_tokens(tmp_path):
    broker = sasl_broker(tmp_path).start()
    try:
        conf = client(broker, "OAUTHBEARER", **{"enable.sasl.oauthbearer.unsecure.jwt": True,
                                                 "sasl.oauthbearer.config": "principal=erin"})
        assert len(round_trip(conf, 20)) == 20
    finally:
        broker.stop()
    assert "accepts unsecured OAUTHBEARER tokens" in broker.log_text()


class Issuer:
    """Signs JWTs with an RSA key published in a JWKS file."""

    def __init__(self, directory, kid: str = "key-1"):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = directory / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}))

    def token(self, sub: str, lifetime_s: float = 300, audience: str = "schemabus", key=None) -> str:
        now = int(time.time())
        claims = {"sub": sub, "iat": now, "exp": now + int(lifetime_s), "aud": audience, "iss": "test-issuer"}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})


def test_oauthbearer_tokens_checked_against_a_jwks(tmp_path):
    issuer = Issuer(tmp_path)
    broker = sasl_broker(tmp_path, extra={
        "sasl.oauthbearer.jwks.endpoint.url": issuer.jwks.as_uri(),
        "sasl.oauthbearer.expected.audience": "schemabus", "sasl.oauthbearer.expected.issuer": "test-issuer",
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class":
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"}).start()

    def oauth_client(make_token):
        return client(broker, "OAUTHBEARER", oauth_cb=lambda _config: (make_token(), time.time() + 300))

    try:
        assert len(round_trip(oauth_client(lambda: issuer.token("frank")), 20)) == 20
        forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for name, make_token in [("bad signature", lambda: issuer.token("mallory", key=forged_key)),
                                 ("expired", lambda: issuer.token("frank", lifetime_s=-120)),
                                 ("wrong audience", lambda: issuer.token("frank", audience="elsewhere"))]:
            error = authentication_error(oauth_client(make_token))
            assert error.code() == KafkaError._AUTHENTICATION, (name, error)
        assert len(round_trip(oauth_client(lambda: issuer.token("frank")), 5)) == 5  # still serving
    finally:
        broker.stop()
    log = broker.log_text()
    assert log.count("OAUTHBEARER token refused") >= 3, log[-3000:]
    assert "Signature verification failed" in log and "expired" in log
    assert "accepts unsecured" not in log


def test_wrong_password_gets_kafkas_error_after_the_failed_authentication_delay(tmp_path):
    broker = sasl_broker(tmp_path).start()
    try:
        error = authentication_error(client(broker, "PLAIN", "alice", "not-her-password"))
        assert "Authentication failed: Invalid username or password" in error.str()
        good = round_trip(client(broker, "PLAIN", "alice", ALICE_PASSWORD), 10)  # others unaffected
        assert len(good) == 10
    finally:
        broker.stop()
    log = broker.log_text()
    assert "Failed authentication with 127.0.0.1:" in log and "bad credentials for user 'alice'" in log
    assert "not-her-password" not in log and ALICE_PASSWORD not in log


def plain_token(user: str, password: str) -> bytes:
    return b"\0" + user.encode() + b"\0" + password.encode()


def test_the_sasl_exchange_on_the_wire(tmp_path):
    """What Kafka's SaslServerAuthenticator answers, request by request."""
    broker = sasl_broker(tmp_path, extra={"connections.max.reauth.ms": "60000"}).start()
    try:
        raw = RawClient(broker.bootstrap)
        versions = {k["api_key"]: (k["min_version"], k["max_version"]) for k in raw.call(18, 3, {})["api_keys"]}
        assert versions[17] == (0, 1) and versions[36] == (0, 2) and versions[50] == (0, 0)
        handshake = raw.call(17, 1, {"mechanism": "PLAIN"})
        assert handshake["error_code"] == 0 and handshake["mechanisms"] == MECHANISMS.split(",")
        answer = raw.call(36, 2, {"auth_bytes": plain_token("alice", ALICE_PASSWORD)})
        assert answer["error_code"] == 0 and answer["session_lifetime"] == 60000
        assert raw.call(3, 12, {"topics": []})["brokers"][0]["port"] == broker.port
        # Authenticated: a second SaslAuthenticate is out of place (KafkaApis' answer).
        assert raw.call(36, 2, {"auth_bytes": b"x"})["error_code"] == ILLEGAL_SASL_STATE
        raw.close()

        # SaslHandshake v0 (KIP-43): the tokens go as bare frames.
        raw = RawClient(broker.bootstrap)
        assert raw.call(17, 0, {"mechanism": "PLAIN"})["error_code"] == 0
        token = plain_token("admin", ADMIN_PASSWORD)
        raw.send_raw(struct.pack(">i", len(token)) + token)
        assert read_frame(raw.sock) == b""
        assert raw.call(3, 12, {"topics": []})["cluster_id"]
        raw.close()

        unsupported = RawClient(broker.bootstrap)
        answer = unsupported.call(17, 1, {"mechanism": "GSSAPI"})
        assert answer["error_code"] == UNSUPPORTED_SASL_MECHANISM and "SCRAM-SHA-512" in answer["mechanisms"]
        assert unsupported.closed_by_peer()

        wrong = RawClient(broker.bootstrap)
        wrong.call(17, 1, {"mechanism": "PLAIN"})
        answer = wrong.call(36, 1, {"auth_bytes": plain_token("alice", "wrong")})
        assert answer["error_code"] == SASL_AUTHENTICATION_FAILED
        assert answer["error_message"] == "Authentication failed: Invalid username or password"
        assert wrong.closed_by_peer()

        for name, frame in [
            ("a request before authenticating", request_frame(3, 12, {"topics": None})),
            ("SaslAuthenticate before SaslHandshake", request_frame(36, 2, {"auth_bytes": b"n,,n=x,r=y"})),
            ("garbage", struct.pack(">i", 6) + b"\xff\xff\x00\x01\x02\x03"),
            ("a frame over sasl.server.max.receive.size", struct.pack(">i", 600_000)),
        ]:
            early = RawClient(broker.bootstrap)
            early.send_raw(frame)
            assert early.closed_by_peer(), name
        assert len(round_trip(client(broker, "PLAIN", "alice", ALICE_PASSWORD), 10)) == 10
    finally:
        broker.stop()
    log = broker.log_text()
    assert "unexpected Metadata request before authentication completed" in log
    assert "unexpected SaslAuthenticate request before authentication completed" in log
    assert "unsupported SASL mechanism 'GSSAPI'" in log
    assert "sasl.server.max.receive.size" in log
    assert ALICE_PASSWORD not in log and ADMIN_PASSWORD not in log


def test_sessions_expire_and_librdkafka_reauthenticates(tmp_path):
    broker = sasl_broker(tmp_path, extra={"connections.max.reauth.ms": "1500"}).start()
    try:
        raw = RawClient(broker.bootstrap)
        raw.call(17, 1, {"mechanism": "PLAIN"})
        assert raw.call(36, 2, {"auth_bytes": plain_token("alice", ALICE_PASSWORD)})["session_lifetime"] == 1500
        time.sleep(2.0)
        raw.send_raw(request_frame(3, 12, {"topics": []}))
        assert raw.closed_by_peer(), "a request after the session expired was served"

        # librdkafka (KIP-368) re-authenticates on the same connection before its session ends:
        # a producer keeps delivering for several session lifetimes without an error.
        errors = []
        producer = Producer({**client(broker, "PLAIN", "alice", ALICE_PASSWORD), "error_cb": errors.append,
                             "linger.ms": 0})
        topic = unique_topic("reauth")
        deadline = time.monotonic() + 6
        sent = 0
        while time.monotonic() < deadline:
            producer.produce(topic, b"r%d" % sent)
            sent += 1
            producer.flush(10)
            time.sleep(0.05)
        assert producer.flush(10) == 0
        assert not [e for e in errors if e.code() == KafkaError._AUTHENTICATION], errors
    finally:
        broker.stop()
    log = broker.log_text()
    assert log.count("SASL session expired without re-authentication") == 1, log[-3000:]


def test_the_scram_credential_apis_answer_with_kafkas_errors(tmp_path):
    internal = free_port()
    broker = sasl_broker(tmp_path, internal_port=internal).start()
    try:
        raw = RawClient(f"127.0.0.1:{internal}")
        upsert = {"name": "gina", "mechanism": 1, "iterations": 4096, "salt": b"salt", "salted_password": b"x" * 32}
        answer = raw.call(51, 0, {"deletions": [], "upsertions": [upsert, {**upsert, "name": "few", "iterations": 1000},
                                                                 {**upsert, "name": "many", "iterations": 20000},
                                                                 {**upsert, "name": "", "iterations": 4096},
                                                                 {**upsert, "name": "odd", "mechanism": 9}]})
        assert [(r["user"], r["error_code"], r["error_message"]) for r in answer["results"]] == [
            ("gina", 0, None), ("few", UNACCEPTABLE_CREDENTIAL, "Too few iterations"),
            ("many", UNACCEPTABLE_CREDENTIAL, "Too many iterations"),
            ("", UNACCEPTABLE_CREDENTIAL, "Username must not be empty"),
            ("odd", UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism")]
        answer = raw.call(51, 0, {"deletions": [{"name": "nobody", "mechanism": 1}, {"name": "gina", "mechanism": 1}],
                                  "upsertions": [upsert]})
        assert [(r["user"], r["error_code"]) for r in answer["results"]] == [
            ("nobody", RESOURCE_NOT_FOUND), ("gina", DUPLICATE_RESOURCE)]
        described = raw.call(50, 0, {"users": [{"name": "gina"}, {"name": "nobody"}, {"name": "x"}, {"name": "x"}]})
        assert [(r["user"], r["error_code"]) for r in described["results"]] == [
            ("gina", 0), ("nobody", RESOURCE_NOT_FOUND), ("x", DUPLICATE_RESOURCE)]
        assert described["results"][0]["credential_infos"] == [{"mechanism": 1, "iterations": 4096}]
        assert [r["user"] for r in raw.call(50, 0, {"users": None})["results"]] == ["gina"]
        # On a listener without SASL, SaslHandshake is out of place.
        assert raw.call(17, 1, {"mechanism": "PLAIN"})["error_code"] == ILLEGAL_SASL_STATE
    finally:
        broker.stop()


@pytest.mark.parametrize("configs,message", [
    ({}, "names GSSAPI, which this broker does not serve"),
    ({"sasl.enabled.mechanisms": "PLAIN"}, "PLAIN on listener SASL_PLAINTEXT needs "
                                           "listener.name.sasl_plaintext.plain.sasl.jaas.config"),
    ({"sasl.enabled.mechanisms": "PLAIN", "listener.name.sasl_plaintext.plain.sasl.jaas.config":
      "org.apache.kafka.common.security.plain.PlainLoginModule required;"}, "defines no user_<name>"),
    ({"sasl.enabled.mechanisms": "OAUTHBEARER", "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback."
      "handler.class": "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"},
     "needs sasl.oauthbearer.jwks.endpoint.url"),
    ({"sasl.enabled.mechanisms": "PLAIN", "listener.name.sasl_plaintext.plain.sasl.jaas.config": "nonsense"},
     "listener.name.sasl_plaintext.plain.sasl.jaas.config: expected"),
])
def test_a_sasl_listener_that_cannot_be_served_stops_the_broker(tmp_path, configs, message):
    port = free_port()
    broker = BrokerProcess(tmp_path / "data", {"listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}", **configs},
                           port=port)
    result = subprocess.run(broker.command(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert message in result.stderr, result.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("mechanism", ["scram-sha-256", "scram-sha-512"])
def test_kafkajs_with_scram_over_sasl_ssl(tmp_path, ca, kafkajs, mechanism):
    broker = sasl_broker(tmp_path, "SASL_SSL", ca).start()
    tls = {"security.protocol": "SASL_SSL", "ssl.ca.location": str(ca.ca_file)}
    try:
        which = ScramMechanism.SCRAM_SHA_256 if mechanism.endswith("256") else ScramMechanism.SCRAM_SHA_512
        add_scram_user(admin_client(broker, **tls), "js-user", SCRAM_PASSWORD, which)
        script = str(JS_DIR / "sasl_round_trip.js")

        def run(password):
            proc = subprocess.run([kafkajs, script, broker.bootstrap, unique_topic("js-sasl"), mechanism, "js-user",
                                   password, str(ca.ca_file)], capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
            return [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]

        assert run(SCRAM_PASSWORD) == ["RESULT consumed=200"]
        (refused,) = run("wrong-password")
        assert "KafkaJSSASLAuthenticationError" in refused, refused
    finally:
        broker.stop()


def _unsecured_token(sub: str, lifetime_s: int) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    now = int(time.time())
    return f"{part({'alg': 'none'})}.{part({'sub': sub, 'iat': now, 'exp': now + lifetime_s})}."


def test_an_oauthbearer_session_ends_when_its_token_expires(tmp_path):
    """KIP-368: the session lifetime is the shorter of connections.max.reauth.ms and the token's."""
    broker = sasl_broker(tmp_path, extra={"connections.max.reauth.ms": "600000"}).start()
    try:
        raw = RawClient(broker.bootstrap)
        assert raw.call(17, 1, {"mechanism": "OAUTHBEARER"})["error_code"] == 0
        token = _unsecured_token("kim", 120)
        answer = raw.call(36, 2, {"auth_bytes": f"n,,\x01auth=Bearer {token}\x01\x01".encode()})
        assert answer["error_code"] == 0
        assert 110_000 < answer["session_lifetime"] <= 120_000, answer
        raw.close()

        # An expired token: RFC 7628's error challenge, then the failure once the client acknowledges it.
        raw = RawClient(broker.bootstrap)
        raw.call(17, 1, {"mechanism": "OAUTHBEARER"})
        expired = _unsecured_token("kim", -60)
        challenge = raw.call(36, 2, {"auth_bytes": f"n,,\x01auth=Bearer {expired}\x01\x01".encode()})
        assert challenge["error_code"] == 0 and json.loads(challenge["auth_bytes"]) == {"status": "invalid_token"}
        final = raw.call(36, 2, {"auth_bytes": b"\x01"})
        assert final["error_code"] == SASL_AUTHENTICATION_FAILED
        assert raw.closed_by_peer()
    finally:
        broker.stop()
    log = broker.log_text()
    assert "OAUTHBEARER token refused: the token has expired" in log
    assert "eyJ" not in log  # no token (base64url JSON) in the log


def test_garbage_in_every_step_of_every_mechanism_closes_only_that_connection(tmp_path):
    """Seeded random tokens at each step of each mechanism's exchange (SCRAM's client-first and
    client-final, PLAIN's triple, OAUTHBEARER's initial response): each is refused or answered
    and never an internal error; the broker keeps serving."""
    import random

    rng = random.Random(20261203)
    broker = sasl_broker(tmp_path, extra={"connection.failed.authentication.delay.ms": "0"}).start()
    add_scram_user(admin_client(broker), "fuzz", SCRAM_PASSWORD, ScramMechanism.SCRAM_SHA_256)

    def noise() -> bytes:
        pieces = [b"n,,", b"n=fuzz,r=", b"c=biws,r=", b",p=", b"\x00", b"\x01", b"auth=Bearer ", b"=2C", b"=3D",
                  b"y,,", b"p=tls-unique,,", b"a=", b",", b"=", b"\xff\xfe", b"e30", b"."]
        return b"".join(rng.choice(pieces) + rng.randbytes(rng.randint(0, 6)) for _ in range(rng.randint(0, 8)))

    try:
        for i in range(240):
            mechanism = rng.choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"])
            raw = RawClient(broker.bootstrap, timeout=5)
            try:
                raw.call(17, 1, {"mechanism": mechanism})
                if mechanism == "SCRAM-SHA-256" and i % 2:
                    # A well-formed client-first, then garbage as the client-final.
                    first = raw.call(36, 2, {"auth_bytes": b"n,,n=fuzz,r=abcdefgh"})
                    assert first["error_code"] == 0, first
                for _ in range(rng.randint(1, 3)):
                    answer = raw.call(36, 2, {"auth_bytes": noise()})
                    if answer["error_code"]:
                        assert answer["error_code"] == SASL_AUTHENTICATION_FAILED, answer
                        break
            except (ConnectionError, OSError, struct.error):
                pass  # closed by the broker: also a fine answer to garbage
            finally:
                raw.close()
        assert len(round_trip(client(broker, "SCRAM-SHA-256", "fuzz", SCRAM_PASSWORD), 10)) == 10
    finally:
        broker.stop()
    log = broker.log_text()
    assert "Traceback" not in log and "internal error" not in log, log[-4000:]
