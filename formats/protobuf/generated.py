"""The schema of a generated (or dynamic) message class: what a Protobuf serializer registers.

Confluent's serializers register a message's .proto file as a base64 FileDescriptorProto, and
each file it imports as a schema of its own, named by its import path, except protobuf's
well-known types (`google/protobuf/...`), as confluent-kafka's serializer does.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FileDescriptor

from formats.protobuf.compiler import encode_descriptor
from formats.protobuf.schema import index_paths

WELL_KNOWN_PREFIX = "google/protobuf/"


def _file_proto(file: FileDescriptor) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    return proto


def file_schema_string(file: FileDescriptor) -> str:
    """The base64 FileDescriptorProto of a compiled file."""
    return encode_descriptor(_file_proto(file))


def message_indexes(descriptor: Descriptor) -> list[int]:
    """Position of a message type in its file, by the same rule as the reader's
    (formats.protobuf.schema.index_paths)."""
    return list(index_paths(_file_proto(descriptor.file))[descriptor.full_name])


def registered_imports(file: FileDescriptor, skip_known: bool = True) -> list[FileDescriptor]:
    """The files a serializer registers as references of `file` (direct imports only)."""
    return [dep for dep in file.dependencies if not (skip_known and dep.name.startswith(WELL_KNOWN_PREFIX))]
