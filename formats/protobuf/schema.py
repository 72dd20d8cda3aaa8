"""PROTOBUF: the provider and its parsed schema.

A schema arrives as .proto text or as a base64 serialized FileDescriptorProto (what
confluent-kafka's serializers send). Either way it is compiled by protoc together with the
schemas its references resolve to (reference name = import path), rendered from the compiled
descriptor into canonical .proto text (what the registry stores), and kept as descriptors from
which a DescriptorPool, and so dynamic message classes, can be built.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError

from formats.base import (DifferentSchemaType, Incompatibility, InvalidSchemaError, ParsedSchema, RecordMismatch,
                          SchemaProvider, SchemaReference)
from formats.protobuf.compat import COMPATIBLE_CHANGES, differences
from formats.protobuf.compiler import (compile_files, decode_descriptor, encode_descriptor,
                                       main_file_name)
from formats.protobuf.render import OptionReader, render_file
from formats.wire import WireFormatError, decode_message_indexes, encode_message_indexes

SERIALIZED = "serialized"


class ProtobufSchema(ParsedSchema):
    schema_type = "PROTOBUF"

    def __init__(self, files: Sequence[descriptor_pb2.FileDescriptorProto], references: Sequence[SchemaReference],
                 normalized: bool = False, pool=None):
        super().__init__(references)
        self.files = list(files)  # dependencies first, this schema's file last
        self.file = self.files[-1]
        self.normalized = normalized
        self._pool = pool
        self._canonical: str | None = None
        self._normalized_text: str | None = None
        self._index_paths: dict[str, tuple[int, ...]] | None = None

    # ---------------------------------------------------------------- descriptors

    @property
    def pool(self) -> descriptor_pool.DescriptorPool:
        """A pool holding this schema's file and everything it imports."""
        if self._pool is None:
            self._pool = build_pool(self.files)
        return self._pool

    def file_descriptor(self):
        return self.pool.FindFileByName(self.file.name)

    def message_descriptor(self, full_name: str | None = None):
        """The descriptor of a message type (default: the first one), for dynamic messages."""
        name = full_name or self.name()
        if name is None:
            raise KeyError("the schema has no message type")
        return self.pool.FindMessageTypeByName(name)

    def message_class(self, full_name: str | None = None):
        return message_factory.GetMessageClass(self.message_descriptor(full_name))

    def dependencies(self) -> list[descriptor_pb2.FileDescriptorProto]:
        return self.files[:-1]

    def index_paths(self) -> dict[str, tuple[int, ...]]:
        """Message full name -> its message-index path in the file (Confluent's wire format:
        the position among the file's messages, then among the nested ones)."""
        if self._index_paths is None:
            self._index_paths = index_paths(self.file)
        return self._index_paths

    # ---------------------------------------------------------------- runtime

    def writer(self) -> Callable[..., bytes]:
        """Writes messages of this schema's types (generated or dynamic classes)."""
        encoded = {name: encode_message_indexes(list(path)) for name, path in self.index_paths().items()}

        def write(message, header: bytes = b"") -> bytes:
            indexes = encoded.get(getattr(getattr(message, "DESCRIPTOR", None), "full_name", None))
            if indexes is None:
                raise RecordMismatch(f"{type(message).__name__} is not a message type of this schema")
            try:
                return header + indexes + message.SerializeToString()
            except Exception as exc:  # e.g. a missing required field in proto2
                raise RecordMismatch(f"cannot serialize {message.DESCRIPTOR.full_name}: {exc}") from exc
        return write

    def reader(self, reader_schema: ParsedSchema | None = None) -> Callable[..., Any]:
        """Dynamic messages of the type the payload's message indexes name (no generated code)."""
        names = {path: name for name, path in self.index_paths().items()}
        classes: dict[tuple[int, ...], type] = {}

        def read(data: bytes, start: int = 0):
            try:
                indexes, pos = decode_message_indexes(data, start)
            except WireFormatError as exc:
                raise RecordMismatch(str(exc)) from None
            path = tuple(indexes)
            cls = classes.get(path)
            if cls is None:
                if path not in names:
                    raise RecordMismatch(f"message index path {indexes} does not exist in the schema")
                cls = classes[path] = self.message_class(names[path])
            message = cls()
            try:
                message.ParseFromString(data[pos:])
            except DecodeError as exc:
                raise RecordMismatch(f"cannot decode {cls.DESCRIPTOR.full_name}: {exc}") from exc
            return message
        return read

    def validator(self) -> Callable[[Any], str | None]:
        names = self.index_paths()

        def check(message) -> str | None:
            name = getattr(getattr(message, "DESCRIPTOR", None), "full_name", None)
            if name not in names:
                return f"{type(message).__name__} is not a message type of this schema"
            if not message.IsInitialized():
                return f"{name} is missing required fields: {', '.join(message.FindInitializationErrors())}"
            return None
        return check

    def from_json(self, value: Any, full_name: str | None = None) -> Any:
        """A message of the first type (or `full_name`) from Protobuf's JSON mapping."""
        if not isinstance(value, dict):  # ParseDict would iterate a string's characters as field names
            raise RecordMismatch(f"not Protobuf JSON for {full_name or self.name()}: expected a JSON object, "
                                 f"got {type(value).__name__}")
        try:
            return json_format.ParseDict(value, self.message_class(full_name)())
        except (json_format.ParseError, KeyError) as exc:
            raise RecordMismatch(f"not Protobuf JSON for {full_name or self.name()}: {exc}") from None

    def to_json(self, value: Any) -> Any:
        return json_format.MessageToDict(value, preserving_proto_field_name=True)

    # ---------------------------------------------------------------- strings

    def _render(self, normalize: bool) -> str:
        return render_file(self.file, OptionReader(self.pool if _has_custom_options(self.files) else None),
                           normalize)

    def canonical_string(self) -> str:
        if self._canonical is None:
            self._canonical = self.normalized_string() if self.normalized else self._render(False)
        return self._canonical

    def normalized_string(self) -> str:
        if self._normalized_text is None:
            self._normalized_text = self._render(True)
        return self._normalized_text

    def normalize(self) -> "ProtobufSchema":
        copy = ProtobufSchema(self.files, sorted(set(self.references)), normalized=True, pool=self._pool)
        copy._normalized_text = self._normalized_text
        return copy

    def formatted_string(self, fmt: str | None) -> str:
        if fmt and fmt.strip().lower() == SERIALIZED:
            return encode_descriptor(self.file)
        return self.canonical_string()

    def serialized(self) -> str:
        """The base64 FileDescriptorProto (`format=serialized`)."""
        return encode_descriptor(self.file)

    def equivalent(self, other: ParsedSchema) -> bool:
        return isinstance(other, ProtobufSchema) and self.normalized_string() == other.normalized_string()

    def name(self) -> str | None:
        if not self.file.message_type:
            return None
        first = self.file.message_type[0].name
        return f"{self.file.package}.{first}" if self.file.package else first

    def reader_incompatibilities(self, writer: ParsedSchema) -> list[Incompatibility]:
        if not isinstance(writer, ProtobufSchema):
            return [DifferentSchemaType()]
        return [d for d in differences(writer, self) if d.kind not in COMPATIBLE_CHANGES]


