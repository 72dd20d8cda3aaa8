""".proto text from a FileDescriptorProto: the canonical string the registry stores.

The layout follows Confluent's ProtobufSchemaUtils (messages, then enums; in a message:
reserved, options, fields, oneofs, extension ranges, extends, nested types). Since the text is
rendered from a compiled descriptor, it does not depend on how the input was written: comments
and whitespace are gone, types are fully qualified (`.pkg.Type`), maps are `map<K, V>`,
options are sorted by name. What Confluent's rendering of a descriptor would give and protoc
refuses (`option map_entry = true`) is rendered as the `map<K, V>` field it stands for, so the
stored text always compiles again to the same descriptor.

With `normalize`, what Confluent's normalization sorts is sorted too: fields by number, oneofs
by their first field, enum values by number then name, reserved and extension ranges, imports,
extension fields. Message order never changes: serialized data names message types by index.
"""

from __future__ import annotations

import math
from typing import Iterable

from google.protobuf import descriptor_pb2, message_factory, text_format

F = descriptor_pb2.FieldDescriptorProto
SCALAR_NAMES = {
    F.TYPE_DOUBLE: "double", F.TYPE_FLOAT: "float", F.TYPE_INT64: "int64", F.TYPE_UINT64: "uint64",
    F.TYPE_INT32: "int32", F.TYPE_FIXED64: "fixed64", F.TYPE_FIXED32: "fixed32", F.TYPE_BOOL: "bool",
    F.TYPE_STRING: "string", F.TYPE_BYTES: "bytes", F.TYPE_UINT32: "uint32", F.TYPE_SFIXED32: "sfixed32",
    F.TYPE_SFIXED64: "sfixed64", F.TYPE_SINT32: "sint32", F.TYPE_SINT64: "sint64",
}
MAX_FIELD_NUMBER = 536870911
_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
            "\\": "\\\\", "'": "\\'", '"': '\\"'}
_UNINTERPRETED = "uninterpreted_option"


def escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return "".join(out)


def _escape_bytes(data: bytes) -> str:
    out = []
    for byte in data:
        ch = chr(byte)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


def _format_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


class OptionReader:
    """Reads options messages, custom options (extensions) included.

    Custom options are extensions of descriptor.proto's options messages; a descriptor compiled
    elsewhere carries them as unknown fields, so they are read back through message classes of
    a pool that knows the extensions (the schema's own pool).
    """

    def __init__(self, pool=None):
        self.pool = pool
        self._classes: dict[str, type | None] = {}

    def _dynamic(self, options):
        if self.pool is None:
            return options
        name = options.DESCRIPTOR.full_name
        if name not in self._classes:
            try:
                self._classes[name] = message_factory.GetMessageClass(self.pool.FindMessageTypeByName(name))
            except KeyError:
                self._classes[name] = None
        cls = self._classes[name]
        return options if cls is None else cls.FromString(options.SerializeToString())

    def entries(self, options) -> list[tuple[str, str]]:
        """(name as written in an option statement, value) pairs, sorted by name."""
        if not options.SerializeToString():
            return []
        message = self._dynamic(options)
        out: list[tuple[str, str, str]] = []
        for field, value in message.ListFields():
            if field.name == _UNINTERPRETED:
                continue
            name = f"(.{field.full_name})" if field.is_extension else field.name
            key = field.full_name if field.is_extension else field.name
            values = value if _is_repeated(field) else [value]
            for item in values:
                out.append((key, name, self.value(field, item)))
        out.sort(key=lambda entry: entry[0])
        return [(name, text) for _, name, text in out]

    def value(self, field, value) -> str:
        kind = field.type
        if kind == field.TYPE_STRING:
            return f'"{escape(value)}"'
        if kind == field.TYPE_BYTES:
            return f'"{_escape_bytes(value)}"'
        if kind == field.TYPE_BOOL:
            return "true" if value else "false"
        if kind == field.TYPE_ENUM:
            found = field.enum_type.values_by_number.get(value)
            return found.name if found is not None else str(value)
        if kind in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
            return _format_float(value)
        if kind in (field.TYPE_MESSAGE, field.TYPE_GROUP):
            body = text_format.MessageToString(value, as_one_line=True, descriptor_pool=self.pool)
            return "{ " + body + " }" if body else "{}"
        return str(value)


def _is_repeated(field) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return repeated() if callable(repeated) else bool(repeated)
    return field.label == field.LABEL_REPEATED


def _indent(block: str) -> str:
    return "".join("  " + line + "\n" for line in block.splitlines())


