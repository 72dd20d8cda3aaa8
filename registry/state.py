"""The registry's in-memory state, built only by applying `_schemas` records in order.

Memory grows with distinct schemas, not with the subjects that share them: each distinct schema
(type, string, references, metadata, rule set) is held once as a Content; a subject version is a
small (id, deleted) pair pointing at it.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Iterator

from formats import SchemaReference
from registry import records
from registry.records import Record, RecordError
from registry.rules import guid

log = logging.getLogger("registry.state")


def _canonical_json(obj) -> str:
    return "" if obj is None else json.dumps(obj, sort_keys=True, separators=(",", ":"))


class Content:
    """One distinct schema: everything that makes up its identity."""

    __slots__ = ("schema_type", "schema", "references", "metadata", "rule_set", "key", "_guid")

    def __init__(self, schema_type: str, schema: str, references: tuple[SchemaReference, ...], metadata, rule_set):
        self.schema_type = schema_type
        self.schema = schema
        self.references = references  # tuple of SchemaReference
        self.metadata = metadata or None
        self.rule_set = rule_set or None
        self.key = identity(schema_type, schema, references, self.metadata, self.rule_set)
        self._guid: str | None = None

    @property
    def guid(self) -> str:
        if self._guid is None:
            self._guid = guid(self.schema, self.references, self.metadata, self.rule_set)
        return self._guid

    def references_json(self) -> list[dict]:
        return [r.to_dict() for r in self.references]


def identity(schema_type: str, schema: str, references: tuple, metadata, rule_set) -> tuple:
    """What makes two registrations the same schema (and so the same id)."""
    return (schema_type or "AVRO", schema, tuple(references), _canonical_json(metadata or None),
            _canonical_json(rule_set or None))


class Version:
    __slots__ = ("id", "deleted")

    def __init__(self, schema_id: int, deleted: bool):
        self.id = schema_id
        self.deleted = deleted


class RegistryState:
    """Ids, subjects, versions, configs, modes and deletions, as the topic says they are."""

    def __init__(self):
        self.lock = threading.RLock()
        self.contents: dict[int, Content] = {}
        self.ids_by_key: dict[tuple, int] = {}
        self.id_versions: dict[int, dict[str, int]] = {}  # id -> {subject: version}
        self.subjects: dict[str, dict[int, Version]] = {}
        self.configs: dict[str | None, dict] = {}
        self.modes: dict[str | None, str] = {}
        self.referenced_by: dict[tuple[str, int], set[int]] = {}
        self.max_id = 0
        self.generation = 0  # bumped on every change; lets readers cache derived answers
        self.skipped = 0

    # ------------------------------------------------------------------ applying records

    def apply(self, key: bytes | None, value: bytes | None, offset: int = -1) -> None:
        """Apply one `_schemas` record; a record that cannot be understood is logged and skipped."""
        try:
            record = records.decode(key, value)
            if record is None:
                return
            if record.keytype == records.NOOP:
                return
            with self.lock:
                self._apply(record)
                self.generation += 1
        except (RecordError, KeyError, TypeError, ValueError) as exc:
            self.skipped += 1
            log.warning("skipping unreadable _schemas record at offset %s (%s): key=%r", offset, exc,
                        (key or b"")[:200])

    def _apply(self, record: Record) -> None:
        kind, value = record.keytype, record.value
        if kind == records.SCHEMA:
            if value is None:
                self._remove_version(record.subject, record.version)
            else:
                self._put_version(record.subject, record.version, value)
        elif kind == records.CONFIG:
            if value is None:
                self.configs.pop(record.subject, None)
            else:
                self.configs[record.subject] = {k: v for k, v in value.items() if k != "subject"}
        elif kind == records.MODE:
            if value is None:
                self.modes.pop(record.subject, None)
            else:
                mode = value.get("mode")
                if not isinstance(mode, str):
                    raise RecordError(f"MODE value without a mode: {value!r}")
                self.modes[record.subject] = mode
        elif kind == records.DELETE_SUBJECT and value is not None:
            upto = value.get("version")
            if isinstance(upto, bool) or not isinstance(upto, int):
                raise RecordError(f"DELETE_SUBJECT without a version: {value!r}")
            for version, entry in self.subjects.get(record.subject, {}).items():
                if version <= upto:
                    entry.deleted = True
        elif kind == records.CLEAR_SUBJECT and value is not None:
            self._clear_deleted(record.subject)

    def _put_version(self, subject: str, version: int, value: dict) -> None:
        subject = sys.intern(subject)  # one string per subject, however many versions and ids use it
        schema_id, schema = value.get("id"), value.get("schema")
        if isinstance(schema_id, bool) or not isinstance(schema_id, int) or schema_id < 0:
            raise RecordError(f"SCHEMA value with an invalid id: {schema_id!r}")
        if not isinstance(schema, str):
            raise RecordError("SCHEMA value without a schema string")
        refs = value.get("references") or []
        if not isinstance(refs, list):
            raise RecordError("references is not a list")
        references = tuple(SchemaReference(r["name"], r["subject"], int(r["version"])) for r in refs)
        content = Content(value.get("schemaType") or "AVRO", schema, references, value.get("metadata"),
                          value.get("ruleSet"))
        existing = self.contents.get(schema_id)
        if existing is not None and existing.key != content.key:
            # Confluent's rule: an id never changes meaning; a conflicting record is ignored.
            log.error("ignoring _schemas record for %s version %s: id %s already belongs to another schema",
                      subject, version, schema_id)
            return
        if existing is None:
            shared_id = self.ids_by_key.get(content.key)
            shared = self.contents.get(shared_id) if shared_id is not None else None
            self.contents[schema_id] = shared if shared is not None else content
            content = self.contents[schema_id]
        else:
            content = existing
        self._remove_version(subject, version)
        self.ids_by_key[content.key] = schema_id
        self.subjects.setdefault(subject, {})[version] = Version(schema_id, bool(value.get("deleted", False)))
        self.id_versions.setdefault(schema_id, {})[subject] = version
        for ref in content.references:
            self.referenced_by.setdefault((ref.subject, ref.version), set()).add(schema_id)
        if schema_id > self.max_id:
            self.max_id = schema_id

    def _remove_version(self, subject: str, version: int) -> None:
        versions = self.subjects.get(subject)
        entry = versions.pop(version, None) if versions is not None else None
        if entry is None:
            return
        if not versions:
            del self.subjects[subject]
        by_subject = self.id_versions.get(entry.id)
        if by_subject is not None and by_subject.get(subject) == version:
            del by_subject[subject]
            if not by_subject:
                del self.id_versions[entry.id]
        content = self.contents.get(entry.id)
        if content is not None:
            for ref in content.references:
                ids = self.referenced_by.get((ref.subject, ref.version))
                if ids is not None and not self._still_references(entry.id):
                    ids.discard(entry.id)
                    if not ids:
                        del self.referenced_by[(ref.subject, ref.version)]

    def _still_references(self, schema_id: int) -> bool:
        return bool(self.id_versions.get(schema_id))

    def _clear_deleted(self, subject: str | None) -> None:
        for name in list(self.subjects):
            if subject is not None and name != subject:
                continue
            for version, entry in list(self.subjects.get(name, {}).items()):
                if entry.deleted:
                    self._remove_version(name, version)

    # ------------------------------------------------------------------ queries (callers hold no lock
    # for single lookups; iterations take the lock)

    def versions(self, subject: str) -> dict[int, Version]:
        return self.subjects.get(subject, {})

    def sorted_versions(self, subject: str, include_deleted: bool) -> list[tuple[int, Version]]:
        with self.lock:
            items = sorted(self.subjects.get(subject, {}).items())
        return [(v, e) for v, e in items if include_deleted or not e.deleted]

    def has_subject(self, subject: str, include_deleted: bool) -> bool:
        versions = self.subjects.get(subject)
        if not versions:
            return False
        with self.lock:
            return include_deleted or any(not e.deleted for e in versions.values())

    def subject_names(self) -> list[str]:
        with self.lock:
            return sorted(self.subjects)

    def iter_subject_versions(self, prefix: str = "") -> Iterator[tuple[str, list[tuple[int, Version]]]]:
        for name in self.subject_names():
            if name.startswith(prefix):
                yield name, self.sorted_versions(name, True)

    def content(self, schema_id: int) -> Content | None:
        """The schema of `id` while some version (deleted or not) still points at it."""
        if schema_id not in self.id_versions:
            return None
        return self.contents.get(schema_id)

    def any_version_of(self, schema_id: int, subject: str | None = None) -> tuple[str, int] | None:
        with self.lock:
            by_subject = self.id_versions.get(schema_id)
            if not by_subject:
                return None
            if subject is not None and subject in by_subject:
                return subject, by_subject[subject]
            name = next(iter(by_subject))
            return name, by_subject[name]

    def subject_versions_of(self, schema_id: int) -> list[tuple[str, int]]:
        with self.lock:
            return sorted(self.id_versions.get(schema_id, {}).items())

    def referencing_ids(self, subject: str, version: int) -> set[int]:
        with self.lock:
            return set(self.referenced_by.get((subject, version), ()))

    def id_for(self, key: tuple) -> int | None:
        return self.ids_by_key.get(key)

    def id_for_guid(self, wanted: str) -> int | None:
        """Guids are derived on demand (an index would cost memory on every start)."""
        with self.lock:
            for schema_id in sorted(self.id_versions):
                content = self.contents.get(schema_id)
                if content is not None and content.guid == wanted:
                    return schema_id
        return None
