"""kafka-rest v3 ACLs: search with the seven filters, create one (201 + Location) or a batch (204, as
kafka-rest's code answers), delete by filter (the deleted ones back).

Names are kafka-rest's (its CLUSTER is confluent-kafka's BROKER resource type); query values are
taken in any case. Beyond kafka-rest, an unknown enum value is 400 naming the allowed ones (its
JAX-RS answers 404). DELEGATION_TOKEN ACLs cannot be expressed through confluent-kafka: 400.

Without an authorizer Kafka answers SECURITY_DISABLED, which kafka-rest renders 400/40002.
librdkafka drops that code on DescribeAcls (an empty list comes back), so an empty search asks
the broker whether `authorizer.class.name` is set and answers 40002 when it is not.
"""

from __future__ import annotations

from confluent_kafka.admin import AclBinding, AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType
from confluent_kafka.admin import ResourceType as KafkaResourceType
from flask import Blueprint, Response, request

from rest.errors import RestError
from rest.v3 import (
    JSON, admin, answer, cluster, collection, controller_id, field, install, json_request, no_content, url,
)

bp = install(Blueprint("v3_acls", __name__))

# kafka-rest's enums, in their order (which is also how it sorts ACLs).
RESOURCE_TYPES = ["UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN"]
PATTERN_TYPES = [p.name for p in ResourcePatternType]
OPERATIONS = [o.name for o in AclOperation]
PERMISSIONS = [p.name for p in AclPermissionType]
FILTERS = ("resource_type", "resource_name", "pattern_type", "principal", "host", "operation", "permission")
NULL_PAYLOAD = "Null input provided. Data is required."
SECURITY_DISABLED = "No Authorizer is configured on the broker"


def _resource_type(name: str) -> KafkaResourceType:
    if name == "DELEGATION_TOKEN":
        raise RestError(400, "Bad Request: resource_type DELEGATION_TOKEN is not supported by this proxy's Kafka client")
    return KafkaResourceType["BROKER" if name == "CLUSTER" else name]


def _resource_type_name(kind: KafkaResourceType) -> str:
    return "CLUSTER" if kind.name == "BROKER" else kind.name


def _enum(value, allowed: list[str], name: str, where: str = "") -> str:
    text = value.upper() if isinstance(value, str) else None
    if text not in allowed:
        raise RestError(400, f"Bad Request: {where}{name} must be one of {', '.join(allowed)}, not {value!r}")
    return text


# -- AclData ----------------------------------------------------------------------------------


def _acl_fields(binding: AclBinding) -> dict:
    return {"resource_type": _resource_type_name(binding.restype), "resource_name": binding.name,
            "pattern_type": binding.resource_pattern_type.name, "principal": binding.principal,
            "host": binding.host, "operation": binding.operation.name, "permission": binding.permission_type.name}


def _acls_url(cluster_id: str, fields: dict) -> str:
    return url("clusters", cluster_id, "acls", query=[(name, fields[name] or "") for name in FILTERS])


def _acl_data(cluster_id: str, binding: AclBinding) -> dict:
    """AclData: no resource_name in its metadata; its `self` is the search for exactly this ACL."""
    fields = _acl_fields(binding)
    return {"kind": "KafkaAcl", "metadata": {"self": _acls_url(cluster_id, fields)}, "cluster_id": cluster_id,
            **fields}


def _sorted(cluster_id: str, bindings: list[AclBinding]) -> list[dict]:
    def key(b: AclBinding):
        return (RESOURCE_TYPES.index(_resource_type_name(b.restype)), b.name, b.resource_pattern_type.value,
                b.principal, b.host, b.operation.value, b.permission_type.value)
    return [_acl_data(cluster_id, b) for b in sorted(bindings, key=key)]


# -- filters ----------------------------------------------------------------------------------


