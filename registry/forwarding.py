"""Followers forward writes to the leader, as Confluent's registry does.

A write that reaches an instance which may not write (registry.errors.NotLeader, raised by the
election's writer check after the request was validated locally) is sent on to the leader with the
same method, path, query and body, the headers Confluent forwards (Content-Type, Accept,
Confluent-Accept-Unknown-Properties, Authorization, X-Request-ID, plus `inter.instance.headers.whitelist`)
and `X-Forward: true`; the leader's status and body are the answer. Then the follower reads
`_schemas` up to where it ended, so that the caller reads its own write on this instance too.

- A request already marked `X-Forward: true` is never forwarded again: it answers 50004 (no loops
  while instances disagree about the leader).
- While no leader is known (a rebalance, a dead leader's session not yet expired, only ineligible
  members) the write waits up to `schemabus.leader.wait.ms` (default 5 s) for one, then answers
  50004. Confluent answers at once; waiting spares clients a retry across a short rebalance.
- The leader unreachable (connection refused, timeout): 50003, "Error while forwarding ...".
- Over https (the leader's identity says which) the follower checks the leader's certificate
  against `ssl.truststore.location` (else the system's CAs) and presents `ssl.keystore.location`
  as its client certificate: the registry's own TLS settings, as in Confluent. The host name is
  checked unless `ssl.endpoint.identification.algorithm` is empty or `none`.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field

import urllib3

from registry import errors
from registry.identity import Identity
from registry.store import StoreError

log = logging.getLogger("registry.forwarding")

FORWARD_HEADER = "X-Forward"
STATIC_HEADERS = ("Content-Type", "Accept", "Confluent-Accept-Unknown-Properties", "Authorization", "X-Request-ID")
HEADERS_WHITELIST = "inter.instance.headers.whitelist"
CONNECT_TIMEOUT = "leader.connect.timeout.ms"
READ_TIMEOUT = "leader.read.timeout.ms"
LEADER_WAIT = "schemabus.leader.wait.ms"


def _millis(properties: dict[str, str], name: str, default: int) -> float:
    text = (properties.get(name) or "").strip()
    if not text:
        return default / 1000
    if not text.isdigit():
        raise ValueError(f"{name} must be a number of milliseconds, not {text!r}")
    return int(text) / 1000


def client_tls_context(properties: dict[str, str]) -> ssl.SSLContext:
    """The TLS of requests to the leader, from the registry's own ssl.* settings (PEM stores)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    truststore = properties.get("ssl.truststore.location")
    try:
        if truststore:
            context.load_verify_locations(cafile=truststore)
        keystore = properties.get("ssl.keystore.location")
        if keystore:
            password = properties.get("ssl.key.password") or properties.get("ssl.keystore.password") or None
            context.load_cert_chain(keystore, password=password)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"inter-instance TLS: cannot load ssl.truststore/keystore files: {exc}") from None
    algorithm = properties.get("ssl.endpoint.identification.algorithm")
    if algorithm is not None and algorithm.strip().lower() in ("", "none"):
        context.check_hostname = False
    return context


@dataclass
class ForwardingSettings:
    headers: tuple[str, ...] = STATIC_HEADERS
    connect_timeout_s: float = 60.0
    read_timeout_s: float = 60.0
    leader_wait_s: float = 5.0
    catch_up_timeout_s: float = 10.0
    tls: ssl.SSLContext | None = field(default=None, repr=False)

    @classmethod
    def from_properties(cls, properties: dict[str, str], catch_up_timeout_s: float = 10.0,
                        https: bool = False) -> "ForwardingSettings":
        extra = [h.strip() for h in (properties.get(HEADERS_WHITELIST) or "").split(",") if h.strip()]
        headers = tuple(dict.fromkeys([*STATIC_HEADERS, *extra]))
        return cls(headers, _millis(properties, CONNECT_TIMEOUT, 60000), _millis(properties, READ_TIMEOUT, 60000),
                   _millis(properties, LEADER_WAIT, 5000), catch_up_timeout_s,
                   client_tls_context(properties) if https else None)


