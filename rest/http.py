"""What every route shares: the request's Kafka backend and consumer instances, JSON bodies in,
kafka-rest's JSON answers out."""

from __future__ import annotations

import json

from flask import Response, current_app, request

from rest.consumers import ConsumerManager
from rest import jsontext
from rest.embedded import SchemaEncoders
from rest.errors import RestError
from rest.kafka import KafkaBackend
from rest.security import CLIENTS

V2 = "application/vnd.kafka.v2+json"
JSON = "application/json"


def kafka() -> KafkaBackend:
    """The caller's own backend under rest.authorization (rest/security.py), else the proxy's."""
    clients = request.environ.get(CLIENTS)
    return clients.kafka if clients is not None else current_app.config["KAFKA"]


def consumers() -> ConsumerManager:
    """The caller's own consumer instances under rest.authorization, else the proxy's
    (app.config["CONSUMERS"] stands for this in routes)."""
    clients = request.environ.get(CLIENTS)
    return clients.consumers if clients is not None else current_app.config["SERVICE_CONSUMERS"]


def schemas() -> SchemaEncoders:
    return current_app.config["SCHEMAS"]


def respond(payload, status: int = 200) -> Response:
    """kafka-rest answers application/vnd.kafka.v2+json; a client that asks only for
    application/json gets that."""
    accept = request.headers.get("Accept", "")
    content_type = JSON if JSON in accept and V2 not in accept and "*/*" not in accept else V2
    return Response(jsontext.dumps(payload), status=status, content_type=content_type)


def json_body() -> object:
    """The request's JSON body; 400 (kafka-rest's JSON parse error) when it is not JSON."""
    data = request.get_data(cache=False)
    try:
        return json.loads(data) if data else None
    except ValueError as exc:
        raise RestError(400, f"Unexpected character in the JSON body: {exc}") from None
