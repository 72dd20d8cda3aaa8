"""The `schemabus` command: `up`, `broker`, `registry`, `rest`, `connect`, the admin tools and `log verify|dump`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from broker.config import BrokerConfig, ConfigError, parse_key_values
from cli.acls import add_acls_commands
from cli.users import add_users_commands
from cli.admin import add_admin_commands
from cli.streams_admin import add_streams_commands
from cli.console import add_console_commands
from cli.log_tool import add_log_commands
from cli.registry_users import add_registry_users_commands
from cli.output import CommandError

DEFAULT_DATA_DIR = "./schemabus-data"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def _start_broker(data_dir: Path, listen: str, config: BrokerConfig):
    """(started broker, event set by SIGINT/SIGTERM)."""
    from broker.broker import Broker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    broker = Broker(data_dir, listen, config)
    await broker.start()
    return broker, stop


async def _run_broker(data_dir: Path, listen: str, config: BrokerConfig, ready_line: str) -> None:
    broker, stop = await _start_broker(data_dir, listen, config)
    host, port = broker.advertised
    print(ready_line.format(bootstrap=f"{host}:{port}"), flush=True)
    try:
        await stop.wait()
    finally:
        await broker.stop()


DEFAULT_METRICS_LISTEN = "127.0.0.1:9308"  # kafka_exporter's port: where Kafka dashboards look


def _with_metrics_listen(overrides: dict[str, str], listen: str | None) -> dict[str, str]:
    """--metrics-listen as schemabus.metrics.listen ('' turns the endpoint off); --config wins."""
    if listen is not None:
        overrides.setdefault("schemabus.metrics.listen", listen)
    return overrides


def cmd_broker(args) -> int:
    config = BrokerConfig(_with_metrics_listen(parse_key_values(args.config), args.metrics_listen))
    asyncio.run(_run_broker(Path(config.log_dir(args.data_dir)), args.listen, config,
                            "schemabus broker ready: bootstrap.servers={bootstrap}"))
    return 0


def cmd_registry(args) -> int:
    from cli.registry_config import registry_properties
    from registry.server import RegistryOptions, run

    options = RegistryOptions(bootstrap_servers=args.bootstrap_server or "", listen=args.listen, topic=args.topic,
                              compatibility=args.compatibility, group_id=args.group_id, threads=args.threads,
                              init_timeout_s=args.init_timeout, write_timeout_s=args.write_timeout,
                              hello_endpoint=args.hello_endpoint, read_cache=not args.no_read_cache,
                              instance_id=args.instance_id, max_request_bytes=args.max_request_body_size,
                              properties=registry_properties(args.properties_file, args.config))
    try:
        return run(options)
    except ValueError as exc:
        print(f"schemabus registry: {exc}", file=sys.stderr)
        return 2


def cmd_rest(args) -> int:
    from cli.registry_config import registry_properties
    from rest.server import RestOptions, run

    properties = registry_properties(args.properties_file, args.config)
    if args.bootstrap_server:
        properties["bootstrap.servers"] = args.bootstrap_server
    if args.listen:  # the scheme of `listeners` (https with ssl.keystore.*), else http
        scheme = (properties.get("listeners") or "http://").partition("://")[0].strip().lower() or "http"
        properties["listeners"] = f"{scheme if scheme in ('http', 'https') else 'http'}://{args.listen}"
    if args.schema_registry_url:
        properties["schema.registry.url"] = args.schema_registry_url
    return run(RestOptions(properties=properties))


async def _start_child(command: str, args: list[str], timeout: float = 120.0):
    """`schemabus COMMAND ARGS` as a child process; (process, its URL once it prints its ready line,
    or None when it exits or times out first)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "cli.main", command, *args,
                                                stdout=asyncio.subprocess.PIPE)

    async def ready_url():
        while True:
            line = await proc.stdout.readline()
            if not line:
                return None
            text = line.decode(errors="replace").strip()
            if "ready" in text:
                return text.split("ready:", 1)[-1].split()[0]

    try:
        url = await asyncio.wait_for(ready_url(), timeout)
    except asyncio.TimeoutError:
        url = None
    return proc, url


async def _start_registry_child(bootstrap: str, listen: str, timeout: float = 120.0,
                                properties: Path | None = None):
    """`schemabus registry` as a child process pointed at the broker; its URL once it is ready."""
    return await _start_child("registry", [*([str(properties)] if properties else []), "--bootstrap-server", bootstrap,
                                           "--listen", listen], timeout)