class LeaderLocator:
    """The leader's identity as the group shows it, asked again after every rebalance this
    instance sees, after a failed forward, and at least every `ttl_s` (an ineligible instance is not
    in the group and sees no rebalances)."""

    def __init__(self, election, ttl_s: float = 2.0):
        self.election = election
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[Identity | None, int, float] | None = None

    def current(self) -> Identity | None:
        changes = self.election.changes
        cached = self._cached
        if cached is not None and cached[1] == changes and time.monotonic() - cached[2] < self.ttl_s:
            return cached[0]
        with self._lock:
            text = self.election.leader_identity()
            leader = Identity.from_json(text)
            if text is not None and leader is None:
                log.warning("the elected member's client.id %r is not an instance identity (an older instance?); "
                            "writes cannot be forwarded to it", text)
            # Unknown answers are not cached: the next write asks again.
            self._cached = (leader, changes, time.monotonic()) if leader is not None else None
            return leader

    def invalidate(self) -> None:
        self._cached = None


@dataclass
class Forwarded:
    status: int
    content_type: str
    body: bytes


def _unknown_leader(answer: Forwarded) -> bool:
    if answer.status != 500:
        return False
    try:
        return json.loads(answer.body).get("error_code") == 50004
    except (ValueError, AttributeError):
        return False


class Forwarder:
    def __init__(self, settings: ForwardingSettings, election, store, me: Identity):
        self.settings = settings
        self.election = election
        self.store = store
        self.me = me
        self.locator = LeaderLocator(election)
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=16, ssl_context=settings.tls, retries=False,
                                        timeout=urllib3.Timeout(connect=settings.connect_timeout_s,
                                                                read=settings.read_timeout_s))

    def forward_request(self, method: str, uri: str, headers, body: bytes) -> Forwarded | None:
        """The leader's answer to the request; None when this instance became the leader meanwhile
        (the caller handles the request itself). 50004 when no leader is known within the wait,
        50003 when the leader cannot be reached."""
        deadline = time.monotonic() + self.settings.leader_wait_s
        while True:
            leader = self._leader(deadline)
            if leader is None:
                return None
            answer = self._send(leader, method, uri, headers, body)
            if not _unknown_leader(answer):
                if 200 <= answer.status < 300:
                    self._read_own_write()
                return answer
            # The instance the group names is not taking writes (yet, or any more): nothing was
            # written, so asking the group again and resending is safe.
            self.locator.invalidate()
            if time.monotonic() >= deadline:
                return answer
            time.sleep(0.1)

    def await_election(self) -> bool:
        """For a request forwarded here: whether this instance, elected but still catching up,
        takes the role within the wait (then it answers the request itself)."""
        deadline = time.monotonic() + self.settings.leader_wait_s
        while self.election.taking_over() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.election.is_leader()

    def _leader(self, deadline: float) -> Identity | None:
        while True:
            if self.election.is_leader():
                return None
            leader = self.locator.current()
            # The group may name this instance before it has read `_schemas` to its end and taken
            # the role: wait for that like for an unknown leader.
            if leader is not None and not self.me.same_endpoint(leader):
                return leader
            if time.monotonic() >= deadline:
                raise errors.unknown_leader("Request failed since leader is unknown")
            time.sleep(0.1)

    def _send(self, leader: Identity, method: str, uri: str, headers, body: bytes) -> Forwarded:
        sent = {name: headers[name] for name in self.settings.headers if headers.get(name)}
        sent[FORWARD_HEADER] = "true"
        try:
            answer = self.pool.request(method, leader.url + uri, body=body or None, headers=sent, redirect=False)
        except urllib3.exceptions.HTTPError as exc:
            self.locator.invalidate()
            log.warning("forwarding %s %s to the leader at %s failed: %s", method, uri, leader.url, exc)
            raise errors.forwarding_error(f"Error while forwarding the request to the leader at {leader.url}: "
                                          f"{type(exc).__name__}") from None
        return Forwarded(answer.status, answer.headers.get("Content-Type", ""), answer.data)

    def _read_own_write(self) -> None:
        try:
            self.store.catch_up(self.settings.catch_up_timeout_s)
        except StoreError as exc:
            # The write is done on the leader; answering it is right even if this instance lags.
            log.warning("forwarded write done, but this instance has not read it back yet: %s", exc)

    def close(self) -> None:
        self.pool.clear()
