"""JSON SchemaNode compatibility: Confluent's json-schema-provider `diff` rules over the model.

`differences(original, update)` lists every difference (type + JSON path) from the schema data
was written with to the schema that reads it; the ones outside COMPATIBLE_CHANGES (Confluent's
default STRICT policy) make the pair incompatible. Content models decide what adding or
removing a property means: open (additional properties allowed), closed (not allowed), or
partially open (allowed when they match additionalProperties / patternProperties schemas).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Callable

from formats.base import Incompatibility
from formats.json_schema.model import (MISSING, ArraySchema, CombinedSchema, ConstSchema, EmptySchema, EnumSchema,
                                       FalseSchema, NotSchema, NumberSchema, ObjectSchema, ReferenceSchema, SchemaNode,
                                       StringSchema, json_key)


# ------------------------------------------------------------------ difference types

_TYPES = """
ID_CHANGED DESCRIPTION_CHANGED TITLE_CHANGED DEFAULT_CHANGED SCHEMA_ADDED SCHEMA_REMOVED TYPE_EXTENDED
TYPE_NARROWED TYPE_CHANGED MAX_LENGTH_ADDED MAX_LENGTH_REMOVED MAX_LENGTH_INCREASED MAX_LENGTH_DECREASED
MIN_LENGTH_ADDED MIN_LENGTH_REMOVED MIN_LENGTH_INCREASED MIN_LENGTH_DECREASED PATTERN_ADDED PATTERN_REMOVED
PATTERN_CHANGED MAXIMUM_ADDED MAXIMUM_REMOVED MAXIMUM_INCREASED MAXIMUM_DECREASED MINIMUM_ADDED MINIMUM_REMOVED
MINIMUM_INCREASED MINIMUM_DECREASED EXCLUSIVE_MAXIMUM_ADDED EXCLUSIVE_MAXIMUM_REMOVED EXCLUSIVE_MAXIMUM_INCREASED
EXCLUSIVE_MAXIMUM_DECREASED EXCLUSIVE_MINIMUM_ADDED EXCLUSIVE_MINIMUM_REMOVED EXCLUSIVE_MINIMUM_INCREASED
EXCLUSIVE_MINIMUM_DECREASED MULTIPLE_OF_ADDED MULTIPLE_OF_REMOVED MULTIPLE_OF_EXPANDED MULTIPLE_OF_REDUCED
MULTIPLE_OF_CHANGED REQUIRED_ATTRIBUTE_ADDED REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED REQUIRED_ATTRIBUTE_REMOVED
MAX_PROPERTIES_ADDED MAX_PROPERTIES_REMOVED MAX_PROPERTIES_INCREASED MAX_PROPERTIES_DECREASED MIN_PROPERTIES_ADDED
MIN_PROPERTIES_REMOVED MIN_PROPERTIES_INCREASED MIN_PROPERTIES_DECREASED ADDITIONAL_PROPERTIES_ADDED
ADDITIONAL_PROPERTIES_REMOVED ADDITIONAL_PROPERTIES_EXTENDED ADDITIONAL_PROPERTIES_NARROWED DEPENDENCY_ARRAY_ADDED
DEPENDENCY_ARRAY_REMOVED DEPENDENCY_ARRAY_EXTENDED DEPENDENCY_ARRAY_NARROWED DEPENDENCY_ARRAY_CHANGED
DEPENDENCY_SCHEMA_ADDED DEPENDENCY_SCHEMA_REMOVED PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL
OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL
PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL
PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
RESERVED_PROPERTY_REMOVED RESERVED_PROPERTY_CONFLICTS_WITH_PROPERTY UNEVALUATED_PROPERTIES_ADDED
UNEVALUATED_PROPERTIES_REMOVED UNEVALUATED_PROPERTIES_EXTENDED UNEVALUATED_PROPERTIES_NARROWED MAX_ITEMS_ADDED
MAX_ITEMS_REMOVED MAX_ITEMS_INCREASED MAX_ITEMS_DECREASED MIN_ITEMS_ADDED MIN_ITEMS_REMOVED MIN_ITEMS_INCREASED
MIN_ITEMS_DECREASED MAX_CONTAINS_ADDED MAX_CONTAINS_REMOVED MAX_CONTAINS_INCREASED MAX_CONTAINS_DECREASED
MIN_CONTAINS_ADDED MIN_CONTAINS_REMOVED MIN_CONTAINS_INCREASED MIN_CONTAINS_DECREASED UNIQUE_ITEMS_ADDED
UNIQUE_ITEMS_REMOVED ADDITIONAL_ITEMS_ADDED ADDITIONAL_ITEMS_REMOVED ADDITIONAL_ITEMS_EXTENDED
ADDITIONAL_ITEMS_NARROWED UNEVALUATED_ITEMS_ADDED UNEVALUATED_ITEMS_REMOVED UNEVALUATED_ITEMS_EXTENDED
UNEVALUATED_ITEMS_NARROWED ITEM_ADDED_TO_OPEN_CONTENT_MODEL ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
ITEM_ADDED_TO_CLOSED_CONTENT_MODEL ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL
ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL ENUM_ARRAY_EXTENDED ENUM_ARRAY_NARROWED ENUM_ARRAY_CHANGED
COMBINED_TYPE_EXTENDED COMBINED_TYPE_CHANGED PRODUCT_TYPE_EXTENDED PRODUCT_TYPE_NARROWED SUM_TYPE_EXTENDED
SUM_TYPE_NARROWED COMBINED_TYPE_SUBSCHEMAS_CHANGED NOT_TYPE_EXTENDED NOT_TYPE_NARROWED
"""
DIFFERENCE_TYPES = tuple(_TYPES.split())

COMPATIBLE_CHANGES = frozenset("""
ID_CHANGED DESCRIPTION_CHANGED TITLE_CHANGED DEFAULT_CHANGED SCHEMA_REMOVED TYPE_EXTENDED MAX_LENGTH_INCREASED
MAX_LENGTH_REMOVED MIN_LENGTH_DECREASED MIN_LENGTH_REMOVED PATTERN_REMOVED MAXIMUM_INCREASED MAXIMUM_REMOVED
MINIMUM_DECREASED MINIMUM_REMOVED EXCLUSIVE_MAXIMUM_INCREASED EXCLUSIVE_MAXIMUM_REMOVED EXCLUSIVE_MINIMUM_DECREASED
EXCLUSIVE_MINIMUM_REMOVED MULTIPLE_OF_REDUCED MULTIPLE_OF_REMOVED REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED
REQUIRED_ATTRIBUTE_REMOVED DEPENDENCY_ARRAY_NARROWED DEPENDENCY_ARRAY_REMOVED DEPENDENCY_SCHEMA_REMOVED
MAX_PROPERTIES_INCREASED MAX_PROPERTIES_REMOVED MIN_PROPERTIES_DECREASED MIN_PROPERTIES_REMOVED
ADDITIONAL_PROPERTIES_ADDED ADDITIONAL_PROPERTIES_EXTENDED UNEVALUATED_PROPERTIES_ADDED UNEVALUATED_PROPERTIES_EXTENDED
PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL
OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL MAX_ITEMS_INCREASED MAX_ITEMS_REMOVED MIN_ITEMS_DECREASED
MIN_ITEMS_REMOVED MAX_CONTAINS_INCREASED MAX_CONTAINS_REMOVED MIN_CONTAINS_DECREASED MIN_CONTAINS_REMOVED
UNIQUE_ITEMS_REMOVED ADDITIONAL_ITEMS_ADDED ADDITIONAL_ITEMS_EXTENDED UNEVALUATED_ITEMS_ADDED UNEVALUATED_ITEMS_EXTENDED
ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL ITEM_ADDED_TO_CLOSED_CONTENT_MODEL
ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL
ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
ENUM_ARRAY_EXTENDED COMBINED_TYPE_EXTENDED PRODUCT_TYPE_NARROWED SUM_TYPE_EXTENDED NOT_TYPE_NARROWED
""".split())

# Confluent's LENIENT policy (`compatibilityPolicy`) also accepts these.
COMPATIBLE_CHANGES_LENIENT = COMPATIBLE_CHANGES | frozenset("""
ADDITIONAL_PROPERTIES_NARROWED ADDITIONAL_PROPERTIES_REMOVED UNEVALUATED_PROPERTIES_NARROWED
UNEVALUATED_PROPERTIES_REMOVED REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL
PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
""".split())

_KEYWORD = {"MAXIMUM_ADDED", "MINIMUM_ADDED", "EXCLUSIVE_MAXIMUM_ADDED", "EXCLUSIVE_MINIMUM_ADDED", "MULTIPLE_OF_ADDED",
            "MAX_LENGTH_ADDED", "MIN_LENGTH_ADDED", "PATTERN_ADDED", "REQUIRED_ATTRIBUTE_ADDED",
            "MAX_PROPERTIES_ADDED", "MIN_PROPERTIES_ADDED", "DEPENDENCY_ARRAY_ADDED", "DEPENDENCY_SCHEMA_ADDED",
            "MAX_ITEMS_ADDED", "MIN_ITEMS_ADDED", "MAX_CONTAINS_ADDED", "MIN_CONTAINS_ADDED", "UNIQUE_ITEMS_ADDED",
            "ADDITIONAL_ITEMS_REMOVED", "ADDITIONAL_PROPERTIES_REMOVED", "UNEVALUATED_PROPERTIES_REMOVED",
            "UNEVALUATED_ITEMS_REMOVED"}
_INCREASED = {"MIN_LENGTH_INCREASED", "MINIMUM_INCREASED", "EXCLUSIVE_MINIMUM_INCREASED", "MIN_PROPERTIES_INCREASED",
              "MULTIPLE_OF_EXPANDED", "MIN_ITEMS_INCREASED", "MIN_CONTAINS_INCREASED"}
_DECREASED = {"MAX_LENGTH_DECREASED", "MAXIMUM_DECREASED", "MAX_ITEMS_DECREASED", "MAX_CONTAINS_DECREASED",
              "EXCLUSIVE_MAXIMUM_DECREASED", "MAX_PROPERTIES_DECREASED"}
_NARROWED = {"ADDITIONAL_ITEMS_NARROWED", "ENUM_ARRAY_NARROWED", "SUM_TYPE_NARROWED", "ADDITIONAL_PROPERTIES_NARROWED",
             "UNEVALUATED_PROPERTIES_NARROWED", "UNEVALUATED_ITEMS_NARROWED"}
_VALUE_CHANGED = {"PATTERN_CHANGED", "MULTIPLE_OF_CHANGED", "DEPENDENCY_ARRAY_CHANGED"}
_TYPE_CHANGED = {"TYPE_CHANGED", "TYPE_NARROWED", "COMBINED_TYPE_CHANGED", "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
                 "ENUM_ARRAY_CHANGED"}
_EXTENDED = {"DEPENDENCY_ARRAY_EXTENDED", "PRODUCT_TYPE_EXTENDED", "SUM_TYPE_EXTENDED", "NOT_TYPE_EXTENDED"}
_ADDED_TO_OPEN = {"REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
                  "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL",
                  "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "ITEM_ADDED_TO_OPEN_CONTENT_MODEL"}


def _template(kind: str) -> str:
    if kind in _KEYWORD:
        return "The keyword at path '{path}' in the {0} schema is not present in the {1} schema"
    if kind in _INCREASED:
        return "The value at path '{path}' in the {0} schema is more than its value in the {1} schema"
    if kind in _DECREASED:
        return "The value at path '{path}' in the {0} schema is less than its value in the {1} schema"
    if kind in _VALUE_CHANGED:
        return "The value at path '{path}' is different between the {0} and {1} schema"
    if kind in _NARROWED:
        return "An array or combined type at path '{path}' has fewer elements in the {0} schema than the {1} schema"
    if kind in _EXTENDED:
        return "An array or combined type at path '{path}' has more elements in the {0} schema than the {1} schema"
    if kind in _TYPE_CHANGED:
        return "A type at path '{path}' is different between the {0} schema and the {1} schema"
    if kind in _ADDED_TO_OPEN:
        return ("The {0} schema has an open content model and has a property or item at path '{path}' which is "
                "missing in the {1} schema")
    if kind == "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL":
        return ("The {0} schema has an unopen content model and has a required property at path '{path}' which "
                "is missing in the {1} schema")
    if kind in ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL"):
        return ("The {0} has a closed content model and is missing a property or item present at path '{path}' "
                "in the {1} schema")
    if kind in ("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"):
        return ("A property or item is missing in the {0} schema but present at path '{path}' in the {1} schema "
                "and is not covered by its partially open content model")
    if kind in ("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"):
        return ("The {0} schema has a property or item at path '{path}' which is missing in the {1} schema and is "
                "not covered by its partially open content model")
    return ""


class JsonSchemaDifference(Incompatibility):
    """One difference; rendered as Confluent's `{errorType:"...", description:"..."}`."""

    def __init__(self, kind: str, path: str):
        self.kind = kind
        self.path = path

    def description(self, reader: str, writer: str) -> str:
        return _template(self.kind).format(reader, writer, path=self.path)

    def render(self, reader: str, writer: str) -> str:
        # Byte for byte Confluent's Difference.toString, whose description closes with a quote: '
        return f'{{errorType:"{self.kind}", description:"{self.description(reader, writer)}\'}}'

    def __eq__(self, other) -> bool:
        return isinstance(other, JsonSchemaDifference) and (self.kind, self.path) == (other.kind, other.path)

    def __hash__(self) -> int:
        return hash((self.kind, self.path))

    def __repr__(self) -> str:
        return f"{self.kind} {self.path}"


