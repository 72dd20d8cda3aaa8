"""Avro schema resolution as a compatibility check: can a reader schema read a writer's data?

Follows the rules of Avro Java's SchemaCompatibility (which Confluent's AvroSchema uses) and
reports each problem as Confluent does: an error type, a JSON-pointer path into the reader
schema (e.g. `/fields/1/type`), and a description naming the reader and writer schemas.
"""

from __future__ import annotations

from formats.avro.model import AvroType, Enum, Fixed, Named, Record, Union
from formats.base import Incompatibility

# Writer kind -> reader kinds that can read it (besides the same kind): Avro's promotions.
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}

NAME_MISMATCH = "NAME_MISMATCH"
FIXED_SIZE_MISMATCH = "FIXED_SIZE_MISMATCH"
MISSING_ENUM_SYMBOLS = "MISSING_ENUM_SYMBOLS"
READER_FIELD_MISSING_DEFAULT_VALUE = "READER_FIELD_MISSING_DEFAULT_VALUE"
TYPE_MISMATCH = "TYPE_MISMATCH"
MISSING_UNION_BRANCH = "MISSING_UNION_BRANCH"


class AvroDifference(Incompatibility):
    """One incompatibility; rendered in Confluent's `{errorType:..., description:..., additionalInfo:...}`."""

    def __init__(self, error_type: str, location: list[str], message: str):
        self.error_type = error_type
        self.location = location
        self.message = message

    @property
    def path(self) -> str:
        return "/" + "/".join(token.replace("~", "~0").replace("/", "~1") for token in self.location[1:])

    def description(self, reader: str, writer: str) -> str:
        path, info = self.path, self.message
        if self.error_type == FIXED_SIZE_MISMATCH:
            return (f"The size of FIXED type field at path '{path}' in the {reader} schema does not "
                    f"match with the {writer} schema")
        if self.error_type == TYPE_MISMATCH:
            return (f"The type (path '{path}') of a field in the {reader} schema does not match with "
                    f"the {writer} schema")
        if self.error_type == NAME_MISMATCH:
            return f"The name of the schema has changed (path '{path}')"
        if self.error_type == MISSING_ENUM_SYMBOLS:
            return f"The {reader} schema is missing enum symbols '{info}' at path '{path}' in the {writer} schema"
        if self.error_type == MISSING_UNION_BRANCH:
            return f"The {reader} schema is missing a type inside a union field at path '{path}' in the {writer} schema"
        if self.error_type == READER_FIELD_MISSING_DEFAULT_VALUE:
            return (f"The field '{info}' at path '{path}' in the {reader} schema has no default value and is "
                    f"missing in the {writer} schema")
        return ""

    def render(self, reader: str, writer: str) -> str:
        return (f"{{errorType:'{self.error_type}', description:'{self.description(reader, writer)}', "
                f"additionalInfo:'{self.message}'}}")

    def __repr__(self) -> str:
        return f"AvroDifference({self.error_type}, {self.path}, {self.message!r})"


class _Unexpected(Incompatibility):
    def __init__(self, message: str):
        self.message = message

    def render(self, reader: str, writer: str) -> str:
        return f"Unexpected exception during compatibility check: {self.message}"


def _java_type(t: AvroType) -> str:
    return "RECORD" if t.kind == "error" else t.kind.upper()


