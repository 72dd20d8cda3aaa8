"""Keys and values of the `_schemas` topic, in Confluent Schema Registry's exact JSON layout.

Compaction keys on the key bytes, so a key is always serialized the same way: compact JSON with
Confluent's field order (keytype, subject, [version,] magic), the subject left out when absent
(global config and mode). Values use Confluent's field order and leave out empty fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SCHEMA, CONFIG, MODE = "SCHEMA", "CONFIG", "MODE"
DELETE_SUBJECT, CLEAR_SUBJECT, NOOP = "DELETE_SUBJECT", "CLEAR_SUBJECT", "NOOP"
KEY_TYPES = (SCHEMA, CONFIG, MODE, DELETE_SUBJECT, CLEAR_SUBJECT, NOOP)

# ConfigValue's fields in Confluent's serialization order (after "subject").
CONFIG_FIELDS = ("alias", "aliasForDeks", "normalize", "validateFields", "validateNewSchemas", "validateRules",
                 "compatibilityLevel", "compatibilityPolicy", "compatibilityGroup", "defaultMetadata",
                 "overrideMetadata", "defaultRuleSet", "overrideRuleSet")


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


# --------------------------------------------------------------------------- keys

def schema_key(subject: str, version: int) -> bytes:
    return _dumps({"keytype": SCHEMA, "subject": subject, "version": version, "magic": 1})


def _subject_key(keytype: str, subject: str | None) -> bytes:
    key = {"keytype": keytype}
    if subject:
        key["subject"] = subject
    key["magic"] = 0
    return _dumps(key)


def config_key(subject: str | None) -> bytes:
    return _subject_key(CONFIG, subject)


def mode_key(subject: str | None) -> bytes:
    return _subject_key(MODE, subject)


def delete_subject_key(subject: str) -> bytes:
    return _subject_key(DELETE_SUBJECT, subject)


def clear_subject_key(subject: str | None) -> bytes:
    return _subject_key(CLEAR_SUBJECT, subject)


def noop_key() -> bytes:
    return _dumps({"keytype": NOOP, "magic": 0})


# --------------------------------------------------------------------------- values

def schema_value(subject: str, version: int, schema_id: int, schema_type: str, references: list[dict],
                 metadata: dict | None, rule_set: dict | None, schema: str, deleted: bool) -> bytes:
    value = {"subject": subject, "version": version, "id": schema_id, "schemaType": schema_type or "AVRO"}
    if references:
        value["references"] = references
    if not _empty(metadata):
        value["metadata"] = metadata
    if not _empty(rule_set):
        value["ruleSet"] = rule_set
    value["schema"] = schema
    value["deleted"] = bool(deleted)
    return _dumps(value)


def config_value(subject: str | None, config: dict) -> bytes:
    value = {"subject": subject} if subject else {}
    for name in CONFIG_FIELDS:
        if not _empty(config.get(name)):
            value[name] = config[name]
    return _dumps(value)


def mode_value(subject: str | None, mode: str) -> bytes:
    value = {"subject": subject} if subject else {}
    value["mode"] = mode
    return _dumps(value)


def delete_subject_value(subject: str, version: int) -> bytes:
    return _dumps({"subject": subject, "version": version})


def clear_subject_value(subject: str | None) -> bytes:
    return _dumps({"subject": subject} if subject else {})


# --------------------------------------------------------------------------- decoding

class RecordError(ValueError):
    """A `_schemas` record that cannot be understood (logged and skipped by the reader)."""


@dataclass
class Record:
    keytype: str
    subject: str | None
    version: int | None
    value: dict | None  # None: tombstone (or NOOP)


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{what} is not an integer: {value!r}")
    return value


def decode(key: bytes | None, value: bytes | None) -> Record | None:
    """The record, or None for a keytype this registry does not use (e.g. contexts, associations)."""
    if key is None:
        raise RecordError("record without a key")
    try:
        key_obj = json.loads(key)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"key is not JSON: {exc}") from None
    if not isinstance(key_obj, dict):
        raise RecordError("key is not a JSON object")
    keytype = key_obj.get("keytype")
    if keytype not in KEY_TYPES:
        return None
    subject = key_obj.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise RecordError(f"subject is not a string: {subject!r}")
    version = _int(key_obj["version"], "version") if keytype == SCHEMA else None
    if keytype == SCHEMA and (subject is None or version is None):
        raise RecordError("SCHEMA key without subject or version")
    value_obj = None
    if value is not None:
        try:
            value_obj = json.loads(value)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RecordError(f"value is not JSON: {exc}") from None
        if value_obj is not None and not isinstance(value_obj, dict):
            raise RecordError("value is not a JSON object")
    return Record(keytype, subject, version, value_obj)
