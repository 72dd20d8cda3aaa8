"""What source and sink tasks share: a thread per task, the target state (running or paused),
failure reporting with the traceback, and record conversion through converters and SMTs."""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass

from connect.api import Converter, HeaderConverter
from connect.storage.configs import PAUSED
from connect.storage.status import FAILED
from connect.storage.status import PAUSED as STATUS_PAUSED
from connect.storage.status import RUNNING, UNASSIGNED

log = logging.getLogger("connect.worker")

TASK_FAILED_MESSAGE = ("Task threw an uncaught and unrecoverable exception. Task is being killed and will not "
                       "recover until manually restarted.")


@dataclass
class Converters:
    key: Converter
    value: Converter
    header: HeaderConverter


class StatusListener:
    """The herder's ears: each state change of a connector or task (TaskStatus.Listener)."""

    def on_state(self, ident, state: str, trace: str | None = None) -> None: ...

    def on_topic(self, task: tuple[str, int], topic: str) -> None: ...


class WorkerTask:
    """Runs `execute()` on its own thread until stopped; a task that raises is FAILED."""

    def __init__(self, ident: tuple[str, int], status: StatusListener, target_state: str):
        self.id = ident
        self.status = status
        self.target_state = target_state
        self.stopping = threading.Event()
        self._state_changed = threading.Condition()
        self.failed = False
        self.cancelled = False
        self.thread = threading.Thread(target=self._run, name=f"task-thread-{ident[0]}-{ident[1]}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            self.initialize_and_start()
            if not self.stopping.is_set():
                self.status.on_state(self.id, STATUS_PAUSED if self.target_state == PAUSED else RUNNING)
            self.execute()
        except Exception as exc:
            self.failed = True
            if not self.stopping.is_set():
                log.error("%s %s", self, TASK_FAILED_MESSAGE, exc_info=exc)
                self.status.on_state(self.id, FAILED, "".join(traceback.format_exception(exc)))
        finally:
            try:
                self.close()
            except Exception:
                log.exception("%s failed to close", self)
            if not self.failed and not self.cancelled:
                self.status.on_state(self.id, UNASSIGNED)

    def initialize_and_start(self) -> None:
        raise NotImplementedError

    def execute(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # -- target state ---------------------------------------------------------------------------

    def transition_to(self, state: str) -> None:
        with self._state_changed:
            previous, self.target_state = self.target_state, state
            self._state_changed.notify_all()
        if previous != state and not self.failed and not self.stopping.is_set():
            self.status.on_state(self.id, STATUS_PAUSED if state == PAUSED else RUNNING)

    def wait_while_paused(self) -> bool:
        """Block while paused; False once stopping."""
        with self._state_changed:
            while self.target_state == PAUSED and not self.stopping.is_set():
                self._state_changed.wait(0.5)
        return not self.stopping.is_set()

    @property
    def paused(self) -> bool:
        return self.target_state == PAUSED

    def stop(self) -> None:
        self.stopping.set()
        with self._state_changed:
            self._state_changed.notify_all()

    def cancel(self) -> None:
        """Abandon a task that did not stop in time (Kafka's WorkerTask.cancel): it may still end
        later, but then says nothing, so its UNASSIGNED never overwrites the state of the task
        started in its place."""
        self.cancelled = True

    def await_stop(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def __str__(self) -> str:
        return f"{type(self).__name__}{{id={self.id[0]}-{self.id[1]}}}"


def class_of(obj) -> str:
    cls = type(obj)
    return cls.__dict__.get("class_name") or f"{cls.__module__}.{cls.__qualname__}"
