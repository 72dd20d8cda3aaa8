"""Schemas: the registry's subjects and versions, a diff between versions, the references graph,
compatibility tests, registering, deleting, and the compatibility levels and modes.

Everything goes through the registry's REST API (registry_client), uncached: the page shows the
registry as it is now, whoever changed it.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from console.backends import ServiceError
from console.routes import backends
from console.schema_text import parse_references, pretty, side_by_side, split_messages
from formats import Schema
from registry.compatibility import LEVELS
from registry_client import SchemaRegistryClient, SchemaRegistryError

bp = Blueprint("schemas", __name__, url_prefix="/schemas")
nav = ("schemas.index", "Schemas")

SCHEMA_TYPES = ("AVRO", "PROTOBUF", "JSON")
SUBJECT_MODES = ("READWRITE", "READONLY", "IMPORT")
GLOBAL_MODES = SUBJECT_MODES + ("FORWARD",)  # the registry takes FORWARD only globally
NOT_CONFIGURED = (40408, 40409)  # no subject-level compatibility / mode: the global one applies


def _client() -> SchemaRegistryClient:
    client = backends().schema_registry
    if client is None:
        raise ServiceError("Schema Registry", "not configured (start the console with --schema-registry-url)")
    return client


def _call(fn, *args, **kwargs):
    """A registry call whose failure is a ServiceError: the page shows the registry's message."""
    try:
        return fn(*args, **kwargs)
    except SchemaRegistryError as exc:
        raise ServiceError("Schema Registry", exc.error_message or str(exc), exc.http_status) from None


def _subject_setting(getter, subject: str) -> str | None:
    """The subject's own compatibility or mode, None when it has none (the global one applies)."""
    try:
        return getter(subject)
    except SchemaRegistryError as exc:
        if exc.error_code in NOT_CONFIGURED:
            return None
        raise ServiceError("Schema Registry", exc.error_message, exc.http_status) from None


# -- the subjects list -------------------------------------------------------------------------


def _subject_row(client: SchemaRegistryClient, subject: str, live: bool) -> dict:
    versions = _call(client.get_versions, subject, deleted=True)
    latest = _call(client.get_subject_version, subject, versions[-1], deleted=True) if versions else None
    return {"subject": subject, "live": live, "versions": len(versions),
            "latest": latest["version"] if latest else None, "id": latest["id"] if latest else None,
            "type": (latest.get("schemaType") or "AVRO") if latest else None,
            "compatibility": _subject_setting(client.get_compatibility, subject),
            "mode": _subject_setting(client.get_mode, subject)}


def _index_page(form: dict | None = None, errors: dict | None = None):
    """The subjects list; `form`/`errors`: a refused new-subject form shown again with its errors."""
    client = _client()
    query = request.args.get("q", "").strip()
    show_deleted = request.args.get("deleted") == "on"
    live = set(_call(client.get_subjects))
    names = sorted(_call(client.get_subjects, deleted=True)) if show_deleted else sorted(live)
    shown = [name for name in names if query.lower() in name.lower()]
    rows = [_subject_row(client, name, name in live) for name in shown]
    return render_template("schemas/index.html", title="Schemas", rows=rows, query=query, show_deleted=show_deleted,
                           total=len(names), compatibility=_call(client.get_compatibility),
                           mode=_call(client.get_mode), levels=LEVELS, modes=GLOBAL_MODES,
                           schema_types=SCHEMA_TYPES, form=form or {}, errors=errors or {}, new_failed=bool(errors))


@bp.get("/")
def index():
    return _index_page()


# -- a subject ---------------------------------------------------------------------------------


def _version_or_none(client: SchemaRegistryClient, subject: str, version) -> dict | None:
    try:
        return client.get_subject_version(subject, version, deleted=True)
    except SchemaRegistryError as exc:
        if exc.http_status == 404:
            return None
        raise ServiceError("Schema Registry", exc.error_message, exc.http_status) from None


