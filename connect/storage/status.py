"""Connector and task states as the REST API reports them, kept in memory or in the status topic
(`status-connector-<c>`, `status-task-<c>-<n>`: {"state", "trace", "worker_id", "generation"}).
A state from an older generation never overwrites a newer one written by another worker."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

from connect.converters.json import compact
from connect.storage.kafka_log import KafkaBasedLog, ensure_compacted_topic

log = logging.getLogger("connect.status")

UNASSIGNED, RUNNING, PAUSED, FAILED, RESTARTING, STOPPED = \
    "UNASSIGNED", "RUNNING", "PAUSED", "FAILED", "RESTARTING", "STOPPED"


@dataclass(frozen=True)
class Status:
    id: str | tuple[str, int]  # a connector name, or (connector, task)
    state: str
    worker_id: str
    generation: int = 0
    trace: str | None = None

    def key(self) -> bytes:
        if isinstance(self.id, tuple):
            return f"status-task-{self.id[0]}-{self.id[1]}".encode()
        return f"status-connector-{self.id}".encode()

    def value(self) -> bytes:
        return compact({"state": self.state, "trace": self.trace, "worker_id": self.worker_id,
                        "generation": self.generation})

    def info(self) -> dict:
        """The REST API's state entity (trace only when there is one)."""
        out = {"state": self.state, "worker_id": self.worker_id}
        if self.trace:
            out["trace"] = self.trace
        return out


def topic_key(connector: str, topic: str) -> bytes:
    return f"status-topic-{topic}:connector-{connector}".encode()


def topic_value(connector: str, topic: str, task: int) -> bytes:
    return compact({"topic": {"name": topic, "connector": connector, "task": task,
                              "discoverTimestamp": int(time.time() * 1000)}})


class MemoryStatusBackingStore:
    def __init__(self):
        self._connectors: dict[str, Status] = {}
        self._tasks: dict[tuple[str, int], Status] = {}
        self._topics: dict[str, set[str]] = {}  # active topics per connector (KIP-558)
        self._lock = threading.Lock()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def put(self, status: Status) -> None:
        self._apply(status)

    def put_safe(self, status: Status) -> None:
        """Write unless another worker has since written this id with a newer generation."""
        with self._lock:
            current = self._get(status.id)
            if current is not None and current.worker_id != status.worker_id and current.generation > status.generation:
                return
        self.put(status)

    def _get(self, ident):
        return self._tasks.get(ident) if isinstance(ident, tuple) else self._connectors.get(ident)

    def _apply(self, status: Status | None, key_id=None) -> None:
        with self._lock:
            ident = status.id if status is not None else key_id
            table = self._tasks if isinstance(ident, tuple) else self._connectors
            if status is None:
                table.pop(ident, None)
            else:
                table[ident] = status

    def connector(self, name: str) -> Status | None:
        with self._lock:
            return self._connectors.get(name)

    def task(self, connector: str, task: int) -> Status | None:
        with self._lock:
            return self._tasks.get((connector, task))

    def tasks(self, connector: str) -> list[Status]:
        with self._lock:
            return sorted((s for (c, _), s in self._tasks.items() if c == connector), key=lambda s: s.id[1])

    # -- active topics ---------------------------------------------------------------------------

    def put_topic(self, connector: str, topic: str, task: int) -> None:
        with self._lock:
            self._topics.setdefault(connector, set()).add(topic)

    def topics(self, connector: str) -> list[str]:
        with self._lock:
            return sorted(self._topics.get(connector, ()))

    def delete_topics(self, connector: str) -> None:
        with self._lock:
            self._topics.pop(connector, None)

    def delete_connector(self, name: str) -> None:
        """Tombstones for the connector and its tasks (its DESTROYED state)."""
        with self._lock:
            tasks = [k for k in self._tasks if k[0] == name]
        for ident in tasks:
            self._remove(ident)
        self._remove(name)
        self.delete_topics(name)

    def _remove(self, ident) -> None:
        self._apply(None, ident)


class KafkaStatusBackingStore(MemoryStatusBackingStore):
    """`status.storage.topic` (5 partitions by default, compacted)."""

    def __init__(self, topic: str, client_config: dict, admin_config: dict, partitions: int = 5,
                 replication_factor: int = 3, topic_configs: dict | None = None):
        super().__init__()
        self.topic = topic
        self._admin_config = admin_config
        self._create = (partitions, replication_factor, topic_configs)
        self._log = KafkaBasedLog(topic, client_config, self._on_record, {"retries": 0})

    def start(self) -> None:
        partitions, rf, configs = self._create
        ensure_compacted_topic(self._admin_config, self.topic, partitions, rf, "status.storage.topic", configs)
        self._log.start()

    def stop(self) -> None:
        self._log.stop()

    def put(self, status: Status) -> None:
        self._apply(status)  # our own view at once; the topic catches up
        self._log.send(status.key(), status.value(),
                       callback=lambda err, msg: err and log.warning("could not write status %s: %s", status.id, err))

    def _remove(self, ident) -> None:
        self._apply(None, ident)
        key = Status(ident, UNASSIGNED, "").key()
        self._log.send(key, None)

    def put_topic(self, connector: str, topic: str, task: int) -> None:
        super().put_topic(connector, topic, task)
        self._log.send(topic_key(connector, topic), topic_value(connector, topic, task))

    def delete_topics(self, connector: str) -> None:
        for topic in self.topics(connector):
            self._log.send(topic_key(connector, topic), None)
        super().delete_topics(connector)

    def flush(self) -> None:
        self._log.flush()

    def _on_record(self, key, value, partition, offset):
        name = key.decode("utf-8", "replace") if key else ""
        if name.startswith("status-topic-") and ":connector-" in name:
            topic, _, connector = name[len("status-topic-"):].rpartition(":connector-")
            with self._lock:
                if value is None:
                    self._topics.get(connector, set()).discard(topic)
                else:
                    self._topics.setdefault(connector, set()).add(topic)
            return
        ident = _parse_key(name) if name else None
        if ident is None:
            return
        if value is None:
            self._apply(None, ident)
            return
        try:
            body = json.loads(value)
            status = Status(ident, body["state"], body.get("worker_id") or "", int(body.get("generation") or 0),
                            body.get("trace"))
        except (ValueError, KeyError, TypeError):
            log.error("Failed to deserialize status record %s", key)
            return
        self._apply(status)


def _parse_key(key: str):
    if key.startswith("status-connector-"):
        return key[len("status-connector-"):]
    if key.startswith("status-task-"):
        connector, _, task = key[len("status-task-"):].rpartition("-")
        if task.isdigit():
            return connector, int(task)
    return None
