"""Avro: parsing with Avro's naming rules, the string Confluent stores, normalization.

The stored ("canonical") string is what Confluent stores: Avro Java's compact `Schema.toString`
of the schema with named types from references written by name. It keeps doc, defaults,
aliases, order and custom properties (it is *not* Avro's Parsing Canonical Form, which drops
them). The schema is also checked with fastavro, so every stored schema is one the serdes can
use.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Mapping, Sequence

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from registry.formats.base import (Incompatibility, InvalidSchemaError, ParsedSchema, SchemaProvider,
                                   SchemaReference)

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
NAMED_KINDS = ("record", "error", "enum", "fixed")
SCHEMA_RESERVED = {"doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"}
ENUM_RESERVED = SCHEMA_RESERVED | {"default"}
FIELD_RESERVED = {"default", "doc", "name", "order", "type", "aliases"}
ORDERS = ("ascending", "descending", "ignore")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MISSING = object()  # a field without a default


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


# --------------------------------------------------------------------------- model

class AvroType:
    kind = ""

    def __init__(self, props: dict | None = None):
        self.props = props or {}


class Primitive(AvroType):
    def __init__(self, kind: str, props: dict | None = None):
        super().__init__(props)
        self.kind = kind


class Named(AvroType):
    def __init__(self, kind: str, fullname: str, doc, aliases: list[str], props: dict):
        super().__init__(props)
        self.kind = kind
        self.fullname = fullname
        space, _, short = fullname.rpartition(".")
        self.name = short
        self.namespace = space or None
        self.doc = doc
        self.aliases = aliases  # full names


class Field:
    def __init__(self, name: str, type_: AvroType, doc, default, order: str, aliases: list[str],
                 props: dict, pos: int):
        self.name, self.type, self.doc, self.default = name, type_, doc, default
        self.order, self.aliases, self.props, self.pos = order, aliases, props, pos

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING


class Record(Named):
    fields: list[Field]

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


class Enum(Named):
    symbols: list[str]
    default: str | None


class Fixed(Named):
    size: int


class Array(AvroType):
    kind = "array"

    def __init__(self, items: AvroType, props: dict):
        super().__init__(props)
        self.items = items


class Map(AvroType):
    kind = "map"

    def __init__(self, values: AvroType, props: dict):
        super().__init__(props)
        self.values = values


class Union(AvroType):
    kind = "union"

    def __init__(self, branches: list[AvroType]):
        super().__init__({})
        self.branches = branches


class _Unresolved(AvroType):
    """A name used before its definition (Avro 1.12 resolves these at the end of parsing)."""

    def __init__(self, fullname: str, short: str):
        super().__init__({})
        self.fullname, self.short = fullname, short


# --------------------------------------------------------------------------- parsing

def _check_name(name, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidSchemaError(f"Illegal {what}: {name!r}")
    return name


def _full_name(name, namespace: str | None) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidSchemaError(f"Illegal name: {name!r}")
    space, dot, short = name.rpartition(".")
    if not dot:
        space = namespace or ""
    _check_name(short, "name")
    if space:
        for part in space.split("."):
            _check_name(part, "namespace part")
    return f"{space}.{short}" if space else short


class _Parser:
    """Avro Java's Schema.Parser rules, on Python JSON values."""

    def __init__(self, names: dict[str, Named]):
        self.names = names
        self.unresolved = False

    def parse(self, node, namespace: str | None) -> AvroType:
        if isinstance(node, str):
            return self._lookup(node, namespace)
        if isinstance(node, list):
            return self._union(node, namespace)
        if not isinstance(node, dict):
            raise InvalidSchemaError(f"Schema not yet supported: {_dumps(node)}")
        kind = node.get("type")
        if not isinstance(kind, str):
            raise InvalidSchemaError(f"No type: {_dumps(node)}")
        if kind in PRIMITIVES:
            return Primitive(kind, self._props(node, SCHEMA_RESERVED))
        if kind in ("record", "error"):
            return self._record(node, namespace, kind)
        if kind == "enum":
            return self._enum(node, namespace)
        if kind == "fixed":
            return self._fixed(node, namespace)
        if kind == "array":
            if "items" not in node:
                raise InvalidSchemaError(f"Array has no items type: {_dumps(node)}")
            return Array(self.parse(node["items"], namespace), self._props(node, SCHEMA_RESERVED))
        if kind == "map":
            if "values" not in node:
                raise InvalidSchemaError(f"Map has no values type: {_dumps(node)}")
            return Map(self.parse(node["values"], namespace), self._props(node, SCHEMA_RESERVED))
        if kind in self.names or "." in kind or namespace:
            raise InvalidSchemaError(f'"type" must be a primitive type or one of "enum", "fixed", '
                                     f'"record", "error", "array" or "map", not {kind!r}')
        raise InvalidSchemaError(f'A schema "type" MUST be a primitive type or one of "enum", "fixed", '
                                 f'"record", "error", "array" or "map": {kind!r}')

    @staticmethod
    def _props(node: dict, reserved: set) -> dict:
        return {k: v for k, v in node.items() if k not in reserved}

    def _lookup(self, name: str, namespace: str | None) -> AvroType:
        if name in PRIMITIVES:
            return Primitive(name)
        full = f"{namespace}.{name}" if namespace and "." not in name else name
        found = self.names.get(full) or self.names.get(name)
        if found is not None:
            return found
        self.unresolved = True
        return _Unresolved(full, name)

    def _named(self, node: dict, namespace: str | None, kind: str, reserved: set):
        space = node.get("namespace")
        if space is not None and not isinstance(space, str):
            raise InvalidSchemaError(f"Illegal namespace: {_dumps(space)}")
        if space is None:
            space = namespace
        if "name" not in node:
            raise InvalidSchemaError(f"No name in schema: {_dumps(node)}")
        fullname = _full_name(node["name"], space)
        if fullname in self.names or fullname in PRIMITIVES:
            raise InvalidSchemaError(f"Can't redefine: {fullname}")
        doc = node.get("doc") if isinstance(node.get("doc"), str) else None
        own_space = fullname.rpartition(".")[0] or None
        aliases = [_full_name(a, own_space) for a in self._aliases(node)]
        return fullname, doc, aliases, self._props(node, reserved)

    @staticmethod
    def _aliases(node: dict) -> list[str]:
        aliases = node.get("aliases")
        if aliases is None:
            return []
        if not isinstance(aliases, list):
            raise InvalidSchemaError(f"aliases not an array: {_dumps(node)}")
        out: list[str] = []
        for alias in aliases:
            if not isinstance(alias, str):
                raise InvalidSchemaError(f"alias not a string: {_dumps(alias)}")
            if alias not in out:
                out.append(alias)
        return out

    def _record(self, node: dict, namespace, kind: str) -> Record:
        fullname, doc, aliases, props = self._named(node, namespace, kind, SCHEMA_RESERVED)
        fields_node = node.get("fields")
        if not isinstance(fields_node, list):
            raise InvalidSchemaError(f"Record has no fields: {_dumps(node)}")
        record = Record(kind, fullname, doc, aliases, props)
        self.names[fullname] = record  # recursive types refer to the record being defined
        record.fields = []
        seen: set[str] = set()
        for pos, field_node in enumerate(fields_node):
            field = self._field(field_node, record.namespace, pos)
            if field.name in seen:
                raise InvalidSchemaError(f"Duplicate field {field.name} in record {fullname}: {_dumps(field_node)}")
            seen.add(field.name)
            record.fields.append(field)
        return record

    def _field(self, node, namespace, pos: int) -> Field:
        if not isinstance(node, dict):
            raise InvalidSchemaError(f"Field not an object: {_dumps(node)}")
        name = node.get("name")
        if not isinstance(name, str):
            raise InvalidSchemaError(f"No field name: {_dumps(node)}")
        _check_name(name, "field name")
        if "type" not in node:
            raise InvalidSchemaError(f"No field type: {_dumps(node)}")
        type_ = self.parse(node["type"], namespace)
        order = node.get("order", "ascending")
        if not isinstance(order, str) or order.lower() not in ORDERS:
            raise InvalidSchemaError(f"Invalid field order for {name}: {_dumps(order)}")
        default = node.get("default", MISSING)
        if isinstance(default, str) and type_.kind in ("float", "double"):
            try:
                default = float(default)
            except ValueError:
                raise InvalidSchemaError(f"Invalid default for field {name}: {_dumps(default)}") from None
        doc = node.get("doc") if isinstance(node.get("doc"), str) else None
        return Field(name, type_, doc, default, order.lower(), self._aliases(node),
                     self._props(node, FIELD_RESERVED), pos)

    def _enum(self, node: dict, namespace) -> Enum:
        fullname, doc, aliases, props = self._named(node, namespace, "enum", ENUM_RESERVED)
        symbols = node.get("symbols")
        if not isinstance(symbols, list):
            raise InvalidSchemaError(f"Enum has no symbols: {_dumps(node)}")
        seen: set[str] = set()
        for symbol in symbols:
            _check_name(symbol, "enum symbol")
            if symbol in seen:
                raise InvalidSchemaError(f"Duplicate enum symbol: {symbol}")
            seen.add(symbol)
        default = node.get("default")
        if default is not None and (not isinstance(default, str) or default not in seen):
            raise InvalidSchemaError(f"The Enum Default: {_dumps(default)} is not in the enum symbol set: "
                                     f"{_dumps(symbols)}")
        enum = Enum("enum", fullname, doc, aliases, props)
        enum.symbols, enum.default = list(symbols), default
        self.names[fullname] = enum
        return enum

    def _fixed(self, node: dict, namespace) -> Fixed:
        fullname, doc, aliases, props = self._named(node, namespace, "fixed", SCHEMA_RESERVED)
        size = node.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or size > 2**31 - 1:
            raise InvalidSchemaError(f"Invalid or no size: {_dumps(node)}")
        fixed = Fixed("fixed", fullname, doc, aliases, props)
        fixed.size = size
        self.names[fullname] = fixed
        return fixed

    def _union(self, node: list, namespace) -> Union:
        branches = [self.parse(b, namespace) for b in node]
        seen: set[str] = set()
        for branch in branches:
            if isinstance(branch, Union):
                raise InvalidSchemaError(f"Nested union: {_dumps(node)}")
            key = getattr(branch, "fullname", None) or branch.kind
            if key in seen:
                raise InvalidSchemaError(f"Duplicate in union:{key}")
            seen.add(key)
        return Union(branches)

    # Forward references: replace placeholders once every name is known.
    def resolve(self, root: AvroType) -> AvroType:
        if not self.unresolved:
            return root
        done: set[int] = set()

        def fix(t: AvroType) -> AvroType:
            if isinstance(t, _Unresolved):
                found = self.names.get(t.fullname) or self.names.get(t.short)
                if found is None:
                    raise InvalidSchemaError(f'"{t.short}" is not a defined name. The type must be a '
                                             f'defined name or a {{"type": ...}} expression.')
                return found
            if id(t) in done:
                return t
            done.add(id(t))
            if isinstance(t, Record):
                for f in t.fields:
                    f.type = fix(f.type)
            elif isinstance(t, Array):
                t.items = fix(t.items)
            elif isinstance(t, Map):
                t.values = fix(t.values)
            elif isinstance(t, Union):
                t.branches = [fix(b) for b in t.branches]
            return t

        root = fix(root)
        for named in list(self.names.values()):
            fix(named)
        return root


