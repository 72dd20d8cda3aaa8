"""The registry's operations, with Confluent's semantics, over the state, the store and the election.

Reads come from the in-memory state. Writes are serialized by one lock, checked against the
state, written to `_schemas` and answered once read back (so the state already shows them).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Callable

from registry import compatibility, errors, records, rules
from formats import InvalidSchemaError, ParsedSchema, SchemaReference, provider, schema_types
from registry.inputs import SchemaRequest, check_subject, parse_version
from registry.state import Content, RegistryState, Version, identity
from registry.store import KafkaStore, StoreError

log = logging.getLogger("registry.service")

MODES = ("READWRITE", "READONLY", "IMPORT", "FORWARD")
CONFIG_REQUEST_FIELDS = ("alias", "aliasForDeks", "normalize", "validateFields", "validateNewSchemas",
                         "validateRules", "compatibilityPolicy", "compatibilityGroup", "defaultMetadata",
                         "overrideMetadata", "defaultRuleSet", "overrideRuleSet")
PARSED_CACHE_SIZE = 2048


def schema_key_text(subject: str, version: int) -> str:
    return f"{{magic=1,keytype=SCHEMA,subject={subject},version={version}}}"


class _ParsedCache:
    """Parsed stored schemas by id (parsing is the expensive part of compatibility checks)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[int, ParsedSchema] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, schema_id: int, load: Callable[[], ParsedSchema]) -> ParsedSchema:
        with self._lock:
            found = self._items.get(schema_id)
            if found is not None:
                self._items.move_to_end(schema_id)
                return found
        parsed = load()
        with self._lock:
            self._items[schema_id] = parsed
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return parsed


