"""A response cache in front of the Flask app for reads: answers repeated reads without Flask.

Serializers ask the same questions over and over (schema by id, lookup of a schema under a
subject). Every answer depends only on the request and the state, so a successful answer is kept
with the state generation it was computed at and served again until the state changes (every
applied `_schemas` record bumps the generation). Lookups (POST /subjects/{s}) are reads too;
their body is part of the key.
"""

from __future__ import annotations

import io
import threading

from registry.state import RegistryState

MAX_ENTRIES = 20000
MAX_BODY = 256 * 1024
_LOOKUP_PREFIX = "/subjects/"


def _is_lookup(path: str) -> bool:
    # POST /subjects/{subject} is a lookup; POST /subjects/{subject}/versions registers.
    return path.startswith(_LOOKUP_PREFIX) and not path.endswith("/versions")


class ReadCache:
    def __init__(self, app, state: RegistryState, max_entries: int = MAX_ENTRIES):
        self.app = app
        self.state = state
        self.max_entries = max_entries
        self._entries: dict[tuple, tuple[int, str, list, bytes]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if method == "GET":
            body = b""
        elif method == "POST" and _is_lookup(path):
            body = self._read_body(environ)
            if body is None:
                return self.app(environ, start_response)
        else:
            return self.app(environ, start_response)
        key = (method, path, environ.get("QUERY_STRING", ""), environ.get("HTTP_ACCEPT", ""),
               environ.get("CONTENT_TYPE", ""), body)
        generation = self.state.generation
        entry = self._entries.get(key)
        if entry is not None and entry[0] == generation:
            self.hits += 1
            start_response(entry[1], entry[2])
            return [entry[3]]
        return self._compute(key, generation, environ, start_response)

    def _read_body(self, environ) -> bytes | None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length <= 0 or length > MAX_BODY:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _compute(self, key, generation, environ, start_response):
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if captured.get("status", "").startswith("200") and self.state.generation == generation:
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (generation, captured["status"], list(captured["headers"]), body)
        return [body]
