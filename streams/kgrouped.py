"""KGroupedStream: a stream grouped by key, to aggregate into a table (Kafka's KGroupedStream).
A stream whose keys may have changed goes through `<application.id>-<name>-repartition` first,
so each key's records meet in one task."""

from __future__ import annotations

from typing import Callable

from streams import ktable
from streams import operators as op
from streams.options import Materialized
from streams.serdes import ChangeSerde, Serdes
from streams.state import StoreBuilder
from streams.windows import (SessionKeySerde, SessionWindowedSerde, SessionWindows, SlidingWindows, TimeWindowedSerde,
                             TimestampedKeySerde, TimeWindows, WindowKeySerde)


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

    def windowed_by(self, windows: TimeWindows | SlidingWindows | SessionWindows):
        """Tumbling or hopping (TimeWindows), sliding (SlidingWindows): a TimeWindowedKStream;
        SessionWindows: a SessionWindowedKStream."""
        if isinstance(windows, SessionWindows):
            return SessionWindowedKStream(self, windows)
        return TimeWindowedKStream(self, windows)

    def _aggregate(self, prefix: str, make: Callable, materialized: Materialized, keep_value_serde: bool,
                   windows: TimeWindows | None = None) -> "ktable.KTable":
        builder = self.stream.builder
        store = builder.store_builder(materialized, f"{prefix}STATE-STORE-", self.key_serde,
                                      self.value_serde if keep_value_serde else None)
        if windows is not None:
            store.key_layout = SessionKeySerde if isinstance(windows, SessionWindows) else WindowKeySerde
            # Kafka's window store changelogs: compacted, and deleted after the store's retention.
            store.log_config = {"cleanup.policy": "compact,delete",
                                "retention.ms": str(windows.retention_ms() + 86_400_000), **store.log_config}
        source = self.stream
        if self.repartition_required:
            source = source._through_repartition(self.name or store.name, self.key_serde, self.value_serde)
        name = builder.add_processor(prefix, lambda: make(store.name), [source.name])
        builder.topology.add_state_store(store, name)
        if isinstance(windows, SlidingWindows):
            builder.topology.add_state_store(self._sliding_records(store, windows), name)
        key_serde = store.key_serde if windows is None else SessionWindowedSerde(store.key_serde) \
            if isinstance(windows, SessionWindows) else TimeWindowedSerde(store.key_serde, windows.size_ms)
        return ktable.KTable(builder, name, key_serde, store.value_serde, store.name, windows)


    def _sliding_records(self, store: StoreBuilder, windows: SlidingWindows) -> StoreBuilder:
        """The records a sliding-window aggregation makes new windows from (see op.SlidingWindowAggregate)."""
        records = StoreBuilder(op.sliding_records_store(store.name), store.persistent, self.key_serde, self.value_serde)
        records.key_layout = TimestampedKeySerde
        records.log_config = dict(store.log_config)
        return records


