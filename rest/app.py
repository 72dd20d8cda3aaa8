"""The Flask application: kafka-rest's API over a KafkaBackend, errors as kafka-rest's JSON."""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException
from werkzeug.local import LocalProxy

from registry_client import SchemaRegistryClient

from rest.consumers import ConsumerManager
from rest.embedded import SchemaDecoders, SchemaEncoders
from rest.errors import RestError
from rest.http import consumers as request_consumers
from rest.http import respond
from rest.kafka import KafkaBackend
from rest.metrics import RestMetrics
from rest.routes import v2_consumers, v2_topics
from rest.routes import v3_acls, v3_cluster, v3_groups, v3_openapi, v3_records, v3_topics
from rest.security import Security

log = logging.getLogger("rest.app")


# A request body beyond this is 413 (a v3 produce stream is not held to it: it is read record by
# record, each up to api.v3.produce.request.size.limit.max.bytes).
MAX_REQUEST_BYTES = 64 * 1024 * 1024


def create_app(kafka: KafkaBackend | None, consumers: ConsumerManager | None,
               registry: SchemaRegistryClient | None = None, settings: dict[str, str] | None = None,
               security: Security | None = None) -> Flask:
    """`settings`: the proxy's properties (kafka-rest's names) that routes read, e.g. the v3 limits.
    `kafka`/`consumers`: the proxy's own clients (None under rest.authorization, where `security`
    gives each request its caller's)."""
    app = Flask("schemabus.rest")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["REST_SETTINGS"] = dict(settings or {})
    app.config["KAFKA"] = kafka
    app.config["SERVICE_CONSUMERS"] = consumers
    app.config["CONSUMERS"] = LocalProxy(request_consumers)  # the request's: the caller's or the proxy's
    app.config["SCHEMAS"] = SchemaEncoders(registry)
    app.config["DECODERS"] = SchemaDecoders(registry)
    app.url_map.strict_slashes = False
    app.register_blueprint(v2_topics.bp)
    app.register_blueprint(v2_consumers.bp)
    for v3 in (v3_cluster, v3_topics, v3_groups, v3_acls, v3_records, v3_openapi):
        app.register_blueprint(v3.bp, url_prefix="/v3")

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

    metrics = RestMetrics()
    metrics.serve(app)  # /metrics behind authentication, as every other path (rest/metrics.py)
    if security is not None:  # authentication, and the caller's own clients, before Flask sees the request
        security.app = app.wsgi_app
        app.wsgi_app = security
    metrics.count(app)  # outermost: refused requests count too
    return app
