"""Running the registry: one process, one in-memory state, served by waitress (a threaded WSGI server).

Start-up: reach the broker, create `_schemas` if missing, replay it, elect (or become) the writer,
then listen. SIGINT/SIGTERM stop the HTTP server, the election and the store cleanly.
"""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass

import waitress
from confluent_kafka import KafkaException

from registry.app import create_app
from registry.cache import ReadCache
from registry.compatibility import DEFAULT_LEVEL, parse_level
from registry.election import choose_election
from registry.service import SchemaRegistry
from registry.state import RegistryState
from registry.store import KafkaStore, StoreConfig, StoreError

log = logging.getLogger("registry.server")


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


class RegistryServer:
    def __init__(self, options: RegistryOptions):
        level = parse_level(options.compatibility)
        if level is None:
            raise ValueError(f"--compatibility must be one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, "
                             f"FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE; not {options.compatibility!r}")
        self.options = options
        self.host, self.port = split_listen(options.listen)
        self.state = RegistryState()
        self.store = KafkaStore(StoreConfig(options.bootstrap_servers, options.topic, options.write_timeout_s,
                                            options.init_timeout_s), self.state)
        self.election = None
        self.service: SchemaRegistry | None = None
        self.http = None

    def start(self) -> None:
        self.store.start()
        self.election = choose_election(self.options.bootstrap_servers, self.options.group_id,
                                        f"{self.options.topic}-leader")
        try:
            self.election.start(self.store.sync)
        except KafkaException as exc:
            raise StoreError(f"could not join leader election group {self.options.group_id} at "
                             f"{self.options.bootstrap_servers}: {exc}") from None
        if not self.election.wait_settled(self.options.init_timeout_s):
            log.warning("leader election has not settled within %.0fs; serving reads, writes answer 50004 until "
                        "this instance is elected", self.options.init_timeout_s)
        self.service = SchemaRegistry(self.state, self.store, self.election, parse_level(self.options.compatibility),
                                      self.options.group_id)
        wsgi = create_app(self.service)
        if self.options.read_cache:
            wsgi = ReadCache(wsgi, self.state)
        if self.options.hello_endpoint:
            wsgi = _Hello(wsgi)
        self.http = waitress.create_server(wsgi, host=self.host, port=self.port, threads=self.options.threads,
                                           connection_limit=2000, backlog=2048, channel_timeout=60,
                                           asyncore_use_poll=True, ident="schemabus-registry")
        self.port = self.http.effective_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        self.http.run()

    def close(self) -> None:
        if self.http is not None:
            try:
                self.http.close()
                self.http.task_dispatcher.shutdown(timeout=5)
            except Exception:  # best effort: the process is going away
                pass
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
        print(ready_line.format(url=server.url, bootstrap=options.bootstrap_servers, topic=options.topic,
                                role=server.election.describe()), flush=True)
        server.serve_forever()
    except StoreError as exc:
        print(f"schemabus registry: {exc}", file=sys.stderr, flush=True)
        return 1
    except SystemExit:
        pass
    finally:
        server.close()
    log.info("registry stopped")
    return 0
