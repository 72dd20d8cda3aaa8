"""KGroupedStream: a stream grouped by key, to aggregate into a table (Kafka's KGroupedStream).
A stream whose keys may have changed goes through `<application.id>-<name>-repartition` first,
so each key's records meet in one task."""

from __future__ import annotations

from typing import Callable

from streams import ktable
from streams import operators as op
from streams.options import Materialized
from streams.serdes import Serdes


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

    def _aggregate(self, prefix: str, make: Callable, materialized: Materialized,
                   keep_value_serde: bool) -> "ktable.KTable":
        builder = self.stream.builder
        store = builder.store_builder(materialized, f"{prefix}STATE-STORE-", self.key_serde,
                                      self.value_serde if keep_value_serde else None)
        source = self.stream
        if self.repartition_required:
            source = source._through_repartition(self.name or store.name, self.key_serde, self.value_serde)
        name = builder.add_processor(prefix, lambda: make(store.name), [source.name])
        builder.topology.add_state_store(store, name)
        return ktable.KTable(builder, name, store.key_serde, store.value_serde, store.name)


def _count(key, value, aggregate: int) -> int:
    return aggregate + 1
