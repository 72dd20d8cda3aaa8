"""JSON: JSON Schema drafts 4, 6, 7, 2019-09 and 2020-12, chosen by `$schema` (default draft 7,
as Confluent).

A new schema is checked against its draft's meta-schema (jsonschema) and every `$ref` in it
must resolve: to a local definition, to a schema of another subject through a reference (the
reference name is the `$ref` URI, resolved against the schema's `$id` when it has one), or to a
meta-schema. Nothing is fetched over the network. The stored string is the schema's compact
JSON with its key order (what Confluent stores); the normalized form sorts the keys.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urljoin

import fastjsonschema
import jsonschema
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema_specifications import REGISTRY as META_SCHEMAS

from formats.base import (DifferentSchemaType, Incompatibility, InvalidSchemaError, ParsedSchema, RecordMismatch,
                          SchemaProvider, SchemaReference)
from formats.json_schema.diff import COMPATIBLE_CHANGES, COMPATIBLE_CHANGES_LENIENT, differences
from formats.json_schema.model import DRAFT4, DRAFT6, DRAFT7, DRAFT2019, DRAFT2020, SchemaLoader, SchemaNode

_DIALECTS = {
    "json-schema.org/draft-04/schema": DRAFT4,
    "json-schema.org/draft-06/schema": DRAFT6,
    "json-schema.org/draft-07/schema": DRAFT7,
    "json-schema.org/draft/2019-09/schema": DRAFT2019,
    "json-schema.org/draft/2020-12/schema": DRAFT2020,
}
VALIDATORS = {
    DRAFT4: jsonschema.Draft4Validator, DRAFT6: jsonschema.Draft6Validator, DRAFT7: jsonschema.Draft7Validator,
    DRAFT2019: jsonschema.Draft201909Validator, DRAFT2020: jsonschema.Draft202012Validator,
}
_FAST_DRAFTS = (DRAFT4, DRAFT6, DRAFT7)
SPECIFICATIONS = {
    DRAFT4: referencing.jsonschema.DRAFT4, DRAFT6: referencing.jsonschema.DRAFT6,
    DRAFT7: referencing.jsonschema.DRAFT7, DRAFT2019: referencing.jsonschema.DRAFT201909,
    DRAFT2020: referencing.jsonschema.DRAFT202012,
}


def draft_of(schema) -> str:
    """The draft a schema declares with `$schema`; draft 7 when it declares none we know."""
    if isinstance(schema, dict) and isinstance(schema.get("$schema"), str):
        uri = schema["$schema"].strip().rstrip("#")
        for prefix in ("https://", "http://"):
            if uri.startswith(prefix):
                uri = uri[len(prefix):]
        return _DIALECTS.get(uri, DRAFT7)
    return DRAFT7


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _load_json(text: str, what: str):
    if not isinstance(text, str):
        raise InvalidSchemaError(f"Invalid {what}: not a string")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidSchemaError(f"Invalid JSON in {what}: {exc}") from None


def _dumps(value, sort_keys: bool = False) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=sort_keys)
    except ValueError as exc:
        raise InvalidSchemaError(f"Invalid JSON schema: {exc}") from None


def _error_location(error: jsonschema.exceptions.ValidationError) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    return f" at #/{path}" if path else ""


class JsonSchema(ParsedSchema):
    schema_type = "JSON"

    def __init__(self, document, references: Sequence[SchemaReference], draft: str,
                 registry: referencing.Registry, model: SchemaNode, normalized: bool = False):
        super().__init__(references)
        self.document = document  # the schema as parsed JSON (dict or bool)
        self.draft = draft
        self.registry = registry  # resources the schema's $refs resolve to
        self.model = model
        self.normalized = normalized
        self._canonical: str | None = None
        self._validator = None

    def canonical_string(self) -> str:
        if self._canonical is None:
            self._canonical = _dumps(self.document, sort_keys=self.normalized)
        return self._canonical

    def normalize(self) -> "JsonSchema":
        return JsonSchema(self.document, sorted(set(self.references)), self.draft, self.registry, self.model,
                          normalized=True)

    def equivalent(self, other: ParsedSchema) -> bool:
        return isinstance(other, JsonSchema) and \
            _dumps(self.document, sort_keys=True) == _dumps(other.document, sort_keys=True)

    def name(self) -> str | None:
        title = self.document.get("title") if isinstance(self.document, dict) else None
        return title if isinstance(title, str) else None

    def _jsonschema_validator(self):
        """A jsonschema validator of the schema's draft, with its references resolvable."""
        if self._validator is None:
            self._validator = VALIDATORS[self.draft](self.document, registry=self.registry)
        return self._validator

    def validate(self, instance) -> None:
        """Raises jsonschema.ValidationError when `instance` does not match."""
        error = jsonschema.exceptions.best_match(self._jsonschema_validator().iter_errors(instance))
        if error is not None:
            raise error

    def reader_incompatibilities(self, writer: ParsedSchema, policy: str = "STRICT") -> list[Incompatibility]:
        """`policy` is Confluent's compatibilityPolicy: STRICT (default) or LENIENT."""
        if not isinstance(writer, JsonSchema):
            return [DifferentSchemaType()]
        compatible = COMPATIBLE_CHANGES_LENIENT if str(policy).upper() == "LENIENT" else COMPATIBLE_CHANGES
        return [d for d in differences(writer.model, self.model, compatible) if d.kind not in compatible]

    # -- runtime ------------------------------------------------------------------------

    def validator(self) -> Callable[[Any], str | None]:
        """Compiled by fastjsonschema (drafts 4/6/7 without references: ~10x faster) when it
        takes the schema, else jsonschema."""
        fast = self._compiled() if not self.references and self.draft in _FAST_DRAFTS \
            and not _refers_outside(self.document) else None
        if fast is not None:
            def check_fast(document) -> str | None:
                try:
                    fast(document)
                except fastjsonschema.JsonSchemaValueException as exc:
                    return exc.message
                return None
            return check_fast
        validator = self._jsonschema_validator()

        def check(document) -> str | None:
            error = jsonschema.exceptions.best_match(validator.iter_errors(document))
            if error is None:
                return None
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            return f"{error.message} at {where}"
        return check

    def _compiled(self):
        try:
            # Neither fills in defaults (it would change the caller's document and what is
            # written) nor asserts formats: the same verdicts as jsonschema's.
            return fastjsonschema.compile(self.document, use_default=False, use_formats=False)
        except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError):
            return None  # a construct fastjsonschema does not take: jsonschema checks it

    def writer(self) -> Callable[..., bytes]:
        check = self.validator()
        # As confluent-kafka's JSONSerializer: compact, UTF-8 unescaped; NaN is no JSON. One
        # encoder for every record (json.dumps with options builds a new one per call).
        encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

        def write(document, header: bytes = b"") -> bytes:
            problem = check(document)
            if problem is not None:
                raise RecordMismatch(problem)
            try:
                text = encode(document).encode()
            except (TypeError, ValueError, RecursionError) as exc:  # a set, NaN, a lone surrogate...
                raise RecordMismatch(f"not JSON-serializable: {exc}") from None
            return header + text
        return write

    def reader(self, reader_schema: ParsedSchema | None = None) -> Callable[..., Any]:
        """Decodes and validates against `reader_schema`, or this schema when none is given."""
        if reader_schema is not None and not isinstance(reader_schema, JsonSchema):
            raise InvalidSchemaError(f"a JSON payload cannot be read as {reader_schema.schema_type}")
        check = (reader_schema or self).validator()

        def read(data: bytes, start: int = 0):
            document = decode_document(data, start)
            problem = check(document)
            if problem is not None:
                raise RecordMismatch(problem)
            return document
        return read

    def from_json(self, value: Any) -> Any:
        problem = self.validator()(value)
        if problem is not None:
            raise RecordMismatch(problem)
        return value

    def to_json(self, value: Any) -> Any:
        return value


