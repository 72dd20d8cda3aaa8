"""What every kafka-rest v3 route shares (docs/design/rest-proxy.md, section 3.2): the Resource and
Collection envelopes with absolute `self` and `related` URLs and `crn:///kafka=...` resource
names, the cluster-id check each path starts with, application/json bodies in and out, and the
config and alter-batch shapes the topic, broker and cluster config routes have in common."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, quote_plus

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from rest.admin import Admin, AlterCommand, source_name
from rest.errors import RestError
from rest.http import kafka
from rest.kafka import KafkaBackend

log = logging.getLogger("rest.v3")

JSON = "application/json"
# RFC 3986 path characters left as they are in `self`/`related` URLs.
PATH_SAFE = "-._~!$&'()*+,;=:@"


# -- answers --------------------------------------------------------------------------------


def answer(payload, status: int = 200, headers: dict | None = None) -> Response:
    """v3 answers application/json whatever the client accepts."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(body, status=status, content_type=JSON, headers=headers)


def no_content() -> Response:
    return Response(status=204, content_type=JSON)


def install(bp: Blueprint) -> Blueprint:
    """Errors of v3 routes answered as application/json (the app's own handlers negotiate v2's type)."""

    def rest_error(exc: RestError):
        return answer(exc.body(), exc.http_status)

    def http_error(exc: HTTPException):
        return answer({"error_code": exc.code, "message": f"HTTP {exc.code} {exc.name}"}, exc.code or 500)

    def unexpected(exc: Exception):
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return answer({"error_code": 500, "message": f"Internal Server Error: {type(exc).__name__}"}, 500)

    bp.register_error_handler(RestError, rest_error)
    bp.register_error_handler(HTTPException, http_error)
    bp.register_error_handler(Exception, unexpected)
    return bp


# -- envelope -------------------------------------------------------------------------------


def url(*segments, query: list[tuple[str, str]] | None = None) -> str:
    """The absolute URL of /v3/<segments>, on the host and root the request came to (kafka-rest's
    UrlFactory, which also skips empty segments); query values form-encoded as its UrlBuilder does."""
    path = "/".join(quote(str(s), safe=PATH_SAFE) for s in segments if str(s) != "")
    out = f"{request.url_root.rstrip('/')}/v3/{path}"
    if query:
        out += "?" + "&".join(f"{key}={quote_plus(str(value), safe='*')}" for key, value in query)
    return out


def crn(cluster_id: str, *parts) -> str:
    """`crn:///kafka=<cluster>/<type>=<id>/...`; a None id leaves the bare type (`/lag-summary`)."""
    pairs = [(parts[i], parts[i + 1]) for i in range(0, len(parts), 2)]
    tail = "".join(f"/{kind}" if value is None else f"/{kind}={value}" for kind, value in pairs)
    return f"crn:///kafka={cluster_id}{tail}"


def related(*segments) -> dict:
    return {"related": url(*segments)}


def resource(kind: str, self_url: str, resource_name: str | None, **fields) -> dict:
    """A Resource: kind, metadata (self, resource_name when it has one, as kafka-rest's
    NON_ABSENT), then its fields in order."""
    metadata = {"self": self_url}
    if resource_name is not None:
        metadata["resource_name"] = resource_name
    return {"kind": kind, "metadata": metadata, **fields}


def collection(kind: str, self_url: str, data: list) -> dict:
    """A ResourceCollection: everything in one page, so `next` is always null."""
    return {"kind": kind, "metadata": {"self": self_url, "next": None}, "data": data}


# -- the cluster and its Kafka ----------------------------------------------------------------


def admin() -> Admin:
    backend = kafka()
    return Admin(backend.admin, backend.timeout_s)


def cluster(cluster_id: str):
    """The cluster's description when `cluster_id` is its id; 404 `Cluster <id> cannot be found.`."""
    described = admin().cluster()
    if described.cluster_id is None:
        raise RestError(502, "Kafka protocol version not supported.: Metadata Response protocol version >= 2 required.")
    if described.cluster_id != cluster_id:
        raise RestError(404, f"Cluster {cluster_id} cannot be found.")
    return described


def known_cluster(cluster_id: str) -> KafkaBackend:
    """The request's backend when `cluster_id` is its cluster's (the id asked once per backend):
    the records paths check it on every request, where a describe per request would cost."""
    backend = kafka()
    if backend.cluster_id() != cluster_id:
        raise RestError(404, f"Cluster {cluster_id} cannot be found.")
    return backend


