"""Serving the WSGI app on the registry's listeners: waitress for http, cheroot for https
(registry/https.py), each listener on its own thread; the request body limit shared by both.

Request bodies are limited (Confluent's `size.limit.filter.max.request.body.size`): a larger
Content-Length is answered 413 with a JSON error body as soon as the headers are read, and a
chunked body is cut off at the limit (waitress itself on http; Flask's MAX_CONTENT_LENGTH on https),
so an oversize request never reaches memory.
"""

from __future__ import annotations

import json
import logging
import threading

import waitress
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask
from werkzeug.exceptions import RequestEntityTooLarge

from registry import https
from registry.listeners import Listener

log = logging.getLogger("registry.serving")

MAX_REQUEST_BYTES_PROPERTY = "size.limit.filter.max.request.body.size"
ERROR_TYPE = "application/vnd.schemaregistry.v1+json"


def _too_large(limit: int, length: int | None = None) -> bytes:
    size = f"of {length} bytes " if length is not None else ""
    return json.dumps({"error_code": 413, "message": f"Request body {size}is larger than the {limit} bytes this "
                                                     f"registry accepts ({MAX_REQUEST_BYTES_PROPERTY})"},
                      separators=(",", ":")).encode()


class BodyLimit:
    """WSGI middleware: a declared Content-Length over the limit is a 413 without reading the body; a
    chunked body (no Content-Length) is read through a stream that stops past the limit."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    def __call__(self, environ, start_response):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.limit:
            body = _too_large(self.limit, length)
            start_response("413 Request Entity Too Large", [("Content-Type", ERROR_TYPE),
                                                            ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("wsgi.input_terminated"):
            environ["wsgi.input"] = _LimitedInput(environ["wsgi.input"], self.limit)
        return self.app(environ, start_response)


class _LimitedInput:
    """A chunked request body that raises 413 (answered by the app with its JSON error body) once
    more than `limit` bytes have been read."""

    def __init__(self, stream, limit: int):
        self.stream = stream
        self.left = limit + 1

    def read(self, size: int = -1) -> bytes:
        want = self.left if size is None or size < 0 else min(size, self.left)
        data = self.stream.read(want) if want > 0 else b""
        self.left -= len(data)
        if self.left <= 0:
            raise RequestEntityTooLarge()
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self.stream.readline(self.left if size is None or size < 0 else min(size, self.left))
        self.left -= len(data)
        if self.left <= 0:
            raise RequestEntityTooLarge()
        return data


def _json_error_channel(limit: int) -> type:
    """A waitress channel whose own errors (413 from max_request_body_size, 400 for a malformed
    request, ...) are answered with Confluent's JSON error body rather than waitress's text."""

    class JsonErrorTask(ErrorTask):
        def execute(self):
            error = self.request.error
            if error.code == 413:
                chunked = self.request.chunked or not self.request.content_length
                body = _too_large(limit, None if chunked else self.request.content_length)
            else:
                body = json.dumps({"error_code": error.code, "message": f"HTTP {error.code} {error.reason}: "
                                                                        f"{error.body}"},
                                  separators=(",", ":")).encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", ERROR_TYPE))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask

    return JsonErrorChannel


class Endpoints:
    """The listeners' servers: bound by bind() (so a taken port fails the start), served each on a
    thread by serve_forever(), which returns when one of them stops."""

    def __init__(self, wsgi, listeners: list[Listener], tls, threads: int, max_request_bytes: int):
        self.wsgi = wsgi
        self.listeners = listeners
        self.tls = tls
        self.threads = threads
        self.max_request_bytes = max_request_bytes
        self.servers: list[tuple[Listener, object]] = []
        self.urls: list[str] = []
        self._ended = threading.Event()

    def bind(self) -> None:
        for listener in self.listeners:
            if listener.scheme == "https":
                server = https.create_server(self.wsgi, listener.host, listener.port, self.tls, self.threads)
                server.prepare()  # binds and listens
                port = server.bind_addr[1]
            else:
                server = self._waitress(listener)
                port = server.effective_port
            self.servers.append((listener, server))
            self.urls.append(listener.url(port))

    def _waitress(self, listener: Listener):
        # waitress refuses a Content-Length >= max_request_body_size before reading the body, and
        # stops a chunked body there: the limit itself is still accepted.
        server = waitress.create_server(self.wsgi, host=listener.host, port=listener.port, threads=self.threads,
                                        connection_limit=2000, backlog=2048, channel_timeout=60,
                                        asyncore_use_poll=True, ident="schemabus-registry",
                                        max_request_body_size=self.max_request_bytes + 1)
        channel = _json_error_channel(self.max_request_bytes)
        for dispatcher in [server, *getattr(server, "map", {}).values()]:
            if hasattr(dispatcher, "channel_class"):
                dispatcher.channel_class = channel
        return server

    def serve_forever(self) -> None:
        for listener, server in self.servers:
            run = server.serve if listener.scheme == "https" else server.run
            threading.Thread(target=self._serve, args=(listener, run), name=f"{listener.scheme}-{listener.port}",
                             daemon=True).start()
        self._ended.wait()

    def _serve(self, listener: Listener, run) -> None:
        try:
            run()
        except Exception:
            log.exception("the %s listener on port %d stopped", listener.scheme, listener.port)
        finally:
            self._ended.set()

    def close(self) -> None:
        for listener, server in self.servers:
            try:
                if listener.scheme == "https":
                    server.stop()
                else:
                    server.close()
                    server.task_dispatcher.shutdown(timeout=5)
            except Exception:  # best effort: the process is going away
                pass
