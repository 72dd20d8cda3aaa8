"""The consumer group protocol's APIs (KIP-848): ConsumerGroupHeartbeat and ConsumerGroupDescribe.

The rules live in broker/coordinator/consumer_coordinator.py; here only the translation
between the wire (partitions by topic id) and the coordinator (partitions by topic name).
"""

from __future__ import annotations

from broker.authorizer import Operation, ResourceType
from broker.coordinator.consumer_coordinator import Heartbeat, HeartbeatError
from broker.coordinator.metadata_log import WriteError
from broker.features import GROUP_VERSION
from broker.handlers.groups import AUTHORIZED_OPERATIONS_OMITTED, GROUP_DENIED, client_host, group_allowed
from broker.protocol import apis
from broker.protocol.errors import code

CLASSIC_MEMBER_TYPE, CONSUMER_MEMBER_TYPE = 0, 1  # ConsumerGroupDescribe v1's member_type


def _owned_by_name(broker, topic_partitions: list | None) -> dict[str, set[int]] | None:
    """The owned partitions a heartbeat reports, by topic name. A topic id no topic has (a
    deleted topic) is kept under "id/<hex>", which no topic name can be ('/' is not allowed
    in one): it still counts as reported, and never matches an assignment."""
    if topic_partitions is None:
        return None
    owned: dict[str, set[int]] = {}
    for tp in topic_partitions:
        topic = broker.topics.by_id(bytes(tp["topic_id"]))
        name = topic.name if topic is not None else "id/" + bytes(tp["topic_id"]).hex()
        owned.setdefault(name, set()).update(tp["partitions"] or ())
    return owned


def _by_topic_id(broker, parts: dict[str, set[int]], with_names: bool = False) -> list[dict]:
    out = []
    for name in sorted(parts):
        topic = broker.topics.get(name)
        if topic is not None and parts[name]:
            entry = {"topic_id": topic.topic_id, "partitions": sorted(parts[name])}
            if with_names:
                entry["topic_name"] = name
            out.append(entry)
    return out


def _topic_describer(broker, ctx):
    """Whether this client may describe a topic; None when there is no authorizer."""
    if not broker.authorizer.enabled:
        return None
    return lambda name: broker.authorizer.authorize(ctx, Operation.DESCRIBE, ResourceType.TOPIC, name)


def protocol_enabled(broker) -> bool:
    """As Kafka: with `group.version` downgraded below 1 (kafka-features) the APIs stay
    advertised but answer UNSUPPORTED_VERSION."""
    return broker.features.level(GROUP_VERSION) >= 1


def _error(error: str, message: str | None = None) -> dict:
    return {"throttle_time": 0, "error_code": code(error), "error_message": message, "member_id": None,
            "member_epoch": 0, "heartbeat_interval": 0, "assignment": None}


@apis.handler(68, 0, 1)
async def consumer_group_heartbeat(broker, ctx, request):
    if not protocol_enabled(broker):
        return _error("UNSUPPORTED_VERSION")
    if not group_allowed(broker, ctx, Operation.READ, request["group_id"]):
        return _error(GROUP_DENIED)
    names = request.get("subscribed_topic_names")
    may_describe = _topic_describer(broker, ctx)
    if names and may_describe is not None and not all(map(may_describe, set(names))):
        # As Kafka: a member may only subscribe to topics it may describe.
        return _error("TOPIC_AUTHORIZATION_FAILED")
    heartbeat = Heartbeat(
        group_id=request["group_id"] or "", member_id=request["member_id"] or "", member_epoch=request["member_epoch"],
        instance_id=request.get("instance_id"), rack_id=request.get("rack_id"),
        rebalance_timeout_ms=request.get("rebalance_timeout", -1),
        subscribed_topic_names=list(names) if names is not None else None,
        subscribed_topic_regex=request.get("subscribed_topic_regex"), server_assignor=request.get("server_assignor"),
        owned=_owned_by_name(broker, request.get("topic_partitions")),
        client_id=ctx.client_id or "", client_host=client_host(ctx), version=ctx.api_version,
        may_describe=may_describe)
    try:
        answer = broker.group_coordinator.consumer.heartbeat(heartbeat)
    except HeartbeatError as exc:
        return _error(exc.error, exc.message)
    except WriteError as exc:
        return _error(exc.error, str(exc))
    assignment = None
    if answer.assignment is not None:
        assignment = {"topic_partitions": _by_topic_id(broker, answer.assignment)}
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "member_id": answer.member_id,
            "member_epoch": answer.member_epoch, "heartbeat_interval": answer.heartbeat_interval_ms,
            "assignment": assignment}


