"""Consumer groups: the list with states and lag; a group's members, assignments and lag per partition
(refreshed by htmx, charted over time); resetting an inactive group's offsets; deleting a group."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from console import consumer_groups as groups
from console.backends import ServiceError
from console.routes import backends

bp = Blueprint("groups", __name__, url_prefix="/groups")
nav = ("groups.index", "Consumer groups")

REFRESH_S = 5  # how often a group page refreshes its lag (each refresh is a sample of the chart)
TARGETS = {"earliest": "Earliest offset", "latest": "Latest offset (end)",
           "timestamp": "First offset at or after a time", "offset": "A specific offset"}


def _history() -> groups.LagHistory:
    """One history per console (per app): it lives as long as the process."""
    return current_app.extensions.setdefault("lag_history", groups.LagHistory())


@bp.get("/")
def index():
    return render_template("groups/index.html", title="Consumer groups", rows=groups.list_groups(backends().admin))


def _lag_context(group_id: str, description) -> dict | None:
    """The group's lag (a sample of its history), or None for a group that does not exist: the
    broker describes any unknown id as a DEAD group without members (and it has no offsets)."""
    rows = groups.lag(backends().admin, group_id, description)
    if groups.enum_name(description.state) == "DEAD" and not rows:
        return None
    _history().record(group_id, rows)
    return {"group_id": group_id, "rows": rows, "total": groups.total_lag(rows),
            "chart": _history().chart_data(group_id), "refresh_s": REFRESH_S}


def _group_page(group_id: str, form: dict | None = None, errors: dict | None = None, refused: str | None = None):
    admin = backends().admin
    description = groups.describe(admin, [group_id])[group_id]
    lag = _lag_context(group_id, description)
    if lag is None:
        return render_template("error.html", title="404 Not Found", message=f"No consumer group {group_id!r}."), 404
    return render_template("groups/group.html", title=f"Consumer group {group_id}", group_id=group_id,
                           description=description, state=groups.enum_name(description.state),
                           group_type=groups.enum_name(description.type).lower(), lag=lag,
                           topics=sorted({row.topic for row in lag["rows"]}), targets=TARGETS,
                           inactive=groups.enum_name(description.state) in groups.INACTIVE_STATES
                           and not description.members,
                           form=form or {"target": "earliest"}, errors=errors or {}, refused=refused)


@bp.get("/view/<path:group_id>")
def group(group_id: str):
    return _group_page(group_id)


@bp.get("/lag/<path:group_id>")
def lag_fragment(group_id: str):
    """The lag table and the chart's data, polled by the group page."""
    try:
        context = _lag_context(group_id, groups.describe(backends().admin, [group_id])[group_id])
    except ServiceError as exc:
        return render_template("groups/_lag.html", error=exc.message, group_id=group_id, refresh_s=REFRESH_S)
    if context is None:
        return render_template("groups/_lag.html", error=f"the group {group_id} no longer exists",
                               group_id=group_id, refresh_s=REFRESH_S)
    return render_template("groups/_lag.html", error=None, **context)


def _reset_request(form: dict) -> tuple[dict, dict]:
    """The reset asked for (topic, target, timestamp_ms, offset), or the errors to show by the fields."""
    errors, parsed = {}, {"topic": form.get("topic") or None, "target": form.get("target", ""),
                          "timestamp_ms": None, "offset": None}
    if parsed["target"] not in TARGETS:
        errors["target"] = "Choose where to reset to."
    elif parsed["target"] == "timestamp":
        try:
            parsed["timestamp_ms"] = groups.parse_timestamp(form.get("timestamp", ""))
        except ValueError:
            errors["timestamp"] = "Give a time as 2026-01-31T12:00:00Z (ISO 8601, UTC unless it says otherwise) " \
                                  "or milliseconds since the epoch."
    elif parsed["target"] == "offset":
        text = form.get("offset", "").strip()
        if not text.isdigit():
            errors["offset"] = "Give an offset: a whole number, 0 or more."
        else:
            parsed["offset"] = int(text)
    return parsed, errors


@bp.post("/reset/<path:group_id>")
def reset(group_id: str):
    form = request.form.to_dict()
    parsed, errors = _reset_request(form)
    if errors:
        return _group_page(group_id, form, errors)
    try:
        done = groups.reset_offsets(backends().admin, group_id, **parsed)
    except groups.ResetRefused as exc:
        return _group_page(group_id, form, refused=str(exc))
    except ServiceError as exc:
        return _group_page(group_id, form, refused=f"Not reset: {exc.message}")
    flash("Offsets reset: " + ", ".join(f"{tp.topic}[{tp.partition}] → {tp.offset}" for tp in done), "success")
    return redirect(url_for("groups.group", group_id=group_id))


@bp.post("/delete/<path:group_id>")
def delete(group_id: str):
    if request.form.get("confirm") != "yes":
        return render_template("groups/confirm_delete.html", title="Confirm deletion", group_id=group_id)
    try:
        groups.delete_group(backends().admin, group_id)
    except ServiceError as exc:
        flash(f"Not deleted: {exc.message}", "error")
        return redirect(url_for("groups.group", group_id=group_id))
    _history().forget(group_id)
    flash(f"Consumer group {group_id} deleted.", "success")
    return redirect(url_for("groups.index"))
