"""One topic partition: validates produced batches, appends them to the log, serves reads.

Layering as in Kafka: LogSegment -> Log (storage/) -> Partition (here) -> TopicManager.
On a single node this broker is the only replica, so the high watermark is the log end
offset and `acks=all` is satisfied once the batch is in the log file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

from broker import records
from broker.producer_state import (
    Duplicate, ProducerStateManager, SequenceError, load_snapshot, write_snapshot,
)
from broker.storage.config import LogConfig
from broker.storage.log import FileSpan, Log

log = logging.getLogger("schemabus.broker")

# Waiting fetches' futures kept before the finished ones are first dropped.
MIN_WAITERS_COMPACT = 64
# Below this, copying through user space is cheaper than a sendfile round trip.
SENDFILE_MIN_BYTES = 256 * 1024


_NO_LOWER_BOUND = 2**63 - 1  # message.timestamp.before.max.ms's default: no lower bound


class ProduceError(Exception):
    """A produce to this partition is refused with Kafka error `error`."""

    def __init__(self, error: str, message: str, record_errors: list[tuple[int, str]] | None = None):
        super().__init__(message)
        self.error = error
        self.message = message
        self.record_errors = record_errors or []


class Partition:
    """Its log is opened on first use (`open_now` opens it at once): a broker with tens of
    thousands of partitions starts without reading them all, and one that is never used
    costs a small object. Opening runs the start-up checks (storage/log.py) then."""

    __slots__ = ("topic", "index", "directory", "config", "_log", "_producers", "_waiters", "_waiters_compact_at",
                 "_deleted")

    def __init__(self, topic: str, index: int, directory: Path, config: LogConfig, *, open_now: bool = True):
        self.topic = topic
        self.index = index
        self.directory = directory
        self.config = config
        self._log: Log | None = None
        self._producers: ProducerStateManager | None = None
        self._waiters: list[asyncio.Future] = []
        self._waiters_compact_at = MIN_WAITERS_COMPACT
        self._deleted = False
        if open_now:
            self.open()

    def open(self) -> None:
        if self._log is None:
            if self._deleted:
                raise RuntimeError(f"partition {self.topic}-{self.index} was deleted")
            self._log = Log(self.directory, self.config)
            self._producers = self._recover_producer_state()

    @property
    def is_open(self) -> bool:
        return self._log is not None

    @property
    def log(self) -> Log:
        if self._log is None:
            self.open()
        return self._log

    @property
    def size_bytes(self) -> int:
        """Bytes of its log segments on disk, without opening a log that is not open yet."""
        if self._log is not None:
            return self._log.size_bytes
        try:
            return sum(f.stat().st_size for f in self.directory.glob("*.log"))
        except FileNotFoundError:  # deleted meanwhile
            return 0

    @property
    def producers(self) -> ProducerStateManager:
        if self._log is None:
            self.open()
        return self._producers

    def update_config(self, config: LogConfig) -> None:
        self.config = config
        if self._log is not None:
            self._log.update_config(config)

    def _recover_producer_state(self) -> ProducerStateManager:
        """Latest snapshot, then every batch header after it."""
        start, state = load_snapshot(self.directory, self.log.log_end_offset)
        for header in self.log.iter_headers(start):
            if header.base_offset < start:
                continue
            if header.is_control:
                marker = self._marker_record(header.base_offset)
                kind = records.control_marker(marker) if marker is not None else None
                if kind is not None:
                    state.complete_transaction(header.producer_id, header.producer_epoch, header.base_offset,
                                               kind == records.CONTROL_ABORT, header.max_timestamp,
                                               records.marker_coordinator_epoch(marker))
            else:
                state.update(header)
        state.truncate_before(self.log.log_start_offset)
        return state

    def _marker_record(self, offset: int) -> records.Record | None:
        data = self.log.read(offset, records.HEADER_SIZE, min_one=True)
        recs = records.decode_records(data) if data else []
        return recs[0] if recs else None

    def snapshot_producer_state(self) -> None:
        if self.producers.changed:
            write_snapshot(self.directory, self.log.log_end_offset, self.producers)

    # -- offsets ----------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def high_watermark(self) -> int:
        return self.log.log_end_offset

    @property
    def last_stable_offset(self) -> int:
        """The first offset of the oldest open transaction, else the high watermark."""
        first = self.producers.first_unstable_offset()
        return self.high_watermark if first is None else first

    def fetch_offsets(self) -> tuple[int, int, int]:
        """(high watermark, last stable offset, log start offset) in one call: what a fetch
        session compares, for every partition it holds, on every incremental fetch."""
        log = self.log
        hw = log.log_end_offset
        first = self._producers.first_unstable_offset()  # open: self.log opened it
        return hw, hw if first is None else first, log.log_start_offset

    # -- produce ------------------------------------------------------------------

    def append(self, data: bytes, *, max_message_bytes: int, log_append_time: bool,
               compacted: bool, timestamp_bounds: tuple[int, int] | None = None,
               compression: tuple[int, int | None] | None = None) -> tuple[int, int]:
        """Validate and append the one batch of a produce request. `compression`: (codec, level)
        of a topic whose compression.type is not `producer`; a batch in another codec is
        recompressed to it, as Kafka does.

        Returns (base offset, log append time or -1). A retried duplicate returns the
        offset it was first written at, without appending.
        """
        try:
            header = records.check_batch(data)
        except records.InvalidBatch as exc:
            raise ProduceError(exc.error, str(exc)) from None
        if header.size != len(data):
            raise ProduceError("INVALID_RECORD", "a produce request must carry exactly one record batch per partition")
        if header.size > max_message_bytes:
            raise ProduceError(
                "MESSAGE_TOO_LARGE",
                f"The record batch is {header.size} bytes, larger than max.message.bytes {max_message_bytes}")
        if header.record_count != header.last_offset_delta + 1:
            raise ProduceError("INVALID_RECORD", f"Inconsistent batch offset range [{header.base_offset}, "
                                                 f"{header.base_offset + header.last_offset_delta}] and count of "
                                                 f"records {header.record_count}")
        if timestamp_bounds is not None and not header.is_control:
            self._check_timestamps(data, header, *timestamp_bounds)
        if compacted and not header.is_control:
            self._check_keys(data)
        try:
            self.producers.check(header)
        except Duplicate as dup:
            return dup.base_offset, -1
        except SequenceError as exc:
            raise ProduceError(exc.error, str(exc)) from None

        # A writable view (of the request's own buffer, see server.py) is patched in place.
        batch = data if isinstance(data, memoryview) and not data.readonly else bytearray(data)
        log_header = header
        if compression is not None and compression[0] != header.compression and not header.is_control:
            batch = records.recompress(data, *compression)
            log_header = records.parse_header(batch)
        append_time = -1
        if log_append_time:
            append_time = int(time.time() * 1000)
            records.set_log_append_time(batch, append_time)
        # LogAppendTime rewrote the header's timestamps: the log parses the batch again then.
        base_offset = self.log.append(batch, None if log_append_time else log_header)
        if header.producer_id >= 0:  # the producer state keeps nothing for others
            self.producers.update(header._replace(base_offset=base_offset))
        self._wake_fetchers()
        return base_offset, append_time

    @staticmethod
    def _check_timestamps(data: bytes, header: records.BatchHeader, before_ms: int, after_ms: int) -> None:
        """message.timestamp.before.max.ms / after.max.ms (KIP-937): every record's CreateTime
        within [now - before, now + after]. The header's max timestamp answers the usual case;
        records are decoded only when a lower bound is set or a record is out of range."""
        now = int(time.time() * 1000)
        if header.max_timestamp - now <= after_ms and before_ms >= _NO_LOWER_BOUND:
            return
        try:
            recs = records.decode_records(data)
        except records.InvalidBatch as exc:
            raise ProduceError("CORRUPT_MESSAGE", str(exc)) from None
        low, high = now - before_ms, now + after_ms
        bad = [(i, f"Timestamp {r.timestamp} of message with offset {r.offset} is out of range. The timestamp "
                   f"should be within [{low}, {high}]")
               for i, r in enumerate(recs) if r.timestamp >= 0 and not low <= r.timestamp <= high]
        if bad:
            raise ProduceError("INVALID_TIMESTAMP", bad[0][1], bad)

    @staticmethod
    def _check_keys(data: bytes) -> None:
        try:
            recs = records.decode_records(data)
        except records.InvalidBatch as exc:
            raise ProduceError("CORRUPT_MESSAGE", str(exc)) from None
        missing = [(i, "Compacted topic cannot accept message without key.")
                   for i, r in enumerate(recs) if r.key is None]
        if missing:
            raise ProduceError("INVALID_RECORD", "Compacted topic cannot accept message without key.", missing)

    def append_marker(self, marker: int, producer_id: int, producer_epoch: int, coordinator_epoch: int) -> int:
        """Append a transaction COMMIT/ABORT control batch; returns its offset."""
        now = int(time.time() * 1000)
        batch = records.encode_control_batch(marker, producer_id=producer_id, producer_epoch=producer_epoch,
                                             coordinator_epoch=coordinator_epoch, timestamp=now)
        offset = self.log.append(batch)
        self.producers.complete_transaction(producer_id, producer_epoch, offset,
                                            marker == records.CONTROL_ABORT, now, coordinator_epoch)
        self._wake_fetchers()
        return offset

    # -- fetch --------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int, *, committed_only: bool = False, min_one: bool = True) -> bytes:
        limit = self.last_stable_offset if committed_only else self.high_watermark
        return self.log.read(offset, max_bytes, max_offset=limit, min_one=min_one)

    def read_for_fetch(self, offset: int, max_bytes: int, *, committed_only: bool,
                       min_one: bool) -> bytes | FileSpan:
        """Fetch data: a file range for sendfile when large, else the bytes themselves."""
        if max_bytes < SENDFILE_MIN_BYTES:
            return self.read(offset, max_bytes, committed_only=committed_only, min_one=min_one)
        limit = self.last_stable_offset if committed_only else self.high_watermark
        span = self.log.read_span(offset, max_bytes, max_offset=limit, min_one=min_one)
        if span is None:
            return b""
        if span.size < SENDFILE_MIN_BYTES:
            with span.file:
                return os.pread(span.file.fileno(), span.size, span.position)
        return span

    def aborted_transactions(self, fetch_offset: int, data: bytes | FileSpan) -> list[dict]:
        """Aborted transactions overlapping the fetched range, for read_committed consumers."""
        if not self.producers.aborted or not len(data):
            return []
        if isinstance(data, FileSpan):
            last = data.last_offset
        else:
            last = fetch_offset
            for _, header in records.iter_batches(data):
                last = header.last_offset
        return [{"producer_id": t.producer_id, "first_offset": t.first_offset}
                for t in self.producers.aborted_between(fetch_offset, last)]

    def scan(self, chunk: int = 1 << 20) -> Iterator[tuple[records.BatchHeader, list[records.Record]]]:
        """Every batch from the log start with its decoded records, for the startup replay of
        internal topics. Unreadable batches are logged and skipped."""
        offset = self.log_start_offset
        while offset < self.high_watermark:
            data = self.read(offset, chunk)
            if not data:
                return  # compaction left nothing at or after `offset`
            before = offset
            for pos, header in records.iter_batches(data):
                offset = header.next_offset
                try:
                    decoded = records.decode_records(data, pos)
                except records.InvalidBatch as exc:
                    log.error("skipping an unreadable batch of %s-%d at offset %d: %s",
                              self.topic, self.index, header.base_offset, exc)
                    continue
                yield header, decoded
            if offset == before:
                log.error("cannot read past offset %d of %s-%d", offset, self.topic, self.index)
                return

    def wait_for_data(self, fut: asyncio.Future | None = None) -> asyncio.Future:
        """A future resolved at the next append (long-poll fetches wait on it); `fut` when
        given, so that one future can wait on many partitions."""
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
        if len(self._waiters) >= self._waiters_compact_at:
            # Drop the futures of fetches that already returned. The next pass waits until
            # the list has doubled again: with hundreds of consumers long-polling one
            # partition, a pass on every call cost a quarter of the broker's CPU.
            self._waiters = [w for w in self._waiters if not w.done()]
            self._waiters_compact_at = max(MIN_WAITERS_COMPACT, 2 * len(self._waiters))
        self._waiters.append(fut)
        return fut

    def _wake_fetchers(self) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def close(self, sync: bool = True) -> bool:
        """Close the log (see Log.close); True if its clean-shutdown marker is still to write."""
        self._wake_fetchers()
        if self._log is None:  # never opened: its files are as the last run left them
            return False
        self.snapshot_producer_state()
        return self._log.close(sync)

    def delete(self) -> None:
        """Remove the partition's files (topic deletion); later use finds a closed log."""
        self._deleted = True
        if self._log is None:
            shutil.rmtree(self.directory, ignore_errors=True)
        else:
            self._log.delete()
        self._wake_fetchers()
