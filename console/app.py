"""The Flask application: one blueprint per area of the console, rendered on the server; htmx swaps
page fragments (the live tail, refreshing tables) without a build step or a client framework."""

from __future__ import annotations

import logging
import os

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from console.backends import Backends, ServiceError
from console.routes import connect, groups, overview, schemas, security, topics

# The console's areas, in the order of the navigation bar: each a module with a blueprint `bp` and
# its entry `nav` (endpoint, label).
AREAS = (overview, topics, schemas, groups, connect, security)

log = logging.getLogger("console.app")

MAX_REQUEST_BYTES = 8 * 1024 * 1024  # a form, a schema or a record typed into a page


def create_app(backends: Backends, settings: dict[str, str] | None = None) -> Flask:
    """`settings`: the console's own properties (its `console.*` names), read by the routes."""
    app = Flask("console", template_folder="templates", static_folder="static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["BACKENDS"] = backends
    app.config["CONSOLE_SETTINGS"] = dict(settings or {})
    app.url_map.strict_slashes = False
    # Signs the flash messages' cookie only: nothing outlives the process, so a fresh key per start.
    app.secret_key = os.urandom(32)
    for area in AREAS:
        app.register_blueprint(area.bp)
    nav_items = [area.nav for area in AREAS]

    @app.context_processor
    def navigation():
        return {"nav_items": nav_items}

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        return render_template("error.html", title=exc.service, message=exc.message), 502

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return render_template("error.html", title=f"{exc.code} {exc.name}", message=exc.description), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return render_template("error.html", title="Internal error",
                               message=f"The console failed: {type(exc).__name__}. Its log has the details."), 500

    return app
