"""Protobuf compatibility: Confluent's protobuf-provider `diff` rules, on compiled descriptors.

`differences(original, update)` lists every difference (type + path) from the schema data was
written with (`original`) to the schema that reads it (`update`); the ones outside
COMPATIBLE_CHANGES make the pair incompatible. Fields are matched by number; scalar kinds are
grouped as protobuf's wire format allows; messages and enums are matched by name; oneof
membership changes are judged by which fields become mutually exclusive. Types from other files
are compared through them when the two schemas take them from different places.

The model is the one Confluent's diff walks (Wire's parse of .proto text): map fields are maps,
not repeated entry messages; fields in a real oneof have no label; a proto3 field has a label
only when written `optional` or `repeated`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field as dataclass_field
from typing import Iterator

from google.protobuf import descriptor_pb2

from formats.base import Incompatibility
from formats.protobuf.render import SCALAR_NAMES

F = descriptor_pb2.FieldDescriptorProto

PACKAGE_CHANGED = "PACKAGE_CHANGED"
MESSAGE_ADDED = "MESSAGE_ADDED"
MESSAGE_REMOVED = "MESSAGE_REMOVED"
MESSAGE_MOVED = "MESSAGE_MOVED"
ENUM_ADDED = "ENUM_ADDED"
ENUM_REMOVED = "ENUM_REMOVED"
ENUM_CONST_ADDED = "ENUM_CONST_ADDED"
ENUM_CONST_CHANGED = "ENUM_CONST_CHANGED"
ENUM_CONST_REMOVED = "ENUM_CONST_REMOVED"
FIELD_ADDED = "FIELD_ADDED"
FIELD_REMOVED = "FIELD_REMOVED"
FIELD_NAME_CHANGED = "FIELD_NAME_CHANGED"
FIELD_KIND_CHANGED = "FIELD_KIND_CHANGED"
FIELD_SCALAR_KIND_CHANGED = "FIELD_SCALAR_KIND_CHANGED"
FIELD_NAMED_TYPE_CHANGED = "FIELD_NAMED_TYPE_CHANGED"
FIELD_NUMERIC_LABEL_CHANGED = "FIELD_NUMERIC_LABEL_CHANGED"
FIELD_STRING_OR_BYTES_LABEL_CHANGED = "FIELD_STRING_OR_BYTES_LABEL_CHANGED"
REQUIRED_FIELD_ADDED = "REQUIRED_FIELD_ADDED"
REQUIRED_FIELD_REMOVED = "REQUIRED_FIELD_REMOVED"
ONEOF_ADDED = "ONEOF_ADDED"
ONEOF_REMOVED = "ONEOF_REMOVED"
ONEOF_FIELD_ADDED = "ONEOF_FIELD_ADDED"
ONEOF_FIELD_REMOVED = "ONEOF_FIELD_REMOVED"
ONEOF_FIELD_MOVED_TO_TOP_LEVEL = "ONEOF_FIELD_MOVED_TO_TOP_LEVEL"
MULTIPLE_FIELDS_MOVED_TO_ONEOF = "MULTIPLE_FIELDS_MOVED_TO_ONEOF"
FIELD_MOVED_TO_EXISTING_ONEOF = "FIELD_MOVED_TO_EXISTING_ONEOF"

DIFFERENCE_TYPES = (
    PACKAGE_CHANGED, MESSAGE_ADDED, MESSAGE_REMOVED, MESSAGE_MOVED, ENUM_ADDED, ENUM_REMOVED, ENUM_CONST_ADDED,
    ENUM_CONST_CHANGED, ENUM_CONST_REMOVED, FIELD_ADDED, FIELD_REMOVED, FIELD_NAME_CHANGED, FIELD_KIND_CHANGED,
    FIELD_SCALAR_KIND_CHANGED, FIELD_NAMED_TYPE_CHANGED, FIELD_NUMERIC_LABEL_CHANGED,
    FIELD_STRING_OR_BYTES_LABEL_CHANGED, REQUIRED_FIELD_ADDED, REQUIRED_FIELD_REMOVED, ONEOF_ADDED, ONEOF_REMOVED,
    ONEOF_FIELD_ADDED, ONEOF_FIELD_REMOVED, ONEOF_FIELD_MOVED_TO_TOP_LEVEL, MULTIPLE_FIELDS_MOVED_TO_ONEOF,
    FIELD_MOVED_TO_EXISTING_ONEOF,
)

COMPATIBLE_CHANGES = frozenset({
    MESSAGE_ADDED, MESSAGE_MOVED, ENUM_ADDED, ENUM_REMOVED, ENUM_CONST_ADDED, ENUM_CONST_CHANGED,
    ENUM_CONST_REMOVED, FIELD_ADDED, FIELD_REMOVED, FIELD_NAME_CHANGED, FIELD_STRING_OR_BYTES_LABEL_CHANGED,
    ONEOF_ADDED, ONEOF_REMOVED, ONEOF_FIELD_ADDED, ONEOF_FIELD_MOVED_TO_TOP_LEVEL,
})

_DESCRIPTIONS = {
    PACKAGE_CHANGED: "The package at '{path}' in the {0} schema does not match the package in the {1} schema",
    MESSAGE_REMOVED: "The {0} schema is missing a MESSAGE type at path '{path}' in the {1} schema",
    FIELD_KIND_CHANGED: "The type of a field at path '{path}' in the {0} schema does not match the {1} schema",
    FIELD_SCALAR_KIND_CHANGED: "The kind of a SCALAR field at path '{path}' in the {0} schema does not match its "
                               "kind in the {1} schema",
    FIELD_NAMED_TYPE_CHANGED: "The type of a MESSAGE field at path '{path}' in the {0} schema does not match its "
                              "type in the {1} schema",
    FIELD_NUMERIC_LABEL_CHANGED: "The label for a NUMERIC field at path '{path}' in the {0} schema does not match "
                                 "its label in the {1} schema",
    REQUIRED_FIELD_ADDED: "A required field  at path '{path}' in the {0} schema is missing in the {1} schema",
    REQUIRED_FIELD_REMOVED: "The {0} schema is missing a required field at path: '{path}' in the {1} schema",
    ONEOF_FIELD_REMOVED: "The {0} schema is missing a oneof field at path '{path}' in the {1} schema",
    ONEOF_FIELD_MOVED_TO_TOP_LEVEL: "The oneof field at path '{path}' in the {0} schema was moved out of its oneof "
                                    "to a top-level field in the {1} schema",
    MULTIPLE_FIELDS_MOVED_TO_ONEOF: "Multiple fields in the oneof at path '{path}' in the {0} schema are outside a "
                                    "oneof in the {1} schema",
    FIELD_MOVED_TO_EXISTING_ONEOF: "A field in the oneof at path '{path}' in the {0} schema is outside an existing "
                                   "oneof in the {1} schema",
}

# Scalar kinds that protobuf's wire format lets one read as the other (Confluent's grouping).
_SCALAR_GROUPS = {
    "int32": "GENERAL_NUMBER", "int64": "GENERAL_NUMBER", "uint32": "GENERAL_NUMBER", "uint64": "GENERAL_NUMBER",
    "bool": "GENERAL_NUMBER", "sint32": "SIGNED_NUMBER", "sint64": "SIGNED_NUMBER",
    "string": "STRING_OR_BYTES", "bytes": "STRING_OR_BYTES", "fixed32": "FIXED32", "sfixed32": "FIXED32",
    "fixed64": "FIXED64", "sfixed64": "FIXED64", "float": "FLOAT", "double": "DOUBLE",
}
_NUMERIC_GROUPS = {"GENERAL_NUMBER", "SIGNED_NUMBER", "FIXED32", "FIXED64", "FLOAT", "DOUBLE"}


class ProtobufDifference(Incompatibility):
    """One difference; rendered as Confluent's `{errorType:"...", description:"..."}`."""

    def __init__(self, kind: str, path: str):
        self.kind = kind
        self.path = path

    def description(self, reader: str, writer: str) -> str:
        template = _DESCRIPTIONS.get(self.kind)
        return template.format(reader, writer, path=self.path) if template else ""

    def render(self, reader: str, writer: str) -> str:
        return f'{{errorType:"{self.kind}", description:"{self.description(reader, writer)}"}}'

    def __eq__(self, other) -> bool:
        return isinstance(other, ProtobufDifference) and (self.kind, self.path) == (other.kind, other.path)

    def __hash__(self) -> int:
        return hash((self.kind, self.path))

    def __repr__(self) -> str:
        return f"{self.kind} {self.path}"


