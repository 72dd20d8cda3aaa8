"""The Flask application: Confluent's REST API v1 over a SchemaRegistry, errors as JSON."""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from registry import errors
from registry.http import respond
from registry.routes import compatibility, config, misc, schemas, subjects
from registry.service import SchemaRegistry

log = logging.getLogger("registry.app")

class SubjectConverter(PathConverter):
    """Subjects may hold '/' (sent as %2F) and even control characters, which must reach the 42208 check."""

    regex = r"[^/][\s\S]*?"


def create_app(service: SchemaRegistry) -> Flask:
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
