"""Kafka's single message transforms and predicates (connect/transforms): each with and without a
schema, the errors Kafka gives, predicates with negate, and the chain a connector config describes.
Expected values follow Kafka's documentation and its transforms' unit tests."""

from __future__ import annotations

import base64
import datetime
import decimal

import pytest

from connect import data
from connect.api import Header, SinkRecord, SourceRecord, source_record
from connect.data import Schema, Struct, Type
from connect.errors import ConfigException, ConnectException, DataException
from connect.plugins import Plugins
from connect.transforms import Cast, DropHeaders, ExtractField, Filter, Flatten, HasHeaderKey, HeaderFrom, \
    HoistField, InsertField, InsertHeader, MaskField, RecordIsTombstone, RegexRouter, ReplaceField, \
    SetSchemaMetadata, TimestampConverter, TimestampRouter, TopicNameMatches, ValueToKey, java
from connect.transforms.chain import TransformationChain, transforms_config_def, validate_transform_configs
from connect.transforms.dateformat import DateFormat
from connect.transforms.headers import parse_literal

UTC = datetime.timezone.utc


def make(cls, **configs):
    """A transform or predicate configured from keyword configs (`a_b` spells `a.b`)."""
    instance = cls()
    instance.configure({k.replace("_", "."): v for k, v in configs.items()})
    return instance


def sink(value=None, schema=None, *, key=None, key_schema=None, topic="test", partition=0, offset=42,
         timestamp=1483425001864, headers=()) -> SinkRecord:
    return SinkRecord(topic, partition, key_schema, key, schema, value, timestamp, tuple(headers), kafka_offset=offset)


def source(value=None, schema=None, **kw) -> SourceRecord:
    return source_record({}, {}, kw.pop("topic", "test"), kafka_partition=0, value_schema=schema, value=value,
                         timestamp=kw.pop("timestamp", 1483425001864), **kw)


SIMPLE = data.struct([("magic", data.INT64_SCHEMA)], name="simple", version=1, doc="doc")


# -- plugins ------------------------------------------------------------------------------------

def test_plugins_find_transforms_by_kafka_names_and_short_aliases():
    plugins = Plugins()
    assert plugins.find("org.apache.kafka.connect.transforms.InsertField$Value").cls is InsertField.Value
    assert plugins.find("InsertField$Value").cls is InsertField.Value
    assert plugins.find("org.apache.kafka.connect.transforms.Cast$Key").cls is Cast.Key
    assert plugins.find("org.apache.kafka.connect.transforms.predicates.TopicNameMatches").cls is TopicNameMatches
    assert plugins.find("org.apache.kafka.connect.transforms.RegexRouter").kind == "transformation"
    assert plugins.find("HasHeaderKey").kind == "predicate"
    # The families themselves are abstract: only their $Key/$Value variants are plugins.
    assert plugins.find("org.apache.kafka.connect.transforms.InsertField") is None
    names = {d.class_name for d in plugins.all(("transformation",))}
    assert len(names) == 26 and "org.apache.kafka.connect.transforms.TimestampConverter$Key" in names


def test_variants_report_kafkas_version():
    assert InsertField.Value().version() == "4.1.1"
    assert InsertField.Value.class_name == "org.apache.kafka.connect.transforms.InsertField$Value"
    assert InsertField.Key.aliases == ("InsertField$Key",)


# -- InsertField --------------------------------------------------------------------------------

INSERT_CONFIGS = dict(topic_field="topic_field!", partition_field="partition_field",
                      timestamp_field="timestamp_field?", static_field="instance_id", static_value="my-instance-id")


def test_insert_field_with_schema():
    xform = make(InsertField.Value, **INSERT_CONFIGS)
    record = source(Struct(SIMPLE, {"magic": 42}), SIMPLE)
    out = xform.apply(record)
    schema = out.value_schema
    assert (schema.name, schema.version, schema.doc) == ("simple", 1, "doc")
    assert [(f.name, f.schema) for f in schema.fields] == [
        ("magic", data.INT64_SCHEMA), ("topic_field", data.STRING_SCHEMA),
        ("partition_field", data.OPTIONAL_INT32_SCHEMA), ("timestamp_field", data.timestamp_schema(optional=True)),
        ("instance_id", data.OPTIONAL_STRING_SCHEMA)]
    assert out.value.get("magic") == 42
    assert out.value.get("topic_field") == "test"
    assert out.value.get("partition_field") == 0
    assert out.value.get("timestamp_field") == datetime.datetime(2017, 1, 3, 6, 30, 1, 864000, tzinfo=UTC)
    assert out.value.get("instance_id") == "my-instance-id"
    # The rebuilt schema is cached per input schema.
    assert xform.apply(record).value_schema is schema


def test_insert_field_schemaless_and_null_passthrough():
    xform = make(InsertField.Value, **INSERT_CONFIGS)
    out = xform.apply(source({"magic": 42}))
    assert out.value == {"magic": 42, "topic_field": "test", "partition_field": 0,
                         "timestamp_field": 1483425001864, "instance_id": "my-instance-id"}
    tombstone = source(None)
    assert xform.apply(tombstone) is tombstone


def test_insert_field_offset_on_sink_records_only():
    xform = make(InsertField.Value, offset_field="offset")
    assert xform.apply(sink({"a": 1})).value == {"a": 1, "offset": 42}
    with pytest.raises(DataException, match=r"Only SinkRecord supported for \[field insertion\]"):
        xform.apply(source({"a": 1}))


