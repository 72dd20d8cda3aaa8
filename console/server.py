"""`schemabus console`: the web console on waitress, default http://127.0.0.1:8080.

It is configured as the other services are, by properties with Kafka's and Confluent's names:
`bootstrap.servers` and any Kafka client property (security.protocol, sasl.*, ssl.*), taken by
every Kafka client the console makes; `schema.registry.url` and the registry client's
`schema.registry.*` settings (basic.auth.*, ssl.*); `connect.url`; `rest.url`;
`connect.basic.auth.user.info` / `rest.basic.auth.user.info` (user:password) and
`console.http.ssl.ca.location` (the CA of their https certificates); `listeners`;
`broker.metrics.url`, the broker's Prometheus endpoint (topic sizes and rates). Its own basic
authentication: `authentication.method=BASIC` and the rest of console/auth.py.
"""

from __future__ import annotations

import logging
import signal
import threading

import waitress

from console import auth
from console.app import create_app
from console.backends import Backends

log = logging.getLogger("console.server")

DEFAULT_LISTENER = "http://127.0.0.1:8080"
OWN_PREFIXES = ("schema.registry.", "connect.", "rest.", "console.", *auth.PROPERTY_PREFIXES)
OWN_NAMES = {"listeners", "broker.metrics.url", *auth.PROPERTY_NAMES}


def backends_from_properties(properties: dict[str, str]) -> Backends:
    if not properties.get("bootstrap.servers"):
        raise ValueError("bootstrap.servers is required (--bootstrap-server)")
    kafka = {k: v for k, v in properties.items() if not k.startswith(OWN_PREFIXES) and k not in OWN_NAMES}
    registry = None
    if properties.get("schema.registry.url"):
        registry = {"url": properties["schema.registry.url"],
                    **{k[len("schema.registry."):]: v for k, v in properties.items()
                       if k.startswith("schema.registry.") and k != "schema.registry.url"}}
    return Backends(kafka=kafka, registry=registry, connect_url=properties.get("connect.url") or None,
                    rest_url=properties.get("rest.url") or None,
                    connect_user_info=properties.get("connect.basic.auth.user.info") or None,
                    rest_user_info=properties.get("rest.basic.auth.user.info") or None,
                    http_ca_file=properties.get("console.http.ssl.ca.location") or None,
                    broker_metrics_url=properties.get("broker.metrics.url") or None)


def listener(properties: dict[str, str]) -> tuple[str, int]:
    text = properties.get("listeners") or DEFAULT_LISTENER
    first = text.split(",")[0].strip()
    scheme, _, hostport = first.partition("://")
    if scheme != "http" or ":" not in hostport:
        raise ValueError(f"listeners: expected http://HOST:PORT, got {first!r}")
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def run(properties: dict[str, str], threads: int = 8) -> int:
    host, port = listener(properties)
    app = create_app(backends_from_properties(properties),
                     {k: v for k, v in properties.items() if k.startswith("console.")})
    security = auth.settings_from_properties(properties)
    wsgi = app if security is None else auth.BasicAuth(app, security)  # every path, static assets too
    server = waitress.create_server(wsgi, host=host, port=port, threads=threads, ident="schemabus-console")
    stop = threading.Event()

    def shutdown(*_):
        stop.set()
        server.close()
    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    url = f"http://{host}:{server.effective_port}"
    print(f"schemabus console ready: {url}", flush=True)
    try:
        server.run()
    except (OSError, ValueError):
        if not stop.is_set():
            raise
    return 0

