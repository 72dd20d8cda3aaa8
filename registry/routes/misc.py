"""The root resource, contexts, server metadata and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, request

from registry import __version__
from registry.http import json_body, registry, respond
from registry.openapi import openapi_document
from registry.inputs import parse_int

bp = Blueprint("misc", __name__)


@bp.get("/")
def root():
    return respond({})


@bp.post("/")
def root_post():
    json_body()
    return respond({})


@bp.get("/contexts")
def contexts():
    args = request.args
    found = ["."]
    prefix = args.get("contextPrefix")
    if prefix:
        found = [c for c in found if c.startswith(prefix)]
    offset, limit = parse_int(args.get("offset"), 0), parse_int(args.get("limit"), -1)
    return respond(found[offset:offset + limit] if limit > 0 else found[offset:])


@bp.get("/v1/metadata/id")
def cluster_id():
    return respond(registry().cluster_id())


@bp.get("/v1/metadata/version")
def server_version():
    return respond({"version": __version__, "commitId": "schemabus"})


@bp.get("/openapi.json")
def openapi():
    return respond(openapi_document(), 200)