def _describe(broker, ctx, group_id: str, include_operations: bool) -> dict:
    coordinator = broker.group_coordinator
    operations = AUTHORIZED_OPERATIONS_OMITTED
    empty = {"group_id": group_id, "group_state": "", "group_epoch": 0, "assignment_epoch": 0, "assignor_name": "",
             "members": [], "authorized_operations": operations}
    if not protocol_enabled(broker):
        return {**empty, "error_code": code("UNSUPPORTED_VERSION"), "error_message": None}
    if not group_allowed(broker, ctx, Operation.DESCRIBE, group_id):
        return {**empty, "error_code": code(GROUP_DENIED), "error_message": None}
    if not group_id:
        return {**empty, "error_code": code("INVALID_GROUP_ID"), "error_message": None}
    if coordinator.loading:
        return {**empty, "error_code": code("COORDINATOR_LOAD_IN_PROGRESS"), "error_message": None}
    group = coordinator.consumer.groups.get(group_id)
    if group is None:
        message = (f"Group {group_id} is not a consumer group." if group_id in coordinator.groups
                   else f"Group {group_id} not found.")
        return {**empty, "error_code": code("GROUP_ID_NOT_FOUND"), "error_message": message}
    may_describe = _topic_describer(broker, ctx)
    if may_describe is not None:
        shown = {t for m in group.members.values() for parts in (m.assigned, group.target.get(m.member_id, {}))
                 for t in parts}
        if not all(map(may_describe, shown)):
            # As Kafka: a client is not shown topics it may not describe.
            return {**empty, "error_code": code("TOPIC_AUTHORIZATION_FAILED"), "error_message": None}
    if include_operations:
        operations = broker.authorizer.authorized_operations(ctx, ResourceType.GROUP, group_id)
    members = [{
        "member_id": m.member_id, "instance_id": m.instance_id, "rack_id": m.rack_id, "member_epoch": m.member_epoch,
        "client_id": m.client_id, "client_host": m.client_host,
        "subscribed_topic_names": list(m.subscribed_topic_names), "subscribed_topic_regex": m.subscribed_topic_regex,
        "assignment": {"topic_partitions": _by_topic_id(broker, m.assigned, with_names=True)},
        "target_assignment": {"topic_partitions": _by_topic_id(broker, group.target.get(m.member_id, {}),
                                                               with_names=True)},
        "member_type": CLASSIC_MEMBER_TYPE if m.uses_classic_protocol else CONSUMER_MEMBER_TYPE,
    } for m in group.members.values()]
    return {"error_code": 0, "error_message": None, "group_id": group_id, "group_state": group.state,
            "group_epoch": group.group_epoch, "assignment_epoch": group.assignment_epoch,
            "assignor_name": coordinator.consumer.assignor_name(group), "members": members,
            "authorized_operations": operations}


@apis.handler(69, 0, 1)
async def consumer_group_describe(broker, ctx, request):
    include = bool(request.get("include_authorized_operations"))
    return {"throttle_time": 0, "groups": [
        _describe(broker, ctx, gid, include) async for gid in ctx.paced(dict.fromkeys(request["group_ids"] or []))]}