def test_insert_field_key_variant_and_errors():
    out = make(InsertField.Key, topic_field="t").apply(sink("v", key={"k": 1}))
    assert out.key == {"k": 1, "t": "test"} and out.value == "v"
    with pytest.raises(DataException,
                       match=r"Only Map objects supported in absence of schema for \[field insertion\], found: str"):
        make(InsertField.Value, topic_field="t").apply(sink("text"))
    with pytest.raises(DataException, match=r"Only Struct objects supported for \[field insertion\], found: str"):
        make(InsertField.Value, topic_field="t").apply(sink("text", data.STRING_SCHEMA))
    with pytest.raises(ConfigException, match="No field insertion configured"):
        make(InsertField.Value)
    with pytest.raises(ConfigException, match="No value specified for static field: s"):
        make(InsertField.Value, static_field="s")


# -- ReplaceField -------------------------------------------------------------------------------

def test_replace_field_schemaless_include_exclude_renames():
    value = {"dont": "whatever", "abc": 42, "foo": True, "etc": "etc"}
    out = make(ReplaceField.Value, exclude="dont", renames="abc:xyz,foo:bar").apply(sink(value))
    assert out.value == {"xyz": 42, "bar": True, "etc": "etc"}
    out = make(ReplaceField.Value, include="abc,foo", renames="abc:xyz,foo:bar").apply(sink(value))
    assert out.value == {"xyz": 42, "bar": True}
    # exclude wins over include
    assert make(ReplaceField.Value, include="abc,foo", exclude="foo").apply(sink(value)).value == {"abc": 42}


def test_replace_field_with_schema_keeps_order_and_defaults():
    schema = data.struct([("dont", data.STRING_SCHEMA), ("abc", data.INT32_SCHEMA),
                          ("foo", Schema(Type.BOOLEAN, optional=True, default=True)), ("etc", data.STRING_SCHEMA)],
                         name="n")
    value = Struct(schema, {"dont": "whatever", "abc": 42, "etc": "etc"})
    out = make(ReplaceField.Value, exclude="dont", renames="abc:xyz,foo:bar").apply(sink(value, schema))
    assert [f.name for f in out.value_schema.fields] == ["xyz", "bar", "etc"]
    assert out.value_schema.name == "n"
    assert (out.value.get("xyz"), out.value.get_without_default("bar"), out.value.get("etc")) == (42, True, "etc")
    keep_null = make(ReplaceField.Value, renames="foo:bar", replace_null_with_default="false")
    assert keep_null.apply(sink(value, schema)).value.get_without_default("bar") is None


def test_replace_field_deprecated_whitelist_blacklist():
    value = {"a": 1, "b": 2, "c": 3}
    assert make(ReplaceField.Value, whitelist="a,b").apply(sink(value)).value == {"a": 1, "b": 2}
    assert make(ReplaceField.Value, blacklist="a").apply(sink(value)).value == {"b": 2, "c": 3}
    # the new name wins when both are given
    assert make(ReplaceField.Value, include="c", whitelist="a").apply(sink(value)).value == {"c": 3}


def test_replace_field_bad_rename():
    with pytest.raises(ConfigException, match=r"Invalid value \[foo\] for configuration renames: "
                                              r"Invalid rename mapping: foo"):
        make(ReplaceField.Value, renames="foo")


# -- MaskField ----------------------------------------------------------------------------------

MASK_SCHEMA = data.struct([
    ("magic", data.INT32_SCHEMA), ("bool", data.BOOLEAN_SCHEMA), ("byte", data.INT8_SCHEMA),
    ("int", data.INT32_SCHEMA), ("float", data.FLOAT32_SCHEMA), ("string", data.STRING_SCHEMA),
    ("date", data.date_schema()), ("decimal", data.decimal_schema(0)),
    ("array", data.array(data.INT32_SCHEMA)), ("map", data.map_of(data.STRING_SCHEMA, data.STRING_SCHEMA))])
MASK_VALUES = {"magic": 42, "bool": True, "byte": 42, "int": 42, "float": 42.0, "string": "blabla",
               "date": datetime.date(2020, 5, 1), "decimal": decimal.Decimal(42), "array": [1, 2, 3],
               "map": {"what": "what"}}
MASKED = "bool,byte,int,float,string,date,decimal,array,map"


def test_mask_field_with_schema_uses_each_types_empty_value():
    out = make(MaskField.Value, fields=MASKED).apply(sink(Struct(MASK_SCHEMA, MASK_VALUES), MASK_SCHEMA))
    assert out.value_schema is MASK_SCHEMA
    assert dict(out.value.items()) == {
        "magic": 42, "bool": False, "byte": 0, "int": 0, "float": 0.0, "string": "", "date": data.EPOCH,
        "decimal": decimal.Decimal(0), "array": [], "map": {}}


def test_mask_field_schemaless_and_replacement():
    value = {"magic": 42, "int": 42, "string": "blabla", "float": 1.5, "bool": True}
    assert make(MaskField.Value, fields="int,string,bool").apply(sink(value)).value == {
        "magic": 42, "int": 0, "string": "", "float": 1.5, "bool": False}
    out = make(MaskField.Value, fields="int,string,float", replacement="123").apply(sink(value))
    assert out.value == {"magic": 42, "int": 123, "string": "123", "float": 123.0, "bool": True}
    with pytest.raises(DataException, match="Cannot mask value of type bool with custom replacement."):
        make(MaskField.Value, fields="bool", replacement="1").apply(sink(value))
    with pytest.raises(DataException, match=r"Unable to convert abc \(str\) to number"):
        make(MaskField.Value, fields="int", replacement="abc").apply(sink(value))
    with pytest.raises(ConfigException, match="Empty list"):
        make(MaskField.Value, fields="")