# ------------------------------------------------------------------ diff context

class Context:
    """Differences found at a JSON path, with Confluent's memoization over (original, update)
    pairs: results are cached per pair and rebased onto the path where the pair is met again;
    a pair met while it is being compared (a recursive cycle) is assumed compatible, unless an
    earlier pass found it incompatible (the `seed`), which is iterated to a fixpoint."""

    def __init__(self, compatible: frozenset, memo: dict, in_progress: set, seed: dict, optimism: list):
        self.compatible = compatible
        self.memo = memo
        self.in_progress = in_progress
        self.seed = seed
        self.optimism = optimism
        self.path: list[str] = []
        self.diffs: list[JsonSchemaDifference] = []

    @classmethod
    def root(cls, compatible: frozenset, seed: dict) -> "Context":
        return cls(compatible, {}, set(), seed, [False])

    def sub(self) -> "Context":
        ctx = Context(self.compatible, self.memo, self.in_progress, self.seed, self.optimism)
        ctx.path = list(self.path)
        return ctx

    def fresh(self) -> "Context":
        return Context(self.compatible, self.memo, self.in_progress, self.seed, self.optimism)

    def enter(self, part: str) -> "_Scope":
        return _Scope(self.path, part)

    def add(self, kind: str, attribute: str | None = None) -> None:
        parts = self.path + [attribute] if attribute is not None else self.path
        self.diffs.append(JsonSchemaDifference(kind, "#/" + "/".join(parts)))

    def is_compatible(self) -> bool:
        return all(d.kind in self.compatible for d in self.diffs)

    def add_rebased(self, relative: list[JsonSchemaDifference]) -> None:
        if not self.path:
            self.diffs.extend(relative)
            return
        prefix = "#/" + "/".join(self.path)
        for d in relative:
            path = prefix if len(d.path) <= 2 else prefix + "/" + d.path[2:]
            self.diffs.append(JsonSchemaDifference(d.kind, path))

    def memoized(self, original: SchemaNode, update: SchemaNode, compare: Callable) -> list[JsonSchemaDifference]:
        key = (id(original), id(update))
        if key in self.memo:
            return self.memo[key][0]
        if key in self.in_progress:
            if key in self.seed:
                return self.seed[key]
            self.optimism[0] = True
            return []
        self.in_progress.add(key)
        try:
            ctx = self.fresh()
            compare(ctx)
            result = list(ctx.diffs)
            # keep the pair alive so its id is not reused while the memo lives
            self.memo[key] = (result, original, update)
            return result
        finally:
            self.in_progress.discard(key)

    def incompatible_pairs(self) -> dict:
        return {key: value[0] for key, value in self.memo.items()
                if any(d.kind not in self.compatible for d in value[0])}