# --------------------------------------------------------------------------- model

@dataclass
class Field:
    name: str
    number: int
    label: str | None          # None, "optional", "required" or "repeated"
    type: str                  # scalar name or fully qualified ".pkg.Type"
    map_key: "Field | None" = None
    map_value: "Field | None" = None

    @property
    def is_map(self) -> bool:
        return self.map_key is not None


@dataclass
class Message:
    name: str
    fields: list[Field] = dataclass_field(default_factory=list)
    oneofs: dict[str, list[Field]] = dataclass_field(default_factory=dict)
    nested: list = dataclass_field(default_factory=list)  # Message and Enum, in declaration order


@dataclass
class Enum:
    name: str
    values: list[tuple[str, int]]


@dataclass
class TypeInfo:
    package: str
    ref: tuple[str, int] | None  # (subject, version) of the reference it came from; ("", -1) = this schema
    element: object
    is_map: bool = False


def _label(fdp: descriptor_pb2.FileDescriptorProto, f) -> str | None:
    if f.proto3_optional:
        return "optional"
    if f.label == F.LABEL_REPEATED:
        return "repeated"
    if fdp.syntax in ("", "proto2"):
        return "required" if f.label == F.LABEL_REQUIRED else "optional"
    return None


def _field(fdp, f, entries: dict[str, descriptor_pb2.DescriptorProto], in_oneof: bool) -> Field:
    entry = entries.get(f.type_name) if f.type == F.TYPE_MESSAGE and f.label == F.LABEL_REPEATED else None
    if entry is not None:
        key, value = sorted(entry.field, key=lambda x: x.number)[:2]
        return Field(f.name, f.number, None, "map", _field(fdp, key, {}, True), _field(fdp, value, {}, True))
    return Field(f.name, f.number, None if in_oneof else _label(fdp, f), SCALAR_NAMES.get(f.type) or f.type_name)


