"""DescribeClientQuotas and AlterClientQuotas (KIP-546): what kafka-configs shows and sets for
--entity-type users / clients / ips. The quotas themselves are in broker/quotas.py."""

from __future__ import annotations

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.protocol import apis
from broker.protocol.errors import code
from broker.quotas import QuotaError, entity_of


def _entity_entries(entity) -> list[dict]:
    return [{"entity_type": kind, "entity_name": name} for kind, name in entity]


@apis.handler(48, 0, 1)
async def describe_client_quotas(broker, ctx, request):
    if not broker.authorizer.authorize(ctx, Operation.DESCRIBE_CONFIGS, ResourceType.CLUSTER, CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": code("CLUSTER_AUTHORIZATION_FAILED"),
                "error_message": "Cluster authorization failed.", "entries": None}
    try:
        found = broker.quotas.store.describe(request["components"], request["strict"])
    except QuotaError as exc:
        return {"throttle_time": 0, "error_code": code("INVALID_REQUEST"), "error_message": str(exc), "entries": None}
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "entries": [
        {"entity": _entity_entries(entity), "values": [{"key": k, "value": v} for k, v in sorted(values.items())]}
        for entity, values in found]}


@apis.handler(49, 0, 1)
async def alter_client_quotas(broker, ctx, request):
    allowed = broker.authorizer.authorize(ctx, Operation.ALTER_CONFIGS, ResourceType.CLUSTER, CLUSTER_NAME)
    answers = []
    async for entry in ctx.paced(request["entries"]):
        answer = {"error_code": 0, "error_message": None, "entity": entry["entity"]}
        try:
            if not allowed:
                answer.update(error_code=code("CLUSTER_AUTHORIZATION_FAILED"),
                              error_message="Cluster authorization failed.")
            else:
                broker.quotas.store.alter(entity_of(entry["entity"]), entry["ops"], request["validate_only"])
        except QuotaError as exc:
            answer.update(error_code=code("INVALID_REQUEST"), error_message=str(exc))
        answers.append(answer)
    return {"throttle_time": 0, "entries": answers}
