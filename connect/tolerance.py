"""Error handling for records (RetryWithToleranceOperator, LogReporter, DeadLetterQueueReporter):
a failing conversion or transform is retried for `errors.retry.timeout`, then either fails the
task (`errors.tolerance=none`) or skips the record (`all`), logging it and, for sinks, sending
the original bytes to the dead letter queue with Kafka's `__connect.errors.*` context headers."""

from __future__ import annotations

import logging
import random
import time
import traceback
from dataclasses import dataclass
from typing import Callable

from connect.errors import ConnectException, RetriableException

log = logging.getLogger("connect.errors")

KEY_CONVERTER, VALUE_CONVERTER, HEADER_CONVERTER, TRANSFORMATION, TASK_PUT, TASK_POLL, KAFKA_PRODUCE, \
    KAFKA_CONSUME = ("KEY_CONVERTER", "VALUE_CONVERTER", "HEADER_CONVERTER", "TRANSFORMATION", "TASK_PUT",
                     "TASK_POLL", "KAFKA_PRODUCE", "KAFKA_CONSUME")
TOLERABLE = {KEY_CONVERTER, VALUE_CONVERTER, HEADER_CONVERTER, TRANSFORMATION}
SKIPPED = object()  # what execute() returns for a record that failed and is tolerated
RETRY_START_MS = 300


class ToleranceExceeded(ConnectException):
    def __init__(self, cause: BaseException):
        super().__init__("Tolerance exceeded in error handler")
        self.__cause__ = cause


@dataclass
class Failure:
    """What failed, on which record (the ProcessingContext a reporter sees)."""
    stage: str
    executing_class: str
    error: BaseException
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None
    value: bytes | None = None
    headers: list | None = None
    timestamp: int | None = None


class DeadLetterQueue:
    """Writes failed consumed records, as they were read, to `errors.deadletterqueue.topic.name`."""

    def __init__(self, producer, topic: str, connector: str, task: int, context_headers: bool):
        self.producer = producer
        self.topic = topic
        self.connector = connector
        self.task = task
        self.context_headers = context_headers

    def report(self, failure: Failure) -> None:
        headers = list(failure.headers or [])
        if self.context_headers:
            headers += self._context(failure)
        kwargs = {"key": failure.key, "value": failure.value, "headers": headers}
        if failure.timestamp is not None and failure.timestamp >= 0:
            kwargs["timestamp"] = failure.timestamp
        self.producer.produce(self.topic, **kwargs,
                              on_delivery=lambda err, msg: err and log.error("Could not produce message to dead "
                                                                             "letter queue. topic=%s: %s", self.topic, err))
        self.producer.poll(0)

    def _context(self, failure: Failure) -> list[tuple[str, bytes]]:
        exc = failure.error
        out = []
        if failure.topic is not None:
            out += [("__connect.errors.topic", failure.topic), ("__connect.errors.partition", str(failure.partition)),
                    ("__connect.errors.offset", str(failure.offset))]
        out += [("__connect.errors.connector.name", self.connector), ("__connect.errors.task.id", str(self.task)),
                ("__connect.errors.stage", failure.stage),
                ("__connect.errors.class.name", failure.executing_class),
                ("__connect.errors.exception.class.name", _class_name(exc)),
                ("__connect.errors.exception.message", str(exc)),
                ("__connect.errors.exception.stacktrace", "".join(traceback.format_exception(exc)))]
        return [(k, v.encode()) for k, v in out]

    def flush(self) -> None:
        self.producer.flush(30)


def _class_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


class ErrorHandler:
    """One per task. `execute(operation, stage, cls, failure_context)` returns the operation's
    result, or SKIPPED when the record failed and is to be skipped."""

    def __init__(self, config: dict, dlq: DeadLetterQueue | None = None, sleep: Callable[[float], None] = time.sleep):
        self.retry_timeout_ms = int(config.get("errors.retry.timeout", 0))
        self.retry_delay_max_ms = int(config.get("errors.retry.delay.max.ms", 60000))
        self.tolerate_all = str(config.get("errors.tolerance", "none")).lower() == "all"
        self.log_enable = str(config.get("errors.log.enable", "false")).lower() == "true"
        self.log_messages = str(config.get("errors.log.include.messages", "false")).lower() == "true"
        self.dlq = dlq
        self.sleep = sleep
        self.total_errors = 0
        self.skipped = 0

    def execute(self, operation: Callable, stage: str, executing_class: str, context: dict | None = None):
        deadline = None if self.retry_timeout_ms < 0 else time.monotonic() + self.retry_timeout_ms / 1000
        attempt = 0
        while True:
            try:
                return operation()
            except Exception as exc:  # every exception of a tolerable stage counts as a record failure
                if stage not in TOLERABLE:
                    raise
                attempt += 1
                if isinstance(exc, RetriableException) and (deadline is None or time.monotonic() < deadline):
                    self._backoff(attempt, deadline)
                    continue
                self._failed(Failure(stage, executing_class, exc, **(context or {})))
                return SKIPPED

    def _backoff(self, attempt: int, deadline: float | None) -> None:
        delay = RETRY_START_MS * (2 ** (attempt - 1))
        if delay > self.retry_delay_max_ms:
            delay = random.uniform(0, self.retry_delay_max_ms)
        if deadline is not None:
            delay = min(delay, max(0.0, (deadline - time.monotonic()) * 1000))
        self.sleep(delay / 1000)

    def _failed(self, failure: Failure) -> None:
        self.total_errors += 1
        if self.log_enable:
            where = (f" for record at {failure.topic}-{failure.partition}@{failure.offset}"
                     if failure.topic is not None and self.log_messages else "")
            log.error("Error encountered in task. Executing stage '%s' with class '%s'%s.", failure.stage,
                      failure.executing_class, where, exc_info=failure.error)
        if not self.tolerate_all:
            raise ToleranceExceeded(failure.error)
        self.skipped += 1
        if self.dlq is not None and failure.topic is not None:
            self.dlq.report(failure)
