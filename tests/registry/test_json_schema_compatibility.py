"""JSON Schema compatibility, table-driven: Confluent's json-schema `diff` rules (STRICT policy).

Each case gives the schema data was written with (original), the schema reading it (update),
every difference expected (type and JSON path) and whether the pair is compatible. Every
difference type Confluent's diff produces is produced by at least one case.
"""

from __future__ import annotations

import json

import pytest

from registry import compatibility
from formats.base import SchemaReference
from formats.json_schema import JsonSchemaProvider
from formats.json_schema.diff import COMPATIBLE_CHANGES, DIFFERENCE_TYPES, differences

PROVIDER = JsonSchemaProvider()
D2020 = "https://json-schema.org/draft/2020-12/schema"
S, I, N = {"type": "string"}, {"type": "integer"}, {"type": "number"}


def obj(props: dict, **extra) -> dict:
    return {"type": "object", "properties": props, **extra}


def closed(props: dict, **extra) -> dict:
    return obj(props, additionalProperties=False, **extra)


def partial(props: dict, **extra) -> dict:
    return obj(props, additionalProperties=S, **extra)


def modern(schema: dict) -> dict:
    return {"$schema": D2020, **schema}


def arr(**extra) -> dict:
    return {"type": "array", **extra}


CASES = [
    # ---- annotations and types
    ("identical", obj({"a": S}), obj({"a": S}), [], True),
    ("anything to the empty schema", obj({"a": S}), {}, [], True),
    ("id changed", {"$id": "a"}, {"$id": "b"}, ["ID_CHANGED #/"], True),
    ("title changed", {"title": "a"}, {"title": "b"}, ["TITLE_CHANGED #/"], True),
    ("description changed", {"description": "a"}, {"description": "b"}, ["DESCRIPTION_CHANGED #/"], True),
    ("default changed", {"type": "string", "default": "a"}, {"type": "string", "default": "b"},
     ["DEFAULT_CHANGED #/"], True),
    ("integer to number", I, N, ["TYPE_EXTENDED #/"], True),
    ("number to integer", N, I, ["TYPE_NARROWED #/"], False),
    ("string to number", S, N, ["TYPE_CHANGED #/"], False),
    ("object to array", {"type": "object"}, {"type": "array"}, ["TYPE_CHANGED #/"], False),
    ("connect.type bytes", {"type": "string", "connect.type": "bytes"}, {"type": "number", "connect.type": "bytes"},
     [], True),
    ("type array extended", {"type": ["object"]}, {"type": ["object", "array"]}, ["SUM_TYPE_EXTENDED #/"], True),
    ("type made nullable", S, {"type": ["string", "null"]}, ["SUM_TYPE_EXTENDED #/"], True),
    ("nullable type narrowed", {"type": ["string", "null"]}, S, ["TYPE_CHANGED #/"], False),
    # ---- strings
    ("maxLength added", S, {**S, "maxLength": 5}, ["MAX_LENGTH_ADDED #/maxLength"], False),
    ("maxLength removed", {**S, "maxLength": 5}, S, ["MAX_LENGTH_REMOVED #/maxLength"], True),
    ("maxLength increased", {**S, "maxLength": 5}, {**S, "maxLength": 6}, ["MAX_LENGTH_INCREASED #/maxLength"], True),
    ("maxLength decreased", {**S, "maxLength": 5}, {**S, "maxLength": 4}, ["MAX_LENGTH_DECREASED #/maxLength"],
     False),
    ("minLength added", S, {**S, "minLength": 1}, ["MIN_LENGTH_ADDED #/minLength"], False),
    ("minLength removed", {**S, "minLength": 1}, S, ["MIN_LENGTH_REMOVED #/minLength"], True),
    ("minLength increased", {**S, "minLength": 1}, {**S, "minLength": 2}, ["MIN_LENGTH_INCREASED #/minLength"],
     False),
    ("minLength decreased", {**S, "minLength": 2}, {**S, "minLength": 1}, ["MIN_LENGTH_DECREASED #/minLength"], True),
    ("pattern added", S, {**S, "pattern": "^a"}, ["PATTERN_ADDED #/pattern"], False),
    ("pattern removed", {**S, "pattern": "^a"}, S, ["PATTERN_REMOVED #/pattern"], True),
    ("pattern changed", {**S, "pattern": "^a"}, {**S, "pattern": "^b"}, ["PATTERN_CHANGED #/pattern"], False),
    # ---- numbers
    ("maximum added", N, {**N, "maximum": 5}, ["MAXIMUM_ADDED #/maximum"], False),
    ("maximum removed", {**N, "maximum": 5}, N, ["MAXIMUM_REMOVED #/maximum"], True),
    ("maximum increased", {**N, "maximum": 5}, {**N, "maximum": 6.5}, ["MAXIMUM_INCREASED #/maximum"], True),
    ("maximum decreased", {**N, "maximum": 5}, {**N, "maximum": 4}, ["MAXIMUM_DECREASED #/maximum"], False),
    ("minimum added", N, {**N, "minimum": 0}, ["MINIMUM_ADDED #/minimum"], False),
    ("minimum removed", {**N, "minimum": 0}, N, ["MINIMUM_REMOVED #/minimum"], True),
    ("minimum increased", {**N, "minimum": 0}, {**N, "minimum": 1}, ["MINIMUM_INCREASED #/minimum"], False),
    ("minimum decreased", {**N, "minimum": 1}, {**N, "minimum": 0}, ["MINIMUM_DECREASED #/minimum"], True),
    ("same limit written 5 and 5.0", {**N, "maximum": 5}, {**N, "maximum": 5.0}, [], True),
    ("exclusiveMaximum added", N, {**N, "exclusiveMaximum": 5}, ["EXCLUSIVE_MAXIMUM_ADDED #/exclusiveMaximum"],
     False),
    ("exclusiveMaximum removed", {**N, "exclusiveMaximum": 5}, N, ["EXCLUSIVE_MAXIMUM_REMOVED #/exclusiveMaximum"],
     True),
    ("exclusiveMaximum increased", {**N, "exclusiveMaximum": 5}, {**N, "exclusiveMaximum": 9},
     ["EXCLUSIVE_MAXIMUM_INCREASED #/exclusiveMaximum"], True),
    ("exclusiveMaximum decreased", {**N, "exclusiveMaximum": 5}, {**N, "exclusiveMaximum": 1},
     ["EXCLUSIVE_MAXIMUM_DECREASED #/exclusiveMaximum"], False),
    ("exclusiveMinimum added", N, {**N, "exclusiveMinimum": 0}, ["EXCLUSIVE_MINIMUM_ADDED #/exclusiveMinimum"],
     False),
    ("exclusiveMinimum removed", {**N, "exclusiveMinimum": 0}, N, ["EXCLUSIVE_MINIMUM_REMOVED #/exclusiveMinimum"],
     True),
    ("exclusiveMinimum increased", {**N, "exclusiveMinimum": 0}, {**N, "exclusiveMinimum": 1},
     ["EXCLUSIVE_MINIMUM_INCREASED #/exclusiveMinimum"], False),
    ("exclusiveMinimum decreased", {**N, "exclusiveMinimum": 1}, {**N, "exclusiveMinimum": 0},
     ["EXCLUSIVE_MINIMUM_DECREASED #/exclusiveMinimum"], True),
    ("draft 4 boolean exclusiveMaximum is not a limit",
     {"$schema": "http://json-schema.org/draft-04/schema#", **N, "maximum": 5},
     {"$schema": "http://json-schema.org/draft-04/schema#", **N, "maximum": 5, "exclusiveMaximum": True}, [], True),
    ("multipleOf added", N, {**N, "multipleOf": 2}, ["MULTIPLE_OF_ADDED #/multipleOf"], False),
    ("multipleOf removed", {**N, "multipleOf": 2}, N, ["MULTIPLE_OF_REMOVED #/multipleOf"], True),
    ("multipleOf expanded", {**N, "multipleOf": 2}, {**N, "multipleOf": 4}, ["MULTIPLE_OF_EXPANDED #/multipleOf"],
     False),
    ("multipleOf reduced", {**N, "multipleOf": 0.5}, {**N, "multipleOf": 0.25}, ["MULTIPLE_OF_REDUCED #/multipleOf"],
     True),
    ("multipleOf changed", {**N, "multipleOf": 2}, {**N, "multipleOf": 3}, ["MULTIPLE_OF_CHANGED #/multipleOf"],
     False),
    # ---- enums and consts
    ("enum extended", {"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}, ["ENUM_ARRAY_EXTENDED #/enum"], True),
    ("enum narrowed", {"enum": ["a", "b"]}, {"enum": ["a"]}, ["ENUM_ARRAY_NARROWED #/enum"], False),
    ("enum changed", {"enum": ["a", "b"]}, {"enum": ["a", "c"]}, ["ENUM_ARRAY_CHANGED #/enum"], False),
    ("enum reordered", {"enum": ["a", 1, True]}, {"enum": [True, "a", 1]}, [], True),
    ("const changed", {"const": "a"}, {"const": "b"}, ["ENUM_ARRAY_CHANGED #/const"], False),
    # ---- required
    ("required attribute added", obj({"a": S}), obj({"a": S}, required=["a"]),
     ["REQUIRED_ATTRIBUTE_ADDED #/required/a"], False),
    ("required attribute with default added", obj({"a": S}), obj({"a": {**S, "default": "x"}}, required=["a"]),
     ["DEFAULT_CHANGED #/properties/a", "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED #/required/a"], True),
    ("required attribute removed", obj({"a": S}, required=["a"]), obj({"a": S}),
     ["REQUIRED_ATTRIBUTE_REMOVED #/required/a"], True),
    # ---- open content model (additionalProperties absent)
    ("optional property added to open", obj({"a": S}), obj({"a": S, "b": S}),
     ["OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/b"], False),
    ("required property added to open", obj({"a": S}), obj({"a": S, "b": S}, required=["b"]),
     ["REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL #/properties/b"], False),
    ("required property with default added to open", obj({"a": S}),
     obj({"a": S, "b": {**S, "default": "x"}}, required=["b"]),
     ["REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL #/properties/b"], False),
    ("property with empty schema added to open", obj({"a": S}), obj({"a": S, "b": {}}),
     ["PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL #/properties/b"], True),
    ("property removed from open", obj({"a": S, "b": S}), obj({"a": S}),
     ["PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL #/properties/b"], True),
    # ---- closed content model (additionalProperties false)
    ("optional property added to closed", closed({"a": S}), closed({"a": S, "b": S}),
     ["OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b"], True),
    ("required property added to closed", closed({"a": S}), closed({"a": S, "b": S}, required=["b"]),
     ["REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b"], False),
    ("required property with default added to closed", closed({"a": S}),
     closed({"a": S, "b": {**S, "default": "x"}}, required=["b"]),
     ["REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b"], True),
    ("property removed from closed", closed({"a": S, "b": S}), closed({"a": S}),
     ["PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL #/properties/b"], False),
    ("false property removed from closed", closed({"a": S, "b": False}), closed({"a": S}),
     ["PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL #/properties/b"], True),
    ("closed model opened", closed({"a": S}), obj({"a": S}),
     ["ADDITIONAL_PROPERTIES_ADDED #/additionalProperties"], True),
    ("open model closed", obj({"a": S}), closed({"a": S}),
     ["ADDITIONAL_PROPERTIES_REMOVED #/additionalProperties"], False),
    # ---- partially open content model (additionalProperties / patternProperties schemas)
    ("property added covered by additionalProperties", partial({"a": S}), partial({"a": S, "b": S}),
     ["OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b",
      "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b"], True),
    ("property added not covered by additionalProperties", partial({"a": S}), partial({"a": S, "b": I}),
     ["OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/b",
      "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b", "TYPE_CHANGED #/properties/b"],
     False),
    ("property removed covered by additionalProperties", partial({"a": S, "b": S}), partial({"a": S}),
     ["PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b"], True),
    ("property removed not covered by additionalProperties", partial({"a": S, "b": I}), partial({"a": S}),
     ["PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/b", "TYPE_CHANGED #/properties/b"],
     False),
    ("property added covered by patternProperties", obj({"a": S}, patternProperties={"^s_": S}),
     obj({"a": S, "s_x": S}, patternProperties={"^s_": S}),
     ["OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/s_x",
      "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/s_x"], True),
    ("property added outside patternProperties", obj({"a": S}, patternProperties={"^s_": S}),
     obj({"a": S, "n_x": I}, patternProperties={"^s_": S}),
     ["OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/n_x"], True),
    ("additionalProperties schema added", obj({}), obj({}, additionalProperties=S),
     ["ADDITIONAL_PROPERTIES_NARROWED #/additionalProperties"], False),
    ("additionalProperties schema removed", obj({}, additionalProperties=S), obj({}),
     ["ADDITIONAL_PROPERTIES_EXTENDED #/additionalProperties"], True),
    ("additionalProperties schema changed", obj({}, additionalProperties=S), obj({}, additionalProperties=I),
     ["TYPE_CHANGED #/additionalProperties"], False),
    # ---- object sizes and dependencies
    ("maxProperties added", obj({}), obj({}, maxProperties=3), ["MAX_PROPERTIES_ADDED #/maxProperties"], False),
    ("maxProperties removed", obj({}, maxProperties=3), obj({}), ["MAX_PROPERTIES_REMOVED #/maxProperties"], True),
    ("maxProperties increased", obj({}, maxProperties=3), obj({}, maxProperties=4),
     ["MAX_PROPERTIES_INCREASED #/maxProperties"], True),
    ("maxProperties decreased", obj({}, maxProperties=3), obj({}, maxProperties=2),
     ["MAX_PROPERTIES_DECREASED #/maxProperties"], False),
    ("minProperties added", obj({}), obj({}, minProperties=1), ["MIN_PROPERTIES_ADDED #/minProperties"], False),
    ("minProperties removed", obj({}, minProperties=1), obj({}), ["MIN_PROPERTIES_REMOVED #/minProperties"], True),
    ("minProperties increased", obj({}, minProperties=1), obj({}, minProperties=2),
     ["MIN_PROPERTIES_INCREASED #/minProperties"], False),
    ("minProperties decreased", obj({}, minProperties=2), obj({}, minProperties=1),
     ["MIN_PROPERTIES_DECREASED #/minProperties"], True),
    ("dependency array added", obj({}), obj({}, dependencies={"a": ["b"]}), ["DEPENDENCY_ARRAY_ADDED #/dependencies/a"],
     False),
    ("dependency array removed", obj({}, dependencies={"a": ["b"]}), obj({}),
     ["DEPENDENCY_ARRAY_REMOVED #/dependencies/a"], True),
    ("dependency array extended", obj({}, dependencies={"a": ["b"]}), obj({}, dependencies={"a": ["b", "c"]}),
     ["DEPENDENCY_ARRAY_EXTENDED #/dependencies/a"], False),
    ("dependency array narrowed", obj({}, dependencies={"a": ["b", "c"]}), obj({}, dependencies={"a": ["b"]}),
     ["DEPENDENCY_ARRAY_NARROWED #/dependencies/a"], True),
    ("dependency array changed", obj({}, dependencies={"a": ["b"]}), obj({}, dependencies={"a": ["c"]}),
     ["DEPENDENCY_ARRAY_CHANGED #/dependencies/a"], False),
    ("dependency schema added", obj({}), obj({}, dependencies={"a": {"required": ["b"]}}),
     ["DEPENDENCY_SCHEMA_ADDED #/dependencies/a"], False),
    ("dependency schema removed", obj({}, dependencies={"a": {"required": ["b"]}}), obj({}),
     ["DEPENDENCY_SCHEMA_REMOVED #/dependencies/a"], True),
    ("dependentRequired (2020-12) narrowed", modern(obj({}, dependentRequired={"a": ["b", "c"]})),
     modern(obj({}, dependentRequired={"a": ["b"]})), ["DEPENDENCY_ARRAY_NARROWED #/dependencies/a"], True),
    ("unevaluatedProperties false removed", modern(obj({"a": S}, unevaluatedProperties=False)),
     modern(obj({"a": S})), ["UNEVALUATED_PROPERTIES_ADDED #/unevaluatedProperties"], True),
    ("unevaluatedProperties false added", modern(obj({"a": S})),
     modern(obj({"a": S}, unevaluatedProperties=False)), ["UNEVALUATED_PROPERTIES_REMOVED #/unevaluatedProperties"],
     False),
    ("unevaluatedProperties schema removed", modern(obj({"a": S}, unevaluatedProperties=S)), modern(obj({"a": S})),
     ["UNEVALUATED_PROPERTIES_EXTENDED #/unevaluatedProperties"], True),
    ("unevaluatedProperties schema added", modern(obj({"a": S})), modern(obj({"a": S}, unevaluatedProperties=S)),
     ["UNEVALUATED_PROPERTIES_NARROWED #/unevaluatedProperties"], False),
    # ---- arrays
    ("items added", arr(), arr(items=S), ["SCHEMA_ADDED #/items"], False),
    ("items removed", arr(items=S), arr(), ["SCHEMA_REMOVED #/items"], True),
    ("items type changed", arr(items=S), arr(items=I), ["TYPE_CHANGED #/items"], False),
    ("maxItems added", arr(), arr(maxItems=3), ["MAX_ITEMS_ADDED #/maxItems"], False),
    ("maxItems removed", arr(maxItems=3), arr(), ["MAX_ITEMS_REMOVED #/maxItems"], True),
    ("maxItems increased", arr(maxItems=3), arr(maxItems=4), ["MAX_ITEMS_INCREASED #/maxItems"], True),
    ("maxItems decreased", arr(maxItems=3), arr(maxItems=2), ["MAX_ITEMS_DECREASED #/maxItems"], False),
    ("minItems added", arr(), arr(minItems=1), ["MIN_ITEMS_ADDED #/minItems"], False),
    ("minItems removed", arr(minItems=1), arr(), ["MIN_ITEMS_REMOVED #/minItems"], True),
    ("minItems increased", arr(minItems=1), arr(minItems=2), ["MIN_ITEMS_INCREASED #/minItems"], False),
    ("minItems decreased", arr(minItems=2), arr(minItems=1), ["MIN_ITEMS_DECREASED #/minItems"], True),
    ("uniqueItems added", arr(), arr(uniqueItems=True), ["UNIQUE_ITEMS_ADDED #/uniqueItems"], False),
    ("uniqueItems removed", arr(uniqueItems=True), arr(), ["UNIQUE_ITEMS_REMOVED #/uniqueItems"], True),
    ("maxContains added", modern(arr(contains=S)), modern(arr(contains=S, maxContains=2)),
     ["MAX_CONTAINS_ADDED #/maxContains"], False),
    ("maxContains removed", modern(arr(contains=S, maxContains=2)), modern(arr(contains=S)),
     ["MAX_CONTAINS_REMOVED #/maxContains"], True),
    ("maxContains increased", modern(arr(contains=S, maxContains=2)), modern(arr(contains=S, maxContains=3)),
     ["MAX_CONTAINS_INCREASED #/maxContains"], True),
    ("maxContains decreased", modern(arr(contains=S, maxContains=2)), modern(arr(contains=S, maxContains=1)),
     ["MAX_CONTAINS_DECREASED #/maxContains"], False),
    ("minContains increased", modern(arr(contains=S)), modern(arr(contains=S, minContains=2)),
     ["MIN_CONTAINS_INCREASED #/minContains"], False),
    ("minContains decreased", modern(arr(contains=S, minContains=2)), modern(arr(contains=S, minContains=0)),
     ["MIN_CONTAINS_DECREASED #/minContains"], True),
    ("minContains added", arr(), arr(minContains=1), ["MIN_CONTAINS_ADDED #/minContains"], False),
    ("minContains removed", arr(minContains=1), arr(), ["MIN_CONTAINS_REMOVED #/minContains"], True),
    # ---- tuples and their content models (additionalItems)
    ("item added to open tuple", arr(items=[S]), arr(items=[S, I]), ["ITEM_ADDED_TO_OPEN_CONTENT_MODEL #/items/1"],
     False),
    ("empty item added to open tuple", arr(items=[S]), arr(items=[S, {}]),
     ["ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL #/items/1"], True),
    ("item removed from open tuple", arr(items=[S, I]), arr(items=[S]),
     ["ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL #/items/1"], True),
    ("item added to closed tuple", arr(items=[S], additionalItems=False), arr(items=[S, I], additionalItems=False),
     ["ITEM_ADDED_TO_CLOSED_CONTENT_MODEL #/items/1"], True),
    ("item removed from closed tuple", arr(items=[S, I], additionalItems=False), arr(items=[S], additionalItems=False),
     ["ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL #/items/1"], False),
    ("false item removed from closed tuple", arr(items=[S, False], additionalItems=False),
     arr(items=[S], additionalItems=False), ["ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL #/items/1"], True),
    ("item added covered by additionalItems", arr(items=[S], additionalItems=I),
     arr(items=[S, I], additionalItems=I), ["ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1"], True),
    ("item added not covered by additionalItems", arr(items=[S], additionalItems=I),
     arr(items=[S, S], additionalItems=I),
     ["ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1", "TYPE_CHANGED #/items/1"], False),
    ("item removed covered by additionalItems", arr(items=[S, I], additionalItems=I),
     arr(items=[S], additionalItems=I), ["ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1"], True),
    ("item removed not covered by additionalItems", arr(items=[S, S], additionalItems=I),
     arr(items=[S], additionalItems=I),
     ["ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/items/1", "TYPE_CHANGED #/items/1"], False),
    ("additionalItems opened", arr(items=[S], additionalItems=False), arr(items=[S]),
     ["ADDITIONAL_ITEMS_ADDED #/additionalItems"], True),
    ("additionalItems closed", arr(items=[S]), arr(items=[S], additionalItems=False),
     ["ADDITIONAL_ITEMS_REMOVED #/additionalItems"], False),
    ("additionalItems schema removed", arr(items=[S], additionalItems=I), arr(items=[S]),
     ["ADDITIONAL_ITEMS_EXTENDED #/additionalItems"], True),
    ("additionalItems schema added", arr(items=[S]), arr(items=[S], additionalItems=I),
     ["ADDITIONAL_ITEMS_NARROWED #/additionalItems"], False),
    ("prefixItems (2020-12) item added to closed", modern(arr(prefixItems=[S], items=False)),
     modern(arr(prefixItems=[S, I], items=False)), ["ITEM_ADDED_TO_CLOSED_CONTENT_MODEL #/items/1"], True),
    ("unevaluatedItems false removed", modern(arr(prefixItems=[S], unevaluatedItems=False)),
     modern(arr(prefixItems=[S])), ["UNEVALUATED_ITEMS_ADDED #/unevaluatedItems"], True),
    ("unevaluatedItems false added", modern(arr(prefixItems=[S])),
     modern(arr(prefixItems=[S], unevaluatedItems=False)), ["UNEVALUATED_ITEMS_REMOVED #/unevaluatedItems"], False),
    ("unevaluatedItems schema removed", modern(arr(prefixItems=[S], unevaluatedItems=I)),
     modern(arr(prefixItems=[S])), ["UNEVALUATED_ITEMS_EXTENDED #/unevaluatedItems"], True),
    ("unevaluatedItems schema added", modern(arr(prefixItems=[S])),
     modern(arr(prefixItems=[S], unevaluatedItems=I)), ["UNEVALUATED_ITEMS_NARROWED #/unevaluatedItems"], False),
    # ---- combined types
    ("oneOf to anyOf", {"oneOf": [S, I]}, {"anyOf": [S, I]}, ["COMBINED_TYPE_EXTENDED #/"], True),
    ("anyOf to allOf", {"anyOf": [S, I]}, {"allOf": [S, I]}, ["COMBINED_TYPE_CHANGED #/"], False),
    ("anyOf extended", {"anyOf": [S]}, {"anyOf": [S, I]}, ["SUM_TYPE_EXTENDED #/"], True),
    ("oneOf narrowed", {"oneOf": [S, I]}, {"oneOf": [S]}, ["SUM_TYPE_NARROWED #/"], False),
    ("allOf extended", {"allOf": [S]}, {"allOf": [S, {"maxLength": 5}]}, ["PRODUCT_TYPE_EXTENDED #/"], False),
    ("allOf narrowed", {"allOf": [S, {"maxLength": 5}]}, {"allOf": [S]}, ["PRODUCT_TYPE_NARROWED #/"], True),
    ("allOf to a member", {"allOf": [S, {"maxLength": 5}]}, S, ["PRODUCT_TYPE_NARROWED #/"], True),
    ("subschemas changed", {"anyOf": [S, I]}, {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
     ["COMBINED_TYPE_SUBSCHEMAS_CHANGED #/"], False),
    ("subschema widened inside anyOf", {"anyOf": [{**S, "maxLength": 5}, I]}, {"anyOf": [{**S, "maxLength": 9}, I]},
     ["MAX_LENGTH_INCREASED #/anyOf/0/maxLength"], True),
    ("subschemas reordered", {"oneOf": [S, I, {"type": "boolean"}]}, {"oneOf": [{"type": "boolean"}, S, I]}, [],
     True),
    ("not extended", {"not": S}, {"not": {"type": ["string", "integer"]}}, ["NOT_TYPE_EXTENDED #/not"], False),
    ("not narrowed", {"not": {"type": ["string", "integer"]}}, {"not": S}, ["NOT_TYPE_NARROWED #/not"], True),
    # ---- nested paths and references
    ("nested property narrowed", obj({"a": obj({"b": {**S, "maxLength": 9}})}),
     obj({"a": obj({"b": {**S, "maxLength": 3}})}), ["MAX_LENGTH_DECREASED #/properties/a/properties/b/maxLength"],
     False),
    ("through a local $ref", {"definitions": {"x": {**S, "maxLength": 9}}, **obj({"a": {"$ref": "#/definitions/x"}})},
     {"definitions": {"x": {**S, "maxLength": 3}}, **obj({"a": {"$ref": "#/definitions/x"}})},
     ["MAX_LENGTH_DECREASED #/properties/a/maxLength"], False),
    ("$ref replaced by its target", {"definitions": {"x": S}, **obj({"a": {"$ref": "#/definitions/x"}})},
     obj({"a": S}), [], True),
    ("recursive schema", {"$defs": {"n": obj({"next": {"$ref": "#/$defs/n"}, "v": I})}, "$ref": "#/$defs/n"},
     {"$defs": {"n": obj({"next": {"$ref": "#/$defs/n"}, "v": N})}, "$ref": "#/$defs/n"},
     ["TYPE_EXTENDED #/properties/v"], True),
    ("2020-12 id is not compared", modern({"$id": "urn:a"}), modern({"$id": "urn:b"}), [], True),
]


def _parse(schema) -> object:
    return PROVIDER.parse(json.dumps(schema))


@pytest.mark.parametrize("name,original,update,expected,compatible", CASES, ids=[c[0] for c in CASES])
def test_difference_table(name, original, update, expected, compatible):
    found = differences(_parse(original).model, _parse(update).model)
    assert sorted(repr(d) for d in found) == sorted(expected)
    assert all(d.kind in COMPATIBLE_CHANGES for d in found) is compatible


# Types Confluent defines that its diff never produces: a deprecated one, and two that come from
# metadata ("confluent:reserved" properties), not from comparing schemas.
NOT_PRODUCED_BY_THE_DIFF = {"PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "RESERVED_PROPERTY_REMOVED",
                            "RESERVED_PROPERTY_CONFLICTS_WITH_PROPERTY"}


def test_the_table_is_big_and_covers_every_difference_type():
    assert len(CASES) >= 60
    produced = {change.split()[0] for case in CASES for change in case[3]}
    assert produced == set(DIFFERENCE_TYPES) - NOT_PRODUCED_BY_THE_DIFF


def test_messages_render_like_confluent():
    old, new = _parse(obj({"a": S})), _parse(closed({"a": S}))
    assert [d.render("new", "old") for d in new.reader_incompatibilities(old)] == [
        "{errorType:\"ADDITIONAL_PROPERTIES_REMOVED\", description:\"The keyword at path '#/additionalProperties' "
        "in the new schema is not present in the old schema'}"]
    assert [d.render("old", "new") for d in old.reader_incompatibilities(new)] == []


def test_levels():
    v1, v2 = _parse(closed({"a": S})), _parse(closed({"a": S, "b": S}))
    assert compatibility.check("BACKWARD", v2, [(1, v1)]) == []
    forward = compatibility.check("FORWARD", v2, [(1, v1)])
    assert forward[0].startswith('{errorType:"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"')
    assert compatibility.check("FULL", v2, [(1, v1)])
    v3 = _parse(closed({"a": {**S, "maxLength": 3}}))
    assert compatibility.check("BACKWARD_TRANSITIVE", v3, [(1, v1), (2, v2)])
    assert compatibility.check("NONE", v3, [(1, v1)]) == []


def test_types_from_references():
    address_v1 = json.dumps(closed({"city": S}))
    address_v2 = json.dumps(closed({"city": {**S, "maxLength": 3}}))
    order = json.dumps(obj({"to": {"$ref": "address.json"}}))
    refs = [SchemaReference("address.json", "address", 1)]
    old = PROVIDER.parse(order, refs, {"address.json": address_v1})
    new = PROVIDER.parse(order, [SchemaReference("address.json", "address", 2)], {"address.json": address_v2})
    assert [repr(d) for d in differences(old.model, new.model)] == [
        "MAX_LENGTH_ADDED #/properties/to/properties/city/maxLength"]


def test_deeply_shared_definitions_stay_fast():
    # Many definitions referring to one another: memoized pairs keep this linear, not exponential.
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/definitions/d{i + 1}"}, {"type": "null"}]} for i in range(40)}
    defs["d40"] = S
    schema = {"definitions": defs, **obj({f"p{i}": {"$ref": f"#/definitions/d{i}"} for i in range(40)})}
    assert differences(_parse(schema).model, _parse(schema).model) == []


def test_lenient_policy_accepts_open_content_model_changes():
    old, new = _parse(obj({"a": S})), _parse(obj({"a": S, "b": S}))
    assert new.reader_incompatibilities(old)  # STRICT, the default
    assert new.reader_incompatibilities(old, policy="LENIENT") == []
    assert _parse(obj({"a": I})).reader_incompatibilities(old, policy="LENIENT")  # a type change stays incompatible