# --------------------------------------------------------------------------- defaults

def _valid_value(t: AvroType, value) -> bool:
    """Avro Java's isValidDefault/isValidValue: does JSON `value` fit type `t`?"""
    kind = t.kind
    if kind in ("string", "bytes", "enum", "fixed"):
        return isinstance(value, str)
    if kind in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        bits = 31 if kind == "int" else 63
        return -(2**bits) <= value < 2**bits
    if kind in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, list) and all(_valid_value(t.items, v) for v in value)
    if kind == "map":
        return isinstance(value, dict) and all(_valid_value(t.values, v) for v in value.values())
    if kind == "union":
        return any(_valid_value(b, value) for b in t.branches)
    if kind in ("record", "error"):
        if not isinstance(value, dict):
            return False
        for f in t.fields:
            v = value.get(f.name, f.default)
            if v is MISSING or not _valid_value(f.type, v):
                return False
        return True
    return False


def _check_defaults(root: AvroType) -> None:
    seen: set[int] = set()

    def walk(t: AvroType):
        if id(t) in seen:
            return
        seen.add(id(t))
        if isinstance(t, Record):
            for f in t.fields:
                if f.has_default and not _valid_value(f.type, f.default):
                    raise InvalidSchemaError(f"Invalid default for field {f.name}: {_dumps(f.default)} "
                                             f"not a {_Writer(set()).write(f.type)}")
                walk(f.type)
        elif isinstance(t, Array):
            walk(t.items)
        elif isinstance(t, Map):
            walk(t.values)
        elif isinstance(t, Union):
            for b in t.branches:
                walk(b)

    walk(root)


