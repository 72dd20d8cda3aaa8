"""Kafka Connect's REST API (docs/design/connect.md §1) over a herder: the same paths, bodies,
status codes and `{"error_code", "message"}` errors as Apache Kafka's worker."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from connect import forwarding, metrics
from connect.distributed import NotLeader
from connect.herder import HerderError

log = logging.getLogger("connect.rest")
bp = Blueprint("connect", __name__)
KAFKA_VERSION = "4.1.1"


def herder():
    return current_app.config["HERDER"]


def error(status: int, message: str):
    response = jsonify({"error_code": status, "message": message})
    response.status_code = status
    return response


def empty(status: int):
    return current_app.response_class(status=status)


def json_body(kind=dict):
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, kind):
        raise HerderError(400, "Request body must be a JSON " + ("object" if kind is dict else "value"))
    return body


def flag(name: str) -> bool:
    return (request.args.get(name) or "false").strip().lower() == "true"


# -- root and plugins ------------------------------------------------------------------------------

@bp.get("/")
def root():
    return jsonify({"version": KAFKA_VERSION, "commit": "schemabus",
                    "kafka_cluster_id": current_app.config.get("KAFKA_CLUSTER_ID")})


@bp.get("/health")
def health():
    if not getattr(herder(), "ready", True):
        return jsonify({"status": "starting", "message": "Worker is still starting up."}), 503
    return jsonify({"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."})


@bp.get("/connector-plugins")
def plugins():
    connectors_only = (request.args.get("connectorsOnly") or "true").lower() != "false"
    kinds = ("source", "sink") if connectors_only else None
    return jsonify([d.info() for d in herder().plugins.all(kinds)])


@bp.get("/connector-plugins/<plugin>/config")
def plugin_config(plugin):
    return jsonify(herder().plugin_config(plugin))


@bp.put("/connector-plugins/<plugin>/config/validate")
def validate(plugin):
    config = json_body()
    given = config.get("connector.class")
    if given is not None and _pruned(given) != _pruned(plugin) and \
            _pruned(given.rsplit(".", 1)[-1]) != _pruned(plugin.rsplit(".", 1)[-1]):
        raise HerderError(400, f"Included connector type {given} does not match request type {plugin}")
    return jsonify(herder().validate(config))


def _pruned(name: str) -> str:
    return name[: -len("Connector")] if name.endswith("Connector") else name


# -- connectors ------------------------------------------------------------------------------------

@bp.get("/connectors")
def connectors():
    h = herder()
    names = h.snapshot().connectors()
    expand = set(request.args.getlist("expand"))
    if not expand & {"status", "info"}:
        return jsonify(names)
    out = {}
    for name in names:
        entry = {}
        try:
            if "status" in expand:
                entry["status"] = h.connector_status(name)
            if "info" in expand:
                entry["info"] = h.connector_info(name)
        except HerderError:  # deleted while we listed
            continue
        out[name] = entry
    return jsonify(out)


@bp.post("/connectors")
def create_connector():
    body = json_body()
    name = (body.get("name") or "").strip()
    config = body.get("config")
    if not isinstance(config, dict):
        raise HerderError(400, "Connector config must be a JSON object")
    config = {str(k): (None if v is None else str(v) if not isinstance(v, str) else v) for k, v in config.items()}
    if "name" in config and config["name"] != name:
        raise HerderError(400, f"Connector name configuration ({config['name']}) doesn't match connector name "
                               f"in the URL ({name})")
    config["name"] = name
    initial = body.get("initial_state")
    if initial is not None:
        initial = str(initial).upper()
        if initial not in ("RUNNING", "PAUSED", "STOPPED"):
            raise HerderError(400, f"Invalid initial state {body.get('initial_state')}; must be one of "
                                   "RUNNING, PAUSED, STOPPED")
    _, info = herder().put_connector_config(name, config, allow_replace=False, initial_state=initial)
    response = jsonify(info)
    response.status_code = 201
    response.headers["Location"] = f"/connectors/{name}"
    return response


@bp.get("/connectors/<name>")
def connector(name):
    return jsonify(herder().connector_info(name))


@bp.delete("/connectors/<name>")
def delete_connector(name):
    herder().delete_connector(name)
    return empty(204)


@bp.get("/connectors/<name>/config")
def get_config(name):
    return jsonify(herder().connector_config(name))


@bp.put("/connectors/<name>/config")
def put_config(name):
    config = {str(k): (v if isinstance(v, str) or v is None else str(v)) for k, v in json_body().items()}
    if "name" in config and config["name"] != name:
        raise HerderError(400, f"Connector name configuration ({config['name']}) doesn't match connector name "
                               f"in the URL ({name})")
    config["name"] = name
    created, info = herder().put_connector_config(name, config, allow_replace=True)
    response = jsonify(info)
    if created:
        response.status_code = 201
        response.headers["Location"] = f"/connectors/{name}"
    return response


@bp.patch("/connectors/<name>/config")
def patch_config(name):
    patch = {str(k): (v if isinstance(v, str) or v is None else str(v)) for k, v in json_body().items()}
    if patch.get("name") not in (None, name):
        raise HerderError(400, f"Connector name configuration ({patch['name']}) doesn't match connector name "
                               f"in the URL ({name})")
    return jsonify(herder().patch_connector_config(name, patch))


@bp.get("/connectors/<name>/status")
def status(name):
    return jsonify(herder().connector_status(name))


@bp.get("/connectors/<name>/tasks")
def tasks(name):
    return jsonify(herder().task_infos(name))


@bp.get("/connectors/<name>/tasks/<int:task>/status")
def task_status(name, task):
    return jsonify(herder().task_status(name, task))


@bp.post("/connectors/<name>/tasks/<int:task>/restart")
def restart_task(name, task):
    herder().restart_task(name, task)
    return empty(204)


@bp.post("/connectors/<name>/restart")
def restart(name):
    include_tasks, only_failed = flag("includeTasks"), flag("onlyFailed")
    answer = herder().restart_connector(name, include_tasks, only_failed)
    if not include_tasks and not only_failed:
        return empty(204)
    response = jsonify(answer)
    response.status_code = 202
    return response


@bp.put("/connectors/<name>/pause")
def pause(name):
    herder().pause(name)
    return empty(202)


@bp.put("/connectors/<name>/resume")
def resume(name):
    herder().resume(name)
    return empty(202)


@bp.put("/connectors/<name>/stop")
def stop(name):
    herder().stop_connector(name)
    return empty(204)


@bp.get("/connectors/<name>/offsets")
def offsets(name):
    return jsonify(herder().offsets.get(name))


@bp.patch("/connectors/<name>/offsets")
def alter_offsets(name):
    return jsonify(herder().offsets.alter(name, json_body()))


@bp.delete("/connectors/<name>/offsets")
def reset_offsets(name):
    return jsonify(herder().offsets.reset(name))


@bp.post("/connectors/<name>/tasks")
def put_task_configs(name):
    """Internal: the worker running a connector publishes its task configs through the leader."""
    h = herder()
    if not hasattr(h, "put_task_configs"):
        raise HerderError(404, "HTTP 404 Not Found")
    raw = request.get_data()
    configs = json_body(list)
    h.put_task_configs(name, configs, raw, request.headers)
    return empty(204)


@bp.get("/connectors/<name>/topics")
def active_topics(name):
    h = herder()
    h.connector_info(name)  # 404 for an unknown connector
    return jsonify({name: {"topics": h.active_topics(name)}})


@bp.put("/connectors/<name>/topics/reset")
def reset_topics(name):
    h = herder()
    h.connector_info(name)
    h.reset_active_topics(name)
    return empty(202)


# -- loggers ---------------------------------------------------------------------------------------

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")
_PY_LEVELS = {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
              "ERROR": logging.ERROR, "FATAL": logging.CRITICAL, "OFF": logging.CRITICAL + 10}


def _level_name(level: int) -> str:
    for name, value in _PY_LEVELS.items():
        if value == level and name != "TRACE":
            return name
    return logging.getLevelName(level)


@bp.get("/admin/loggers")
def loggers():
    set_at = current_app.config.setdefault("LOGGER_TIMES", {})
    out = {"root": {"level": _level_name(logging.getLogger().getEffectiveLevel()),
                    "last_modified": set_at.get("root")}}
    for name, logger in sorted(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            out[name] = {"level": _level_name(logger.level), "last_modified": set_at.get(name)}
    return jsonify(out)


@bp.get("/admin/loggers/<name>")
def logger(name):
    if name != "root" and name not in logging.root.manager.loggerDict:
        raise HerderError(404, f"Logger {name} not found.")
    set_at = current_app.config.setdefault("LOGGER_TIMES", {})
    target = logging.getLogger() if name == "root" else logging.getLogger(name)
    return jsonify({"level": _level_name(target.getEffectiveLevel()), "last_modified": set_at.get(name)})


@bp.put("/admin/loggers/<name>")
def set_logger(name):
    body = json_body()
    level = body.get("level")
    if level is None:
        raise HerderError(400, "Desired 'level' parameter was not specified in request.")
    if str(level).upper() not in LEVELS:
        raise HerderError(404, f"invalid log level '{level}'.")
    target = logging.getLogger() if name == "root" else logging.getLogger(name)
    target.setLevel(_PY_LEVELS[str(level).upper()])
    set_at = current_app.config.setdefault("LOGGER_TIMES", {})
    affected = [name] + [n for n in logging.root.manager.loggerDict if name != "root" and n.startswith(name + ".")]
    now = int(time.time() * 1000)
    for n in affected:
        set_at[n] = now
    if (request.args.get("scope") or "worker").lower() == "cluster":
        return empty(204)
    return jsonify(sorted(affected))


# -- the app ---------------------------------------------------------------------------------------

def create_app(the_herder, kafka_cluster_id: str | None = None) -> Flask:
    app = Flask("schemabus.connect")
    app.config["HERDER"] = the_herder
    app.config["KAFKA_CLUSTER_ID"] = kafka_cluster_id
    app.url_map.strict_slashes = False
    app.register_blueprint(bp)

    @app.errorhandler(HerderError)
    def herder_error(exc: HerderError):
        return error(exc.status, exc.message)

    @app.errorhandler(NotLeader)
    def not_leader(exc: NotLeader):
        url = forwarding.forward_url(exc.leader_url or "", request.path, request.args.to_dict())
        if url is None or not exc.leader_url:
            return error(409, forwarding.CONFLICT)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() == "authorization" or k.lower().startswith("x-connect-")}
        response = forwarding.send(request.method, url, request.get_data() or None, headers)
        answer = current_app.response_class(response.data, status=response.status,
                                            content_type=response.headers.get("Content-Type", "application/json"))
        if response.headers.get("Location"):
            answer.headers["Location"] = response.headers["Location"]
        return answer

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("Uncaught exception in REST call to %s", request.path)
        return error(500, f"{type(exc).__name__}: {exc}")

    metrics.install(app, the_herder)  # /metrics and per-request counters (connect/metrics.py)
    return app

