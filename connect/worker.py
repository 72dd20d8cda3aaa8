"""The worker: runs the connectors and tasks its herder assigns to it (Kafka's Worker).

It builds each task's converters (the connector's `key.converter`/`value.converter` when set,
else the worker's, each with its prefixed settings), its transformation chain and its Kafka
client, and reports every state change to the herder's StatusListener.
"""

from __future__ import annotations

import logging
import threading
import traceback

from confluent_kafka import Producer

from connect.api import Connector, ConnectorContext, SinkConnector, SourceTask, SinkTask
from connect.errors import ConnectException
from connect.plugins import Plugins, class_name_of
from connect.storage.configs import PAUSED, STOPPED
from connect.storage.status import FAILED, RUNNING, UNASSIGNED
from connect.storage.status import PAUSED as STATUS_PAUSED
from connect.storage.status import STOPPED as STATUS_STOPPED
from connect.tolerance import DeadLetterQueue, ErrorHandler
from connect.worker_config import WorkerConfig
from connect.worker_sink import WorkerSinkTask
from connect.worker_source import ExactlyOnceWorkerSourceTask, WorkerSourceTask
from connect.worker_task import Converters, StatusListener

log = logging.getLogger("connect.worker")


def prefixed(config: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}


class _NoTransforms:
    """The chain of a connector without `transforms`: records pass unchanged."""
    class_name = "TransformationChain"

    @staticmethod
    def apply(record):
        return record

    def close(self):
        pass


NO_TRANSFORMS = _NoTransforms()


class WorkerConnector:
    """A started connector object and its context."""

    def __init__(self, name: str, connector: Connector, config: dict, herder_callbacks):
        self.name = name
        self.connector = connector
        self.config = config
        self.callbacks = herder_callbacks
        self.running = False

    def start(self) -> None:
        worker = self

        class Context(ConnectorContext):
            def request_task_reconfiguration(self):
                worker.callbacks.request_task_reconfiguration(worker.name)

            def raise_error(self, exc):
                worker.callbacks.on_state(worker.name, FAILED, "".join(traceback.format_exception(exc)))

        self.connector.initialize(Context())
        self.connector.start(dict(self.config))
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.connector.stop()