# --------------------------------------------------------------------------- writing

_LOGICAL = {
    "decimal": ("bytes", "fixed"), "big-decimal": ("bytes",), "uuid": ("string", "fixed"),
    "date": ("int",), "time-millis": ("int",), "time-micros": ("long",), "timestamp-millis": ("long",),
    "timestamp-micros": ("long",), "timestamp-nanos": ("long",), "local-timestamp-millis": ("long",),
    "local-timestamp-micros": ("long",), "local-timestamp-nanos": ("long",), "duration": ("fixed",),
}


def _logical_props(t: AvroType) -> list[str]:
    """Props that form a valid logical type (written first by Confluent's normalization)."""
    lt = t.props.get("logicalType")
    if lt not in _LOGICAL or t.kind not in _LOGICAL[lt]:
        return []
    if lt == "decimal":
        precision, scale = t.props.get("precision"), t.props.get("scale", 0)
        if not isinstance(precision, int) or precision <= 0 or not isinstance(scale, int) \
                or scale < 0 or scale > precision:
            return []
        return ["logicalType", "precision"] + (["scale"] if "scale" in t.props else [])
    if lt == "duration" and getattr(t, "size", None) != 12:
        return []
    if lt == "uuid" and t.kind == "fixed" and getattr(t, "size", None) != 16:
        return []
    return ["logicalType"]


