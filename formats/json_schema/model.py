"""JSON SchemaNode as Confluent's compatibility checker sees it (everit's loader).

A schema object becomes one typed node (string, number, object, array, enum, const,
combined, not, ...) or, when its keywords belong to several kinds, a synthetic allOf of them;
`"type": [..]` becomes an anyOf; `$ref` is followed, so recursive schemas are graphs.
"""

from __future__ import annotations

import json
from typing import Callable

MISSING = object()


# ------------------------------------------------------------------ model

def json_key(value) -> str:
    """A JSON value's identity: key order ignored, booleans distinct from numbers, 1 == 1.0."""
    def norm(v):
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, (int, float)):
            return float(v) if isinstance(v, float) and not v.is_integer() else int(v)
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v
    return json.dumps(norm(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SchemaNode:
    def __init__(self, raw):
        self.raw = raw
        self.id = None
        self.title = None
        self.description = None
        self.default = MISSING
        self.unprocessed: dict = {}

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING


class EmptySchema(SchemaNode):
    pass


class TrueSchema(EmptySchema):
    pass


class FalseSchema(SchemaNode):
    pass


class BooleanSchema(SchemaNode):
    pass


class NullSchema(SchemaNode):
    pass


class StringSchema(SchemaNode):
    min_length = max_length = pattern = None


class NumberSchema(SchemaNode):
    minimum = maximum = exclusive_minimum = exclusive_maximum = multiple_of = None
    requires_integer = False


class ObjectSchema(SchemaNode):
    def __init__(self, raw):
        super().__init__(raw)
        self.properties: dict[str, SchemaNode] = {}
        self.required: list[str] = []
        self.min_properties = self.max_properties = None
        self.property_dependencies: dict[str, set] = {}
        self.schema_dependencies: dict[str, SchemaNode] = {}
        self.additional_properties = True
        self.additional_schema: SchemaNode | None = None
        self.pattern_properties: list[tuple[str, SchemaNode]] = []
        self.unevaluated: SchemaNode | None = None


class ArraySchema(SchemaNode):
    def __init__(self, raw):
        super().__init__(raw)
        self.all_items: SchemaNode | None = None
        self.item_schemas: list[SchemaNode] | None = None
        self.additional_items = True
        self.additional_schema: SchemaNode | None = None
        self.min_items = self.max_items = None
        self.unique_items = False
        self.min_contains = self.max_contains = None
        self.unevaluated: SchemaNode | None = None


class EnumSchema(SchemaNode):
    values: list = []


class ConstSchema(SchemaNode):
    value = None


class CombinedSchema(SchemaNode):
    def __init__(self, raw, criterion: str, subschemas: list):
        super().__init__(raw)
        self.criterion = criterion
        self.subschemas = subschemas


class NotSchema(SchemaNode):
    must_not_match: SchemaNode | None = None


class ConditionalSchema(SchemaNode):
    pass


class _Target:
    """The schema a `$ref` points to; several references (and cycles) share one."""

    schema: SchemaNode | None = None


class ReferenceSchema(SchemaNode):
    def __init__(self, raw, ref: str, target: _Target):
        super().__init__(raw)
        self.ref = ref
        self.target = target

    @property
    def referred(self) -> SchemaNode | None:
        return self.target.schema


# ------------------------------------------------------------------ loading (everit's rules)

DRAFT4, DRAFT6, DRAFT7, DRAFT2019, DRAFT2020 = "draft4", "draft6", "draft7", "2019-09", "2020-12"
_MODERN = (DRAFT2019, DRAFT2020)
_OBJECT_V4 = ("properties", "required", "minProperties", "maxProperties", "dependencies", "patternProperties",
              "additionalProperties")
_OBJECT_V6 = _OBJECT_V4 + ("propertyNames",)
_OBJECT_MODERN = _OBJECT_V6 + ("dependentRequired", "dependentSchemas", "unevaluatedProperties")
_ARRAY_V4 = ("items", "additionalItems", "minItems", "maxItems", "uniqueItems")
_ARRAY_V6 = _ARRAY_V4 + ("contains",)
_ARRAY_MODERN = _ARRAY_V6 + ("prefixItems", "unevaluatedItems", "minContains", "maxContains")
_NUMBER = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_STRING = ("minLength", "maxLength", "pattern", "format")
_CONDITIONAL = ("if", "then", "else")
_ANNOTATIONS = {"title", "description", "default", "$id", "id", "$schema", "$comment", "examples", "readOnly",
                "writeOnly", "deprecated", "$defs", "definitions", "$anchor", "$dynamicAnchor", "$vocabulary"}


class SchemaLoader:
    """Builds the model of a schema document; `lookup(ref, scope)` resolves a `$ref`.

    `lookup` returns (target JSON, the scope inside it, a key naming the target) and raises
    for references that do not resolve; `enter(node, scope)` gives the scope inside a subschema
    that changes the base URI (`$id`).
    """

    def __init__(self, draft: str, lookup: Callable, enter: Callable):
        self.draft = draft
        self.lookup = lookup
        self.enter = enter
        self.refs: dict = {}
        self.object_keywords = _OBJECT_MODERN if draft in _MODERN else _OBJECT_V4 if draft == DRAFT4 else _OBJECT_V6
        self.array_keywords = _ARRAY_MODERN if draft in _MODERN else _ARRAY_V4 if draft == DRAFT4 else _ARRAY_V6

    def load(self, node, scope) -> SchemaNode:
        if node is True:
            return TrueSchema(node)
        if node is False:
            return FalseSchema(node)
        if not isinstance(node, dict):
            raise ValueError(f"a schema must be an object or a boolean, not {json.dumps(node)[:100]}")
        scope = self.enter(node, scope)
        remaining = dict(node)
        ref = remaining.get("$ref")
        if isinstance(ref, str) and (self.draft not in _MODERN or set(remaining) - _ANNOTATIONS <= {"$ref"}):
            schema: SchemaNode = self._reference(node, ref, scope)
            remaining = {k: v for k, v in remaining.items() if k != "$ref"}
        else:
            parts = []
            if isinstance(ref, str):  # 2019-09 and later: $ref applies next to the other keywords
                parts.append(self._reference(node, remaining.pop("$ref"), scope))
            parts += self._extract(node, remaining, scope)
            if not parts:
                schema = EmptySchema(node)
            elif len(parts) == 1:
                schema = parts[0]
            else:
                schema = CombinedSchema(node, "allOf", parts)
        self._common(schema, remaining)
        return schema

    def _reference(self, node, ref: str, scope) -> ReferenceSchema:
        contents, target_scope, key = self.lookup(ref, scope)
        target = self.refs.get(key)
        if target is None:
            target = self.refs[key] = _Target()
            target.schema = self.load(contents, target_scope)
        return ReferenceSchema(node, ref, target)

    def _common(self, schema: SchemaNode, remaining: dict) -> None:
        id_keyword = "id" if self.draft == DRAFT4 else "$id"
        if isinstance(remaining.get(id_keyword), str):
            identifier = remaining.pop(id_keyword)
            # Confluent's 2019-09/2020-12 loader does not keep `$id`, so it is never compared there.
            schema.id = None if self.draft in _MODERN else identifier
        for name in ("title", "description"):
            if isinstance(remaining.get(name), str):
                setattr(schema, name, remaining.pop(name))
        if "default" in remaining:
            schema.default = remaining.pop("default")
        schema.unprocessed = remaining

    def _take(self, remaining: dict, keys) -> dict:
        return {k: remaining.pop(k) for k in keys if k in remaining}

    def _extract(self, node, remaining: dict, scope) -> list[SchemaNode]:
        out: list[SchemaNode] = []
        if "enum" in remaining:
            enum = EnumSchema(node)
            values = remaining.pop("enum")
            enum.values = list(values) if isinstance(values, list) else []
            out.append(enum)
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in remaining:
                subschemas = remaining.pop(keyword)
                out.append(CombinedSchema(node, keyword, [self.load(s, scope) for s in _as_list(subschemas)]))
        if "not" in remaining:
            negation = NotSchema(node)
            negation.must_not_match = self.load(remaining.pop("not"), scope)
            out.append(negation)
        if "const" in remaining and self.draft != DRAFT4:
            const = ConstSchema(node)
            const.value = remaining.pop("const")
            out.append(const)
        if "type" in remaining:
            out.append(self._typed(node, remaining, scope))
        if any(k in remaining for k in self.array_keywords):
            out.append(self._array(node, remaining, scope))
        if self.draft in _MODERN:
            for keyword in ("properties", "patternProperties"):
                if remaining.get(keyword) == {}:  # constrains nothing: Confluent's 2020-12 loader drops it
                    remaining.pop(keyword)
        if any(k in remaining for k in self.object_keywords):
            out.append(self._object(node, remaining, scope))
        if any(k in remaining for k in _NUMBER):
            out.append(self._number(node, remaining))
        if any(k in remaining for k in _STRING):
            out.append(self._string(node, remaining))
        if self.draft not in (DRAFT4, DRAFT6) and any(k in remaining for k in _CONDITIONAL):
            self._take(remaining, _CONDITIONAL)
            out.append(ConditionalSchema(node))
        return out

    def _typed(self, node, remaining: dict, scope) -> SchemaNode:
        kind = remaining.pop("type")
        if isinstance(kind, list):
            return CombinedSchema(node, "anyOf", [self._explicit({**node, "type": k}, k, remaining, scope)
                                                  for k in kind])
        return self._explicit(node, kind, remaining, scope)

    def _explicit(self, node, kind, remaining: dict, scope) -> SchemaNode:
        if kind == "string":
            return self._string(node, remaining)
        if kind in ("integer", "number"):
            number = self._number(node, remaining)
            number.requires_integer = kind == "integer"
            return number
        if kind == "boolean":
            return BooleanSchema(node)
        if kind == "null":
            return NullSchema(node)
        if kind == "array":
            return self._array(node, remaining, scope)
        if kind == "object":
            return self._object(node, remaining, scope)
        raise ValueError(f"unknown type: [{kind}]")

    def _string(self, node, remaining: dict) -> StringSchema:
        values = self._take(remaining, _STRING)
        schema = StringSchema(node)
        schema.min_length = _integer(values.get("minLength"))
        schema.max_length = _integer(values.get("maxLength"))
        schema.pattern = values.get("pattern") if isinstance(values.get("pattern"), str) else None
        return schema

    def _number(self, node, remaining: dict) -> NumberSchema:
        values = self._take(remaining, _NUMBER)
        schema = NumberSchema(node)
        schema.minimum = _number(values.get("minimum"))
        schema.maximum = _number(values.get("maximum"))
        schema.multiple_of = _number(values.get("multipleOf"))
        # Draft 4's boolean exclusiveMinimum/Maximum modify minimum/maximum; only numeric limits count.
        schema.exclusive_minimum = _number(values.get("exclusiveMinimum"))
        schema.exclusive_maximum = _number(values.get("exclusiveMaximum"))
        return schema

    def _object(self, node, remaining: dict, scope) -> ObjectSchema:
        values = self._take(remaining, self.object_keywords)
        schema = ObjectSchema(node)
        for name, sub in _as_dict(values.get("properties")).items():
            schema.properties[name] = self.load(sub, scope)
        schema.required = [r for r in _as_list(values.get("required")) if isinstance(r, str)]
        schema.min_properties = _integer(values.get("minProperties"))
        schema.max_properties = _integer(values.get("maxProperties"))
        extra = values.get("additionalProperties", True)
        if extra is False:
            schema.additional_properties = False
        elif extra is not True:
            schema.additional_schema = self.load(extra, scope)
        for pattern, sub in _as_dict(values.get("patternProperties")).items():
            schema.pattern_properties.append((pattern, self.load(sub, scope)))
        dependencies = dict(_as_dict(values.get("dependencies")))
        dependencies.update(_as_dict(values.get("dependentRequired")))
        dependencies.update(_as_dict(values.get("dependentSchemas")))
        for name, dep in dependencies.items():
            if isinstance(dep, list):
                schema.property_dependencies[name] = {d for d in dep if isinstance(d, str)}
            else:
                schema.schema_dependencies[name] = self.load(dep, scope)
        if self.draft in _MODERN and "unevaluatedProperties" in values:
            schema.unevaluated = self.load(values["unevaluatedProperties"], scope)
        return schema

    def _array(self, node, remaining: dict, scope) -> ArraySchema:
        values = self._take(remaining, self.array_keywords)
        schema = ArraySchema(node)
        schema.min_items = _integer(values.get("minItems"))
        schema.max_items = _integer(values.get("maxItems"))
        schema.unique_items = values.get("uniqueItems") is True
        items = values.get("items", MISSING)
        extra = values.get("additionalItems", True)
        if self.draft in _MODERN:
            if "contains" in values:  # as Confluent's 2020-12 loader: minContains defaults to 1
                schema.min_contains = _integer(values.get("minContains", 1))
                schema.max_contains = _integer(values.get("maxContains"))
            prefix = values.get("prefixItems") if self.draft == DRAFT2020 else None
            if isinstance(prefix, list):
                schema.item_schemas = [self.load(s, scope) for s in prefix]
            if items is True or items is MISSING:
                items = MISSING
            elif items is False:
                extra, items = False, MISSING
            elif isinstance(prefix, list):
                extra, items = items, MISSING
        else:
            schema.min_contains = _integer(values.get("minContains", node.get("minContains")))
            schema.max_contains = _integer(values.get("maxContains", node.get("maxContains")))
        if isinstance(items, list):
            schema.item_schemas = [self.load(s, scope) for s in items]
        elif items is not MISSING:
            schema.all_items = self.load(items, scope)
        if extra is False:
            schema.additional_items = False
        elif extra is not True:
            schema.additional_schema = self.load(extra, scope)
        if self.draft in _MODERN and "unevaluatedItems" in values:
            schema.unevaluated = self.load(values["unevaluatedItems"], scope)
        return schema


def _as_list(value) -> list:
    return value if isinstance(value, list) else []


def _as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _integer(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value
