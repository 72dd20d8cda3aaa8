"""A task's stores on disk and their restoration (Kafka's ProcessorStateManager and
StoreChangelogReader).

The task directory `<state.dir>/<application.id>/<task id>/` holds persistent stores and the
`.checkpoint` file (Kafka's text layout: version 0, a count, then `topic partition offset` lines):
the changelog offset up to which the local stores hold every change. A store restores from its
changelog, starting at the checkpoint when the local state can be trusted, from the beginning
otherwise. Every doubtful case recovers with a log line instead of hanging: no checkpoint, a
checkpoint beyond the log end (a truncated or recreated changelog), one before the log start
(compaction or retention removed what it points at), an offset that goes out of range while
restoring.
"""

from __future__ import annotations

import logging
import os
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

log = logging.getLogger("streams.state")

CHECKPOINT = ".checkpoint"
_NO_PROGRESS_S = 30.0


def read_checkpoint(directory: str) -> dict[tuple[str, int], int]:
    path = os.path.join(directory, CHECKPOINT)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    try:
        if lines[0].strip() != "0":
            raise ValueError(f"unknown version {lines[0]!r}")
        count = int(lines[1])
        offsets = {}
        for line in lines[2:2 + count]:
            topic, partition, offset = line.split()
            offsets[(topic, int(partition))] = int(offset)
        return offsets
    except (IndexError, ValueError) as exc:
        log.warning("Ignoring the unreadable checkpoint file %s (%s); the stores restore from the changelog's "
                    "beginning", path, exc)
        return {}


def write_checkpoint(directory: str, offsets: dict[tuple[str, int], int]) -> None:
    path = os.path.join(directory, CHECKPOINT)
    lines = ["0", str(len(offsets))] + [f"{t} {p} {o}" for (t, p), o in sorted(offsets.items())]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def delete_checkpoint(directory: str) -> None:
    try:
        os.remove(os.path.join(directory, CHECKPOINT))
    except FileNotFoundError:
        pass


class RestoreError(Exception):
    pass


class ChangelogReader:
    """Reads changelog partitions into stores, each from its start offset to the end offset seen
    when restoration began (the last stable offset under read_committed)."""

    def __init__(self, consumer_config: dict):
        self.consumer = Consumer(consumer_config)

    def close(self) -> None:
        self.consumer.close()

    def end_offset(self, topic: str, partition: int) -> int:
        return self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)[1]

    def start_offset(self, topic: str, partition: int, checkpoint: int | None) -> tuple[int, int]:
        """(start, end) for one changelog partition: the checkpoint when it lies within the log,
        else the beginning (with the store to be wiped by the caller, said by start == -1)."""
        low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
        if checkpoint is None:
            return -1, high
        if checkpoint > high:
            log.warning("Checkpoint %d of %s-%d is beyond the log end %d (the changelog was truncated or "
                        "recreated): wiping the store and restoring from the beginning", checkpoint, topic,
                        partition, high)
            return -1, high
        if checkpoint < low:
            log.warning("Checkpoint %d of %s-%d is before the log start %d (removed by retention or deletion): "
                        "wiping the store and restoring from the beginning", checkpoint, topic, partition, low)
            return -1, high
        return checkpoint, high

    def restore(self, topic: str, partition: int, start: int, end: int, store, level: int = logging.INFO) -> int:
        """Apply the changelog records in [start, end) to the store; returns the offset reached
        (`level`: of the closing log line; a standby's frequent rounds say it at DEBUG)."""
        if end <= max(start, 0):
            return max(start, 0) if start >= 0 else end
        tp = TopicPartition(topic, partition, start if start >= 0 else OFFSET_BEGINNING)
        self.consumer.assign([tp])
        position, restored = max(start, 0), 0
        last_progress = time.monotonic()
        began = time.monotonic()
        try:
            while position < end:
                messages = self.consumer.consume(10000, 0.5)
                batch = []
                for msg in messages:
                    error = msg.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            position = max(position, msg.offset())
                            continue
                        log.warning("Restoring %s-%d: %s", topic, partition, error)
                        continue
                    batch.append((msg.key(), msg.value()))
                    position = msg.offset() + 1
                if batch:
                    store.restore(batch)
                    restored += len(batch)
                    last_progress = time.monotonic()
                if position < end:
                    current = self.consumer.position([TopicPartition(topic, partition)])[0].offset
                    if current > position:
                        position, last_progress = current, time.monotonic()  # past markers and compacted gaps
                    if time.monotonic() - last_progress > _NO_PROGRESS_S:
                        low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                                        timeout=10, cached=False)
                        if high <= position:
                            break  # the log end moved back under us (truncated): all there is was read
                        raise RestoreError(f"Restoring {topic}-{partition} made no progress for "
                                           f"{_NO_PROGRESS_S:.0f} s at offset {position} (log {low}..{high})")
        finally:
            self.consumer.unassign()
        log.log(level, "Restored %d records of %s-%d into %s in %.2f s", restored, topic, partition, store.name,
                time.monotonic() - began)
        return position
