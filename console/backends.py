"""The services the console reads and changes, each through its public API, and how to reach them.

One `Backends` per console process, shared by all requests: confluent-kafka's AdminClient is
thread-safe, and so is the registry client (urllib3's pool). Connect and the REST Proxy are plain
HTTP services: one requests.Session each would not be thread-safe, so `http_json` uses urllib3's
pool manager, which is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import urllib3
from confluent_kafka.admin import AdminClient

from kafka_properties import librdkafka_config
from registry_client import SchemaRegistryClient

# A page waits at most this long for any one service before it shows that service as unreachable.
SERVICE_TIMEOUT_S = 10.0


class ServiceError(Exception):
    """A service answered with an error (or not at all); the page shows `message` where it would have
    shown the data."""

    def __init__(self, service: str, message: str, status: int | None = None):
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message
        self.status = status


@dataclass
class Backends:
    """`kafka`: Kafka client properties in Kafka's (Java) names (bootstrap.servers, security.*);
    `registry`: the registry client's config (url, basic.auth.*), or None without a registry;
    `connect_url` / `rest_url`: Kafka Connect's and the REST Proxy's base URLs, or None;
    `connect_user_info` / `rest_user_info`: "user:password" for their basic authentication, or None;
    `http_ca_file`: the CA (PEM) that their https certificates are checked against, or None;
    `broker_metrics_url`: the broker's Prometheus endpoint (topic sizes and rates), or None."""

    kafka: dict[str, str]
    registry: dict[str, str] | None = None
    connect_url: str | None = None
    rest_url: str | None = None
    connect_user_info: str | None = field(default=None, repr=False)
    rest_user_info: str | None = field(default=None, repr=False)
    http_ca_file: str | None = None
    broker_metrics_url: str | None = None
    _admin: AdminClient | None = field(default=None, init=False, repr=False)
    _registry_client: SchemaRegistryClient | None = field(default=None, init=False, repr=False)
    _http: urllib3.PoolManager | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self._http = urllib3.PoolManager(maxsize=8, **({"ca_certs": self.http_ca_file} if self.http_ca_file else {}))

    @property
    def bootstrap(self) -> str:
        return self.kafka["bootstrap.servers"]

    def client_config(self) -> dict[str, str]:
        """librdkafka's config for any Kafka client the console makes (admin, consumer, producer)."""
        return librdkafka_config(self.kafka)

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self.client_config())
        return self._admin

    @property
    def schema_registry(self) -> SchemaRegistryClient | None:
        if self.registry is None:
            return None
        if self._registry_client is None:
            self._registry_client = SchemaRegistryClient(self.registry)
        return self._registry_client

    def http_json(self, service: str, base_url: str | None, method: str, path: str, body=None,
                  user_info: str | None = None):
        """`method path` on Connect or the REST Proxy; its decoded JSON (None for an empty body).
        ServiceError for an error status (with the service's own message) or no answer."""
        if base_url is None:
            raise ServiceError(service, "not configured")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if user_info:
            headers.update(urllib3.make_headers(basic_auth=user_info))
        try:
            response = self._http.request(
                method, base_url.rstrip("/") + path, body=None if body is None else json.dumps(body).encode(),
                headers=headers, timeout=SERVICE_TIMEOUT_S, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceError(service, f"unreachable at {base_url}: {exc}") from None
        data = json.loads(response.data) if response.data else None
        if response.status >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            raise ServiceError(service, message or f"HTTP {response.status}", response.status)
        return data

    def connect(self, method: str, path: str, body=None):
        return self.http_json("Kafka Connect", self.connect_url, method, path, body, self.connect_user_info)

    def rest_proxy(self, method: str, path: str, body=None):
        return self.http_json("REST Proxy", self.rest_url, method, path, body, self.rest_user_info)
