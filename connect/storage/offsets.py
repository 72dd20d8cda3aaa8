"""Source offsets: `[connector, partition]` keys and offset values as compact JSON (Kafka's
OffsetStorageWriter layout), kept in memory, in a file (standalone) or in the offsets topic.

The byte form matters: the key is the compaction and partitioning key, so it must be exactly
what a Java worker writes (Jackson's compact JSON, map order kept).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading

from connect.api import OffsetStorageReader, freeze_partition
from connect.converters.json import compact
from connect.errors import ConnectException, DataException
from connect.storage.kafka_log import KafkaBasedLog, ensure_compacted_topic

log = logging.getLogger("connect.offsets")


def offset_key(connector: str, partition: dict) -> bytes:
    return compact([connector, partition])


def parse_offset_key(key: bytes) -> tuple[str, dict] | None:
    """(connector, partition) of a key, or None for one that is not [string, object] (which Kafka
    logs and ignores)."""
    try:
        parsed = json.loads(key)
    except (ValueError, TypeError):
        return None
    if isinstance(parsed, list) and len(parsed) == 2 and isinstance(parsed[0], str) and isinstance(parsed[1], dict):
        return parsed[0], parsed[1]
    return None


def check_offset_format(what: str, data: dict | None) -> None:
    """OffsetUtils.validateFormat: string keys, primitive values."""
    if data is None:
        return
    if not isinstance(data, dict):
        raise DataException(f"{what} must be a map")
    for key, value in data.items():
        if not isinstance(key, str):
            raise DataException("Offsets may only use String keys")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise DataException("Offsets may only contain primitive types as values, but field " + key +
                                " contains " + type(value).__name__)


class OffsetBackingStore:
    """Key bytes -> value bytes, with `set` durable when it returns."""

    def __init__(self):
        self._data: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def get(self, keys: list[bytes]) -> dict[bytes, bytes | None]:
        with self._lock:
            return {k: self._data.get(k) for k in keys}

    def set(self, values: dict[bytes, bytes | None]) -> None:
        with self._lock:
            self._apply(values)

    def _apply(self, values):
        for k, v in values.items():
            if v is None:
                self._data.pop(k, None)
            else:
                self._data[k] = v

    def remember(self, values: dict[bytes, bytes | None]) -> None:
        """Values already written to Kafka by someone else (a transactional task): only our view."""
        with self._lock:
            self._apply(values)

    def connector_partitions(self, connector: str) -> list[dict]:
        """The source partitions stored for a connector (for GET /connectors/{c}/offsets)."""
        with self._lock:
            keys = list(self._data)
        out = []
        for key in keys:
            parsed = parse_offset_key(key)
            if parsed is not None and parsed[0] == connector:
                out.append(parsed[1])
        return out


class MemoryOffsetBackingStore(OffsetBackingStore):
    pass


class FileOffsetBackingStore(OffsetBackingStore):
    """`offset.storage.file.filename`: the whole map rewritten atomically on every flush. The file
    is JSON ({base64 key: base64 value}), not the Java serialization Kafka's standalone worker
    writes, so the two cannot share an offsets file (the README says so)."""

    def __init__(self, filename: str):
        super().__init__()
        self.filename = filename

    def start(self) -> None:
        try:
            with open(self.filename, "rb") as f:
                raw = json.load(f)
        except FileNotFoundError:
            return
        except ValueError as exc:
            raise ConnectException(f"{self.filename} is not a schemabus offsets file: {exc}") from None
        self._data = {base64.b64decode(k): base64.b64decode(v) for k, v in raw.items()}

    def set(self, values):
        with self._lock:
            self._apply(values)
            snapshot = {base64.b64encode(k).decode(): base64.b64encode(v).decode() for k, v in self._data.items()}
            tmp = self.filename + ".tmp"
            with open(tmp, "w") as f:
                json.dump(snapshot, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.filename)


class KafkaOffsetBackingStore(OffsetBackingStore):
    """`offset.storage.topic` (25 partitions by default, compacted)."""

    def __init__(self, topic: str, client_config: dict, admin_config: dict, partitions: int = 25,
                 replication_factor: int = 3, topic_configs: dict | None = None):
        super().__init__()
        self.topic = topic
        self._admin_config = admin_config
        self._create = (partitions, replication_factor, topic_configs)
        self._log = KafkaBasedLog(topic, client_config, self._on_record)

    def _on_record(self, key, value, partition, offset):
        if key is None:
            return
        with self._lock:
            self._apply({key: value})

    def start(self) -> None:
        partitions, rf, configs = self._create
        ensure_compacted_topic(self._admin_config, self.topic, partitions, rf, "offset.storage.topic", configs)
        self._log.start()

    def stop(self) -> None:
        self._log.stop()

    def set(self, values):
        self._log.send_and_wait(list(values.items()))
        with self._lock:
            self._apply(values)

    def refresh(self, timeout: float = 30.0) -> None:
        self._log.read_to_end(timeout)


class OffsetReader(OffsetStorageReader):
    """A connector's view of its stored offsets (OffsetStorageReaderImpl)."""

    def __init__(self, store: OffsetBackingStore, connector: str):
        self.store = store
        self.connector = connector

    def offsets(self, partitions):
        keys = {offset_key(self.connector, p): p for p in partitions}
        found = self.store.get(list(keys))
        out = {}
        for key, partition in keys.items():
            raw = found.get(key)
            if raw is None:
                continue
            try:
                out[freeze_partition(partition)] = json.loads(raw)
            except ValueError:
                log.error("CRITICAL: Failed to deserialize offset data when getting offsets for task with "
                          "namespace %s. No value for this data will be returned", self.connector)
        return out


class OffsetWriter:
    """Offsets a task produced, kept until the worker flushes the ones whose records are acked
    (OffsetStorageWriter)."""

    def __init__(self, store: OffsetBackingStore, connector: str):
        self.store = store
        self.connector = connector

    def write(self, offsets: dict[tuple, tuple[dict, dict | None]]) -> None:
        """`offsets`: {frozen partition: (partition, offset)}; writes them durably."""
        if not offsets:
            return
        values = {}
        for partition, offset in offsets.values():
            check_offset_format("Partition", partition)
            check_offset_format("Offset", offset)
            values[offset_key(self.connector, partition)] = None if offset is None else compact(offset)
        self.store.set(values)
