"""The format interface shared by the registry and the serdes: one provider per schema type.

A provider turns a schema string (plus the schemas its references resolve to) into a
ParsedSchema, which knows its canonical string (what the registry stores and compares), its
normalized form, whether it is equivalent to another schema, and whether it can read data
written with another schema (the building block of every compatibility level).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Mapping, Sequence


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


class Incompatibility(ABC):
    """One reason why a reader schema cannot read what a writer schema wrote."""

    @abstractmethod
    def render(self, reader: str, writer: str) -> str:
        """The message, naming the reader and the writer ("new"/"old") as Confluent does."""


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
        """The schema's main name (record full name for Avro), if it has one."""
        return None

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