def _referenced_by(client: SchemaRegistryClient, subject: str, version: int) -> list[dict]:
    """The subject versions whose schemas reference this one (the registry answers with ids)."""
    out = []
    for schema_id in _call(client.get_referenced_by, subject, version):
        for found in _call(client.get_versions_by_schema_id, schema_id):
            out.append({"id": schema_id, "subject": found["subject"], "version": found["version"]})
    return out


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _subject_page(subject: str, form: dict | None = None, errors: dict | None = None, check: dict | None = None):
    """The subject page; `form`/`errors`: a refused form shown again with its errors (as a 200 page:
    the browser logs any other status as an error, and the page itself is fine)."""
    client = _client()
    all_versions = _call(client.get_versions, subject, deleted=True) if _exists(client, subject) else []
    if not all_versions and not form:
        abort(404, f"No subject {subject!r} in the registry (nor a soft-deleted one).")
    live_versions = set(_call(client.get_versions, subject)) if _live(client, subject) else set()
    versions = [_version_or_none(client, subject, v) for v in all_versions]
    versions = [dict(v, deleted=v["version"] not in live_versions) for v in versions if v]
    by_number = {v["version"]: v for v in versions}
    shown = by_number.get(_int_arg("version") or (versions[-1]["version"] if versions else -1))
    diff = None
    left, right = _int_arg("left"), _int_arg("right")
    if left in by_number and right in by_number:
        a, b = by_number[left], by_number[right]
        diff = {"left": left, "right": right,
                "rows": side_by_side(pretty(a["schema"], a.get("schemaType") or "AVRO"),
                                     pretty(b["schema"], b.get("schemaType") or "AVRO"))}
    return render_template(
        "schemas/subject.html", title=f"Subject {subject}", subject=subject, versions=versions, shown=shown,
        pretty=pretty, diff=diff,
        referenced_by=_referenced_by(client, subject, shown["version"]) if shown and not shown["deleted"] else [],
        compatibility=_subject_setting(client.get_compatibility, subject),
        mode=_subject_setting(client.get_mode, subject),
        global_compatibility=_call(client.get_compatibility), global_mode=_call(client.get_mode),
        levels=LEVELS, modes=SUBJECT_MODES, schema_types=SCHEMA_TYPES,
        form=form or {}, errors=errors or {}, check=check)


def _exists(client: SchemaRegistryClient, subject: str) -> bool:
    return subject in _call(client.get_subjects, deleted=True)


def _live(client: SchemaRegistryClient, subject: str) -> bool:
    return subject in _call(client.get_subjects)


@bp.get("/subjects/<path:subject>")
def subject(subject: str):
    return _subject_page(subject)


# -- testing and registering a candidate schema ------------------------------------------------


def _candidate(form) -> tuple[Schema | None, dict]:
    """The schema typed into the form, or the errors to show next to its fields."""
    errors = {}
    text = form.get("schema", "")
    if not text.strip():
        errors["schema"] = "Type or paste a schema."
    schema_type = form.get("schema_type", "AVRO")
    if schema_type not in SCHEMA_TYPES:
        errors["schema_type"] = f"Choose one of {', '.join(SCHEMA_TYPES)}."
    try:
        references = parse_references(form.get("references", ""))
    except ValueError as exc:
        errors["references"] = str(exc)
    if errors:
        return None, errors
    return Schema(text, schema_type, tuple(references)), {}


@bp.post("/subjects/<path:subject>/check")
def check(subject: str):
    """Tests the candidate against the subject's latest version: the registry's verdict and messages."""
    form = request.form.to_dict()
    schema, errors = _candidate(form)
    if errors:
        return _subject_page(subject, form, errors)
    try:
        compatible, messages = _client().check_compatibility(subject, schema, "latest")
    except SchemaRegistryError as exc:
        # 42201 invalid schema, 40401 no subject yet, ...: the registry's words, next to the schema
        return _subject_page(subject, form, {"schema": exc.error_message})
    field_errors, context = split_messages(messages)
    return _subject_page(subject, form, check={"compatible": compatible, "errors": field_errors,
                                               "context": context})


