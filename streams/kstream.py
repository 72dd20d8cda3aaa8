"""KStream: a record stream (Kafka's KStream). Each operation adds a processor node and returns
the stream of its output. An operation that may change keys marks the stream as needing a
repartition before any grouping, as Kafka does."""

from __future__ import annotations

from typing import Callable

from streams import kgrouped, ktable
from streams.global_table import GlobalKTable
from streams import operators as op
from streams.options import Branched, Grouped, Materialized, Named, Produced, Repartitioned
from streams.processor import Processor
from streams.state import StoreBuilder
from streams.topology import TopologyError
from streams.windows import JoinWindows, LeftOrRightValueSerde, SidedKeySerde, TimestampedKeySerde


class KStream:
    def __init__(self, builder, name: str, key_serde=None, value_serde=None, repartition_required: bool = False):
        self.builder = builder
        self.name = name
        self.key_serde, self.value_serde = key_serde, value_serde
        self.repartition_required = repartition_required

    def _then(self, prefix: str, supplier: Callable[[], Processor], named: Named | None = None,
              key_changes: bool = False, keep_serdes: bool = True, stores: list[str] = ()) -> "KStream":
        name = self.builder.add_processor(prefix, supplier, [self.name], named.name if named else None, stores)
        return KStream(self.builder, name, self.key_serde if keep_serdes and not key_changes else None,
                       self.value_serde if keep_serdes else None, self.repartition_required or key_changes)

    # -- stateless ------------------------------------------------------------------------------

    def filter(self, predicate: Callable, named: Named | None = None) -> "KStream":
        return self._then("KSTREAM-FILTER-", lambda: op.Filter(predicate), named)

    def filter_not(self, predicate: Callable, named: Named | None = None) -> "KStream":
        return self._then("KSTREAM-FILTER-", lambda: op.Filter(predicate, negate=True), named)

    def map(self, fn: Callable, named: Named | None = None) -> "KStream":
        """fn(key, value) -> (key, value)."""
        return self._then("KSTREAM-MAP-", lambda: op.Map(fn), named, key_changes=True, keep_serdes=False)

    def map_values(self, fn: Callable, named: Named | None = None) -> "KStream":
        """fn(value) or fn(key, value) -> value; the key stays, so no repartition."""
        with_key = op.takes_key(fn)
        stream = self._then("KSTREAM-MAPVALUES-", lambda: op.MapValues(fn, with_key), named)
        stream.value_serde = None
        return stream

    def flat_map(self, fn: Callable, named: Named | None = None) -> "KStream":
        """fn(key, value) -> iterable of (key, value)."""
        return self._then("KSTREAM-FLATMAP-", lambda: op.FlatMap(fn), named, key_changes=True, keep_serdes=False)

    def flat_map_values(self, fn: Callable, named: Named | None = None) -> "KStream":
        with_key = op.takes_key(fn)
        stream = self._then("KSTREAM-FLATMAPVALUES-", lambda: op.FlatMapValues(fn, with_key), named)
        stream.value_serde = None
        return stream

    def select_key(self, fn: Callable, named: Named | None = None) -> "KStream":
        """fn(key, value) -> new key."""
        stream = self._then("KSTREAM-KEY-SELECT-", lambda: op.SelectKey(fn), named, key_changes=True)
        stream.value_serde = self.value_serde
        return stream

    def peek(self, fn: Callable, named: Named | None = None) -> "KStream":
        return self._then("KSTREAM-PEEK-", lambda: op.Peek(fn), named)

    def foreach(self, fn: Callable, named: Named | None = None) -> None:
        self._then("KSTREAM-FOREACH-", lambda: op.Peek(fn, forward=False), named)

    def merge(self, other: "KStream", named: Named | None = None) -> "KStream":
        name = self.builder.add_processor("KSTREAM-MERGE-", op.PassThrough, [self.name, other.name],
                                          named.name if named else None)
        same = self.key_serde is other.key_serde and self.value_serde is other.value_serde
        return KStream(self.builder, name, self.key_serde if same else None, self.value_serde if same else None,
                       self.repartition_required or other.repartition_required)

    def split(self, named: Named | None = None) -> "BranchedKStream":
        return BranchedKStream(self, named.name if named else None)

    def process(self, supplier: Callable[[], Processor], *store_names: str, named: Named | None = None) -> "KStream":
        """A processor of the processor API in the stream; it may use the named stores."""
        return self._then("KSTREAM-PROCESSOR-", supplier, named, key_changes=True, keep_serdes=False,
                          stores=list(store_names))

    # -- sinks and repartitioning ----------------------------------------------------------------

    def to(self, topic: str | Callable, produced: Produced | None = None) -> None:
        """To a topic, or to the topic a function (key, value, context) -> topic names."""
        produced = produced or Produced()
        name = produced.name or self.builder.new_name("KSTREAM-SINK-")
        self.builder.topology.add_sink(name, topic, self.name, key_serde=produced.key_serde or self.key_serde,
                                       value_serde=produced.value_serde or self.value_serde,
                                       partitioner=produced.partitioner)

    def repartition(self, repartitioned: Repartitioned | None = None) -> "KStream":
        repartitioned = repartitioned or Repartitioned()
        base = repartitioned.name or self.builder.new_name("KSTREAM-REPARTITION-")
        return self._through_repartition(base, repartitioned.key_serde or self.key_serde,
                                         repartitioned.value_serde or self.value_serde,
                                         repartitioned.number_of_partitions, repartitioned.partitioner)

    def _through_repartition(self, base: str, key_serde, value_serde, partitions: int | None = None,
                             partitioner: Callable | None = None) -> "KStream":
        """Write to `<application.id>-<base>-repartition` and read it back in a new sub-topology."""
        topic = f"{base}-repartition"
        builder = self.builder
        builder.topology.add_repartition_topic(topic, partitions)
        filtered = builder.add_processor("KSTREAM-FILTER-", op.DropNullKeys, [self.name], f"{base}-repartition-filter")
        builder.topology.add_sink(f"{base}-repartition-sink", topic, filtered, key_serde=key_serde,
                                  value_serde=value_serde, partitioner=partitioner)
        source = f"{base}-repartition-source"
        builder.topology.add_source(source, topic, key_serde=key_serde, value_serde=value_serde)
        return KStream(builder, source, key_serde, value_serde)

    def to_table(self, materialized: Materialized | None = None, named: Named | None = None) -> "ktable.KTable":
        materialized = materialized or Materialized()
        stream = self._through_repartition(materialized.name or self.builder.new_name("KSTREAM-TOTABLE-"),
                                           self.key_serde, self.value_serde) if self.repartition_required else self
        store = self.builder.store_builder(materialized, "KSTREAM-TOTABLE-STATE-STORE-", stream.key_serde,
                                           stream.value_serde)
        name = self.builder.add_processor("KSTREAM-TOTABLE-", lambda: op.TableSource(store.name), [stream.name],
                                          named.name if named else None)
        self.builder.topology.add_state_store(store, name)
        return ktable.KTable(self.builder, name, store.key_serde, store.value_serde, store.name)

    # -- joins -----------------------------------------------------------------------------------

    def join(self, other, joiner: Callable, windows: JoinWindows | None = None,
             named: Named | None = None) -> "KStream":
        """With a KTable: each record with the table's value for its key, joiner(stream_value,
        table_value); records whose key the table lacks are dropped. With a KStream and
        JoinWindows: joiner(left, right) for each pair of records of one key within the window."""
        if isinstance(other, KStream):
            return self._join_stream(other, joiner, windows, "inner", named)
        if isinstance(other, GlobalKTable):  # join(global_table, key_selector, joiner), as Kafka's
            return self._join_global(other, joiner, windows, False, named)
        return self._join_table(other, joiner, False, named)

    def left_join(self, other, joiner: Callable, windows: JoinWindows | None = None,
                  named: Named | None = None) -> "KStream":
        """As join; a record without a partner gives joiner(value, None) (for streams: once its
        window has closed)."""
        if isinstance(other, KStream):
            return self._join_stream(other, joiner, windows, "left", named)
        if isinstance(other, GlobalKTable):
            return self._join_global(other, joiner, windows, True, named)
        return self._join_table(other, joiner, True, named)

    def outer_join(self, other: "KStream", joiner: Callable, windows: JoinWindows,
                   named: Named | None = None) -> "KStream":
        """As left_join, and a right record without a partner gives joiner(None, value)."""
        return self._join_stream(other, joiner, windows, "outer", named)

    def _join_stream(self, other: "KStream", joiner: Callable, windows: JoinWindows | None, mode: str,
                     named: Named | None) -> "KStream":
        if windows is None:
            raise TopologyError("a stream-stream join needs JoinWindows")
        builder = self.builder
        left = self._through_repartition(f"{self.name}-left", self.key_serde, self.value_serde) \
            if self.repartition_required else self
        right = other._through_repartition(f"{other.name}-right", other.key_serde, other.value_serde) \
            if other.repartition_required else other
        base = named.name if named else builder.new_name(
            {"inner": "KSTREAM-JOIN-", "left": "KSTREAM-LEFTJOIN-", "outer": "KSTREAM-OUTERJOIN-"}[mode])
        log_config = {"cleanup.policy": "compact,delete", "retention.ms": str(windows.retention_ms() + 86_400_000)}

        def side_store(name: str, stream: KStream) -> StoreBuilder:
            store = StoreBuilder(name, persistent=True, key_serde=stream.key_serde, value_serde=stream.value_serde)
            store.key_layout, store.log_config = TimestampedKeySerde, dict(log_config)
            return store
        this_store, other_store = side_store(f"{base}-this-join-store", left), side_store(f"{base}-other-join-store",
                                                                                          right)
        stores = [this_store.name, other_store.name]
        unmatched = None
        if mode != "inner":
            left_serde, right_serde = left.value_serde, right.value_serde
            unmatched = StoreBuilder(f"{base}-shared-join-store", persistent=True, key_serde=left.key_serde)
            unmatched.key_layout = SidedKeySerde
            unmatched.value_layout = lambda default: LeftOrRightValueSerde(left_serde or default,
                                                                           right_serde or default)
            unmatched.log_config = dict(log_config)
            stores.append(unmatched.name)
        unmatched_name = unmatched.name if unmatched else None
        this_side = builder.add_processor("", lambda: op.StreamStreamJoin(
            this_store.name, other_store.name, unmatched_name, windows, joiner, True, mode != "inner"),
            [left.name], name=f"{base}-this-join")
        other_side = builder.add_processor("", lambda: op.StreamStreamJoin(
            other_store.name, this_store.name, unmatched_name, windows, joiner, False, mode == "outer"),
            [right.name], name=f"{base}-other-join")
        for store in (this_store, other_store, unmatched):
            if store is not None:
                builder.topology.add_state_store(store, this_side, other_side)
        merged = builder.add_processor("", op.PassThrough, [this_side, other_side], name=f"{base}-merge")
        builder.topology.copartitioned.append(this_side)
        return KStream(builder, merged, left.key_serde, None)

    def _join_global(self, table: GlobalKTable, key_selector: Callable, joiner: Callable, left: bool,
                     named: Named | None) -> "KStream":
        """No co-partitioning needed: every instance has the whole table."""
        name = self.builder.add_processor(
            "KSTREAM-LEFTJOIN-" if left else "KSTREAM-JOIN-",
            lambda: op.StreamGlobalTableJoin(table.store_name, key_selector, joiner, left), [self.name],
            named.name if named else None)
        return KStream(self.builder, name, self.key_serde, None, self.repartition_required)

    def _join_table(self, table: "ktable.KTable", joiner: Callable, left: bool, named: Named | None) -> "KStream":
        builder = self.builder
        table = table.materialized()
        stream = self._through_repartition(f"{self.name}-join", self.key_serde, self.value_serde) \
            if self.repartition_required else self
        name = builder.add_processor("KSTREAM-LEFTJOIN-" if left else "KSTREAM-JOIN-",
                                     lambda: op.StreamTableJoin(table.store_name, joiner, left), [stream.name],
                                     named.name if named else None, stores=[table.store_name])
        builder.topology.copartitioned.append(name)
        return KStream(builder, name, stream.key_serde, None)

    # -- grouping --------------------------------------------------------------------------------

    def group_by_key(self, grouped: Grouped | None = None) -> "kgrouped.KGroupedStream":
        grouped = grouped or Grouped()
        return kgrouped.KGroupedStream(self, grouped.key_serde or self.key_serde,
                                       grouped.value_serde or self.value_serde, grouped.name,
                                       self.repartition_required)

    def group_by(self, fn: Callable, grouped: Grouped | None = None) -> "kgrouped.KGroupedStream":
        """fn(key, value) -> the key to group by; always repartitioned by the new key."""
        grouped = grouped or Grouped()
        selected = self._then("KSTREAM-KEY-SELECT-", lambda: op.SelectKey(fn), key_changes=True)
        return kgrouped.KGroupedStream(selected, grouped.key_serde, grouped.value_serde or self.value_serde,
                                       grouped.name, True)


