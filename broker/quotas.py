"""Client quotas: what kafka-configs --entity-type users/clients sets, and their enforcement.

Quotas are kept per entity, Kafka's way: a user, a client id, or both, each either named or
the default (`--entity-default`); and an ip for connection creation rates. They live in
`client-quotas.json` in the data directory (written atomically), answered by
DescribeClientQuotas and changed by AlterClientQuotas (KIP-546).

Enforcement follows Kafka's ClientQuotaManager: a request's user and client id select the
most specific entity that sets the quota (user+client, user+default client, user, default
user+client, default user+default client, default user, client, default client); the bytes
produced, the bytes fetched, or the time spent serving requests are recorded in that entity's
rate (11 windows of 1 s, measured as Kafka's Rate does); a rate above the quota gives the
response a throttle time, (rate - quota) / quota x the measured window, after which the
connection is read again (KIP-219: the client waits as well). A throttled fetch is answered
empty, as Kafka does, and its bytes are not counted; the fetch handler asks fetch_throttle()
itself, since a throttled fetch also tells its session nothing. A new connection from an ip over its
connection_creation_rate is closed unserved once its throttle time has passed (KIP-612).
"""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path

from broker.storage.checkpoint import write_atomically

FILE_NAME = "client-quotas.json"
USER, CLIENT_ID, IP = "user", "client-id", "ip"
PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE = "producer_byte_rate", "consumer_byte_rate"
REQUEST_PERCENTAGE, CONTROLLER_MUTATION_RATE = "request_percentage", "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"
# The keys each kind of entity may set, and which of them must be whole numbers.
USER_CLIENT_KEYS = frozenset({PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE, CONTROLLER_MUTATION_RATE})
IP_KEYS = frozenset({CONNECTION_CREATION_RATE})
WHOLE_NUMBER_KEYS = frozenset({PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, CONNECTION_CREATION_RATE})
MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2  # DescribeClientQuotas match types

# The (user, client id) pairs remembered as having no quota, at most (then forgotten at once).
_NO_QUOTA_MEMORY = 100_000
# Kafka's quota.window.num and quota.window.size.seconds defaults.
WINDOWS, WINDOW_MS = 11, 1000

# An entity: its (type, name) pairs sorted by type; a None name is the type's default.
Entity = tuple[tuple[str, str | None], ...]


class QuotaError(ValueError):
    """A request Kafka answers INVALID_REQUEST."""


def entity_of(pairs: list[dict]) -> Entity:
    types = [p["entity_type"] for p in pairs]
    if not types:
        raise QuotaError("Invalid empty client quota entity")
    if len(set(types)) != len(types):
        raise QuotaError(f"Duplicate entity type in client quota entity: {types}")
    unknown = [t for t in types if t not in (USER, CLIENT_ID, IP)]
    if unknown:
        raise QuotaError(f"Unhandled client quota entity type: {unknown[0]}")
    if IP in types and len(types) > 1:
        raise QuotaError("Invalid quota entity combination, IP entity should not be combined with User or ClientId")
    return tuple(sorted((p["entity_type"], p["entity_name"]) for p in pairs))


def _check_key(entity: Entity, key: str) -> None:
    if key not in (IP_KEYS if entity[0][0] == IP else USER_CLIENT_KEYS):
        raise QuotaError(f"Invalid configuration key {key}")


def _check_value(entity: Entity, key: str, value: float) -> None:
    _check_key(entity, key)
    if key in WHOLE_NUMBER_KEYS and value != int(value):
        raise QuotaError(f"{key} cannot be a fractional value.")
    if value <= 0:
        raise QuotaError(f"Configuration {key} must be a positive value, not {value}")