class _Writer:
    """Avro Java's Schema.toJson (compact), optionally with Confluent's normalization applied."""

    def __init__(self, known: set[str], normalize: bool = False):
        self.known = set(known)
        self.normalize = normalize

    def _props(self, t_or_field, ordered: Iterable[str] | None = None) -> list[str]:
        props = t_or_field.props
        if not self.normalize:
            keys = list(props)
        else:
            first = list(ordered or [])
            keys = first + sorted(k for k in props if k not in first)
        return [f"{_dumps(k)}:{_dumps(props[k])}" for k in keys]

    @staticmethod
    def _qualified(fullname: str, namespace: str | None) -> str:
        space, _, short = fullname.rpartition(".")
        return short if (space or None) == namespace else fullname

    def _name(self, t: Named, namespace: str | None) -> list[str]:
        parts = [f'"name":{_dumps(t.name)}']
        if t.namespace is not None:
            if t.namespace != namespace:
                parts.append(f'"namespace":{_dumps(t.namespace)}')
        elif namespace is not None:
            parts.append('"namespace":""')
        return parts

    def _aliases(self, t: Named) -> list[str]:
        if not t.aliases:
            return []
        aliases = [self._qualified(a, t.namespace) for a in t.aliases]
        if self.normalize:
            aliases = sorted(set(aliases))
        return [f'"aliases":{_dumps(aliases)}']

    def write(self, t: AvroType, namespace: str | None = None) -> str:
        if isinstance(t, Union):
            return "[" + ",".join(self.write(b, namespace) for b in t.branches) + "]"
        if isinstance(t, Named):
            if t.fullname in self.known:
                return _dumps(self._qualified(t.fullname, namespace))
            self.known.add(t.fullname)
            return self._named(t, namespace)
        logical = _logical_props(t) if self.normalize else []
        if isinstance(t, Array):
            parts = ['"type":"array"', f'"items":{self.write(t.items, namespace)}'] + self._props(t, logical)
        elif isinstance(t, Map):
            parts = ['"type":"map"', f'"values":{self.write(t.values, namespace)}'] + self._props(t, logical)
        elif not t.props:
            return _dumps(t.kind)
        else:
            parts = [f'"type":{_dumps(t.kind)}'] + self._props(t, logical)
        return "{" + ",".join(parts) + "}"

    def _named(self, t: Named, namespace: str | None) -> str:
        parts = [f'"type":{_dumps(t.kind)}'] + self._name(t, namespace)
        if t.doc is not None:
            parts.append(f'"doc":{_dumps(t.doc)}')
        logical = _logical_props(t) if self.normalize else []
        if isinstance(t, Record):
            fields = ",".join(self._field(f, t.namespace) for f in t.fields)
            parts.append(f'"fields":[{fields}]')
        elif isinstance(t, Enum):
            parts.append(f'"symbols":{_dumps(t.symbols)}')
            if t.default is not None:
                parts.append(f'"default":{_dumps(t.default)}')
        elif isinstance(t, Fixed):
            parts.append(f'"size":{t.size}')
        parts += self._props(t, logical)
        parts += self._aliases(t)
        return "{" + ",".join(parts) + "}"

    def _field(self, f: Field, namespace: str | None) -> str:
        parts = [f'"name":{_dumps(f.name)}', f'"type":{self.write(f.type, namespace)}']
        if f.doc is not None:
            parts.append(f'"doc":{_dumps(f.doc)}')
        if f.has_default:
            default = f.default
            if self.normalize and f.type.kind in ("float", "double") and isinstance(default, int) \
                    and not isinstance(default, bool):
                default = float(default)
            parts.append(f'"default":{_dumps(default)}')
        if f.order != "ascending":
            parts.append(f'"order":{_dumps(f.order)}')
        if f.aliases:
            aliases = sorted(set(f.aliases)) if self.normalize else f.aliases
            parts.append(f'"aliases":{_dumps(aliases)}')
        parts += self._props(f)
        return "{" + ",".join(parts) + "}"


