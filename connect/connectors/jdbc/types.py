"""Column types <-> Connect schemas, and values both ways.

Source side: a column's SQLAlchemy type (as reflected) gives the field schema, following
Confluent's GenericDatabaseDialect (SMALLINT->INT16, INTEGER->INT32, BIGINT->INT64, REAL->FLOAT32,
FLOAT/DOUBLE->FLOAT64, NUMERIC/DECIMAL->Decimal or a primitive per numeric.mapping, DATE/TIME/
TIMESTAMP->the logical types, character types->STRING, binary types->BYTES) and its PostgreSQL
dialect (JSON, JSONB and UUID as STRING). Columns of other types are left out of the record, as
Confluent does.

Sink side: a field schema gives the column type for CREATE TABLE / ALTER TABLE ADD.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import sqlalchemy as sa

from connect import data
from connect.data import Schema, Type
from connect.errors import ConnectException, DataException

# The largest precision a signed 64-bit integer always holds (2^63 ~ 9.2e18).
MAX_INTEGER_PRECISION = 18
# Confluent's scale for a NUMERIC without a declared precision and scale (PostgreSQL's plain
# `numeric`): wide enough that no stored value loses digits.
UNSET_NUMERIC_SCALE = 127

_INTEGER_SCHEMAS = {Type.INT8: data.INT8_SCHEMA, Type.INT16: data.INT16_SCHEMA, Type.INT32: data.INT32_SCHEMA,
                    Type.INT64: data.INT64_SCHEMA}


def _primitive(kind: Type, optional: bool) -> Schema:
    return Schema(kind, optional=optional)


def column_schema(sqltype: sa.types.TypeEngine, optional: bool, numeric_mapping: str,
                  backend: str) -> Schema | None:
    """The field schema for a column, or None for types the connector does not copy."""
    if isinstance(sqltype, sa.Boolean):
        return _primitive(Type.BOOLEAN, optional)
    if isinstance(sqltype, sa.SmallInteger):
        return _primitive(Type.INT16, optional)
    if isinstance(sqltype, sa.BigInteger):
        return _primitive(Type.INT64, optional)
    if isinstance(sqltype, sa.Integer):
        # SQLite stores every INTEGER as up to 64 bits (rowids included), so INT32 could overflow.
        return _primitive(Type.INT64 if backend == "sqlite" else Type.INT32, optional)
    if isinstance(sqltype, sa.Float):
        # SQLite's REAL is an 8-byte double; elsewhere REAL is single precision.
        single = isinstance(sqltype, sa.REAL) and backend != "sqlite"
        return _primitive(Type.FLOAT32 if single else Type.FLOAT64, optional)
    if isinstance(sqltype, sa.Numeric):
        return numeric_schema(sqltype.precision, sqltype.scale, optional, numeric_mapping)
    if isinstance(sqltype, (sa.String, sa.JSON, sa.Uuid)):
        return _primitive(Type.STRING, optional)
    if isinstance(sqltype, (sa.LargeBinary, sa.BINARY, sa.VARBINARY)):
        return _primitive(Type.BYTES, optional)
    if isinstance(sqltype, sa.DateTime):
        return data.timestamp_schema(optional=optional)
    if isinstance(sqltype, sa.Date):
        return data.date_schema(optional=optional)
    if isinstance(sqltype, sa.Time):
        return data.time_schema(optional=optional)
    return None


def numeric_schema(precision: int | None, scale: int | None, optional: bool, mapping: str) -> Schema:
    """NUMERIC(precision, scale) under numeric.mapping. Primitive mappings need a declared
    precision; without one the column stays a Decimal (Confluent would pick INT8 for PostgreSQL's
    plain `numeric` under best_fit, which truncates every value)."""
    if precision is not None:
        scale = scale or 0
        fits_long = precision <= MAX_INTEGER_PRECISION
        if mapping == "precision_only" and scale == 0 and fits_long:
            return _integer_schema(precision, optional)
        if mapping == "best_fit" and fits_long:
            return _integer_schema(precision, optional) if scale == 0 else _primitive(Type.FLOAT64, optional)
        if mapping == "best_fit_eager_double":
            if scale == 0 and fits_long:
                return _integer_schema(precision, optional)
            if scale > 0:
                return _primitive(Type.FLOAT64, optional)
        return data.decimal_schema(scale, optional=optional, precision=precision)
    return data.decimal_schema(UNSET_NUMERIC_SCALE, optional=optional, precision=0)


def _integer_schema(precision: int, optional: bool) -> Schema:
    if precision > 9:
        kind = Type.INT64
    elif precision > 4:
        kind = Type.INT32
    elif precision > 2:
        kind = Type.INT16
    else:
        kind = Type.INT8
    return _primitive(kind, optional)


def to_connect(schema: Schema, value, from_db_datetime):
    """A column value as the Connect value `schema` expects."""
    if value is None:
        return None
    if schema.name == data.TIMESTAMP:
        return from_db_datetime(value)
    if schema.name == data.DATE:
        return value.date() if isinstance(value, datetime.datetime) else value
    if schema.name == data.TIME:
        return value
    if schema.name == data.DECIMAL:
        return value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    if schema.type in _INTEGER_SCHEMAS:
        return int(value)
    if schema.type in (Type.FLOAT32, Type.FLOAT64):
        return float(value)
    if schema.type is Type.BOOLEAN:
        return bool(value)
    if schema.type is Type.BYTES:
        return bytes(value)
    return _text(value)


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    # JSON columns arrive parsed; the record carries the document as text, as Confluent does.
    return json.dumps(value, separators=(",", ":"))


def column_type(schema: Schema, field_name: str) -> sa.types.TypeEngine:
    """The column type CREATE TABLE / ALTER TABLE ADD uses for a field (Confluent's choices for
    PostgreSQL; SQLite gets the same declared types, which it reads back the same way)."""
    logical = {data.DECIMAL: sa.Numeric, data.DATE: sa.Date, data.TIME: sa.Time, data.TIMESTAMP: sa.DateTime}
    if schema.name in logical:
        return logical[schema.name]()
    simple = {Type.INT8: sa.SmallInteger, Type.INT16: sa.SmallInteger, Type.INT32: sa.Integer,
              Type.INT64: sa.BigInteger, Type.FLOAT32: sa.REAL, Type.FLOAT64: sa.Double,
              Type.BOOLEAN: sa.Boolean, Type.STRING: sa.Text, Type.BYTES: sa.LargeBinary}
    if schema.type in simple:
        return simple[schema.type]()
    raise ConnectException(f"{schema.type.name} (field {field_name}) has no SQL column type")


def to_db(schema: Schema | None, value, to_db_datetime):
    """A Connect value as the value bound to a column."""
    if value is None:
        return None
    if schema is not None and schema.name == data.TIMESTAMP:
        return to_db_datetime(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (data.Struct, list, dict)):
        raise DataException(f"A {type(value).__name__} value has no SQL column type")
    return value