class _Scope:
    def __init__(self, path: list, part: str):
        self.path, self.part = path, part

    def __enter__(self):
        self.path.append(self.part)

    def __exit__(self, *exc):
        self.path.pop()


# ------------------------------------------------------------------ diff

def differences(original: SchemaNode, update: SchemaNode,
                compatible: frozenset = COMPATIBLE_CHANGES) -> list[JsonSchemaDifference]:
    """Every difference from `original` (the writer's schema) to `update` (the reader's)."""
    seed: dict = {}
    while True:
        ctx = Context.root(compatible, seed)
        compare(ctx, original, update)
        incompatible = ctx.incompatible_pairs()
        if not ctx.optimism[0] or set(incompatible) == set(seed):
            return ctx.diffs
        seed = incompatible


def _deref(schema: SchemaNode) -> SchemaNode:
    seen = 0
    while isinstance(schema, ReferenceSchema):
        schema = schema.referred
        seen += 1
        if schema is None or seen > 100:  # a reference to nothing but itself accepts anything
            return EmptySchema(True)
    return schema


def compare(ctx: Context, original: SchemaNode | None, update: SchemaNode | None) -> None:
    if original is None and update is None:
        return
    if original is None:
        ctx.add("SCHEMA_ADDED")
        return
    if update is None:
        ctx.add("SCHEMA_REMOVED")
        return
    o, u = _deref(original), _deref(update)
    ctx.add_rebased(ctx.memoized(o, u, lambda sub: _compare_types(sub, o, u)))


