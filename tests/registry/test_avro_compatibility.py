"""Avro compatibility: a table of schema evolutions from the Avro specification's resolution rules,
each with its expected result at every level. History is oldest first; the last entry is "latest".

Levels, in the order of each expectation string: BACKWARD, BACKWARD_TRANSITIVE, FORWARD,
FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE  ("Y" compatible, "N" not).
"""

from __future__ import annotations

import json

import pytest

from registry.compatibility import LEVELS, check
from formats import provider

ORDER = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE")
assert set(ORDER) == set(LEVELS)

NO = object()


def f(name, type_, default=NO, **extra):
    field = {"name": name, "type": type_, **extra}
    if default is not NO:
        field["default"] = default
    return field


def rec(*fields, name="R", **extra):
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def enum(symbols, name="E", **extra):
    return {"type": "enum", "name": name, "symbols": symbols, **extra}


def fixed(size, name="F", **extra):
    return {"type": "fixed", "name": name, "size": size, **extra}


def node(*extra_fields):
    return rec(f("value", "int"), f("next", ["null", "Node"], None), *extra_fields, name="Node")


A = f("a", "int")
B_DEF = f("b", "string", "x")
B_REQ = f("b", "string")

# (id, history, new, expectation)
CASES = [
    ("identical-record", [rec(A)], rec(A), "YYYYYYY"),
    ("add-field-with-default", [rec(A)], rec(A, B_DEF), "YYYYYYY"),
    ("add-field-without-default", [rec(A)], rec(A, B_REQ), "NNYYNNY"),
    ("remove-field-with-default", [rec(A, B_DEF)], rec(A), "YYYYYYY"),
    ("remove-field-without-default", [rec(A, B_REQ)], rec(A), "YYNNNNY"),
    ("int-to-long", [rec(f("a", "int"))], rec(f("a", "long")), "YYNNNNY"),
    ("long-to-int", [rec(f("a", "long"))], rec(f("a", "int")), "NNYYNNY"),
    ("int-to-float", [rec(f("a", "int"))], rec(f("a", "float")), "YYNNNNY"),
    ("int-to-double", [rec(f("a", "int"))], rec(f("a", "double")), "YYNNNNY"),
    ("long-to-float", [rec(f("a", "long"))], rec(f("a", "float")), "YYNNNNY"),
    ("long-to-double", [rec(f("a", "long"))], rec(f("a", "double")), "YYNNNNY"),
    ("float-to-double", [rec(f("a", "float"))], rec(f("a", "double")), "YYNNNNY"),
    ("double-to-float", [rec(f("a", "double"))], rec(f("a", "float")), "NNYYNNY"),
    ("string-to-bytes", [rec(f("a", "string"))], rec(f("a", "bytes")), "YYYYYYY"),
    ("bytes-to-string", [rec(f("a", "bytes"))], rec(f("a", "string")), "YYYYYYY"),
    ("string-to-int", [rec(f("a", "string"))], rec(f("a", "int")), "NNNNNNY"),
    ("boolean-to-int", [rec(f("a", "boolean"))], rec(f("a", "int")), "NNNNNNY"),
    ("null-to-string", [rec(f("a", "null"))], rec(f("a", "string")), "NNNNNNY"),
    ("enum-add-symbol", [rec(f("e", enum(["A", "B"])))], rec(f("e", enum(["A", "B", "C"]))), "YYNNNNY"),
    ("enum-remove-symbol", [rec(f("e", enum(["A", "B", "C"])))], rec(f("e", enum(["A", "B"]))), "NNYYNNY"),
    ("enum-remove-symbol-reader-default", [rec(f("e", enum(["A", "B", "C"])))],
     rec(f("e", enum(["A", "B"], default="A"))), "YYYYYYY"),
    ("enum-add-symbol-old-has-default", [rec(f("e", enum(["A", "B"], default="A")))],
     rec(f("e", enum(["A", "B", "C"], default="A"))), "YYYYYYY"),
    ("enum-renamed", [rec(f("e", enum(["A"], name="E1")))], rec(f("e", enum(["A"], name="E2"))), "NNNNNNY"),
    ("enum-renamed-with-alias", [rec(f("e", enum(["A"], name="E1")))],
     rec(f("e", enum(["A"], name="E2", aliases=["E1"]))), "YYNNNNY"),
    ("fixed-size-changed", [rec(f("x", fixed(4)))], rec(f("x", fixed(8))), "NNNNNNY"),
    ("fixed-same", [rec(f("x", fixed(4)))], rec(f("x", fixed(4))), "YYYYYYY"),
    ("fixed-renamed", [rec(f("x", fixed(4, name="F1")))], rec(f("x", fixed(4, name="F2"))), "NNNNNNY"),
    ("record-renamed", [rec(A, name="R1")], rec(A, name="R2"), "NNNNNNY"),
    ("record-renamed-with-alias", [rec(A, name="R1")], rec(A, name="R2", aliases=["R1"]), "YYNNNNY"),
    ("namespace-changed", [rec(A, namespace="one")], rec(A, namespace="two"), "YYYYYYY"),
    ("field-renamed", [rec(f("a", "int"))], rec(f("b", "int")), "NNNNNNY"),
    ("field-renamed-with-alias", [rec(f("a", "int"))], rec(f("b", "int", aliases=["a"])), "YYNNNNY"),
    ("field-renamed-with-alias-and-default", [rec(f("a", "int"))], rec(f("b", "int", 0, aliases=["a"])),
     "YYNNNNY"),
    ("type-to-optional", [rec(f("a", "string"))], rec(f("a", ["null", "string"], None)), "YYNNNNY"),
    ("optional-to-type", [rec(f("a", ["null", "string"], None))], rec(f("a", "string")), "NNYYNNY"),
    ("union-add-branch", [rec(f("a", ["null", "string"]))], rec(f("a", ["null", "string", "int"])), "YYNNNNY"),
    ("union-remove-branch", [rec(f("a", ["null", "string", "int"]))], rec(f("a", ["null", "string"])), "NNYYNNY"),
    ("union-reordered", [rec(f("a", ["null", "string"]))], rec(f("a", ["string", "null"])), "YYYYYYY"),
    ("union-branch-promoted", [rec(f("a", ["null", "int"]))], rec(f("a", ["null", "long"])), "YYNNNNY"),
    ("int-read-by-union-with-long", [rec(f("a", "int"))], rec(f("a", ["long", "string"])), "YYNNNNY"),
    ("union-narrowed", [rec(f("a", ["int", "string"]))], rec(f("a", ["int"])), "NNYYNNY"),
    ("array-items-promoted", [rec(f("a", {"type": "array", "items": "int"}))],
     rec(f("a", {"type": "array", "items": "long"})), "YYNNNNY"),
    ("array-items-changed", [rec(f("a", {"type": "array", "items": "string"}))],
     rec(f("a", {"type": "array", "items": "int"})), "NNNNNNY"),
    ("map-values-promoted", [rec(f("a", {"type": "map", "values": "int"}))],
     rec(f("a", {"type": "map", "values": "long"})), "YYNNNNY"),
    ("map-to-array", [rec(f("a", {"type": "map", "values": "int"}))],
     rec(f("a", {"type": "array", "items": "int"})), "NNNNNNY"),
    ("array-to-map", [rec(f("a", {"type": "array", "items": "int"}))],
     rec(f("a", {"type": "map", "values": "int"})), "NNNNNNY"),
    ("nested-add-field-with-default", [rec(f("n", rec(A, name="N")))], rec(f("n", rec(A, B_DEF, name="N"))),
     "YYYYYYY"),
    ("nested-add-field-without-default", [rec(f("n", rec(A, name="N")))], rec(f("n", rec(A, B_REQ, name="N"))),
     "NNYYNNY"),
    ("nested-field-type-changed", [rec(f("n", rec(f("a", "int"), name="N")))],
     rec(f("n", rec(f("a", "string"), name="N"))), "NNNNNNY"),
    ("recursive-identical", [node()], node(), "YYYYYYY"),
    ("recursive-add-field-with-default", [node()], node(f("label", "string", "")), "YYYYYYY"),
    ("recursive-add-field-without-default", [node()], node(f("label", "string")), "NNYYNNY"),
    ("default-changed", [rec(f("a", "int", 1))], rec(f("a", "int", 2)), "YYYYYYY"),
    ("doc-changed", [rec(A, doc="old")], rec(A, doc="new"), "YYYYYYY"),
    ("logical-type-added", [rec(f("d", "int"))], rec(f("d", {"type": "int", "logicalType": "date"})), "YYYYYYY"),
    ("fields-reordered", [rec(A, B_DEF)], rec(B_DEF, A), "YYYYYYY"),
    ("record-to-optional-record", [rec(f("n", rec(A, name="N")))], rec(f("n", ["null", rec(A, name="N")], None)),
     "YYNNNNY"),
    ("enum-to-string", [rec(f("e", enum(["A"])))], rec(f("e", "string")), "NNNNNNY"),
    ("string-to-enum", [rec(f("e", "string"))], rec(f("e", enum(["A"]))), "NNNNNNY"),
    ("top-level-int-to-long", ["int"], "long", "YYNNNNY"),
    ("top-level-string-to-bytes", ["string"], "bytes", "YYYYYYY"),
    ("fixed-to-bytes", [rec(f("x", fixed(4)))], rec(f("x", "bytes")), "NNNNNNY"),
    ("array-of-records-add-required", [rec(f("xs", {"type": "array", "items": rec(A, name="I")}))],
     rec(f("xs", {"type": "array", "items": rec(A, B_REQ, name="I")})), "NNYYNNY"),
    ("map-of-records-add-optional", [rec(f("m", {"type": "map", "values": rec(A, name="V")}))],
     rec(f("m", {"type": "map", "values": rec(A, f("o", ["null", "int"], None), name="V")})), "YYYYYYY"),
    # Avro's own rule: a new enum field without a field default but with an enum default is checked
    # against the writer record, which fails.
    ("new-enum-field-with-enum-default-only", [rec(A)], rec(A, f("e", enum(["A", "B"], default="A"))), "NNYYNNY"),
    ("error-type-same-as-record", [rec(A)], {"type": "error", "name": "R", "fields": [A]}, "YYYYYYY"),
    # Transitive levels see the older history too.
    ("transitive-backward-breaks-v1", [rec(A), rec(A, B_DEF)], rec(A, B_REQ), "YNYYYNY"),
    ("transitive-forward-breaks-v1", [rec(A, B_REQ), rec(A, B_DEF)], rec(A), "YYYNYNY"),
    ("promotion-chain", [rec(f("a", "int")), rec(f("a", "long"))], rec(f("a", "double")), "YYNNNNY"),
    ("all-different", [rec(f("a", "string")), rec(f("a", "bytes"))], rec(f("a", "int")), "NNNNNNY"),
    ("transitive-ok-through-history", [rec(A), rec(A, B_DEF)], rec(A, B_DEF, f("c", "int", 0)), "YYYYYYY"),
    ("latest-deleted-field-came-back", [rec(A, B_REQ), rec(A)], rec(A, B_DEF), "YYYYYYY"),
]