def _query_filter(default: str, unknown_message: str) -> tuple[dict, AclBindingFilter]:
    """The seven query filters (enums default to `default`; UNKNOWN refused as kafka-rest does)."""
    fields = {}
    for name, allowed in (("resource_type", RESOURCE_TYPES), ("pattern_type", PATTERN_TYPES),
                          ("operation", OPERATIONS), ("permission", PERMISSIONS)):
        fields[name] = _enum(request.args.get(name) or default, allowed, name)
        if fields[name] == "UNKNOWN":
            raise RestError(400, f"Bad Request: {name} {unknown_message}")
    for name in ("resource_name", "principal", "host"):
        fields[name] = request.args.get(name) or None
    acl_filter = AclBindingFilter(_resource_type(fields["resource_type"]), fields["resource_name"],
                                  ResourcePatternType[fields["pattern_type"]], fields["principal"], fields["host"],
                                  AclOperation[fields["operation"]], AclPermissionType[fields["permission"]])
    return fields, acl_filter


def _security_disabled(described) -> bool:
    return admin().authorizer_configured(controller_id(described)) is False


@bp.get("/clusters/<cluster_id>/acls")
def search_acls(cluster_id: str):
    fields, acl_filter = _query_filter("ANY", "cannot be UNKNOWN")
    described = cluster(cluster_id)
    bindings = admin().acls(acl_filter)
    if not bindings and _security_disabled(described):
        raise RestError(40002, SECURITY_DISABLED)
    return answer(collection("KafkaAclList", _acls_url(cluster_id, fields), _sorted(cluster_id, bindings)))


@bp.delete("/clusters/<cluster_id>/acls")
def delete_acls(cluster_id: str):
    _, acl_filter = _query_filter("UNKNOWN", "cannot be unspecified or UNKNOWN")
    cluster(cluster_id)
    return answer({"data": _sorted(cluster_id, admin().delete_acls(acl_filter))})


# -- creating ---------------------------------------------------------------------------------


def _binding(entry, where: str = "") -> AclBinding:
    """CreateAclRequest: all seven fields, none of them a wildcard enum (kafka-rest's validation)."""
    fields = {name: field(entry, name, str, required=True, where=where) for name in FILTERS}
    resource_type = _enum(fields["resource_type"], RESOURCE_TYPES, "resource_type", where)
    pattern_type = _enum(fields["pattern_type"], PATTERN_TYPES, "pattern_type", where)
    operation = _enum(fields["operation"], OPERATIONS, "operation", where)
    permission = _enum(fields["permission"], PERMISSIONS, "permission", where)
    if resource_type in ("ANY", "UNKNOWN"):
        raise RestError(400, "Bad Request: resource_type cannot be ANY")
    if pattern_type in ("ANY", "MATCH", "UNKNOWN"):
        raise RestError(400, f"Bad Request: pattern_type cannot be {pattern_type}")
    if operation in ("ANY", "UNKNOWN"):
        raise RestError(400, "Bad Request: operation cannot be ANY")
    if permission in ("ANY", "UNKNOWN"):
        raise RestError(400, "Bad Request: permission cannot be ANY")
    return AclBinding(_resource_type(resource_type), fields["resource_name"], ResourcePatternType[pattern_type],
                      fields["principal"], fields["host"], AclOperation[operation], AclPermissionType[permission])


@bp.post("/clusters/<cluster_id>/acls")
def create_acl(cluster_id: str):
    binding = _binding(json_request(NULL_PAYLOAD))
    cluster(cluster_id)
    admin().create_acls([binding])
    return Response(status=201, content_type=JSON, headers={"Location": _acls_url(cluster_id, _acl_fields(binding))})


@bp.post("/clusters/<cluster_id>/acls:batch")
def create_acls(cluster_id: str):
    entries = field(json_request(NULL_PAYLOAD), "data", list, required=True)
    bindings = [_binding(entry, f"data[{index}].") for index, entry in enumerate(entries)]
    cluster(cluster_id)
    if bindings:
        admin().create_acls(bindings)
    return no_content()
