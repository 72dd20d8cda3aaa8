"""/schemas: schemas by id and guid, the list of schemas, schema types."""

from __future__ import annotations

from flask import Blueprint, request

from registry.http import registry, respond, respond_raw
from registry.inputs import parse_bool, parse_int

bp = Blueprint("schemas", __name__)


@bp.get("/schemas")
def list_schemas():
    args = request.args
    return respond(registry().list_schemas(
        args.get("subjectPrefix", ""), parse_bool(args.get("deleted")), parse_bool(args.get("latestOnly")),
        args.get("ruleType") or None, parse_int(args.get("offset"), 0), parse_int(args.get("limit"), -1)))


@bp.get("/schemas/ids/<int:schema_id>")
def get_schema(schema_id: int):
    args = request.args
    return respond(registry().get_by_id(schema_id, args.get("subject"), args.get("format"),
                                        parse_bool(args.get("fetchMaxId"))))


@bp.get("/schemas/ids/<int:schema_id>/schema")
def get_schema_only(schema_id: int):
    args = request.args
    return respond_raw(registry().get_by_id(schema_id, args.get("subject"), args.get("format"))["schema"])


@bp.get("/schemas/ids/<int:schema_id>/subjects")
def get_subjects_for_id(schema_id: int):
    args = request.args
    found = registry().subject_versions_for_id(schema_id, args.get("subject"), parse_bool(args.get("deleted")))
    subjects = list(dict.fromkeys(item["subject"] for item in found))
    offset, limit = parse_int(args.get("offset"), 0), parse_int(args.get("limit"), -1)
    return respond(subjects[offset:offset + limit] if limit > 0 else subjects[offset:])


@bp.get("/schemas/ids/<int:schema_id>/versions")
def get_versions_for_id(schema_id: int):
    args = request.args
    found = registry().subject_versions_for_id(schema_id, args.get("subject"), parse_bool(args.get("deleted")))
    offset, limit = parse_int(args.get("offset"), 0), parse_int(args.get("limit"), -1)
    return respond(found[offset:offset + limit] if limit > 0 else found[offset:])


@bp.get("/schemas/guids/<guid>")
def get_schema_by_guid(guid: str):
    return respond(registry().get_by_guid(guid, request.args.get("format")))


@bp.get("/schemas/guids/<guid>/ids")
def get_ids_by_guid(guid: str):
    return respond(registry().ids_for_guid(guid))


@bp.get("/schemas/types")
def schema_types():
    return respond(registry().schema_types())
