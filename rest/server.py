"""`schemabus rest`: the REST Proxy on cheroot, configured with kafka-rest's property names.

cheroot (CherryPy's threaded WSGI server) rather than waitress: waitress reads a whole request body
before the application sees it, and v3's streaming produce answers each record while the body is
still arriving.

`bootstrap.servers`, `listeners` (http only so far; default http://127.0.0.1:8082), and the
pass-through prefixes: `client.*` for every Kafka client, `producer.*` for the producer,
`admin.*` for the admin client, `consumer.*` for consumer instances
(`consumer.instance.timeout.ms`, `consumer.request.timeout.ms` are the proxy's own), each in Kafka's (Java) names, translated for librdkafka by
kafka_properties (security.protocol, sasl.*, ssl.* with PEM stores, ...); `schema.registry.url`
and the registry client's `schema.registry.*` settings (basic.auth.*, ssl.* as the serdes take them).
"""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass, field

from cheroot import wsgi
from kafka_properties import PropertiesError, librdkafka_config

from registry_client import SchemaRegistryClient

from rest.app import create_app
from rest.consumers import DEFAULT_INSTANCE_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, ConsumerManager
from rest.kafka import KafkaBackend

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


def listener(properties: dict[str, str]) -> tuple[str, int]:
    text = properties.get("listeners") or DEFAULT_LISTENER
    first = text.split(",")[0].strip()
    scheme, sep, address = first.partition("://")
    host, _, port = address.rpartition(":")
    if not sep or scheme != "http" or not port.isdigit():
        raise ValueError(f"listeners: expected http://HOST:PORT (https is not served yet), not {first!r}")
    return host or "0.0.0.0", int(port)


def run(options: RestOptions) -> int:
    try:
        client, producer, admin = client_configs(options.properties)
        host, port = listener(options.properties)
    except (ValueError, PropertiesError) as exc:
        print(f"schemabus rest: {exc}", file=sys.stderr, flush=True)
        return 2
    backend = KafkaBackend(client, producer, admin)
    consumer_settings = {k: v for k, v in _prefixed(options.properties, "consumer.").items()
                         if k not in PROXY_CONSUMER_SETTINGS}
    consumers = ConsumerManager(client, librdkafka_config(consumer_settings),
                                int(options.properties.get("consumer.instance.timeout.ms", DEFAULT_INSTANCE_TIMEOUT_MS)),
                                int(options.properties.get("consumer.request.timeout.ms", DEFAULT_REQUEST_TIMEOUT_MS)))
    app = create_app(backend, consumers, registry_client(options.properties), options.properties)
    server = wsgi.Server((host, port), app, numthreads=options.threads, server_name="schemabus-rest")
    server.prepare()  # binds, so the ready line below can name the port

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound_host, bound_port = server.bind_addr[:2]
    print(f"schemabus rest ready: http://{bound_host}:{bound_port} (bootstrap.servers={client['bootstrap.servers']})",
          flush=True)
    try:
        server.serve()
    except SystemExit:
        pass
    finally:
        server.stop()
        consumers.close()
        backend.close()
    log.info("rest proxy stopped")
    return 0