class KGroupedTable:
    """A table re-grouped by another key (Kafka's KGroupedTable): its aggregations add each value
    that joins a group and subtract each that leaves it."""

    def __init__(self, builder, name: str, key_serde, value_serde, repartition_name: str | None):
        self.builder, self.name = builder, name
        self.key_serde, self.value_serde = key_serde, value_serde
        self.repartition_name = repartition_name

    def count(self, materialized: Materialized | None = None) -> "ktable.KTable":
        materialized = materialized or Materialized()
        if materialized.value_serde is None:
            materialized = materialized.with_value_serde(Serdes.Long())
        return self.aggregate(int, lambda k, v, a: a + 1, lambda k, v, a: a - 1, materialized)

    def reduce(self, adder: Callable, subtractor: Callable,
               materialized: Materialized | None = None) -> "ktable.KTable":
        """adder(aggregate, value) / subtractor(aggregate, value) -> aggregate."""
        materialized = materialized or Materialized()
        if materialized.value_serde is None and self.value_serde is not None:
            materialized = materialized.with_value_serde(self.value_serde)
        return self.aggregate(_none, lambda k, v, a: v if a is None else adder(a, v),
                              lambda k, v, a: subtractor(a, v), materialized)

    def aggregate(self, initializer: Callable, adder: Callable, subtractor: Callable,
                  materialized: Materialized | None = None) -> "ktable.KTable":
        """adder(key, value, aggregate) and subtractor(key, value, aggregate) -> aggregate."""
        builder = self.builder
        materialized = materialized or Materialized()
        store = builder.store_builder(materialized, "KTABLE-AGGREGATE-STATE-STORE-", self.key_serde)
        base = self.repartition_name or store.name
        topic = f"{base}-repartition"
        builder.topology.add_repartition_topic(topic)
        change_serde = ChangeSerde(self.value_serde)
        builder.topology.add_sink(f"{base}-repartition-sink", topic, self.name, key_serde=self.key_serde,
                                  value_serde=change_serde)
        source = f"{base}-repartition-source"
        builder.topology.add_source(source, topic, key_serde=self.key_serde, value_serde=change_serde)
        name = builder.add_processor("KTABLE-AGGREGATE-", lambda: op.TableAggregate(store.name, initializer, adder,
                                                                                     subtractor), [source])
        builder.topology.add_state_store(store, name)
        return ktable.KTable(builder, name, store.key_serde, store.value_serde, store.name)


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
            "KSTREAM-AGGREGATE-", lambda store: _window_aggregate(store, windows, int, _count), materialized,
            keep_value_serde=False, windows=windows)

    def reduce(self, reducer: Callable, materialized: Materialized | None = None) -> "ktable.KTable":
        windows = self.windows
        return self.grouped._aggregate(
            "KSTREAM-REDUCE-", lambda store: _window_aggregate(store, windows, _none,
                                                                 lambda k, v, a: v if a is None else reducer(a, v)),
            materialized or Materialized(), keep_value_serde=True, windows=windows)

    def aggregate(self, initializer: Callable, aggregator: Callable,
                  materialized: Materialized | None = None) -> "ktable.KTable":
        windows = self.windows
        return self.grouped._aggregate(
            "KSTREAM-AGGREGATE-", lambda store: _window_aggregate(store, windows, initializer, aggregator),
            materialized or Materialized(), keep_value_serde=False, windows=windows)


class SessionWindowedKStream:
    """A grouped stream cut into sessions (Kafka's SessionWindowedKStream)."""

    def __init__(self, grouped: KGroupedStream, windows: SessionWindows):
        self.grouped, self.windows = grouped, windows

    def count(self, materialized: Materialized | None = None) -> "ktable.KTable":
        materialized = materialized or Materialized()
        if materialized.value_serde is None:
            materialized = materialized.with_value_serde(Serdes.Long())
        return self.aggregate(int, _count, lambda key, a, b: a + b, materialized)

    def reduce(self, reducer: Callable, materialized: Materialized | None = None) -> "ktable.KTable":
        return self._aggregate("KSTREAM-REDUCE-", _none, lambda k, v, a: v if a is None else reducer(a, v),
                               lambda key, a, b: reducer(a, b), materialized or Materialized(), True)

    def aggregate(self, initializer: Callable, aggregator: Callable, merger: Callable,
                  materialized: Materialized | None = None) -> "ktable.KTable":
        """aggregator(key, value, aggregate); merger(key, agg1, agg2) when sessions merge."""
        return self._aggregate("KSTREAM-AGGREGATE-", initializer, aggregator, merger, materialized or Materialized(),
                               False)

    def _aggregate(self, prefix, initializer, aggregator, merger, materialized, keep_value_serde):
        windows = self.windows
        return self.grouped._aggregate(
            prefix, lambda store: op.SessionWindowAggregate(store, windows, initializer, aggregator, merger),
            materialized, keep_value_serde=keep_value_serde, windows=windows)


def _window_aggregate(store: str, windows, initializer: Callable, aggregator: Callable):
    if isinstance(windows, SlidingWindows):
        return op.SlidingWindowAggregate(store, windows, initializer, aggregator)
    return op.WindowAggregate(store, windows, initializer, aggregator)


def _none():
    return None


def _count(key, value, aggregate: int) -> int:
    return aggregate + 1