def _same_kind(a: SchemaNode, b: SchemaNode) -> bool:
    return type(a) is type(b) or (isinstance(a, CombinedSchema) and isinstance(b, CombinedSchema))


def _compare_types(ctx: Context, original: SchemaNode, update: SchemaNode) -> None:
    if not isinstance(original, CombinedSchema) and isinstance(update, CombinedSchema):
        if len(update.subschemas) == 1:
            sub = ctx.sub()
            compare(sub, original, update.subschemas[0])
            if sub.is_compatible():
                ctx.diffs.extend(sub.diffs)
                return
        elif update.criterion in ("anyOf", "oneOf"):
            for subschema in update.subschemas:
                sub = ctx.sub()
                compare(sub, original, subschema)
                if sub.is_compatible():
                    ctx.diffs.extend(sub.diffs)
                    ctx.add("SUM_TYPE_EXTENDED")
                    return
    elif isinstance(original, CombinedSchema) and not isinstance(update, CombinedSchema):
        if len(original.subschemas) == 1:
            sub = ctx.sub()
            compare(sub, original.subschemas[0], update)
            if sub.is_compatible():
                ctx.diffs.extend(sub.diffs)
                return
        elif original.criterion == "allOf":
            for subschema in original.subschemas:
                sub = ctx.sub()
                compare(sub, subschema, update)
                if sub.is_compatible():
                    ctx.diffs.extend(sub.diffs)
                    ctx.add("PRODUCT_TYPE_NARROWED")
                    return

    if not _same_kind(original, update):
        if isinstance(original, FalseSchema) or isinstance(update, EmptySchema):
            return
        if original.unprocessed.get("connect.type") == "bytes" == update.unprocessed.get("connect.type"):
            return  # Confluent: two types with connect.type bytes are equivalent
        ctx.add("TYPE_CHANGED")
        return

    if original.id != update.id:
        ctx.add("ID_CHANGED")
    if original.title != update.title:
        ctx.add("TITLE_CHANGED")
    if original.description != update.description:
        ctx.add("DESCRIPTION_CHANGED")
    if _json_differs(original.default, update.default):
        ctx.add("DEFAULT_CHANGED")

    if isinstance(original, StringSchema):
        _compare_string(ctx, original, update)
    elif isinstance(original, NumberSchema):
        _compare_number(ctx, original, update)
    elif isinstance(original, ConstSchema):
        if _json_differs(original.value, update.value):
            ctx.add("ENUM_ARRAY_CHANGED", "const")
    elif isinstance(original, EnumSchema):
        _compare_enum(ctx, original, update)
    elif isinstance(original, CombinedSchema):
        _compare_combined(ctx, original, update)
    elif isinstance(original, NotSchema):
        with ctx.enter("not"):
            sub = ctx.sub()
            compare(sub, update.must_not_match, original.must_not_match)  # reversed on purpose
            ctx.add("NOT_TYPE_NARROWED" if sub.is_compatible() else "NOT_TYPE_EXTENDED")
    elif isinstance(original, ObjectSchema):
        _compare_object(ctx, original, update)
    elif isinstance(original, ArraySchema):
        _compare_array(ctx, original, update)


