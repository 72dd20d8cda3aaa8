"""What standalone and distributed herders share (Kafka's AbstractHerder): config validation with
per-field errors, the REST entities built from configs and statuses, and status reporting.

A herder owns the config store, the status store and a Worker; the REST layer calls only the
herder. Errors are HerderError with the HTTP status Kafka's REST API answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from connect import connector_config
from connect.api import SinkConnector
from connect.config_def import ConfigValue
from connect.plugins import Plugins
from connect.storage.configs import PAUSED, STARTED, STOPPED, ClusterConfigState, RestartRequest
from connect.storage.status import FAILED, RESTARTING, UNASSIGNED, Status
from connect.transforms.chain import transforms_config_def, validate_transform_configs
from connect.worker_task import StatusListener

log = logging.getLogger("connect.herder")


class HerderError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(message: str) -> HerderError:
    return HerderError(404, message)


INITIAL_STATES = {"RUNNING": STARTED, "PAUSED": PAUSED, "STOPPED": STOPPED}


class HerderStatus(StatusListener):
    """Writes each state change to the status store, stamped with this worker and generation."""

    def __init__(self, store, worker_id: str, generation=lambda: 0):
        self.store = store
        self.worker_id = worker_id
        self.generation = generation

    def on_topic(self, task: tuple[str, int], topic: str) -> None:
        if topic not in self.store.topics(task[0]):
            self.store.put_topic(task[0], topic, task[1])

    def on_state(self, ident, state, trace=None):
        status = Status(ident, state, self.worker_id, self.generation(), trace)
        if state == UNASSIGNED:
            self.store.put_safe(status)  # a newer owner's RUNNING must not be overwritten
        else:
            self.store.put(status)


@dataclass(frozen=True)
class RestartPlan:
    """What one restart request restarts (Kafka's RestartPlan)."""
    connector: bool
    tasks: tuple[int, ...]


class Herder:
    def __init__(self, plugins: Plugins, config_store, status_store, worker_id: str):
        self.plugins = plugins
        self.config_store = config_store
        self.status_store = status_store
        self.worker_id = worker_id

    def snapshot(self) -> ClusterConfigState:
        return self.config_store.snapshot()

    # -- validation -----------------------------------------------------------------------------

    def validate(self, config: dict) -> dict:
        """ConfigInfos for a connector config (PUT /connector-plugins/{p}/config/validate)."""
        class_name = config.get("connector.class")
        if class_name is None:
            raise HerderError(400, f"Connector config {_java_map(config)} contains no connector type")
        desc = self.plugins.find(class_name, ("source", "sink"))
        if desc is None:
            available = ", ".join(d.class_name for d in self.plugins.all(("source", "sink")))
            raise HerderError(400, f"Failed to find any class that implements Connector and which name matches "
                                   f"{class_name}, available connectors are: {available}")
        connector = desc.cls()
        is_sink = isinstance(connector, SinkConnector)
        framework = connector_config.sink_config_def() if is_sink else connector_config.source_config_def()
        results = framework.validate(config)
        problems = connector_config.sink_problems(config) if is_sink else self._exactly_once_problems(connector, config)
        for key, message in problems.items():
            results[key].errors.append(message)
        keys = dict(framework.keys)
        self._validate_plugins(config, results, keys)
        for key, value in config.items():
            if value is None and key in results:
                results[key].errors.append("Null value can not be supplied as the configuration value.")
        connector_keys = connector.config().keys
        try:
            connector_values = connector.validate({k: v for k, v in config.items()})
        except Exception as exc:  # a connector's validate() that raises is one error, not a 500
            connector_values = [ConfigValue("connector.class", class_name, errors=[f"{type(exc).__name__}: {exc}"])]
        for value in connector_values:
            if value.name in results:
                results[value.name].errors.extend(e for e in value.errors if e not in results[value.name].errors)
            else:
                results[value.name] = value
        keys.update({k: v for k, v in connector_keys.items() if k not in keys})
        return _config_infos(class_name, keys, results, config)

    exactly_once_source = False  # the distributed herder's worker may run sources in transactions

    def _exactly_once_problems(self, connector, config: dict) -> dict[str, str]:
        problems = {}
        if (config.get("transaction.boundary") or "poll").strip().lower() == "connector":
            problems["transaction.boundary"] = ("Connector-defined transaction boundaries are not supported by this "
                                                "runtime; use poll or interval")
        if (config.get("exactly.once.support") or "").strip().lower() == "required":
            if not self.exactly_once_source:
                problems["exactly.once.support"] = ("This worker does not have exactly-once source support enabled "
                                                    "(exactly.once.source.support=enabled)")
            else:
                support = connector.exactly_once_support(config)
                if support is None or getattr(support, "value", support) != "SUPPORTED":
                    problems["exactly.once.support"] = ("The connector does not support exactly-once semantics with "
                                                        "the given configuration.")
        return problems

    def _validate_plugins(self, config: dict, results: dict, keys: dict) -> None:
        """Converters, transforms and predicates named in the config must exist; their own keys
        are checked under their prefixes."""
        for kind in ("key.converter", "value.converter", "header.converter"):
            name = config.get(kind)
            kinds = ("header_converter",) if kind == "header.converter" else ("converter",)
            if name and self.plugins.find(name, kinds) is None:
                results[kind].errors.append(f"Invalid value {name} for configuration {kind}: Class {name} could "
                                            f"not be found.")
        for key in transforms_config_def(self.plugins, config).keys.values():
            keys.setdefault(key.name, key)
        for value in validate_transform_configs(self.plugins, config):
            existing = results.get(value.name)
            if existing is None:
                results[value.name] = value
            else:
                existing.errors.extend(e for e in value.errors if e not in existing.errors)

    def validate_or_raise(self, config: dict) -> dict:
        infos = self.validate(config)
        if infos["error_count"]:
            lines = [f"{c['value']['name']}: {e}" if not e.startswith(c["value"]["name"]) else e
                     for c in infos["configs"] if c["value"] for e in c["value"]["errors"]]
            raise HerderError(400, f"Connector configuration is invalid and contains the following "
                                   f"{infos['error_count']} error(s):\n" + "\n".join(lines) +
                              "\nYou can also find the above list of errors at the endpoint "
                              "`/connector-plugins/{connectorType}/config/validate`")
        return infos

    # -- entities -------------------------------------------------------------------------------

    def connector_type(self, config: dict | None) -> str:
        desc = self.plugins.find(config.get("connector.class", ""), ("source", "sink")) if config else None
        return desc.kind if desc else "unknown"

    def connector_info(self, name: str, state: ClusterConfigState | None = None) -> dict:
        state = state or self.snapshot()
        if not state.contains(name):
            raise not_found(f"Connector {name} not found")
        config = state.connector_configs[name]
        return {"name": name, "config": dict(config),
                "tasks": [{"connector": name, "task": t} for _, t in state.tasks(name)],
                "type": self.connector_type(config)}

    def connector_status(self, name: str) -> dict:
        state = self.snapshot()
        status = self.status_store.connector(name)
        if status is None or not state.contains(name):
            raise not_found(f"No status found for connector {name}")
        tasks = []
        for task in self.status_store.tasks(name):
            if task.id[1] < len(state.task_configs.get(name, [])):
                tasks.append({"id": task.id[1], **task.info()})
        return {"name": name, "connector": status.info(), "tasks": tasks,
                "type": self.connector_type(state.connector_configs.get(name))}

    # -- restarts -------------------------------------------------------------------------------

    def restart_plan(self, request: RestartRequest) -> RestartPlan:
        """The connector restarts unless only failed instances are asked for and it has not
        failed; tasks restart only when included, and then only failed ones if so asked."""
        name = request.connector
        connector = self.status_store.connector(name)
        tasks = ()
        if request.include_tasks:
            tasks = tuple(t for _, t in self.snapshot().tasks(name)
                          if not request.only_failed or self._has_failed((name, t)))
        return RestartPlan(not request.only_failed or (connector is not None and connector.state == FAILED), tasks)

    def _has_failed(self, task: tuple[str, int]) -> bool:
        status = self.status_store.task(*task)
        return status is not None and status.state == FAILED

    def restart_answer(self, name: str, plan: RestartPlan) -> dict:
        """The connector's status with what the plan restarts shown as RESTARTING (the 202 body)."""
        answer = self.connector_status(name)
        if plan.connector:
            answer["connector"]["state"] = RESTARTING
        for task in answer["tasks"]:
            if task["id"] in plan.tasks:
                task["state"] = RESTARTING
        return answer

    def task_status(self, name: str, task: int) -> dict:
        status = self.status_store.task(name, task)
        if status is None or not self.snapshot().contains(name):
            raise not_found(f"No status found for task {name}-{task}")
        return {"id": task, **status.info()}

    def task_infos(self, name: str) -> list[dict]:
        state = self.snapshot()
        if not state.contains(name):
            raise not_found(f"Connector {name} not found")
        return [{"id": {"connector": name, "task": i}, "config": dict(c)}
                for i, c in enumerate(state.task_configs.get(name, []))]

    def active_topics(self, name: str) -> list[str]:
        return self.status_store.topics(name)

    def reset_active_topics(self, name: str) -> None:
        self.status_store.delete_topics(name)

    def connector_config(self, name: str) -> dict:
        return dict(self.connector_info(name)["config"])

    def plugin_config(self, plugin: str) -> list[dict]:
        desc = self.plugins.find(plugin)
        if desc is None:
            raise not_found(f"Unknown plugin {plugin}.")
        return desc.cls().config().infos()


def _config_infos(class_name: str, keys: dict, results: dict, config: dict) -> dict:
    groups, configs, errors = [], [], 0
    for name, key in keys.items():
        if key.group and key.group not in groups:
            groups.append(key.group)
    for name, value in results.items():
        key = keys.get(name)
        errors += len(value.errors)
        configs.append({"definition": key.info() if key else None,
                        "value": value.info(key.type if key else None)})
    for name in config:
        if name not in results:
            configs.append({"definition": None,
                            "value": ConfigValue(name, config[name]).info()})
    return {"name": class_name, "error_count": errors, "groups": groups, "configs": configs}


def _java_map(config: dict) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in config.items()) + "}"


