"""How the console tools read and print records of each format.

A format turns one line of text into the object its serializer takes (Avro's JSON
encoding, protobuf's JSON mapping, a JSON document, or a plain string) and turns a
deserialized object back into one line.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Callable

from serdes import Schema, SchemaRegistryClient


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


# -- string ----------------------------------------------------------------------------------


def string_codec(client, schema, schema_id, props) -> Codec:
    return Codec(lambda obj, ctx: None if obj is None else obj.encode("utf-8"), lambda line: line)


def string_printer(client, schema_text, props) -> Printer:
    return Printer(lambda data, ctx: None if data is None else data.decode("utf-8", "replace"),
                   lambda obj: "null" if obj is None else obj)


# -- avro ------------------------------------------------------------------------------------


def avro_codec(client: SchemaRegistryClient, schema: Schema | None, schema_id: int | None, props: dict) -> Codec:
    from fastavro import json_reader

    from serdes.avro import AvroSerializer, parse_avro

    schema = client.get_schema(schema_id) if schema_id is not None else schema
    parsed = parse_avro(client, schema)
    conf = {"use.schema.id": schema_id, "auto.register.schemas": False} if schema_id is not None else \
        {"auto.register.schemas": props.get("auto.register.schemas", "true").lower() == "true"}
    serializer = AvroSerializer(client, schema, conf=conf)

    def parse_line(line: str):
        try:
            return next(iter(json_reader(io.StringIO(line), parsed)))
        except Exception as exc:  # fastavro reports mismatches with assorted exception types
            raise LineError(f"not Avro JSON for the schema: {type(exc).__name__}: {exc}") from None

    return Codec(serializer, parse_line)


def avro_printer(client: SchemaRegistryClient, schema_text, props) -> Printer:
    from fastavro import json_writer

    from serdes.avro import AvroDeserializer, parse_avro
    from serdes.base import WriterSchemaCache

    deserializer = AvroDeserializer(client)
    # The writer schema of the last record, to print it in Avro's JSON encoding.
    writers = WriterSchemaCache(client, lambda schema: parse_avro(client, schema))
    state: dict = {}

    def deserialize(data, ctx):
        obj = deserializer(data, ctx)
        if data is not None:
            state["schema"] = writers.writer_of(data, ctx)[1]
        return obj

    def render(obj) -> str:
        if obj is None:
            return "null"
        out = io.StringIO()
        json_writer(out, state["schema"], [obj])
        return out.getvalue().strip()

    return Printer(deserialize, render)


# -- protobuf --------------------------------------------------------------------------------


def _protobuf_message_class(client: SchemaRegistryClient, schema: Schema):
    """The first message type of a .proto schema, compiled (imports through its references)."""
    from registry.formats import InvalidSchemaError, SchemaReference, provider
    from serdes.base import resolve_references

    resolved = {name: dep.schema_str for name, dep in resolve_references(client, schema)}
    refs = [SchemaReference(r.name, r.subject, r.version) for r in schema.references]
    try:
        return provider("PROTOBUF").parse(schema.schema_str, refs, resolved).message_class()
    except InvalidSchemaError as exc:
        raise LineError(f"invalid .proto schema: {exc}") from None


def protobuf_codec(client: SchemaRegistryClient, schema: Schema | None, schema_id: int | None,
                   props: dict) -> Codec:
    from google.protobuf import json_format

    from serdes.protobuf import ProtobufSerializer

    schema = client.get_schema(schema_id) if schema_id is not None else schema
    message_class = _protobuf_message_class(client, schema)
    conf = {"use.schema.id": schema_id, "auto.register.schemas": False} if schema_id is not None else {}
    serializer = ProtobufSerializer(message_class, client, conf)

    def parse_line(line: str):
        try:
            return json_format.Parse(line, message_class())
        except json_format.ParseError as exc:
            raise LineError(f"not protobuf JSON for {message_class.DESCRIPTOR.full_name}: {exc}") from None

    return Codec(serializer, parse_line)


def protobuf_printer(client: SchemaRegistryClient, schema_text, props) -> Printer:
    from google.protobuf import json_format

    from serdes.protobuf import ProtobufDeserializer

    deserializer = ProtobufDeserializer(schema_registry_client=client)

    def render(message) -> str:
        if message is None:
            return "null"
        return json_format.MessageToJson(message, indent=None, preserving_proto_field_name=True)

    return Printer(deserializer, render)


# -- JSON Schema -----------------------------------------------------------------------------


def json_schema_codec(client: SchemaRegistryClient, schema: Schema | None, schema_id: int | None,
                      props: dict) -> Codec:
    from serdes.json_schema import JSONSerializer

    schema = client.get_schema(schema_id) if schema_id is not None else schema
    conf = {"use.schema.id": schema_id, "auto.register.schemas": False} if schema_id is not None else {}
    serializer = JSONSerializer(schema, client, conf=conf)

    def parse_line(line: str):
        try:
            return json.loads(line)
        except ValueError as exc:
            raise LineError(f"not JSON: {exc}") from None

    return Codec(serializer, parse_line)


def json_schema_printer(client: SchemaRegistryClient, schema_text, props) -> Printer:
    from serdes.json_schema import JSONDeserializer

    return Printer(JSONDeserializer(schema_registry_client=client), lambda obj: json.dumps(obj))


CODECS: dict[str, Callable[..., Codec]] = {
    "string": string_codec, "avro": avro_codec, "protobuf": protobuf_codec, "json-schema": json_schema_codec,
}
PRINTERS: dict[str, Callable[..., Printer]] = {
    "string": string_printer, "avro": avro_printer, "protobuf": protobuf_printer,
    "json-schema": json_schema_printer,
}
FORMATS = tuple(CODECS)
