"""Avro's schema model: the types of a parsed schema and the parser that builds them with
Avro's naming rules (namespaces, aliases, named types defined once and used by name).
"""

from __future__ import annotations

import json
import re

from formats.base import InvalidSchemaError

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
NAMED_KINDS = ("record", "error", "enum", "fixed")
SCHEMA_RESERVED = {"doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"}
ENUM_RESERVED = SCHEMA_RESERVED | {"default"}
FIELD_RESERVED = {"default", "doc", "name", "order", "type", "aliases"}
ORDERS = ("ascending", "descending", "ignore")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MISSING = object()  # a field without a default


def json_text(value) -> str:
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


class Parser:
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
            raise InvalidSchemaError(f"Schema not yet supported: {json_text(node)}")
        kind = node.get("type")
        if not isinstance(kind, str):
            raise InvalidSchemaError(f"No type: {json_text(node)}")
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
                raise InvalidSchemaError(f"Array has no items type: {json_text(node)}")
            return Array(self.parse(node["items"], namespace), self._props(node, SCHEMA_RESERVED))
        if kind == "map":
            if "values" not in node:
                raise InvalidSchemaError(f"Map has no values type: {json_text(node)}")
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
            raise InvalidSchemaError(f"Illegal namespace: {json_text(space)}")
        if space is None:
            space = namespace
        if "name" not in node:
            raise InvalidSchemaError(f"No name in schema: {json_text(node)}")
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
            raise InvalidSchemaError(f"aliases not an array: {json_text(node)}")
        out: list[str] = []
        for alias in aliases:
            if not isinstance(alias, str):
                raise InvalidSchemaError(f"alias not a string: {json_text(alias)}")
            if alias not in out:
                out.append(alias)
        return out

    def _record(self, node: dict, namespace, kind: str) -> Record:
        fullname, doc, aliases, props = self._named(node, namespace, kind, SCHEMA_RESERVED)
        fields_node = node.get("fields")
        if not isinstance(fields_node, list):
            raise InvalidSchemaError(f"Record has no fields: {json_text(node)}")
        record = Record(kind, fullname, doc, aliases, props)
        self.names[fullname] = record  # recursive types refer to the record being defined
        record.fields = []
        seen: set[str] = set()
        for pos, field_node in enumerate(fields_node):
            field = self._field(field_node, record.namespace, pos)
            if field.name in seen:
                raise InvalidSchemaError(f"Duplicate field {field.name} in record {fullname}: {json_text(field_node)}")
            seen.add(field.name)
            record.fields.append(field)
        return record

    def _field(self, node, namespace, pos: int) -> Field:
        if not isinstance(node, dict):
            raise InvalidSchemaError(f"Field not an object: {json_text(node)}")
        name = node.get("name")
        if not isinstance(name, str):
            raise InvalidSchemaError(f"No field name: {json_text(node)}")
        _check_name(name, "field name")
        if "type" not in node:
            raise InvalidSchemaError(f"No field type: {json_text(node)}")
        type_ = self.parse(node["type"], namespace)
        order = node.get("order", "ascending")
        if not isinstance(order, str) or order.lower() not in ORDERS:
            raise InvalidSchemaError(f"Invalid field order for {name}: {json_text(order)}")
        default = node.get("default", MISSING)
        if isinstance(default, str) and type_.kind in ("float", "double"):
            try:
                default = float(default)
            except ValueError:
                raise InvalidSchemaError(f"Invalid default for field {name}: {json_text(default)}") from None
        doc = node.get("doc") if isinstance(node.get("doc"), str) else None
        return Field(name, type_, doc, default, order.lower(), self._aliases(node),
                     self._props(node, FIELD_RESERVED), pos)

    def _enum(self, node: dict, namespace) -> Enum:
        fullname, doc, aliases, props = self._named(node, namespace, "enum", ENUM_RESERVED)
        symbols = node.get("symbols")
        if not isinstance(symbols, list):
            raise InvalidSchemaError(f"Enum has no symbols: {json_text(node)}")
        seen: set[str] = set()
        for symbol in symbols:
            _check_name(symbol, "enum symbol")
            if symbol in seen:
                raise InvalidSchemaError(f"Duplicate enum symbol: {symbol}")
            seen.add(symbol)
        default = node.get("default")
        if default is not None and (not isinstance(default, str) or default not in seen):
            raise InvalidSchemaError(f"The Enum Default: {json_text(default)} is not in the enum symbol set: "
                                     f"{json_text(symbols)}")
        enum = Enum("enum", fullname, doc, aliases, props)
        enum.symbols, enum.default = list(symbols), default
        self.names[fullname] = enum
        return enum

    def _fixed(self, node: dict, namespace) -> Fixed:
        fullname, doc, aliases, props = self._named(node, namespace, "fixed", SCHEMA_RESERVED)
        size = node.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or size > 2**31 - 1:
            raise InvalidSchemaError(f"Invalid or no size: {json_text(node)}")
        fixed = Fixed("fixed", fullname, doc, aliases, props)
        fixed.size = size
        self.names[fullname] = fixed
        return fixed

    def _union(self, node: list, namespace) -> Union:
        branches = [self.parse(b, namespace) for b in node]
        seen: set[str] = set()
        for branch in branches:
            if isinstance(branch, Union):
                raise InvalidSchemaError(f"Nested union: {json_text(node)}")
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
