"""The Avro provider: what Confluent stores (Avro Java's compact toString), normalization, references."""

from __future__ import annotations

import json

import pytest

from formats import InvalidSchemaError, SchemaReference, provider, schema_types

AVRO = provider("AVRO")


def canonical(schema) -> str:
    return AVRO.parse(schema if isinstance(schema, str) else json.dumps(schema)).canonical_string()


def normalized(schema) -> str:
    return AVRO.parse(schema if isinstance(schema, str) else json.dumps(schema)).normalize().canonical_string()


GOLDEN = [
    # (input, what Confluent stores)
    ('"string"', '"string"'),
    ('{"type": "string"}', '"string"'),
    ('{"type":"int","logicalType":"date","doc":"dropped: reserved"}', '{"type":"int","logicalType":"date"}'),
    ('{ "type" : "record", "name" : "ns.A", "fields" : [ ] }', '{"type":"record","name":"A","namespace":"ns","fields":[]}'),
    ('{"type":"record","name":"A","namespace":"ns","doc":"d","aliases":["X","o.Y"],"custom":{"k":1},'
     '"fields":[{"aliases":["g"],"order":"descending","default":"a","doc":"fd","type":{"type":"enum","name":"E",'
     '"symbols":["a","b"],"default":"a"},"name":"f","x":1}]}',
     '{"type":"record","name":"A","namespace":"ns","doc":"d","fields":[{"name":"f","type":{"type":"enum","name":"E",'
     '"symbols":["a","b"],"default":"a"},"doc":"fd","default":"a","order":"descending","aliases":["g"],"x":1}],'
     '"custom":{"k":1},"aliases":["X","o.Y"]}'),
    ('{"type":"record","name":"A","namespace":"ns","fields":[{"name":"n","type":{"type":"record","name":"N",'
     '"namespace":"","fields":[]}},{"name":"m","type":{"type":"record","name":"ns.M","fields":[]}}]}',
     '{"type":"record","name":"A","namespace":"ns","fields":[{"name":"n","type":{"type":"record","name":"N",'
     '"namespace":"","fields":[]}},{"name":"m","type":{"type":"record","name":"M","fields":[]}}]}'),
    ('{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"],"default":null}]}',
     '{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"],"default":null}]}'),
    ('{"type":"array","items":{"type":"map","values":"long"},"note":"é"}',
     '{"type":"array","items":{"type":"map","values":"long"},"note":"é"}'),
    ('{"type":"fixed","name":"md5","size":16,"logicalType":"uuid"}',
     '{"type":"fixed","name":"md5","size":16,"logicalType":"uuid"}'),
    ('{"type":"record","name":"a.b.R","fields":[{"name":"x","type":"double","default":"1.5"}]}',
     '{"type":"record","name":"R","namespace":"a.b","fields":[{"name":"x","type":"double","default":1.5}]}'),
]


@pytest.mark.parametrize("text,stored", GOLDEN)
def test_stored_string_is_what_confluent_stores(text, stored):
    assert canonical(text) == stored


NORMALIZED = [
    ('{"type":"record","name":"R","z":1,"a":2,"aliases":["Z","B"],"fields":[{"name":"f","type":"double",'
     '"default":1,"zz":1,"aa":2,"aliases":["y","b"]}]}',
     '{"type":"record","name":"R","fields":[{"name":"f","type":"double","default":1.0,"aliases":["b","y"],"aa":2,'
     '"zz":1}],"a":2,"z":1,"aliases":["B","Z"]}'),
    ('{"type":"bytes","scale":2,"precision":4,"logicalType":"decimal","b":1}',
     '{"type":"bytes","logicalType":"decimal","precision":4,"scale":2,"b":1}'),
    ('{"type":"int","x":1,"logicalType":"date"}', '{"type":"int","logicalType":"date","x":1}'),
]


@pytest.mark.parametrize("text,expected", NORMALIZED)
def test_normalized_form(text, expected):
    assert normalized(text) == expected


