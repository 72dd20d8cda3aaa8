"""KTable: a changelog stream read as a table, each key's latest value (Kafka's KTable).
Its processors pass `Change(new, old)` values; to_stream() turns the updates into records."""

from __future__ import annotations

from typing import Callable

from streams import operators as op
from streams.options import Grouped, Materialized, Named
from streams.state import StoreBuilder
from streams.suppress import BufferKeySerde, BufferValueSerde, Suppressed
from streams.topology import TopologyError


class KTable:
    def __init__(self, builder, name: str, key_serde=None, value_serde=None, store_name: str | None = None,
                 windows=None):
        self.builder = builder
        self.windows = windows  # the time windows of a windowed aggregation's table
        self.name = name
        self.key_serde, self.value_serde = key_serde, value_serde
        self.store_name = store_name  # queryable when materialized

    def queryable_store_name(self) -> str | None:
        return self.store_name

    def _then(self, prefix: str, supplier, named: Named | None, value_serde=None) -> "KTable":
        name = self.builder.add_processor(prefix, supplier, [self.name], named.name if named else None)
        return KTable(self.builder, name, self.key_serde, value_serde, windows=self.windows)

    def materialized(self) -> "KTable":
        """This table if it has a store; else the same table kept in a new store (joins look
        values up in it)."""
        if self.store_name is not None:
            return self
        builder = self.builder
        store = builder.store_builder(Materialized().with_caching_disabled(), "KTABLE-MATERIALIZE-STATE-STORE-",
                                      self.key_serde, self.value_serde)
        name = builder.add_processor("KTABLE-MATERIALIZE-", lambda: op.TableMaterialize(store.name), [self.name])
        builder.topology.add_state_store(store, name)
        return KTable(builder, name, self.key_serde, self.value_serde, store.name, self.windows)

    def join(self, other: "KTable", joiner: Callable, named: Named | None = None) -> "KTable":
        """joiner(left_value, right_value) for keys present in both tables."""
        return self._join(other, joiner, "inner", named)

    def left_join(self, other: "KTable", joiner: Callable, named: Named | None = None) -> "KTable":
        """joiner(left_value, right_value or None) for every key of this table."""
        return self._join(other, joiner, "left", named)

    def outer_join(self, other: "KTable", joiner: Callable, named: Named | None = None) -> "KTable":
        """joiner(left or None, right or None) for every key of either table."""
        return self._join(other, joiner, "outer", named)

    def _join(self, other: "KTable", joiner: Callable, mode: str, named: Named | None) -> "KTable":
        left, right = self.materialized(), other.materialized()
        builder = self.builder
        base = named.name if named else builder.new_name(f"KTABLE-{'' if mode == 'inner' else mode.upper()}JOIN-")
        this_side = builder.add_processor("", lambda: op.TableTableJoin(right.store_name, joiner, mode, True),
                                          [left.name], name=f"{base}-this", stores=[right.store_name])
        other_side = builder.add_processor("", lambda: op.TableTableJoin(left.store_name, joiner, mode, False),
                                           [right.name], name=f"{base}-other", stores=[left.store_name])
        merged = builder.add_processor("", op.PassThrough, [this_side, other_side], name=f"{base}-merge")
        builder.topology.copartitioned.append(this_side)
        return KTable(builder, merged, self.key_serde, None)

    def group_by(self, selector: Callable, grouped: Grouped | None = None):
        """selector(key, value) -> (group key, value); always through a repartition topic."""
        grouped = grouped or Grouped()
        name = self.builder.add_processor("KTABLE-SELECT-", lambda: op.TableGroupBySelect(selector), [self.name])
        return self.builder.grouped_table(name, grouped.key_serde, grouped.value_serde, grouped.name)

    def suppress(self, suppressed: Suppressed) -> "KTable":
        """Only a windowed table's final results: each window's value once, when it closes."""
        if self.windows is None:
            raise TopologyError("suppress(until_window_closes) needs a windowed table (windowed_by(...) then "
                                "an aggregation)")
        builder = self.builder
        name = suppressed.name or builder.new_name("KTABLE-SUPPRESS-")
        store = StoreBuilder(f"{name}-store" if suppressed.name else builder.new_name("KTABLE-SUPPRESS-STATE-STORE-"),
                             persistent=False, key_serde=getattr(self.key_serde, "inner", None),
                             value_serde=self.value_serde)
        store.key_layout, store.value_layout = BufferKeySerde, BufferValueSerde
        grace = self.windows.close_delay_ms
        builder.add_processor("", lambda: op.SuppressUntilWindowCloses(store.name, grace), [self.name], name=name)
        builder.topology.add_state_store(store, name)
        return KTable(builder, name, self.key_serde, self.value_serde, windows=self.windows)

    def filter(self, predicate: Callable, named: Named | None = None) -> "KTable":
        return self._then("KTABLE-FILTER-", lambda: op.TableFilter(predicate), named, self.value_serde)

    def filter_not(self, predicate: Callable, named: Named | None = None) -> "KTable":
        return self._then("KTABLE-FILTER-", lambda: op.TableFilter(predicate, negate=True), named, self.value_serde)

    def map_values(self, fn: Callable, named: Named | None = None) -> "KTable":
        with_key = op.takes_key(fn)
        return self._then("KTABLE-MAPVALUES-", lambda: op.TableMapValues(fn, with_key), named)

    def to_stream(self, key_mapper: Callable | None = None, named: Named | None = None):
        """The table's updates as a stream (a deleted key as a null value); key_mapper(key,
        value) -> new key, when given."""
        name = self.builder.add_processor("KTABLE-TOSTREAM-", lambda: op.TableToStream(key_mapper), [self.name],
                                          named.name if named else None)
        return self.builder.kstream(name, None if key_mapper else self.key_serde, self.value_serde,
                               key_mapper is not None)