def controller_id(described) -> int:
    """The broker to ask for broker-level facts: the controller, else the first broker."""
    if described.controller is not None and described.controller.id >= 0:
        return described.controller.id
    return described.nodes[0].id


def not_found(message: str = "HTTP 404 Not Found") -> RestError:
    return RestError(404, message)


def path_int(text: str) -> int:
    """An integer path parameter; anything else is not a resource (JAX-RS's 404)."""
    try:
        return int(text)
    except ValueError:
        raise not_found() from None


def path_partition(text: str) -> int:
    """kafka-rest: a negative partition id is 40402 `Partition not found.`."""
    value = path_int(text)
    if value < 0:
        raise RestError(40402, "Partition not found.")
    return value


# -- request bodies ---------------------------------------------------------------------------


def json_request(empty_message: str = "Request body is empty. Data is required."):
    """The request's JSON body: 415 unless application/json, 422/42206 when empty (or `null`), 400 when
    not JSON."""
    if request.mimetype != JSON:
        raise RestError(415, "HTTP 415 Unsupported Media Type")
    data = request.get_data(cache=False)
    if not data.strip():
        raise RestError(42206, f"Payload error. {empty_message}")
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise RestError(400, f"Unexpected character in the JSON body: {exc}") from None
    except RecursionError:
        raise RestError(400, "The JSON body is nested too deeply") from None
    if body is None:  # `null`: no request object, as an empty body
        raise RestError(42206, f"Payload error. {empty_message}")
    return body


KINDS = {str: "a string", int: "an integer", bool: "a boolean", list: "an array", dict: "an object"}
INT32 = range(-2**31, 2**31)  # kafka-rest's request fields are Java ints


def field(body, name: str, kind: type, required: bool = False, where: str = ""):
    """body[name] when it is of `kind` (None when absent and not required); 400 otherwise, as
    kafka-rest's Jackson mapping errors."""
    if not isinstance(body, dict):
        raise RestError(400, f"{where.rstrip('.') or 'the request body'} must be a JSON object")
    value = body.get(name)
    if value is None:
        if required:
            raise RestError(400, f"{where}{name} is required")
        return None
    if not isinstance(value, kind) or kind is int and isinstance(value, bool):
        raise RestError(400, f"{where}{name} must be {KINDS[kind]}, not {json.dumps(value)}")
    if kind is int and value not in INT32:
        raise RestError(400, f"{where}{name}: numeric value ({value}) out of range of int (-2147483648 - 2147483647)")
    return value


def alter_commands(entries, where: str = "") -> list[AlterCommand]:
    """AlterConfigBatchRequestData's `data`: [{name, value?, operation?: SET (default) | DELETE}]."""
    if not isinstance(entries, list):
        raise RestError(400, f"{where}data must be an array")
    commands = []
    for index, entry in enumerate(entries):
        at = f"{where}data[{index}]."
        name = field(entry, "name", str, required=True, where=at)
        value = field(entry, "value", str, where=at)
        operation = (field(entry, "operation", str, where=at) or "SET").upper()
        if operation not in ("SET", "DELETE"):
            raise RestError(400, f"{at}operation must be SET or DELETE, not {json.dumps(entry['operation'])}")
        commands.append(AlterCommand(name, operation, value if operation == "SET" else None))
    return commands


def checked_commands(commands: list[AlterCommand], known: set[str], owner: str, cluster_id: str) -> None:
    """kafka-rest alters only configs the resource has (404 `Config <n> cannot be found for <type>
    <id> in cluster <c>.`), and Kafka takes no SET without a value (its INVALID_REQUEST)."""
    for command in commands:
        if command.name not in known:
            raise not_found(f"Config {command.name} cannot be found for {owner} in cluster {cluster_id}.")
        if command.operation == "SET" and command.value is None:
            raise RestError(40002, f"Null value not supported for : {command.name}")


# -- configs ----------------------------------------------------------------------------------


def config_fields(cluster_id: str, entry, **owner) -> dict:
    """AbstractConfigData's fields (the owner's id fields after cluster_id, as kafka-rest orders them)."""
    return {
        "cluster_id": cluster_id, **owner, "name": entry.name, "value": entry.value,
        "is_default": bool(entry.is_default), "is_read_only": bool(entry.is_read_only),
        "is_sensitive": bool(entry.is_sensitive), "source": source_name(entry.source),
        "synonyms": [{"name": s.name, "value": s.value, "source": source_name(s.source)}
                     for s in entry.synonyms.values()],
    }