def _message(fdp, msg: descriptor_pb2.DescriptorProto, scope: str) -> Message:
    full = f"{scope}.{msg.name}"
    entries = {f"{full}.{n.name}": n for n in msg.nested_type if n.options.map_entry}
    out = Message(msg.name)
    real_oneofs = {}
    for f in msg.field:
        if f.HasField("oneof_index") and not f.proto3_optional:
            name = msg.oneof_decl[f.oneof_index].name
            real_oneofs.setdefault(name, []).append(_field(fdp, f, entries, True))
        else:
            out.fields.append(_field(fdp, f, entries, False))
    out.oneofs = real_oneofs
    out.nested = [_message(fdp, n, full) for n in msg.nested_type if not n.options.map_entry]
    out.nested += [Enum(e.name, [(v.name, v.number) for v in e.value]) for e in msg.enum_type]
    return out


@dataclass
class FileModel:
    package: str
    types: list  # top-level Message and Enum


def file_model(fdp: descriptor_pb2.FileDescriptorProto) -> FileModel:
    scope = "." + fdp.package if fdp.package else ""
    types = [_message(fdp, m, scope) for m in fdp.message_type]
    types += [Enum(e.name, [(v.name, v.number) for v in e.value]) for e in fdp.enum_type]
    return FileModel(fdp.package, types)


def _collect(types: list, prefix: str, package: str, ref, out: dict[str, TypeInfo]) -> None:
    for t in types:
        name = f"{prefix}.{t.name}" if prefix else t.name
        out[name] = TypeInfo(package, ref, t)
        if isinstance(t, Message):
            _collect(t.nested, name, package, ref, out)


def type_infos(schema) -> tuple[dict[str, TypeInfo], FileModel]:
    """Every message and enum the schema can name, by full name, and the schema's own model."""
    cached = getattr(schema, "_compat_model", None)
    if cached is None:
        cached = schema._compat_model = _type_infos(schema)
    return cached


def _type_infos(schema) -> tuple[dict[str, TypeInfo], FileModel]:
    refs = {r.name: (r.subject, r.version) for r in schema.references}
    out: dict[str, TypeInfo] = {}
    for dep in schema.dependencies():
        model = file_model(dep)
        _collect(model.types, model.package, model.package, refs.get(dep.name), out)
    own = file_model(schema.file)
    _collect(own.types, own.package, own.package, ("", -1), out)
    return out, own


# --------------------------------------------------------------------------- context

class Context:
    def __init__(self, original_types: dict, update_types: dict):
        self.original_types = original_types
        self.update_types = update_types
        self.path: list[str] = []
        self.diffs: list[ProtobufDifference] = []
        self.schemas: set[int] = set()

    def subcontext(self) -> "Context":
        ctx = Context(self.original_types, self.update_types)
        ctx.schemas = set(self.schemas)
        ctx.path = list(self.path)
        return ctx

    @contextmanager
    def enter(self, name: str) -> Iterator[None]:
        self.path.append(name)
        try:
            yield
        finally:
            self.path.pop()

    def add(self, kind: str) -> None:
        self.diffs.append(ProtobufDifference(kind, "#/" + "/".join(self.path)))

    def is_compatible(self) -> bool:
        return all(d.kind in COMPATIBLE_CHANGES for d in self.diffs)

    def type_info(self, name: str, original: bool) -> TypeInfo | None:
        types = self.original_types if original else self.update_types
        return types.get(name[1:] if name.startswith(".") else name)