class _Checker:
    """Memoizes (reader, writer) pairs; a pair met again while being checked counts as compatible,
    which is how recursive types terminate."""

    def __init__(self):
        self.memo: dict[tuple[int, int], list[AvroDifference] | None] = {}

    def check(self, token: str, reader: AvroType, writer: AvroType, location: list[str]) -> list[AvroDifference]:
        location.append(token)
        key = (id(reader), id(writer))
        if key in self.memo:
            result = self.memo[key] or []
        else:
            self.memo[key] = None  # in progress
            result = self._calculate(reader, writer, location)
            self.memo[key] = result
        location.pop()
        return result

    def _calculate(self, reader: AvroType, writer: AvroType, location: list[str]) -> list[AvroDifference]:
        rk, wk = _kind(reader), _kind(writer)
        if rk == wk:
            if rk == "array":
                return self.check("items", reader.items, writer.items, location)
            if rk == "map":
                return self.check("values", reader.values, writer.values, location)
            if rk == "fixed":
                return self._names(reader, writer, location) + self._fixed_size(reader, writer, location)
            if rk == "enum":
                return self._names(reader, writer, location) + self._enum_symbols(reader, writer, location)
            if rk == "record":
                return self._names(reader, writer, location) + self._fields(reader, writer, location)
            if rk == "union":
                return self._writer_union(reader, writer, location)
            return []
        if wk == "union":
            out: list[AvroDifference] = []
            for index, branch in enumerate(writer.branches):
                out += self.check(str(index), reader, branch, location)
            return out
        if rk == "union":
            for branch in reader.branches:
                if not self.check("", branch, writer, []):
                    return []
            return [AvroDifference(MISSING_UNION_BRANCH, list(location),
                                   f"reader union lacking writer type: {_java_type(writer)}")]
        if rk in _PROMOTIONS.get(wk, ()):
            return []
        return [self._type_mismatch(reader, writer, location)]

    def _writer_union(self, reader: Union, writer: Union, location: list[str]) -> list[AvroDifference]:
        out: list[AvroDifference] = []
        for index, branch in enumerate(writer.branches):
            location.append(str(index))
            # Like Avro, each branch is checked on its own; only the missing branch is reported.
            if self.check("", reader, branch, []):
                out.append(AvroDifference(MISSING_UNION_BRANCH, list(location),
                                          f"reader union lacking writer type: {_java_type(branch)}"))
            location.pop()
        return out

    @staticmethod
    def _type_mismatch(reader: AvroType, writer: AvroType, location: list[str]) -> AvroDifference:
        return AvroDifference(TYPE_MISMATCH, list(location),
                              f"reader type: {_java_type(reader)} not compatible with writer type: "
                              f"{_java_type(writer)}")

    @staticmethod
    def _names(reader: Named, writer: Named, location: list[str]) -> list[AvroDifference]:
        # Avro compares unqualified names, then the reader's aliases against the writer's full name.
        if reader.name == writer.name or writer.fullname in reader.aliases:
            return []
        return [AvroDifference(NAME_MISMATCH, location + ["name"], f"expected: {writer.fullname}")]

    @staticmethod
    def _fixed_size(reader: Fixed, writer: Fixed, location: list[str]) -> list[AvroDifference]:
        if reader.size == writer.size:
            return []
        return [AvroDifference(FIXED_SIZE_MISMATCH, location + ["size"],
                               f"expected: {writer.size}, found: {reader.size}")]

    @staticmethod
    def _enum_symbols(reader: Enum, writer: Enum, location: list[str]) -> list[AvroDifference]:
        missing = sorted(set(writer.symbols) - set(reader.symbols))
        if not missing or (reader.default is not None and reader.default in reader.symbols):
            return []
        return [AvroDifference(MISSING_ENUM_SYMBOLS, location + ["symbols"], "[" + ", ".join(missing) + "]")]

    def _fields(self, reader: Record, writer: Record, location: list[str]) -> list[AvroDifference]:
        out: list[AvroDifference] = []
        location.append("fields")
        for field in reader.fields:
            location.append(str(field.pos))
            writer_field = _writer_field(writer, field)
            if writer_field is None:
                if not field.has_default:
                    if _kind(field.type) == "enum" and field.type.default is not None:
                        # Avro's own (odd) rule: an enum with a default is checked against the record.
                        out += self.check("type", field.type, writer, location)
                    else:
                        out.append(AvroDifference(READER_FIELD_MISSING_DEFAULT_VALUE, list(location), field.name))
            else:
                out += self.check("type", field.type, writer_field.type, location)
            location.pop()
        location.pop()
        return out


class _AmbiguousField(Exception):
    pass


def _writer_field(writer: Record, reader_field):
    matches = []
    direct = writer.field(reader_field.name)
    if direct is not None:
        matches.append(direct)
    for alias in reader_field.aliases:
        found = writer.field(alias)
        if found is not None:
            matches.append(found)
    if len(matches) > 1:
        raise _AmbiguousField(f"Reader record field {reader_field.name} matches multiple fields in writer "
                              f"record schema {writer.fullname}")
    return matches[0] if matches else None


def _kind(t: AvroType) -> str:
    return "record" if t.kind == "error" else t.kind


def reader_writer_incompatibilities(reader: AvroType, writer: AvroType) -> list[Incompatibility]:
    """Every reason `reader` cannot read data written with `writer`; empty when it can."""
    try:
        return list(_Checker().check("", reader, writer, []))
    except _AmbiguousField as exc:
        return [_Unexpected(str(exc))]
    except RecursionError:
        return [_Unexpected("schema nested too deeply")]
