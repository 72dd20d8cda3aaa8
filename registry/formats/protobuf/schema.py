"""PROTOBUF: the provider and its parsed schema.

A schema arrives as .proto text or as a base64 serialized FileDescriptorProto (what
confluent-kafka's serializers send). Either way it is compiled by protoc together with the
schemas its references resolve to (reference name = import path), rendered from the compiled
descriptor into canonical .proto text (what the registry stores), and kept as descriptors from
which a DescriptorPool, and so dynamic message classes, can be built.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from registry.formats.base import (Incompatibility, InvalidSchemaError, ParsedSchema, SchemaProvider,
                                   SchemaReference)
from registry.formats.protobuf.compiler import (compile_files, decode_descriptor, encode_descriptor,
                                                main_file_name)
from registry.formats.protobuf.render import OptionReader, render_file

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
        from registry.formats.protobuf.compat import reader_incompatibilities
        return reader_incompatibilities(self, writer)


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
