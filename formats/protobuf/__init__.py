"""PROTOBUF schemas: protoc parsing, canonical .proto text, Confluent's compatibility rules."""

from formats.protobuf.schema import ProtobufProvider, ProtobufSchema

__all__ = ["ProtobufProvider", "ProtobufSchema"]
