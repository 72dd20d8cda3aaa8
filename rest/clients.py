"""The Kafka clients a request uses: the proxy's own (the service identity of `client.*`), or with
`rest.authorization=true` the caller's own, made from the credentials of its `Authorization` header
(Karapace's rest_authorization; docs/design/rest-proxy.md section 4.2).

Per caller: a KafkaBackend (admin client, producer, offsets consumer) and a ConsumerManager of its
v2 consumer instances, created on the first request with that credential once the broker has
accepted it (else 401/40101: the broker refused it), shared by that caller's later requests and
closed when no request has used it for the idle timeout (never while a request, a produce stream
say, still uses it). `Basic` credentials become the SASL username and password (mechanism
`client.sasl.mechanism`, PLAIN when unset; SCRAM-SHA-256/512 work), a `Bearer` token an
OAUTHBEARER token (its `exp` read, unverified, only to drop the clients once it has expired: the
broker checks the token). The Kafka connection is SASL_SSL when `client.security.protocol` is SSL
or SASL_SSL, else SASL_PLAINTEXT, with the rest of `client.*` (bootstrap.servers, ssl.*).

The proxy itself keeps no credential in a log, an error or a key: callers are told apart by an
HMAC (a per-process random key) of their header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from confluent_kafka import KafkaError, KafkaException

from http_security.users import basic_credentials
from rest.consumers import ConsumerManager
from rest.errors import RestError, kafka_error, topic_not_found
from rest.kafka import AUTHORIZATION_ERRORS, KafkaBackend

log = logging.getLogger("rest.clients")

AUTHENTICATION_ERRORS = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# The service's own SASL settings, which a caller's clients never inherit.
_SERVICE_ONLY = ("sasl.", "enable.sasl.oauthbearer.unsecure.jwt", "oauth_cb")
_TOKEN_LIFETIME_S = 3600  # an opaque bearer token (not a JWT) is kept for at most this long


@dataclass
class Clients:
    kafka: KafkaBackend
    consumers: ConsumerManager

    def close(self) -> None:
        try:
            self.consumers.close()
        finally:
            self.kafka.close()


class CallerBackend(KafkaBackend):
    """A KafkaBackend that tells a topic the caller may not see (Kafka leaves it out of the full
    listing) from one that does not exist: the first is 403/40301, as kafka-rest answers Kafka's
    TopicAuthorizationException, the second 404/40401. Its admin client never asks the broker to
    create a topic it looks up."""

    def __init__(self, client: dict, producer: dict | None = None, admin: dict | None = None,
                 timeout_s: float = 10.0):
        super().__init__(client, producer, {"allow.auto.create.topics": "false", **(admin or {})}, timeout_s)

    def topic(self, name: str):
        try:
            return super().topic(name)
        except RestError as exc:
            if exc.error_code != 40401:
                raise
        try:
            found = self.admin.list_topics(topic=name, timeout=self.timeout_s).topics.get(name)
        except KafkaException:
            found = None
        if found is not None and found.error is not None and found.error.code() in AUTHORIZATION_ERRORS:
            raise RestError(40301, f"Not authorized to access topics: [{name}]")
        if found is not None and found.error is None and found.partitions:
            return found
        raise topic_not_found()


@dataclass(frozen=True)
class Credential:
    """What a caller's `Authorization` header says, for Kafka: a SASL user and password, or a token."""

    who: str                     # for logs: the user name, or the token's (unverified) subject
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    expires_at: float | None = None   # epoch seconds (a token's exp)


def credential_from_header(header: str | None) -> Credential | None:
    """A Basic or Bearer credential, None when absent, of another scheme or malformed."""
    basic = basic_credentials(header)
    if basic is not None:
        return Credential(basic[0], username=basic[0], password=basic[1])
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        return None
    claims = _unverified_claims(token)
    exp = claims.get("exp")
    sub = claims.get("sub")
    return Credential(f"token of {str(sub)[:64]!r}" if sub else "a bearer token", token=token,
                      expires_at=float(exp) if isinstance(exp, (int, float)) else None)