async def _start_rest_child(bootstrap: str, listen: str, registry_url: str, timeout: float = 120.0,
                            properties: Path | None = None):
    """`schemabus rest` (the REST Proxy) as a child process; its URL once it is ready."""
    return await _start_child("rest", [*([str(properties)] if properties else []), "--bootstrap-server", bootstrap,
                                       "--listen", listen, "--schema-registry-url", registry_url], timeout)


def connect_worker_properties(bootstrap: str, listen: str, registry_url: str, secure=None) -> dict[str, str]:
    """The distributed Connect worker `up` runs: one worker in the group `connect-cluster`, keys as
    strings and values as Avro through the registry (Confluent Platform's quickstart choice)."""
    props = {"bootstrap.servers": bootstrap, "group.id": "connect-cluster", "listeners": f"http://{listen}",
             "config.storage.topic": "connect-configs", "offset.storage.topic": "connect-offsets",
             "status.storage.topic": "connect-status", "config.storage.replication.factor": "1",
             "offset.storage.replication.factor": "1", "status.storage.replication.factor": "1",
             "key.converter": "org.apache.kafka.connect.storage.StringConverter",
             "value.converter": "io.confluent.connect.avro.AvroConverter",
             "value.converter.schema.registry.url": registry_url, "offset.flush.interval.ms": "10000",
             # One worker: nothing to wait for when it restarts.
             "scheduled.rebalance.max.delay.ms": "0"}
    if secure is not None:
        props.update({k: v for k, v in secure.kafka_client_properties(bootstrap).items() if k != "bootstrap.servers"})
        props.update({f"value.converter.{k}": v for k, v in secure.registry_client_properties().items()})
    return props


async def _start_console_child(bootstrap: str, listen: str, registry_url: str, connect_url: str, rest_url: str,
                               broker_metrics_url: str | None = None, timeout: float = 120.0,
                               properties: Path | None = None):
    """`schemabus console` (the web console) as a child process; its URL once it is ready."""
    args = [*([str(properties)] if properties else []), "--bootstrap-server", bootstrap, "--listen", listen,
            "--schema-registry-url", registry_url, "--connect-url", connect_url, "--rest-url", rest_url]
    if broker_metrics_url:  # topic sizes and rates
        args += ["--broker-metrics-url", broker_metrics_url]
    return await _start_child("console", args, timeout)


async def _start_connect_child(properties: Path, timeout: float = 120.0):
    """`schemabus connect distributed` (a Kafka Connect worker) as a child process; its URL once ready."""
    return await _start_child("connect", ["distributed", str(properties)], timeout)


async def _stop_child(proc, timeout: float = 15.0) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


