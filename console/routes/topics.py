"""Topics: the list (sizes and rates from the broker's metrics), a topic's partitions, configs and
groups, create / alter configs / add partitions / delete, browsing its records (with a live tail)
and producing one.

Every change is checked by the broker first (validate_only), so a refused form leaves the cluster
as it was; the form comes back with the broker's message next to the field it is about. A form
with errors is answered 200, as any page: the browser would log a 4xx as a console error.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from console import records, topics
from registry_client import SchemaRegistryError
from console.routes import backends
from rest.timestamps import iso_to_ms

bp = Blueprint("topics", __name__, url_prefix="/topics")
nav = ("topics.index", "Topics")

CONFIG_ROWS = 4   # blank config rows on the create and alter forms
HEADER_ROWS = 3   # blank header rows on the produce form
DEFAULT_LIMIT = 50
# Which form field a Kafka error from CreateTopics is about.
CREATE_ERROR_FIELDS = {"TOPIC_EXCEPTION": "name", "INVALID_TOPIC_EXCEPTION": "name", "TOPIC_ALREADY_EXISTS": "name",
                       "INVALID_PARTITIONS": "partitions", "INVALID_REPLICATION_FACTOR": "replication",
                       "INVALID_REPLICA_ASSIGNMENT": "replication", "INVALID_CONFIG": "configs",
                       "POLICY_VIOLATION": "configs"}


def _admin():
    return backends().admin


def _decoder() -> records.RecordDecoder:
    """One per console process: it caches the parsed writer schemas by id, as a deserializer does."""
    decoder = current_app.extensions.get("topics.decoder")
    if decoder is None:
        decoder = current_app.extensions["topics.decoder"] = records.RecordDecoder(backends().schema_registry)
    return decoder


def _detail_or_404(name: str) -> topics.TopicDetail:
    try:
        return topics.describe(_admin(), name)
    except topics.AdminFailure as exc:
        if exc.code in ("UNKNOWN_TOPIC_OR_PART", "UNKNOWN_TOPIC_ID"):
            abort(404, f"There is no topic {name}.")
        raise


# -- the list ---------------------------------------------------------------------------------


def _listing(show_internal: bool):
    rows = topics.topic_rows(_admin())
    hidden = sum(1 for r in rows if r.internal)
    if not show_internal:
        rows = [r for r in rows if not r.internal]
    note = topics.add_figures(rows, backends().broker_metrics_url)
    return {"rows": rows, "hidden": hidden, "show_internal": show_internal, "metrics_note": note}


@bp.get("/")
def index():
    return render_template("topics/index.html", title="Topics", **_listing(request.args.get("internal") == "1"))


@bp.get("/table")
def table():
    """The list's table alone: the page refreshes it (htmx) so the rates stay current."""
    return render_template("topics/_table.html", **_listing(request.args.get("internal") == "1"))


# -- create -----------------------------------------------------------------------------------


def _config_rows(form, prefix: str = "config") -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The form's (name, value) rows that are filled in, and errors by field id."""
    rows, errors = [], {}
    for i in range(CONFIG_ROWS):
        name, value = form.get(f"{prefix}_name_{i}", "").strip(), form.get(f"{prefix}_value_{i}", "").strip()
        if not name and not value:
            continue
        if not name:
            errors[f"{prefix}_name_{i}"] = "Give the config's name for this value."
        rows.append((name, value))
    return rows, errors


def _int_field(form, name: str, errors: dict, blank=None, minimum: int | None = None, too_small: str | None = None):
    text = form.get(name, "").strip()
    if not text:
        return blank
    try:
        value = int(text)
    except ValueError:
        errors[name] = f"{text!r} is not a whole number."
        return None
    if minimum is not None and value < minimum:
        errors[name] = too_small or f"Must be at least {minimum}."
        return None
    return value


def _config_error_field(message: str, rows: list[tuple[str, str]], prefix: str = "config") -> str:
    """The config row a broker's INVALID_CONFIG message names (it names the config), else the section."""
    for i, (name, _) in enumerate(rows):
        if name and name in message:
            return f"{prefix}_name_{i}"
    return "configs"


def _create_page(form, errors: dict):
    return render_template("topics/create.html", title="Create a topic", form=form, errors=errors,
                           config_rows=CONFIG_ROWS, schema_validation=topics.has_schema_validation(_admin()))