def test_normalize_is_idempotent_and_equivalent():
    text = NORMALIZED[0][0]
    once = normalized(text)
    assert normalized(once) == once
    assert AVRO.parse(text).equivalent(AVRO.parse(once))
    assert not AVRO.parse(text).equivalent(AVRO.parse('{"type":"record","name":"R","fields":[]}'))


def test_references_are_written_by_name_and_resolvable():
    address = '{"type":"record","name":"Address","namespace":"x","fields":[{"name":"s","type":"string"}]}'
    refs = [SchemaReference("x.Address", "address", 1)]
    person = AVRO.parse('{"type":"record","name":"P","namespace":"x","fields":[{"name":"a","type":"Address"},'
                        '{"name":"b","type":"x.Address"}]}', refs, {"x.Address": address})
    assert person.canonical_string() == ('{"type":"record","name":"P","namespace":"x","fields":[{"name":"a",'
                                         '"type":"Address"},{"name":"b","type":"Address"}]}')
    assert json.loads(person.formatted_string("resolved"))["fields"][0]["type"]["name"] == "Address"
    inlined = AVRO.parse(person.resolved_string())
    assert inlined.equivalent(person)
    assert person.name() == "x.P"
    # The parsed schema is usable by fastavro (the serdes' codec).
    assert person.fastavro_schema()["name"] == "x.P"


@pytest.mark.parametrize("text,fragment", [
    ("not json", "Invalid JSON"),
    ('{"type":"record","name":"A","fields":[{"name":"f","type":"Nope"}]}', '"Nope" is not a defined name'),
    ('{"type":"foo"}', 'MUST be a primitive type'),
    ('{"type":"record","name":"1A","fields":[]}', "Illegal name"),
    ('{"type":"record","name":"A","fields":[{"name":"f","type":"int","default":"x"}]}', "Invalid default for field f"),
    ('{"type":"record","name":"A","fields":[{"name":"f","type":["null","int"],"default":"x"}]}', "Invalid default"),
    ('["int","int"]', "Duplicate in union"),
    ('[["int"],"string"]', "Nested union"),
    ('{"type":"enum","name":"E","symbols":["a","a"]}', "Duplicate enum symbol"),
    ('{"type":"enum","name":"E","symbols":["a"],"default":"b"}', "Enum Default"),
    ('{"type":"fixed","name":"F","size":-1}', "Invalid or no size"),
    ('{"type":"record","name":"A","fields":[{"name":"f","type":"int"},{"name":"f","type":"int"}]}', "Duplicate field"),
    ('{"type":"record","name":"A","fields":[{"name":"f","type":{"type":"record","name":"A","fields":[]}}]}',
     "Can't redefine"),
    ('{"type":"array"}', "Array has no items"),
    ('{"type":"record","name":"A","fields":[{"name":"f","type":"int","order":"up"}]}', "Invalid field order"),
    ('{"type":{"type":"int"}}', "No type"),
    (42, "must be a string"),
])
def test_invalid_schemas(text, fragment):
    with pytest.raises(InvalidSchemaError) as info:
        AVRO.parse(text)
    assert fragment in str(info.value)


def test_defaults_are_only_checked_for_new_schemas():
    text = '{"type":"record","name":"A","fields":[{"name":"f","type":"int","default":"x"}]}'
    assert AVRO.parse(text, new=False).canonical_string() == text.replace(" ", "")


def test_union_default_may_match_any_branch():
    AVRO.parse('{"type":"record","name":"A","fields":[{"name":"f","type":["null","string"],"default":"x"}]}')


def test_providers_by_schema_type():
    assert schema_types() == ["AVRO", "JSON", "PROTOBUF"]
    assert provider(None) is AVRO
    with pytest.raises(InvalidSchemaError):
        provider("XML")


def test_example_schemas_parse():
    from tests.conftest import REPO

    folder = REPO / "schemas"
    address = (folder / "address.avsc").read_text()
    for path in sorted(folder.glob("*.avsc")):
        text = path.read_text()
        if path.name == "customer.avsc":
            parsed = AVRO.parse(text, [SchemaReference("com.example.Address", "address", 1)],
                                {"com.example.Address": canonical(address)})
            assert '"type":"Address"' in parsed.canonical_string()
        else:
            AVRO.parse(text)
