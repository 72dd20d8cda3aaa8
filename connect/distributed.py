"""The distributed herder (Kafka's DistributedHerder): workers sharing `group.id` form a group,
its leader assigns connectors and tasks, configs/offsets/statuses live in the three compacted
topics. Only the leader writes connector and task configs; other workers forward those REST
calls to it (the REST layer does, on NotLeader).

Threads: one herder thread owns the group membership and every start/stop of work; REST
threads write to the config topic (as leader) or forward; the config topic's reader thread
only records what changed and wakes the herder thread.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import traceback

from connect.forwarding import request_json
from connect.herder import INITIAL_STATES, Herder, HerderError, HerderStatus, not_found
from connect.offsets_api import OffsetsApi
from connect.protocol import CONFIG_MISMATCH, CONNECTOR_TASK, NO_ERROR, VERSION_OF, Assignment, \
    CooperativeAssignor, MemberMetadata, as_work, eager_assign, work_items
from connect.storage.configs import PAUSED, STARTED, STOPPED, ConfigListener, KafkaConfigBackingStore, \
    RestartRequest
from connect.storage.offsets import KafkaOffsetBackingStore
from connect.storage.status import FAILED, RESTARTING, KafkaStatusBackingStore
from connect.worker import Worker

log = logging.getLogger("connect.distributed")

SIGNATURE_HEADER = "X-Connect-Authorization"
ALGORITHM_HEADER = "X-Connect-Request-Signature-Algorithm"
SIGNATURE_ALGORITHM = "HmacSHA256"
SESSION_KEY_TTL_MS = 3_600_000


class NotLeader(HerderError):
    """The request needs the leader; the REST layer forwards it to `leader_url`."""

    def __init__(self, message: str, leader_url: str | None):
        super().__init__(409, message)
        self.leader_url = leader_url


class DistributedHerder(Herder, ConfigListener):
    def __init__(self, config, plugins):
        client = config.client_config()
        admin = config.client_config("admin")
        props = config.props

        def topic_configs(prefix):
            skip = {"topic", "replication.factor", "partitions"}
            return {k[len(prefix):]: v for k, v in props.items()
                    if k.startswith(prefix) and k[len(prefix):] not in skip}

        config_store = KafkaConfigBackingStore(config["config.storage.topic"], client, admin,
                                               config["config.storage.replication.factor"],
                                               topic_configs("config.storage."))
        status_store = KafkaStatusBackingStore(config["status.storage.topic"], client, admin,
                                               config["status.storage.partitions"],
                                               config["status.storage.replication.factor"],
                                               topic_configs("status.storage."))
        super().__init__(plugins, config_store, status_store, worker_id="")
        self.config = config
        self.exactly_once_source = config["exactly.once.source.support"].lower() == "enabled"
        self.offset_store = KafkaOffsetBackingStore(config["offset.storage.topic"], client, admin,
                                                    config["offset.storage.partitions"],
                                                    config["offset.storage.replication.factor"],
                                                    topic_configs("offset.storage."))
        self.offsets = OffsetsApi(self, self.offset_store, config)
        self.config_store.listener = self
        self.generation = -1
        self.member_id = ""
        self.leader_id = ""
        self.leader_url: str | None = None
        self.url = ""
        self.running: set[tuple[str, int]] = set()  # what this worker was assigned and runs
        self._started_with: dict[tuple[str, int], dict] = {}  # the config each running task got
        self.assignor = CooperativeAssignor(config["scheduled.rebalance.max.delay.ms"], time.monotonic)
        self.status = HerderStatus(self.status_store, "", lambda: self.generation)
        self.worker: Worker | None = None
        self.member = None
        self.ready = False
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._changed: set[str] = set()          # connectors whose config changed
        self._task_updates: set[str] = set()     # connectors whose task configs were committed
        self._target_changes: set[str] = set()
        self._reconfigure: set[str] = set()      # connectors whose task configs to (re)compute
        self._restarts: list[RestartRequest] = []
        self._rejoin_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="DistributedHerder", daemon=True)
        self._forwarder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="forward-task-configs")

    # -- lifecycle ------------------------------------------------------------------------------

    def set_rest_url(self, url: str, worker_id: str) -> None:
        self.url = url
        self.worker_id = worker_id
        self.status.worker_id = worker_id

    def start(self) -> None:
        from connect.group_member import ConnectGroupMember

        self.worker = Worker(self.config, self.plugins, self.offset_store, self.status, self.worker_id)
        self.member = ConnectGroupMember(self.config.client_config(), self.config["group.id"],
                                         self.config["connect.protocol"], self.config["session.timeout.ms"],
                                         self.config["heartbeat.interval.ms"], self.config["rebalance.timeout.ms"],
                                         self)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.offset_store.start()
            self.status_store.start()
            self.config_store.start()
        except Exception:
            log.exception("could not start the internal topics' stores; the worker cannot serve")
            return
        log.info("Herder started (worker %s, group %s)", self.worker_id, self.config["group.id"])
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:
                log.exception("Unexpected exception in the herder's loop")
                self._stopping.wait(1.0)
        self._shutdown()

    def _tick(self) -> None:
        if self._rejoin_at is not None and time.monotonic() >= self._rejoin_at:
            self._rejoin_at = None
            self.member.request_rejoin()
        self.member.poll(timeout_ms=100)
        self.ready = self.generation >= 0
        self._apply_config_changes()
        for name in sorted(self._take(self._reconfigure)):
            self._reconfigure_tasks(name)
        with self._lock:
            restarts, self._restarts = self._restarts, []
        for request in restarts:
            self._restart_owned(request)
        if self.is_leader():
            self._maybe_rotate_session_key()

    def _take(self, pending: set) -> set:
        with self._lock:
            taken = set(pending)
            pending.clear()
        return taken

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(30)

    def _shutdown(self) -> None:
        self._forwarder.shutdown(wait=False, cancel_futures=True)
        if self.worker is not None:
            self.worker.stop()
        if self.member is not None:
            try:
                self.member.leave()
            except Exception:
                log.exception("leaving the group failed")
        for store in (self.config_store, self.status_store, self.offset_store):
            try:
                store.stop()
            except Exception:
                log.exception("stopping a store failed")

    # -- group membership callbacks (on the herder thread) ----------------------------------------

    def metadata(self) -> MemberMetadata:
        snapshot = self.config_store.snapshot()
        allocation = Assignment(leader=self.leader_id, leader_url=self.leader_url or "",
                                config_offset=snapshot.offset, assigned=as_work(self.running))
        return MemberMetadata(self.url, snapshot.offset, allocation if self.running else None)

    def on_join_prepare(self) -> None:
        pass  # cooperative: keep running; eager releases everything in on_assignment

    def assign(self, leader_id: str, protocol: str, members: dict[str, MemberMetadata]) -> dict[str, Assignment]:
        self.config_store.refresh()
        snapshot = self.config_store.snapshot()
        version = VERSION_OF.get(protocol, 1)
        leader_url = members[leader_id].url
        if snapshot.offset < max(m.config_offset for m in members.values()):
            log.warning("leader is behind the config topic; asking members to rejoin")
            return {m: Assignment(CONFIG_MISMATCH, leader_id, leader_url, snapshot.offset, version=version)
                    for m in members}
        configured = set()
        for name in snapshot.connectors():
            configured.add((name, CONNECTOR_TASK))
            configured.update(snapshot.tasks(name))
        generation = self.member._generation.generation_id
        if version == 0:
            plan = {m: (items, set(), 0) for m, items in eager_assign(list(members), configured).items()}
        else:
            plan = self.assignor.assign(generation, members, configured)
        log.info("assignment for generation %d: %s", generation,
                 {m: (sorted(a), sorted(r), d) for m, (a, r, d) in plan.items()})
        return {m: Assignment(NO_ERROR, leader_id, leader_url, snapshot.offset, as_work(assigned), as_work(revoked),
                              delay, version) for m, (assigned, revoked, delay) in plan.items()}

    def on_assignment(self, generation: int, member_id: str, protocol: str, assignment: Assignment) -> None:
        self.generation, self.member_id = generation, member_id
        self.leader_id, self.leader_url = assignment.leader, assignment.leader_url or None
        if assignment.error == CONFIG_MISMATCH:
            self.config_store.refresh()
            self.member.request_rejoin()
            return
        if self.config_store.offset() < assignment.config_offset:
            self.config_store.refresh()
        if protocol == "default":
            revoked, added = self.running - work_items(assignment.assigned), work_items(assignment.assigned) - self.running
        else:
            revoked, added = work_items(assignment.revoked) & self.running, work_items(assignment.assigned)
        log.info("joined generation %d as %s (%s); leader %s at %s; assigned %s, revoked %s", generation, member_id,
                 "leader" if self.is_leader() else "follower", assignment.leader, assignment.leader_url,
                 sorted(added), sorted(revoked))
        self._stop_work(revoked)
        self._start_work(added)
        if revoked and protocol != "default":
            self.member.request_rejoin()  # so the leader can hand out what we gave back
        if assignment.delay > 0:
            self._rejoin_at = time.monotonic() + assignment.delay / 1000

    def is_leader(self) -> bool:
        return bool(self.member_id) and self.member_id == self.leader_id

    def _stop_work(self, items: set) -> None:
        tasks = [i for i in items if i[1] != CONNECTOR_TASK]
        self.worker.stop_tasks(tasks)
        for name, _ in (i for i in items if i[1] == CONNECTOR_TASK):
            self.worker.stop_connector(name)
        self.running -= items
        for ident in tasks:
            self._started_with.pop(ident, None)

    def _start_work(self, items: set) -> None:
        snapshot = self.config_store.snapshot()
        for name, _ in sorted(i for i in items if i[1] == CONNECTOR_TASK):
            self.running.add((name, CONNECTOR_TASK))
            if snapshot.contains(name):
                self._start_connector(name, snapshot)
        for ident in sorted(i for i in items if i[1] != CONNECTOR_TASK):
            self.running.add(ident)
            self._start_task(ident, snapshot)

    def _start_task(self, ident: tuple[str, int], snapshot) -> None:
        config = snapshot.task_config(*ident)
        if config is not None:
            self._started_with[ident] = config
            self.worker.start_task(ident, snapshot.connector_configs[ident[0]], config,
                                   snapshot.target_state(ident[0]))

    def _start_connector(self, name: str, snapshot) -> None:
        if self.worker.start_connector(name, snapshot.connector_configs[name], snapshot.target_state(name), self):
            if snapshot.target_state(name) != STOPPED:
                with self._lock:
                    self._reconfigure.add(name)

    # -- config topic events (reader thread: record and wake) ------------------------------------

    def on_connector_config_update(self, connector):
        with self._lock:
            self._changed.add(connector)
        self.member and self.member.request_rejoin()

    def on_connector_config_remove(self, connector):
        with self._lock:
            self._changed.add(connector)
        self.member and self.member.request_rejoin()

    def on_task_config_update(self, connector):
        with self._lock:
            self._task_updates.add(connector)
        self.member and self.member.request_rejoin()

    def on_connector_target_state_change(self, connector):
        with self._lock:
            self._target_changes.add(connector)

    def on_restart_request(self, request):
        with self._lock:
            self._restarts.append(request)

    def _apply_config_changes(self) -> None:
        """Restart connectors we run whose config changed; stop our tasks whose configs were
        replaced (the next assignment starts them with the new ones); apply target states."""
        snapshot = self.config_store.snapshot()
        for name in self._take(self._changed):
            if (name, CONNECTOR_TASK) in self.running and self.worker.is_running(name):
                self.worker.stop_connector(name)
                if snapshot.contains(name):
                    self._start_connector(name, snapshot)
        for name in self._take(self._task_updates):
            replaced = {i for i in self.running if i[0] == name and i[1] != CONNECTOR_TASK
                        and self._started_with.get(i) != snapshot.task_config(*i)}
            if replaced:
                self._stop_work(replaced)
        for name in self._take(self._target_changes):
            if not snapshot.contains(name):
                continue
            target = snapshot.target_state(name)
            if (name, CONNECTOR_TASK) in self.running:
                if target == STOPPED:
                    self.worker.set_target_state(name, STOPPED, self)
                elif not self.worker.is_running(name):
                    self._start_connector(name, snapshot)
                else:
                    self.worker.set_target_state(name, target, self)
            else:
                for ident in self.worker.task_ids(name):
                    self.worker.tasks[ident].transition_to(target)

    def _reconfigure_tasks(self, name: str) -> None:
        """Ask the connector we run for its task configs and publish them if they changed."""
        snapshot = self.config_store.snapshot()
        if not snapshot.contains(name) or not self.worker.is_running(name):
            return
        try:
            configs = self.worker.connector_task_configs(name, snapshot.connector_configs[name])
        except Exception as exc:
            self.status.on_state(name, FAILED, "".join(traceback.format_exception(exc)))
            return
        if configs == snapshot.task_configs.get(name) and name not in snapshot.inconsistent:
            return
        if self.is_leader():
            try:
                self.config_store.put_task_configs(name, configs)
            except Exception as exc:
                self._retry_reconfigure(name, exc)
        else:
            # Never from this thread: the leader may be waiting for us to rejoin before it answers.
            self._forwarder.submit(self._send_task_configs_to_leader, name, configs, self.leader_url)

    def _retry_reconfigure(self, name: str, exc: Exception) -> None:
        log.warning("could not publish task configs of %s (%s); retrying", name, exc)
        self._stopping.wait(0.5)
        with self._lock:
            self._reconfigure.add(name)

    def _send_task_configs_to_leader(self, name: str, configs: list[dict], leader_url: str | None) -> None:
        try:
            if not leader_url:
                raise HerderError(409, "no known leader")
            body = json.dumps(configs, separators=(",", ":")).encode()
            request_json("POST", leader_url.rstrip("/") + f"/connectors/{name}/tasks?forward=true", body,
                         self.sign(body))
        except Exception as exc:  # retried: the leader may be moving
            self._retry_reconfigure(name, exc)

    # -- internal request signing (KIP-507) -----------------------------------------------------

    def _maybe_rotate_session_key(self) -> None:
        key = self.config_store.session_key()
        now = int(time.time() * 1000)
        if key is None or now - int(key.get("creation-timestamp", 0)) > SESSION_KEY_TTL_MS:
            self.config_store.put_session_key({"key": base64.b64encode(os.urandom(32)).decode(),
                                               "algorithm": SIGNATURE_ALGORITHM, "creation-timestamp": now})

    def sign(self, body: bytes) -> dict[str, str]:
        key = self.config_store.session_key()
        if key is None:
            return {}
        mac = hmac.new(base64.b64decode(key["key"]), body, hashlib.sha256).digest()
        return {SIGNATURE_HEADER: base64.b64encode(mac).decode(), ALGORITHM_HEADER: SIGNATURE_ALGORITHM}

    def check_signature(self, body: bytes, headers) -> None:
        signature, algorithm = headers.get(SIGNATURE_HEADER), headers.get(ALGORITHM_HEADER)
        if signature is None or algorithm is None:
            raise HerderError(400, "Internal request missing required signature")
        if algorithm != SIGNATURE_ALGORITHM:
            raise HerderError(400, f"Internal request signed with unsupported algorithm {algorithm}")
        key = self.config_store.session_key()
        if key is None:
            raise HerderError(503, "This worker is still starting up and has not been able to read a session key "
                                   "from the config topic yet")
        expected = self.sign(body)[SIGNATURE_HEADER]
        if not hmac.compare_digest(expected, signature):
            raise HerderError(403, "Internal request contained invalid signature.")

    # -- REST operations ------------------------------------------------------------------------

    def _require_leader(self, what: str) -> None:
        if not self.is_leader():
            if not self.leader_url:
                raise HerderError(409, "Cannot complete request momentarily due to no known leader URL, likely "
                                       "because a rebalance was underway.")
            raise NotLeader(f"Only the leader can {what}.", self.leader_url)

    def put_connector_config(self, name: str, config: dict, allow_replace: bool,
                             initial_state: str | None = None) -> tuple[bool, dict]:
        self.validate_or_raise(config)
        self._require_leader("set connector configs")
        self.config_store.refresh()
        exists = self.config_store.contains(name)
        if exists and not allow_replace:
            raise HerderError(409, f"Connector {name} already exists")
        target = None if exists or initial_state is None else INITIAL_STATES[initial_state]
        self.config_store.put_connector_config(name, config, target)
        return not exists, self.connector_info(name)

    def patch_connector_config(self, name: str, patch: dict) -> dict:
        merged = {k: v for k, v in {**self.connector_config(name), **patch}.items() if v is not None}
        return self.put_connector_config(name, merged, allow_replace=True)[1]

    def delete_connector(self, name: str) -> None:
        self._require_leader("delete connector configs")
        if not self.config_store.contains(name):
            raise not_found(f"Connector {name} not found")
        self.config_store.remove_connector_config(name)
        self.status_store.delete_connector(name)

    def put_task_configs(self, name: str, configs: list[dict], body: bytes, headers) -> None:
        """The internal POST /connectors/{c}/tasks from the worker running the connector."""
        if self.config["connect.protocol"].lower() == "sessioned":
            self.check_signature(body, headers)
        self._require_leader("write task configurations")
        if not self.config_store.contains(name):
            raise not_found(f"Connector {name} not found")
        self.config_store.put_task_configs(name, [{str(k): str(v) for k, v in c.items()} for c in configs])

    def pause(self, name: str) -> None:
        self._target(name, PAUSED)

    def resume(self, name: str) -> None:
        self._target(name, STARTED)

    def _target(self, name: str, state: str) -> None:
        if not self.config_store.contains(name):
            raise not_found(f"Connector {name} not found")
        self.config_store.put_target_state(name, state)

    def stop_connector(self, name: str) -> None:
        self._require_leader("transition connectors to the STOPPED state")
        if not self.config_store.contains(name):
            raise not_found(f"Connector {name} not found")
        self.config_store.put_task_configs(name, [])
        self.config_store.put_target_state(name, STOPPED)

    def restart_connector(self, name: str, include_tasks: bool = False, only_failed: bool = False) -> dict | None:
        self._require_leader("process restart requests")
        if not self.config_store.contains(name):
            raise not_found(f"Unknown connector: {name}")
        request = RestartRequest(name, only_failed, include_tasks)
        answer = self.restart_answer(name, self.restart_plan(request)) if include_tasks or only_failed else None
        self.config_store.put_restart_request(request)
        return answer

    def _restart_owned(self, request: RestartRequest) -> None:
        """Carry out, for what this worker runs, a restart request read from the config topic."""
        name = request.connector
        snapshot = self.config_store.snapshot()
        if not snapshot.contains(name):
            return
        plan = self.restart_plan(request)
        if plan.connector and (name, CONNECTOR_TASK) in self.running:
            self.status.on_state(name, RESTARTING)
            self.worker.stop_connector(name)
            self._start_connector(name, snapshot)
        for ident in [(name, t) for t in plan.tasks if (name, t) in self.running]:
            self.status.on_state(ident, RESTARTING)
            self.worker.stop_tasks([ident])
            self._start_task(ident, snapshot)

    def restart_task(self, name: str, task: int) -> None:
        snapshot = self.config_store.snapshot()
        config = snapshot.task_config(name, task)
        if config is None:
            raise not_found(f"Unknown task: {name}-{task}")
        if (name, task) in self.running:
            self.worker.stop_tasks([(name, task)])
            self._start_task((name, task), snapshot)
            return
        status = self.status_store.task(name, task)
        if status is None or not status.worker_id or status.worker_id == self.worker_id:
            raise HerderError(409, "Cannot complete request because of a conflicting operation (e.g. worker "
                                   "rebalance)")
        raise NotLeader(f"Task {name}-{task} is run by {status.worker_id}", f"http://{status.worker_id}/")