def _refers_outside(node) -> bool:
    """Whether a `$ref` leaves the document (e.g. to a meta-schema): fastjsonschema would fetch
    it over the network, where jsonschema resolves it from the registry of known resources."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return True
        return any(_refers_outside(v) for v in node.values())
    if isinstance(node, list):
        return any(_refers_outside(v) for v in node)
    return False


def decode_document(data: bytes, start: int = 0):
    """The JSON document of a payload; RecordMismatch when it is not JSON."""
    try:
        return json.loads(data[start:] if start else data)
    except (ValueError, RecursionError) as exc:
        raise RecordMismatch(f"not JSON: {exc}") from None

class JsonSchemaProvider(SchemaProvider):
    schema_type = "JSON"

    def parse(self, schema: str, references: Sequence[SchemaReference] = (),
              resolved: Mapping[str, str] | None = None, *, new: bool = True) -> JsonSchema:
        document = _load_json(schema, "JSON schema")
        if not isinstance(document, (dict, bool)):
            raise InvalidSchemaError("Invalid JSON schema: expected an object or a boolean at the root")
        draft = draft_of(document)
        if new:
            self._check(document, draft)
        try:
            registry, resolver = self._registry(document, draft, resolved or {})
            model = self._model(document, draft, resolver)
        except InvalidSchemaError:
            raise
        except RecursionError:
            raise InvalidSchemaError("Schema nested too deeply") from None
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # Only schemas that skipped meta-validation (stored, looked up) get here malformed.
            raise InvalidSchemaError(f"Invalid JSON schema: {exc!r}") from None
        parsed = JsonSchema(document, references, draft, registry, model)
        parsed.canonical_string()  # numbers JSON cannot write (1e400) fail here, not when stored
        return parsed

    @staticmethod
    def _check(document, draft: str) -> None:
        try:
            VALIDATORS[draft].check_schema(document)
        except jsonschema.exceptions.SchemaError as exc:
            raise InvalidSchemaError(f"{exc.message}{_error_location(exc)}") from None
        except RecursionError:
            raise InvalidSchemaError("Schema nested too deeply") from None
        properties = document.get("properties") if isinstance(document, dict) else None
        for name in properties or ():
            if name.startswith("$$"):
                raise InvalidSchemaError(f"Field names cannot start with $$ prefix: #/properties/{name}")

    @staticmethod
    def _registry(document, draft: str, resolved: Mapping[str, str]):
        specification = SPECIFICATIONS[draft]
        root = specification.create_resource(document)
        base = (specification.id_of(document) if isinstance(document, dict) else None) or ""
        registry = META_SCHEMAS
        for name, text in resolved.items():
            contents = _load_json(text, f"schema reference {name}")
            declared = contents.get("$schema") if isinstance(contents, dict) else None
            own = referencing.jsonschema.specification_with(declared, default=specification) \
                if isinstance(declared, str) else specification
            resource = own.create_resource(contents)
            for uri in {name, urljoin(base, name) if base else name}:
                registry = registry.with_resource(uri, resource)
        try:
            registry = registry.with_resource(base, root).crawl()
        except referencing.exceptions.Unresolvable as exc:
            raise InvalidSchemaError(f"Invalid JSON schema: {exc}") from None
        return registry, registry.resolver(base_uri=base)

    @staticmethod
    def _model(document, draft: str, resolver) -> SchemaNode:
        specification = SPECIFICATIONS[draft]

        def lookup(ref: str, scope):
            try:
                found = scope.lookup(ref)
            except referencing.exceptions.Unresolvable as exc:
                raise InvalidSchemaError(f"Unresolvable $ref '{ref}': {exc}") from None
            return found.contents, found.resolver, id(found.contents)

        def enter(node, scope):
            if isinstance(node, dict) and specification.id_of(node):
                return scope.in_subresource(specification.create_resource(node))
            return scope

        try:
            return SchemaLoader(draft, lookup, enter).load(document, resolver)
        except RecursionError:
            raise InvalidSchemaError("Schema nested too deeply") from None
        except InvalidSchemaError:
            raise
        except ValueError as exc:
            raise InvalidSchemaError(f"Invalid JSON schema: {exc}") from None
