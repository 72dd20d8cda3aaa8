"""Avro: parsing with Avro's naming rules, the string Confluent stores, normalization.

The stored ("canonical") string is what Confluent stores: Avro Java's compact `Schema.toString`
of the schema with named types from references written by name. It keeps doc, defaults,
aliases, order and custom properties (it is *not* Avro's Parsing Canonical Form, which drops
them). The schema is also checked with fastavro, so every stored schema is one the serdes can
use. At run time fastavro's C writer and reader encode and decode with the schema as parsed
here, every referenced type inlined.
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any, Callable, Iterable, Mapping, Sequence

import fastavro
import fastavro.validation
from fastavro import schemaless_reader, schemaless_writer
from fastavro.schema import SchemaParseException, UnknownType

from formats.avro.compat import reader_writer_incompatibilities
from formats.avro.model import (MISSING, Array, AvroType, Enum, Field, Fixed, Map, Named, Parser, Record, Union,
                                json_text)
from formats.base import (DifferentSchemaType, Incompatibility, InvalidSchemaError, ParsedSchema, RecordMismatch,
                          SchemaProvider, SchemaReference)


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
                    raise InvalidSchemaError(f"Invalid default for field {f.name}: {json_text(f.default)} "
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
        return [f"{json_text(k)}:{json_text(props[k])}" for k in keys]

    @staticmethod
    def _qualified(fullname: str, namespace: str | None) -> str:
        space, _, short = fullname.rpartition(".")
        return short if (space or None) == namespace else fullname

    def _name(self, t: Named, namespace: str | None) -> list[str]:
        parts = [f'"name":{json_text(t.name)}']
        if t.namespace is not None:
            if t.namespace != namespace:
                parts.append(f'"namespace":{json_text(t.namespace)}')
        elif namespace is not None:
            parts.append('"namespace":""')
        return parts

    def _aliases(self, t: Named) -> list[str]:
        if not t.aliases:
            return []
        aliases = [self._qualified(a, t.namespace) for a in t.aliases]
        if self.normalize:
            aliases = sorted(set(aliases))
        return [f'"aliases":{json_text(aliases)}']

    def write(self, t: AvroType, namespace: str | None = None) -> str:
        if isinstance(t, Union):
            return "[" + ",".join(self.write(b, namespace) for b in t.branches) + "]"
        if isinstance(t, Named):
            if t.fullname in self.known:
                return json_text(self._qualified(t.fullname, namespace))
            self.known.add(t.fullname)
            return self._named(t, namespace)
        logical = _logical_props(t) if self.normalize else []
        if isinstance(t, Array):
            parts = ['"type":"array"', f'"items":{self.write(t.items, namespace)}'] + self._props(t, logical)
        elif isinstance(t, Map):
            parts = ['"type":"map"', f'"values":{self.write(t.values, namespace)}'] + self._props(t, logical)
        elif not t.props:
            return json_text(t.kind)
        else:
            parts = [f'"type":{json_text(t.kind)}'] + self._props(t, logical)
        return "{" + ",".join(parts) + "}"

    def _named(self, t: Named, namespace: str | None) -> str:
        parts = [f'"type":{json_text(t.kind)}'] + self._name(t, namespace)
        if t.doc is not None:
            parts.append(f'"doc":{json_text(t.doc)}')
        logical = _logical_props(t) if self.normalize else []
        if isinstance(t, Record):
            fields = ",".join(self._field(f, t.namespace) for f in t.fields)
            parts.append(f'"fields":[{fields}]')
        elif isinstance(t, Enum):
            parts.append(f'"symbols":{json_text(t.symbols)}')
            if t.default is not None:
                parts.append(f'"default":{json_text(t.default)}')
        elif isinstance(t, Fixed):
            parts.append(f'"size":{t.size}')
        parts += self._props(t, logical)
        parts += self._aliases(t)
        return "{" + ",".join(parts) + "}"

    def _field(self, f: Field, namespace: str | None) -> str:
        parts = [f'"name":{json_text(f.name)}', f'"type":{self.write(f.type, namespace)}']
        if f.doc is not None:
            parts.append(f'"doc":{json_text(f.doc)}')
        if f.has_default:
            default = f.default
            if self.normalize and f.type.kind in ("float", "double") and isinstance(default, int) \
                    and not isinstance(default, bool):
                default = float(default)
            parts.append(f'"default":{json_text(default)}')
        if f.order != "ascending":
            parts.append(f'"order":{json_text(f.order)}')
        if f.aliases:
            aliases = sorted(set(f.aliases)) if self.normalize else f.aliases
            parts.append(f'"aliases":{json_text(aliases)}')
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
        if not isinstance(writer, AvroSchema):
            return [DifferentSchemaType()]
        return reader_writer_incompatibilities(self.root, writer.root)

    def name(self) -> str | None:
        return self.root.fullname if isinstance(self.root, Record) else None

    _json_is_value: bool | None = None   # from_json's shortcut applies (see _json_is_value)
    _value_is_json: bool | None = None   # to_json's

    def fastavro_schema(self):
        """The schema parsed by fastavro (every named type inlined), for encoding and decoding."""
        if self._fastavro is None:
            self._fastavro = fastavro.parse_schema(_interned(json.loads(self.resolved_string())))
        return self._fastavro

    # -- runtime ------------------------------------------------------------------------

    def writer(self) -> Callable[..., bytes]:
        parsed = self.fastavro_schema()
        new_buffer, encode = io.BytesIO, schemaless_writer  # closure cells: the per-record path

        def write(value, header: bytes = b"") -> bytes:
            buf = new_buffer()
            buf.write(header)
            try:
                encode(buf, parsed, value)
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
                raise RecordMismatch(str(exc)) from exc
            return buf.getvalue()
        return write

    def reader(self, reader_schema: ParsedSchema | None = None, return_record_name: bool = False
               ) -> Callable[..., Any]:
        """Avro schema resolution from this (writer) schema to `reader_schema` when given."""
        if reader_schema is not None and not isinstance(reader_schema, AvroSchema):
            raise InvalidSchemaError(f"an Avro payload cannot be read as {reader_schema.schema_type}")
        written = self.fastavro_schema()
        read_as = reader_schema.fastavro_schema() if reader_schema is not None else None
        new_buffer, decode = io.BytesIO, schemaless_reader  # closure cells: the per-record path

        def read(data: bytes, start: int = 0):
            buf = new_buffer(data)
            buf.seek(start)
            try:
                value = decode(buf, written, read_as, return_record_name)
            except Exception as exc:  # fastavro raises EOFError, StopIteration, SchemaResolutionError, ...
                raise RecordMismatch(f"{type(exc).__name__}: {exc}") from exc
            if buf.tell() != len(data):
                raise RecordMismatch(f"{len(data) - buf.tell()} bytes left over after the Avro record")
            return value
        return read

    def validator(self) -> Callable[[Any], str | None]:
        parsed = self.fastavro_schema()

        def check(value) -> str | None:
            try:
                fastavro.validation.validate(value, parsed, raise_errors=True)
            except fastavro.validation.ValidationError as exc:
                return str(exc)
            return None
        return check

    def from_json(self, value: Any) -> Any:
        """The value for Avro's JSON encoding of it (unions as {"type": value}, bytes as text)."""
        parsed = self.fastavro_schema()
        if self._json_is_value is None:
            self._json_is_value = _json_is_value(parsed)
        if self._json_is_value:
            # No unions, bytes or fixed anywhere: the JSON encoding is the value itself, so it only
            # has to be checked (the per-record path of the REST Proxy: no re-parse of the JSON).
            try:
                fastavro.validation.validate(value, parsed, raise_errors=True)
            except fastavro.validation.ValidationError as exc:
                raise RecordMismatch(f"not Avro JSON for the schema: {exc}") from None
            return value
        try:
            decoded = next(iter(fastavro.json_reader(io.StringIO(json.dumps(value)), parsed)))
        except Exception as exc:  # fastavro reports mismatches with assorted exception types
            raise RecordMismatch(f"not Avro JSON for the schema: {type(exc).__name__}: {exc}") from exc
        # json_reader leaves primitives unchecked ("false" for a boolean, "1" for a long), and
        # the writer would encode them wrongly ("false" as true): reject them here.
        try:
            fastavro.validation.validate(decoded, parsed, raise_errors=True)
        except fastavro.validation.ValidationError as exc:
            raise RecordMismatch(f"not Avro JSON for the schema: {exc}") from None
        return decoded

    def to_json(self, value: Any) -> Any:
        """Avro's JSON encoding of a value the reader returned."""
        if self._value_is_json is None:
            self._value_is_json = _json_is_value(self.fastavro_schema(), logical_types=False)
        if self._value_is_json:
            return value  # no unions, bytes, fixed or logical types: the value is its JSON encoding
        out = io.StringIO()
        try:
            fastavro.json_writer(out, self.fastavro_schema(), [value])
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise RecordMismatch(str(exc)) from exc
        return json.loads(out.getvalue())


