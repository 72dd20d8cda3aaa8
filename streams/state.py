"""State stores (Kafka's layering): a bytes store (in memory, or RocksDB through rocksdict)
under a typed KeyValueStore that (de)serializes with the store's serdes, caches updates in memory
until the next commit (`statestore.cache.max.bytes`) and logs every flushed change to the store's
changelog topic, from which it is restored (streams/state_manager.py).

`Stores` builds them by Kafka's names: persistent_key_value_store, in_memory_key_value_store,
key_value_store_builder(...).with_logging_disabled() / with_caching_enabled() ...
"""

from __future__ import annotations

import bisect
import os
import shutil
from typing import Callable, Iterator

from rocksdict import Options, Rdict, WriteBatch

from streams.serdes import Serde

_DELETED = object()  # a cached delete, written to the changelog as a tombstone


class InMemoryBytesStore:
    persistent = False

    def __init__(self, name: str):
        self.name = name
        self._data: dict[bytes, bytes] = {}
        self._sorted: list[bytes] | None = None  # built for range queries, dropped on change

    def open(self, directory: str | None) -> None:
        pass

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def write(self, puts: list[tuple[bytes, bytes | None]]) -> None:
        data = self._data
        for key, value in puts:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        self._sorted = None

    def items(self, lower: bytes | None = None, upper: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Pairs in key order, lower <= key <= upper."""
        if self._sorted is None:
            self._sorted = sorted(self._data)
        keys = self._sorted
        start = 0 if lower is None else bisect.bisect_left(keys, lower)
        for key in keys[start:]:
            if upper is not None and key > upper:
                return
            value = self._data.get(key)
            if value is not None:
                yield key, value

    def count(self) -> int:
        return len(self._data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def wipe(self) -> None:
        self._data.clear()
        self._sorted = None


class RocksDBBytesStore:
    """A RocksDB database in the task's directory: `<state.dir>/<app>/<task>/rocksdb/<store>`."""
    persistent = True

    def __init__(self, name: str):
        self.name = name
        self._db: Rdict | None = None
        self._path: str | None = None

    def open(self, directory: str | None) -> None:
        self._path = os.path.join(directory, "rocksdb", self.name)
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        self._db = Rdict(self._path, Options(raw_mode=True))

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def write(self, puts: list[tuple[bytes, bytes | None]]) -> None:
        batch = WriteBatch(raw_mode=True)
        for key, value in puts:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        self._db.write(batch)

    def items(self, lower: bytes | None = None, upper: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        for key, value in (self._db.items(from_key=lower) if lower is not None else self._db.items()):
            if upper is not None and key > upper:
                return
            yield key, value

    def count(self) -> int:
        return self._db.property_int_value("rocksdb.estimate-num-keys") or 0

    def flush(self) -> None:
        self._db.flush()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def wipe(self) -> None:
        """Drop every key (a corrupted or unverifiable local state is rebuilt from the changelog)."""
        self.close()
        shutil.rmtree(self._path, ignore_errors=True)
        self._db = Rdict(self._path, Options(raw_mode=True))


class KeyValueStore:
    """A typed key-value store over a bytes store. With caching, updates wait in a dict until
    flush() (each commit, or when the cache is full); flushing writes them to the bytes store,
    the changelog, and tells the flush listener (the DSL forwards a table's updates so: one per
    key per commit, as Kafka's record cache does)."""

    def __init__(self, name: str, inner, key_serde: Serde | None, value_serde: Serde | None,
                 logging: bool = True, caching: bool = False, log_config: dict | None = None):
        self.name = name
        self.inner = inner
        self.key_serde, self.value_serde = key_serde, value_serde
        self.logging = logging
        self.log_config = dict(log_config or {})
        self.caching = caching
        # Stores of composite keys or values (window stores, suppression buffers): how the
        # user's serde becomes the store's, applied once the default serdes are known.
        self.key_layout: Callable[[Serde], Serde] | None = None
        self.value_layout: Callable[[Serde], Serde] | None = None
        self.cache_max_entries = 0
        self.changelog_topic: str | None = None
        self._logger: Callable[[bytes, bytes | None, int], None] | None = None
        self._flush_listener: Callable[[object, object, object, int], None] | None = None
        self._cache: dict = {}  # key -> [value or _DELETED, value before the first cached change, timestamp]

    @property
    def persistent(self) -> bool:
        return self.inner.persistent

    def init(self, directory: str | None, key_serde: Serde, value_serde: Serde, changelog_topic: str | None,
             logger: Callable[[bytes, bytes | None, int], None] | None, cache_max_entries: int) -> None:
        """Called by the task: defaults for missing serdes, where changes are logged."""
        self.key_serde = self.key_serde or key_serde
        self.value_serde = self.value_serde or value_serde
        if self.key_layout is not None:
            self.key_serde = self.key_layout(self.key_serde)
        if self.value_layout is not None:
            self.value_serde = self.value_layout(self.value_serde)
        self.changelog_topic = changelog_topic if self.logging else None
        self._logger = logger if self.logging else None
        self.cache_max_entries = cache_max_entries if self.caching else 0
        self.inner.open(directory)

    def set_flush_listener(self, listener: Callable[[object, object, object, int], None]) -> bool:
        """listener(key, new, old, timestamp) for each flushed change; False when not caching (the
        caller then forwards each change itself)."""
        self._flush_listener = listener
        return self.cache_max_entries > 0

    # -- reads ------------------------------------------------------------------------------------

    def _kbytes(self, key) -> bytes:
        return self.key_serde.serialize(self.changelog_topic or self.name, key)

    def _read(self, key):
        data = self.inner.get(self._kbytes(key))
        return None if data is None else self.value_serde.deserialize(self.changelog_topic or self.name, data)

    def get(self, key):
        entry = self._cache.get(key)
        if entry is not None:
            return None if entry[0] is _DELETED else entry[0]
        return self._read(key)

    def range(self, lower=None, upper=None) -> Iterator[tuple]:
        """(key, value) pairs with lower <= key <= upper in serialized-key order, cached changes
        included (read without flushing: interactive queries come from other threads)."""
        topic = self.changelog_topic or self.name
        lo = None if lower is None else self._kbytes(lower)
        hi = None if upper is None else self._kbytes(upper)
        deserialize = self.value_serde.deserialize
        merged = {kb: (True, vb) for kb, vb in self.inner.items(lo, hi)}  # kb -> (serialized?, value)
        for key, entry in list(self._cache.items()):
            kb = self._kbytes(key)
            if (lo is None or kb >= lo) and (hi is None or kb <= hi):
                merged[kb] = (False, None if entry[0] is _DELETED else entry[0])
        for kb in sorted(merged):
            serialized, value = merged[kb]
            if value is not None:
                yield self.key_serde.deserialize(topic, kb), deserialize(topic, value) if serialized else value

    def all(self) -> Iterator[tuple]:
        return self.range()

    def approximate_num_entries(self) -> int:
        return self.inner.count() + len(self._cache)

    # -- writes -----------------------------------------------------------------------------------

    def put(self, key, value, timestamp: int = 0) -> None:
        if key is None:
            raise ValueError(f"store {self.name}: a null key cannot be stored")
        if self.cache_max_entries:
            entry = self._cache.get(key)
            if entry is None:
                self._cache[key] = [_DELETED if value is None else value, self._read(key), timestamp]
                if len(self._cache) > self.cache_max_entries:
                    self.flush()
            else:
                # Moved to the end: a flush sends changes in the order of their last update, so a
                # downstream stream time (suppress) never passes a change still in the cache.
                del self._cache[key]
                self._cache[key] = entry
                entry[0] = _DELETED if value is None else value
                entry[2] = timestamp
            return
        self._write([(key, value, timestamp)])

    def put_if_absent(self, key, value, timestamp: int = 0):
        existing = self.get(key)
        if existing is None:
            self.put(key, value, timestamp)
        return existing

    def delete(self, key, timestamp: int = 0):
        old = self.get(key)
        self.put(key, None, timestamp)
        return old

    def _write(self, changes: list[tuple]) -> None:
        topic = self.changelog_topic or self.name
        kser, vser = self.key_serde.serialize, self.value_serde.serialize
        puts = [(kser(topic, k), None if v is None else vser(topic, v), ts) for k, v, ts in changes]
        self.inner.write([(k, v) for k, v, _ in puts])
        if self._logger is not None:
            for kb, vb, ts in puts:
                self._logger(kb, vb, ts)

    def flush(self) -> None:
        """Write cached changes (to the bytes store and the changelog), then tell the listener."""
        if not self._cache:
            return
        cache, self._cache = self._cache, {}
        changes = [(k, None if e[0] is _DELETED else e[0], e[2]) for k, e in cache.items()]
        self._write(changes)
        if self._flush_listener is not None:
            for key, entry in cache.items():
                new = None if entry[0] is _DELETED else entry[0]
                if new is not None or entry[1] is not None:
                    self._flush_listener(key, new, entry[1], entry[2])
        self.inner.flush()

    def expire_windows_before(self, start: int) -> int:
        """Drop windows that started before `start` from the local store (a window store's
        retention; the changelog's own retention removes them there, as in Kafka)."""
        self.flush()
        expired = [kb for kb, _ in self.inner.items() if int.from_bytes(kb[-12:-4], "big", signed=True) < start]
        if expired:
            self.inner.write([(kb, None) for kb in expired])
        return len(expired)

    def drop_cache(self) -> None:
        """Forget unflushed changes (an aborted transaction's)."""
        self._cache.clear()

    def restore(self, batch: list[tuple[bytes, bytes | None]]) -> None:
        self.inner.write(batch)

    def close(self) -> None:
        self.inner.close()


class StoreBuilder:
    """What the topology keeps of a store: it builds one store per task."""

    def __init__(self, name: str, persistent: bool, key_serde: Serde | None = None,
                 value_serde: Serde | None = None):
        self.name = name
        self.persistent = persistent
        self.key_serde, self.value_serde = key_serde, value_serde
        self.logging = True
        self.log_config: dict = {}
        self.caching = False
        self.key_layout: Callable[[Serde], Serde] | None = None
        self.value_layout: Callable[[Serde], Serde] | None = None

    def with_logging_enabled(self, config: dict | None = None) -> "StoreBuilder":
        self.logging, self.log_config = True, dict(config or {})
        return self

    def with_logging_disabled(self) -> "StoreBuilder":
        self.logging = False
        return self

    def with_caching_enabled(self) -> "StoreBuilder":
        self.caching = True
        return self

    def with_caching_disabled(self) -> "StoreBuilder":
        self.caching = False
        return self

    def build(self) -> KeyValueStore:
        inner = RocksDBBytesStore(self.name) if self.persistent else InMemoryBytesStore(self.name)
        store = KeyValueStore(self.name, inner, self.key_serde, self.value_serde, self.logging, self.caching,
                              self.log_config)
        store.key_layout, store.value_layout = self.key_layout, self.value_layout
        return store


class Stores:
    """Kafka's Stores factory, by the same names."""

    @staticmethod
    def persistent_key_value_store(name: str) -> tuple[str, bool]:
        return name, True

    @staticmethod
    def in_memory_key_value_store(name: str) -> tuple[str, bool]:
        return name, False

    @staticmethod
    def key_value_store_builder(supplier: tuple[str, bool], key_serde: Serde | None = None,
                                value_serde: Serde | None = None) -> StoreBuilder:
        name, persistent = supplier
        return StoreBuilder(name, persistent, key_serde, value_serde)