# -- ValueToKey ---------------------------------------------------------------------------------

def test_value_to_key_schemaless_and_with_schema():
    xform = make(ValueToKey, fields="a,b")
    assert xform.apply(sink({"a": 1, "b": 2, "c": 3})).key == {"a": 1, "b": 2}
    schema = data.struct([("a", data.INT32_SCHEMA), ("b", data.INT32_SCHEMA), ("c", data.INT32_SCHEMA)])
    out = xform.apply(sink(Struct(schema, {"a": 1, "b": 2, "c": 3}), schema))
    assert out.key_schema == data.struct([("a", data.INT32_SCHEMA), ("b", data.INT32_SCHEMA)])
    assert dict(out.key.items()) == {"a": 1, "b": 2}
    assert out.value_schema is schema
    with pytest.raises(DataException, match="Field does not exist: d"):
        make(ValueToKey, fields="a,d").apply(sink(Struct(schema, {"a": 1, "b": 2, "c": 3}), schema))


# -- ExtractField -------------------------------------------------------------------------------

def test_extract_field_schemaless_and_with_schema():
    assert make(ExtractField.Key, field="magic").apply(sink(key={"magic": 42})).key == 42
    assert make(ExtractField.Key, field="magic").apply(sink(key=None)).key is None
    out = make(ExtractField.Key, field="magic").apply(sink(key=Struct(SIMPLE, {"magic": 42}), key_schema=SIMPLE))
    assert (out.key_schema, out.key) == (data.INT64_SCHEMA, 42)
    with pytest.raises(DataException, match="Unknown field: nope"):
        make(ExtractField.Key, field="nope").apply(sink(key=Struct(SIMPLE, {"magic": 42}), key_schema=SIMPLE))


def test_extract_field_nested_with_syntax_v2():
    value = {"magic": {"foo.bar": {"baz": 7}, "inner": 1}}
    assert make(ExtractField.Value, field="magic.inner", field_syntax_version="V2").apply(sink(value)).value == 1
    assert make(ExtractField.Value, field="magic.`foo.bar`.baz",
                field_syntax_version="v2").apply(sink(value)).value == 7
    # V1 treats the dotted name as one top-level field
    assert make(ExtractField.Value, field="magic.inner").apply(sink(value)).value is None
    assert make(ExtractField.Value, field="magic.missing.x", field_syntax_version="V2").apply(sink(value)).value is None
    inner = data.struct([("x", data.INT32_SCHEMA)])
    outer = data.struct([("inner", inner)])
    record = sink(Struct(outer, {"inner": Struct(inner, {"x": 5})}), outer)
    out = make(ExtractField.Value, field="inner.x", field_syntax_version="V2").apply(record)
    assert (out.value_schema, out.value) == (data.INT32_SCHEMA, 5)


def test_field_path_v2_backticks():
    from connect.transforms.fields import FieldPath
    assert FieldPath("a.b.c", "V2").steps == ["a", "b", "c"]
    assert FieldPath("`a.b`.c", "V2").steps == ["a.b", "c"]
    assert FieldPath("a.`b.c`", "V2").steps == ["a", "b.c"]
    assert FieldPath("a.", "V2").steps == ["a", ""]
    assert FieldPath("`a\\`.b`.c", "V2").steps == ["a`.b", "c"]
    assert FieldPath("a.b", "V1").steps == ["a.b"]
    with pytest.raises(ConfigException, match="Incomplete backtick pair in path: \\[`a.b\\]"):
        FieldPath("`a.b", "V2")
    with pytest.raises(ConfigException, match="String must be one of"):
        make(ExtractField.Value, field="a", field_syntax_version="V3")


# -- HoistField ---------------------------------------------------------------------------------

def test_hoist_field():
    assert make(HoistField.Key, field="magic").apply(sink(key=42)).key == {"magic": 42}
    out = make(HoistField.Key, field="magic").apply(sink(key=42, key_schema=data.INT32_SCHEMA))
    assert out.key_schema == data.struct([("magic", data.INT32_SCHEMA)])
    assert out.key.get("magic") == 42


# -- Cast ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, schema, value, expected_schema, expected", [
    ("int8", data.INT32_SCHEMA, 42, data.INT8_SCHEMA, 42),
    ("int8", data.INT32_SCHEMA, 300, data.INT8_SCHEMA, 44),          # Java narrowing wraps around
    ("int16", data.FLOAT64_SCHEMA, 42.9, data.INT16_SCHEMA, 42),
    ("int32", data.FLOAT64_SCHEMA, 1e20, data.INT32_SCHEMA, 2147483647),  # doubles saturate first
    ("int64", data.BOOLEAN_SCHEMA, True, data.INT64_SCHEMA, 1),
    ("float32", data.STRING_SCHEMA, "42.5", data.FLOAT32_SCHEMA, 42.5),
    ("float64", data.INT32_SCHEMA, 42, data.FLOAT64_SCHEMA, 42.0),
    ("boolean", data.INT32_SCHEMA, 42, data.BOOLEAN_SCHEMA, True),
    ("boolean", data.FLOAT64_SCHEMA, 0.5, data.BOOLEAN_SCHEMA, False),  # Number.longValue() != 0
    ("boolean", data.STRING_SCHEMA, "TRUE", data.BOOLEAN_SCHEMA, True),
    ("string", data.INT32_SCHEMA, 42, data.STRING_SCHEMA, "42"),
    ("string", data.BOOLEAN_SCHEMA, True, data.STRING_SCHEMA, "true"),
    ("string", data.FLOAT64_SCHEMA, 1e10, data.STRING_SCHEMA, "1.0E10"),
    ("string", data.BYTES_SCHEMA, b"\x01\x02", data.STRING_SCHEMA, base64.b64encode(b"\x01\x02").decode()),
    ("int64", data.timestamp_schema(), datetime.datetime(1970, 1, 2, tzinfo=UTC), data.INT64_SCHEMA, 86400000),
    ("string", data.timestamp_schema(), datetime.datetime(1970, 1, 2, 0, 0, 1, tzinfo=UTC), data.STRING_SCHEMA,
     "1970-01-02T00:00:01.000Z"),
    ("string", data.date_schema(), datetime.date(2020, 5, 1), data.STRING_SCHEMA, "2020-05-01"),
    ("int32", data.decimal_schema(2), decimal.Decimal("12.34"), data.INT32_SCHEMA, 12),
])
def test_cast_whole_value_with_schema(spec, schema, value, expected_schema, expected):
    out = make(Cast.Value, spec=spec).apply(sink(value, schema))
    assert out.value_schema == expected_schema
    assert out.value == expected and type(out.value) is type(expected)


