"""Running the registry: one process, one in-memory state, served on its listeners by threaded
production WSGI servers (registry/serving.py: waitress for http, cheroot for https).

Start-up: reach the broker, create `_schemas` if missing, replay it, elect (or become) the writer,
then listen. SIGINT/SIGTERM stop the HTTP servers, the election and the store cleanly.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
from dataclasses import dataclass, field

from confluent_kafka import KafkaException

from registry import identity, kafkastore
from registry.app import create_app
from registry.metrics import RegistryMetrics
from registry.cache import ReadCache
from registry.compatibility import DEFAULT_LEVEL, parse_level
from registry.election import choose_election
from registry.forwarding import Forwarder, ForwardingSettings
from registry.listeners import Listener, parse_listeners, server_tls_context
from registry.service import SchemaRegistry
from registry.security import Security, settings_from_properties
from registry.serving import MAX_REQUEST_BYTES_PROPERTY, BodyLimit, Endpoints
from registry.state import RegistryState
from registry.store import KafkaStore, StoreConfig, StoreError

log = logging.getLogger("registry.server")

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
INSTANCE_ID_PROPERTY = "group.instance.id"
SESSION_TIMEOUT = "kafkagroup.session.timeout.ms"      # Confluent's names for the election group
HEARTBEAT_INTERVAL = "kafkagroup.heartbeat.interval.ms"


def property_from_env(name: str) -> str | None:
    """A registry property given the way Confluent's images take them: `group.instance.id` is
    SCHEMA_REGISTRY_GROUP_INSTANCE_ID."""
    return os.environ.get("SCHEMA_REGISTRY_" + name.upper().replace(".", "_"))


@dataclass
class RegistryOptions:
    bootstrap_servers: str
    listen: str = "127.0.0.1:8081"
    topic: str = "_schemas"
    compatibility: str = DEFAULT_LEVEL
    group_id: str = "schema-registry"
    threads: int = 8
    init_timeout_s: float = 60.0
    write_timeout_s: float = 10.0
    hello_endpoint: bool = False  # a bare WSGI /_hello, the benchmark's ceiling
    read_cache: bool = True       # off only to measure the uncached path
    # The election's group.instance.id; None: SCHEMA_REGISTRY_GROUP_INSTANCE_ID, else derived from
    # the host name and the listener (stable across restarts); "": no static membership.
    instance_id: str | None = None
    # Largest request body; None: SCHEMA_REGISTRY_SIZE_LIMIT_FILTER_MAX_REQUEST_BODY_SIZE, else 4 MiB:
    # four times the largest schema record (42209 beyond it), so escaping never turns a schema that
    # fits into a 413 (Confluent's filter, off by default, and Karapace's limit default to 1 MiB).
    max_request_bytes: int | None = None
    # Confluent's registry properties (schema-registry.properties, --config KEY=VALUE): listeners,
    # ssl.*, authentication.*, kafkastore.* (kafkastore.bootstrap.servers when bootstrap_servers is "").
    properties: dict[str, str] = field(default_factory=dict)


def resolve_instance_id(options: RegistryOptions, host: str, port: int) -> str | None:
    value = options.instance_id if options.instance_id is not None else property_from_env(INSTANCE_ID_PROPERTY)
    if value is not None:
        return value.strip() or None
    if port == 0:
        return None  # an ephemeral port names nothing stable
    parts = [socket.gethostname()] + ([] if host in ("", "0.0.0.0", "::") else [host]) + [str(port)]
    # Kafka allows ASCII alphanumerics, '.', '_' and '-' in a group.instance.id.
    return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(["schemabus-registry", *parts]))[:249]


def resolve_max_request_bytes(options: RegistryOptions) -> int:
    value = options.max_request_bytes
    if value is None:
        text = property_from_env(MAX_REQUEST_BYTES_PROPERTY)
        if text is None:
            return DEFAULT_MAX_REQUEST_BYTES
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{MAX_REQUEST_BYTES_PROPERTY} must be a number of bytes, not {text!r}") from None
    if value < 1024:
        raise ValueError(f"{MAX_REQUEST_BYTES_PROPERTY} must be at least 1024 bytes, not {value}")
    return value


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--listen must be HOST:PORT, not {listen!r}")
    return host.strip("[]"), int(port)


class _Hello:
    """WSGI middleware answering /_hello without touching Flask: the server's own ceiling."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_hello":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
            return [b"hello"]
        return self.app(environ, start_response)


