"""Request bodies and parameters, read the way Confluent's server reads them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from registry import errors, rules
from formats import SchemaReference

MAX_VERSION = 2**31 - 1
_VERSION = re.compile(r"[+-]?\d+\Z")
RESERVED_SUBJECTS = ("__GLOBAL", "__EMPTY")


def parse_version(text: str) -> int:
    """A path `{version}`: 1..2^31-1, `latest` or -1 (both -1); anything else is 42202."""
    stripped = text.strip() if isinstance(text, str) else ""
    if stripped.lower() == "latest":
        return -1
    if not _VERSION.match(stripped):
        raise errors.invalid_version(text)
    version = int(stripped)
    if version == -1 or 1 <= version <= MAX_VERSION:
        return version
    raise errors.invalid_version(text)


def parse_bool(value: str | None, default: bool = False) -> bool:
    """Query booleans: `true` in any case is true (clients send `True`); anything else is false."""
    if value is None:
        return default
    return value.strip().lower() == "true"


def parse_int(value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value.strip())
    except ValueError:
        raise errors.bad_request(f"Cannot parse '{value}' as an integer") from None


def has_control_chars(subject: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in subject)


def check_subject(subject: str) -> str:
    """Subjects that may be written to: no control characters, not empty, not reserved (42208)."""
    if not subject or has_control_chars(subject) or subject in RESERVED_SUBJECTS:
        raise errors.invalid_subject(subject)
    return subject


def _typed(body: dict, name: str, kind: type, what: str):
    value = body.get(name)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise errors.bad_request(f"Cannot deserialize value of type `{what}` for field '{name}'")
    return value


@dataclass
class SchemaRequest:
    """RegisterSchemaRequest: the body of register, lookup and compatibility calls."""

    schema: str | None
    schema_type: str
    references: list[SchemaReference] = field(default_factory=list)
    metadata: dict | None = None
    rule_set: dict | None = None
    schema_id: int | None = None
    version: int | None = None

    @classmethod
    def from_body(cls, body) -> "SchemaRequest":
        if body is None:
            raise errors.RegistryError(422, 422, "The request body must be a JSON object with a \"schema\" field")
        if not isinstance(body, dict):
            raise errors.bad_request("Cannot deserialize the request body: expected a JSON object")
        schema = body.get("schema")
        if isinstance(schema, (int, float)) and not isinstance(schema, bool):
            schema = str(schema)  # Jackson coerces scalars to strings
        elif schema is not None and not isinstance(schema, str):
            raise errors.bad_request("Cannot deserialize value of type `java.lang.String` for field 'schema'")
        schema_type = _typed(body, "schemaType", str, "java.lang.String") or "AVRO"
        refs = body.get("references") or []
        if not isinstance(refs, list):
            raise errors.bad_request("Cannot deserialize value of type `java.util.List` for field 'references'")
        references = []
        for ref in refs:
            try:
                references.append(SchemaReference.from_dict(ref))
            except ValueError as exc:
                raise errors.invalid_schema(str(exc)) from None
        metadata = rules.normalize_metadata(body.get("metadata"))
        rule_set = rules.normalize_rule_set(body.get("ruleSet"))
        schema_id = _typed(body, "id", int, "java.lang.Integer")
        version = _typed(body, "version", int, "java.lang.Integer")
        return cls(schema, schema_type.upper() if schema_type else "AVRO", references, metadata or None,
                   rule_set or None, schema_id, version)


def json_object(body) -> dict:
    if not isinstance(body, dict):
        raise errors.bad_request("Cannot deserialize the request body: expected a JSON object")
    return body
