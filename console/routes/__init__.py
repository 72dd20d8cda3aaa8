"""One blueprint per area of the console."""

from __future__ import annotations

from flask import current_app

from console.backends import Backends


def backends() -> Backends:
    return current_app.config["BACKENDS"]