# --------------------------------------------------------------------------- ParsedSchema

class AvroSchema(ParsedSchema):
    schema_type = "AVRO"

    def __init__(self, root: AvroType, references: Sequence[SchemaReference], reference_names: set[str],
                 named: dict[str, Named], normalized: bool = False):
        super().__init__(references)
        self.root = root
        self.reference_names = reference_names  # top-level names of referenced schemas
        self.named = named
        self.normalized = normalized
        self._canonical: str | None = None
        self._fastavro = None

    def canonical_string(self) -> str:
        if self._canonical is None:
            self._canonical = _Writer(self.reference_names, self.normalized).write(self.root)
        return self._canonical

    def normalize(self) -> "AvroSchema":
        refs = sorted(set(self.references))
        return AvroSchema(self.root, refs, self.reference_names, self.named, normalized=True)

    def resolved_string(self) -> str:
        """The schema with every referenced type inlined (format=resolved)."""
        return _Writer(set(), self.normalized).write(self.root)

    def formatted_string(self, fmt: str | None) -> str:
        if fmt and fmt.strip().lower() == "resolved":
            return self.resolved_string()
        return self.canonical_string()

    def equivalent(self, other: ParsedSchema) -> bool:
        if not isinstance(other, AvroSchema):
            return False
        return _Writer(set(), True).write(self.root) == _Writer(set(), True).write(other.root)

    def reader_incompatibilities(self, writer: ParsedSchema) -> list[Incompatibility]:
        from registry.formats.avro_compat import reader_writer_incompatibilities
        if not isinstance(writer, AvroSchema):
            return [_TypeDifference()]
        return reader_writer_incompatibilities(self.root, writer.root)

    def name(self) -> str | None:
        return self.root.fullname if isinstance(self.root, Record) else None

    def fastavro_schema(self):
        """The schema parsed by fastavro (every named type inlined), for encoding and decoding."""
        if self._fastavro is None:
            self._fastavro = fastavro.parse_schema(json.loads(self.resolved_string()))
        return self._fastavro


class _TypeDifference(Incompatibility):
    def render(self, reader: str, writer: str) -> str:
        return "Incompatible because of different schema type"


class AvroProvider(SchemaProvider):
    schema_type = "AVRO"

    def parse(self, schema: str, references: Sequence[SchemaReference] = (),
              resolved: Mapping[str, str] | None = None, *, new: bool = True) -> AvroSchema:
        named: dict[str, Named] = {}
        reference_names: set[str] = set()
        for ref_name, ref_schema in (resolved or {}).items():
            try:
                ref_root = self._parse_one(ref_schema, named)
            except InvalidSchemaError as exc:
                raise InvalidSchemaError(f"Invalid schema reference {ref_name}: {exc}") from None
            if isinstance(ref_root, Named):
                reference_names.add(ref_root.fullname)
        root = self._parse_one(schema, named)
        if new:
            _check_defaults(root)
        parsed = AvroSchema(root, references, reference_names, named)
        if new:
            self._check_with_fastavro(parsed)
        return parsed

    @staticmethod
    def _parse_one(text: str, named: dict[str, Named]) -> AvroType:
        if not isinstance(text, str):
            raise InvalidSchemaError("Avro schema must be a string")
        try:
            node = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InvalidSchemaError(f"Invalid JSON: {exc}") from None
        parser = _Parser(named)
        try:
            return parser.resolve(parser.parse(node, None))
        except RecursionError:
            raise InvalidSchemaError("Schema nested too deeply") from None

    @staticmethod
    def _check_with_fastavro(parsed: AvroSchema) -> None:
        try:
            parsed.fastavro_schema()
        except (SchemaParseException, UnknownType, ValueError, TypeError, KeyError) as exc:
            raise InvalidSchemaError(f"Invalid Avro schema: {exc}") from None
        except RecursionError:
            raise InvalidSchemaError("Schema nested too deeply") from None
