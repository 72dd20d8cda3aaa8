"""kafka-rest v2 consumer instances: a Kafka consumer per (group, name), created over HTTP, used by
later requests and closed when deleted or idle for `consumer.instance.timeout.ms`.

A confluent-kafka Consumer must not be used from two threads at once, and HTTP requests for one
instance may come in parallel: each instance has a lock, held for the whole of each call.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException

from rest.errors import RestError

log = logging.getLogger("rest.consumers")

FORMATS = ("binary", "json", "avro", "jsonschema", "protobuf")
DEFAULT_INSTANCE_TIMEOUT_MS = 300_000
DEFAULT_REQUEST_TIMEOUT_MS = 1000
MAX_REQUEST_BYTES = 64 * 1024 * 1024  # kafka-rest's consumer.request.max.bytes


def instance_not_found() -> RestError:
    return RestError(40403, "Consumer instance not found.")


@dataclass
class ConsumerInstance:
    group: str
    name: str
    format: str
    consumer: Consumer
    request_timeout_ms: int
    fetch_min_bytes: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    closed: bool = False
    subscription: list[str] = field(default_factory=list)
    # Records consumed from Kafka but not yet returned (a response reached max_bytes): returned
    # first by the next records request. Offsets are stored only for records returned, so a
    # commit (or auto commit) never passes a record the client has not seen.
    held: list = field(default_factory=list)

    def drop_held(self, partitions: set[tuple[str, int]] | None = None) -> None:
        """Forget held records of `partitions` (all when None): their positions were changed."""
        self.held = [] if partitions is None else \
            [m for m in self.held if (m.topic(), m.partition()) not in partitions]


class ConsumerManager:
    def __init__(self, client: dict, consumer: dict | None = None, instance_timeout_ms: int = DEFAULT_INSTANCE_TIMEOUT_MS,
                 request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS):
        self.client = client
        self.consumer_config = dict(consumer or {})
        self.instance_timeout_s = instance_timeout_ms / 1000
        self.request_timeout_ms = request_timeout_ms
        self._instances: dict[tuple[str, str], ConsumerInstance] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._reaper = threading.Thread(target=self._expire_idle, name="rest-consumer-expiry", daemon=True)
        self._reaper.start()

    def create(self, group: str, request: dict) -> ConsumerInstance:
        name = request.get("name") or f"rest-consumer-{uuid.uuid4()}"
        fmt = str(request.get("format") or "binary").lower()
        if fmt not in FORMATS:
            raise RestError(422, "Invalid format type.")
        try:
            fetch_min_bytes = int(request.get("fetch.min.bytes", -1))
            request_timeout = int(request.get("consumer.request.timeout.ms", self.request_timeout_ms))
        except (TypeError, ValueError):
            raise RestError(40001, "Invalid consumer configuration. It does not abide by the constraints: "
                                   "fetch.min.bytes and consumer.request.timeout.ms are integers", 422) from None
        config = {**self.client, **self.consumer_config, "group.id": group,
                  "enable.auto.offset.store": False}  # see ConsumerInstance.held
        for ours, theirs in (("auto.offset.reset", "auto.offset.reset"), ("auto.commit.enable", "enable.auto.commit")):
            if request.get(ours) is not None:
                config[theirs] = str(request[ours])
        with self._lock:
            if (group, name) in self._instances:
                raise RestError(40902, "Consumer with specified consumer ID already exists in the specified "
                                       "consumer group.")
            try:
                consumer = Consumer(config)
            except KafkaException as exc:
                raise RestError(42204, f"Invalid consumer configuration: {exc.args[0].str()}") from None
            instance = ConsumerInstance(group, name, fmt, consumer, request_timeout, fetch_min_bytes)
            self._instances[(group, name)] = instance
        return instance

    def get(self, group: str, name: str) -> ConsumerInstance:
        with self._lock:
            instance = self._instances.get((group, name))
        if instance is None:
            raise instance_not_found()
        instance.last_used = time.monotonic()
        return instance

    def delete(self, group: str, name: str) -> None:
        with self._lock:
            instance = self._instances.pop((group, name), None)
        if instance is None:
            raise instance_not_found()
        self._close(instance)

    @staticmethod
    def _close(instance: ConsumerInstance) -> None:
        with instance.lock:
            if not instance.closed:
                instance.closed = True
                instance.consumer.close()  # leaves the group, commits if auto commit is on

    def _expire_idle(self) -> None:
        while not self._stopped.wait(1.0):
            now = time.monotonic()
            with self._lock:
                idle = [key for key, i in self._instances.items() if now - i.last_used > self.instance_timeout_s]
                expired = [self._instances.pop(key) for key in idle]
            for instance in expired:
                log.info("consumer instance %s of group %s idle for %.0f s: closed", instance.name, instance.group,
                         self.instance_timeout_s)
                self._close(instance)

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            instances = list(self._instances.values())
            self._instances.clear()
        for instance in instances:
            self._close(instance)
