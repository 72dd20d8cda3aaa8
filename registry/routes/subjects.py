"""/subjects: register, look up, list, read and delete subject versions."""

from __future__ import annotations

from flask import Blueprint, request

from registry.http import json_body, registry, respond, respond_raw
from registry.inputs import SchemaRequest, parse_bool, parse_int

bp = Blueprint("subjects", __name__)


@bp.get("/subjects")
def list_subjects():
    args = request.args
    deleted_only = parse_bool(args.get("deletedOnly")) or parse_bool(args.get("deleted_only"))
    return respond(registry().list_subjects(args.get("subjectPrefix", ""), parse_bool(args.get("deleted")),
                                            deleted_only, parse_int(args.get("offset"), 0),
                                            parse_int(args.get("limit"), -1)))


@bp.post("/subjects/<subject:subject>")
def lookup(subject: str):
    args = request.args
    schema_request = SchemaRequest.from_body(json_body())
    return respond(registry().lookup(subject, schema_request, parse_bool(args.get("normalize")),
                                     parse_bool(args.get("deleted"))))


@bp.delete("/subjects/<subject:subject>")
def delete_subject(subject: str):
    return respond(registry().delete_subject(subject, parse_bool(request.args.get("permanent"))))


@bp.get("/subjects/<subject:subject>/versions")
def list_versions(subject: str):
    args = request.args
    deleted_only = parse_bool(args.get("deletedOnly")) or parse_bool(args.get("deleted_only"))
    return respond(registry().list_versions(subject, parse_bool(args.get("deleted")), deleted_only,
                                            parse_bool(args.get("deletedAsNegative")),
                                            parse_int(args.get("offset"), 0), parse_int(args.get("limit"), -1)))


@bp.post("/subjects/<subject:subject>/versions")
def register(subject: str):
    args = request.args
    schema_request = SchemaRequest.from_body(json_body())
    return respond(registry().register(subject, schema_request, parse_bool(args.get("normalize")),
                                       parse_bool(args.get("force"))))


@bp.get("/subjects/<subject:subject>/versions/<version>")
def get_version(subject: str, version: str):
    args = request.args
    return respond(registry().get_version(subject, version, parse_bool(args.get("deleted")), args.get("format")))


@bp.get("/subjects/<subject:subject>/versions/<version>/schema")
def get_version_schema(subject: str, version: str):
    args = request.args
    found = registry().get_version(subject, version, parse_bool(args.get("deleted")), args.get("format"))
    return respond_raw(found["schema"])


@bp.get("/subjects/<subject:subject>/versions/<version>/referencedby")
def referenced_by(subject: str, version: str):
    args = request.args
    return respond(registry().referenced_by(subject, version, parse_bool(args.get("deleted")),
                                            parse_int(args.get("offset"), 0), parse_int(args.get("limit"), -1)))


@bp.delete("/subjects/<subject:subject>/versions/<version>")
def delete_version(subject: str, version: str):
    return respond(registry().delete_version(subject, version, parse_bool(request.args.get("permanent"))))


@bp.get("/subjects/<subject:subject>/metadata")
def latest_with_metadata(subject: str):
    args = request.args
    keys, values = args.getlist("key"), args.getlist("value")
    return respond(registry().latest_with_metadata(subject, dict(zip(keys, values)), parse_bool(args.get("deleted")),
                                                   args.get("format")))
