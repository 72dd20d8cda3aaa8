"""Starting a worker: `connect-standalone worker.properties [connector.properties|.json ...]` and
`connect-distributed worker.properties` (also `schemabus connect standalone|distributed`)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys

from cheroot import wsgi
from confluent_kafka.admin import AdminClient

from connect.config_def import ConfigException
from connect.errors import ConnectException
from connect.herder import HerderError
from connect.plugins import Plugins
from connect.rest import create_app
from connect.storage.offsets import FileOffsetBackingStore
from connect.worker_config import WorkerConfig
from kafka_properties import PropertiesError, read_properties

log = logging.getLogger("connect.server")
REST_THREADS = 16


def read_connector_file(path: str) -> tuple[str, dict]:
    """(name, config) from a .properties file or a JSON file ({"name", "config"} or a flat map)."""
    if path.endswith(".json"):
        with open(path) as f:
            body = json.load(f)
        config = body.get("config", body) if isinstance(body, dict) else None
        if not isinstance(config, dict):
            raise ConnectException(f"{path}: expected a JSON object")
        name = body.get("name") or config.get("name")
    else:
        config = read_properties(path)
        name = config.get("name")
    if not name:
        raise ConnectException(f"{path}: the connector config has no name")
    config = {str(k): str(v) for k, v in config.items()}
    config["name"] = name
    return name, config


def kafka_cluster_id(config: WorkerConfig) -> str | None:
    try:
        return AdminClient(config.client_config("admin")).list_topics(timeout=10).cluster_id
    except Exception as exc:
        log.warning("could not read the Kafka cluster id: %s", exc)
        return None


def _serve(herder, config: WorkerConfig, cluster_id: str | None, on_bound=None) -> int:
    scheme, host, port = config.listener()
    if scheme != "http":
        print(f"connect: listeners: only http:// is served (got {scheme}://)", file=sys.stderr, flush=True)
        return 2
    app = create_app(herder, cluster_id)
    server = wsgi.Server((host or "0.0.0.0", port), app, numthreads=REST_THREADS, server_name="schemabus-connect")
    server.prepare()
    bound_port = server.bind_addr[1]
    if on_bound is not None:
        on_bound(bound_port)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"schemabus connect ready: http://{host or '0.0.0.0'}:{bound_port} "
          f"(worker {herder.worker_id}, bootstrap.servers={','.join(config['bootstrap.servers'])})", flush=True)
    try:
        server.serve()
    except SystemExit:
        pass
    finally:
        server.stop()
        herder.stop()
    log.info("Kafka Connect stopped")
    return 0


def run_standalone(worker_file: str, connector_files: list[str], overrides: dict | None = None) -> int:
    from connect.standalone import StandaloneHerder

    try:
        props = {**read_properties(worker_file), **(overrides or {})}
        config = WorkerConfig(props, distributed=False)
        connectors = [read_connector_file(path) for path in connector_files]
    except (ConfigException, ConnectException, PropertiesError, OSError, ValueError) as exc:
        print(f"connect-standalone: {exc}", file=sys.stderr, flush=True)
        return 2
    plugins = Plugins(config.get("plugin.path", []))
    _, _, port = config.listener()
    worker_id = config.worker_id(port or None)
    herder = StandaloneHerder(config, plugins, FileOffsetBackingStore(config["offset.storage.file.filename"]),
                              worker_id)
    herder.start()
    for name, connector_config in connectors:
        try:
            herder.put_connector_config(name, connector_config, allow_replace=False)
        except HerderError as exc:
            print(f"connect-standalone: connector {name}: {exc.message}", file=sys.stderr, flush=True)
            herder.stop()
            return 1
    return _serve(herder, config, kafka_cluster_id(config))


def run_distributed(worker_file: str, overrides: dict | None = None) -> int:
    from connect.distributed import DistributedHerder

    try:
        props = {**read_properties(worker_file), **(overrides or {})}
        config = WorkerConfig(props, distributed=True)
    except (ConfigException, ConnectException, PropertiesError, OSError, ValueError) as exc:
        print(f"connect-distributed: {exc}", file=sys.stderr, flush=True)
        return 2
    plugins = Plugins(config.get("plugin.path", []))
    herder = DistributedHerder(config, plugins)

    def bound(port: int) -> None:
        herder.set_rest_url(config.advertised_url(port), config.worker_id(port))
        herder.start()

    return _serve(herder, config, kafka_cluster_id(config), on_bound=bound)


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--config expects key=value, not {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def standalone_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="connect-standalone",
                                     description="Run a standalone Kafka Connect worker (Python)")
    parser.add_argument("worker_properties")
    parser.add_argument("connector_configs", nargs="*", help=".properties or .json connector configs")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="a worker property overriding the file's")
    args = parser.parse_args(argv)
    _logging()
    return run_standalone(args.worker_properties, args.connector_configs, _overrides(args.config))


def distributed_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="connect-distributed",
                                     description="Run a distributed Kafka Connect worker (Python)")
    parser.add_argument("worker_properties")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="a worker property overriding the file's")
    args = parser.parse_args(argv)
    _logging()
    return run_distributed(args.worker_properties, _overrides(args.config))
