"""The `__consumer_offsets` topic: where the group coordinator's state is durable.

A compacted internal topic with `offsets.topic.num.partitions` partitions, created at
start when missing. Each group lives in one partition (Kafka's placement), so replaying
the partitions in offset order rebuilds every group's latest offsets and metadata.
Writes are one uncompressed batch per request, appended before the request is answered
(a single node: the batch in the log file is acks=all).
"""

from __future__ import annotations

import logging
import time
from typing import Iterator

from broker import records
from broker.coordinator.messages import partition_for
from broker.partition import ProduceError

log = logging.getLogger("schemabus.coordinator")

OFFSETS_TOPIC = "__consumer_offsets"
READ_CHUNK = 1 << 20


class WriteError(Exception):
    """The records could not be appended; `error` is the Kafka error to answer with."""

    def __init__(self, error: str, message: str):
        super().__init__(message)
        self.error = error


class GroupMetadataLog:
    def __init__(self, topics, config):
        self.topics = topics
        self.config = config
        self._topic()

    def _topic(self):
        topic = self.topics.get(OFFSETS_TOPIC)
        if topic is None:
            topic = self.topics.create(OFFSETS_TOPIC, self.config["offsets.topic.num.partitions"], 1, {
                "cleanup.policy": "compact",
                "compression.type": "producer",
                "segment.bytes": str(self.config["offsets.topic.segment.bytes"]),
            })
        return topic

    def partition_for(self, group_id: str) -> int:
        # An existing topic keeps its partition count, whatever the config says now (as Kafka).
        return partition_for(group_id, len(self._topic().partitions))

    def append(self, group_id: str, entries: list[tuple[bytes, bytes | None]],
               producer_id: int = -1, producer_epoch: int = -1) -> None:
        """Append (key, value) records for `group_id` (value None = tombstone) as one batch;
        with a producer id, as part of that producer's transaction (TxnOffsetCommit)."""
        if not entries:
            return
        topic = self._topic()
        partition = topic.partitions[partition_for(group_id, len(topic.partitions))]
        now = int(time.time() * 1000)
        batch = records.encode_batch([records.Record(i, now, key, value) for i, (key, value) in enumerate(entries)],
                                     base_offset=0, producer_id=producer_id, producer_epoch=producer_epoch,
                                     attributes=records.TRANSACTIONAL_BIT if producer_id >= 0 else 0)
        try:
            partition.append(bytes(batch), max_message_bytes=self.topics.topic_value(topic, "max.message.bytes"),
                             log_append_time=False, compacted=True)
        except ProduceError as exc:
            # Kafka maps a too-large group write to UNKNOWN_SERVER_ERROR as well.
            raise WriteError("UNKNOWN_SERVER_ERROR", f"cannot write group {group_id}: {exc.message}") from None
        except (OSError, ValueError) as exc:  # ValueError: the log was closed under us
            raise WriteError("COORDINATOR_NOT_AVAILABLE", f"cannot write group {group_id}: {exc}") from None

    def replay(self) -> Iterator[tuple[bytes, bytes | None, int]]:
        """(key, value, producer id) of every record, oldest first per partition.

        Records of a transactional batch are held until their producer's COMMIT marker
        (dropped on ABORT); those of transactions still open at the end come last, with
        their producer id (pending offsets). Committed records carry producer id -1."""
        for partition in self._topic().partitions:
            held: dict[int, list[tuple[bytes, bytes | None]]] = {}
            for header, batch in partition.scan(READ_CHUNK):
                if header.is_control:
                    entries = held.pop(header.producer_id, [])
                    if batch and records.control_marker(batch[0]) == records.CONTROL_COMMIT:
                        yield from ((key, value, -1) for key, value in entries)
                    continue
                pairs = [(r.key, r.value) for r in batch if r.key is not None]
                if header.is_transactional:
                    held.setdefault(header.producer_id, []).extend(pairs)
                else:
                    yield from ((key, value, -1) for key, value in pairs)
            for producer_id, entries in held.items():
                yield from ((key, value, producer_id) for key, value in entries)