def index_paths(file: descriptor_pb2.FileDescriptorProto) -> dict[str, tuple[int, ...]]:
    """Message full name -> message-index path, counting declared messages only, as Confluent's
    Java serdes do: the map-entry types protoc adds are skipped, so the paths do not depend on
    where the stored text puts map fields."""
    paths: dict[str, tuple[int, ...]] = {}

    def walk(messages, prefix: str, path: tuple[int, ...]) -> None:
        declared = [m for m in messages if not m.options.map_entry]
        for i, message in enumerate(declared):
            name = f"{prefix}.{message.name}" if prefix else message.name
            paths[name] = path + (i,)
            walk(message.nested_type, name, path + (i,))
    walk(file.message_type, file.package, ())
    return paths


def _has_custom_options(files) -> bool:
    return any(dep == "google/protobuf/descriptor.proto" for f in files for dep in f.dependency)


def build_pool(files: Sequence[descriptor_pb2.FileDescriptorProto]) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for fdp in files:
        try:
            pool.Add(fdp)
        except (TypeError, ValueError) as exc:
            raise InvalidSchemaError(f"Invalid descriptor {fdp.name}: {exc}") from None
    return pool


class ProtobufProvider(SchemaProvider):
    schema_type = "PROTOBUF"

    def parse(self, schema: str, references: Sequence[SchemaReference] = (),
              resolved: Mapping[str, str] | None = None, *, new: bool = True) -> ProtobufSchema:
        if not isinstance(schema, str) or not schema.strip():
            raise InvalidSchemaError("Empty schema")
        resolved = dict(resolved or {})
        texts = {name: self._as_text(name, text, resolved) for name, text in resolved.items()}
        main = main_file_name(texts)
        descriptor = decode_descriptor(schema)
        if descriptor is not None:
            schema = self._descriptor_text(descriptor, texts, main)
        files = compile_files(schema, texts, main)
        return ProtobufSchema(files, references)

    def _as_text(self, name: str, text: str, resolved: Mapping[str, str]) -> str:
        """A reference's schema as .proto text (stored schemas are text; tolerate descriptors)."""
        if not isinstance(text, str):
            raise InvalidSchemaError(f"Invalid schema reference {name}")
        descriptor = decode_descriptor(text)
        if descriptor is None:
            return text
        others = {k: v for k, v in resolved.items() if k != name and decode_descriptor(v) is None}
        return self._descriptor_text(descriptor, others, name)

    @staticmethod
    def _descriptor_text(descriptor: descriptor_pb2.FileDescriptorProto, texts: Mapping[str, str],
                         main: str) -> str:
        """Render a FileDescriptorProto as .proto text, checked against its imports."""
        imports = "".join(f'import "{dep}";\n' for dep in descriptor.dependency)
        deps = compile_files('syntax = "proto3";\n' + imports, texts, main)[:-1] if imports else []
        descriptor = descriptor_pb2.FileDescriptorProto.FromString(descriptor.SerializeToString())
        descriptor.name = main
        pool = build_pool(deps + [descriptor])
        try:
            return render_file(descriptor, OptionReader(pool))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise InvalidSchemaError(f"Invalid descriptor: {exc}") from None
