"""The format interface: one provider per schema type, and the types every package shares.

`Schema` and `SchemaReference` are a schema as the registry's REST API carries it. A provider
turns a schema string (plus the schemas its references resolve to) into a ParsedSchema.

The registry side of a ParsedSchema: its canonical string (what the registry stores and
compares), its normalized form, whether it is equivalent to another schema, whether it can
read data written with another schema (the building block of every compatibility level), and
its record name (for RecordNameStrategy).

The runtime side, built once per schema and used per record by the serdes, the broker's
governed topics, the console tools and whatever comes next: a writer (value -> payload bytes),
a reader (payload bytes -> value), a validator, and conversion between the format's values and
plain JSON-compatible Python values. "Payload" is what follows the 5-byte wire header (formats/wire.py); for
Protobuf it starts with the message indexes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

DEFAULT_SCHEMA_TYPE = "AVRO"


class InvalidSchemaError(ValueError):
    """The schema does not parse, or breaks a rule of its format (answered as 42201)."""


@dataclass(frozen=True, order=True)
class SchemaReference:
    """A named reference to a version of another subject, as Confluent models it."""

    name: str
    subject: str
    version: int

    def to_dict(self) -> dict:
        return {"name": self.name, "subject": self.subject, "version": self.version}

    @classmethod
    def from_dict(cls, data) -> "SchemaReference":
        if not isinstance(data, dict):
            raise InvalidSchemaError(f"Invalid reference: {data!r}")
        name, subject, version = data.get("name"), data.get("subject"), data.get("version")
        if not isinstance(name, str) or not isinstance(subject, str) or isinstance(version, bool) \
                or not isinstance(version, int):
            raise InvalidSchemaError(f"Invalid reference: {data!r}")
        return cls(name, subject, version)


@dataclass(frozen=True)
class Schema:
    """A schema string of a type (missing: AVRO) with its references: what the registry stores
    under an id, what clients register. Confluent's `Schema(schema_str, schema_type, references)`."""

    schema_str: str
    schema_type: str = DEFAULT_SCHEMA_TYPE
    references: tuple[SchemaReference, ...] = ()

    def __post_init__(self):
        # Callers pass lists, as with Confluent's client; a tuple keeps the Schema hashable.
        object.__setattr__(self, "references", tuple(self.references or ()))
        object.__setattr__(self, "schema_type", self.schema_type or DEFAULT_SCHEMA_TYPE)

    def to_dict(self) -> dict:
        """The request body of the REST API (schemaType left out for AVRO, as clients send it)."""
        body: dict = {"schema": self.schema_str}
        if self.schema_type != DEFAULT_SCHEMA_TYPE:
            body["schemaType"] = self.schema_type
        if self.references:
            body["references"] = [r.to_dict() for r in self.references]
        return body

    @classmethod
    def from_dict(cls, body: dict) -> "Schema":
        """From a REST answer or request body; InvalidSchemaError if a reference is malformed."""
        return cls(body["schema"], body.get("schemaType") or DEFAULT_SCHEMA_TYPE,
                   tuple(SchemaReference.from_dict(r) for r in body.get("references") or ()))


class RecordMismatch(ValueError):
    """A value does not fit the schema (writing), or a payload does not decode with it (reading)."""


class Incompatibility(ABC):
    """One reason why a reader schema cannot read what a writer schema wrote."""

    @abstractmethod
    def render(self, reader: str, writer: str) -> str:
        """The message, naming the reader and the writer ("new"/"old") as Confluent does."""


class DifferentSchemaType(Incompatibility):
    """The writer is of another schema type: nothing of one format reads another."""

    def render(self, reader: str, writer: str) -> str:
        return "Incompatible because of different schema type"


class ParsedSchema(ABC):
    """A parsed, validated schema of one format."""

    schema_type: str = ""

    def __init__(self, references: Sequence[SchemaReference] = ()):
        self.references: tuple[SchemaReference, ...] = tuple(references)

    @abstractmethod
    def canonical_string(self) -> str:
        """The string the registry stores; two schemas with equal canonical strings are one schema."""

    @abstractmethod
    def normalize(self) -> "ParsedSchema":
        """The normalized form (`normalize=true`): a copy whose canonical string is normalized."""

    @abstractmethod
    def equivalent(self, other: "ParsedSchema") -> bool:
        """Same schema semantically, e.g. one sent with its references inlined."""

    @abstractmethod
    def reader_incompatibilities(self, writer: "ParsedSchema") -> list[Incompatibility]:
        """What prevents this schema (as reader) from reading data written with `writer`."""

    def formatted_string(self, fmt: str | None) -> str:
        """The schema in a requested `format`; unknown formats give the canonical string."""
        return self.canonical_string()

    def name(self) -> str | None:
        """The record name RecordNameStrategy uses: Avro's record full name, Protobuf's first
        message full name, JSON Schema's title; None when the schema has none."""
        return None

    # -- runtime: built once per schema, used per record ------------------------------------

    @abstractmethod
    def writer(self) -> Callable[..., bytes]:
        """A function `write(value, header=b"")` -> header + payload; raises RecordMismatch when
        the value does not fit. The header is written first so the record is built in one buffer."""

    @abstractmethod
    def reader(self, reader_schema: "ParsedSchema | None" = None) -> Callable[..., Any]:
        """A function `read(data, start=0)` -> the value of the payload at data[start:], written
        with this schema (read as `reader_schema` where the format resolves schemas); raises
        RecordMismatch when the payload does not decode. `start` spares a copy of the record."""

    @abstractmethod
    def validator(self) -> Callable[[Any], str | None]:
        """A function value -> None when it fits the schema, else the reason."""

    @abstractmethod
    def from_json(self, value: Any) -> Any:
        """The format's value for a plain JSON-compatible value (Avro's JSON encoding, Protobuf's
        JSON mapping, the document itself); raises RecordMismatch."""

    @abstractmethod
    def to_json(self, value: Any) -> Any:
        """The plain JSON-compatible form of a value the reader returned."""

    def __str__(self) -> str:
        return self.canonical_string()


class SchemaProvider(ABC):
    """Parses one schema type."""

    schema_type: str = ""

    @abstractmethod
    def parse(self, schema: str, references: Sequence[SchemaReference] = (),
              resolved: Mapping[str, str] | None = None, *, new: bool = True) -> ParsedSchema:
        """Parse `schema`.

        `resolved` maps each reference name (transitively, dependencies first) to the schema
        string it resolves to. `new` asks for the strict validation applied to schemas being
        registered (e.g. Avro default values); stored schemas are parsed leniently.
        Raises InvalidSchemaError.
        """