def _register(subject: str, form: dict):
    """(registered version answer, None) or (None, the errors to show inline)."""
    errors = {}
    if not subject.strip():
        errors["subject"] = "Name the subject."
    schema, schema_errors = _candidate(form)
    errors.update(schema_errors)
    if errors:
        return None, errors
    try:
        return _client().register_version(subject, schema), None
    except SchemaRegistryError as exc:
        # 409 incompatible, 422 invalid schema or reference: nothing was registered
        return None, {"schema": f"Not registered: {exc.error_message} (HTTP {exc.http_status})"}


@bp.post("/subjects/<path:subject>/register")
def register(subject: str):
    form = request.form.to_dict()
    answer, errors = _register(subject, form)
    if errors:
        return _subject_page(subject, form, errors)
    flash(f"Registered under {subject}: schema id {answer['id']}.", "success")
    return redirect(url_for("schemas.subject", subject=subject))


@bp.post("/new")
def new_subject():
    """Registers the first (or a next) version of a subject named in the form."""
    form = request.form.to_dict()
    subject = form.get("subject", "").strip()
    answer, errors = _register(subject, form)
    if errors:
        return _index_page(form, errors)
    flash(f"Registered under {subject}: schema id {answer['id']}.", "success")
    return redirect(url_for("schemas.subject", subject=subject))


# -- deleting ----------------------------------------------------------------------------------


@bp.post("/subjects/<path:subject>/delete")
def delete(subject: str):
    """Soft or hard delete of a version (or of the whole subject); a confirmation page first."""
    version = request.form.get("version", "")
    permanent = request.form.get("permanent") == "true"
    if version and not version.isdigit():
        abort(400, "version must be a number")
    if request.form.get("confirm") != "yes":
        return render_template("schemas/confirm_delete.html", title="Confirm deletion", subject=subject,
                               version=version, permanent=permanent)
    client = _client()
    how = "permanently deleted" if permanent else "soft-deleted"
    try:
        if version:
            client.delete_version(subject, int(version), permanent)
            flash(f"Version {version} of {subject} {how}.", "success")
        else:
            deleted = client.delete_subject(subject, permanent)
            flash(f"Subject {subject} {how} (versions {', '.join(map(str, deleted))}).", "success")
    except SchemaRegistryError as exc:
        flash(f"Not deleted: {exc.error_message}", "error")
        return redirect(url_for("schemas.subject", subject=subject))
    if (not version and permanent) or not _exists(client, subject):
        return redirect(url_for("schemas.index"))
    return redirect(url_for("schemas.subject", subject=subject))


# -- compatibility level and mode ----------------------------------------------------------------


def _set_settings(subject: str | None, back: str):
    """Sets the compatibility level and mode chosen in the form, each only if it changed. A subject
    without its own setting is offered "" (keep following the global one)."""
    client = _client()
    level, mode = request.form.get("compatibility", ""), request.form.get("mode", "")
    if subject:
        current_level = _subject_setting(client.get_compatibility, subject)
        current_mode = _subject_setting(client.get_mode, subject)
    else:
        current_level, current_mode = _call(client.get_compatibility), _call(client.get_mode)
    allowed_modes = SUBJECT_MODES if subject else GLOBAL_MODES
    keep = ("",) if subject else ()
    if level not in LEVELS + keep or mode not in allowed_modes + keep:
        flash(f"Choose a compatibility level ({', '.join(LEVELS)}) and a mode ({', '.join(allowed_modes)}).",
              "error")
        return redirect(back)
    changed = []
    try:
        if level and level != current_level:
            client.set_compatibility(subject, level)
            changed.append(f"compatibility {level}")
        if mode and mode != current_mode:
            client.set_mode(mode, subject)
            changed.append(f"mode {mode}")
    except SchemaRegistryError as exc:
        flash(f"Not changed: {exc.error_message}" + (f" ({', '.join(changed)} was set)" if changed else ""), "error")
        return redirect(back)
    where = subject or "the registry (global)"
    flash(f"{', '.join(changed).capitalize()} for {where}." if changed else f"Nothing changed for {where}.",
          "success")
    return redirect(back)


@bp.post("/subjects/<path:subject>/settings")
def subject_settings(subject: str):
    return _set_settings(subject, url_for("schemas.subject", subject=subject))


@bp.post("/settings")
def global_settings():
    return _set_settings(None, url_for("schemas.index"))
