"""Standby replicas (`num.standby.replicas`): warm copies of the state of tasks that run on other
instances, so that an instance taking a task over restores only what changed since (Kafka's
StandbyTask).

Each instance reads the settled assignment from the group's description, orders the instances by
their client ids, and holds standbys for the tasks whose active instance comes just before it
(the next `num.standby.replicas` instances after the active one, wrapping round). A standby task
keeps the task's persistent, logged stores in the task's own directory, follows their changelog
partitions and writes the task's checkpoint, which the active task trusts when it starts here.
"""

from __future__ import annotations

import logging
import os
import threading

from streams.state_manager import ChangelogReader, read_checkpoint, write_checkpoint
from streams.topology import SubTopology

log = logging.getLogger("streams.standby")

_ROUND_SECONDS = 1.0  # how often the standbys follow their changelogs and the assignment is looked at


class StandbyTask:
    def __init__(self, task_id: str, sub: SubTopology, partition: int, topology, topics: dict[str, str],
                 directory: str):
        self.id, self.partition, self.directory = task_id, partition, directory
        builders = [topology.stores[name] for name in sub.stores]
        self.stores = {b.name: b.build() for b in builders if b.persistent and b.logging}
        self.changelogs = {name: topics[name + "-changelog"] for name in self.stores}
        self.positions: dict[str, int] = {}

    def open(self, reader: ChangelogReader, key_serde, value_serde) -> None:
        os.makedirs(self.directory, exist_ok=True)
        checkpoints = read_checkpoint(self.directory)
        for name, store in self.stores.items():
            topic = self.changelogs[name]
            store.init(self.directory, key_serde, value_serde, topic, None, 0)
            start, end = reader.start_offset(topic, self.partition, checkpoints.get((topic, self.partition)))
            if start < 0:
                store.inner.wipe()
            self.positions[topic] = reader.restore(topic, self.partition, start, end, store)
        self.checkpoint()

    def update(self, reader: ChangelogReader) -> None:
        """One round: the changes the active task logged since the last one."""
        for name, store in self.stores.items():
            topic = self.changelogs[name]
            end = reader.end_offset(topic, self.partition)
            if end > self.positions[topic]:
                self.positions[topic] = reader.restore(topic, self.partition, self.positions[topic], end, store,
                                                       logging.DEBUG)
        self.checkpoint()

    def checkpoint(self) -> None:
        for store in self.stores.values():
            store.inner.flush()
        write_checkpoint(self.directory, {(topic, self.partition): offset for topic, offset in self.positions.items()})

    def close(self) -> None:
        self.checkpoint()
        for store in self.stores.values():
            store.close()


class StandbyTasks(threading.Thread):
    """This instance's standby tasks, kept up to date in a thread of their own."""

    def __init__(self, streams, replicas: int):
        super().__init__(name=f"{streams.client_id}-StandbyTasks", daemon=True)
        self.streams, self.replicas = streams, replicas
        self.tasks: dict[str, StandbyTask] = {}
        self._claimed: set[str] = set()  # tasks a stream thread runs here: never a standby at once
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        config = streams.config
        self._subs = {sub.id: sub for sub in streams.subs if any(
            streams.topology.stores[s].persistent and streams.topology.stores[s].logging for s in sub.stores)}
        self._reader = ChangelogReader(config.restore_consumer_config(f"{streams.client_id}-standby"))

    # -- the stream threads' side ------------------------------------------------------------------

    def claim(self, task_id: str) -> None:
        """A stream thread is about to run the task: its standby, if any, closes (checkpointed)."""
        with self._lock:
            self._claimed.add(task_id)
            task = self.tasks.pop(task_id, None)
            if task is not None:
                task.close()
                log.info("standby task %s handed to its active task", task_id)

    def unclaim(self, task_id: str) -> None:
        with self._lock:
            self._claimed.discard(task_id)

    # -- the loop --------------------------------------------------------------------------------

    def shutdown(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        try:
            while not self._stopping.wait(_ROUND_SECONDS):
                try:
                    self._round()
                except Exception as exc:  # the next round tries again; standbys never stop the client
                    log.warning("standby tasks: %s", exc)
        finally:
            with self._lock:
                for task in self.tasks.values():
                    task.close()
                self.tasks.clear()
            self._reader.close()

    def _round(self) -> None:
        wanted = self._wanted()
        with self._lock:
            if wanted is not None:
                for task_id in [t for t in self.tasks if t not in wanted or t in self._claimed]:
                    self.tasks.pop(task_id).close()
                    log.info("standby task %s closed", task_id)
                for task_id in sorted(wanted - set(self.tasks) - self._claimed):
                    self._open(task_id)
            for task in self.tasks.values():
                task.update(self._reader)

    def _open(self, task_id: str) -> None:
        sub_id, partition = (int(part) for part in task_id.split("_"))
        streams = self.streams
        directory = os.path.join(streams.config["state.dir"], streams.config.application_id, task_id)
        task = StandbyTask(task_id, self._subs[sub_id], partition, streams.topology, streams.names, directory)
        task.open(self._reader, streams.config.default_key_serde, streams.config.default_value_serde)
        self.tasks[task_id] = task
        log.info("standby task %s opened at %s", task_id, task.positions)

    def _wanted(self) -> set[str] | None:
        """The tasks this instance should hold a standby of, or None while the group rebalances."""
        instances = self.streams.metadata.instance_partitions()
        if instances is None or self.streams.client_id not in instances:
            return None
        order = sorted(instances)
        me = order.index(self.streams.client_id)
        wanted = set()
        for sub_id, sub in self._subs.items():
            topic = self.streams.names[sub.source_topics[0]]
            for instance, partitions in instances.items():
                holders = [order[(order.index(instance) + k) % len(order)] for k in range(1, self.replicas + 1)]
                if order[me] in holders and instance != order[me]:
                    wanted.update(f"{sub_id}_{p}" for t, p in partitions if t == topic)
        return wanted
