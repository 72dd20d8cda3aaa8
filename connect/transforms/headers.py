"""SMTs on record headers: HeaderFrom, InsertHeader, DropHeaders (org.apache.kafka.connect.transforms)."""

from __future__ import annotations

import datetime
import decimal
import re

from connect import data
from connect.api import Header
from connect.config_def import NO_DEFAULT, ConfigDef, ConfigType, Importance, NonEmptyList, ValidString
from connect.data import Schema, SchemaAndValue, Struct
from connect.errors import ConfigException, DataException
from connect.transforms.util import REPLACE_NULL_WITH_DEFAULT, SchemaCache, SimpleTransformation, field_value, \
    key_value_variants, require_map, require_struct, struct_like, with_replace_null_with_default

MOVE, COPY = "move", "copy"


@key_value_variants("org.apache.kafka.connect.transforms.HeaderFrom")
class HeaderFrom(SimpleTransformation):
    """Copy or move fields of the key or value into headers (fields[i] goes to headers[i])."""
    CONFIG_DEF = with_replace_null_with_default(
        ConfigDef()
        .define("fields", ConfigType.LIST, NO_DEFAULT, NonEmptyList(), Importance.HIGH,
                "Field names in the record whose values are to be copied or moved to headers.")
        .define("headers", ConfigType.LIST, NO_DEFAULT, NonEmptyList(), Importance.HIGH,
                "Header names, in the same order as the field names listed in the fields configuration property.")
        .define("operation", ConfigType.STRING, NO_DEFAULT, ValidString.in_(MOVE, COPY), Importance.HIGH,
                "Either <code>move</code> if the fields are to be moved to the headers (removed from the key/value), "
                "or <code>copy</code> if the fields are to be copied to the headers (retained in the key/value)."))

    def configure(self, configs):
        c = self.parse(configs)
        self.fields = c["fields"]
        self.headers = c["headers"]
        if len(self.fields) != len(self.headers):
            raise ConfigException("'fields' config must have the same number of elements as 'headers' config.")
        self.operation = c["operation"]
        self.replace_null_with_default = c[REPLACE_NULL_WITH_DEFAULT]
        self.cache = SchemaCache()

    def apply(self, record):
        value = self.operating_value(record)
        schema = self.operating_schema(record)
        purpose = "header " + self.operation
        headers = list(record.headers)
        if schema is None:
            value = require_map(value, purpose)
            updated = dict(value)
            for name, header in zip(self.fields, self.headers):
                if self.operation == MOVE:
                    updated.pop(name, None)
                headers.append(Header(header, None, value.get(name)))
            return self.new_record(record, None, updated, headers=headers)

        value = require_struct(value, purpose)
        if self.operation == MOVE:
            updated_schema = self.cache.get(schema, self._moved_schema)
            updated = Struct(updated_schema)
            for f in updated_schema.fields:
                updated.put(f.name, field_value(value, f.name, self.replace_null_with_default))
        else:
            updated_schema, updated = schema, value
        for name, header in zip(self.fields, self.headers):
            f = schema.field(name)
            if f is None:
                raise DataException(f"{name} is not a valid field name")
            headers.append(Header(header, f.schema, field_value(value, name, self.replace_null_with_default)))
        return self.new_record(record, updated_schema, updated, headers=headers)

    def _moved_schema(self, schema: Schema) -> Schema:
        return struct_like(schema, [(f.name, f.schema) for f in schema.fields if f.name not in self.fields])


class InsertHeader(SimpleTransformation):
    """Add a header with a literal value; the text is typed as Kafka's Values.parseString types it."""
    class_name = "org.apache.kafka.connect.transforms.InsertHeader"
    CONFIG_DEF = (ConfigDef()
                  .define("header", ConfigType.STRING, NO_DEFAULT, None, Importance.HIGH, "The name of the header.")
                  .define("value.literal", ConfigType.STRING, NO_DEFAULT, None, Importance.HIGH,
                          "The literal value that is to be set as the header value on all records."))

    def configure(self, configs):
        c = self.parse(configs)
        self.header = c["header"]
        self.literal = parse_literal(c["value.literal"])

    def apply(self, record):
        header = Header(self.header, self.literal.schema, self.literal.value)
        return record.new_record(headers=(*record.headers, header))


class DropHeaders(SimpleTransformation):
    """Remove every header with one of the listed names."""
    class_name = "org.apache.kafka.connect.transforms.DropHeaders"
    CONFIG_DEF = ConfigDef().define("headers", ConfigType.LIST, NO_DEFAULT, NonEmptyList(), Importance.HIGH,
                                    "The name of the headers to be removed.")

    def configure(self, configs):
        self.names = set(self.parse(configs)["headers"])

    def apply(self, record):
        return record.new_record(headers=[h for h in record.headers if h.key not in self.names])


# -- Values.parseString, for single values -------------------------------------------------------

_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TEMPORALS = (
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"), "%Y-%m-%dT%H:%M:%S.%fZ", data.timestamp_schema()),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "%Y-%m-%d", data.date_schema()),
    (re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3}Z"), "%H:%M:%S.%fZ", data.time_schema()),
)
_FLOAT32_MAX = 3.4028234663852886e38


def parse_literal(text: str) -> SchemaAndValue:
    """A literal's schema and value as Values.parseString gives them for single values: null, true,
    false, ISO-8601 date/time/timestamp (Kafka's fixed formats), an integer as the narrowest of
    INT8..INT64, a decimal number as FLOAT32 (FLOAT64 when too big), else the text as a STRING.
    Kafka also parses `[...]` arrays and `{...}` maps; here those stay strings."""
    stripped = text.strip()
    if text == "" or not stripped:
        return SchemaAndValue(data.STRING_SCHEMA, text)
    if stripped == "null":
        return data.NULL
    if stripped in ("true", "false"):
        return SchemaAndValue(data.BOOLEAN_SCHEMA, stripped == "true")
    for pattern, strptime, schema in _TEMPORALS:
        if pattern.fullmatch(stripped):
            try:
                moment = datetime.datetime.strptime(stripped, strptime).replace(tzinfo=datetime.timezone.utc)
            except ValueError:
                break
            value = moment.date() if schema.name == data.DATE else moment.time() if schema.name == data.TIME \
                else moment
            return SchemaAndValue(schema, value)
    if _NUMBER.fullmatch(stripped):
        return _parse_number(stripped)
    return SchemaAndValue(data.STRING_SCHEMA, text)


def _parse_number(text: str) -> SchemaAndValue:
    number = decimal.Decimal(text)
    if number == number.to_integral_value() and abs(number) < 2 ** 63 + (number < 0):
        integral = int(number)
        for schema, bits in ((data.INT8_SCHEMA, 8), (data.INT16_SCHEMA, 16), (data.INT32_SCHEMA, 32)):
            if -(1 << (bits - 1)) <= integral < (1 << (bits - 1)):
                return SchemaAndValue(schema, integral)
        return SchemaAndValue(data.INT64_SCHEMA, integral)
    # Kafka takes a float when the text has a scale (digits after the point, or an exponent) and fits.
    scale = -number.as_tuple().exponent
    if scale != 0 and abs(number) <= decimal.Decimal(_FLOAT32_MAX):
        return SchemaAndValue(data.FLOAT32_SCHEMA, float(number))
    if scale != 0 and abs(float(number)) != float("inf"):
        return SchemaAndValue(data.FLOAT64_SCHEMA, float(number))
    return SchemaAndValue(data.decimal_schema(scale), number)