class SchemaRegistry:
    def __init__(self, state: RegistryState, store: KafkaStore | None, election, default_compatibility: str,
                 group_id: str = "schema-registry"):
        self.state = state
        self.store = store
        self.election = election
        self.default_compatibility = default_compatibility
        self.group_id = group_id
        self._write_lock = threading.Lock()
        self._parsed = _ParsedCache(PARSED_CACHE_SIZE)

    # ================================================================== shapes

    @staticmethod
    def _schema_fields(content: Content, out: dict) -> dict:
        if content.schema_type != "AVRO":
            out["schemaType"] = content.schema_type
        if content.references:
            out["references"] = content.references_json()
        if content.metadata:
            out["metadata"] = content.metadata
        if content.rule_set:
            out["ruleSet"] = content.rule_set
        out["schema"] = content.schema
        return out

    def _schema_entity(self, subject: str, version: int, entry: Version, fmt: str | None = None) -> dict:
        content = self.state.contents[entry.id]
        out = self._schema_fields(content, {"subject": subject, "version": version, "id": entry.id,
                                            "guid": content.guid})
        if fmt:
            out["schema"] = self._format(entry.id, content, fmt)
        if entry.deleted:
            out["deleted"] = True
        return out

    def _format(self, schema_id: int, content: Content, fmt: str) -> str:
        try:
            return self._stored_parsed(schema_id, content).formatted_string(fmt)
        except errors.RegistryError:
            return content.schema

    # ================================================================== parsing

    def _fetch_version(self, subject: str, version: int, allow_deleted: bool) -> tuple[int, Content] | None:
        if version == -1:
            latest = self._latest(subject)
            if latest is None:
                return None
            version, entry = latest
        else:
            entry = self.state.versions(subject).get(version)
            if entry is None or (entry.deleted and not allow_deleted):
                return None
        content = self.state.contents.get(entry.id)
        return (version, content) if content is not None else None

    def resolve_references(self, references, allow_deleted: bool) -> tuple[list[SchemaReference], dict[str, str]]:
        """Confluent's resolution: each reference's own references first, `-1` as the latest version."""
        resolved: dict[str, str] = {}
        visited: set[str] = set()
        pinned: list[SchemaReference] = []

        def walk(refs, top: bool):
            for ref in refs:
                found = self._fetch_version(ref.subject, ref.version, allow_deleted)
                if found is None:
                    raise errors.invalid_schema(f'Invalid schema, details: No schema reference found for subject '
                                                f'"{ref.subject}" and version {ref.version}')
                version, content = found
                if top:
                    pinned.append(SchemaReference(ref.name, ref.subject, version))
                if ref.name in visited:
                    continue
                visited.add(ref.name)
                if ref.name not in resolved:
                    walk(list(content.references), False)
                    resolved[ref.name] = content.schema

        walk(references, True)
        return pinned, resolved

    def parse_request(self, request: SchemaRequest, new: bool, normalize: bool,
                      allow_deleted_refs: bool = False) -> ParsedSchema:
        try:
            format_provider = provider(request.schema_type)
        except InvalidSchemaError as exc:
            raise errors.invalid_schema(str(exc)) from None
        references, resolved = self.resolve_references(request.references, allow_deleted_refs)
        try:
            parsed = format_provider.parse(request.schema, references, resolved, new=new)
        except InvalidSchemaError as exc:
            raise errors.invalid_schema(f"Invalid schema of type {request.schema_type}, details: {exc}") from None
        return parsed.normalize() if normalize else parsed

    def _stored_parsed(self, schema_id: int, content: Content) -> ParsedSchema:
        def load() -> ParsedSchema:
            refs = list(content.references)
            _, resolved = self.resolve_references(refs, allow_deleted=True)
            try:
                return provider(content.schema_type).parse(content.schema, refs, resolved, new=False)
            except InvalidSchemaError as exc:
                raise errors.invalid_schema(f"Stored schema {schema_id} does not parse: {exc}") from None
        return self._parsed.get(schema_id, load)

    # ================================================================== config and mode lookups

    def _config(self, subject: str | None) -> dict | None:
        return self.state.configs.get(subject)

    def config_in_scope(self, subject: str | None) -> dict:
        merged = dict(self.state.configs.get(None) or {})
        if subject is not None:
            merged.update(self.state.configs.get(subject) or {})
        if not merged.get("compatibilityLevel"):
            merged["compatibilityLevel"] = self.default_compatibility
        return merged

    def compatibility_level(self, subject: str | None) -> str:
        return self.config_in_scope(subject)["compatibilityLevel"]

    def mode_in_scope(self, subject: str | None) -> str:
        if subject is not None and subject in self.state.modes:
            return self.state.modes[subject]
        return self.state.modes.get(None, "READWRITE")

    def _normalize_default(self, subject: str, requested: bool) -> bool:
        return requested or bool(self.config_in_scope(subject).get("normalize"))

    # ================================================================== versions

    def _latest(self, subject: str) -> tuple[int, Version] | None:
        live = self.state.sorted_versions(subject, include_deleted=False)
        return live[-1] if live else None

    def _no_schema_error(self, subject: str, version: int, lookup_deleted: bool):
        if not self.state.has_subject(subject, lookup_deleted):
            return errors.subject_not_found(subject)
        return errors.version_not_found(version)

    def get_version(self, subject: str, version_text: str, lookup_deleted: bool = False,
                    fmt: str | None = None) -> dict:
        version = parse_version(version_text)
        if version == -1:
            found = self._latest(subject)
        else:
            entry = self.state.versions(subject).get(version)
            found = (version, entry) if entry is not None and (lookup_deleted or not entry.deleted) else None
        if found is None:
            raise self._no_schema_error(subject, version, lookup_deleted)
        return self._schema_entity(subject, found[0], found[1], fmt)

    def list_versions(self, subject: str, deleted: bool, deleted_only: bool, deleted_as_negative: bool,
                      offset: int = 0, limit: int = -1) -> list[int]:
        if not self.state.has_subject(subject, deleted or deleted_only):
            raise errors.subject_not_found(subject)
        out = []
        for version, entry in self.state.sorted_versions(subject, include_deleted=True):
            if deleted_as_negative:
                out.append(-version if entry.deleted else version)
            elif deleted_only:
                if entry.deleted:
                    out.append(version)
            elif deleted or not entry.deleted:
                out.append(version)
        return _page(out, offset, limit)

    def referenced_by(self, subject: str, version_text: str, lookup_deleted: bool = False,
                      offset: int = 0, limit: int = -1) -> list[int]:
        schema = self.get_version(subject, version_text, lookup_deleted=True)
        return _page(self._referencing_ids(subject, schema["version"], lookup_deleted), offset, limit)

    def _referencing_ids(self, subject: str, version: int, lookup_deleted: bool) -> list[int]:
        out = []
        for schema_id in sorted(self.state.referencing_ids(subject, version)):
            for ref_subject, ref_version in self.state.subject_versions_of(schema_id):
                entry = self.state.versions(ref_subject).get(ref_version)
                if entry is not None and (lookup_deleted or not entry.deleted):
                    out.append(schema_id)
                    break
        return out

    def _referencing_subjects(self, subject: str, version: int, lookup_deleted: bool) -> set[str]:
        out = set()
        for schema_id in self.state.referencing_ids(subject, version):
            for ref_subject, ref_version in self.state.subject_versions_of(schema_id):
                entry = self.state.versions(ref_subject).get(ref_version)
                if entry is not None and (lookup_deleted or not entry.deleted):
                    out.add(ref_subject)
        return out

    # ================================================================== schemas by id

    def get_by_id(self, schema_id: int, subject: str | None = None, fmt: str | None = None,
                  fetch_max_id: bool = False) -> dict:
        content = self.state.content(schema_id)
        located = self.state.any_version_of(schema_id, subject) if content is not None else None
        if content is None or located is None:
            raise errors.schema_not_found(schema_id)
        out: dict = {}
        if subject is not None:
            out["subject"], out["version"] = located
        out["guid"] = content.guid
        self._schema_fields(content, out)
        if fmt:
            out["schema"] = self._format(schema_id, content, fmt)
        if fetch_max_id:
            out["maxId"] = self.state.max_id
        return out

    def get_by_guid(self, wanted: str, fmt: str | None = None) -> dict:
        schema_id = self.state.id_for_guid(wanted)
        if schema_id is None:
            raise errors.schema_not_found(wanted)
        out = self.get_by_id(schema_id, fmt=fmt)
        return out

    def ids_for_guid(self, wanted: str) -> list[dict]:
        schema_id = self.state.id_for_guid(wanted)
        return [] if schema_id is None else [{"id": schema_id, "context": "."}]

    def subject_versions_for_id(self, schema_id: int, subject: str | None, deleted: bool) -> list[dict]:
        if self.state.content(schema_id) is None:
            raise errors.schema_not_found()
        out = []
        for name, version in self.state.subject_versions_of(schema_id):
            entry = self.state.versions(name).get(version)
            if entry is not None and (deleted or not entry.deleted) and (subject is None or name == subject):
                out.append({"subject": name, "version": version})
        return out

    def list_schemas(self, prefix: str, deleted: bool, latest_only: bool, rule_type: str | None,
                     offset: int, limit: int) -> list[dict]:
        out = []
        for subject, versions in self.state.iter_subject_versions(prefix):
            chosen = [(v, e) for v, e in versions if deleted or not e.deleted]
            if latest_only:
                chosen = chosen[-1:]
            for version, entry in chosen:
                content = self.state.contents.get(entry.id)
                if content is None:
                    continue
                if rule_type and not _has_rule_type(content.rule_set, rule_type):
                    continue
                out.append(self._schema_fields(content, {"subject": subject, "version": version, "id": entry.id,
                                                         "guid": content.guid}))
        return _page(out, offset, limit)

    def list_subjects(self, prefix: str, deleted: bool, deleted_only: bool, offset: int, limit: int) -> list[str]:
        out = []
        for subject, versions in self.state.iter_subject_versions(prefix):
            all_deleted = all(e.deleted for _, e in versions)
            if deleted_only:
                if all_deleted:
                    out.append(subject)
            elif deleted or not all_deleted:
                out.append(subject)
        return _page(out, offset, limit)

    def latest_with_metadata(self, subject: str, wanted: dict[str, str], lookup_deleted: bool,
                             fmt: str | None = None) -> dict:
        """The newest version whose metadata properties include every wanted key/value."""
        for version, entry in reversed(self.state.sorted_versions(subject, include_deleted=lookup_deleted)):
            content = self.state.contents.get(entry.id)
            properties = ((content.metadata or {}).get("properties") or {}) if content else {}
            if content is not None and all(properties.get(k) == v for k, v in wanted.items()):
                return self._schema_entity(subject, version, entry, fmt)
        if not self.state.has_subject(subject, lookup_deleted):
            raise errors.subject_not_found(subject)
        raise errors.schema_not_found()

    # ================================================================== lookup

    def lookup(self, subject: str, request: SchemaRequest, normalize: bool, lookup_deleted: bool) -> dict:
        normalize = self._normalize_default(subject, normalize)
        found = None
        if request.schema is not None and request.schema.strip():
            parsed = self.parse_request(request, new=False, normalize=normalize, allow_deleted_refs=True)
            found = self._find_in_subject(subject, parsed, request, lookup_deleted)
            if found is None and request.metadata is None and request.rule_set is None:
                latest = self._latest(subject)
                if latest is not None:
                    content = self.state.contents[latest[1].id]
                    if content.metadata or content.rule_set:
                        request = SchemaRequest(request.schema, request.schema_type, request.references,
                                                content.metadata, content.rule_set)
                        found = self._find_in_subject(subject, parsed, request, lookup_deleted)
        if found is None:
            if not self.state.has_subject(subject, lookup_deleted):
                raise errors.subject_not_found(subject)
            raise errors.schema_not_found()
        version, entry = found
        return self._schema_entity(subject, version, entry)

    def _find_in_subject(self, subject: str, parsed: ParsedSchema, request: SchemaRequest,
                         lookup_deleted: bool) -> tuple[int, Version] | None:
        key = identity(parsed.schema_type, parsed.canonical_string(),
                       tuple(parsed.references),
                       request.metadata, request.rule_set)
        schema_id = self.state.id_for(key)
        versions = self.state.versions(subject)
        if schema_id is not None:
            version = self.state.id_versions.get(schema_id, {}).get(subject)
            entry = versions.get(version) if version is not None else None
            if entry is not None and (lookup_deleted or not entry.deleted):
                return version, entry
        for version, entry in reversed(self.state.sorted_versions(subject, include_deleted=lookup_deleted)):
            if self._can_lookup(parsed, entry.id):
                return version, entry
        return None

    def _can_lookup(self, parsed: ParsedSchema, schema_id: int) -> bool:
        """A version matches a schema sent with its references inlined, or written differently."""
        content = self.state.contents.get(schema_id)
        if content is None or content.schema_type != parsed.schema_type:
            return False
        try:
            previous = self._stored_parsed(schema_id, content)
        except errors.RegistryError:
            return False
        same_refs = tuple(parsed.references) == tuple(previous.references)
        if not same_refs and not (not parsed.references and previous.references):
            return False
        return parsed.equivalent(previous)

    # ================================================================== register

    def register(self, subject: str, request: SchemaRequest, normalize: bool, force: bool = False) -> dict:
        check_subject(subject)
        rules.validate_rule_set(request.rule_set)
        with self._write_lock:
            self.election.check_writer()
            return self._register(subject, request, self._normalize_default(subject, normalize), force)

    def _check_register_mode(self, subject: str, request: SchemaRequest) -> str:
        mode = self.mode_in_scope(subject)
        if mode == "READONLY":
            raise errors.operation_not_permitted(f"Subject {subject} in context . is in read-only mode")
        explicit_id = request.schema_id is not None and request.schema_id >= 0
        if explicit_id and mode not in ("IMPORT", "FORWARD"):
            raise errors.operation_not_permitted(f"Subject {subject} in context . is not in import mode")
        if not explicit_id and mode != "READWRITE":
            raise errors.operation_not_permitted(f"Subject {subject} in context . is not in read-write mode")
        return mode

    def _register(self, subject: str, request: SchemaRequest, normalize: bool, force: bool) -> dict:
        mode = self._check_register_mode(subject, request)
        importing = mode in ("IMPORT", "FORWARD")
        all_versions = self.state.sorted_versions(subject, include_deleted=True)
        live = [(v, e) for v, e in all_versions if not e.deleted]
        new_version = max([v for v, _ in all_versions], default=0) + 1
        request = self._populate_from_previous(subject, request, live, importing)
        explicit_id = request.schema_id if request.schema_id is not None and request.schema_id >= 0 else None
        # IMPORT stores schemas as they come: no strict validation, no normalization (Confluent).
        parsed = self.parse_request(request, new=explicit_id is None, normalize=normalize and not importing,
                                    allow_deleted_refs=explicit_id is not None)
        refs = tuple(parsed.references)
        key = identity(parsed.schema_type, parsed.canonical_string(), refs, request.metadata, request.rule_set)
        wants_version = request.version not in (None, 0)

        existing_id = self.state.id_for(key)
        schema_id = explicit_id
        if existing_id is not None:
            registered_at = self.state.id_versions.get(existing_id, {}).get(subject)
            if explicit_id is not None and explicit_id != existing_id and registered_at is not None:
                raise errors.id_does_not_match(f"Schema already registered with id {existing_id} instead of "
                                               f"input id {explicit_id}")
            if explicit_id is None or explicit_id == existing_id:
                entry = self.state.versions(subject).get(registered_at) if registered_at is not None else None
                if not wants_version and entry is not None and not entry.deleted:
                    return self._register_answer(subject, registered_at, existing_id)
                schema_id = existing_id
        if not wants_version:
            for version, entry in reversed(live):
                if (explicit_id is None or explicit_id == entry.id) and self._can_lookup(parsed, entry.id):
                    return self._register_answer(subject, version, entry.id)

        if not importing and not force:
            self._check_compatibility(subject, parsed, live)
        version = request.version if wants_version else new_version
        if wants_version and version != new_version and not importing:
            raise errors.invalid_schema("Version is not one more than previous version")
        if schema_id is None:
            schema_id = self.state.max_id + 1
        elif explicit_id is not None:
            self._check_id_free(explicit_id, key)
        return self._write_version(subject, version, schema_id, parsed, request, all_versions, key)

    def _populate_from_previous(self, subject: str, request: SchemaRequest, live, importing: bool) -> SchemaRequest:
        previous = self.state.contents.get(live[-1][1].id) if live else None
        schema, schema_type, references = request.schema, request.schema_type, request.references
        if schema is None or not schema.strip():
            if previous is None:
                raise errors.invalid_schema("Empty schema")
            schema, schema_type = previous.schema, previous.schema_type
            references = list(previous.references)
        metadata, rule_set = request.metadata, request.rule_set
        if not importing:
            config = self.config_in_scope(subject)
            if metadata is None and previous is not None:
                metadata = previous.metadata
            if rule_set is None and previous is not None:
                rule_set = previous.rule_set
            metadata = rules.merge_metadata(rules.merge_metadata(config.get("defaultMetadata"), metadata),
                                            config.get("overrideMetadata"))
            rule_set = rules.merge_rule_sets(rules.merge_rule_sets(config.get("defaultRuleSet"), rule_set),
                                             config.get("overrideRuleSet"))
        return SchemaRequest(schema, schema_type, references, metadata, rule_set, request.schema_id, request.version)

    def _check_compatibility(self, subject: str, parsed: ParsedSchema, live) -> None:
        level = self.compatibility_level(subject)
        previous = [(v, self._stored_parsed(e.id, self.state.contents[e.id])) for v, e in live]
        messages = compatibility.check(level, parsed, previous)
        if messages:
            messages.append(f"{{validateFields: 'false', compatibility: '{level}'}}")
            raise errors.incompatible_schema(subject, messages)

    def _check_id_free(self, schema_id: int, key: tuple) -> None:
        content = self.state.contents.get(schema_id)
        if content is not None and content.key != key and schema_id in self.state.id_versions:
            raise errors.operation_not_permitted(f"Overwrite new schema with id {schema_id} in context . "
                                                 f"is not permitted.")

    def _write_version(self, subject: str, version: int, schema_id: int, parsed: ParsedSchema,
                       request: SchemaRequest, all_versions, key: tuple) -> dict:
        batch = []
        for old_version, entry in all_versions:
            # A soft-deleted earlier version of the same schema gives way to the new one (Confluent).
            if entry.deleted and entry.id == schema_id and old_version < version \
                    and not self._referencing_ids(subject, old_version, True):
                batch.append((records.schema_key(subject, old_version), None))
        refs = [r.to_dict() for r in parsed.references]
        value = records.schema_value(subject, version, schema_id, parsed.schema_type, refs, request.metadata,
                                     request.rule_set, parsed.canonical_string(), False)
        batch.append((records.schema_key(subject, version), value))
        self._write(batch, "Register schema operation failed while writing to the Kafka store",
                    "Register operation timed out")
        # What was read back is what every instance sees: if another writer's record got there first
        # (this id or this version taken by another schema), the registration did not happen.
        entry = self.state.versions(subject).get(version)
        content = self.state.contents.get(schema_id)
        if entry is None or entry.id != schema_id or content is None or content.key != key:
            taken = f"id {schema_id}" if entry is not None and entry.id == schema_id else \
                f"version {version} of subject '{subject}'"
            raise errors.store_error(f"Register schema operation failed: another registry instance wrote {taken} "
                                     f"concurrently; retry")
        return self._register_answer(subject, version, schema_id)

    def _register_answer(self, subject: str, version: int, schema_id: int) -> dict:
        content = self.state.contents[schema_id]
        return self._schema_fields(content, {"id": schema_id, "version": version, "guid": content.guid})

    # ================================================================== compatibility checks

    def test_compatibility(self, subject: str, version_text: str | None, request: SchemaRequest,
                           normalize: bool, verbose: bool) -> dict:
        if version_text is not None:
            version = parse_version(version_text)
            if version == -1:
                latest = self._latest(subject)
                previous = [latest] if latest else []
            else:
                entry = self.state.versions(subject).get(version)
                if entry is None or entry.deleted:
                    raise errors.version_not_found(version)
                previous = [(version, entry)]
        else:
            previous = self.state.sorted_versions(subject, include_deleted=False)
        normalize = self._normalize_default(subject, normalize)
        level = self.compatibility_level(subject)
        try:
            if request.schema is None or not request.schema.strip():
                raise errors.invalid_schema("Empty schema")
            parsed = self.parse_request(request, new=True, normalize=normalize)
            old = [(v, self._stored_parsed(e.id, self.state.contents[e.id])) for v, e in previous]
            messages = compatibility.check(level, parsed, old)
            if messages:
                messages.append(f"{{validateFields: 'false', compatibility: '{level}'}}")
        except errors.RegistryError as exc:
            if exc.error_code != 42201 or not verbose:
                raise
            messages = [exc.message]
        answer: dict = {"is_compatible": not messages}
        if verbose:
            answer["messages"] = messages
        return answer

    # ================================================================== deletes

    def delete_version(self, subject: str, version_text: str, permanent: bool) -> int:
        version = parse_version(version_text)
        with self._write_lock:
            if version != -1:
                entry = self.state.versions(subject).get(version)
                if entry is not None and entry.deleted and not permanent:
                    raise errors.version_soft_deleted(subject, version)
                found = (version, entry) if entry is not None else None
            else:
                found = self._latest(subject)
            if found is None:
                raise self._no_schema_error(subject, version, True)
            version, entry = found
            if self.mode_in_scope(subject) == "READONLY":
                raise errors.operation_not_permitted(f"Subject {subject} in context . is in read-only mode")
            self.election.check_writer()
            if self._referencing_ids(subject, version, permanent):
                raise errors.reference_exists(schema_key_text(subject, version))
            if permanent and not entry.deleted:
                raise errors.version_not_soft_deleted(subject, version)
            if not permanent:
                content = self.state.contents[entry.id]
                value = records.schema_value(subject, version, entry.id, content.schema_type,
                                             content.references_json(), content.metadata, content.rule_set,
                                             content.schema, True)
                batch = [(records.schema_key(subject, version), value)]
            else:
                batch = [(records.schema_key(subject, version), None)]
                if len(self.state.versions(subject)) == 1:
                    batch += self._subject_settings_tombstones(subject)
            self._write(batch, f"Error while deleting the schema for subject '{subject}' in the backend Kafka store",
                        "Delete schema version operation timed out")
            return version

    def _subject_settings_tombstones(self, subject: str) -> list:
        batch = []
        if subject in self.state.modes:
            batch.append((records.mode_key(subject), None))
        if subject in self.state.configs:
            batch.append((records.config_key(subject), None))
        return batch

    def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        with self._write_lock:
            if not self.state.has_subject(subject, True):
                raise errors.subject_not_found(subject)
            if not permanent and not self.state.has_subject(subject, False):
                raise errors.subject_soft_deleted(subject)
            if self.mode_in_scope(subject) == "READONLY":
                raise errors.operation_not_permitted(f"Subject {subject} in context . is in read-only mode")
            self.election.check_writer()
            targets = self.state.sorted_versions(subject, include_deleted=permanent)
            for version, entry in targets:
                referrers = self._referencing_subjects(subject, version, permanent) - {subject}
                if referrers:
                    raise errors.reference_exists(schema_key_text(subject, version))
                if permanent and not entry.deleted:
                    raise errors.subject_not_soft_deleted(subject)
            versions = [v for v, _ in targets]
            if not permanent:
                batch = [(records.delete_subject_key(subject), records.delete_subject_value(subject, versions[-1]))]
            else:
                batch = [(records.schema_key(subject, v), None) for v in reversed(versions)]
                batch += self._subject_settings_tombstones(subject)
            self._write(batch, "Error while deleting the subject in the backend Kafka store",
                        "Delete subject operation timed out")
            return versions

    # ================================================================== config

    def get_config(self, subject: str | None, default_to_global: bool) -> dict:
        if subject is None:
            config = self.config_in_scope(None) if default_to_global else dict(self._config(None) or {})
        elif default_to_global:
            config = self.config_in_scope(subject)
        else:
            config = self._config(subject)
            if config is None:
                raise errors.subject_compatibility_not_configured(subject)
            config = dict(config)
        if not config.get("compatibilityLevel"):
            config["compatibilityLevel"] = self.default_compatibility
        return _config_answer(config, "compatibilityLevel")

    def set_config(self, subject: str | None, body: dict) -> dict:
        if subject is not None:
            check_subject(subject)
        update = _config_update(body)
        for name in ("defaultRuleSet", "overrideRuleSet"):
            rules.validate_rule_set(update.get(name))
        with self._write_lock:
            if self.mode_in_scope(subject) == "READONLY":
                raise errors.operation_not_permitted(f"Subject {subject} in context . is in read-only mode")
            self.election.check_writer()
            merged = dict(self._config(subject) or {})
            merged.update(update)
            merged = {k: v for k, v in merged.items() if v is not None}
            self._write([(records.config_key(subject), records.config_value(subject, merged))],
                        "Failed to update compatibility level", "Update config operation timed out")
            answer = {"compatibility": merged.get("compatibilityLevel")} if merged.get("compatibilityLevel") else {}
            answer.update(_config_answer(merged, None))
            return answer

    def delete_config(self, subject: str | None) -> dict:
        with self._write_lock:
            if self.mode_in_scope(subject) == "READONLY":
                raise errors.operation_not_permitted(f"Subject {subject} in context . is in read-only mode")
            previous = self._config(subject)
            if subject is not None and previous is None:
                raise errors.subject_not_found(subject)
            self.election.check_writer()
            self._write([(records.config_key(subject), None)], "Failed to delete compatibility level",
                        "Delete config operation timed out")
            answer = dict(previous or {})
            if subject is None and not answer.get("compatibilityLevel"):
                answer["compatibilityLevel"] = self.default_compatibility
            return _config_answer(answer, "compatibilityLevel")

    # ================================================================== mode

    def get_mode(self, subject: str | None, default_to_global: bool) -> dict:
        if subject is None or default_to_global:
            return {"mode": self.mode_in_scope(subject)}
        mode = self.state.modes.get(subject)
        if mode is None:
            raise errors.subject_mode_not_configured(subject)
        return {"mode": mode}

    def set_mode(self, subject: str | None, body, force: bool) -> dict:
        if subject is not None:
            check_subject(subject)
        if not isinstance(body, dict):
            raise errors.bad_request("Cannot deserialize the request body: expected a JSON object")
        mode = body.get("mode")
        if not isinstance(mode, str) or mode.strip().upper() not in MODES:
            raise errors.invalid_mode()
        mode = mode.strip().upper()
        if mode == "FORWARD" and subject is not None:
            raise errors.invalid_mode("Forward mode only supported on global level")
        with self._write_lock:
            self.election.check_writer()
            batch = []
            if mode == "IMPORT" and self.mode_in_scope(subject) != "IMPORT" and not force:
                batch = self._prepare_import(subject)
            batch.append((records.mode_key(subject), records.mode_value(subject, mode)))
            self._write(batch, "Failed to update mode", "Update mode operation timed out")
        return {"mode": mode}

    def _prepare_import(self, subject: str | None) -> list:
        """IMPORT needs an empty (sub)registry: refuse live subjects, hard-delete soft-deleted ones."""
        names = [subject] if subject is not None else self.state.subject_names()
        if any(self.state.has_subject(name, False) for name in names):
            raise errors.operation_not_permitted("Cannot import since found existing subjects")
        batch = []
        for name in names:
            for version, _ in self.state.sorted_versions(name, include_deleted=True):
                if self._referencing_ids(name, version, True):
                    raise errors.reference_exists(schema_key_text(name, version))
                batch.append((records.schema_key(name, version), None))
        batch.append((records.clear_subject_key(subject), records.clear_subject_value(subject)))
        return batch

    def delete_mode(self, subject: str | None) -> dict:
        with self._write_lock:
            previous = self.state.modes.get(subject)
            if subject is not None and previous is None:
                raise errors.subject_not_found(subject)
            self.election.check_writer()
            self._write([(records.mode_key(subject), None)], "Failed to delete mode", "Delete mode operation timed out")
        return {"mode": previous or "READWRITE"}

    # ================================================================== misc

    def schema_types(self) -> list[str]:
        return schema_types()

    def cluster_id(self) -> dict:
        kafka_cluster = (self.store.cluster_id if self.store is not None else None) or ""
        return {"id": "", "scope": {"path": [], "clusters": {"kafka-cluster": kafka_cluster,
                                                             "schema-registry-cluster": self.group_id}}}

    # ================================================================== writing

    def _write(self, batch: list, store_message: str, timeout_message: str) -> None:
        try:
            self.store.write_many(batch)
        except StoreError as exc:
            if exc.timeout:
                raise errors.timeout_error(f"{timeout_message}: {exc}") from None
            raise errors.store_error(f"{store_message}: {exc}") from None


