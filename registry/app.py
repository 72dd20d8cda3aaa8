"""The Flask application: Confluent's REST API v1 over a SchemaRegistry, errors as JSON."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from registry import errors
from registry.forwarding import FORWARD_HEADER
from registry.http import respond
from registry.routes import compatibility, config, misc, schemas, subjects
from registry.service import SchemaRegistry

log = logging.getLogger("registry.app")

class SubjectConverter(PathConverter):
    """Subjects may hold '/' (sent as %2F) and even control characters, which must reach the 42208 check."""

    regex = r"[^/][\s\S]*?"


def create_app(service: SchemaRegistry, forwarder=None) -> Flask:
    """`app.config["FORWARDER"]` (registry/forwarding.py), when set, sends the writes this instance
    may not do to the leader."""
    app = Flask("schemabus.registry")
    app.config["REGISTRY"] = service
    app.config["FORWARDER"] = forwarder
    app.url_map.strict_slashes = False
    app.url_map.converters["subject"] = SubjectConverter
    for blueprint in (misc.bp, schemas.bp, subjects.bp, compatibility.bp, config.bp):
        app.register_blueprint(blueprint)

    @app.errorhandler(errors.RegistryError)
    def registry_error(exc: errors.RegistryError):
        return respond(exc.body(), exc.http_status)

    @app.errorhandler(errors.NotLeader)
    def not_leader(exc: errors.NotLeader):
        forwarder = app.config["FORWARDER"]
        if forwarder is None:
            return respond(exc.body(), exc.http_status)
        try:
            if request.headers.get(FORWARD_HEADER, "").strip().lower() == "true":
                # Forwarded here: never forwarded again (no loops while instances disagree about the
                # leader); answered here if this instance is just taking over, else 50004.
                if not forwarder.await_election():
                    return respond(exc.body(), exc.http_status)
                return _dispatch_again()
            uri = request.environ.get("REQUEST_URI") or ""
            if not uri.startswith("/"):  # keep the raw path where the server gives it: %2F in subjects
                uri = request.full_path.rstrip("?")
            answer = forwarder.forward_request(request.method, uri, request.headers, g.get("raw_body") or b"")
            if answer is None:  # elected while waiting for a leader
                return _dispatch_again()
        except errors.RegistryError as error:
            return respond(error.body(), error.http_status)
        return Response(answer.body, status=answer.status, content_type=answer.content_type or None)

    def _dispatch_again():
        """The request's view once more (the body is kept in g.raw_body)."""
        return app.make_response(app.ensure_sync(app.view_functions[request.endpoint])(**request.view_args))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return respond({"error_code": exc.code, "message": f"HTTP {exc.code} {exc.name}"}, exc.code or 500)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return respond({"error_code": 500, "message": f"Internal Server Error: {type(exc).__name__}"}, 500)

    return app
