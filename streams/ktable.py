"""KTable: a changelog stream read as a table, each key's latest value (Kafka's KTable).
Its processors pass `Change(new, old)` values; to_stream() turns the updates into records."""

from __future__ import annotations

from typing import Callable

from streams import operators as op
from streams.options import Named


class KTable:
    def __init__(self, builder, name: str, key_serde=None, value_serde=None, store_name: str | None = None):
        self.builder = builder
        self.name = name
        self.key_serde, self.value_serde = key_serde, value_serde
        self.store_name = store_name  # queryable when materialized

    def queryable_store_name(self) -> str | None:
        return self.store_name

    def _then(self, prefix: str, supplier, named: Named | None, value_serde=None) -> "KTable":
        name = self.builder.add_processor(prefix, supplier, [self.name], named.name if named else None)
        return KTable(self.builder, name, self.key_serde, value_serde)

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