def test_cast_whole_value_schemaless():
    xform = make(Cast.Value, spec="int8")
    assert xform.apply(sink(42)).value == 42
    assert make(Cast.Value, spec="string").apply(sink(42.0)).value == "42.0"
    assert make(Cast.Value, spec="int32").apply(sink("-17")).value == -17
    with pytest.raises(DataException, match=r"Value \(1.5\) was out of range for requested data type"):
        make(Cast.Value, spec="int32").apply(sink("1.5"))
    with pytest.raises(DataException, match=r"Value \(300\) was out of range"):
        make(Cast.Value, spec="int8").apply(sink("300"))
    with pytest.raises(DataException, match="Cast transformation does not support casting from MAP"):
        xform.apply(sink({"a": 1}))
    with pytest.raises(DataException, match="Cast transformation was passed a value of type Decimal"):
        xform.apply(sink(decimal.Decimal(1)))


def test_cast_fields_with_schema():
    schema = data.struct([("int8", Schema(Type.INT8, optional=True)), ("int32", data.INT32_SCHEMA),
                          ("float", Schema(Type.FLOAT32, optional=True, default=1.5)),
                          ("string", data.STRING_SCHEMA), ("other", data.STRING_SCHEMA)], name="s")
    value = Struct(schema, {"int8": 8, "int32": 32, "string": "42", "other": "x"})
    out = make(Cast.Value, spec="int8:int16,int32:string,float:int64,string:int32").apply(sink(value, schema))
    fields = {f.name: f.schema for f in out.value_schema.fields}
    assert out.value_schema.name == "s"
    assert fields["int8"] == Schema(Type.INT16, optional=True)
    assert fields["int32"] == data.STRING_SCHEMA
    assert fields["float"] == Schema(Type.INT64, optional=True, default=1)  # the default is cast too
    assert fields["other"] == data.STRING_SCHEMA
    assert dict(out.value.items()) == {"int8": 8, "int32": "32", "float": 1, "string": 42, "other": "x"}


def test_cast_fields_schemaless():
    out = make(Cast.Value, spec="a:int16,b:string,c:boolean").apply(sink({"a": 42.7, "b": 1, "c": "true", "d": 0}))
    assert out.value == {"a": 42, "b": "1", "c": True, "d": 0}


@pytest.mark.parametrize("spec, message", [
    ("", "Must specify at least one field to cast."),
    ("foo:bar", "Invalid type found in casting spec: bar"),
    ("a:bytes", r"Cast transformation does not support casting to BYTES; supported types are \[INT8, INT16, "
                r"INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING\]"),
    ("int8,a:int16", "may only specify a single cast in their spec"),
    ("a:b:c", "Invalid rename mapping: a:b:c"),
])
def test_cast_spec_errors(spec, message):
    with pytest.raises(ConfigException, match=message):
        make(Cast.Value, spec=spec)


def test_cast_struct_whole_value_is_refused():
    with pytest.raises(DataException, match="Cast transformation does not support casting from STRUCT"):
        make(Cast.Value, spec="int8").apply(sink(Struct(SIMPLE, {"magic": 1}), SIMPLE))


# -- TimestampConverter -------------------------------------------------------------------------

DATE_PLUS_TIME = datetime.datetime(1970, 1, 2, 0, 0, 1, tzinfo=UTC)
DATE_PLUS_TIME_UNIX = 86401000
STRING_DATE_FMT = "yyyy MM dd HH:mm:ss.SSS zzz"
DATE_PLUS_TIME_STRING = "1970 01 02 00:00:01.000 UTC"


@pytest.mark.parametrize("target, expected", [
    ("Timestamp", DATE_PLUS_TIME), ("unix", DATE_PLUS_TIME_UNIX), ("Date", datetime.date(1970, 1, 2)),
    ("Time", datetime.time(0, 0, 1)), ("string", DATE_PLUS_TIME_STRING)])
def test_timestamp_converter_schemaless_from_each_kind(target, expected):
    xform = make(TimestampConverter.Value, target_type=target, format=STRING_DATE_FMT)
    for source_value in (DATE_PLUS_TIME, DATE_PLUS_TIME_UNIX, DATE_PLUS_TIME_STRING):
        assert xform.apply(source(source_value)).value == expected


