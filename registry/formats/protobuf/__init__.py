"""PROTOBUF schemas: protoc parsing, canonical .proto text, Confluent's compatibility rules."""

from registry.formats.protobuf.schema import ProtobufProvider, ProtobufSchema

__all__ = ["ProtobufProvider", "ProtobufSchema"]
