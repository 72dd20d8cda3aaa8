"""The standalone herder: one worker, configs in memory, offsets in a file (StandaloneHerder).
Every REST write is applied at once under one lock."""

from __future__ import annotations

import logging
import threading
import traceback

from connect.herder import INITIAL_STATES, Herder, HerderError, HerderStatus, not_found
from connect.offsets_api import OffsetsApi
from connect.storage.configs import PAUSED, STARTED, STOPPED, MemoryConfigBackingStore, RestartRequest
from connect.storage.status import FAILED, RESTARTING, MemoryStatusBackingStore
from connect.worker import Worker

log = logging.getLogger("connect.standalone")


class StandaloneHerder(Herder):
    def __init__(self, worker_config, plugins, offset_store, worker_id: str):
        super().__init__(plugins, MemoryConfigBackingStore(), MemoryStatusBackingStore(), worker_id)
        self.status = HerderStatus(self.status_store, worker_id)
        self.offset_store = offset_store
        self.worker = Worker(worker_config, plugins, offset_store, self.status, worker_id)
        self.offsets = OffsetsApi(self, offset_store, worker_config)
        self._lock = threading.RLock()
        self.ready = False

    def start(self) -> None:
        self.offset_store.start()
        self.ready = True

    def stop(self) -> None:
        self.worker.stop()
        self.offset_store.stop()

    # -- callbacks from connectors --------------------------------------------------------------

    def request_task_reconfiguration(self, name: str) -> None:
        threading.Thread(target=self._reconfigure_tasks, args=(name,), daemon=True).start()

    def on_state(self, name, state, trace=None):
        self.status.on_state(name, state, trace)

    # -- REST operations ------------------------------------------------------------------------

    def put_connector_config(self, name: str, config: dict, allow_replace: bool,
                             initial_state: str | None = None) -> tuple[bool, dict]:
        self.validate_or_raise(config)
        with self._lock:
            exists = self.config_store.contains(name)
            if exists and not allow_replace:
                raise HerderError(409, f"Connector {name} already exists")
            if exists:
                self._stop_connector_and_tasks(name)
            target = None if exists or initial_state is None else INITIAL_STATES[initial_state]
            self.config_store.put_connector_config(name, config, target)
            self._start_connector(name)
            return not exists, self.connector_info(name)

    def patch_connector_config(self, name: str, patch: dict) -> dict:
        current = self.connector_config(name)
        merged = {**current, **patch}
        merged = {k: v for k, v in merged.items() if v is not None}
        return self.put_connector_config(name, merged, allow_replace=True)[1]

    def delete_connector(self, name: str) -> None:
        with self._lock:
            if not self.config_store.contains(name):
                raise not_found(f"Connector {name} not found")
            self._stop_connector_and_tasks(name)
            self.config_store.remove_connector_config(name)
            self.status_store.delete_connector(name)

    def _start_connector(self, name: str) -> None:
        state = self.config_store.snapshot()
        target = state.target_state(name)
        if not self.worker.start_connector(name, state.connector_configs[name], target, self):
            return
        if target == STOPPED:
            self.config_store.put_task_configs(name, [])
            return
        self._reconfigure_tasks(name)

    def _reconfigure_tasks(self, name: str) -> None:
        with self._lock:
            state = self.config_store.snapshot()
            if not state.contains(name) or not self.worker.is_running(name):
                return
            try:
                configs = self.worker.connector_task_configs(name, state.connector_configs[name])
            except Exception as exc:
                self.status.on_state(name, FAILED, "".join(traceback.format_exception(exc)))
                return
            if configs == state.task_configs.get(name) and self.worker.task_ids(name):
                return
            self.worker.stop_tasks(self.worker.task_ids(name))
            self.config_store.put_task_configs(name, configs)
            state = self.config_store.snapshot()
            for i in range(len(configs)):
                self._start_task((name, i), state)

    def _start_task(self, ident: tuple[str, int], state) -> None:
        name, task = ident
        self.worker.start_task(ident, state.connector_configs[name], state.task_configs[name][task],
                               state.target_state(name))

    def _stop_connector_and_tasks(self, name: str) -> None:
        self.worker.stop_tasks(self.worker.task_ids(name))
        self.worker.stop_connector(name)

    def restart_connector(self, name: str, include_tasks: bool = False, only_failed: bool = False) -> dict | None:
        with self._lock:
            if not self.config_store.contains(name):
                raise not_found(f"Unknown connector: {name}")
            plan = self.restart_plan(RestartRequest(name, only_failed, include_tasks))
            if plan.connector:
                self.status.on_state(name, RESTARTING)
            for t in plan.tasks:
                self.status.on_state((name, t), RESTARTING)
            answer = self.restart_answer(name, plan) if include_tasks or only_failed else None
            self.worker.stop_tasks([(name, t) for t in plan.tasks])
            state = self.config_store.snapshot()
            if plan.connector:
                self.worker.stop_connector(name)
                if self.worker.start_connector(name, state.connector_configs[name], state.target_state(name), self):
                    if not plan.tasks:
                        self._reconfigure_tasks(name)
            for t in plan.tasks:
                self._start_task((name, t), state)
            return answer

    def restart_task(self, name: str, task: int) -> None:
        with self._lock:
            state = self.config_store.snapshot()
            if state.task_config(name, task) is None:
                raise not_found(f"Unknown task: {name}-{task}")
            self.worker.stop_tasks([(name, task)])
            self._start_task((name, task), state)

    def set_target_state(self, name: str, target: str) -> None:
        with self._lock:
            state = self.config_store.snapshot()
            if not state.contains(name):
                raise not_found(f"Connector {name} not found")
            previous = state.target_state(name)
            self.config_store.put_target_state(name, target)
            if target == STOPPED:
                self.worker.stop_tasks(self.worker.task_ids(name))
                self.config_store.put_task_configs(name, [])
                self.worker.set_target_state(name, STOPPED, self)
            elif previous == STOPPED:
                self._start_connector(name)
            else:
                self.worker.set_target_state(name, target, self)

    def pause(self, name: str) -> None:
        self.set_target_state(name, PAUSED)

    def resume(self, name: str) -> None:
        self.set_target_state(name, STARTED)

    def stop_connector(self, name: str) -> None:
        self.set_target_state(name, STOPPED)

    def restart_request(self, request: RestartRequest) -> None:
        self.restart_connector(request.connector, request.include_tasks, request.only_failed)