def test_timestamp_converter_with_schema_whole_value():
    xform = make(TimestampConverter.Value, target_type="Date")
    out = xform.apply(source(DATE_PLUS_TIME, data.timestamp_schema()))
    assert (out.value_schema, out.value) == (data.date_schema(), datetime.date(1970, 1, 2))
    out = make(TimestampConverter.Value, target_type="Timestamp").apply(source(DATE_PLUS_TIME_UNIX, data.INT64_SCHEMA))
    assert (out.value_schema, out.value) == (data.timestamp_schema(), DATE_PLUS_TIME)
    out = make(TimestampConverter.Value, target_type="string", format=STRING_DATE_FMT).apply(
        source(None, Schema(Type.INT64, optional=True)))
    assert (out.value_schema, out.value) == (data.OPTIONAL_STRING_SCHEMA, None)
    out = make(TimestampConverter.Value, target_type="unix").apply(
        source(datetime.time(0, 0, 1), data.time_schema()))
    assert out.value == 1000


def test_timestamp_converter_field_with_schema():
    schema = data.struct([("ts", data.INT64_SCHEMA), ("other", data.STRING_SCHEMA)], name="n")
    xform = make(TimestampConverter.Value, field="ts", target_type="string", format="yyyy-MM-dd'T'HH:mm:ss")
    out = xform.apply(source(Struct(schema, {"ts": DATE_PLUS_TIME_UNIX, "other": "x"}), schema))
    assert [(f.name, f.schema) for f in out.value_schema.fields] == [("ts", data.STRING_SCHEMA),
                                                                     ("other", data.STRING_SCHEMA)]
    assert out.value.get("ts") == "1970-01-02T00:00:01" and out.value.get("other") == "x"


def test_timestamp_converter_field_schemaless_and_unix_precision():
    xform = make(TimestampConverter.Value, field="ts", target_type="unix", unix_precision="seconds")
    assert xform.apply(source({"ts": DATE_PLUS_TIME, "x": 1})).value == {"ts": 86401, "x": 1}
    micros = make(TimestampConverter.Value, target_type="Timestamp", unix_precision="microseconds")
    assert micros.apply(source(86401000999)).value == DATE_PLUS_TIME  # sub-millisecond digits are dropped
    nanos = make(TimestampConverter.Value, target_type="unix", unix_precision="nanoseconds")
    assert nanos.apply(source(DATE_PLUS_TIME)).value == 86401000000000


def test_timestamp_converter_errors():
    with pytest.raises(ConfigException, match="requires format option to be specified when using string timestamps"):
        make(TimestampConverter.Value, target_type="string")
    with pytest.raises(ConfigException, match="String must be one of: string, unix, Date, Time, Timestamp"):
        make(TimestampConverter.Value, target_type="date")
    with pytest.raises(ConfigException, match="SimpleDateFormat-compatible pattern"):
        make(TimestampConverter.Value, target_type="string", format="yyyy-ww")
    xform = make(TimestampConverter.Value, target_type="unix", format="yyyy-MM-dd")
    with pytest.raises(DataException, match=r"Could not parse timestamp: value \(nope\) does not match pattern "
                                            r"\(yyyy-MM-dd\)"):
        xform.apply(source("nope"))
    with pytest.raises(DataException, match="TimestampConverter does not support float objects as timestamps"):
        xform.apply(source(1.5))
    with pytest.raises(ConnectException, match="does not correspond to a known timestamp type format"):
        xform.apply(source(True, data.BOOLEAN_SCHEMA))


# -- SimpleDateFormat patterns ------------------------------------------------------------------

MOMENT = datetime.datetime(2024, 3, 5, 14, 7, 9, 45000, tzinfo=UTC)


@pytest.mark.parametrize("pattern, text", [
    ("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 14:07:09.045"),
    ("yyyyMMdd", "20240305"),
    ("yy/M/d", "24/3/5"),
    ("EEE, d MMM yyyy hh:mm a", "Tue, 5 Mar 2024 02:07 PM"),
    ("EEEE MMMM dd", "Tuesday March 05"),
    ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T14:07:09.045Z"),
    ("yyyy-MM-dd'T'HH:mm:ssZ", "2024-03-05T14:07:09+0000"),
    ("'day' D 'of' yyyy, k 'o''clock'", "day 65 of 2024, 14 o'clock"),
])
def test_date_format_formats_like_simple_date_format(pattern, text):
    assert DateFormat(pattern).format(MOMENT) == text


