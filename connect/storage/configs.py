"""Connector configs, task configs and target states: in memory (standalone) or in the config
topic (distributed) with Apache Kafka's keys and JSON values (docs/design/connect.md §2.1):
`connector-<c>` {"properties"}, `task-<c>-<n>` {"properties"} applied only by `commit-<c>`
{"tasks": N}, `target-state-<c>` {"state", "state.v2"}, `restart-connector-<c>`, `session-key`.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

from connect.converters.json import compact
from connect.storage.kafka_log import KafkaBasedLog, ensure_compacted_topic

log = logging.getLogger("connect.configs")

STARTED, PAUSED, STOPPED = "STARTED", "PAUSED", "STOPPED"


@dataclass
class ClusterConfigState:
    """A consistent snapshot of the config topic (ClusterConfigState)."""
    offset: int = -1
    connector_configs: dict[str, dict] = field(default_factory=dict)
    task_configs: dict[str, list[dict]] = field(default_factory=dict)
    target_states: dict[str, str] = field(default_factory=dict)
    inconsistent: set[str] = field(default_factory=set)
    session_key: dict | None = None

    def connectors(self) -> list[str]:
        return sorted(self.connector_configs)

    def contains(self, connector: str) -> bool:
        return connector in self.connector_configs

    def target_state(self, connector: str) -> str:
        return self.target_states.get(connector, STARTED)

    def tasks(self, connector: str) -> list[tuple[str, int]]:
        if connector in self.inconsistent:
            return []
        return [(connector, i) for i in range(len(self.task_configs.get(connector, [])))]

    def task_config(self, connector: str, task: int) -> dict | None:
        configs = self.task_configs.get(connector, [])
        return configs[task] if 0 <= task < len(configs) else None


@dataclass(frozen=True)
class RestartRequest:
    connector: str
    only_failed: bool = False
    include_tasks: bool = False


class ConfigListener:
    """What a herder hears as configs change (ConfigBackingStore.UpdateListener)."""

    def on_connector_config_update(self, connector: str) -> None: ...
    def on_connector_config_remove(self, connector: str) -> None: ...
    def on_task_config_update(self, connector: str) -> None: ...
    def on_connector_target_state_change(self, connector: str) -> None: ...
    def on_restart_request(self, request: RestartRequest) -> None: ...
    def on_session_key_update(self, key: dict) -> None: ...


class MemoryConfigBackingStore:
    def __init__(self):
        self._state = ClusterConfigState()
        self._lock = threading.RLock()
        self.listener: ConfigListener = ConfigListener()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def snapshot(self) -> ClusterConfigState:
        """A deep copy: for assignments and answers that read several parts consistently."""
        with self._lock:
            return copy.deepcopy(self._state)

    # Cheap reads for the herder's loop and per-request checks, which would otherwise copy the
    # whole state many times a second.
    def offset(self) -> int:
        return self._state.offset

    def contains(self, connector: str) -> bool:
        return connector in self._state.connector_configs

    def session_key(self) -> dict | None:
        return self._state.session_key  # replaced whole on update, never changed in place

    def refresh(self, timeout: float = 30.0) -> None:
        pass

    def put_connector_config(self, connector: str, config: dict, target_state: str | None = None) -> None:
        with self._lock:
            if target_state is not None:
                self._state.target_states[connector] = target_state
            self._state.connector_configs[connector] = dict(config)
        self.listener.on_connector_config_update(connector)

    def remove_connector_config(self, connector: str) -> None:
        with self._lock:
            self._state.connector_configs.pop(connector, None)
            self._state.task_configs.pop(connector, None)
            self._state.target_states.pop(connector, None)
        self.listener.on_connector_config_remove(connector)

    def put_task_configs(self, connector: str, configs: list[dict]) -> None:
        with self._lock:
            self._state.task_configs[connector] = [dict(c) for c in configs]
            self._state.inconsistent.discard(connector)
        self.listener.on_task_config_update(connector)

    def put_target_state(self, connector: str, state: str) -> None:
        with self._lock:
            self._state.target_states[connector] = state
        self.listener.on_connector_target_state_change(connector)

    def put_restart_request(self, request: RestartRequest) -> None:
        self.listener.on_restart_request(request)


def target_state_value(state: str) -> dict:
    """Older workers know only STARTED/PAUSED in "state"; "state.v2" carries STOPPED."""
    return {"state": PAUSED if state == STOPPED else state, "state.v2": state}


class KafkaConfigBackingStore(MemoryConfigBackingStore):
    """`config.storage.topic`: one partition; the herder makes sure only the leader writes
    connector and task configs (pause/resume target states come from any worker)."""

    def __init__(self, topic: str, client_config: dict, admin_config: dict, replication_factor: int = 3,
                 topic_configs: dict | None = None):
        super().__init__()
        self.topic = topic
        self._admin_config = admin_config
        self._create = (replication_factor, topic_configs)
        self._pending_tasks: dict[str, dict[int, dict]] = {}
        self._log = KafkaBasedLog(topic, client_config, self._on_record)

    def start(self) -> None:
        rf, configs = self._create
        ensure_compacted_topic(self._admin_config, self.topic, 1, rf, "config.storage.topic", configs)
        self._log.start()

    def stop(self) -> None:
        self._log.stop()

    def refresh(self, timeout: float = 30.0) -> None:
        self._log.read_to_end(timeout)

    # -- writes: records on the topic; the state changes when they are read back ----------------

    def put_connector_config(self, connector, config, target_state=None):
        records = []
        if target_state is not None:
            records.append((f"target-state-{connector}".encode(), compact(target_state_value(target_state))))
        records.append((f"connector-{connector}".encode(), compact({"properties": config})))
        self._write(records)

    def remove_connector_config(self, connector):
        self._write([(f"connector-{connector}".encode(), None), (f"target-state-{connector}".encode(), None)])

    def put_task_configs(self, connector, configs):
        self._write([(f"task-{connector}-{i}".encode(), compact({"properties": c})) for i, c in enumerate(configs)])
        self._write([(f"commit-{connector}".encode(), compact({"tasks": len(configs)}))])

    def put_target_state(self, connector, state):
        self._write([(f"target-state-{connector}".encode(), compact(target_state_value(state)))])

    def put_restart_request(self, request):
        self._write([(f"restart-connector-{request.connector}".encode(),
                      compact({"include-tasks": request.include_tasks, "only-failed": request.only_failed}))])

    def put_session_key(self, key: dict) -> None:
        self._write([(b"session-key", compact(key))])

    def _write(self, records):
        self._log.send_and_wait(records)
        self._log.read_to_end()

    # -- reads --------------------------------------------------------------------------------

    def _on_record(self, key, value, partition, offset):
        if key is None:
            return
        name = key.decode("utf-8", "replace")
        try:
            body = json.loads(value) if value is not None else None
        except ValueError:
            log.error("Failed to convert config data to Kafka Connect format: %s", name)
            return
        notify: Callable | None = None
        with self._lock:
            self._state.offset = offset
            notify = self._apply(name, body)
        if notify is not None:
            notify()

    def _apply(self, name: str, body) -> Callable | None:
        state = self._state
        if name.startswith("connector-"):
            connector = name[len("connector-"):]
            if body is None:
                state.connector_configs.pop(connector, None)
                state.task_configs.pop(connector, None)
                state.target_states.pop(connector, None)
                self._pending_tasks.pop(connector, None)
                return lambda: self.listener.on_connector_config_remove(connector)
            state.connector_configs[connector] = _string_map(body.get("properties"))
            return lambda: self.listener.on_connector_config_update(connector)
        if name.startswith("target-state-"):
            connector = name[len("target-state-"):]
            if body is None:
                state.target_states.pop(connector, None)
                return None
            state.target_states[connector] = body.get("state.v2") or body.get("state") or STARTED
            return lambda: self.listener.on_connector_target_state_change(connector)
        if name.startswith("task-"):
            connector, _, index = name[len("task-"):].rpartition("-")
            if body is not None and index.isdigit():
                self._pending_tasks.setdefault(connector, {})[int(index)] = _string_map(body.get("properties"))
            return None
        if name.startswith("commit-"):
            return self._apply_commit(name[len("commit-"):], body)
        if name.startswith("restart-connector-") and body is not None:
            request = RestartRequest(name[len("restart-connector-"):], bool(body.get("only-failed")),
                                     bool(body.get("include-tasks")))
            return lambda: self.listener.on_restart_request(request)
        if name == "session-key" and body is not None:
            state.session_key = body
            return lambda: self.listener.on_session_key_update(body)
        return None  # tasks-fencing-, logger-cluster-, status of older versions: not ours to act on

    def _apply_commit(self, connector: str, body) -> Callable | None:
        if body is None:
            return None
        count = int(body.get("tasks", 0))
        pending = self._pending_tasks.pop(connector, {})
        previous = dict(enumerate(self._state.task_configs.get(connector, [])))
        merged = {**previous, **pending}
        if any(i not in merged for i in range(count)):
            log.error("connector %s: commit of %d tasks without all their configs; marking it inconsistent",
                      connector, count)
            self._state.inconsistent.add(connector)
            return None
        self._state.inconsistent.discard(connector)
        self._state.task_configs[connector] = [merged[i] for i in range(count)]
        return lambda: self.listener.on_task_config_update(connector)


def _string_map(props) -> dict:
    return {str(k): (v if isinstance(v, str) or v is None else str(v)) for k, v in (props or {}).items()}
