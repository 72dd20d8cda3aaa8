"""TimestampConverter (org.apache.kafka.connect.transforms.TimestampConverter): a timestamp field,
or the whole key/value, converted between a formatted string, Unix time, and Connect's Date, Time
and Timestamp. Every conversion goes through an instant in UTC, as Kafka's goes through a Date."""

from __future__ import annotations

import datetime

from connect import data
from connect.config_def import NO_DEFAULT, ConfigDef, ConfigType, Importance, ValidString
from connect.data import Schema, Struct, Type
from connect.errors import ConfigException, ConnectException, DataException
from connect.transforms.dateformat import DateFormat
from connect.transforms.util import REPLACE_NULL_WITH_DEFAULT, SchemaCache, SimpleTransformation, field_value, \
    key_value_variants, require_map, require_struct_or_none, struct_like, to_datetime, type_name, \
    with_replace_null_with_default

STRING, UNIX, DATE, TIME, TIMESTAMP = "string", "unix", "Date", "Time", "Timestamp"
# Milliseconds per unit of each unix.precision, and whether the unit is smaller than a millisecond.
_PRECISIONS = {"seconds": 1000, "milliseconds": 1, "microseconds": 1000, "nanoseconds": 1_000_000}
_SUB_MILLI = {"microseconds", "nanoseconds"}
_TARGET_SCHEMAS = {STRING: data.STRING_SCHEMA, UNIX: data.INT64_SCHEMA, DATE: data.date_schema(),
                   TIME: data.time_schema(), TIMESTAMP: data.timestamp_schema()}


def _truncating_div(a: int, b: int) -> int:
    """Java's integer division (TimeUnit conversions), which rounds toward zero."""
    q = abs(a) // b
    return q if a >= 0 else -q