def test_date_format_parses():
    assert DateFormat("yyyy-MM-dd HH:mm:ss.SSS").parse("2024-03-05 14:07:09.045") == MOMENT
    assert DateFormat("yyyyMMddHHmmss").parse("20240305140709") == MOMENT.replace(microsecond=0)
    assert DateFormat("dd MMM yyyy hh:mm a").parse("05 mar 2024 02:07 pm") == datetime.datetime(
        2024, 3, 5, 14, 7, tzinfo=UTC)
    # a zone in the text moves the instant to UTC
    assert DateFormat("yyyy-MM-dd'T'HH:mmXXX").parse("2024-03-05T16:07+02:00") == datetime.datetime(
        2024, 3, 5, 14, 7, tzinfo=UTC)
    assert DateFormat("yyyy-MM-dd HH:mm Z").parse("2024-03-05 09:07 -0500") == datetime.datetime(
        2024, 3, 5, 14, 7, tzinfo=UTC)
    # like DateFormat.parse(String), text after the pattern is ignored
    assert DateFormat("yyyy-MM-dd").parse("2024-03-05 and more") == datetime.datetime(2024, 3, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        DateFormat("yyyy-MM-dd").parse("2024-13-05")
    with pytest.raises(ValueError, match="Illegal or unsupported pattern character 'w'"):
        DateFormat("yyyy-ww")


# -- RegexRouter, TimestampRouter, Filter -------------------------------------------------------

@pytest.mark.parametrize("regex, replacement, topic, expected", [
    ("foo", "bar", "foo", "bar"),
    ("foo", "bar", "foobar", "foobar"),          # the regex must match the whole topic
    ("(.*)", "prefix-$1", "orig", "prefix-orig"),
    ("(.*)-(.*)", "$2-$1", "a-b", "b-a"),
    ("(?<name>.*)_raw", "${name}_clean", "orders_raw", "orders_clean"),
    ("(.*)", "\\$1-$1", "x", "$1-x"),
    ("(a)(b)?", "[$1$2]", "a", "[a]"),           # a group that took no part adds nothing
    ("(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)", "$11$12", "abcdefghijk", "ka2"),  # $12 is $1 then "2" with 11 groups
])
def test_regex_router(regex, replacement, topic, expected):
    assert make(RegexRouter, regex=regex, replacement=replacement).apply(sink(topic=topic)).topic == expected


def test_regex_router_errors():
    with pytest.raises(ConfigException, match="Invalid regex"):
        make(RegexRouter, regex="(", replacement="x")
    with pytest.raises(ConfigException, match="No group 2"):
        make(RegexRouter, regex="(a)", replacement="$2")
    with pytest.raises(ConfigException, match='Missing required configuration "replacement"'):
        make(RegexRouter, regex="a")


def test_timestamp_router():
    record = sink(topic="test", timestamp=1482896287000)
    assert make(TimestampRouter).apply(record).topic == "test-20161228"
    xform = make(TimestampRouter, topic_format="${topic}_${timestamp}_${topic}", timestamp_format="yyyy-MM-dd'T'HH")
    assert xform.apply(record).topic == "test_2016-12-28T03_test"
    with pytest.raises(DataException, match="Timestamp missing on record"):
        make(TimestampRouter).apply(sink(timestamp=None))


def test_filter_drops_everything():
    assert make(Filter).apply(sink("v")) is None


# -- Flatten ------------------------------------------------------------------------------------

def test_flatten_with_schema_nested_struct():
    supported = data.struct([("int8", data.INT8_SCHEMA), ("string", data.STRING_SCHEMA),
                             ("array", data.array(data.INT32_SCHEMA))])
    one = data.struct([("B", supported)])
    two = data.struct([("A", one)], name="top")
    value = Struct(two, {"A": Struct(one, {"B": Struct(supported, {"int8": 8, "string": "s", "array": [1]})})})
    out = make(Flatten.Value, delimiter="#").apply(sink(value, two))
    assert out.value_schema.name == "top"
    assert [(f.name, f.schema) for f in out.value_schema.fields] == [
        ("A#B#int8", data.INT8_SCHEMA), ("A#B#string", data.STRING_SCHEMA),
        ("A#B#array", data.array(data.INT32_SCHEMA))]
    assert dict(out.value.items()) == {"A#B#int8": 8, "A#B#string": "s", "A#B#array": [1]}


def test_flatten_optional_parent_makes_fields_optional_and_passes_defaults():
    inner = data.struct([("x", data.INT32_SCHEMA)], optional=True)
    default_inner = Struct(inner, {"x": 7})
    inner_with_default = data.struct([("x", data.INT32_SCHEMA)], optional=True, default=default_inner)
    outer = data.struct([("a", inner_with_default), ("b", data.STRING_SCHEMA)])
    out = make(Flatten.Value).apply(sink(Struct(outer, {"b": "y"}), outer))
    assert out.value_schema.field("a.x").schema == Schema(Type.INT32, optional=True, default=7)
    assert out.value.get("a.x") == 7 and out.value.get("b") == "y"


def test_flatten_schemaless_and_errors():
    value = {"A": {"B": {"int": 1, "list": [1, {"x": 2}], "none": None}}, "top": "t"}
    out = make(Flatten.Value).apply(sink(value))
    assert out.value == {"A.B.int": 1, "A.B.list": [1, {"x": 2}], "A.B.none": None, "top": "t"}
    with pytest.raises(DataException, match="Flatten transformation does not support Struct for record without "
                                            r"schemas \(for field s\)"):
        make(Flatten.Value).apply(sink({"s": Struct(SIMPLE, {"magic": 1})}))
    with_map = data.struct([("m", data.map_of(data.STRING_SCHEMA, data.STRING_SCHEMA))])
    with pytest.raises(DataException, match=r"Flatten transformation does not support MAP for record with schemas "
                                            r"\(for field m\)"):
        make(Flatten.Value).apply(sink(Struct(with_map, {"m": {}}), with_map))


# -- SetSchemaMetadata --------------------------------------------------------------------------

def test_set_schema_metadata():
    out = make(SetSchemaMetadata.Value, schema_name="foo", schema_version="42").apply(
        sink(Struct(SIMPLE, {"magic": 1}), SIMPLE))
    assert (out.value_schema.name, out.value_schema.version, out.value_schema.doc) == ("foo", 42, "doc")
    assert out.value.schema is out.value_schema and out.value.get("magic") == 1
    out = make(SetSchemaMetadata.Key, schema_name="k").apply(sink(key="x", key_schema=data.STRING_SCHEMA))
    assert out.key_schema == Schema(Type.STRING, name="k") and out.key == "x"
    tombstone = sink(None)
    assert make(SetSchemaMetadata.Value, schema_name="foo").apply(tombstone) is tombstone
    with pytest.raises(DataException, match=r"Schema required for \[updating schema metadata\]"):
        make(SetSchemaMetadata.Value, schema_name="foo").apply(sink({"a": 1}))
    with pytest.raises(ConfigException, match="Neither schema name nor version configured"):
        make(SetSchemaMetadata.Value)


# -- headers ------------------------------------------------------------------------------------

def test_header_from_copy_and_move_with_schema():
    schema = data.struct([("a", data.STRING_SCHEMA), ("b", data.INT32_SCHEMA)], name="v")
    value = Struct(schema, {"a": "x", "b": 1})
    record = sink(value, schema, headers=[Header("old", None, "h")])
    copied = make(HeaderFrom.Value, fields="a,b", headers="ha,hb", operation="copy").apply(record)
    assert copied.value is value
    assert copied.headers == (Header("old", None, "h"), Header("ha", data.STRING_SCHEMA, "x"),
                              Header("hb", data.INT32_SCHEMA, 1))
    moved = make(HeaderFrom.Value, fields="a", headers="ha", operation="move").apply(record)
    assert [f.name for f in moved.value_schema.fields] == ["b"] and moved.value_schema.name == "v"
    assert moved.value.get("b") == 1 and moved.headers[-1] == Header("ha", data.STRING_SCHEMA, "x")


def test_header_from_schemaless_and_errors():
    moved = make(HeaderFrom.Key, fields="a,z", headers="ha,hz", operation="move").apply(
        sink("v", key={"a": 1, "b": 2}))
    assert moved.key == {"b": 2}
    assert moved.headers == (Header("ha", None, 1), Header("hz", None, None))
    with pytest.raises(ConfigException, match="'fields' config must have the same number of elements as 'headers'"):
        make(HeaderFrom.Value, fields="a,b", headers="h", operation="copy")
    with pytest.raises(ConfigException, match="String must be one of: move, copy"):
        make(HeaderFrom.Value, fields="a", headers="h", operation="steal")
    with pytest.raises(DataException, match=r"Only Map objects supported in absence of schema for \[header copy\]"):
        make(HeaderFrom.Value, fields="a", headers="h", operation="copy").apply(sink("text"))


def test_insert_header_types_the_literal():
    out = make(InsertHeader, header="h", value_literal="hello world").apply(sink("v", headers=[Header("x", None, 1)]))
    assert out.headers == (Header("x", None, 1), Header("h", data.STRING_SCHEMA, "hello world"))
    assert make(InsertHeader, header="h", value_literal="42").apply(sink()).headers[-1] == Header(
        "h", data.INT8_SCHEMA, 42)


@pytest.mark.parametrize("text, schema, value", [
    ("", data.STRING_SCHEMA, ""),
    ("true", data.BOOLEAN_SCHEMA, True),
    ("127", data.INT8_SCHEMA, 127), ("128", data.INT16_SCHEMA, 128), ("-40000", data.INT32_SCHEMA, -40000),
    ("3000000000", data.INT64_SCHEMA, 3000000000), ("1.0", data.INT8_SCHEMA, 1),
    ("1.5", data.FLOAT32_SCHEMA, 1.5), ("1e300", data.FLOAT64_SCHEMA, 1e300),
    ("2024-03-05", data.date_schema(), datetime.date(2024, 3, 5)),
    ("14:07:09.045Z", data.time_schema(), datetime.time(14, 7, 9, 45000)),
    ("2024-03-05T14:07:09.045Z", data.timestamp_schema(), MOMENT),
    ("12 apples", data.STRING_SCHEMA, "12 apples"),
])
def test_parse_literal_like_values_parse_string(text, schema, value):
    parsed = parse_literal(text)
    assert (parsed.schema, parsed.value) == (schema, value)


def test_parse_literal_null():
    assert parse_literal("null") == data.NULL


def test_drop_headers():
    record = sink(headers=[Header("a", None, 1), Header("b", None, 2), Header("a", None, 3), Header("c", None, 4)])
    assert make(DropHeaders, headers="a,c").apply(record).headers == (Header("b", None, 2),)
    with pytest.raises(ConfigException, match="Empty list"):
        make(DropHeaders, headers="")


# -- predicates ---------------------------------------------------------------------------------

def test_topic_name_matches_whole_topic():
    predicate = make(TopicNameMatches, pattern="my-prefix-.*")
    assert predicate.test(sink(topic="my-prefix-orders"))
    assert not predicate.test(sink(topic="other-my-prefix-orders"))
    with pytest.raises(ConfigException, match="Invalid regex"):
        make(TopicNameMatches, pattern="[")
    with pytest.raises(ConfigException, match="String may not be empty"):
        make(TopicNameMatches, pattern="")


def test_has_header_key_and_record_is_tombstone():
    predicate = make(HasHeaderKey, name="h")
    assert predicate.test(sink(headers=[Header("x", None, 1), Header("h", None, None)]))
    assert not predicate.test(sink(headers=[Header("x", None, 1)]))
    assert RecordIsTombstone().test(sink(None))
    assert not RecordIsTombstone().test(sink("v"))


# -- the chain ----------------------------------------------------------------------------------

CHAIN_CONFIG = {
    "name": "c", "connector.class": "FileStreamSink",
    "transforms": "dropTombstones,route,insert",
    "transforms.dropTombstones.type": "org.apache.kafka.connect.transforms.Filter",
    "transforms.dropTombstones.predicate": "isTombstone",
    "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
    "transforms.route.regex": "(.*)-raw",
    "transforms.route.replacement": "$1",
    "transforms.route.predicate": "notAudit",
    "transforms.route.negate": "true",
    "transforms.insert.type": "InsertField$Value",
    "transforms.insert.topic.field": "topic",
    "predicates": "isTombstone,notAudit",
    "predicates.isTombstone.type": "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
    "predicates.notAudit.type": "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
    "predicates.notAudit.pattern": "audit-.*",
}


def test_chain_applies_in_order_with_predicates_and_negate():
    chain = TransformationChain.from_config(Plugins(), CHAIN_CONFIG)
    assert len(chain) == 3
    assert chain.apply(sink(None, topic="orders-raw")) is None            # tombstone filtered
    out = chain.apply(sink({"a": 1}, topic="orders-raw"))
    assert (out.topic, out.value) == ("orders", {"a": 1, "topic": "orders"})  # routed first, then inserted
    out = chain.apply(sink({"a": 1}, topic="audit-raw"))
    assert (out.topic, out.value) == ("audit-raw", {"a": 1, "topic": "audit-raw"})  # negated predicate held
    chain.close()


def test_chain_empty_and_errors():
    assert TransformationChain.from_config(Plugins(), {}).apply(sink("v")).value == "v"
    with pytest.raises(ConfigException, match='Missing required configuration "transforms.a.type"'):
        TransformationChain.from_config(Plugins(), {"transforms": "a"})
    with pytest.raises(ConnectException, match="Failed to find any class that implements Transformation"):
        TransformationChain.from_config(Plugins(), {"transforms": "a", "transforms.a.type": "NoSuchThing"})
    with pytest.raises(ConfigException, match="Predicate alias 'p' is not listed in 'predicates'"):
        TransformationChain.from_config(Plugins(), {"transforms": "a", "transforms.a.type": "Filter",
                                                    "transforms.a.predicate": "p"})
    with pytest.raises(ConfigException, match="No field insertion configured"):
        TransformationChain.from_config(Plugins(), {"transforms": "a", "transforms.a.type": "InsertField$Value"})


def errors_by_key(values) -> dict[str, list[str]]:
    return {v.name: v.errors for v in values if v.errors}


def test_validate_a_good_config_has_no_errors_and_lists_the_keys():
    values = validate_transform_configs(Plugins(), CHAIN_CONFIG)
    assert errors_by_key(values) == {}
    names = [v.name for v in values]
    assert names[:4] == ["transforms.dropTombstones.type", "transforms.dropTombstones.predicate",
                         "transforms.dropTombstones.negate", "transforms.route.type"]
    assert "transforms.route.regex" in names and "predicates.notAudit.pattern" in names
    definition = transforms_config_def(Plugins(), CHAIN_CONFIG)
    assert definition.keys["transforms.insert.topic.field"].group == "Transforms: insert"
    assert "org.apache.kafka.connect.transforms.Filter" in \
        definition.keys["transforms.route.type"].recommender("transforms.route.type", CHAIN_CONFIG)


def test_validate_reports_errors_per_key():
    config = {
        "transforms": "unknown,noType,mask,negated,insert,wrongKind",
        "transforms.unknown.type": "com.example.Nope",
        "transforms.mask.type": "org.apache.kafka.connect.transforms.MaskField$Value",
        "transforms.mask.predicate": "missing",
        "transforms.negated.type": "Filter",
        "transforms.negated.negate": "true",
        "transforms.insert.type": "InsertField$Value",
        "transforms.wrongKind.type": "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        "predicates": "p",
        "predicates.p.type": "TopicNameMatches",
        "predicates.p.pattern": "(",
    }
    errors = errors_by_key(validate_transform_configs(Plugins(), config))
    pattern_errors = errors.pop("predicates.p.pattern")
    assert len(pattern_errors) == 1
    assert pattern_errors[0].startswith("Invalid value ( for configuration pattern: Invalid regex")
    assert errors == {
        "transforms.unknown.type": ["Invalid value com.example.Nope for configuration transforms.unknown.type: "
                                    "Class com.example.Nope could not be found."],
        "transforms.noType.type": ['Missing required configuration "transforms.noType.type" which has no default '
                                   'value.'],
        "transforms.mask.predicate": ["Invalid value missing for configuration transforms.mask.predicate: "
                                      "Predicate alias 'missing' is not listed in 'predicates'"],
        "transforms.mask.fields": ['Missing required configuration "transforms.mask.fields" which has no default '
                                   'value.'],
        "transforms.negated.type": ["Config 'transforms.negated.negate' was provided but there is no config "
                                    "'transforms.negated.predicate' defining a predicate to be negated."],
        "transforms.insert.type": ["No field insertion configured"],
        "transforms.wrongKind.type": ["Invalid value org.apache.kafka.connect.transforms.predicates.HasHeaderKey for "
                                      "configuration transforms.wrongKind.type: Not a Transformation"],
    }


def test_validate_puts_configure_errors_on_the_named_key():
    config = {"transforms": "a", "transforms.a.type": "InsertField$Value", "transforms.a.static.field": "s"}
    errors = errors_by_key(validate_transform_configs(Plugins(), config))
    assert errors == {"transforms.a.static.value": [
        "Invalid value None for configuration static.value: No value specified for static field: s"]}


# -- Java helpers -------------------------------------------------------------------------------

def test_java_double_to_string():
    assert [java.double_str(v) for v in (1.0, 0.001, 1234567.0, 1e7, 1.5e-4, -2.5e20, float("nan"), -0.0)] == [
        "1.0", "0.001", "1234567.0", "1.0E7", "1.5E-4", "-2.5E20", "NaN", "-0.0"]


def test_java_narrowing_and_split():
    assert java.narrow(300, 8) == 44 and java.narrow(-129, 8) == 127 and java.narrow(2 ** 63, 64) == -(2 ** 63)
    assert java.float_to_int(float("nan"), 32) == 0 and java.float_to_int(1e300, 8) == -1
    assert java.split("a:b:", ":") == ["a", "b"] and java.split("a::b", ":") == ["a", "", "b"]
