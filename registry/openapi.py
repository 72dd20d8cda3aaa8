"""The OpenAPI 3.0 document of the REST API, served at GET /openapi.json (and used by the fuzz test)."""

from __future__ import annotations

from functools import lru_cache

from registry import __version__

_JSON_TYPES = ("application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: dict) -> dict:
    return {media: {"schema": schema} for media in _JSON_TYPES}


def _answer(schema: dict, description: str = "OK", errors: tuple[int, ...] = ()) -> dict:
    responses = {"200": {"description": description, "content": _content(schema)}}
    for status in errors:
        responses[str(status)] = {"description": "Error", "content": _content(_ref("ErrorMessage"))}
    responses["500"] = {"description": "Store error, timeout or unknown leader", "content": _content(_ref("ErrorMessage"))}
    return responses


def _query(name: str, kind: str = "boolean", description: str = "") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": description}


def _path(name: str, kind: str = "string") -> dict:
    schema = {"type": kind}
    if kind == "integer":
        schema["minimum"] = 0
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _body(name: str) -> dict:
    return {"required": True, "content": _content(_ref(name))}


_SUBJECT, _VERSION, _ID = _path("subject"), _path("version"), _path("id", "integer")
_PAGE = [_query("offset", "integer"), _query("limit", "integer")]

_COMPONENTS = {
    "ErrorMessage": {"type": "object", "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}}},
    "SchemaReference": {"type": "object", "properties": {
        "name": {"type": "string"}, "subject": {"type": "string"}, "version": {"type": "integer"}}},
    "Metadata": {"type": "object", "properties": {
        "tags": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "properties": {"type": "object", "additionalProperties": {"type": "string"}},
        "sensitive": {"type": "array", "items": {"type": "string"}}}},
    "Rule": {"type": "object", "properties": {
        "name": {"type": "string"}, "doc": {"type": "string"}, "kind": {"type": "string", "enum": ["TRANSFORM", "CONDITION"]},
        "mode": {"type": "string", "enum": ["UPGRADE", "DOWNGRADE", "UPDOWN", "WRITE", "READ", "WRITEREAD"]},
        "type": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
        "params": {"type": "object", "additionalProperties": {"type": "string"}}, "expr": {"type": "string"},
        "onSuccess": {"type": "string"}, "onFailure": {"type": "string"}, "disabled": {"type": "boolean"}}},
    "RuleSet": {"type": "object", "properties": {
        "migrationRules": {"type": "array", "items": _ref("Rule")},
        "domainRules": {"type": "array", "items": _ref("Rule")},
        "encodingRules": {"type": "array", "items": _ref("Rule")}}},
    "RegisterSchemaRequest": {"type": "object", "properties": {
        "version": {"type": "integer"}, "id": {"type": "integer"}, "schemaType": {"type": "string"},
        "references": {"type": "array", "items": _ref("SchemaReference")}, "metadata": _ref("Metadata"),
        "ruleSet": _ref("RuleSet"), "schema": {"type": "string"}}},
    "Schema": {"type": "object", "properties": {
        "subject": {"type": "string"}, "version": {"type": "integer"}, "id": {"type": "integer"},
        "guid": {"type": "string"}, "schemaType": {"type": "string"},
        "references": {"type": "array", "items": _ref("SchemaReference")}, "metadata": _ref("Metadata"),
        "ruleSet": _ref("RuleSet"), "schema": {"type": "string"}, "deleted": {"type": "boolean"}}},
    "SubjectVersion": {"type": "object", "properties": {"subject": {"type": "string"}, "version": {"type": "integer"}}},
    "CompatibilityCheckResponse": {"type": "object", "properties": {
        "is_compatible": {"type": "boolean"}, "messages": {"type": "array", "items": {"type": "string"}}}},
    "ConfigUpdateRequest": {"type": "object", "properties": {
        "compatibility": {"type": "string", "enum": ["BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
                                                     "FULL", "FULL_TRANSITIVE", "NONE"]},
        "normalize": {"type": "boolean"}, "validateFields": {"type": "boolean"}, "alias": {"type": "string"},
        "compatibilityGroup": {"type": "string"}, "defaultMetadata": _ref("Metadata"),
        "overrideMetadata": _ref("Metadata"), "defaultRuleSet": _ref("RuleSet"), "overrideRuleSet": _ref("RuleSet")}},
    "Config": {"type": "object", "properties": {"compatibilityLevel": {"type": "string"}}},
    "Mode": {"type": "object", "properties": {"mode": {"type": "string",
                                                       "enum": ["READWRITE", "READONLY", "IMPORT", "FORWARD"]}}},
}

_LOOKUP_ERRORS = (400, 404, 415, 422)


def _paths() -> dict:
    schema_list = {"type": "array", "items": _ref("Schema")}
    ints = {"type": "array", "items": {"type": "integer"}}
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "/": {"get": {"responses": _answer({"type": "object"})},
              "post": {"requestBody": {"required": False, "content": _content({"type": "object"})},
                       "responses": _answer({"type": "object"}, errors=(400, 415))}},
        "/schemas": {"get": {"parameters": [_query("subjectPrefix", "string"), _query("deleted"),
                                            _query("latestOnly"), _query("ruleType", "string")] + _PAGE,
                             "responses": _answer(schema_list, errors=(400,))}},
        "/schemas/types": {"get": {"responses": _answer(strings)}},
        "/schemas/ids/{id}": {"get": {"parameters": [_ID, _query("subject", "string"), _query("format", "string"),
                                                     _query("fetchMaxId")],
                                      "responses": _answer(_ref("Schema"), errors=(404,))}},
        "/schemas/ids/{id}/schema": {"get": {"parameters": [_ID, _query("subject", "string"),
                                                            _query("format", "string")],
                                             "responses": _answer({"type": "string"}, errors=(404,))}},
        "/schemas/ids/{id}/subjects": {"get": {"parameters": [_ID, _query("subject", "string"), _query("deleted")] + _PAGE,
                                               "responses": _answer(strings, errors=(400, 404))}},
        "/schemas/ids/{id}/versions": {"get": {"parameters": [_ID, _query("subject", "string"), _query("deleted")] + _PAGE,
                                               "responses": _answer({"type": "array", "items": _ref("SubjectVersion")},
                                                                    errors=(400, 404))}},
        "/schemas/guids/{guid}": {"get": {"parameters": [_path("guid"), _query("format", "string")],
                                          "responses": _answer(_ref("Schema"), errors=(404,))}},
        "/subjects": {"get": {"parameters": [_query("subjectPrefix", "string"), _query("deleted"),
                                             _query("deletedOnly")] + _PAGE,
                              "responses": _answer(strings, errors=(400,))}},
        "/subjects/{subject}": {
            "post": {"parameters": [_SUBJECT, _query("normalize"), _query("deleted")],
                     "requestBody": _body("RegisterSchemaRequest"),
                     "responses": _answer(_ref("Schema"), errors=_LOOKUP_ERRORS)},
            "delete": {"parameters": [_SUBJECT, _query("permanent")],
                       "responses": _answer(ints, errors=(404, 422))}},
        "/subjects/{subject}/versions": {
            "get": {"parameters": [_SUBJECT, _query("deleted"), _query("deletedOnly"),
                                   _query("deletedAsNegative")] + _PAGE,
                    "responses": _answer(ints, errors=(400, 404))},
            "post": {"parameters": [_SUBJECT, _query("normalize")], "requestBody": _body("RegisterSchemaRequest"),
                     "responses": _answer(_ref("Schema"), errors=(400, 409, 415, 422))}},
        "/subjects/{subject}/versions/{version}": {
            "get": {"parameters": [_SUBJECT, _VERSION, _query("deleted"), _query("format", "string")],
                    "responses": _answer(_ref("Schema"), errors=(404, 422))},
            "delete": {"parameters": [_SUBJECT, _VERSION, _query("permanent")],
                       "responses": _answer({"type": "integer"}, errors=(404, 422))}},
        "/subjects/{subject}/versions/{version}/schema": {
            "get": {"parameters": [_SUBJECT, _VERSION, _query("deleted"), _query("format", "string")],
                    "responses": _answer({"type": "string"}, errors=(404, 422))}},
        "/subjects/{subject}/versions/{version}/referencedby": {
            "get": {"parameters": [_SUBJECT, _VERSION, _query("deleted")] + _PAGE,
                    "responses": _answer(ints, errors=(400, 404, 422))}},
        "/subjects/{subject}/metadata": {
            "get": {"parameters": [_SUBJECT, _query("key", "string"), _query("value", "string"), _query("deleted")],
                    "responses": _answer(_ref("Schema"), errors=(404,))}},
        "/compatibility/subjects/{subject}/versions/{version}": {
            "post": {"parameters": [_SUBJECT, _VERSION, _query("normalize"), _query("verbose")],
                     "requestBody": _body("RegisterSchemaRequest"),
                     "responses": _answer(_ref("CompatibilityCheckResponse"), errors=_LOOKUP_ERRORS)}},
        "/compatibility/subjects/{subject}/versions": {
            "post": {"parameters": [_SUBJECT, _query("normalize"), _query("verbose")],
                     "requestBody": _body("RegisterSchemaRequest"),
                     "responses": _answer(_ref("CompatibilityCheckResponse"), errors=_LOOKUP_ERRORS)}},
        "/config": {
            "get": {"parameters": [_query("defaultToGlobal")], "responses": _answer(_ref("Config"))},
            "put": {"requestBody": _body("ConfigUpdateRequest"),
                    "responses": _answer(_ref("ConfigUpdateRequest"), errors=(400, 415, 422))},
            "delete": {"responses": _answer(_ref("Config"), errors=(422,))}},
        "/config/{subject}": {
            "get": {"parameters": [_SUBJECT, _query("defaultToGlobal")],
                    "responses": _answer(_ref("Config"), errors=(404,))},
            "put": {"parameters": [_SUBJECT], "requestBody": _body("ConfigUpdateRequest"),
                    "responses": _answer(_ref("ConfigUpdateRequest"), errors=(400, 415, 422))},
            "delete": {"parameters": [_SUBJECT], "responses": _answer(_ref("Config"), errors=(404, 422))}},
        "/mode": {
            "get": {"parameters": [_query("defaultToGlobal")], "responses": _answer(_ref("Mode"))},
            "put": {"parameters": [_query("force")], "requestBody": _body("Mode"),
                    "responses": _answer(_ref("Mode"), errors=(400, 415, 422))},
            "delete": {"responses": _answer(_ref("Mode"))}},
        "/mode/{subject}": {
            "get": {"parameters": [_SUBJECT, _query("defaultToGlobal")],
                    "responses": _answer(_ref("Mode"), errors=(404,))},
            "put": {"parameters": [_SUBJECT, _query("force")], "requestBody": _body("Mode"),
                    "responses": _answer(_ref("Mode"), errors=(400, 415, 422))},
            "delete": {"parameters": [_SUBJECT], "responses": _answer(_ref("Mode"), errors=(404,))}},
        "/contexts": {"get": {"parameters": _PAGE, "responses": _answer(strings, errors=(400,))}},
        "/v1/metadata/id": {"get": {"responses": _answer({"type": "object"})}},
        "/v1/metadata/version": {"get": {"responses": _answer({"type": "object"})}},
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "schemabus Schema Registry", "version": __version__,
                 "description": "Confluent Schema Registry REST API v1"},
        "paths": _paths(),
        "components": {"schemas": _COMPONENTS},
    }
