"""`schemabus rest`: the REST Proxy on cheroot, configured with kafka-rest's property names.

cheroot (CherryPy's threaded WSGI server) rather than waitress: waitress reads a whole request body
before the application sees it, and v3's streaming produce answers each record while the body is
still arriving.

`bootstrap.servers`, `listeners` (`http://HOST:PORT` or `https://HOST:PORT`, the first one served;
default http://127.0.0.1:8082), and the pass-through prefixes: `client.*` for every Kafka client,
`producer.*` for the producer, `admin.*` for the admin client, `consumer.*` for consumer instances
(`consumer.instance.timeout.ms`, `consumer.request.timeout.ms` are the proxy's own), each in Kafka's
(Java) names, translated for librdkafka by kafka_properties (security.protocol, sasl.*, ssl.* with
PEM stores, ...); `schema.registry.url` and the registry client's `schema.registry.*` settings
(basic.auth.*, ssl.* as the serdes take them).

An https listener takes kafka-rest's (and the registry's) `ssl.keystore.location` / `.password` /
`.type`, `ssl.key.password`, `ssl.truststore.*`, `ssl.client.authentication` (PEM stores;
http_security/tls.py) and is served as the registry serves https (http_security/cheroot_tls.py).
Authentication (`authentication.method=BASIC`) and `rest.authorization`: rest/security.py.
"""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass, field

from cheroot import wsgi

from http_security import cheroot_tls
from http_security.tls import server_tls_context
from kafka_properties import PropertiesError, librdkafka_config
from registry_client import SchemaRegistryClient

from rest.app import create_app
from rest.clients import CallerBackend, CallerClients, Clients
from rest.consumers import DEFAULT_INSTANCE_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, ConsumerManager
from rest.security import Security, settings_from_properties

log = logging.getLogger("rest.server")

DEFAULT_LISTENER = "http://127.0.0.1:8082"
# consumer.* settings that are the proxy's own, not the Kafka consumer's.
PROXY_CONSUMER_SETTINGS = {"instance.timeout.ms", "request.timeout.ms", "request.max.bytes", "threads",
                           "iterator.backoff.ms"}


@dataclass
class RestOptions:
    properties: dict[str, str] = field(default_factory=dict)
    threads: int = 16


def _prefixed(properties: dict[str, str], prefix: str) -> dict[str, str]:
    return {k[len(prefix):]: v for k, v in properties.items() if k.startswith(prefix)}


def client_configs(properties: dict[str, str]) -> tuple[dict, dict, dict]:
    """(every client's, the producer's, the admin client's) librdkafka configs."""
    if not properties.get("bootstrap.servers"):
        raise ValueError("bootstrap.servers is required (--bootstrap-server)")
    client = librdkafka_config({"bootstrap.servers": properties["bootstrap.servers"],
                                **_prefixed(properties, "client.")})
    return (client, librdkafka_config(_prefixed(properties, "producer.")),
            librdkafka_config(_prefixed(properties, "admin.")))


def registry_client(properties: dict[str, str]) -> SchemaRegistryClient | None:
    """The registry client of `schema.registry.url` and `schema.registry.*` (None without a URL:
    the schema formats then answer 42206, as kafka-rest's)."""
    url = properties.get("schema.registry.url")
    if not url:
        return None
    settings = {k: v for k, v in _prefixed(properties, "schema.registry.").items() if k != "url"}
    return SchemaRegistryClient({"url": url, **settings})


def listener(properties: dict[str, str]) -> tuple[str, str, int]:
    """(scheme, host, port) of the first of `listeners`."""
    text = properties.get("listeners") or DEFAULT_LISTENER
    first = text.split(",")[0].strip()
    scheme, sep, address = first.partition("://")
    host, _, port = address.rpartition(":")
    if not sep or scheme.lower() not in ("http", "https") or not port.isdigit():
        raise ValueError(f"listeners: expected http://HOST:PORT or https://HOST:PORT, not {first!r}")
    return scheme.lower(), host.strip("[]") or "0.0.0.0", int(port)


def _int(properties: dict[str, str], name: str, default: int) -> int:
    try:
        return int(properties.get(name, default))
    except ValueError:
        raise ValueError(f"{name} must be a number, not {properties[name]!r}") from None


def run(options: RestOptions) -> int:
    properties = options.properties
    try:
        client, producer, admin = client_configs(properties)
        scheme, host, port = listener(properties)
        tls = server_tls_context(properties) if scheme == "https" else None
        instance_timeout_ms = _int(properties, "consumer.instance.timeout.ms", DEFAULT_INSTANCE_TIMEOUT_MS)
        request_timeout_ms = _int(properties, "consumer.request.timeout.ms", DEFAULT_REQUEST_TIMEOUT_MS)
        consumer_settings = librdkafka_config({k: v for k, v in _prefixed(properties, "consumer.").items()
                                               if k not in PROXY_CONSUMER_SETTINGS})
        security = settings_from_properties(properties, instance_timeout_ms)
    except (ValueError, PropertiesError) as exc:
        print(f"schemabus rest: {exc}", file=sys.stderr, flush=True)
        return 2

    def make_clients(config: dict) -> Clients:
        return Clients(CallerBackend(config, producer, admin),
                       ConsumerManager(config, consumer_settings, instance_timeout_ms, request_timeout_ms))

    callers = None
    if security is not None and security.authorization:
        # Every request runs on its caller's clients: the proxy makes none of its own.
        service = None
        callers = CallerClients(client, make_clients, security.idle_timeout_s)
        log.info("rest.authorization: each caller's Authorization header is its Kafka identity")
    else:
        service = make_clients(client)
    app = create_app(service and service.kafka, service and service.consumers, registry_client(properties),
                     properties, Security(None, security, callers) if security is not None else None)
    if tls is not None:
        server = cheroot_tls.create_server(app, host, port, tls, options.threads, server_name="schemabus-rest",
                                           log=logging.getLogger("rest.https"))
    else:
        server = wsgi.Server((host, port), app, numthreads=options.threads, server_name="schemabus-rest")
    server.prepare()  # binds, so the ready line below can name the port

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound_host, bound_port = server.bind_addr[:2]
    print(f"schemabus rest ready: {scheme}://{bound_host}:{bound_port} "
          f"(bootstrap.servers={client['bootstrap.servers']})", flush=True)
    try:
        server.serve()
    except SystemExit:
        pass
    finally:
        server.stop()
        if callers is not None:
            callers.close()
        if service is not None:
            service.close()
    log.info("rest proxy stopped")
    return 0
