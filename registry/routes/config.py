"""/config and /mode: compatibility configuration and registry modes, global and per subject."""

from __future__ import annotations

from flask import Blueprint, request

from registry import errors
from registry.http import json_body, registry, respond
from registry.inputs import parse_bool

bp = Blueprint("config", __name__)


def _body():
    body = json_body()
    if body is None:
        raise errors.RegistryError(422, 422, "The request body must be a JSON object")
    return body


@bp.get("/config")
@bp.get("/config/<subject:subject>")
def get_config(subject: str | None = None):
    return respond(registry().get_config(subject, parse_bool(request.args.get("defaultToGlobal"))))


@bp.put("/config")
@bp.put("/config/<subject:subject>")
def put_config(subject: str | None = None):
    return respond(registry().set_config(subject, _body()))


@bp.delete("/config")
@bp.delete("/config/<subject:subject>")
def delete_config(subject: str | None = None):
    return respond(registry().delete_config(subject))


@bp.get("/mode")
@bp.get("/mode/<subject:subject>")
def get_mode(subject: str | None = None):
    return respond(registry().get_mode(subject, parse_bool(request.args.get("defaultToGlobal"))))


@bp.put("/mode")
@bp.put("/mode/<subject:subject>")
def put_mode(subject: str | None = None):
    return respond(registry().set_mode(subject, _body(), parse_bool(request.args.get("force"))))


@bp.delete("/mode")
@bp.delete("/mode/<subject:subject>")
def delete_mode(subject: str | None = None):
    return respond(registry().delete_mode(subject))
