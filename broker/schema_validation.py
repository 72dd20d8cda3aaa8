"""Schema-governed topics: the broker checks produced records against the registry.

Topic configs with Confluent Server's names: `confluent.value.schema.validation` and
`confluent.key.schema.validation` (true/false), `confluent.value.subject.name.strategy`
and `confluent.key.subject.name.strategy` (TopicNameStrategy, RecordNameStrategy,
TopicRecordNameStrategy), plus `schemabus.schema.validation.mode`: `id` (the record is in
the wire format with an id registered under its subject) or `payload` (also decode the
payload against that schema).

Registry calls run in a thread pool, never on the event loop, with short timeouts, and
their answers are cached (positively and negatively). When the registry cannot be reached
the check raises RegistryUnavailable: the produce gets a retriable error and nothing of
the batch is appended (fail closed). Ungoverned topics never reach this module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from broker import records, recordscan
from formats import RecordMismatch, Schema
from formats.wire import HEADER_SIZE
from registry_client import SchemaRegistryClient, SchemaRegistryError, parse_schema

log = logging.getLogger("schemabus.validation")

VALUE, KEY = "value", "key"
# How long registry answers are trusted. A failed check ("id not under this subject")
# refetches sooner, so a schema registered a moment ago is accepted at once.
POSITIVE_TTL_S = 60.0
RECHECK_AFTER_S = 1.0


class RegistryUnavailable(Exception):
    """The registry did not answer: the produce must be retried, not refused."""


@dataclass(frozen=True)
class FieldRule:
    field: str  # "key" or "value"
    strategy: str  # short Confluent strategy name
    payload: bool  # also validate the payload against the schema


def rules_for(topic_value) -> list[FieldRule]:
    """The validation rules of a topic, from its effective configs (empty = ungoverned)."""
    rules = []
    payload = topic_value("schemabus.schema.validation.mode") == "payload"
    for field in (KEY, VALUE):
        if topic_value(f"confluent.{field}.schema.validation"):
            strategy = str(topic_value(f"confluent.{field}.subject.name.strategy")).rsplit(".", 1)[-1]
            rules.append(FieldRule(field, strategy, payload))
    return rules


@dataclass
class _Cached:
    value: object
    fetched: float


# Confluent Server's names for its registry client -> the registry client's own.
_CLIENT_SETTINGS = {
    "confluent.basic.auth.credentials.source": "basic.auth.credentials.source",
    "confluent.basic.auth.user.info": "basic.auth.user.info",
    "confluent.bearer.auth.credentials.source": "bearer.auth.credentials.source",
    "confluent.bearer.auth.token": "bearer.auth.token",
    "confluent.ssl.truststore.location": "ssl.ca.location",
    "confluent.ssl.key.password": "ssl.key.password",
}


def client_settings(config) -> dict:
    """The registry client settings in a broker config (a PEM keystore holds key and certificate)."""
    out = {ours: config[name] for name, ours in _CLIENT_SETTINGS.items() if config[name] is not None}
    if config["confluent.ssl.keystore.location"]:
        out["ssl.certificate.location"] = out["ssl.key.location"] = config["confluent.ssl.keystore.location"]
    return out


class SchemaValidator:
    def __init__(self, registry_url: str | None, timeout_s: float = 5.0, client_config: dict | None = None):
        """`client_config`: the registry client's authentication and TLS settings
        (client_settings() of the broker config)."""
        self.registry_url = registry_url
        self._client = SchemaRegistryClient({"url": registry_url, "max.retries": 0, "timeout": timeout_s,
                                             **(client_config or {})}) if registry_url else None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="schema-registry")
        self._subjects: dict[int, _Cached] = {}  # id -> set of subjects it is registered under
        self._schemas: dict[int, _Cached] = {}  # id -> (Schema, record name, payload checker)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- registry access (off the event loop) --------------------------------------------

    async def _call(self, fn, *args):
        if self._client is None:
            raise RegistryUnavailable("no schema registry configured (confluent.schema.registry.url)")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except SchemaRegistryError as exc:
            if exc.http_status == 404:
                return None
            raise RegistryUnavailable(f"schema registry error: {exc.error_message}") from None

    async def _subjects_of(self, schema_id: int, fresh: bool = False) -> set[str]:
        cached = self._subjects.get(schema_id)
        now = time.monotonic()
        if cached is not None and now - cached.fetched < (RECHECK_AFTER_S if fresh else POSITIVE_TTL_S):
            return cached.value
        versions = await self._call(self._client.get_versions_by_schema_id, schema_id)
        subjects = {v["subject"] for v in versions or []}
        self._subjects[schema_id] = _Cached(subjects, now)
        return subjects

    async def _schema(self, schema_id: int):
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached.value
        schema = await self._call(self._client.get_schema, schema_id)
        if schema is None:
            return None
        try:
            name, checker = await asyncio.get_running_loop().run_in_executor(
                self._pool, prepare_schema, self._client, schema)
        except Exception as exc:  # the registry went away mid-way, or the schema does not compile
            raise RegistryUnavailable(f"cannot prepare schema id {schema_id}: {exc}") from None
        entry = (schema, name, checker)
        self._schemas[schema_id] = _Cached(entry, time.monotonic())
        return entry

    # -- the check -------------------------------------------------------------------------

    async def check_batch(self, topic: str, rules: list[FieldRule], batch: bytes) -> list[tuple[int, str]]:
        """(record index, reason) for every record that breaks a rule; [] if all pass.

        The schema ids are read in C (recordscan) and each distinct id is checked once,
        so the cost per record stays small; payload mode also decodes every payload."""
        errors: dict[int, str] = {}
        try:
            for rule in rules:
                ids = recordscan.schema_ids(batch, rule.field == KEY)
                verdicts = {schema_id: await self._check_id(topic, rule, schema_id) for schema_id in set(ids)}
                if any(verdicts.values()):
                    for index, schema_id in enumerate(ids):
                        if verdicts[schema_id] and index not in errors:
                            errors[index] = f"{rule.field}: {verdicts[schema_id]}"
                if rule.payload:
                    await self._check_payloads(rule, batch, ids, errors)
        except records.InvalidBatch as exc:
            return [(0, f"the batch cannot be decoded: {exc}")]
        return sorted(errors.items())

    async def _check_payloads(self, rule: FieldRule, batch: bytes, ids: list[int], errors: dict[int, str]) -> None:
        for index, rec in enumerate(records.decode_records(batch)):
            data = rec.key if rule.field == KEY else rec.value
            if index in errors or data is None:
                continue
            entry = await self._schema(ids[index])
            problem = entry[2](data) if entry is not None else "unknown schema"
            if problem:
                errors[index] = f"{rule.field}: payload does not match schema id {ids[index]}: {problem}"

    async def _check_id(self, topic: str, rule: FieldRule, schema_id: int) -> str | None:
        """Why records framed with `schema_id` break the rule, or None if they pass."""
        if schema_id == recordscan.NULL:
            return None  # tombstones (and absent keys) pass, so governed compacted topics work
        if schema_id == recordscan.NOT_FRAMED:
            return "no magic byte: the record was not written by a schema registry serializer"
        name = None
        if rule.strategy != "TopicNameStrategy" or rule.payload:
            entry = await self._schema(schema_id)
            if entry is None:
                return f"unknown schema id {schema_id}"
            name = entry[1]
        subject = subject_for(topic, rule, name)
        if subject is None:
            return f"schema id {schema_id} has no record name for {rule.strategy}"
        subjects = await self._subjects_of(schema_id)
        if subject not in subjects:
            subjects = await self._subjects_of(schema_id, fresh=True)
        if not subjects:
            return f"unknown schema id {schema_id}"
        if subject not in subjects:
            return f"schema id {schema_id} is not registered under subject {subject}"
        return None


def subject_for(topic: str, rule: FieldRule, record_name: str | None) -> str | None:
    if rule.strategy == "RecordNameStrategy":
        return record_name
    if rule.strategy == "TopicRecordNameStrategy":
        return f"{topic}-{record_name}" if record_name else None
    return f"{topic}-{rule.field}"


def prepare_schema(client: SchemaRegistryClient, schema: Schema):
    """(record name for the name strategies, payload checker); runs on a worker thread, as it
    fetches references and may compile (protoc), so checks on the loop make no registry call."""
    parsed = parse_schema(client, schema)
    read = parsed.reader()

    def check_payload(data: bytes) -> str | None:
        try:
            read(data, HEADER_SIZE)
        except RecordMismatch as exc:
            return str(exc)
        return None
    return parsed.name(), check_payload
