"""The Flask application: Confluent's REST API v1 over a SchemaRegistry, errors as JSON."""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from registry import errors
from registry.service import SchemaRegistry

log = logging.getLogger("registry.app")

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
    data = request.get_data(cache=False)
    if not data or not data.strip():
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.bad_request(f"Unrecognized request body (not valid JSON): {exc}") from None


class SubjectConverter(PathConverter):
    """Subjects may hold '/' (sent as %2F) and even control characters, which must reach the 42208 check."""

    regex = r"[^/][\s\S]*?"


def create_app(service: SchemaRegistry) -> Flask:
    from registry.routes import compatibility, config, misc, schemas, subjects

    app = Flask("schemabus.registry")
    app.config["REGISTRY"] = service
    app.url_map.strict_slashes = False
    app.url_map.converters["subject"] = SubjectConverter
    for blueprint in (misc.bp, schemas.bp, subjects.bp, compatibility.bp, config.bp):
        app.register_blueprint(blueprint)

    @app.errorhandler(errors.RegistryError)
    def registry_error(exc: errors.RegistryError):
        return respond(exc.body(), exc.http_status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return respond({"error_code": exc.code, "message": f"HTTP {exc.code} {exc.name}"}, exc.code or 500)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return respond({"error_code": 500, "message": f"Internal Server Error: {type(exc).__name__}"}, 500)

    return app