# --------------------------------------------------------------------------- diff

def _compare_types(ctx: Context, original: list, update: list) -> None:
    o_msgs = {t.name: t for t in original if isinstance(t, Message)}
    u_msgs = {t.name: t for t in update if isinstance(t, Message)}
    o_index = {name: i for i, name in enumerate(o_msgs)}
    u_index = {name: i for i, name in enumerate(u_msgs)}
    for name in sorted(set(o_msgs) | set(u_msgs)):
        with ctx.enter(name):
            if name not in u_msgs:
                ctx.add(MESSAGE_REMOVED)
            elif name not in o_msgs:
                ctx.add(MESSAGE_ADDED)
            else:
                _compare_message(ctx, o_msgs[name], u_msgs[name])
                if o_index[name] != u_index[name]:
                    # Serialized message indexes refer to the schema of their own id.
                    ctx.add(MESSAGE_MOVED)
    o_enums = {t.name: t for t in original if isinstance(t, Enum)}
    u_enums = {t.name: t for t in update if isinstance(t, Enum)}
    for name in sorted(set(o_enums) | set(u_enums)):
        with ctx.enter(name):
            if name not in u_enums:
                ctx.add(ENUM_REMOVED)
            elif name not in o_enums:
                ctx.add(ENUM_ADDED)
            else:
                _compare_enum(ctx, o_enums[name], u_enums[name])


def _compare_enum(ctx: Context, original: Enum, update: Enum) -> None:
    o_by = {}
    for name, number in original.values:
        o_by.setdefault(number, name)
    u_by = {}
    for name, number in update.values:
        u_by.setdefault(number, name)
    for number in sorted(set(o_by) | set(u_by)):
        with ctx.enter(str(number)):
            if number not in u_by:
                ctx.add(ENUM_CONST_REMOVED)
            elif number not in o_by:
                ctx.add(ENUM_CONST_ADDED)
            elif o_by[number] != u_by[number]:
                ctx.add(ENUM_CONST_CHANGED)


def _index(msg: Message) -> tuple[dict[int, Field], dict[int, str]]:
    by_number = {f.number: f for f in msg.fields}
    oneof_of: dict[int, str] = {}
    for name, members in msg.oneofs.items():
        for f in members:
            by_number[f.number] = f
            oneof_of[f.number] = name
    return by_number, oneof_of


def _compare_message(ctx: Context, original: Message, update: Message) -> None:
    if id(original) not in ctx.schemas:
        ctx.schemas.add(id(original))
        try:
            _compare_fields(ctx, original, update)
        finally:
            ctx.schemas.discard(id(original))
    _compare_types(ctx, original.nested, update.nested)


def _compare_fields(ctx: Context, original: Message, update: Message) -> None:
    o_by, o_oneof = _index(original)
    u_by, u_oneof = _index(update)
    # A oneof gone with none of its members surviving anywhere is a complete (compatible) deletion.
    deleted = {name for name, members in original.oneofs.items()
               if name not in update.oneofs and not any(f.number in u_by for f in members)}
    # New mutual exclusivity: a oneof of the update gathering fields from more than one origin.
    for name, members in update.oneofs.items():
        with ctx.enter(name):
            origins, moved_in = set(), 0
            for f in members:
                if f.number in o_oneof:
                    origins.add("oneof:" + o_oneof[f.number])
                elif f.number in o_by:
                    origins.add(f"field:{f.number}")
                    moved_in += 1
            if len(origins) > 1:
                ctx.add(MULTIPLE_FIELDS_MOVED_TO_ONEOF if moved_in > 1 else FIELD_MOVED_TO_EXISTING_ONEOF)
    for name in sorted(set(original.oneofs) | set(update.oneofs)):
        with ctx.enter(name):
            if name not in update.oneofs:
                ctx.add(ONEOF_REMOVED)
            elif name not in original.oneofs:
                ctx.add(ONEOF_ADDED)
    for number in sorted(set(o_by) | set(u_by)):
        o_field, u_field = o_by.get(number), u_by.get(number)
        o_group, u_group = o_oneof.get(number), u_oneof.get(number)
        if u_field is None:
            if o_group is not None:
                if o_group not in deleted:
                    with ctx.enter(o_group), ctx.enter(str(number)):
                        ctx.add(ONEOF_FIELD_REMOVED)
            else:
                with ctx.enter(str(number)):
                    ctx.add(REQUIRED_FIELD_REMOVED if o_field.label == "required" else FIELD_REMOVED)
        elif o_field is None:
            if u_group is not None:
                with ctx.enter(u_group), ctx.enter(str(number)):
                    ctx.add(ONEOF_FIELD_ADDED)
            else:
                with ctx.enter(str(number)):
                    ctx.add(REQUIRED_FIELD_ADDED if u_field.label == "required" else FIELD_ADDED)
        else:
            if o_group is not None and u_group is None:
                with ctx.enter(str(number)):
                    ctx.add(ONEOF_FIELD_MOVED_TO_TOP_LEVEL)
            if u_group is not None:
                with ctx.enter(u_group), ctx.enter(str(number)):
                    _compare_field(ctx, o_field, u_field)
            else:
                with ctx.enter(str(number)):
                    _compare_field(ctx, o_field, u_field)


