"""`schemabus console`: the web console on cheroot (as the REST Proxy), default http://127.0.0.1:8080.

It is configured as the other services are, by properties with Kafka's and Confluent's names:
`bootstrap.servers` and any Kafka client property (security.protocol, sasl.*, ssl.*), taken by
every Kafka client the console makes; `schema.registry.url` and the registry client's
`schema.registry.*` settings (basic.auth.*, ssl.*); `connect.url`; `rest.url`;
`connect.basic.auth.user.info` / `rest.basic.auth.user.info` (user:password) and
`console.http.ssl.ca.location` (the CA of their https certificates); `listeners`;
`broker.metrics.url`, the broker's Prometheus endpoint (topic sizes and rates). Its own basic
authentication: `authentication.method=BASIC` and the rest of console/auth.py.

An https listener (`listeners=https://HOST:PORT`) takes its key and certificate from
`console.ssl.keystore.location` (PEM) and the registry's other `ssl.*` names behind the `console.`
prefix (`console.ssl.key.password`, `console.ssl.truststore.location`,
`console.ssl.client.authentication`): without the prefix, `ssl.*` are the Kafka clients' settings.
"""

from __future__ import annotations

import logging
import signal
import sys

from cheroot import wsgi

from console import auth
from console.app import create_app
from console.backends import Backends
from http_security import cheroot_tls
from http_security.tls import server_tls_context

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


def listener(properties: dict[str, str]) -> tuple[str, str, int]:
    """(scheme, host, port) of the first of `listeners`."""
    text = properties.get("listeners") or DEFAULT_LISTENER
    first = text.split(",")[0].strip()
    scheme, sep, address = first.partition("://")
    host, _, port = address.rpartition(":")
    if not sep or scheme.lower() not in ("http", "https") or not port.isdigit():
        raise ValueError(f"listeners: expected http://HOST:PORT or https://HOST:PORT, not {first!r}")
    return scheme.lower(), host.strip("[]") or "0.0.0.0", int(port)


def listener_tls(properties: dict[str, str]):
    """The https listener's TLS context, from the `console.ssl.*` properties."""
    return server_tls_context({k[len("console."):]: v for k, v in properties.items()
                               if k.startswith("console.ssl.")})


def run(properties: dict[str, str], threads: int = 8) -> int:
    try:
        scheme, host, port = listener(properties)
        tls = listener_tls(properties) if scheme == "https" else None
        backends = backends_from_properties(properties)
        security = auth.settings_from_properties(properties)
    except ValueError as exc:
        print(f"schemabus console: {exc}", file=sys.stderr, flush=True)
        return 2
    app = create_app(backends, {k: v for k, v in properties.items() if k.startswith("console.")})
    served = app if security is None else auth.BasicAuth(app, security)  # every path, static assets too
    if tls is not None:
        server = cheroot_tls.create_server(served, host, port, tls, threads, server_name="schemabus-console",
                                           log=logging.getLogger("console.https"))
    else:
        server = wsgi.Server((host, port), served, numthreads=threads, server_name="schemabus-console")
    server.prepare()  # binds, so the ready line below can name the port

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound_host, bound_port = server.bind_addr[:2]
    print(f"schemabus console ready: {scheme}://{bound_host}:{bound_port}", flush=True)
    try:
        server.serve()
    except SystemExit:
        pass
    finally:
        server.stop()
    log.info("console stopped")
    return 0