def parse(schema):
    return provider("AVRO").parse(json.dumps(schema))


def test_table_is_large_enough():
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id,history,new,expected", CASES, ids=[c[0] for c in CASES])
def test_compatibility_case(case_id, history, new, expected):
    old = [(i + 1, parse(s)) for i, s in enumerate(history)]
    candidate = parse(new)
    got = "".join("N" if check(level, candidate, old) else "Y" for level in ORDER)
    assert got == expected, f"{case_id}: got {got}, expected {expected} for levels {ORDER}"


def test_messages_say_what_broke_and_where():
    old = [(3, parse(rec(A)))]
    messages = check("BACKWARD", parse(rec(A, f("n", rec(B_REQ, name="N")))), old)
    assert messages[0] == ("{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'n' at path "
                           "'/fields/1' in the new schema has no default value and is missing in the old schema', "
                           "additionalInfo:'n'}")
    assert messages[1] == "{oldSchemaVersion: 3}"
    assert messages[2].startswith("{oldSchema: '{\"type\":\"record\"")

    messages = check("FORWARD", parse(rec(f("a", "long"))), [(1, parse(rec(A)))])
    assert "path '/fields/0/type'" in messages[0] and "reader type: INT not compatible with writer type: LONG" in messages[0]
    assert "in the old schema does not match with the new schema" in messages[0]

    messages = check("BACKWARD", parse(rec(f("e", enum(["A"])))), [(1, parse(rec(f("e", enum(["A", "C", "B"])))))])
    assert "errorType:'MISSING_ENUM_SYMBOLS'" in messages[0] and "'[B, C]'" in messages[0]
    assert "/fields/0/type/symbols" in messages[0]

    messages = check("BACKWARD", parse(rec(f("x", fixed(8)))), [(1, parse(rec(f("x", fixed(4)))))])
    assert "FIXED_SIZE_MISMATCH" in messages[0] and "expected: 4, found: 8" in messages[0]
    assert "/fields/0/type/size" in messages[0]

    messages = check("BACKWARD", parse(rec(f("a", ["null", "string"]))), [(1, parse(rec(f("a", ["null", "int"]))))])
    assert "MISSING_UNION_BRANCH" in messages[0] and "/fields/0/type/1" in messages[0]
    assert "reader union lacking writer type: INT" in messages[0]

    messages = check("BACKWARD", parse(rec(A, name="X")), [(1, parse(rec(A, name="Y")))])
    assert "NAME_MISMATCH" in messages[0] and "expected: Y" in messages[0] and "path '/name'" in messages[0]


def test_full_reports_both_directions():
    messages = check("FULL", parse(rec(f("a", "string"))), [(1, parse(rec(f("a", "int"))))])
    assert "in the old schema does not match with the new schema" in messages[0]
    assert "in the new schema does not match with the old schema" in messages[1]


def test_different_schema_type_is_incompatible():
    class Other:
        schema_type = "JSON"

        def canonical_string(self):
            return "{}"

    assert check("BACKWARD", parse("int"), [(1, Other())]) == ["Incompatible because of different schema type"]


def test_none_and_empty_history_are_always_compatible():
    assert check("NONE", parse("int"), [(1, parse("string"))]) == []
    assert check("FULL_TRANSITIVE", parse("int"), []) == []
