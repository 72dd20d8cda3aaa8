"""StreamsBuilder: the DSL's entry point (Kafka's StreamsBuilder). It adds nodes to one Topology
as the application calls the DSL, named as Kafka names them (`KSTREAM-FILTER-0000000001`)."""

from __future__ import annotations

from typing import Callable

from streams import kgrouped, kstream, ktable
from streams import operators as op
from streams.options import Consumed, Materialized
from streams.processor import Processor
from streams.state import StoreBuilder
from streams.global_table import GlobalKTable
from streams.topology import Topology, TopologyError


class StreamsBuilder:
    def __init__(self):
        self.topology = Topology()
        self._index = 0

    def new_name(self, prefix: str) -> str:
        name = f"{prefix}{self._index:010d}"
        self._index += 1
        return name

    def add_processor(self, prefix: str, supplier: Callable[[], Processor], parents: list[str],
                      name: str | None = None, stores: list[str] = ()) -> str:
        name = name or self.new_name(prefix)
        self.topology.add_processor(name, supplier, *parents)
        if stores:
            self.topology.connect_processor_and_state_stores(name, stores=list(stores))
        return name

    def store_builder(self, materialized: Materialized, prefix: str, key_serde=None, value_serde=None) -> StoreBuilder:
        """The key-value store a Materialized asks for (named by it, or generated); the caller
        adds it with the processor that owns it."""
        name = materialized.name or self.new_name(prefix)
        builder = StoreBuilder(name, materialized.persistent, materialized.key_serde or key_serde,
                               materialized.value_serde or value_serde)
        builder.logging, builder.log_config = materialized.logging, dict(materialized.log_config)
        builder.caching = materialized.caching
        return builder

    # -- sources -------------------------------------------------------------------------------

    def stream(self, topics: str | list[str], consumed: Consumed | None = None, pattern: str | None = None):
        consumed = consumed or Consumed()
        topic_list = [topics] if isinstance(topics, str) else list(topics or [])
        name = consumed.name or self.new_name("KSTREAM-SOURCE-")
        self.topology.add_source(name, *topic_list, pattern=pattern, key_serde=consumed.key_serde,
                                 value_serde=consumed.value_serde, timestamp_extractor=consumed.timestamp_extractor,
                                 offset_reset=consumed.offset_reset)
        return kstream.KStream(self, name, consumed.key_serde, consumed.value_serde)

    def table(self, topic: str, consumed: Consumed | None = None, materialized: Materialized | None = None):
        consumed = consumed or Consumed()
        materialized = materialized or Materialized()
        source = consumed.name or self.new_name("KSTREAM-SOURCE-")
        self.topology.add_source(source, topic, key_serde=consumed.key_serde, value_serde=consumed.value_serde,
                                 timestamp_extractor=consumed.timestamp_extractor, offset_reset=consumed.offset_reset)
        processor = self.new_name("KTABLE-SOURCE-")
        store = self.store_builder(materialized, f"{topic}-STATE-STORE-", consumed.key_serde, consumed.value_serde)
        self.add_processor("", lambda: op.TableSource(store.name), [source], name=processor)
        self.topology.add_state_store(store, processor)
        return ktable.KTable(self, processor, store.key_serde, store.value_serde, store.name)

    def global_table(self, topic: str, consumed: Consumed | None = None,
                     materialized: Materialized | None = None) -> "GlobalKTable":
        """A full copy of the topic in every instance, for joins by any key (Kafka's GlobalKTable)."""
        consumed = consumed or Consumed()
        materialized = materialized or Materialized()
        store = self.store_builder(materialized.with_caching_disabled(), f"{topic}-STATE-STORE-",
                                   consumed.key_serde, consumed.value_serde)
        store.logging = False
        if store.name in self.topology.stores or store.name in self.topology.global_stores:
            raise TopologyError(f"StateStore {store.name} is already added.")
        self.topology.global_stores[store.name] = (topic, store)
        return GlobalKTable(store.name, topic)

    def kstream(self, name: str, key_serde=None, value_serde=None, repartition_required: bool = False):
        """The stream out of node `name` (for KTable.to_stream, which cannot import KStream)."""
        return kstream.KStream(self, name, key_serde, value_serde, repartition_required)

    def grouped_table(self, name: str, key_serde=None, value_serde=None, repartition_name: str | None = None):
        """The re-grouped table out of node `name` (for KTable.group_by, which cannot import it)."""
        return kgrouped.KGroupedTable(self, name, key_serde, value_serde, repartition_name)

    def build(self) -> Topology:
        return self.topology
