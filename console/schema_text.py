"""Schemas as people read them: pretty-printed, compared line by line, and the registry's
compatibility messages split into the fields they are about."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass

from formats import SchemaReference


def pretty(schema_str: str, schema_type: str) -> str:
    """Avro and JSON Schema indented (the registry keeps them compact); Protobuf as written."""
    if schema_type == "PROTOBUF":
        return schema_str
    try:
        return json.dumps(json.loads(schema_str), indent=2, ensure_ascii=False)
    except ValueError:
        return schema_str


@dataclass(frozen=True)
class DiffRow:
    """One line of a side-by-side diff; a number is None where that side has no line.
    `kind`: equal, replace, delete (left only) or insert (right only)."""
    kind: str
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def side_by_side(left: str, right: str) -> list[DiffRow]:
    """difflib's opcodes laid out as rows: changed lines face each other, added or removed lines face
    an empty cell."""
    a, b = left.splitlines(), right.splitlines()
    rows = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            has_left, has_right = i < i2, j < j2
            if has_left and has_right:
                kind = tag  # equal or replace
            else:
                kind = "delete" if has_left else "insert"
            rows.append(DiffRow(kind, i + 1 if has_left else None, a[i] if has_left else "",
                                j + 1 if has_right else None, b[j] if has_right else ""))
    return rows


@dataclass(frozen=True)
class CompatibilityError:
    """One of the registry's messages about an incompatibility: `field` is the path (or the field
    name) it names, `message` the registry's text as it gave it."""
    error_type: str
    field: str
    description: str
    message: str


_ERROR_TYPE = re.compile(r"""errorType:\s*['"]([A-Z_0-9]+)['"]""")
_DESCRIPTION = re.compile(r"""description:\s*['"](.*?)['"](?:,\s*additionalInfo|\s*\}$)""", re.S)
_ADDITIONAL = re.compile(r"""additionalInfo:\s*'(.*)'\}$""", re.S)
_PATH = re.compile(r"""path '([^']*)'""")


def split_messages(messages: list[str]) -> tuple[list[CompatibilityError], list[str]]:
    """The registry's verbose messages as (per-field errors, the rest: which old version and
    level they were checked against, or why the schema did not parse)."""
    errors, context = [], []
    for message in messages:
        error_type = _ERROR_TYPE.search(message)
        if error_type is None:
            context.append(message)
            continue
        description = _DESCRIPTION.search(message)
        text = description.group(1) if description else message
        path = _PATH.search(text)
        additional = _ADDITIONAL.search(message)
        # Avro names the field in additionalInfo when it is a field name (a missing default);
        # otherwise the path in the description is the field's location.
        field = path.group(1) if path else ""
        if additional and additional.group(1) and error_type.group(1) == "READER_FIELD_MISSING_DEFAULT_VALUE":
            field = f"{field} ({additional.group(1)})" if field else additional.group(1)
        errors.append(CompatibilityError(error_type.group(1), field, text, message))
    return errors, context


def parse_references(text: str) -> list[SchemaReference]:
    """References typed one a line as name=subject:version (the CLI's --reference form);
    ValueError naming the line that is not."""
    refs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        name, eq, target = line.partition("=")
        subject, colon, version = target.rpartition(":")
        if not (eq and colon and name.strip() and subject.strip() and version.strip().isdigit()):
            raise ValueError(f"line {number}: expected name=subject:version, got {line!r}")
        refs.append(SchemaReference(name.strip(), subject.strip(), int(version)))
    return refs
