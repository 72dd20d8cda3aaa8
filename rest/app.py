"""The Flask application: kafka-rest's API over a KafkaBackend, errors as kafka-rest's JSON."""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from rest.embedded import SchemaEncoders
from rest.errors import RestError
from rest.http import respond
from rest.kafka import KafkaBackend
from rest.routes import v2_topics

log = logging.getLogger("rest.app")


def create_app(kafka: KafkaBackend, schemas: SchemaEncoders | None = None) -> Flask:
    app = Flask("schemabus.rest")
    app.config["KAFKA"] = kafka
    app.config["SCHEMAS"] = schemas or SchemaEncoders(None)
    app.url_map.strict_slashes = False
    app.register_blueprint(v2_topics.bp)

    @app.errorhandler(RestError)
    def rest_error(exc: RestError):
        return respond(exc.body(), exc.http_status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return respond({"error_code": exc.code, "message": f"HTTP {exc.code} {exc.name}"}, exc.code or 500)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return respond({"error_code": 500, "message": f"Internal Server Error: {type(exc).__name__}"}, 500)

    return app