def _json_differs(a, b) -> bool:
    if a is MISSING or b is MISSING:
        return (a is MISSING) != (b is MISSING)
    return json_key(a) != json_key(b)


def _limit(ctx: Context, name: str, original, update, prefix: str) -> None:
    """Added / removed / increased / decreased for a numeric keyword."""
    if original is None and update is None:
        return
    if original is None:
        ctx.add(f"{prefix}_ADDED", name)
    elif update is None:
        ctx.add(f"{prefix}_REMOVED", name)
    elif original < update:
        ctx.add(f"{prefix}_INCREASED", name)
    elif original > update:
        ctx.add(f"{prefix}_DECREASED", name)


def _compare_string(ctx: Context, original: StringSchema, update: StringSchema) -> None:
    _limit(ctx, "maxLength", original.max_length, update.max_length, "MAX_LENGTH")
    _limit(ctx, "minLength", original.min_length, update.min_length, "MIN_LENGTH")
    if original.pattern is None and update.pattern is not None:
        ctx.add("PATTERN_ADDED", "pattern")
    elif original.pattern is not None and update.pattern is None:
        ctx.add("PATTERN_REMOVED", "pattern")
    elif original.pattern != update.pattern:
        ctx.add("PATTERN_CHANGED", "pattern")


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        return None


def _compare_number(ctx: Context, original: NumberSchema, update: NumberSchema) -> None:
    _limit(ctx, "maximum", original.maximum, update.maximum, "MAXIMUM")
    _limit(ctx, "minimum", original.minimum, update.minimum, "MINIMUM")
    _limit(ctx, "exclusiveMaximum", original.exclusive_maximum, update.exclusive_maximum, "EXCLUSIVE_MAXIMUM")
    _limit(ctx, "exclusiveMinimum", original.exclusive_minimum, update.exclusive_minimum, "EXCLUSIVE_MINIMUM")
    o_mult, u_mult = _decimal(original.multiple_of), _decimal(update.multiple_of)
    if o_mult != u_mult:
        if o_mult is None:
            ctx.add("MULTIPLE_OF_ADDED", "multipleOf")
        elif u_mult is None:
            ctx.add("MULTIPLE_OF_REMOVED", "multipleOf")
        elif o_mult != 0 and u_mult % o_mult == 0:
            ctx.add("MULTIPLE_OF_EXPANDED", "multipleOf")
        elif u_mult != 0 and o_mult % u_mult == 0:
            ctx.add("MULTIPLE_OF_REDUCED", "multipleOf")
        else:
            ctx.add("MULTIPLE_OF_CHANGED", "multipleOf")
    if original.requires_integer != update.requires_integer:
        ctx.add("TYPE_EXTENDED" if original.requires_integer else "TYPE_NARROWED")


