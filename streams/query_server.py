"""A small HTTP endpoint for interactive queries across instances: any instance answers a key
lookup in any store, from its own task when it hosts the key, else by asking the instance that
does (found with KafkaStreams.query_metadata_for_key). It listens on `application.server`.

    GET /v1/metadata                      every instance: endpoint, stores, partitions
    GET /v1/stores/{store}/keys/{key}     {"store", "key", "value", "partition", "host"}

The key in the path is text: a number for Long/Integer/Short/Float/Double key serdes, the UTF-8
bytes for ByteArray, the string for String, JSON for the other serdes (JSON, Avro, ...).
Errors are {"error_code": <HTTP status>, "message": ...}."""

from __future__ import annotations

import base64
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request

import orjson
from cheroot import wsgi
from flask import Flask, Response, request

from streams.errors import StreamsException
from streams.query_metadata import HostInfo

log = logging.getLogger("streams.query")
FORWARDED = "X-Streams-Forwarded"  # set on a lookup one instance passes to another: never passed on again
_NUMBERS = {"LongSerde": int, "IntegerSerde": int, "ShortSerde": int, "FloatSerde": float, "DoubleSerde": float}


class QueryError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _json(body, status: int = 200) -> Response:
    return Response(orjson.dumps(body, default=_plain), status=status, mimetype="application/json")


def _plain(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return str(value)


def key_from_text(text: str, serde):
    """The typed key a store's key serde takes, from its text in a URL."""
    name = getattr(serde, "name", "")
    try:
        if name == "StringSerde":
            return text
        if name == "ByteArraySerde":
            return text.encode()
        if name in _NUMBERS:
            return _NUMBERS[name](text)
        return orjson.loads(text)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise QueryError(400, f"key {text!r} is not a valid key for {name or 'the store'}'s serde: {exc}") from None


def create_app(streams) -> Flask:
    app = Flask("streams.query")

    @app.errorhandler(QueryError)
    def query_error(exc: QueryError):
        return _json({"error_code": exc.status, "message": exc.message}, exc.status)

    @app.errorhandler(404)
    def not_found(exc):
        return _json({"error_code": 404, "message": "HTTP 404 Not Found"}, 404)

    @app.get("/v1/metadata")
    def metadata():
        return _json([{"host": m.host_info.host, "port": m.host_info.port,
                       "stores": sorted(m.state_store_names),
                       "partitions": [{"topic": t, "partition": p} for t, p in sorted(m.topic_partitions)]}
                      for m in _call(streams.metadata_for_all_streams_clients)])

    @app.get("/v1/stores/<store>/keys/<path:key_text>")
    def lookup(store: str, key_text: str):
        builder = streams.topology.stores.get(store)
        if builder is None and store not in streams.topology.global_stores:
            raise QueryError(404, f"no store named {store} in this application")
        if builder is not None and builder.key_layout is not None:
            raise QueryError(400, f"store {store} is a window or session store; key lookups serve key-value stores")
        key = key_from_text(key_text, _call(lambda: streams.store_key_serde(store)))
        owner = _call(lambda: streams.query_metadata_for_key(store, key))
        own = streams.metadata.own if streams.metadata is not None else None
        if owner.active_host is None:
            raise QueryError(503, f"no instance hosts partition {owner.partition} of store {store} now "
                                  "(a rebalance is under way); try again")
        if owner.active_host != own and not request.headers.get(FORWARDED):
            return _forward(owner.active_host, store, key_text)
        found, value = _call(lambda: streams.local_get(store, key, owner.partition))
        if not found:
            raise QueryError(503, f"partition {owner.partition} of store {store} is not hosted by "
                                  f"{own} at the moment (a rebalance is under way); try again")
        if value is None:
            raise QueryError(404, f"key {key_text} not found in store {store}")
        return _json({"store": store, "key": key, "value": value, "partition": owner.partition, "host": str(own)})

    return app


def _call(fn):
    try:
        return fn()
    except StreamsException as exc:
        raise QueryError(503, str(exc)) from None


def _forward(owner: HostInfo, store: str, key_text: str) -> Response:
    url = f"http://{owner}/v1/stores/{urllib.parse.quote(store)}/keys/{urllib.parse.quote(key_text, safe='')}"
    req = urllib.request.Request(url, headers={FORWARDED: "true"})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return Response(answer.read(), status=answer.status, mimetype="application/json")
    except urllib.error.HTTPError as answer:
        return Response(answer.read(), status=answer.code, mimetype="application/json")
    except OSError as exc:
        raise QueryError(503, f"the instance at {owner} hosting the key did not answer: {exc}") from None


class QueryServer:
    """The endpoint on `application.server` (or `listen`), served by cheroot in a thread."""

    def __init__(self, streams, listen: str | None = None, threads: int = 4):
        endpoint = HostInfo.parse(listen or str(streams.config["application.server"]))
        self._server = wsgi.Server((endpoint.host, endpoint.port), create_app(streams), numthreads=threads,
                                   server_name="schemabus-streams-query")
        self._thread: threading.Thread | None = None

    def start(self) -> "QueryServer":
        self._server.prepare()  # binds now: a port in use fails here, not in the thread
        self._thread = threading.Thread(target=self._server.serve, name="streams-query-server", daemon=True)
        self._thread.start()
        host, port = self._server.bind_addr[:2]
        log.info("interactive queries served on http://%s:%s", host, port)
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(10)
