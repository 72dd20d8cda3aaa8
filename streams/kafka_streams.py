"""KafkaStreams: runs a topology with `num.stream.threads` stream threads, and reports the client's
state (CREATED, REBALANCING, RUNNING, PENDING_SHUTDOWN, NOT_RUNNING, ERROR) as Kafka's does."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import uuid
from typing import Callable

from confluent_kafka.admin import AdminClient

from streams import internal_topics
from streams.config import StreamsConfig
from streams.errors import StreamsException
from streams.global_state import GlobalStores
from streams.standby import StandbyTasks
from streams.query_metadata import HostInfo, KeyQueryMetadata, StreamsMetadata, StreamsMetadataState
from streams.thread import DEAD, PARTITIONS_ASSIGNED, PARTITIONS_REVOKED, RUNNING as THREAD_RUNNING, STARTING, \
    StreamThread
from streams.topology import Topology

log = logging.getLogger("streams")

CREATED, REBALANCING, RUNNING, PENDING_SHUTDOWN, NOT_RUNNING, ERROR = (
    "CREATED", "REBALANCING", "RUNNING", "PENDING_SHUTDOWN", "NOT_RUNNING", "ERROR")
PROCESS_METADATA = "kafka-streams-process-metadata"


class KafkaStreams:
    def __init__(self, topology: Topology, props: dict | StreamsConfig):
        self.topology = topology
        self.config = props if isinstance(props, StreamsConfig) else StreamsConfig(props)
        self.state = CREATED
        self.threads: list[StreamThread] = []
        self._state_listener: Callable[[str, str], None] | None = None
        self._exception_handler: Callable[[BaseException], str] | None = None
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._state_dir = os.path.join(self.config["state.dir"], self.config.application_id)
        self.client_id = self.config["client.id"] or f"{self.config.application_id}-{uuid.uuid4()}"
        self.global_state: GlobalStores | None = None
        self.metadata: StreamsMetadataState | None = None
        self.standbys: StandbyTasks | None = None  # num.standby.replicas > 0

    # -- state ---------------------------------------------------------------------------------

    def set_state_listener(self, listener: Callable[[str, str], None]) -> None:
        """listener(new_state, old_state), as Kafka's KafkaStreams.StateListener."""
        self._state_listener = listener

    def set_uncaught_exception_handler(self, handler: Callable[[BaseException], str]) -> None:
        """handler(exception) -> "REPLACE_THREAD" | "SHUTDOWN_CLIENT" (the default)."""
        self._exception_handler = handler

    def _set_state(self, state: str) -> None:
        with self._lock:
            old = self.state
            if old == state or old in (NOT_RUNNING, ERROR) and state != NOT_RUNNING:
                return
            self.state = state
        log.info("stream-client [%s] State transition from %s to %s", self.client_id, old, state)
        if self._state_listener is not None:
            try:
                self._state_listener(state, old)
            except Exception:
                log.exception("the state listener failed")

    def _on_thread_state(self, thread: StreamThread, old: str, new: str) -> None:
        if new in (PARTITIONS_ASSIGNED, PARTITIONS_REVOKED) and self.metadata is not None:
            self.metadata.invalidate()  # the group's assignment changed
        if new == DEAD and thread.error is not None and self.state not in (PENDING_SHUTDOWN, NOT_RUNNING):
            self._on_thread_error(thread)
            return
        with self._lock:
            if self.state not in (REBALANCING, RUNNING):
                return
            states = [t.state for t in self.threads]
        if any(s in (STARTING, PARTITIONS_REVOKED, PARTITIONS_ASSIGNED) for s in states):
            self._set_state(REBALANCING)
        elif states and all(s == THREAD_RUNNING for s in states):
            self._set_state(RUNNING)

    def _on_thread_error(self, thread: StreamThread) -> None:
        action = "SHUTDOWN_CLIENT"
        if self._exception_handler is not None:
            try:
                action = str(self._exception_handler(thread.error))
            except Exception:
                log.exception("the uncaught exception handler failed")
        if action.endswith("REPLACE_THREAD"):
            log.warning("stream-client [%s] replacing the failed thread %s", self.client_id, thread.name)
            self._start_thread(thread.index, replace=thread)
            return
        log.error("stream-client [%s] a stream thread failed; shutting the client down: %s", self.client_id,
                  thread.error)
        self._set_state(ERROR)
        threading.Thread(target=self._shutdown_threads, daemon=True).start()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Check the source topics, create the internal topics, start the stream threads."""
        with self._lock:
            if self.state != CREATED:
                raise StreamsException(f"KafkaStreams is not in a state to start: {self.state}")
            self._set_state(REBALANCING)
        try:
            patterns = [n.name for n in self.topology.nodes.values() if getattr(n, "pattern", None) is not None]
            if patterns:
                raise StreamsException(f"sources subscribed by pattern are not supported yet: {', '.join(patterns)}")
            subs = self.topology.sub_topologies()
            names = internal_topics.topic_names(self.topology, self.config.application_id)
            admin = AdminClient(self.config.admin_config(self.client_id))
            internal_topics.prepare(admin, self.topology, subs, names, int(self.config["replication.factor"]))
        except BaseException:
            self._set_state(ERROR)
            raise
        self.subs, self.names = subs, names
        server = str(self.config["application.server"])
        self.metadata = StreamsMetadataState(self.config.application_id, self.config.admin_config(self.client_id),
                                             self.topology, subs, names, HostInfo.parse(server) if server else None)
        self._process_id = self._read_process_id()
        if self.topology.global_stores:
            try:
                self.global_state = GlobalStores(self.topology, self.config, self.client_id)
                self.global_state.initialize()  # loaded to the end before any task reads them
                self.global_state.start()
            except BaseException:
                self._set_state(ERROR)
                raise
        replicas = int(self.config["num.standby.replicas"])
        if replicas > 0 and any(s.stores for s in self.subs):
            self.standbys = StandbyTasks(self, replicas)
            self.standbys.start()
        for index in range(1, int(self.config["num.stream.threads"]) + 1):
            self._start_thread(index)

    def _start_thread(self, index: int, replace: StreamThread | None = None) -> None:
        stateful = any(s.stores for s in self.subs)
        thread = StreamThread(index, self.client_id, self._process_id, self.topology, self.config, self.names,
                              self.subs, self._on_thread_state, self.config["state.dir"] if stateful else None,
                              self.global_state.stores if self.global_state else None)
        thread.standbys = self.standbys
        with self._lock:
            if replace is not None:
                self.threads = [t for t in self.threads if t is not replace]
            self.threads.append(thread)
        thread.start()

    def _read_process_id(self) -> str:
        """The process id is kept in the state directory, so a restarted instance keeps its
        transactional ids and fences its own earlier transactions at once."""
        path = os.path.join(self._state_dir, PROCESS_METADATA)
        try:
            with open(path, encoding="utf-8") as f:
                return str(json.load(f)["processId"])
        except (OSError, ValueError, KeyError):
            pass
        process_id = str(uuid.uuid4())
        os.makedirs(self._state_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"processId": process_id}, f)
        return process_id

    def _shutdown_threads(self, timeout: float = 60.0) -> None:
        for thread in list(self.threads):
            thread.shutdown()
        for thread in list(self.threads):
            if thread is not threading.current_thread() and thread.is_alive():
                thread.join(timeout)
        if self.standbys is not None:
            self.standbys.shutdown()
            self.standbys.join(timeout)
        self._closed.set()

    def close(self, timeout: float = 60.0) -> bool:
        """Commit, close the tasks and leave the group; True when every thread ended in time."""
        if self.state == CREATED:
            self._set_state(NOT_RUNNING)
            return True
        failed = self.state == ERROR
        self._set_state(PENDING_SHUTDOWN)
        self._shutdown_threads(timeout)
        if self.global_state is not None:
            self.global_state.close()
        done = not any(t.is_alive() for t in self.threads)
        with self._lock:
            self.state = ERROR if failed else self.state
        self._set_state(NOT_RUNNING)
        return done

    def run_until_signalled(self) -> int:
        """Start, run until SIGTERM or SIGINT (or until the client fails), then close: an
        application's main thread (what Kafka's applications do with a shutdown hook). Returns 0,
        or 1 when the client ended in ERROR."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        self.start()
        while not stop.wait(0.5) and self.state not in (ERROR, NOT_RUNNING):
            pass
        failed = self.state == ERROR
        self.close()
        return 1 if failed else 0

    def cleanup(self) -> None:
        """Delete this application's local state directory (only when not running)."""
        if self.state not in (CREATED, NOT_RUNNING, ERROR):
            raise StreamsException("Cannot clean up while running.")
        shutil.rmtree(self._state_dir, ignore_errors=True)

    # -- interactive queries of local stores --------------------------------------------------------

    def store(self, name: str) -> "LocalStoreView":
        if name not in self.topology.stores and name not in self.topology.global_stores:
            raise StreamsException(f"Cannot get state store {name} because no such store is registered in the "
                                   "topology.")
        return LocalStoreView(self, name)


    # -- interactive queries across instances (application.server) ---------------------------------

    def metadata_for_all_streams_clients(self) -> list[StreamsMetadata]:
        """Every instance that set `application.server`, with the stores and partitions it hosts."""
        return self._metadata_state().all_clients()

    def streams_metadata_for_store(self, store: str) -> list[StreamsMetadata]:
        return self._metadata_state().for_store(store)

    def query_metadata_for_key(self, store: str, key, key_serializer=None) -> KeyQueryMetadata:
        """The instance hosting `key` in `store`; `key_serializer(key) -> bytes` as the store's
        input topic is keyed (by default the store's key serde, or default.key.serde)."""
        if key_serializer is None:
            serde = self.store_key_serde(store)
            key_bytes = serde.serialize("", key)
        else:
            key_bytes = key_serializer(key)
        return self._metadata_state().for_key(store, key_bytes)

    def store_key_serde(self, store: str):
        """The serde of `store`'s keys as its input is keyed (windowed stores: the record key's)."""
        builder = self.topology.stores.get(store) or self.topology.global_stores.get(store, (None, None))[1]
        if builder is None:
            raise StreamsException(f"Cannot get state store {store} because no such store is registered in the "
                                   "topology.")
        default = self.config.default_key_serde
        serde = builder.key_serde.resolved(default) if builder.key_serde is not None else default
        if serde is None:
            raise StreamsException(f"store {store} has no key serde and default.key.serde is not set")
        return serde

    def local_get(self, store: str, key, partition: int) -> tuple[bool, object]:
        """(hosted, value): `key` in the local task of `store` for that partition (the global
        store for a global one)."""
        if self.global_state is not None and store in self.global_state.stores:
            return True, self.global_state.stores[store].get(key)
        for thread in list(self.threads):
            for task in list(thread.tasks.values()):
                if task.partition == partition and store in task.context.stores:
                    return True, task.context.stores[store].get(key)
        return False, None

    def _metadata_state(self) -> StreamsMetadataState:
        if self.metadata is None:
            raise StreamsException("KafkaStreams is not running: its instances' metadata is not available")
        return self.metadata


class LocalStoreView:
    """Read-only reads over the store of that name in every task of this instance."""

    def __init__(self, streams: KafkaStreams, name: str):
        self._streams, self.name = streams, name

    def _stores(self):
        if self._streams.global_state is not None and self.name in self._streams.global_state.stores:
            yield self._streams.global_state.stores[self.name]
            return
        for thread in list(self._streams.threads):
            for task in list(thread.tasks.values()):
                store = task.context.stores.get(self.name)
                if store is not None:
                    yield store

    def get(self, key):
        for store in self._stores():
            value = store.get(key)
            if value is not None:
                return value
        return None

    def all(self):
        for store in self._stores():
            yield from store.all()

    def approximate_num_entries(self) -> int:
        return sum(s.approximate_num_entries() for s in self._stores())
