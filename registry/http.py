"""What every route shares: the registry service of the app, JSON bodies in, JSON answers out."""

from __future__ import annotations

import json

from flask import Response, current_app, g, request

from registry import errors
from registry.service import SchemaRegistry

V1 = "application/vnd.schemaregistry.v1+json"
DEFAULT_JSON = "application/vnd.schemaregistry+json"
JSON = "application/json"
REQUEST_TYPES = (V1, DEFAULT_JSON, JSON, "application/octet-stream")


def registry() -> SchemaRegistry:
    return current_app.config["REGISTRY"]


def _response_type() -> str:
    accept = request.headers.get("Accept", "")
    if not accept or V1 in accept or "*/*" in accept:
        return V1
    if DEFAULT_JSON in accept:
        return DEFAULT_JSON
    if JSON in accept:
        return JSON
    return V1


def respond(payload, status: int = 200) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status=status, content_type=_response_type())


def respond_raw(text: str) -> Response:
    """Endpoints answering a schema string itself (`.../schema`)."""
    return Response(text.encode("utf-8"), status=200, content_type=_response_type())


def json_body():
    """The request body as JSON (None when empty); anything else is a 400 as in Confluent."""
    content_type = (request.mimetype or "").lower()
    if content_type and content_type not in REQUEST_TYPES:
        raise errors.RegistryError(415, 415, "HTTP 415 Unsupported Media Type")
    data = g.get("raw_body")
    if data is None:
        # Kept for this request: a follower forwards the same bytes to the leader (registry/forwarding.py).
        data = g.raw_body = request.get_data(cache=False)
    if not data or not data.strip():
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.bad_request(f"Unrecognized request body (not valid JSON): {exc}") from None
