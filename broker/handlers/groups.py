"""Group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ListGroups,
DescribeGroups and DeleteGroups. The rules live in broker/coordinator/; here only the
translation between each API version's fields and the coordinator.
"""

from __future__ import annotations

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.coordinator.group import STABLE
from broker.coordinator.group_coordinator import LOADING, JoinRequest
from broker.protocol import apis
from broker.protocol.errors import code

KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION, KEY_TYPE_SHARE = 0, 1, 2
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)
GROUP_DENIED = "GROUP_AUTHORIZATION_FAILED"


def group_allowed(broker, ctx, operation: Operation, group_id: str | None) -> bool:
    """The group ACL check; a null group id is left to the coordinator (INVALID_GROUP_ID)."""
    return group_id is None or broker.authorizer.authorize(ctx, operation, ResourceType.GROUP, group_id)


def client_host(ctx) -> str:
    """Kafka reports a member's host as Java's InetAddress.toString(): "/127.0.0.1"."""
    return "/" + ctx.peer.rpartition(":")[0]


# -- FindCoordinator ------------------------------------------------------------------------


def _coordinator(broker, ctx, key: str, key_type: int) -> dict:
    if key_type not in (KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION):
        # v6's share coordinator keys too: there are no share groups here.
        message = "Share groups are not supported" if key_type == KEY_TYPE_SHARE else f"Unknown coordinator type {key_type}"
        return {"key": key, "node_id": -1, "host": "", "port": -1,
                "error_code": code("INVALID_REQUEST"), "error_message": message}
    denied = _coordinator_refusal(broker, ctx, key, key_type)
    if denied is not None:
        return {"key": key, "node_id": -1, "host": "", "port": -1, "error_code": code(denied[0]),
                "error_message": denied[1]}
    # One node: this broker leads every partition of __consumer_offsets and __transaction_state.
    host, port = ctx.listener.advertised()
    return {"key": key, "node_id": broker.node_id, "host": host, "port": port, "error_code": 0, "error_message": None}


def _coordinator_refusal(broker, ctx, key: str, key_type: int) -> tuple[str, str] | None:
    """DESCRIBE on the group or the transactional id the client looks for, as in Kafka."""
    if key_type == KEY_TYPE_GROUP:
        if not broker.authorizer.authorize(ctx, Operation.DESCRIBE, ResourceType.GROUP, key):
            return GROUP_DENIED, "Group authorization failed."
    elif not broker.authorizer.authorize(ctx, Operation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, key):
        return "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "Transactional Id authorization failed."
    return None


@apis.handler(10, 0, 6)
async def find_coordinator(broker, ctx, request):
    key_type = request.get("key_type", KEY_TYPE_GROUP)
    if ctx.api_version >= 4:
        # Each key is answered once however often it is asked for.
        return {"throttle_time": 0, "coordinators": [
            _coordinator(broker, ctx, key, key_type) async for key in ctx.paced(dict.fromkeys(request["coordinator_keys"]))]}
    entry = _coordinator(broker, ctx, request["key"], key_type)
    del entry["key"]
    return {"throttle_time": 0, **entry}


# -- JoinGroup / SyncGroup / Heartbeat / LeaveGroup -------------------------------------------


@apis.handler(11, 0, 9)
async def join_group(broker, ctx, request):
    version = ctx.api_version
    if not group_allowed(broker, ctx, Operation.READ, request["group_id"]):
        return {"throttle_time": 0, "error_code": code(GROUP_DENIED), "generation_id": -1, "protocol_type": None,
                "protocol_name": None if version >= 7 else "", "leader": "", "member_id": "", "members": []}
    session_timeout = request["session_timeout"]
    instance_id = request.get("group_instance_id")
    result = await broker.group_coordinator.join_group(JoinRequest(
        group_id=request["group_id"],
        member_id=request["member_id"] or "",
        group_instance_id=instance_id,
        client_id=ctx.client_id,
        client_host=client_host(ctx),
        session_timeout_ms=session_timeout,
        # v0 has no rebalance timeout: the session timeout served as both.
        rebalance_timeout_ms=request.get("rebalance_timeout", session_timeout),
        protocol_type=request["protocol_type"] or "",
        protocols=[(p["name"], bytes(p["metadata"] or b"")) for p in request["protocols"] or []],
        require_known_member_id=version >= 4 and instance_id is None,
        reason=request.get("reason"),
    ))
    protocol_name = result.protocol_name
    if protocol_name is None and version < 7:
        protocol_name = ""  # not nullable before v7
    return {
        "throttle_time": 0, "error_code": code(result.error), "generation_id": result.generation_id,
        "protocol_type": result.protocol_type, "protocol_name": protocol_name, "leader": result.leader_id,
        "member_id": result.member_id,
        "members": [{"member_id": mid, "group_instance_id": iid, "metadata": metadata}
                    for mid, iid, metadata in result.members],
    }


@apis.handler(14, 0, 5)
async def sync_group(broker, ctx, request):
    if not group_allowed(broker, ctx, Operation.READ, request["group_id"]):
        return {"throttle_time": 0, "error_code": code(GROUP_DENIED), "protocol_type": None,
                "protocol_name": None, "assignment": b""}
    assignments = {a["member_id"]: bytes(a["assignment"] or b"") for a in request["assignments"] or []}
    result = await broker.group_coordinator.sync_group(
        request["group_id"], request["generation_id"], request["member_id"], request.get("group_instance_id"),
        request.get("protocol_type"), request.get("protocol_name"), assignments)
    return {"throttle_time": 0, "error_code": code(result.error), "protocol_type": result.protocol_type,
            "protocol_name": result.protocol_name, "assignment": result.assignment}


