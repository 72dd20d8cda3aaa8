"""/compatibility: would a schema be accepted under the subject's compatibility level?"""

from __future__ import annotations

from flask import Blueprint, request

from registry.http import json_body, registry, respond
from registry.inputs import SchemaRequest, parse_bool

bp = Blueprint("compatibility", __name__)


@bp.post("/compatibility/subjects/<subject:subject>/versions/<version>")
def against_version(subject: str, version: str):
    args = request.args
    schema_request = SchemaRequest.from_body(json_body())
    return respond(registry().test_compatibility(subject, version, schema_request, parse_bool(args.get("normalize")),
                                                 parse_bool(args.get("verbose"))))


@bp.post("/compatibility/subjects/<subject:subject>/versions")
def against_all(subject: str):
    args = request.args
    schema_request = SchemaRequest.from_body(json_body())
    return respond(registry().test_compatibility(subject, None, schema_request, parse_bool(args.get("normalize")),
                                                 parse_bool(args.get("verbose"))))