class BranchedKStream:
    """split(): each record goes to the first branch whose predicate holds; branch streams are
    named `<split name><branch name or index>` (Kafka's BranchedKStream)."""

    def __init__(self, stream: KStream, prefix: str | None):
        self.stream = stream
        self.prefix = prefix if prefix is not None else stream.builder.new_name("KSTREAM-BRANCH-")
        self.branches: list[tuple[Callable | None, str, Branched]] = []
        self.result: dict[str, KStream] = {}

    def branch(self, predicate: Callable, branched: Branched | None = None) -> "BranchedKStream":
        branched = branched or Branched()
        self.branches.append((predicate, self.prefix + (branched.name or str(len(self.branches) + 1)), branched))
        return self

    def default_branch(self, branched: Branched | None = None) -> dict[str, KStream]:
        branched = branched or Branched()
        self.branches.append((None, self.prefix + (branched.name or "0"), branched))
        return self._build()

    def no_default_branch(self) -> dict[str, KStream]:
        return self._build()

    def _build(self) -> dict[str, KStream]:
        stream, builder = self.stream, self.stream.builder
        routes = [(predicate, name) for predicate, name, _ in self.branches]
        splitter = builder.add_processor("KSTREAM-BRANCH-", lambda: op.Branch(routes), [stream.name])
        result = {}
        for _, name, branched in self.branches:
            builder.add_processor("", op.PassThrough, [splitter], name=name)
            branch = KStream(builder, name, stream.key_serde, stream.value_serde, stream.repartition_required)
            if branched.function is not None:
                branch = branched.function(branch)
            if branch is not None:
                result[name] = branch
        return result

