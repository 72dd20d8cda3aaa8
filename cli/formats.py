"""How the console tools read and print records of each format.

A format turns one line of text into the object its serializer takes (Avro's JSON
encoding, protobuf's JSON mapping, a JSON document, or a plain string) and turns a
deserialized object back into one line. The conversions are the format layer's
(ParsedSchema.from_json / to_json); the serializers are the serdes'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from formats import ParsedSchema, RecordMismatch, Schema
from formats.wire import HEADER_SIZE
from registry_client import SchemaRegistryClient
from serdes import SerializationError
from serdes.avro import AvroSerializer
from serdes.base import WriterSchemaCache, parsed_schema
from serdes.json_schema import JSONDeserializer, JSONSerializer
from serdes.protobuf import ProtobufSerializer


class LineError(ValueError):
    """A line that does not parse or does not match its schema."""


@dataclass
class Codec:
    """The serializer, the line parser and the printer for one side (key or value)."""

    serialize: Callable[[Any, Any], bytes | None]
    parse_line: Callable[[str], Any]


@dataclass
class Printer:
    deserialize: Callable[[bytes | None, Any], Any]
    render: Callable[[Any], str]


# Schema types by console format.
SCHEMA_TYPES = {"avro": "AVRO", "protobuf": "PROTOBUF", "json-schema": "JSON"}


def _json_line(line: str):
    try:
        return json.loads(line)
    except ValueError as exc:
        raise LineError(f"not JSON: {exc}") from None


def _line_parser(parsed: ParsedSchema) -> Callable[[str], Any]:
    def parse_line(line: str):
        try:
            return parsed.from_json(_json_line(line))
        except RecordMismatch as exc:
            raise LineError(str(exc)) from None
    return parse_line


def _serializer_conf(schema_id: int | None, props: dict) -> dict:
    if schema_id is not None:
        return {"use.schema.id": schema_id, "auto.register.schemas": False}
    return {"auto.register.schemas": props.get("auto.register.schemas", "true").lower() == "true"}


def _json_render(obj) -> str:
    return "null" if obj is None else json.dumps(obj)


# -- string ----------------------------------------------------------------------------------


def string_codec(client, schema, schema_id, props) -> Codec:
    return Codec(lambda obj, ctx: None if obj is None else obj.encode("utf-8"), lambda line: line)


def string_printer(client, schema_text, props) -> Printer:
    return Printer(lambda data, ctx: None if data is None else data.decode("utf-8", "replace"),
                   lambda obj: "null" if obj is None else obj)


# -- schema formats: Avro and Protobuf print through their writer schema ---------------------


def writer_schema_printer(client: SchemaRegistryClient, schema_text, props) -> Printer:
    """Decodes each record with its writer schema and prints the format's JSON form of it."""
    readers = WriterSchemaCache(client, lambda parsed: (parsed.reader(), parsed.to_json))

    def deserialize(data, ctx):
        if data is None:
            return None
        schema_id, (read, to_json) = readers.writer_of(data, ctx)
        try:
            return to_json(read(data, HEADER_SIZE))
        except RecordMismatch as exc:
            raise SerializationError(f"{ctx.describe()}: cannot decode the payload written with schema id "
                                     f"{schema_id}: {exc}") from exc

    return Printer(deserialize, _json_render)


def avro_codec(client: SchemaRegistryClient, schema: Schema | None, schema_id: int | None, props: dict) -> Codec:
    schema = client.get_schema(schema_id) if schema_id is not None else schema
    parsed = parsed_schema(client, schema)
    serializer = AvroSerializer(client, schema, conf=_serializer_conf(schema_id, props))
    return Codec(serializer, _line_parser(parsed))


def protobuf_codec(client: SchemaRegistryClient, schema: Schema | None, schema_id: int | None,
                   props: dict) -> Codec:
    schema = client.get_schema(schema_id) if schema_id is not None else schema
    parsed = parsed_schema(client, schema)
    conf = {"use.schema.id": schema_id, "auto.register.schemas": False} if schema_id is not None else {}
    # The serializer registers the schema of the message class, compiled from the .proto text.
    serializer = ProtobufSerializer(parsed.message_class(), client, conf)
    return Codec(serializer, _line_parser(parsed))


# -- JSON Schema -----------------------------------------------------------------------------


def json_schema_codec(client: SchemaRegistryClient, schema: Schema | None, schema_id: int | None,
                      props: dict) -> Codec:
    schema = client.get_schema(schema_id) if schema_id is not None else schema
    conf = {"use.schema.id": schema_id, "auto.register.schemas": False} if schema_id is not None else {}
    serializer = JSONSerializer(schema, client, conf=conf)
    return Codec(serializer, _json_line)  # the serializer validates the document


def json_schema_printer(client: SchemaRegistryClient, schema_text, props) -> Printer:
    """Records are printed as written: like Confluent's consumer, no validation by default."""
    return Printer(JSONDeserializer(schema_registry_client=client), _json_render)


CODECS: dict[str, Callable[..., Codec]] = {
    "string": string_codec, "avro": avro_codec, "protobuf": protobuf_codec, "json-schema": json_schema_codec,
}
PRINTERS: dict[str, Callable[..., Printer]] = {
    "string": string_printer, "avro": writer_schema_printer, "protobuf": writer_schema_printer,
    "json-schema": json_schema_printer,
}
FORMATS = tuple(CODECS)