def _compare_field(ctx: Context, original: Field, update: Field) -> None:
    if original.name != update.name:
        ctx.add(FIELD_NAME_CHANGED)
    _compare_labels_and_types(ctx, original.label, update.label, original, update)


def _kind(ctx: Context, f: Field, original: bool) -> str:
    if f.is_map:
        return "MAP"
    if f.type in _SCALAR_GROUPS:
        return "SCALAR"
    info = ctx.type_info(f.type, original)
    return "SCALAR" if info is not None and isinstance(info.element, Enum) else "MESSAGE"


def _scalar_kind(ctx: Context, f: Field, original: bool) -> str:
    info = ctx.type_info(f.type, original)
    if info is not None and isinstance(info.element, Enum):
        return "GENERAL_NUMBER"
    return _SCALAR_GROUPS[f.type]


def _compare_labels_and_types(ctx: Context, o_label, u_label, original: Field, update: Field) -> None:
    o_kind, u_kind = _kind(ctx, original, True), _kind(ctx, update, False)
    if o_kind != u_kind:
        ctx.add(FIELD_KIND_CHANGED)
    elif o_kind == "SCALAR":
        o_scalar, u_scalar = _scalar_kind(ctx, original, True), _scalar_kind(ctx, update, False)
        if o_scalar != u_scalar:
            ctx.add(FIELD_SCALAR_KIND_CHANGED)
        elif o_label is not None and u_label is not None and o_label != u_label:
            if o_scalar in _NUMERIC_GROUPS:
                ctx.add(FIELD_NUMERIC_LABEL_CHANGED)
            elif o_scalar == "STRING_OR_BYTES":
                ctx.add(FIELD_STRING_OR_BYTES_LABEL_CHANGED)
    elif o_kind == "MESSAGE":
        _compare_message_types(ctx, original.type, update.type)
    else:
        _compare_labels_and_types(ctx, None, None, original.map_key, update.map_key)
        _compare_labels_and_types(ctx, None, None, original.map_value, update.map_value)


def _local_name(full: str, package: str) -> str:
    full = full.lstrip(".")
    return full[len(package) + 1:] if package and full.startswith(package + ".") else full


def _compare_message_types(ctx: Context, original: str, update: str) -> None:
    o_info, u_info = ctx.type_info(original, True), ctx.type_info(update, False)
    if o_info is None or u_info is None:
        if original != update:
            ctx.add(FIELD_NAMED_TYPE_CHANGED)
        return
    o_local, u_local = _local_name(original, o_info.package), _local_name(update, u_info.package)
    if o_local != u_local:
        ctx.add(FIELD_NAMED_TYPE_CHANGED)
        return
    # Types of this schema are compared as messages of the file; a type both sides take from the
    # same subject version is the same type. Anything else is compared through.
    if o_info.ref is not None and u_info.ref is not None and o_info.ref == u_info.ref:
        return
    sub = ctx.subcontext()
    sub.path = o_local.split(".")
    if isinstance(o_info.element, Message) and isinstance(u_info.element, Message):
        _compare_message(sub, o_info.element, u_info.element)
    ctx.diffs.extend(sub.diffs)
    if not sub.is_compatible():
        ctx.add(FIELD_NAMED_TYPE_CHANGED)


def differences(original, update) -> list[ProtobufDifference]:
    """Every difference from `original` (the writer's schema) to `update` (the reader's)."""
    o_types, o_model = type_infos(original)
    u_types, u_model = type_infos(update)
    ctx = Context(o_types, u_types)
    if (o_model.package or "") != (u_model.package or ""):
        ctx.add(PACKAGE_CHANGED)
    _compare_types(ctx, o_model.types, u_model.types)
    return ctx.diffs