def _compare_enum(ctx: Context, original: EnumSchema, update: EnumSchema) -> None:
    o_values = {json_key(v) for v in original.values}
    u_values = {json_key(v) for v in update.values}
    if o_values != u_values:
        if u_values >= o_values:
            ctx.add("ENUM_ARRAY_EXTENDED", "enum")
        elif o_values >= u_values:
            ctx.add("ENUM_ARRAY_NARROWED", "enum")
        else:
            ctx.add("ENUM_ARRAY_CHANGED", "enum")


def _criteria_change(ctx: Context, original: CombinedSchema, update: CombinedSchema) -> str | None:
    o_crit, u_crit = original.criterion, update.criterion
    if o_crit == u_crit:
        return None
    o_single, u_single = len(original.subschemas) == 1, len(update.subschemas) == 1
    if u_crit == "anyOf" or (o_single and u_single) or (o_single and u_crit == "oneOf") \
            or (u_single and o_crit == "allOf"):
        kind = "COMBINED_TYPE_EXTENDED"
    else:
        kind = "COMBINED_TYPE_CHANGED"
    ctx.add(kind)
    return kind


def _distinct(schemas: list[SchemaNode]) -> list[SchemaNode]:
    seen: dict[tuple, SchemaNode] = {}
    for schema in schemas:
        seen.setdefault((type(schema).__name__, json_key(schema.raw)), schema)
    return list(seen.values())


def _compare_combined(ctx: Context, original: CombinedSchema, update: CombinedSchema) -> None:
    if _criteria_change(ctx, original, update) == "COMBINED_TYPE_CHANGED":
        return
    o_subs, u_subs = _distinct(original.subschemas), _distinct(update.subschemas)
    if len(o_subs) < len(u_subs):
        ctx.add("PRODUCT_TYPE_EXTENDED" if update.criterion == "allOf" else "SUM_TYPE_EXTENDED")
    elif len(o_subs) > len(u_subs):
        ctx.add("SUM_TYPE_NARROWED" if original.criterion in ("anyOf", "oneOf") else "PRODUCT_TYPE_NARROWED")
    edges: dict[int, dict[int, list]] = {}
    for i, o_sub in enumerate(o_subs):
        with ctx.enter(f"{original.criterion}/{i}"):
            for j, u_sub in enumerate(u_subs):
                sub = ctx.sub()
                compare(sub, o_sub, u_sub)
                if sub.is_compatible():
                    edges.setdefault(i, {})[j] = sub.diffs
    matching = _maximum_matching(edges, len(o_subs))
    for i, j in sorted(matching.items()):
        ctx.diffs.extend(edges[i][j])
    if len(matching) < min(len(o_subs), len(u_subs)):
        ctx.add("COMBINED_TYPE_SUBSCHEMAS_CHANGED")


def _maximum_matching(edges: dict[int, dict[int, list]], left: int) -> dict[int, int]:
    """A maximum bipartite matching (augmenting paths), as left index -> right index."""
    owner: dict[int, int] = {}

    def augment(i: int, seen: set) -> bool:
        for j in edges.get(i, {}):
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(left):
        augment(i, set())
    return {i: j for j, i in owner.items()}


# ------------------------------------------------------------------ objects

def _is_open_object(schema: ObjectSchema) -> bool:
    if not schema.additional_properties or schema.additional_schema is not None or schema.pattern_properties:
        return False
    return schema.unevaluated is None or isinstance(schema.unevaluated, EmptySchema)


def _partial_object_schema(schema: ObjectSchema, name: str) -> SchemaNode | None:
    for pattern, sub in schema.pattern_properties:
        try:
            if re.search(pattern, name):
                return sub
        except re.error:
            continue
    if schema.additional_schema is not None:
        return schema.additional_schema
    if schema.additional_properties and schema.unevaluated is not None \
            and not isinstance(schema.unevaluated, (FalseSchema, EmptySchema)):
        return schema.unevaluated
    return None


