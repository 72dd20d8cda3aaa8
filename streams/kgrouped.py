"""KGroupedStream: a stream grouped by key, to aggregate into a table (Kafka's KGroupedStream).
A stream whose keys may have changed goes through `<application.id>-<name>-repartition` first,
so each key's records meet in one task."""

from __future__ import annotations

from typing import Callable

from streams import ktable
from streams import operators as op
from streams.options import Materialized
from streams.serdes import Serdes
from streams.windows import TimeWindows, TimeWindowedSerde, WindowKeySerde


class KGroupedStream:
    def __init__(self, stream, key_serde, value_serde, name: str | None, repartition_required: bool):
        self.stream = stream
        self.key_serde, self.value_serde = key_serde, value_serde
        self.name = name
        self.repartition_required = repartition_required

    def count(self, materialized: Materialized | None = None) -> "ktable.KTable":
        materialized = materialized or Materialized()
        if materialized.value_serde is None:
            materialized = materialized.with_value_serde(Serdes.Long())
        return self._aggregate("KSTREAM-AGGREGATE-", lambda store: op.Aggregate(store, int, _count), materialized,
                               keep_value_serde=False)

    def reduce(self, reducer: Callable, materialized: Materialized | None = None) -> "ktable.KTable":
        """reducer(aggregate, value) -> aggregate."""
        return self._aggregate("KSTREAM-REDUCE-", lambda store: op.Reduce(store, reducer),
                               materialized or Materialized(), keep_value_serde=True)

    def aggregate(self, initializer: Callable, aggregator: Callable,
                  materialized: Materialized | None = None) -> "ktable.KTable":
        """aggregator(key, value, aggregate) -> aggregate, starting from initializer()."""
        return self._aggregate("KSTREAM-AGGREGATE-", lambda store: op.Aggregate(store, initializer, aggregator),
                               materialized or Materialized(), keep_value_serde=False)

    def windowed_by(self, windows: TimeWindows) -> "TimeWindowedKStream":
        return TimeWindowedKStream(self, windows)

    def _aggregate(self, prefix: str, make: Callable, materialized: Materialized, keep_value_serde: bool,
                   windows: TimeWindows | None = None) -> "ktable.KTable":
        builder = self.stream.builder
        store = builder.store_builder(materialized, f"{prefix}STATE-STORE-", self.key_serde,
                                      self.value_serde if keep_value_serde else None)
        if windows is not None:
            store.key_layout = WindowKeySerde
            # Kafka's window store changelogs: compacted, and deleted after the store's retention.
            store.log_config = {"cleanup.policy": "compact,delete",
                                "retention.ms": str(windows.retention_ms() + 86_400_000), **store.log_config}
        source = self.stream
        if self.repartition_required:
            source = source._through_repartition(self.name or store.name, self.key_serde, self.value_serde)
        name = builder.add_processor(prefix, lambda: make(store.name), [source.name])
        builder.topology.add_state_store(store, name)
        key_serde = store.key_serde if windows is None else TimeWindowedSerde(store.key_serde, windows.size_ms)
        return ktable.KTable(builder, name, key_serde, store.value_serde, store.name, windows)


class TimeWindowedKStream:
    """A grouped stream cut into time windows (Kafka's TimeWindowedKStream): its aggregations
    make a table keyed by Windowed keys."""

    def __init__(self, grouped: KGroupedStream, windows: TimeWindows):
        self.grouped, self.windows = grouped, windows

    def count(self, materialized: Materialized | None = None) -> "ktable.KTable":
        materialized = materialized or Materialized()
        if materialized.value_serde is None:
            materialized = materialized.with_value_serde(Serdes.Long())
        windows = self.windows
        return self.grouped._aggregate(
            "KSTREAM-AGGREGATE-", lambda store: op.WindowAggregate(store, windows, int, _count), materialized,
            keep_value_serde=False, windows=windows)

    def reduce(self, reducer: Callable, materialized: Materialized | None = None) -> "ktable.KTable":
        windows = self.windows
        return self.grouped._aggregate(
            "KSTREAM-REDUCE-", lambda store: op.WindowAggregate(store, windows, _none,
                                                                  lambda k, v, a: v if a is None else reducer(a, v)),
            materialized or Materialized(), keep_value_serde=True, windows=windows)

    def aggregate(self, initializer: Callable, aggregator: Callable,
                  materialized: Materialized | None = None) -> "ktable.KTable":
        windows = self.windows
        return self.grouped._aggregate(
            "KSTREAM-AGGREGATE-", lambda store: op.WindowAggregate(store, windows, initializer, aggregator),
            materialized or Materialized(), keep_value_serde=False, windows=windows)


def _none():
    return None


def _count(key, value, aggregate: int) -> int:
    return aggregate + 1