@bp.route("/new", methods=["GET", "POST"])
def create():
    form, errors = request.form, {}
    if request.method == "GET":
        return _create_page({}, {})
    name = form.get("name", "").strip()
    if not name:
        errors["name"] = "A topic needs a name."
    # Blank: the broker's defaults (num.partitions, default.replication.factor). 0 and the like go to
    # the broker, which says why it refuses them.
    partitions = _int_field(form, "partitions", errors, blank=-1, minimum=0, too_small="Must be at least 1.")
    replication = _int_field(form, "replication", errors, blank=-1, minimum=0, too_small="Must be at least 1.")
    rows, row_errors = _config_rows(form)
    errors.update(row_errors)
    configs = dict(rows)
    for config in topics.SCHEMA_VALIDATION:
        if form.get(config) == "true":
            configs[config] = "true"
    if not errors:
        try:
            topics.create(_admin(), name, partitions, replication, configs)
        except topics.AdminFailure as exc:
            where = CREATE_ERROR_FIELDS.get(exc.code, "form")
            errors[_config_error_field(exc.message, rows) if where == "configs" else where] = exc.message
        except (ValueError, TypeError) as exc:  # confluent-kafka refuses it before sending (an int32 overflow)
            errors["form"] = str(exc)
    if errors:
        return _create_page(form, errors)
    flash(f"Topic {name} created.", "success")
    return redirect(url_for("topics.detail", name=name))


# -- one topic --------------------------------------------------------------------------------


def _render_detail(name: str, errors: dict | None = None):
    detail = _detail_or_404(name)
    return render_template("topics/detail.html", title=f"Topic {name}", topic=detail, errors=errors or {},
                           form=request.form, resets=request.form.getlist("reset"), config_rows=CONFIG_ROWS)


@bp.get("/<name>")
def detail(name: str):
    return _render_detail(name)


@bp.post("/<name>/configs")
def alter(name: str):
    form, errors = request.form, {}
    rows, errors = _config_rows(form, "set")
    resets = form.getlist("reset")
    if not rows and not resets and not errors:
        errors["configs"] = "Nothing to change: fill in a config to set or tick one to reset."
    if not errors:
        try:
            topics.alter_configs(_admin(), name, dict(rows), resets)
        except topics.AdminFailure as exc:
            if exc.code in ("UNKNOWN_TOPIC_OR_PART", "UNKNOWN_TOPIC_ID"):
                abort(404, f"There is no topic {name}.")
            errors[_config_error_field(exc.message, rows, "set")] = exc.message
    if errors:
        return _render_detail(name, errors)
    flash(f"Configs of {name} changed.", "success")
    return redirect(url_for("topics.detail", name=name) + "#configs-h")


@bp.post("/<name>/partitions")
def partitions(name: str):
    errors = {}
    total = _int_field(request.form, "total", errors, minimum=1)
    if total is None and not errors:
        errors["total"] = "Give the new number of partitions."
    if not errors:
        try:
            topics.add_partitions(_admin(), name, total)
        except topics.AdminFailure as exc:
            if exc.code in ("UNKNOWN_TOPIC_OR_PART", "UNKNOWN_TOPIC_ID"):
                abort(404, f"There is no topic {name}.")
            errors["total"] = exc.message
    if errors:
        return _render_detail(name, errors)
    flash(f"{name} now has {total} partitions.", "success")
    return redirect(url_for("topics.detail", name=name))


@bp.route("/<name>/delete", methods=["GET", "POST"])
def delete(name: str):
    """A page of its own: the topic's name must be typed to confirm."""
    errors = {}
    if request.method == "POST":
        if request.form.get("confirm", "").strip() != name:
            errors["confirm"] = f"Type {name} to confirm."
        else:
            try:
                topics.delete(_admin(), name)
            except topics.AdminFailure as exc:
                errors["confirm"] = exc.message
            else:
                flash(f"Topic {name} deleted.", "success")
                return redirect(url_for("topics.index"))
    detail = _detail_or_404(name)
    return render_template("topics/delete.html", title=f"Delete topic {name}", topic=detail, errors=errors,
                           form=request.form)


# -- records ----------------------------------------------------------------------------------


def _browse_request(args, partition_ids: list[int]) -> tuple[dict, dict]:
    """The browse form's choices (with defaults) and errors by field."""
    errors = {}
    choice = {"partition": args.get("partition", ""), "start": args.get("start", "latest"),
              "offset": args.get("offset", ""), "timestamp": args.get("timestamp", ""),
              "limit": args.get("limit", str(DEFAULT_LIMIT))}
    partition = _int_field(args, "partition", errors, minimum=0)
    if partition is not None and partition not in partition_ids:
        errors["partition"] = f"The topic has no partition {partition}."
    choice["partitions"] = [partition] if partition is not None else partition_ids
    if choice["start"] not in ("earliest", "latest", "offset", "timestamp"):
        errors["start"] = "Choose where to start."
    limit = _int_field(args, "limit", errors, blank=DEFAULT_LIMIT, minimum=1)
    if limit is not None and limit > records.MAX_RECORDS:
        errors["limit"] = f"At most {records.MAX_RECORDS} records at once."
    choice["limit_n"] = limit
    choice["offset_n"] = _int_field(args, "offset", errors, minimum=0)
    if choice["start"] == "offset" and choice["offset_n"] is None and "offset" not in errors:
        errors["offset"] = "Give the offset to start at."
    choice["timestamp_ms"] = None
    if choice["start"] == "timestamp":
        text = choice["timestamp"].strip()
        try:
            choice["timestamp_ms"] = int(text) if text.isdigit() else iso_to_ms(text)
        except ValueError:
            errors["timestamp"] = ("Give a time as ISO-8601 (2024-05-01T12:00:00Z; no zone is UTC) "
                                   "or epoch milliseconds.")
    return choice, errors