class _Renderer:
    def __init__(self, fdp: descriptor_pb2.FileDescriptorProto, options: OptionReader, normalize: bool):
        self.fdp = fdp
        self.options = options
        self.normalize = normalize
        self.syntax = fdp.syntax or "proto2"

    # ---------------------------------------------------------------- file

    def file(self) -> str:
        fdp = self.fdp
        out = []
        if self.syntax == "editions":
            edition = descriptor_pb2.Edition.Name(fdp.edition).removeprefix("EDITION_")
            out.append(f'edition = "{edition}";\n')
        else:
            out.append(f'syntax = "{self.syntax}";\n')
        if fdp.package:
            out.append(f"package {fdp.package};\n")
        imports = self._imports()
        if imports:
            out.append("\n" + "".join(imports))
        options = self.options.entries(fdp.options)
        if options:
            out.append("\n" + "".join(f"option {name} = {value};\n" for name, value in options))
        types = [self.message(m) for m in fdp.message_type] + [self.enum(e) for e in fdp.enum_type]
        if types:
            out.append("\n" + "".join(types))
        extends = self.extends(fdp.extension)
        if extends:
            out.append("\n" + "".join(extends))
        if fdp.service:
            out.append("\n" + "".join(self.service(s) for s in fdp.service))
        return "".join(out)

    def _imports(self) -> list[str]:
        public, weak = set(self.fdp.public_dependency), set(self.fdp.weak_dependency)
        plain = [d for i, d in enumerate(self.fdp.dependency) if i not in public and i not in weak]
        pub = [d for i, d in enumerate(self.fdp.dependency) if i in public]
        wk = [d for i, d in enumerate(self.fdp.dependency) if i in weak]
        if self.normalize:
            plain, pub, wk = (sorted(set(x)) for x in (plain, pub, wk))
        return ([f'import "{escape(d)}";\n' for d in plain] + [f'import public "{escape(d)}";\n' for d in pub]
                + [f'import weak "{escape(d)}";\n' for d in wk])

    # ---------------------------------------------------------------- messages

    def message(self, msg: descriptor_pb2.DescriptorProto, keyword: str = "message") -> str:
        entries = {n.name: n for n in msg.nested_type if n.options.map_entry}
        groups = {f.type_name.rsplit(".", 1)[-1] for f in msg.field if f.type == F.TYPE_GROUP}
        sections = []
        reserved = self._reserved(msg.reserved_range, msg.reserved_name, inclusive=False)
        if reserved:
            sections.append(reserved)
        options = self.options.entries(msg.options)
        if options:
            sections.append("".join(f"option {name} = {value};\n" for name, value in options))
        real_oneofs = [i for i, o in enumerate(msg.oneof_decl)
                       if any(f.HasField("oneof_index") and f.oneof_index == i and not f.proto3_optional
                              for f in msg.field)]
        plain = [f for f in msg.field if not (f.HasField("oneof_index") and not f.proto3_optional)]
        if self.normalize:
            plain.sort(key=lambda f: f.number)
        if plain:
            sections.append("".join(self.field(f, msg, entries) for f in plain))
        oneofs = []
        for index in real_oneofs:
            members = [f for f in msg.field if f.HasField("oneof_index") and f.oneof_index == index
                       and not f.proto3_optional]
            if self.normalize:
                members.sort(key=lambda f: f.number)
            oneofs.append((msg.oneof_decl[index], members))
        if self.normalize:
            oneofs.sort(key=lambda item: item[1][0].number)
        if oneofs:
            sections.append("".join(self.oneof(decl, members, msg, entries) for decl, members in oneofs))
        ranges = self._extension_ranges(msg.extension_range)
        if ranges:
            sections.append(ranges)
        extends = self.extends(msg.extension)
        if extends:
            sections.append("".join(extends))
        nested = [self.message(n) for n in msg.nested_type if n.name not in entries and n.name not in groups]
        nested += [self.enum(e) for e in msg.enum_type]
        if nested:
            sections.append("".join(nested))
        head = f"{keyword} {msg.name} {{"
        if not sections:
            return head + "}\n"
        return head + "".join("\n" + _indent(s) for s in sections) + "}\n"

    def oneof(self, decl, members, msg, entries) -> str:
        out = f"oneof {decl.name} {{"
        options = self.options.entries(decl.options)
        if options:
            out += "\n" + _indent("".join(f"option {name} = {value};\n" for name, value in options))
        if members:
            out += "\n" + _indent("".join(self.field(f, msg, entries, in_oneof=True) for f in members))
        return out + "}\n"

    def _label(self, field, in_oneof: bool) -> str:
        if in_oneof:
            return ""
        if field.label == F.LABEL_REPEATED:
            return "repeated "
        if self.syntax == "proto2":
            return "required " if field.label == F.LABEL_REQUIRED else "optional "
        if self.syntax == "proto3" and field.proto3_optional:
            return "optional "
        return ""

    def type_name(self, field) -> str:
        return SCALAR_NAMES.get(field.type) or field.type_name

    def field(self, field, msg, entries, in_oneof: bool = False) -> str:
        if field.type == F.TYPE_GROUP and msg is not None:
            return self.group(field, msg, in_oneof)
        entry = entries.get(field.type_name.rsplit(".", 1)[-1]) if field.type == F.TYPE_MESSAGE else None
        if entry is not None and field.label == F.LABEL_REPEATED and \
                field.type_name.endswith("." + msg.name + "." + entry.name):
            key, value = sorted(entry.field, key=lambda f: f.number)[:2]
            head = f"map<{self.type_name(key)}, {self.type_name(value)}> {field.name} = {field.number}"
        else:
            head = f"{self._label(field, in_oneof)}{self.type_name(field)} {field.name} = {field.number}"
        return head + self._field_options(field) + ";\n"

    def _field_options(self, field) -> str:
        options = []
        if field.HasField("default_value"):
            options.append(("default", self._default(field)))
        if field.HasField("json_name"):
            options.append(("json_name", f'"{escape(field.json_name)}"'))
        options += self.options.entries(field.options)
        options.sort(key=lambda o: o[0].strip("(.)"))
        if not options:
            return ""
        return " [" + ", ".join(f"{name} = {value}" for name, value in options) + "]"

    @staticmethod
    def _default(field) -> str:
        value = field.default_value
        if field.type == F.TYPE_STRING:
            return f'"{escape(value)}"'
        if field.type == F.TYPE_BYTES:
            return f'"{value}"'  # protoc stores bytes defaults already C-escaped
        return value

    def group(self, field, msg, in_oneof: bool) -> str:
        short = field.type_name.rsplit(".", 1)[-1]
        body = next((n for n in msg.nested_type if n.name == short), None)
        if body is None:
            return f"{self._label(field, in_oneof)}group {short} = {field.number} {{}}\n"
        text = self.message(body, keyword="group")
        head = f"{self._label(field, in_oneof)}group {short} = {field.number}"
        return head + self._field_options(field) + text[len(f"group {short}"):]

    # ---------------------------------------------------------------- enums and ranges

    def enum(self, enum: descriptor_pb2.EnumDescriptorProto) -> str:
        out = f"enum {enum.name} {{"
        reserved = self._reserved(enum.reserved_range, enum.reserved_name, inclusive=True)
        options = self.options.entries(enum.options)
        values = list(enum.value)
        if self.normalize:
            values.sort(key=lambda v: (v.number, v.name))
        if reserved:
            out += "\n" + _indent(reserved)
        elif options or values:
            out += "\n"
        body = "".join(f"option {name} = {value};\n" for name, value in options)
        for value in values:
            value_options = self.options.entries(value.options)
            suffix = " [" + ", ".join(f"{n} = {v}" for n, v in value_options) + "]" if value_options else ""
            body += f"{value.name} = {value.number}{suffix};\n"
        return out + _indent(body) + "}\n"

    def _reserved(self, ranges, names, inclusive: bool) -> str:
        spans = [(r.start, r.end if inclusive else r.end - 1) for r in ranges]
        names = list(names)
        if self.normalize:
            spans.sort()
            names.sort()
        lines = [f"reserved {self._span(start, end)};\n" for start, end in spans]
        lines += [f'reserved "{escape(name)}";\n' for name in names]
        return "".join(lines)

    @staticmethod
    def _span(start: int, end: int) -> str:
        if start == end:
            return str(start)
        return f"{start} to {'max' if end >= MAX_FIELD_NUMBER else end}"

    def _extension_ranges(self, ranges) -> str:
        items = list(ranges)
        if self.normalize:
            items.sort(key=lambda r: r.start)
        lines = []
        for r in items:
            options = self.options.entries(r.options)
            suffix = " [" + ", ".join(f"{n} = {v}" for n, v in options) + "]" if options else ""
            lines.append(f"extensions {self._span(r.start, r.end - 1)}{suffix};\n")
        return "".join(lines)

    def extends(self, fields: Iterable) -> list[str]:
        groups: dict[str, list] = {}
        for field in fields:
            groups.setdefault(field.extendee, []).append(field)
        out = []
        for extendee, members in groups.items():
            if self.normalize:
                members.sort(key=lambda f: f.number)
            body = "".join(self.field(f, None, {}) for f in members)
            out.append(f"extend {extendee} {{\n" + _indent(body) + "}\n")
        return out

    # ---------------------------------------------------------------- services

    def service(self, service) -> str:
        out = f"service {service.name} {{"
        options = self.options.entries(service.options)
        if options:
            out += "\n" + _indent("".join(f"option {name} = {value};\n" for name, value in options))
        if service.method:
            out += "\n" + _indent("".join(self.method(m) for m in service.method))
        return out + "}\n"

    def method(self, method) -> str:
        request = ("stream " if method.client_streaming else "") + method.input_type
        response = ("stream " if method.server_streaming else "") + method.output_type
        out = f"rpc {method.name} ({request}) returns ({response})"
        options = self.options.entries(method.options)
        if options:
            out += " {\n" + _indent("".join(f"option {name} = {value};\n" for name, value in options)) + "}"
        return out + ";\n"


def render_file(fdp: descriptor_pb2.FileDescriptorProto, options: OptionReader | None = None,
                normalize: bool = False) -> str:
    """The .proto text of `fdp` (custom options need an OptionReader over the schema's pool)."""
    return _Renderer(fdp, options or OptionReader(), normalize).file()


