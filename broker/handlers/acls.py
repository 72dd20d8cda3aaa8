"""CreateAcls, DescribeAcls and DeleteAcls (versions 1-3, those Kafka 4 serves).

As Kafka's AclApis: creating and deleting need ALTER on the cluster, describing needs
DESCRIBE (else CLUSTER_AUTHORIZATION_FAILED); without an authorizer every one of them is
answered SECURITY_DISABLED.
"""

from __future__ import annotations

from itertools import groupby

from broker.authorizer import AclFilter, InvalidAcl, Operation, ResourceType, CLUSTER_NAME, new_acl
from broker.protocol import apis
from broker.protocol.errors import code

CLUSTER_DENIED = "Cluster authorization failed."


def _refusal(broker, ctx, operation: Operation) -> tuple[str, str] | None:
    """(error, message) when the request cannot be served at all, else None."""
    if not broker.authorizer.authorize(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME):
        return "CLUSTER_AUTHORIZATION_FAILED", CLUSTER_DENIED
    if not broker.authorizer.enabled:
        return "SECURITY_DISABLED", "No Authorizer is configured on the broker"
    return None


@apis.handler(30, 1, 3)
async def create_acls(broker, ctx, request):
    creations = request["creations"] or []
    refused = _refusal(broker, ctx, Operation.ALTER)
    if refused is not None:
        return {"throttle_time": 0, "results": [
            {"error_code": code(refused[0]), "error_message": refused[1]} for _ in creations]}
    results, valid = [], []
    async for c in ctx.paced(creations):
        try:
            valid.append(new_acl(c["resource_type"], c["resource_name"], c["resource_pattern_type"],
                                 c["principal"], c["host"], c["operation"], c["permission_type"]))
            results.append({"error_code": 0, "error_message": None})
        except InvalidAcl as exc:
            results.append({"error_code": code("INVALID_REQUEST"), "error_message": str(exc)})
    broker.authorizer.create(valid)
    return {"throttle_time": 0, "results": results}


def _described_resources(acls) -> list[dict]:
    """Bindings grouped by resource pattern, as DescribeAclsResponse.aclsResources does."""
    resources = []
    for (rtype, name, ptype), group in groupby(acls, key=lambda a: (a.resource_type, a.name, a.pattern_type)):
        resources.append({"resource_type": rtype, "resource_name": name, "pattern_type": ptype, "acls": [
            {"principal": a.principal, "host": a.host, "operation": a.operation, "permission_type": a.permission}
            for a in group]})
    return resources


@apis.handler(29, 1, 3)
async def describe_acls(broker, ctx, request):
    refused = _refusal(broker, ctx, Operation.DESCRIBE)
    if refused is not None:
        return {"throttle_time": 0, "error_code": code(refused[0]), "error_message": refused[1], "resources": []}
    acl_filter = AclFilter.from_wire(request)
    if acl_filter.unknown_part() is not None:
        return {"throttle_time": 0, "error_code": code("INVALID_REQUEST"),
                "error_message": "Filter contain UNKNOWN elements", "resources": []}
    return {"throttle_time": 0, "error_code": 0, "error_message": None,
            "resources": _described_resources(broker.authorizer.describe(acl_filter))}


def _matching_acl(acl) -> dict:
    return {"error_code": 0, "error_message": None, "resource_type": acl.resource_type, "resource_name": acl.name,
            "pattern_type": acl.pattern_type, "principal": acl.principal, "host": acl.host,
            "operation": acl.operation, "permission_type": acl.permission}


@apis.handler(31, 1, 3)
async def delete_acls(broker, ctx, request):
    filters = request["filters"] or []
    refused = _refusal(broker, ctx, Operation.ALTER)
    if refused is not None:
        return {"throttle_time": 0, "filter_results": [
            {"error_code": code(refused[0]), "error_message": refused[1], "matching_acls": []} for _ in filters]}
    parsed = [AclFilter.from_wire(f) for f in filters]
    valid = [f for f in parsed if f.unknown_part() is None]
    deleted = iter(broker.authorizer.delete(valid))
    results = []
    for f in parsed:
        unknown = f.unknown_part()
        if unknown is not None:
            results.append({"error_code": code("INVALID_REQUEST"), "error_message": f"Unknown {unknown}.",
                            "matching_acls": []})
        else:
            results.append({"error_code": 0, "error_message": None,
                            "matching_acls": [_matching_acl(a) for a in next(deleted)]})
    return {"throttle_time": 0, "filter_results": results}
