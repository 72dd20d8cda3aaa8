"""Compatibility levels over any format: which previous schemas to check, in which direction.

BACKWARD: the new schema reads data written with the latest one; FORWARD: the latest reads data
written with the new one; FULL: both. The *_TRANSITIVE levels check every previous (non-deleted)
version, newest first, and stop at the first that fails. Messages follow Confluent's layout.
"""

from __future__ import annotations

from typing import Sequence

from formats import ParsedSchema

LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
          "FULL_TRANSITIVE")
DEFAULT_LEVEL = "BACKWARD"
DIFFERENT_SCHEMA_TYPE = "Incompatible because of different schema type"
_MAX_SCHEMA_IN_MESSAGE = 10 * 1024


def parse_level(value) -> str | None:
    """The level named by `value` (case-insensitive), or None if it names none."""
    if not isinstance(value, str):
        return None
    level = value.strip().upper()
    return level if level in LEVELS else None


def _describe_old(old: ParsedSchema, version: int | None) -> list[str]:
    out = [] if version is None else [f"{{oldSchemaVersion: {version}}}"]
    text = old.canonical_string()
    if len(text) <= _MAX_SCHEMA_IN_MESSAGE:
        out.append(f"{{oldSchema: '{text}'}}")
    else:
        out.append(f"{{oldSchema: <truncated> '{text[:_MAX_SCHEMA_IN_MESSAGE]}...'}}")
    return out


def _new_reads_old(new: ParsedSchema, old: ParsedSchema, version, describe: bool) -> list[str]:
    found = [d.render("new", "old") for d in new.reader_incompatibilities(old)]
    return found + _describe_old(old, version) if found and describe else found


def _old_reads_new(new: ParsedSchema, old: ParsedSchema, version, describe: bool) -> list[str]:
    found = [d.render("old", "new") for d in old.reader_incompatibilities(new)]
    return found + _describe_old(old, version) if found and describe else found


def _check_pair(direction: str, new: ParsedSchema, old: ParsedSchema, version) -> list[str]:
    if new.schema_type != old.schema_type:
        return [DIFFERENT_SCHEMA_TYPE]
    if direction == "BACKWARD":
        return _new_reads_old(new, old, version, True)
    if direction == "FORWARD":
        return _old_reads_new(new, old, version, True)
    return _old_reads_new(new, old, version, False) + _new_reads_old(new, old, version, True)


def check(level: str, new: ParsedSchema, previous: Sequence[tuple[int | None, ParsedSchema]]) -> list[str]:
    """Messages explaining why `new` breaks `level` against `previous` ((version, schema) pairs in
    chronological order); empty when compatible."""
    if level == "NONE" or not previous:
        return []
    direction, _, transitive = level.partition("_")
    candidates = list(reversed(previous)) if transitive else [previous[-1]]
    for version, old in candidates:
        messages = _check_pair(direction, new, old, version)
        if messages:
            return messages
    return []