def _page(items: list, offset: int, limit: int) -> list:
    offset = max(0, offset)
    return items[offset:offset + limit] if limit > 0 else items[offset:]


def _has_rule_type(rule_set: dict | None, rule_type: str) -> bool:
    if not rule_set:
        return False
    return any(isinstance(r, dict) and r.get("type") == rule_type
               for group in ("migrationRules", "domainRules", "encodingRules") for r in rule_set.get(group) or [])


def _config_update(body) -> dict:
    if not isinstance(body, dict):
        raise errors.bad_request("Cannot deserialize the request body: expected a JSON object")
    update: dict = {}
    level_given = "compatibility" in body or "compatibilityLevel" in body
    if level_given:
        raw = body.get("compatibility", body.get("compatibilityLevel"))
        if raw is not None:
            level = compatibility.parse_level(raw)
            if level is None:
                raise errors.invalid_compatibility(raw)
            update["compatibilityLevel"] = level
        else:
            update["compatibilityLevel"] = None
    for name in CONFIG_REQUEST_FIELDS:
        if name in body:
            value = body[name]
            if name in ("defaultMetadata", "overrideMetadata"):
                value = rules.normalize_metadata(value)
            elif name in ("defaultRuleSet", "overrideRuleSet"):
                value = rules.normalize_rule_set(value)
            if name in ("normalize", "validateFields", "validateNewSchemas", "validateRules") \
                    and value is not None and not isinstance(value, bool):
                raise errors.bad_request(f"Cannot deserialize value of type `java.lang.Boolean` for field '{name}'")
            update[name] = value
    return update


def _config_answer(config: dict, level_name: str | None) -> dict:
    out = {}
    if level_name and config.get("compatibilityLevel"):
        out[level_name] = config["compatibilityLevel"]
    for name in CONFIG_REQUEST_FIELDS:
        if config.get(name) is not None:
            out[name] = config[name]
    return out