@apis.handler(12, 0, 4)
async def heartbeat(broker, ctx, request):
    if not group_allowed(broker, ctx, Operation.READ, request["group_id"]):
        return {"throttle_time": 0, "error_code": code(GROUP_DENIED)}
    error = broker.group_coordinator.heartbeat(request["group_id"], request["generation_id"], request["member_id"],
                                               request.get("group_instance_id"))
    return {"throttle_time": 0, "error_code": code(error)}


@apis.handler(13, 0, 5)
async def leave_group(broker, ctx, request):
    if not group_allowed(broker, ctx, Operation.READ, request["group_id"]):
        return {"throttle_time": 0, "error_code": code(GROUP_DENIED), "members": []}
    if ctx.api_version >= 3:
        leaving = [(m["member_id"] or "", m.get("group_instance_id")) for m in request["members"] or []]
    else:
        leaving = [(request["member_id"] or "", None)]
    group_error, member_errors = broker.group_coordinator.leave_group(request["group_id"], leaving)
    if ctx.api_version < 3:
        # One member: its error is the response's error.
        error = group_error if group_error != "NONE" else (member_errors[0] if member_errors else "NONE")
        return {"throttle_time": 0, "error_code": code(error)}
    return {
        "throttle_time": 0, "error_code": code(group_error),
        "members": [{"member_id": mid, "group_instance_id": iid, "error_code": code(err)}
                    for (mid, iid), err in zip(leaving, member_errors)],
    }


# -- ListGroups / DescribeGroups / DeleteGroups ------------------------------------------------


@apis.handler(16, 0, 5)
async def list_groups(broker, ctx, request):
    if broker.group_coordinator.loading:
        return {"throttle_time": 0, "error_code": code(LOADING), "groups": []}
    groups = broker.group_coordinator.list_groups(request.get("states_filter") or None,
                                                  request.get("types_filter") or None)
    # Without DESCRIBE on the cluster a client sees the groups it may describe, as in Kafka.
    if not broker.authorizer.authorize(ctx, Operation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        groups = [g for g in groups if broker.authorizer.authorize(ctx, Operation.DESCRIBE, ResourceType.GROUP,
                                                                   g.group_id)]
    return {"throttle_time": 0, "error_code": 0,
            "groups": [{"group_id": g.group_id, "protocol_type": g.protocol_type, "group_state": g.state,
                        "group_type": g.type} for g in groups]}


def _describe(broker, ctx, group_id: str | None, include_operations: bool) -> dict:
    operations = AUTHORIZED_OPERATIONS_OMITTED
    if include_operations and group_id is not None:
        operations = broker.authorizer.authorized_operations(ctx, ResourceType.GROUP, group_id)
    error = "INVALID_GROUP_ID" if group_id is None else LOADING if broker.group_coordinator.loading else None
    if group_id is not None and not group_allowed(broker, ctx, Operation.DESCRIBE, group_id):
        error, operations = GROUP_DENIED, AUTHORIZED_OPERATIONS_OMITTED
    if error is not None:
        return {"error_code": code(error), "group_id": group_id, "group_state": "",
                "protocol_type": "", "protocol_data": "", "members": [], "authorized_operations": operations}
    group = broker.group_coordinator.groups.get(group_id)
    if group is None:
        # v6 (KIP-1043) names a missing group (or one of another type) as such; earlier
        # versions describe it as Dead.
        missing = ctx.api_version >= 6
        message = (f"Group {group_id} is not a classic group." if group_id in broker.group_coordinator.consumer.groups
                   else f"Group {group_id} not found.")
        return {"error_code": code("GROUP_ID_NOT_FOUND") if missing else 0,
                "error_message": message if missing else None,
                "group_id": group_id, "group_state": "Dead", "protocol_type": "",
                "protocol_data": "", "members": [], "authorized_operations": operations}
    stable = group.is_(STABLE)
    # Metadata and assignments are only meaningful (and only shown by Kafka) once Stable.
    members = [{
        "member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
        "client_host": m.client_host,
        "member_metadata": m.metadata(group.protocol_name) if stable else b"",
        "member_assignment": m.assignment if stable else b"",
    } for m in group.members.values()]
    return {"error_code": 0, "group_id": group_id, "group_state": group.state,
            "protocol_type": group.protocol_type or "", "protocol_data": (group.protocol_name or "") if stable else "",
            "members": members, "authorized_operations": operations}


@apis.handler(15, 0, 6)
async def describe_groups(broker, ctx, request):
    include = bool(request.get("include_authorized_operations"))
    # Each group is described once however often it is named.
    return {"throttle_time": 0, "groups": [
        _describe(broker, ctx, gid, include) async for gid in ctx.paced(dict.fromkeys(request["groups"] or []))]}


@apis.handler(42, 0, 2)
async def delete_groups(broker, ctx, request):
    names = list(request["groups_names"] or [])
    allowed = [group_allowed(broker, ctx, Operation.DELETE, gid) for gid in names]
    deleted = iter(broker.group_coordinator.delete_groups([gid for gid, ok in zip(names, allowed) if ok]))
    return {"throttle_time": 0, "results": [
        {"group_id": gid, "error_code": code(next(deleted)[1] if ok else GROUP_DENIED)}
        for gid, ok in zip(names, allowed)]}