class Worker:
    def __init__(self, config: WorkerConfig, plugins: Plugins, offset_store, status: StatusListener,
                 worker_id: str):
        self.config = config
        self.plugins = plugins
        self.offset_store = offset_store
        self.status = status
        self.worker_id = worker_id
        self.connectors: dict[str, WorkerConnector] = {}
        self.tasks: dict[tuple[str, int], object] = {}
        self._lock = threading.RLock()
        self.exactly_once_source = config.distributed and config["exactly.once.source.support"].lower() == "enabled"

    # -- connectors -----------------------------------------------------------------------------

    def start_connector(self, name: str, config: dict, target_state: str, callbacks) -> bool:
        """Start the connector object (unless STOPPED); False (and FAILED status) if it raises."""
        with self._lock:
            if name in self.connectors:
                raise ConnectException(f"Connector with name {name} already exists")
            if target_state == STOPPED:
                self.status.on_state(name, STATUS_STOPPED)
                return True
            try:
                connector = self.plugins.connector(config.get("connector.class", ""))
                running = WorkerConnector(name, connector, config, callbacks)
                running.start()
            except Exception as exc:
                log.error("Failed to start connector %s", name, exc_info=exc)
                self.status.on_state(name, FAILED, "".join(traceback.format_exception(exc)))
                return False
            self.connectors[name] = running
        self.status.on_state(name, STATUS_PAUSED if target_state == PAUSED else RUNNING)
        return True

    def is_running(self, name: str) -> bool:
        return name in self.connectors

    def connector_task_configs(self, name: str, config: dict) -> list[dict]:
        """The connector's task configs, each with `task.class` and (for sinks) its topics, as
        Worker.connectorTaskConfigs gives them."""
        running = self.connectors.get(name)
        if running is None:
            raise ConnectException(f"Connector {name} is not running on this worker")
        connector = running.connector
        max_tasks = int(config.get("tasks.max", "1"))
        configs = connector.task_configs(max_tasks)
        enforce = str(config.get("tasks.max.enforce", "true")).lower() == "true"
        if len(configs) > max_tasks and enforce:
            raise ConnectException(f"The connector {name} has generated {len(configs)} tasks, which is greater "
                                   f"than {max_tasks}, the maximum number of tasks it is configured to create. ")
        task_class = class_name_of(connector.task_class())
        out = []
        for task_config in configs:
            task_config = {str(k): str(v) for k, v in task_config.items()}
            task_config["task.class"] = task_class
            if isinstance(connector, SinkConnector):
                for key in ("topics", "topics.regex"):
                    if config.get(key):
                        task_config[key] = config[key]
            out.append(task_config)
        return out

    def stop_connector(self, name: str) -> None:
        with self._lock:
            running = self.connectors.pop(name, None)
        if running is None:
            return
        try:
            running.stop()
        except Exception:
            log.exception("Error while shutting down connector %s", name)
        self.status.on_state(name, UNASSIGNED)

    # -- tasks ----------------------------------------------------------------------------------

    def start_task(self, ident: tuple[str, int], connector_config: dict, task_config: dict,
                   target_state: str) -> bool:
        with self._lock:
            if ident in self.tasks:
                raise ConnectException(f"Task already exists in this worker: {ident[0]}-{ident[1]}")
            try:
                runner = self._build_task(ident, connector_config, task_config, target_state)
            except Exception as exc:
                log.error("Failed to start task %s-%d", *ident, exc_info=exc)
                self.status.on_state(ident, FAILED, "".join(traceback.format_exception(exc)))
                return False
            self.tasks[ident] = runner
        runner.start()
        return True

    def _build_task(self, ident, connector_config, task_config, target_state):
        task_class = self.plugins.find(task_config.get("task.class", ""), ("task",))
        if task_class is None:
            raise ConnectException(f"Invalid value {task_config.get('task.class')} for configuration task.class: "
                                   f"Class {task_config.get('task.class')} could not be found.")
        task = task_class.cls()
        converters = self._converters(connector_config)
        transforms = self._transforms(connector_config)
        flush_ms = int(self.config["offset.flush.interval.ms"])
        if isinstance(task, SourceTask):
            producer = {**self.config.client_config("producer"), "acks": "all", "enable.idempotence": True}
            args = (ident, self.status, target_state, task, task_config, connector_config, converters, transforms,
                    producer, self.offset_store, ErrorHandler(connector_config), flush_ms,
                    int(self.config["offset.flush.timeout.ms"]))
            if self.exactly_once_source:
                return ExactlyOnceWorkerSourceTask(
                    *args, transactional_id=f"{self.config['group.id']}-{ident[0]}-{ident[1]}",
                    offsets_topic=self.config["offset.storage.topic"])
            return WorkerSourceTask(*args)
        if isinstance(task, SinkTask):
            return WorkerSinkTask(ident, self.status, target_state, task, task_config, connector_config, converters,
                                  transforms, self.config.client_config("consumer"),
                                  ErrorHandler(connector_config, self._dead_letter_queue(ident, connector_config)),
                                  flush_ms)
        raise ConnectException(f"Tasks must be a subclass of either SourceTask or SinkTask: {type(task).__name__}")

    def _converters(self, connector_config: dict) -> Converters:
        def build(kind: str, is_key: bool | None):
            name = connector_config.get(kind) or self.config.get(kind)
            settings = prefixed(connector_config if connector_config.get(kind) else self.config.props, kind + ".")
            if not name:
                raise ConnectException(f"Missing required configuration \"{kind}\" which has no default value.")
            converter = self.plugins.new(name, ("header_converter",) if is_key is None else ("converter",),
                                         "HeaderConverter" if is_key is None else "Converter")
            if is_key is None:
                converter.configure(settings)
            else:
                converter.configure(settings, is_key)
            return converter
        return Converters(build("key.converter", True), build("value.converter", False),
                          build("header.converter", None))

    def _transforms(self, connector_config: dict):
        if not (connector_config.get("transforms") or "").strip():
            return NO_TRANSFORMS
        from connect.transforms.chain import TransformationChain
        return TransformationChain.from_config(self.plugins, connector_config)

    def _dead_letter_queue(self, ident, connector_config) -> DeadLetterQueue | None:
        topic = (connector_config.get("errors.deadletterqueue.topic.name") or "").strip()
        if not topic:
            return None
        from connect.storage.kafka_log import ensure_topic
        ensure_topic(self.config.client_config("admin"), topic, 1,
                     int(connector_config.get("errors.deadletterqueue.topic.replication.factor", 3)))
        producer = Producer({**self.config.client_config("producer"), "acks": "all",
                             "client.id": f"connector-dlq-producer-{ident[0]}-{ident[1]}"})
        headers = str(connector_config.get("errors.deadletterqueue.context.headers.enable", "false")).lower() == "true"
        return DeadLetterQueue(producer, topic, ident[0], ident[1], headers)

    def stop_tasks(self, idents, timeout: float | None = None) -> None:
        """Stop and wait (bounded by task.shutdown.graceful.timeout.ms)."""
        timeout = timeout if timeout is not None else int(self.config["task.shutdown.graceful.timeout.ms"]) / 1000
        with self._lock:
            runners = [(i, self.tasks.pop(i)) for i in list(idents) if i in self.tasks]
        for _, runner in runners:
            runner.stop()
        for ident, runner in runners:
            if not runner.await_stop(timeout):
                runner.cancel()
                log.error("Graceful stop of task %s-%d failed.", *ident)

    def task_ids(self, connector: str | None = None) -> list[tuple[str, int]]:
        with self._lock:
            return sorted(i for i in self.tasks if connector is None or i[0] == connector)

    def set_target_state(self, name: str, state: str, callbacks) -> None:
        """PAUSED pauses the connector's tasks in place; STOPPED stops the connector object."""
        if state == STOPPED:
            self.stop_connector(name)
            self.status.on_state(name, STATUS_STOPPED)
        elif name in self.connectors:
            self.status.on_state(name, STATUS_PAUSED if state == PAUSED else RUNNING)
        for ident in self.task_ids(name):
            runner = self.tasks.get(ident)
            if runner is not None:
                runner.transition_to(state)

    def stop(self) -> None:
        self.stop_tasks(self.task_ids())
        for name in list(self.connectors):
            self.stop_connector(name)