async def _run_up(data_dir: Path, listen: str, config: BrokerConfig, registry_listen: str,
                  secure=None, rest_listen: str = "127.0.0.1:8082", connect_listen: str = "127.0.0.1:8083",
                  console_listen: str = "127.0.0.1:8080") -> int:
    broker, stop = await _start_broker(data_dir, listen, config)
    host, port = broker.advertised
    bootstrap = f"{host}:{port}"
    children = []
    try:
        registry_properties = rest_properties = None
        if secure is not None:
            registry_properties = secure.write_private("registry.properties", "".join(
                f"{k}={v}\n" for k, v in secure.registry_properties(registry_listen).items()))
        proc, url = await _start_registry_child(bootstrap, registry_listen, properties=registry_properties)
        children.append(("the schema registry", proc))
        if url is None:
            print("schemabus up: the schema registry did not start (see its log above)", file=sys.stderr, flush=True)
            return 1
        if secure is not None:
            rest_properties = secure.write_private("rest.properties", "".join(
                f"{k}={v}\n" for k, v in secure.rest_properties(rest_listen).items()))
        proc, rest_url = await _start_rest_child(bootstrap, rest_listen, url, properties=rest_properties)
        children.append(("the REST Proxy", proc))
        if rest_url is None:
            print("schemabus up: the REST Proxy did not start (see its log above)", file=sys.stderr, flush=True)
            return 1
        worker = connect_worker_properties(bootstrap, connect_listen, url, secure)
        text = "".join(f"{k}={v}\n" for k, v in worker.items())
        if secure is not None:
            worker_file = secure.write_private("connect-worker.properties", text)
        else:
            worker_file = data_dir.parent / "connect-worker.properties"
            worker_file.write_text(text)
        proc, connect_url = await _start_connect_child(worker_file)
        children.append(("Kafka Connect", proc))
        if connect_url is None:
            print("schemabus up: Kafka Connect did not start (see its log above)", file=sys.stderr, flush=True)
            return 1
        console_properties = None
        if secure is not None:  # the admin's credentials in a private file, never on a command line
            console_properties = secure.write_private("console.properties", "".join(
                f"{k}={v}\n" for k, v in secure.console_properties(bootstrap, console_listen).items()))
        proc, console_url = await _start_console_child(bootstrap, console_listen, url, connect_url, rest_url,
                                                       broker.metrics_endpoint.url, properties=console_properties)
        children.append(("the web console", proc))
        if console_url is None:
            print("schemabus up: the web console did not start (see its log above)", file=sys.stderr, flush=True)
            return 1
        if secure is not None:
            secure.write_client_properties(bootstrap, url, secure.registry_client_properties())
            secure.write_rest_client(rest_url)
            _print_secure_summary(secure, bootstrap, url, rest_url)
        _print_metrics_urls(broker.metrics_endpoint.url, url, rest_url, connect_url)
        print(f"schemabus up: broker at {bootstrap}, schema registry at {url}, REST Proxy at {rest_url}, "
              f"Kafka Connect at {connect_url}, web console at {console_url} "
              f"(Ctrl-C stops)", flush=True)
        exits = {asyncio.ensure_future(proc.wait()): name for name, proc in children}
        drains = [asyncio.ensure_future(proc.stdout.read()) for _, proc in children]
        stopped = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({*exits, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, *drains, *exits):
            task.cancel()
        exited = [exits[task] for task in done if task in exits]
        if exited and not stop.is_set():
            name = exited[0]
            code = dict(children)[name].returncode
            print(f"schemabus up: {name} exited with code {code}", file=sys.stderr, flush=True)
            return 1
        return 0
    finally:
        for _, proc in reversed(children):
            await _stop_child(proc)
        await broker.stop()


def _print_metrics_urls(broker_url: str | None, registry_url: str, rest_url: str, connect_url: str) -> None:
    """Where Prometheus scrapes each service (docs/prometheus.yml; `schemabus status` reads them).
    Before the summary line, which stays the last and the first to start with "schemabus up:"."""
    urls = [("broker", broker_url), ("schema registry", f"{registry_url.rstrip('/')}/metrics"),
            ("REST Proxy", f"{rest_url.rstrip('/')}/metrics"), ("Kafka Connect", f"{connect_url.rstrip('/')}/metrics")]
    print("schemabus up metrics: " + ", ".join(f"{name} {u}" for name, u in urls if u), flush=True)


def _print_secure_summary(secure, bootstrap: str, url: str, rest_url: str) -> None:
    """Where the admin's client settings are and how to use them; never the password itself."""
    props = secure.client_properties
    print(f"schemabus up --secure: broker SASL_SSL (SCRAM) with ACLs at {bootstrap}, registry HTTPS with basic "
          f"authentication at {url}, REST Proxy HTTPS at {rest_url} (basic authentication with a broker user's "
          f"SCRAM credentials, Kafka's ACLs per caller), the web console behind basic authentication (the admin "
          f"user), certificates from the CA {secure.ca_file}", flush=True)
    print(f"schemabus up --secure: super user 'admin', password in {secure.directory / 'admin.password'}; its "
          f"client properties in {props}, e.g.\n"
          f"  kafka-console-producer --bootstrap-server {bootstrap} --producer.config {props} --topic t\n"
          f"  schemabus topics list --bootstrap-server {bootstrap} --command-config {props}\n"
          f"  curl -K {secure.rest_curl_config} {rest_url}/v3/clusters", flush=True)


def cmd_up(args) -> int:
    overrides = parse_key_values(args.config)
    data_dir = Path(args.data_dir)
    secure = None
    scheme = "http"
    if args.secure:
        from cli.secure import prepare

        secure = prepare(data_dir, data_dir / "broker")
        scheme = "https"
        for key, value in {**secure.broker_configs(args.listen), **secure.broker_registry_client()}.items():
            overrides.setdefault(key, value)
    # The broker validates schema-governed topics against the registry that `up` starts.
    if "schema.registry.url" not in overrides:
        overrides.setdefault("confluent.schema.registry.url", f"{scheme}://{args.registry_listen}")
    config = BrokerConfig(_with_metrics_listen(overrides, args.metrics_listen))
    return asyncio.run(_run_up(data_dir / "broker", args.listen, config, args.registry_listen, secure,
                               args.rest_listen, args.connect_listen, args.console_listen))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schemabus", description="Schema-governed messaging platform")
    parser.add_argument("--log-level", default=os.environ.get("SCHEMABUS_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)

    broker = sub.add_parser("broker", help="run the Kafka-compatible broker")
    broker.add_argument("--data-dir", help=f"the log directory (default: log.dirs, else {DEFAULT_DATA_DIR}/broker)")
    broker.add_argument("--listen", default="127.0.0.1:9092",
                        help="host:port to listen on (plaintext), or listeners as Kafka writes them: "
                             "NAME://host:port,... (--config listeners=... wins)")
    broker.add_argument("--config", action="append", metavar="KEY=VALUE",
                        help="a Kafka broker config, e.g. num.partitions=3 (repeatable)")
    broker.add_argument("--metrics-listen", metavar="HOST:PORT",
                        help="serve Prometheus metrics at http://HOST:PORT/metrics (schemabus.metrics.listen; "
                             "default: off)")
    broker.set_defaults(func=cmd_broker)

    up = sub.add_parser("up", help="run the whole platform on this machine")
    up.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    up.add_argument("--listen", default="127.0.0.1:9092", help="broker host:port")
    up.add_argument("--config", action="append", metavar="KEY=VALUE", help="a Kafka broker config (repeatable)")
    up.add_argument("--registry-listen", default="127.0.0.1:8081", help="schema registry host:port")
    up.add_argument("--rest-listen", default="127.0.0.1:8082", help="REST Proxy host:port")
    up.add_argument("--connect-listen", default="127.0.0.1:8083", help="Kafka Connect worker's REST API host:port")
    up.add_argument("--console-listen", default="127.0.0.1:8080", help="the web console's host:port")
    up.add_argument("--metrics-listen", default=DEFAULT_METRICS_LISTEN, metavar="HOST:PORT",
                    help="the broker's Prometheus endpoint (default %(default)s; '' turns it off); the registry, "
                         "REST Proxy and Connect serve /metrics on their own ports")
    up.add_argument("--secure", action="store_true",
                    help="TLS, SASL/SCRAM and ACLs on the broker, HTTPS and basic auth on the registry and the REST "
                         "Proxy (whose callers are broker users), basic auth on the web console; a local CA and an "
                         "admin user under <data-dir>/security, client settings in its client.properties")
    up.set_defaults(func=cmd_up)

    reg = sub.add_parser("registry", help="run the Confluent-compatible Schema Registry")
    reg.add_argument("properties_file", nargs="?", metavar="schema-registry.properties",
                     help="Confluent's registry properties (listeners, ssl.*, authentication.*, kafkastore.*)")
    reg.add_argument("--config", action="append", metavar="KEY=VALUE",
                     help="a registry property, overriding the file's (repeatable)")
    reg.add_argument("--bootstrap-server", metavar="HOST:PORT",
                     help="Kafka bootstrap servers holding the schemas topic (comma-separated; "
                          "default: kafkastore.bootstrap.servers)")
    reg.add_argument("--listen", default="127.0.0.1:8081", help="host:port to serve the REST API on")
    reg.add_argument("--topic", default="_schemas", help="the schemas topic (created if missing)")
    reg.add_argument("--compatibility", default="BACKWARD", help="default compatibility level")
    reg.add_argument("--group-id", default="schema-registry",
                     help="consumer group used to elect the writer among registry instances")
    reg.add_argument("--threads", type=int, default=8, help="HTTP worker threads")
    reg.add_argument("--init-timeout", type=float, default=60.0,
                     help="seconds to wait for the broker and the replay at start")
    reg.add_argument("--write-timeout", type=float, default=10.0,
                     help="seconds a write may take to be acknowledged and read back (then 50002)")
    reg.add_argument("--instance-id", default=None,
                     help="group.instance.id for static membership in the writer election (default: derived "
                          "from the host name and listener; '' turns it off)")
    reg.add_argument("--max-request-body-size", type=int, default=None, metavar="BYTES",
                     help="largest request body, larger ones get 413 "
                          "(Confluent's size.limit.filter.max.request.body.size; default 4 MiB)")
    reg.add_argument("--hello-endpoint", action="store_true", help=argparse.SUPPRESS)
    reg.add_argument("--no-read-cache", action="store_true", help=argparse.SUPPRESS)
    reg.set_defaults(func=cmd_registry)
    rest = sub.add_parser("rest", help="run the REST Proxy (Confluent kafka-rest's v2 and v3 APIs)")
    rest.add_argument("properties_file", nargs="?", metavar="kafka-rest.properties",
                      help="kafka-rest's properties (bootstrap.servers, listeners, client.*, producer.*, admin.*)")
    rest.add_argument("--config", action="append", metavar="KEY=VALUE", help="a property, overriding the file's")
    rest.add_argument("--bootstrap-server", metavar="HOST:PORT", help="Kafka bootstrap servers")
    rest.add_argument("--listen", metavar="HOST:PORT",
                      help="where to serve (default 127.0.0.1:8082; https when `listeners` is https://...)")
    rest.add_argument("--schema-registry-url", metavar="URL", help="the schema registry (schema.registry.url)")
    rest.set_defaults(func=cmd_rest)
    add_connect_commands(sub)
    add_web_console_command(sub)
    add_admin_commands(sub)
    add_streams_commands(sub)
    add_acls_commands(sub)
    add_users_commands(sub)
    add_console_commands(sub)
    add_log_commands(sub)
    add_registry_users_commands(sub)
    return parser


def add_web_console_command(sub) -> None:
    console = sub.add_parser("console", help="run the web console (pages over the broker, registry, Connect and "
                                             "REST Proxy)")
    console.add_argument("properties_file", nargs="?", metavar="console.properties",
                         help="bootstrap.servers and Kafka client properties, schema.registry.url and "
                              "schema.registry.*, connect.url, rest.url, listeners")
    console.add_argument("--config", action="append", metavar="KEY=VALUE", help="a property, overriding the file's")
    console.add_argument("--bootstrap-server", metavar="HOST:PORT", help="Kafka bootstrap servers")
    console.add_argument("--listen", metavar="HOST:PORT", help="where to serve (default 127.0.0.1:8080)")
    console.add_argument("--schema-registry-url", metavar="URL", help="the schema registry (schema.registry.url)")
    console.add_argument("--connect-url", metavar="URL", help="Kafka Connect's REST API (connect.url)")
    console.add_argument("--rest-url", metavar="URL", help="the REST Proxy (rest.url)")
    console.add_argument("--broker-metrics-url", metavar="URL",
                         help="the broker's Prometheus endpoint, for topic sizes and rates (broker.metrics.url)")
    console.set_defaults(func=cmd_console)


def cmd_console(args) -> int:
    from cli.registry_config import registry_properties
    from console.server import run

    properties = registry_properties(args.properties_file, args.config)
    for key, value in (("bootstrap.servers", args.bootstrap_server), ("schema.registry.url", args.schema_registry_url),
                       ("connect.url", args.connect_url), ("rest.url", args.rest_url),
                       ("broker.metrics.url", args.broker_metrics_url)):
        if value:
            properties[key] = value
    if args.listen:  # the scheme of `listeners` (https with console.ssl.keystore.*), else http
        scheme = (properties.get("listeners") or "http://").partition("://")[0].strip().lower() or "http"
        properties["listeners"] = f"{scheme if scheme in ('http', 'https') else 'http'}://{args.listen}"
    return run(properties)


def add_connect_commands(sub) -> None:
    connect = sub.add_parser("connect", help="run a Kafka Connect worker (Python runtime, Kafka's REST API)")
    modes = connect.add_subparsers(dest="mode", required=True)
    standalone = modes.add_parser("standalone", help="as connect-standalone")
    standalone.add_argument("worker_properties")
    standalone.add_argument("connector_configs", nargs="*", help=".properties or .json connector configs")
    standalone.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                            help="a worker property overriding the file's")
    standalone.set_defaults(func=cmd_connect)
    distributed = modes.add_parser("distributed", help="as connect-distributed")
    distributed.add_argument("worker_properties")
    distributed.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                             help="a worker property overriding the file's")
    distributed.set_defaults(func=cmd_connect)


def cmd_connect(args) -> int:
    from connect import server

    argv = [args.worker_properties] + [f"--config={pair}" for pair in args.config]
    if args.mode == "standalone":
        return server.standalone_main(argv + list(args.connector_configs))
    return server.distributed_main(argv)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        return args.func(args) or 0
    except CommandError as exc:
        print(f"schemabus: {exc}", file=sys.stderr)
        return exc.code
    except ConfigError as exc:
        print(f"schemabus: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"schemabus: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
