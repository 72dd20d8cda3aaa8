"""Kafka Connect: connectors with their tasks' states and traces, a connector's page (its config with
password-type values hidden, its offsets, pause/resume/restart/stop/delete), and a new connector
made from a form that Connect's own `config/validate` answer describes.

Everything goes through Connect's REST API (Backends.connect), so the pages work in front of
Apache Kafka's workers as well as ours.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from console.backends import ServiceError
from console.routes import backends

bp = Blueprint("connect", __name__, url_prefix="/connect")
nav = ("connect.index", "Connect")

HIDDEN = "[hidden]"  # what Connect itself shows for a PASSWORD value
# Keys outside any ConfigDef Connect validates (converter, client and config-provider settings):
# Connect types them nowhere, so names that usually hold secrets are hidden too.
SECRET_NAME_ENDINGS = ("password", "secret", "user.info", "jaas.config", "token", "credentials")
# Framework keys the form sets itself rather than asking for.
FORM_SETS = {"connector.class"}
# How each ConfigDef type is typed into the form.
INPUT_TYPES = {"INT": "number", "SHORT": "number", "LONG": "number", "DOUBLE": "number", "PASSWORD": "password"}


def _path(name: str) -> str:
    return quote(name, safe="")


# -- the connectors list -----------------------------------------------------------------------------

def _connectors() -> list[dict]:
    expanded = backends().connect("GET", "/connectors?expand=status&expand=info") or {}
    rows = []
    for name in sorted(expanded):
        status = expanded[name].get("status") or {}
        info = expanded[name].get("info") or {}
        rows.append({"name": name, "type": info.get("type") or status.get("type"),
                     "class": (info.get("config") or {}).get("connector.class", ""),
                     "state": (status.get("connector") or {}).get("state", "UNASSIGNED"),
                     "worker": (status.get("connector") or {}).get("worker_id", ""),
                     "tasks": sorted(status.get("tasks") or [], key=lambda t: t["id"])})
    return rows


@bp.get("/")
def index():
    try:
        rows, error = _connectors(), None
    except ServiceError as exc:
        rows, error = [], exc.message
    template = "connect/_connectors_table.html" if request.args.get("partial") else "connect/index.html"
    return render_template(template, title="Connectors", rows=rows, error=error)


# -- one connector -------------------------------------------------------------------------------------

def _password_keys(config: dict) -> set[str]:
    """The keys Connect's own validation types PASSWORD for this connector's class."""
    plugin = config.get("connector.class")
    if not plugin:
        return set()
    try:
        answer = backends().connect("PUT", f"/connector-plugins/{_path(plugin)}/config/validate", config)
    except ServiceError:
        return set()  # the plugin is gone: the name rule below still hides the usual secrets
    return {c["definition"]["name"] for c in answer.get("configs", [])
            if c.get("definition") and c["definition"].get("type") == "PASSWORD"}


def masked_config(config: dict) -> list[tuple[str, str]]:
    secret = _password_keys(config)
    return [(key, HIDDEN if key in secret or key.lower().endswith(SECRET_NAME_ENDINGS) else value)
            for key, value in sorted(config.items())]


def _offsets(name: str):
    """(offsets, None) or (None, why not): a worker may not support the offsets API."""
    try:
        return backends().connect("GET", f"/connectors/{_path(name)}/offsets").get("offsets", []), None
    except ServiceError as exc:
        return None, exc.message


def _status(name: str) -> dict:
    try:
        status = backends().connect("GET", f"/connectors/{_path(name)}/status")
    except ServiceError as exc:
        if exc.status != 404:
            raise
        # Just created: the worker has not written its first status yet (the page polls for it).
        status = {"name": name, "connector": {"state": "UNASSIGNED", "worker_id": ""}, "tasks": []}
    status["tasks"] = sorted(status.get("tasks") or [], key=lambda t: t["id"])
    return status


@bp.get("/connectors/<name>")
def connector(name):
    if request.args.get("partial"):  # the polled status section
        return render_template("connect/_status.html", name=name, status=_status(name))
    info = backends().connect("GET", f"/connectors/{_path(name)}")  # first: an unknown name is an error page
    status = _status(name)
    offsets, offsets_error = _offsets(name)
    return render_template("connect/connector.html", title=f"Connector {name}", name=name, info=info,
                           status=status, config=masked_config(info.get("config") or {}),
                           offsets=offsets, offsets_error=offsets_error)


ACTIONS = {  # form action -> (method, path suffix, what the flash says)
    "pause": ("PUT", "/pause", "Pause requested"),
    "resume": ("PUT", "/resume", "Resume requested"),
    "stop": ("PUT", "/stop", "Stop requested"),
    "restart": ("POST", "/restart", "Restart requested"),
    "reset-offsets": ("DELETE", "/offsets", "Offsets reset"),
}


@bp.post("/connectors/<name>/<action>")
def act(name, action):
    if action == "delete":
        return _delete(name)
    if action not in ACTIONS:
        abort(404)
    method, suffix, done = ACTIONS[action]
    if action == "restart":
        flags = {flag: "true" if request.form.get(flag) else "false" for flag in ("includeTasks", "onlyFailed")}
        suffix += f"?includeTasks={flags['includeTasks']}&onlyFailed={flags['onlyFailed']}"
    try:
        backends().connect(method, f"/connectors/{_path(name)}{suffix}")
        flash(f"{done}: {name}.", "success")
    except ServiceError as exc:
        flash(f"{done.split()[0]} failed: {exc.message}", "error")
    return redirect(url_for("connect.connector", name=name))


def _delete(name: str):
    try:
        backends().connect("DELETE", f"/connectors/{_path(name)}")
    except ServiceError as exc:
        flash(f"Delete failed: {exc.message}", "error")
        return redirect(url_for("connect.connector", name=name))
    flash(f"Connector {name} deleted.", "success")
    return redirect(url_for("connect.index"))


# -- a new connector from a plugin's config definition -----------------------------------------------------

@bp.get("/new")
def plugins():
    found = backends().connect("GET", "/connector-plugins") or []
    return render_template("connect/plugins.html", title="New connector",
                           plugins=sorted(found, key=lambda p: (p.get("type", ""), p["class"])))


def _validate(plugin: str, config: dict) -> dict:
    return backends().connect("PUT", f"/connector-plugins/{_path(plugin)}/config/validate",
                              {**config, "connector.class": plugin})


def form_sections(answer: dict, plugin: str, submitted: dict, show_errors: bool) -> list[dict]:
    """The validate answer as fieldsets: Connect's Common group (the name) first, then the connector's
    own keys (Connect gives them no group), then Connect's other groups in its order. A field: its
    definition, the value typed (never a password's), its errors and recommended values."""
    sections: dict[str, dict] = {}
    own = plugin.rsplit(".", 1)[-1]
    for entry in answer.get("configs", []):
        definition, value = entry.get("definition"), entry.get("value") or {}
        if definition is None or definition["name"] in FORM_SETS or not value.get("visible", True):
            continue
        group = definition.get("group") or own
        section = sections.setdefault(group, {"name": group, "fields": [], "errors": 0})
        errors = value.get("errors", []) if show_errors else []
        section["errors"] += len(errors)
        kind = definition.get("type", "STRING")
        section["fields"].append({
            "name": definition["name"], "label": definition.get("display_name") or definition["name"],
            "type": kind, "input": INPUT_TYPES.get(kind, "text"), "step": "any" if kind == "DOUBLE" else "1",
            "required": definition.get("required", False), "default": definition.get("default_value"),
            "documentation": definition.get("documentation") or "", "importance": definition.get("importance"),
            "recommended": value.get("recommended_values") or [],
            "value": "" if kind == "PASSWORD" else submitted.get(definition["name"], ""), "errors": errors})
    ordered = sorted(sections.values(), key=lambda s: (s["name"] not in (own, "Common"), s["name"] != "Common"))
    for index, section in enumerate(ordered):
        section["id"] = f"group-{index}"
        section["open"] = index < 2 or section["errors"] > 0
    return ordered


def _submitted() -> dict:
    """The fields typed in; an empty one means "Connect's default", so it is not sent."""
    return {key[len("cfg:"):]: value for key, value in request.form.items()
            if key.startswith("cfg:") and value.strip() != ""}


@bp.route("/new/<plugin>", methods=["GET", "POST"])
def new(plugin):
    submitted = _submitted() if request.method == "POST" else {}
    answer = _validate(plugin, submitted)
    problem = None
    if request.method == "POST":
        if answer.get("error_count", 0) == 0:
            try:
                backends().connect("POST", "/connectors", {"name": submitted.get("name", ""),
                                                            "config": {**submitted, "connector.class": plugin}})
                flash(f"Connector {submitted.get('name')} created.", "success")
                return redirect(url_for("connect.connector", name=submitted.get("name")))
            except ServiceError as exc:
                problem = exc.message
        else:
            problem = (f"Kafka Connect found {answer['error_count']} problem(s) in this configuration; "
                       "nothing was created.")
    sections = form_sections(answer, plugin, submitted, show_errors=request.method == "POST")
    # 200 even with errors: the browser would report a 4xx page load as an error of its own.
    return render_template("connect/new.html", title=f"New {plugin.rsplit('.', 1)[-1]}", plugin=plugin,
                           sections=sections, problem=problem)
