"""The record collector (Kafka's RecordCollectorImpl): every record a thread's tasks write (sink
topics, repartition topics, changelogs) goes through one producer; delivery failures are kept
and raised at the next flush (the production exception handler may let them pass). Only failed
deliveries are reported: a Python callback per record would cost more than the rest of a
record's trip through the producer."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, Producer

log = logging.getLogger("streams.collector")


class StreamsProductionError(Exception):
    pass


class RecordCollector:
    def __init__(self, producer_config: dict, continue_on_error: bool = False):
        self.producer = Producer({**producer_config, "on_delivery": self._delivered,
                                  "delivery.report.only.error": True,
                                  "partitioner": "murmur2_random"})  # Java's partitioner: co-partitioning
        self.continue_on_error = continue_on_error
        self.changelog_topics: set[str] = set()
        self._errors: list[str] = []
        self._partitions: dict[str, int] = {}

    def _delivered(self, err, msg) -> None:
        if err is not None:
            where = f"topic {msg.topic()} partition {msg.partition()}"
            if self.continue_on_error and msg.topic() not in self.changelog_topics:
                log.warning("Error sending a record to %s; continuing (production exception handler): %s", where, err)
                return
            self._errors.append(f"Error encountered sending record to {where}: {err}")

    def send(self, topic: str, key: bytes | None, value: bytes | None, timestamp: int, headers=None,
             partition: int | None = None) -> None:
        while True:
            try:
                if partition is None:
                    self.producer.produce(topic, value, key, timestamp=max(timestamp, 0), headers=headers)
                else:
                    self.producer.produce(topic, value, key, partition, timestamp=max(timestamp, 0), headers=headers)
                return
            except BufferError:
                self.producer.poll(0.05)  # the local queue is full: serve deliveries, then retry

    def partitions_of(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            metadata = self.producer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise StreamsProductionError(f"Could not get partition information for topic {topic}")
            count = self._partitions[topic] = len(metadata.partitions)
        return count

    def poll(self) -> None:
        self.producer.poll(0)
        self.raise_error()

    def flush(self, timeout: float = 60.0) -> None:
        remaining = self.producer.flush(timeout)
        if remaining:
            raise StreamsProductionError(f"{remaining} records were not acknowledged within {timeout:.0f} s")
        self.raise_error()

    def raise_error(self) -> None:
        if self._errors:
            first, count = self._errors[0], len(self._errors)
            self._errors.clear()
            raise StreamsProductionError(first + (f" (and {count - 1} more)" if count > 1 else ""))

    def forget_errors(self) -> None:
        self._errors.clear()

    def is_fatal(self, exc: Exception) -> bool:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        return error is not None and error.fatal()