@key_value_variants("org.apache.kafka.connect.transforms.TimestampConverter")
class TimestampConverter(SimpleTransformation):
    PURPOSE = "converting timestamp formats"
    CONFIG_DEF = with_replace_null_with_default(
        ConfigDef()
        .define("field", ConfigType.STRING, "", None, Importance.HIGH,
                "The field containing the timestamp, or empty if the entire value is a timestamp")
        .define("target.type", ConfigType.STRING, NO_DEFAULT, ValidString.in_(STRING, UNIX, DATE, TIME, TIMESTAMP),
                Importance.HIGH, "The desired timestamp representation: string, unix, Date, Time, or Timestamp")
        .define("format", ConfigType.STRING, "", None, Importance.MEDIUM,
                "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when "
                "type=string or used to parse the input if the input is a string.")
        .define("unix.precision", ConfigType.STRING, "milliseconds",
                ValidString.in_("nanoseconds", "microseconds", "milliseconds", "seconds"), Importance.LOW,
                "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. "
                "Used to generate the output when type=unix or used to parse the input if the input is a Long."
                "Note: This SMT will cause precision loss during conversions from, and to, values with "
                "sub-millisecond components."))

    def configure(self, configs):
        c = self.parse(configs)
        self.field = c["field"]
        self.target = c["target.type"]
        self.precision = c["unix.precision"]
        self.replace_null_with_default = c[REPLACE_NULL_WITH_DEFAULT]
        pattern = c["format"]
        if self.target == STRING and not pattern.strip():
            raise ConfigException("TimestampConverter requires format option to be specified when using string "
                                  "timestamps")
        self.format = None
        if pattern.strip():
            try:
                self.format = DateFormat(pattern)
            except ValueError as exc:
                raise ConfigException("TimestampConverter requires a SimpleDateFormat-compatible pattern for string "
                                      f"timestamps: {pattern} ({exc})") from None
        self.cache = SchemaCache()

    # -- from and to an instant ----------------------------------------------------------------

    def to_instant(self, kind: str, value) -> datetime.datetime:
        if kind == STRING:
            if not isinstance(value, str):
                raise DataException(f"Expected string timestamp to be a String, but found {type_name(value)}")
            try:
                return self.format.parse(value)
            except ValueError:
                raise DataException(f"Could not parse timestamp: value ({value}) does not match pattern "
                                    f"({self.format.pattern})") from None
        if kind == UNIX:
            if not isinstance(value, int) or isinstance(value, bool):
                raise DataException(f"Expected Unix timestamp to be a Long, but found {type_name(value)}")
            unit = _PRECISIONS[self.precision]
            millis = _truncating_div(value, unit) if self.precision in _SUB_MILLI else value * unit
            return data.EPOCH_DT + datetime.timedelta(milliseconds=millis)
        if not isinstance(value, (datetime.date, datetime.time)):
            raise DataException(f"Expected {kind} to be a datetime, but found {type_name(value)}")
        return to_datetime(value)

    def from_instant(self, instant: datetime.datetime):
        if self.target == STRING:
            return self.format.format(instant)
        if self.target == UNIX:
            millis = data.logical_to_primitive(data.timestamp_schema(), instant)
            unit = _PRECISIONS[self.precision]
            return millis * unit if self.precision in _SUB_MILLI else _truncating_div(millis, unit)
        if self.target == DATE:
            return instant.date()
        if self.target == TIME:
            return instant.time().replace(microsecond=instant.microsecond // 1000 * 1000)
        return instant

    def target_schema(self, optional: bool) -> Schema:
        schema = _TARGET_SCHEMAS[self.target]
        return schema.as_optional() if optional else schema

    def convert(self, value, kind: str | None = None):
        """`value` of the given kind (inferred when None) as the target type."""
        if value is None:
            return None
        return self.from_instant(self.to_instant(kind or _infer_kind(value), value))

    # -- records -------------------------------------------------------------------------------

    def apply(self, record):
        schema = self.operating_schema(record)
        value = self.operating_value(record)
        if schema is None:
            if value is None or not self.field:
                return self.new_record(record, None, self.convert(value))
            updated = dict(require_map(value, self.PURPOSE))
            updated[self.field] = self.convert(value.get(self.field))
            return self.new_record(record, None, updated)
        if not self.field:
            return self.new_record(record, self.target_schema(schema.optional),
                                   self.convert(value, _kind_of_schema(schema)))
        value = require_struct_or_none(value, self.PURPOSE)
        updated_schema = self.cache.get(schema, self._updated_schema)
        return self.new_record(record, updated_schema, self._convert_struct(value, updated_schema))

    def _updated_schema(self, schema: Schema) -> Schema:
        fields = [(f.name, self.target_schema(f.schema.optional) if f.name == self.field else f.schema)
                  for f in schema.fields]
        built = struct_like(schema, fields, optional=schema.optional)
        if schema.default is not None:
            built = struct_like(schema, fields, optional=schema.optional,
                                default=self._convert_struct(schema.default, built))
        return built

    def _convert_struct(self, value: Struct | None, schema: Schema) -> Struct | None:
        if value is None:
            return None
        updated = Struct(schema)
        for f in value.schema.fields:
            original = field_value(value, f.name, self.replace_null_with_default)
            if f.name == self.field:
                original = self.convert(original, _kind_of_schema(f.schema))
            updated.put(f.name, original)
        return updated


def _kind_of_schema(schema: Schema) -> str:
    if schema.name == data.TIMESTAMP:
        return TIMESTAMP
    if schema.name == data.DATE:
        return DATE
    if schema.name == data.TIME:
        return TIME
    if schema.type is Type.STRING:
        return STRING
    if schema.type is Type.INT64:
        return UNIX
    raise ConnectException(f"Schema {schema} does not correspond to a known timestamp type format")


def _infer_kind(value) -> str:
    """The kind of a schemaless value; as in Kafka, any date or time value counts as a Timestamp."""
    if isinstance(value, (datetime.date, datetime.time)):
        return TIMESTAMP
    if isinstance(value, int) and not isinstance(value, bool):
        return UNIX
    if isinstance(value, str):
        return STRING
    raise DataException(f"TimestampConverter does not support {type_name(value)} objects as timestamps")