@bp.get("/<name>/messages")
def messages(name: str):
    detail = _detail_or_404(name)
    partition_ids = [p.id for p in detail.partitions]
    choice, errors = _browse_request(request.args, partition_ids)
    found, read_error, tail_positions = [], None, None
    if not errors and partition_ids:
        try:
            if request.args.get("tail") == "1":
                tail_positions = records.end_positions(backends(), name, choice["partitions"])
            else:
                found = records.browse(backends(), _decoder(), name, choice["partitions"], choice["start"],
                                       choice["offset_n"], choice["timestamp_ms"], choice["limit_n"])
        except records.ReadError as exc:
            read_error = exc.args[0]
    return render_template("topics/messages.html", title=f"Messages of {name}", topic=detail, choice=choice,
                           errors=errors, records=found, read_error=read_error,
                           tail_positions=_positions_text(tail_positions) if tail_positions is not None else None)


def _positions_text(positions: dict[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(positions.items()))


def _parse_positions(text: str) -> dict[int, int]:
    try:
        pairs = [item.split(":") for item in text.split(",") if item]
        return {int(p): int(o) for p, o in pairs}
    except ValueError:
        abort(400, "positions must be partition:offset pairs separated by commas")


@bp.get("/<name>/tail")
def tail(name: str):
    """The records since `positions` as table rows, then the poller row that asks again."""
    positions = _parse_positions(request.args.get("positions", ""))
    error = None
    new = []
    try:
        new, positions = records.tail(backends(), _decoder(), name, positions)
    except records.ReadError as exc:
        error = exc.args[0]
    return render_template("topics/_tail_rows.html", topic_name=name, records=new, error=error,
                           positions=_positions_text(positions))


@bp.route("/<name>/produce", methods=["GET", "POST"])
def produce(name: str):
    detail = _detail_or_404(name)
    registry = backends().schema_registry
    schema, schema_error = None, None
    try:
        schema = records.value_schema(registry, name)
    except SchemaRegistryError as exc:  # the registry is down: raw values can still be produced
        schema_error = exc.error_message
    form, errors = request.form, {}
    if request.method == "POST":
        written = _produce(name, detail, schema, form, errors)
        if written is not None:
            partition, offset = written
            flash(f"Produced to partition {partition} at offset {offset}.", "success")
            return redirect(url_for("topics.produce", name=name, partition=partition, offset=offset))
    return render_template("topics/produce.html", title=f"Produce to {name}", topic=detail, schema=schema,
                           schema_error=schema_error, form=form, errors=errors, header_rows=HEADER_ROWS,
                           written=(request.args.get("partition"), request.args.get("offset")))


def _produce(name: str, detail: topics.TopicDetail, schema, form, errors: dict):
    partition = _int_field(form, "partition", errors, minimum=0)
    if partition is not None and partition not in {p.id for p in detail.partitions}:
        errors["partition"] = f"The topic has no partition {partition}."
    headers = []
    for i in range(HEADER_ROWS):
        header_name, header_value = form.get(f"header_name_{i}", ""), form.get(f"header_value_{i}", "")
        if header_name.strip():
            headers.append((header_name.strip(), header_value.encode()))
        elif header_value:
            errors[f"header_name_{i}"] = "Give the header's name for this value."
    key = form.get("key", "")
    value_text = form.get("value", "")
    value = None
    if schema is not None:
        if not value_text.strip():
            errors["value"] = f"Give the value as JSON for {schema.subject}."
        elif not errors:
            try:
                value = records.encode_value(backends().schema_registry, schema, value_text)
            except records.ProduceError as exc:
                errors[exc.field or "form"] = exc.message
    else:
        value = value_text.encode() if form.get("null_value") != "true" else None
    if errors:
        return None
    try:
        return records.produce(backends(), name, key.encode() if key else None, value, headers, partition)
    except records.ProduceError as exc:
        errors[exc.field or "form"] = exc.message
        return None
