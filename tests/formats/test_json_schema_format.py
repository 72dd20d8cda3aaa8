"""The JSON provider: drafts chosen by $schema, meta-validation, $ref resolution (local, other
subjects, meta-schemas), the stored and normalized strings (golden) and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from formats import InvalidSchemaError, provider
from formats.base import SchemaReference
from formats.json_schema.schema import JsonSchemaProvider, draft_of

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
PROVIDER = JsonSchemaProvider()
ADDRESS = (SCHEMAS / "address.json").read_text()
ADDRESS_REF = [SchemaReference("address.json", "address", 1)]
D2020 = "https://json-schema.org/draft/2020-12/schema"


def user(name: str = "user.json"):
    return PROVIDER.parse((SCHEMAS / name).read_text(), ADDRESS_REF, {"address.json": ADDRESS})


USER_CANONICAL = (
    '{"$schema":"http://json-schema.org/draft-07/schema#","title":"User","description":"A user of the five-minute '
    'tour, as JSON Schema; $ref address.json through a reference named \\"address.json\\".","type":"object",'
    '"properties":{"id":{"type":"integer","minimum":1},"name":{"type":"string","minLength":1,"maxLength":200},'
    '"email":{"type":["string","null"],"format":"email"},"address":{"$ref":"address.json"},"roles":{"type":"array",'
    '"items":{"$ref":"#/definitions/role"},"uniqueItems":true}},"required":["id","name"],"additionalProperties":false,'
    '"definitions":{"role":{"enum":["admin","member"]}}}')

USER_NORMALIZED = (
    '{"$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false,"definitions":{"role":{"enum":'
    '["admin","member"]}},"description":"A user of the five-minute tour, as JSON Schema; $ref address.json through a '
    'reference named \\"address.json\\".","properties":{"address":{"$ref":"address.json"},"email":{"format":"email",'
    '"type":["string","null"]},"id":{"minimum":1,"type":"integer"},"name":{"maxLength":200,"minLength":1,"type":'
    '"string"},"roles":{"items":{"$ref":"#/definitions/role"},"type":"array","uniqueItems":true}},"required":["id",'
    '"name"],"title":"User","type":"object"}')


def test_registered_as_json():
    assert provider("JSON").schema_type == "JSON"


def test_stored_and_normalized_strings_golden():
    parsed = user()
    assert parsed.canonical_string() == USER_CANONICAL
    assert parsed.normalize().canonical_string() == USER_NORMALIZED
    assert parsed.name() == "User"
    assert parsed.equivalent(PROVIDER.parse(USER_NORMALIZED, ADDRESS_REF, {"address.json": ADDRESS}))
    assert not parsed.equivalent(user("user-v2.json"))


def test_stored_string_keeps_unicode_numbers_and_order():
    text = '{ "title" : "Café ☕", "type":"number", "maximum": 1.50, "minimum": -0, "multipleOf": 1e-2 }'
    assert PROVIDER.parse(text).canonical_string() == \
        '{"title":"Café ☕","type":"number","maximum":1.5,"minimum":0,"multipleOf":0.01}'
    assert PROVIDER.parse(text).normalize().canonical_string() == \
        '{"maximum":1.5,"minimum":0,"multipleOf":0.01,"title":"Café ☕","type":"number"}'


def test_normalize_sorts_references():
    refs = [SchemaReference("b.json", "b", 1), SchemaReference("a.json", "a", 1), SchemaReference("a.json", "a", 1)]
    texts = {"a.json": '{"type":"string"}', "b.json": '{"type":"integer"}'}
    parsed = PROVIDER.parse('{"properties":{"a":{"$ref":"a.json"},"b":{"$ref":"b.json"}}}', refs, texts)
    assert parsed.normalize().references == (SchemaReference("a.json", "a", 1), SchemaReference("b.json", "b", 1))


@pytest.mark.parametrize("uri,draft", [
    ("http://json-schema.org/draft-04/schema#", "draft4"),
    ("http://json-schema.org/draft-06/schema#", "draft6"),
    ("http://json-schema.org/draft-07/schema", "draft7"),
    ("https://json-schema.org/draft/2019-09/schema", "2019-09"),
    ("https://json-schema.org/draft/2020-12/schema", "2020-12"),
    ("https://example.com/custom-dialect", "draft7"),
    (None, "draft7"),
])
def test_draft_chosen_by_schema_keyword(uri, draft):
    document = {"type": "object"} if uri is None else {"$schema": uri, "type": "object"}
    assert draft_of(document) == draft
    assert PROVIDER.parse(json.dumps(document)).draft == draft


def test_keywords_are_validated_by_their_own_draft():
    # exclusiveMaximum is a boolean in draft 4 and a number from draft 6 on
    PROVIDER.parse('{"$schema":"http://json-schema.org/draft-04/schema#","maximum":5,"exclusiveMaximum":true}')
    with pytest.raises(InvalidSchemaError):
        PROVIDER.parse('{"$schema":"http://json-schema.org/draft-07/schema#","exclusiveMaximum":true}')
    PROVIDER.parse('{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":[{"type":"string"}]}')
    with pytest.raises(InvalidSchemaError):
        PROVIDER.parse('{"$schema":"https://json-schema.org/draft/2020-12/schema","prefixItems":{"type":"string"}}')


def test_references_resolve_locally_across_subjects_and_to_meta_schemas():
    parsed = user()
    parsed.validate({"id": 1, "name": "ada", "address": {"city": "London"}, "roles": ["admin"]})
    with pytest.raises(jsonschema.ValidationError):
        parsed.validate({"id": 1, "name": "ada", "address": {"town": "London"}})
    with pytest.raises(jsonschema.ValidationError):
        parsed.validate({"id": 1, "name": "ada", "roles": ["root"]})
    meta = PROVIDER.parse('{"$ref": "http://json-schema.org/draft-07/schema#"}')
    meta.validate({"type": "string"})
    with pytest.raises(jsonschema.ValidationError):
        meta.validate({"type": 12})


def test_relative_reference_names_resolve_against_the_schema_id():
    parsed = PROVIDER.parse('{"$id":"https://example.com/schemas/order.json","properties":{"to":{"$ref":'
                            '"address.json"}}}', ADDRESS_REF, {"address.json": ADDRESS})
    parsed.validate({"to": {"city": "Paris"}})
    with pytest.raises(jsonschema.ValidationError):
        parsed.validate({"to": {"city": 3}})


def test_transitive_references_and_2020_12_defs():
    inner = json.dumps({"$schema": D2020, "$defs": {"code": {"type": "string", "maxLength": 3}}})
    middle = json.dumps({"$schema": D2020, "properties": {"c": {"$ref": "inner.json#/$defs/code"}}})
    parsed = PROVIDER.parse('{"$schema":"https://json-schema.org/draft/2020-12/schema","$ref":"middle.json"}',
                            [SchemaReference("middle.json", "m", 1)], {"inner.json": inner, "middle.json": middle})
    parsed.validate({"c": "abc"})
    with pytest.raises(jsonschema.ValidationError):
        parsed.validate({"c": "abcd"})


def test_boolean_schemas():
    assert PROVIDER.parse("true").canonical_string() == "true"
    assert PROVIDER.parse("false").name() is None


@pytest.mark.parametrize("text,fragment", [
    ("{not json", "Invalid JSON"),
    ("", "Invalid JSON"),
    ("[1, 2]", "expected an object or a boolean"),
    ('"string"', "expected an object or a boolean"),
    ('{"type": "strin"}', "'strin' is not valid"),
    ('{"type": "object", "properties": {"a": {"type": 5}}}', "#/properties/a/type"),
    ('{"minLength": -1}', "minLength"),
    ('{"required": "a"}', "required"),
    ('{"$ref": "#/definitions/missing"}', "#/definitions/missing"),
    ('{"properties": {"a": {"$ref": "other.json"}}}', "other.json"),
    ('{"$ref": "https://example.com/remote.json"}', "https://example.com/remote.json"),
    ('{"maximum": NaN}', "NaN"),
    ('{"maximum": 1e400}', "Invalid JSON schema"),
    ('{"properties": {"$$meta": {}}}', "$$"),
    ('{"a":' * 3000 + "1" + "}" * 3000, ""),
])
def test_bad_input(text, fragment):
    with pytest.raises(InvalidSchemaError) as info:
        PROVIDER.parse(text)
    assert fragment in str(info.value)


def test_reference_that_is_not_json():
    with pytest.raises(InvalidSchemaError) as info:
        PROVIDER.parse('{"$ref": "a.json"}', [SchemaReference("a.json", "a", 1)], {"a.json": "{nope"})
    assert "a.json" in str(info.value)


def test_stored_schemas_are_parsed_leniently():
    # meta-validation applies to new schemas; a stored one is read as it is
    PROVIDER.parse('{"type": "object", "minLength": -1}', new=False)