_SECRET_WORDS = ("password", "secret", "token", "jaas.config", "user.info", ".key.pem", "ssl.keystore.key")


def describe_properties(properties: dict[str, str]) -> str:
    """The properties for the log, secrets hidden (as Confluent logs its config, with [hidden])."""
    return ", ".join(f"{key}={'[hidden]' if any(w in key.lower() for w in _SECRET_WORDS) else value}"
                     for key, value in sorted(properties.items()))


def _listeners(options: RegistryOptions) -> list[Listener]:
    """Confluent's `listeners` property, else --listen (one http listener)."""
    text = options.properties.get("listeners")
    if text:
        return parse_listeners(text)
    host, port = split_listen(options.listen)
    return [Listener("http", host, port)]


def _check_tls_files(connection: dict[str, str]) -> None:
    """Unreadable kafkastore TLS files stop the start with their name (librdkafka would only say
    that a client could not be created)."""
    try:
        kafkastore.probe_tls_context(connection)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ValueError(f"kafkastore.ssl.*: cannot use the TLS files given: {exc}") from None


def _positive_int(properties: dict[str, str], name: str, default: int) -> int:
    text = (properties.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{name} must be a positive number of milliseconds, not {text!r}")
    return int(text)


class RegistryServer:
    def __init__(self, options: RegistryOptions):
        level = parse_level(options.compatibility)
        if level is None:
            raise ValueError(f"--compatibility must be one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, "
                             f"FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE; not {options.compatibility!r}")
        self.options = options
        self.listeners = _listeners(options)
        self.tls = (server_tls_context(options.properties)
                    if any(listener.scheme == "https" for listener in self.listeners) else None)
        self.host, self.port = self.listeners[0].host, self.listeners[0].port
        self.instance_id = resolve_instance_id(options, self.host, self.port)
        self.max_request_bytes = resolve_max_request_bytes(options)
        self.security = settings_from_properties(options.properties)
        self.bootstrap, self.connection = kafkastore.resolve(options.bootstrap_servers, options.properties)
        if options.properties:
            log.info("registry properties: %s", describe_properties(options.properties))
        if kafkastore.uses_tls(self.connection):
            _check_tls_files(self.connection)
        self.state = RegistryState()
        self.metrics = RegistryMetrics(self.state, lambda: self.election)
        self.store = KafkaStore(StoreConfig(self.bootstrap, options.topic, options.write_timeout_s,
                                            options.init_timeout_s, connection=self.connection), self.state)
        self.eligible = identity.eligibility(options.properties)
        protocol = identity.inter_instance_protocol(options.properties)  # a bad value stops the start here
        self.session_timeout_ms = _positive_int(options.properties, SESSION_TIMEOUT, 10000)
        self.heartbeat_interval_ms = _positive_int(options.properties, HEARTBEAT_INTERVAL,
                                                   min(1000, self.session_timeout_ms // 3))
        # TLS to the leader where instances may talk https (its files are checked at start).
        https = protocol == "https" or self.tls is not None
        self.forwarding = ForwardingSettings.from_properties(options.properties, options.write_timeout_s, https)
        self.election = None
        self.service: SchemaRegistry | None = None
        self.forwarder: Forwarder | None = None
        self.identity: identity.Identity | None = None
        self.http = None

    def start(self) -> None:
        self.store.start()
        self.election = choose_election(self.bootstrap, self.options.group_id, f"{self.options.topic}-leader",
                                        instance_id=self.instance_id, connection=self.connection,
                                        eligible=self.eligible, session_timeout_ms=self.session_timeout_ms,
                                        heartbeat_interval_ms=self.heartbeat_interval_ms)
        self.service = SchemaRegistry(self.state, self.store, self.election, parse_level(self.options.compatibility),
                                      self.options.group_id)
        # Listen before joining the group: a second instance started on a taken port (same derived
        # group.instance.id) must fail here, not fence the running one out of the group first.
        # Connections made meanwhile wait in the backlog until the election has settled.
        self._listen()
        self.election.identity = self.identity.to_json()
        log.info("instance identity %s", self.election.identity)
        try:
            self.election.start(self.store.sync, lambda: self.store.last_foreign_offset)
        except KafkaException as exc:
            raise StoreError(f"could not join leader election group {self.options.group_id} at "
                             f"{self.bootstrap}: {exc}") from None
        if not self.election.wait_settled(self.options.init_timeout_s):
            log.warning("leader election has not settled within %.0fs; serving reads, writes answer 50004 until "
                        "this instance is elected", self.options.init_timeout_s)

    def _listen(self) -> None:
        app = create_app(self.service)
        wsgi = app
        if self.options.read_cache:
            wsgi = ReadCache(wsgi, self.state)
        wsgi = self.metrics.serve(wsgi)  # behind authentication, in front of the cache (registry/metrics.py)
        if self.security is not None:  # in front of the cache: no answer, cached or not, skips it
            wsgi = Security(wsgi, app.url_map, self.security, self._subjects_of_id)
        if self.options.hello_endpoint:
            wsgi = _Hello(wsgi)
        wsgi = self.metrics.count(BodyLimit(wsgi, self.max_request_bytes), app.url_map)
        self.http = Endpoints(wsgi, self.listeners, self.tls, self.options.threads, self.max_request_bytes)
        self.http.bind()
        bound = [(listener.scheme, listener.host, int(url.rpartition(":")[2]))
                 for listener, url in zip(self.listeners, self.http.urls)]
        self.identity = identity.resolve(self.options.properties, bound)
        # The identity names a bound port, so the forwarder comes once the listeners are bound
        # (before any request is served: serve_forever() comes later).
        self.forwarder = app.config["FORWARDER"] = Forwarder(self.forwarding, self.election, self.store,
                                                             self.identity)

    def _subjects_of_id(self, schema_id: int) -> list[str]:
        try:
            found = self.service.subject_versions_for_id(schema_id, None, True)
        except Exception:  # an unknown id: the route answers it
            return []
        return list(dict.fromkeys(item["subject"] for item in found))

    @property
    def url(self) -> str:
        return self.http.urls[0]

    def serve_forever(self) -> None:
        self.http.serve_forever()

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.forwarder is not None:
            self.forwarder.close()
        if self.election is not None:
            self.election.close()
        self.store.close()


def run(options: RegistryOptions, ready_line: str = "schemabus registry ready: {url} "
                                                  "(bootstrap.servers={bootstrap}, topic={topic}, {role})") -> int:
    """Run until SIGINT/SIGTERM; the exit code."""
    server = RegistryServer(options)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.start()
        print(ready_line.format(url=server.url, bootstrap=server.bootstrap, topic=options.topic,
                                role=server.election.describe()), flush=True)
        server.serve_forever()
    except StoreError as exc:
        print(f"schemabus registry: {exc}", file=sys.stderr, flush=True)
        return 1
    except OSError as exc:  # the listener
        print(f"schemabus registry: cannot listen on {options.listen}: {exc}", file=sys.stderr, flush=True)
        return 1
    except SystemExit:
        pass
    finally:
        server.close()
    log.info("registry stopped")
    return 0