class ClientQuotas:
    """The quotas set per entity, persisted in the data directory."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / FILE_NAME
        self.quotas: dict[Entity, dict[str, float]] = {}
        if self.path.exists():
            for item in json.loads(self.path.read_text()):
                self.quotas[tuple((t, n) for t, n in item["entity"])] = dict(item["quotas"])
        self.version = 0  # bumped on every change: cached lookups know to look again

    def alter(self, entity: Entity, ops: list[dict], validate_only: bool) -> None:
        values = dict(self.quotas.get(entity, {}))
        for op in ops:
            if op["remove"]:
                _check_key(entity, op["key"])
                values.pop(op["key"], None)
            else:
                _check_value(entity, op["key"], op["value"])
                values[op["key"]] = float(op["value"])
        if validate_only:
            return
        if values:
            self.quotas[entity] = values
        else:
            self.quotas.pop(entity, None)
        self.version += 1
        write_atomically(self.path, json.dumps(
            [{"entity": list(e), "quotas": q} for e, q in sorted(self.quotas.items(), key=lambda i: repr(i[0]))],
            indent=1))

    def describe(self, components: list[dict], strict: bool) -> list[tuple[Entity, dict[str, float]]]:
        types = [c["entity_type"] for c in components]
        if len(set(types)) != len(types):
            raise QuotaError(f"Duplicate entity type in filter: {types}")
        out = []
        for entity, values in self.quotas.items():
            names = dict(entity)
            if strict and set(names) != set(types):
                continue
            if all(self._matches(names, c) for c in components):
                out.append((entity, values))
        return sorted(out, key=lambda item: repr(item[0]))

    @staticmethod
    def _matches(names: dict[str, str | None], component: dict) -> bool:
        kind = component["entity_type"]
        if kind not in names:
            return False
        name, match_type = names[kind], component["match_type"]
        if match_type == MATCH_EXACT:
            return name is not None and name == component["match"]
        if match_type == MATCH_DEFAULT:
            return name is None
        if match_type == MATCH_SPECIFIED:  # any entity of the type, its default too (as Kafka answers)
            return True
        raise QuotaError(f"Unknown match type {match_type}")

    def ip_quota(self, address: str) -> float | None:
        """connection_creation_rate of this ip, else of the default ip entity (KIP-612)."""
        for entity in (((IP, address),), ((IP, None),)):
            value = self.quotas.get(entity, {}).get(CONNECTION_CREATION_RATE)
            if value is not None:
                return value
        return None

    def lookup(self, user: str, client_id: str, key: str) -> tuple[tuple[str, str], float] | None:
        """(the rate's tags, the quota) of the most specific entity that sets `key`, Kafka's order."""
        for entity in ((
                ((CLIENT_ID, client_id), (USER, user)), ((CLIENT_ID, None), (USER, user)), ((USER, user),),
                ((CLIENT_ID, client_id), (USER, None)), ((CLIENT_ID, None), (USER, None)), ((USER, None),),
                ((CLIENT_ID, client_id),), ((CLIENT_ID, None),))):
            value = self.quotas.get(entity, {}).get(key)
            if value is not None:
                # The rate is shared by everyone the entity names: its user and client id if it has them.
                kinds = dict(entity)
                return (user if USER in kinds else "", client_id if CLIENT_ID in kinds else ""), value
        return None


class Rate:
    """Kafka's windowed Rate: the sum of the last WINDOWS windows over the time they span, never
    less than WINDOWS - 1 full windows (so a new client's first burst is measured over ~10 s)."""

    __slots__ = ("samples",)

    def __init__(self) -> None:
        self.samples: deque[list] = deque()  # [window start ms, value]

    def record(self, value: float, now_ms: float) -> None:
        if not self.samples or now_ms >= self.samples[-1][0] + WINDOW_MS:
            self.samples.append([now_ms, 0.0])
            while len(self.samples) > WINDOWS:
                self.samples.popleft()
        self.samples[-1][1] += value

    def _purge(self, now_ms: float) -> None:
        while self.samples and self.samples[0][0] + WINDOWS * WINDOW_MS <= now_ms:
            self.samples.popleft()

    def window_ms(self, now_ms: float) -> float:
        self._purge(now_ms)
        elapsed = now_ms - self.samples[0][0] if self.samples else 0.0
        full = int(elapsed // WINDOW_MS)
        if full < WINDOWS - 1:
            elapsed += (WINDOWS - 1 - full) * WINDOW_MS
        return elapsed

    def per_second(self, now_ms: float) -> float:
        window = self.window_ms(now_ms)
        return sum(v for _, v in self.samples) / window * 1000.0


# Kafka drops a client's quota sensors after an hour without use; so does this table.
IDLE_EXPIRY_MS = 3_600_000
_SWEEP_EVERY_MS = 60_000


class RateTable:
    """The rates by client (or ip), each dropped once idle for an hour, so a stream of short-lived
    client ids does not grow the broker's memory without end."""

    def __init__(self) -> None:
        self.rates: dict = {}
        self._swept_at = 0.0

    def get(self, key, now_ms: float) -> Rate:
        if now_ms - self._swept_at >= _SWEEP_EVERY_MS:
            self._swept_at = now_ms
            idle = [k for k, r in self.rates.items() if not r.samples or r.samples[-1][0] < now_ms - IDLE_EXPIRY_MS]
            for k in idle:
                del self.rates[k]
        rate = self.rates.get(key)
        if rate is None:
            rate = self.rates[key] = Rate()
        return rate

    def __contains__(self, key) -> bool:
        return key in self.rates

    def __len__(self) -> int:
        return len(self.rates)


def _throttle_ms(rate: Rate, bound: float, now_ms: float) -> int:
    """How long until the rate is back at the bound: Kafka's (observed - bound) / bound x window."""
    observed = rate.per_second(now_ms)
    if observed <= bound:
        return 0
    return min(int((observed - bound) / bound * rate.window_ms(now_ms)), WINDOWS * WINDOW_MS)


class QuotaManager:
    """Records one kind of usage (bytes produced, bytes fetched, request time) against the
    quotas on `key` and answers the throttle time a request earns."""

    def __init__(self, quotas: ClientQuotas, key: str, scale: float = 1.0, clock=time.monotonic):
        """`scale`: the recorded unit per unit of the quota (request_percentage 100 = 1,000 ms of
        request time per second)."""
        self.quotas, self.key, self.scale, self.clock = quotas, key, scale, clock
        self.rates = RateTable()  # by the quota entity's (user, client id) tags
        self._no_quota: tuple[int, set] = (-1, set())  # (store version, (user, client) pairs without one)

    def _quota(self, user: str, client_id: str):
        version, without = self._no_quota
        if version != self.quotas.version or len(without) > _NO_QUOTA_MEMORY:
            without = set()
            self._no_quota = (self.quotas.version, without)
        if (user, client_id) in without:
            return None
        found = self.quotas.lookup(user, client_id, self.key)
        if found is None:
            without.add((user, client_id))
        return found

    def record(self, user: str, client_id: str, value: float) -> int:
        """Record `value`; the throttle time in ms it earns (0 when under the quota or without one)."""
        found = self._quota(user, client_id)
        if found is None:
            return 0
        tags, quota = found
        bound = quota * self.scale
        now_ms = self.clock() * 1000.0
        rate = self.rates.get(tags, now_ms)
        rate.record(value, now_ms)
        return _throttle_ms(rate, bound, now_ms)

    def unrecord(self, user: str, client_id: str, value: float) -> None:
        """Take back what a throttled fetch recorded: its response goes out empty."""
        found = self._quota(user, client_id)
        if found is not None and found[0] in self.rates:
            now_ms = self.clock() * 1000.0
            self.rates.get(found[0], now_ms).record(-value, now_ms)


PRODUCE, FETCH = 0, 1
# Not counted against request_percentage: version discovery and authentication (Kafka exempts
# them), and the requests that park waiting (a fetch's long poll, a group join): the time they
# are served is measured by the clock around the handler, which would count the waiting.
NOT_TIMED = frozenset({17, 18, 36, FETCH, 11, 14})


def _user(principal: str) -> str:
    return principal.split(":", 1)[1] if ":" in principal else principal


class Quotas:
    """The broker's quotas and their three managers (produce, fetch, request time)."""

    def __init__(self, data_dir: Path):
        self.store = ClientQuotas(data_dir)
        self.produce = QuotaManager(self.store, PRODUCER_BYTE_RATE)
        self.fetch = QuotaManager(self.store, CONSUMER_BYTE_RATE)
        self.request = QuotaManager(self.store, REQUEST_PERCENTAGE, scale=10.0)
        self.connection_rates = RateTable()  # by ip

    def connection_throttle(self, address: str) -> int:
        """A new connection from `address`: 0 to serve it, else the ms after which it is closed
        unserved, its ip being over its connection_creation_rate (it is not counted then)."""
        bound = self.store.ip_quota(address) if self.store.quotas else None
        if bound is None:
            return 0
        now_ms = time.monotonic() * 1000.0
        rate = self.connection_rates.get(address, now_ms)
        rate.record(1, now_ms)
        throttle_ms = _throttle_ms(rate, bound, now_ms)
        if throttle_ms:
            rate.record(-1, now_ms)
        return throttle_ms

    @property
    def active(self) -> bool:
        """Whether any quota is set: without one, requests skip all of this."""
        return bool(self.store.quotas)

    def fetch_throttle(self, principal: str, client_id: str, size: int) -> int:
        """Record a fetch answer of `size` record bytes: 0 to send it, else the throttle time
        in ms, the bytes taken back (the fetch is then answered empty)."""
        if not self.active:
            return 0
        user = _user(principal)
        throttle_ms = self.fetch.record(user, client_id, size)
        if throttle_ms:
            self.fetch.unrecord(user, client_id, size)
        return throttle_ms

    def throttle(self, api_key: int, principal: str, client_id: str, request_bytes: int,
                 response: dict | None, elapsed_s: float) -> tuple[dict | None, int]:
        """Record a served request; (the response to send, the throttle time it carries). A
        fetch has recorded its bytes already: its throttle time is in its response."""
        user = _user(principal)
        throttle_ms = 0
        if api_key not in NOT_TIMED:
            throttle_ms = self.request.record(user, client_id, elapsed_s * 1000.0)
        if api_key == PRODUCE:
            throttle_ms = max(throttle_ms, self.produce.record(user, client_id, request_bytes))
        elif api_key == FETCH and response is not None:
            throttle_ms = max(throttle_ms, response["throttle_time"])
        if throttle_ms and response is not None:
            response = {**response, "throttle_time": max(response.get("throttle_time", 0), throttle_ms)}
        return response, throttle_ms