def _compare_object(ctx: Context, original: ObjectSchema, update: ObjectSchema) -> None:
    with ctx.enter("required"):
        for name in original.properties:
            if name in update.properties:
                with ctx.enter(name):
                    before, after = name in original.required, name in update.required
                    if before and not after:
                        ctx.add("REQUIRED_ATTRIBUTE_REMOVED")
                    elif after and not before:
                        ctx.add("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED" if update.properties[name].has_default
                                else "REQUIRED_ATTRIBUTE_ADDED")
    with ctx.enter("properties"):
        for name in list(original.properties) + [n for n in update.properties if n not in original.properties]:
            with ctx.enter(name):
                _compare_property(ctx, original, update, name)
    _compare_dependencies(ctx, original, update)
    with ctx.enter("additionalProperties"):
        if original.additional_properties != update.additional_properties:
            ctx.add("ADDITIONAL_PROPERTIES_ADDED" if update.additional_properties else "ADDITIONAL_PROPERTIES_REMOVED")
        elif original.additional_schema is None and update.additional_schema is not None:
            ctx.add("ADDITIONAL_PROPERTIES_NARROWED")
        elif update.additional_schema is None and original.additional_schema is not None:
            ctx.add("ADDITIONAL_PROPERTIES_EXTENDED")
        else:
            compare(ctx, original.additional_schema, update.additional_schema)
    _compare_unevaluated(ctx, "unevaluatedProperties", original.unevaluated, update.unevaluated, "PROPERTIES")
    _limit(ctx, "maxProperties", original.max_properties, update.max_properties, "MAX_PROPERTIES")
    _limit(ctx, "minProperties", original.min_properties, update.min_properties, "MIN_PROPERTIES")


