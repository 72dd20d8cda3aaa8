"""The schema of a generated (or dynamic) message class: what a Protobuf serializer registers.

Confluent's serializers register a message's .proto file as a base64 FileDescriptorProto, and
each file it imports as a schema of its own, named by its import path, except protobuf's
well-known types (`google/protobuf/...`), as confluent-kafka's serializer does.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FileDescriptor

from formats.protobuf.compiler import encode_descriptor

WELL_KNOWN_PREFIX = "google/protobuf/"


def file_schema_string(file: FileDescriptor) -> str:
    """The base64 FileDescriptorProto of a compiled file."""
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    return encode_descriptor(proto)


def message_indexes(descriptor: Descriptor) -> list[int]:
    """Position of a message type in its file: top-level index, then nested indexes, counting
    declared messages only (map-entry types skipped), as Confluent's Java serdes and
    ProtobufSchema.index_paths do."""
    path = []
    d = descriptor
    while d.containing_type is not None:
        declared = [t for t in d.containing_type.nested_types if not t.GetOptions().map_entry]
        path.append(declared.index(d))
        d = d.containing_type
    path.append(list(d.file.message_types_by_name.values()).index(d))
    return path[::-1]


def registered_imports(file: FileDescriptor, skip_known: bool = True) -> list[FileDescriptor]:
    """The files a serializer registers as references of `file` (direct imports only)."""
    return [dep for dep in file.dependencies if not (skip_known and dep.name.startswith(WELL_KNOWN_PREFIX))]