def _unverified_claims(token: str) -> dict:
    """A JWT's claims, not checked (the broker checks the token); {} when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def caller_client_config(service: dict, credential: Credential) -> dict:
    """The librdkafka config of a caller's clients: the service's `client.*` without its own SASL
    identity, the caller's credential instead."""
    mechanism = str(service.get("sasl.mechanism") or service.get("sasl.mechanisms") or "PLAIN").upper()
    protocol = str(service.get("security.protocol") or "PLAINTEXT").upper()
    config = {k: v for k, v in service.items() if not k.startswith(_SERVICE_ONLY)}
    config["security.protocol"] = "SASL_SSL" if protocol in ("SSL", "SASL_SSL") else "SASL_PLAINTEXT"
    if credential.token is not None:
        token = credential.token
        expiry = credential.expires_at or time.time() + _TOKEN_LIFETIME_S
        config.update({"sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _config: (token, expiry)})
    else:
        config.update({"sasl.mechanism": mechanism if mechanism in PASSWORD_MECHANISMS else "PLAIN",
                       "sasl.username": credential.username, "sasl.password": credential.password})
    return config


class _Entry:
    def __init__(self, key: bytes, credential: Credential):
        self.key = key
        self.who = credential.who
        self.expires_at = credential.expires_at
        self.clients: Clients | None = None
        self.in_use = 0
        self.last_used = time.monotonic()
        self.authentication_error: str | None = None   # the broker refused the credential

    def on_error(self, err: KafkaError) -> None:
        """error_cb of every client of this caller (served by their poll threads)."""
        if err.code() in AUTHENTICATION_ERRORS:
            self.authentication_error = err.str()

    def stale(self) -> bool:
        return self.authentication_error is not None or (self.expires_at is not None and time.time() > self.expires_at)


class CallerClients:
    """The callers' clients, by credential: created on first use, closed when idle."""

    def __init__(self, service_client: dict, make: Callable[[dict], Clients], idle_timeout_s: float,
                 probe_timeout_s: float = 10.0):
        self.service_client = dict(service_client)
        self.make = make
        self.idle_timeout_s = idle_timeout_s
        self.probe_timeout_s = probe_timeout_s
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, _Entry] = {}
        self._retired: list[_Entry] = []       # replaced while in use: closed once no request uses them
        self._creating: dict[bytes, threading.Lock] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._reaper = threading.Thread(target=self._close_idle, name="rest-caller-clients", daemon=True)
        self._reaper.start()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def acquire(self, credential: Credential) -> _Entry:
        """The caller's entry, in use until release(); RestError 40101 when the broker refuses the
        credential, 50002 when Kafka cannot be reached."""
        key = hmac.new(self._key, repr((credential.username, credential.password, credential.token)).encode(),
                       hashlib.sha256).digest()
        entry = self._take(key)
        if entry is not None:
            return entry
        with self._lock:
            creating = self._creating.setdefault(key, threading.Lock())
        with creating:  # one creation per credential at a time; the others then find it
            try:
                entry = self._take(key)
                if entry is not None:
                    return entry
                entry = self._create(key, credential)
                with self._lock:
                    self._entries[key] = entry
                return entry
            finally:
                with self._lock:
                    self._creating.pop(key, None)

    def _take(self, key: bytes) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.stale():  # refused since, or its token expired: made again (and probed) below
                del self._entries[key]
                self._retired.append(entry)
                return None
            entry.in_use += 1
            entry.last_used = time.monotonic()
            return entry

    def _create(self, key: bytes, credential: Credential) -> _Entry:
        entry = _Entry(key, credential)
        entry.in_use = 1
        config = {**caller_client_config(self.service_client, credential), "error_cb": entry.on_error}
        try:
            entry.clients = self.make(config)
        except KafkaException as exc:
            raise RestError(50002, f"cannot make Kafka clients for {credential.who}: {exc.args[0].str()}") from None
        try:
            self._probe(entry)
        except BaseException:
            threading.Thread(target=entry.clients.close, name="rest-caller-close", daemon=True).start()
            raise
        log.info("Kafka clients for %s (rest.authorization) created", entry.who)
        return entry

    def _probe(self, entry: _Entry) -> None:
        """Until the broker answers a metadata request with this credential, or refuses it."""
        admin = entry.clients.kafka.admin
        deadline = time.monotonic() + self.probe_timeout_s
        while True:
            try:
                admin.list_topics(timeout=0.5)
                return
            except KafkaException:
                admin.poll(0.05)  # serves error_cb: an authentication error shows there
            if entry.authentication_error is not None:
                log.info("Kafka refused the credentials of %s: %s", entry.who, entry.authentication_error)
                raise RestError(40101, f"Authentication failed: {entry.authentication_error}")
            if time.monotonic() > deadline:
                raise kafka_error(f"cannot reach Kafka with the credentials of {entry.who} within "
                                  f"{self.probe_timeout_s:.0f} s")

    def release(self, entry: _Entry) -> None:
        with self._lock:
            entry.in_use -= 1
            entry.last_used = time.monotonic()

    def _close_idle(self) -> None:
        while not self._stopped.wait(1.0):
            with self._lock:
                live = list(self._entries.values())
            for entry in live:
                entry.clients.kafka.admin.poll(0)  # its error_cb: a credential refused since it was accepted
            now = time.monotonic()
            with self._lock:
                idle = [key for key, e in self._entries.items()
                        if e.in_use == 0 and (now - e.last_used > self.idle_timeout_s or e.stale())]
                closing = [self._entries.pop(key) for key in idle]
                closing += [e for e in self._retired if e.in_use == 0]
                self._retired = [e for e in self._retired if e.in_use > 0]
            for entry in closing:
                reason = "refused or expired" if entry.stale() else f"idle for {self.idle_timeout_s:.0f} s"
                log.info("Kafka clients for %s closed (%s)", entry.who, reason)
                self._close(entry)

    @staticmethod
    def _close(entry: _Entry) -> None:
        try:
            entry.clients.close()
        except Exception:  # closing is best effort: log and go on with the others
            log.exception("closing the Kafka clients for %s failed", entry.who)

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            entries = list(self._entries.values()) + self._retired
            self._entries.clear()
            self._retired = []
        for entry in entries:
            self._close(entry)