def _compare_property(ctx: Context, original: ObjectSchema, update: ObjectSchema, name: str) -> None:
    o_schema, u_schema = original.properties.get(name), update.properties.get(name)
    if u_schema is None:
        # Removing a property is safe only if the update still accepts what the original allowed.
        if _is_open_object(update):
            ctx.add("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL")
            return
        partial = _partial_object_schema(update, name)
        if partial is not None:
            sub = ctx.sub()
            compare(sub, o_schema, partial)
            ctx.diffs.extend(sub.diffs)
            ctx.add("PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.is_compatible()
                    else "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
        elif isinstance(o_schema, FalseSchema):
            ctx.add("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")
        else:
            ctx.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL")
    elif o_schema is None:
        # Adding a property is safe only if the original could not have carried it otherwise.
        required = name in update.required
        if _is_open_object(original):
            if isinstance(u_schema, EmptySchema):
                ctx.add("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL")
            elif required:
                ctx.add("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL" if u_schema.has_default
                        else "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
            else:
                ctx.add("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
            return
        partial = _partial_object_schema(original, name)
        if partial is not None:
            sub = ctx.sub()
            compare(sub, partial, u_schema)
            ctx.diffs.extend(sub.diffs)
            ctx.add("PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.is_compatible()
                    else "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
        if required:
            ctx.add("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL" if u_schema.has_default
                    else "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")
        else:
            ctx.add("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")
    else:
        compare(ctx, o_schema, u_schema)


def _compare_dependencies(ctx: Context, original: ObjectSchema, update: ObjectSchema) -> None:
    with ctx.enter("dependencies"):
        o_deps, u_deps = original.property_dependencies, update.property_dependencies
        for name in list(o_deps) + [n for n in u_deps if n not in o_deps]:
            with ctx.enter(name):
                before, after = o_deps.get(name), u_deps.get(name)
                if after is None:
                    ctx.add("DEPENDENCY_ARRAY_REMOVED")
                elif before is None:
                    ctx.add("DEPENDENCY_ARRAY_ADDED")
                elif before != after:
                    if after >= before:
                        ctx.add("DEPENDENCY_ARRAY_EXTENDED")
                    elif before >= after:
                        ctx.add("DEPENDENCY_ARRAY_NARROWED")
                    else:
                        ctx.add("DEPENDENCY_ARRAY_CHANGED")
        o_deps, u_deps = original.schema_dependencies, update.schema_dependencies
        for name in list(o_deps) + [n for n in u_deps if n not in o_deps]:
            with ctx.enter(name):
                before, after = o_deps.get(name), u_deps.get(name)
                if after is None:
                    ctx.add("DEPENDENCY_SCHEMA_REMOVED")
                elif before is None:
                    ctx.add("DEPENDENCY_SCHEMA_ADDED")
                else:
                    compare(ctx, before, after)


def _compare_unevaluated(ctx: Context, keyword: str, original: SchemaNode | None, update: SchemaNode | None,
                         what: str) -> None:
    if original is None and update is None:
        return
    with ctx.enter(keyword):
        if original is None:
            ctx.add(f"UNEVALUATED_{what}_REMOVED" if isinstance(update, FalseSchema)
                    else f"UNEVALUATED_{what}_NARROWED")
        elif update is None:
            ctx.add(f"UNEVALUATED_{what}_ADDED" if isinstance(original, FalseSchema)
                    else f"UNEVALUATED_{what}_EXTENDED")
        elif isinstance(original, FalseSchema) and not isinstance(update, FalseSchema):
            ctx.add(f"UNEVALUATED_{what}_ADDED")
        elif not isinstance(original, FalseSchema) and isinstance(update, FalseSchema):
            ctx.add(f"UNEVALUATED_{what}_REMOVED")
        elif isinstance(original, EmptySchema) and not isinstance(update, EmptySchema):
            ctx.add(f"UNEVALUATED_{what}_NARROWED")
        elif not isinstance(original, EmptySchema) and isinstance(update, EmptySchema):
            ctx.add(f"UNEVALUATED_{what}_EXTENDED")
        else:
            compare(ctx, original, update)


# ------------------------------------------------------------------ arrays

def _is_open_array(schema: ArraySchema) -> bool:
    if not schema.additional_items or schema.additional_schema is not None:
        return False
    return schema.unevaluated is None or isinstance(schema.unevaluated, EmptySchema)


def _partial_array_schema(schema: ArraySchema) -> SchemaNode | None:
    if schema.additional_schema is not None:
        return schema.additional_schema
    if schema.additional_items and schema.unevaluated is not None \
            and not isinstance(schema.unevaluated, (FalseSchema, EmptySchema)):
        return schema.unevaluated
    return None


def _compare_array(ctx: Context, original: ArraySchema, update: ArraySchema) -> None:
    with ctx.enter("items"):
        compare(ctx, original.all_items, update.all_items)
    _compare_tuple(ctx, original, update)
    with ctx.enter("additionalItems"):
        if original.additional_items != update.additional_items:
            ctx.add("ADDITIONAL_ITEMS_REMOVED" if original.additional_items else "ADDITIONAL_ITEMS_ADDED")
        elif original.additional_schema is None and update.additional_schema is not None:
            ctx.add("ADDITIONAL_ITEMS_NARROWED")
        elif update.additional_schema is None and original.additional_schema is not None:
            ctx.add("ADDITIONAL_ITEMS_EXTENDED")
        else:
            compare(ctx, original.additional_schema, update.additional_schema)
    _compare_unevaluated(ctx, "unevaluatedItems", original.unevaluated, update.unevaluated, "ITEMS")
    _limit(ctx, "maxItems", original.max_items, update.max_items, "MAX_ITEMS")
    _limit(ctx, "minItems", original.min_items, update.min_items, "MIN_ITEMS")
    if original.unique_items != update.unique_items:
        ctx.add("UNIQUE_ITEMS_REMOVED" if original.unique_items else "UNIQUE_ITEMS_ADDED", "uniqueItems")
    _limit(ctx, "maxContains", original.max_contains, update.max_contains, "MAX_CONTAINS")
    _limit(ctx, "minContains", original.min_contains, update.min_contains, "MIN_CONTAINS")


def _compare_tuple(ctx: Context, original: ArraySchema, update: ArraySchema) -> None:
    o_items, u_items = original.item_schemas or [], update.item_schemas or []
    common = min(len(o_items), len(u_items))
    for index in range(common):
        with ctx.enter(f"items/{index}"):
            compare(ctx, o_items[index], u_items[index])
    for index in range(common, len(o_items)):
        with ctx.enter(f"items/{index}"):
            if _is_open_array(update):
                ctx.add("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL")
                continue
            partial = _partial_array_schema(update)
            if partial is not None:
                sub = ctx.sub()
                compare(sub, o_items[index], partial)
                ctx.diffs.extend(sub.diffs)
                ctx.add("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.is_compatible()
                        else "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
            elif isinstance(o_items[index], FalseSchema):
                ctx.add("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")
            else:
                ctx.add("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL")
    for index in range(common, len(u_items)):
        with ctx.enter(f"items/{index}"):
            if _is_open_array(original):
                ctx.add("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL" if isinstance(u_items[index], EmptySchema)
                        else "ITEM_ADDED_TO_OPEN_CONTENT_MODEL")
                continue
            partial = _partial_array_schema(original)
            if partial is not None:
                sub = ctx.sub()
                compare(sub, partial, u_items[index])
                ctx.diffs.extend(sub.diffs)
                ctx.add("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" if sub.is_compatible()
                        else "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")
            else:
                ctx.add("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL")