def _interned(node):
    """The JSON with its strings interned: fastavro's writer compares type names and field
    names against its own literals, and identical objects compare faster (~7% per record)."""
    if isinstance(node, str):
        return sys.intern(node)
    if isinstance(node, list):
        return [_interned(n) for n in node]
    if isinstance(node, dict):
        return {sys.intern(k): _interned(v) for k, v in node.items()}
    return node


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
        parser = Parser(named)
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


_PRIMITIVES_AS_IN_JSON = {"null", "boolean", "int", "long", "float", "double", "string"}


def _json_is_value(schema, named: frozenset = frozenset(), logical_types: bool = True) -> bool:
    """Whether Avro's JSON encoding of every value of `schema` (fastavro's parsed form) is the
    value itself: true unless a union, bytes or fixed occurs (a reference to a record being
    defined is followed once). Logical types count as their underlying type when `logical_types`
    (the writer takes an int for a timestamp), else not (the reader gives a datetime)."""
    if isinstance(schema, list):
        return False  # a union: {"type": value} in JSON
    if isinstance(schema, str):
        return schema in _PRIMITIVES_AS_IN_JSON or schema in named
    kind = schema.get("type")
    if kind == "record" or kind == "error":
        inner = named | {schema.get("name", "")}
        return all(_json_is_value(f["type"], inner, logical_types) for f in schema.get("fields", ()))
    if kind == "array":
        return _json_is_value(schema["items"], named, logical_types)
    if kind == "map":
        return _json_is_value(schema["values"], named, logical_types)
    if kind == "enum":
        return True
    if kind in ("fixed", "bytes") or schema.get("logicalType") == "decimal":
        return False
    if "logicalType" in schema and not logical_types:
        return False
    return _json_is_value(kind, named, logical_types)
