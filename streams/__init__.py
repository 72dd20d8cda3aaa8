"""schemabus streams: Kafka Streams' model in Python.

    from streams import StreamsBuilder, KafkaStreams, Serdes, Consumed, Produced, Grouped, Materialized

    builder = StreamsBuilder()
    (builder.stream("text", Consumed.with_(Serdes.String(), Serdes.String()))
        .flat_map_values(lambda line: line.lower().split())
        .group_by(lambda key, word: word, Grouped.with_(Serdes.String(), Serdes.String()))
        .count(Materialized.as_("counts"))
        .to_stream()
        .to("counts", Produced.with_(Serdes.String(), Serdes.Long())))
    streams = KafkaStreams(builder.build(), {"application.id": "wordcount", "bootstrap.servers": "..."})
    streams.start()
"""

from streams.builder import StreamsBuilder
from streams.config import AT_LEAST_ONCE, EXACTLY_ONCE_V2, StreamsConfig, StreamsConfigError
from streams.errors import MissingSourceTopicException, StreamsException, TopologyException
from streams.kafka_streams import KafkaStreams
from streams.kstream import BranchedKStream, KStream
from streams.ktable import KTable
from streams.kgrouped import KGroupedStream, TimeWindowedKStream
from streams.options import Branched, Consumed, Grouped, Materialized, Named, Produced, Repartitioned
from streams.processor import Cancellable, Change, Processor, ProcessorContext, PunctuationType, Record, RecordMetadata
from streams.serdes import Serde, Serdes, avro_serde, json_schema_serde, protobuf_serde
from streams.state import KeyValueStore, StoreBuilder, Stores
from streams.suppress import BufferConfig, Suppressed
from streams.topology import Topology, TopologyError
from streams.windows import JoinWindows, SessionWindows, SlidingWindows, TimeWindows, Window, Windowed, WindowedSerdes

__all__ = [
    "AT_LEAST_ONCE", "EXACTLY_ONCE_V2", "Branched", "BranchedKStream", "Cancellable", "Change", "Consumed",
    "Grouped", "KGroupedStream", "TimeWindowedKStream", "KStream", "KTable", "KafkaStreams", "KeyValueStore", "Materialized",
    "MissingSourceTopicException", "Named", "Processor", "ProcessorContext", "Produced", "PunctuationType", "Record",
    "RecordMetadata", "Repartitioned", "Serde", "Serdes", "StoreBuilder", "Stores", "StreamsBuilder",
    "StreamsConfig", "StreamsConfigError", "StreamsException", "Topology", "TopologyError", "TopologyException",
    "avro_serde", "json_schema_serde", "protobuf_serde", "BufferConfig", "JoinWindows", "SessionWindows", "SlidingWindows", "Suppressed", "TimeWindows", "Window",
    "Windowed", "WindowedSerdes",
]
