"""Where replicas live and which one leads: DescribeLogDirs, ElectLeaders and the partition
reassignment APIs, answered as Kafka answers them for a cluster of one node.

Every partition has one replica, on this node, in its one log directory (the data directory),
and that replica is the preferred leader and the leader. So a leader election is never
needed, a reassignment can only name this node (it completes at once), and none is ever in
progress. kafka-log-dirs, kafka-leader-election and kafka-reassign-partitions work unchanged.
"""

from __future__ import annotations

import shutil

from broker.authorizer import CLUSTER_NAME, Operation, ResourceType
from broker.protocol import apis
from broker.protocol.errors import code

CLUSTER_DENIED = "CLUSTER_AUTHORIZATION_FAILED"


def _cluster_allowed(broker, ctx, operation: Operation) -> bool:
    return broker.authorizer.authorize(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME)


def _requested_partitions(broker, topics: list[dict] | None, name_key: str, partitions_key: str):
    """(topic name, partition index, Partition or None) for each requested partition; all
    partitions of all topics when `topics` is None."""
    if topics is None:
        for topic in list(broker.topics.topics.values()):
            for partition in topic.partitions:
                yield topic.name, partition.index, partition
        return
    for t in topics:
        for index in t[partitions_key]:
            yield t[name_key], index, broker.topics.partition(t[name_key], index)


# -- DescribeLogDirs -------------------------------------------------------------------------


@apis.handler(35, 1, 4)
async def describe_log_dirs(broker, ctx, request):
    if not _cluster_allowed(broker, ctx, Operation.DESCRIBE):
        return {"throttle_time": 0, "error_code": code(CLUSTER_DENIED), "results": []}
    by_topic: dict[str, list[dict]] = {}
    requested = _requested_partitions(broker, request.get("topics"), "topic", "partitions")
    async for name, index, partition in ctx.paced(requested):
        if partition is not None:  # Kafka leaves out what this node does not host
            by_topic.setdefault(name, []).append({"partition_index": index, "partition_size": partition.size_bytes,
                                                  "offset_lag": 0, "is_future_key": False})
    usage = shutil.disk_usage(broker.data_dir)
    return {"throttle_time": 0, "error_code": 0, "results": [{
        "error_code": 0, "log_dir": str(broker.data_dir.resolve()),
        "topics": [{"name": name, "partitions": parts} for name, parts in by_topic.items()],
        "total_bytes": usage.total, "usable_bytes": usage.free,
    }]}


# -- ElectLeaders ------------------------------------------------------------------------


def _election_results(broker, request) -> list[dict]:
    results: dict[str, list[dict]] = {}
    for name, index, partition in _requested_partitions(broker, request.get("topic_partitions"), "topic", "partitions"):
        if partition is None:
            error, message = "UNKNOWN_TOPIC_OR_PARTITION", "The partition does not exist."
        else:  # its one replica leads already, preferred or not
            error, message = "ELECTION_NOT_NEEDED", "Leader election not needed for topic partition."
        results.setdefault(name, []).append({"partition_id": index, "error_code": code(error),
                                             "error_message": message})
    return [{"topic": name, "partition_result": parts} for name, parts in results.items()]


@apis.handler(43, 0, 2)
async def elect_leaders(broker, ctx, request):
    if not _cluster_allowed(broker, ctx, Operation.ALTER):
        denied = [{"topic": t["topic"], "partition_result": [
            {"partition_id": p, "error_code": code(CLUSTER_DENIED), "error_message": None} for p in t["partitions"]]}
            for t in request.get("topic_partitions") or []]
        return {"throttle_time": 0, "error_code": code(CLUSTER_DENIED), "replica_election_results": denied}
    if request.get("topic_partitions") is None:
        # Kafka answers an election over all partitions with those it elected: none here.
        return {"throttle_time": 0, "error_code": 0, "replica_election_results": []}
    return {"throttle_time": 0, "error_code": 0, "replica_election_results": _election_results(broker, request)}


# -- AlterPartitionReassignments / ListPartitionReassignments ------------------------------


def _reassignment_error(broker, partition, replicas: list[int] | None) -> tuple[str, str | None] | None:
    if partition is None:
        return "UNKNOWN_TOPIC_OR_PARTITION", "The partition does not exist."
    if replicas is None:
        return "NO_REASSIGNMENT_IN_PROGRESS", None  # Kafka 4.1 sends no message with it
    if not replicas:
        return "INVALID_REPLICA_ASSIGNMENT", "The manual partition assignment includes an empty replica list."
    if len(set(replicas)) != len(replicas):
        return "INVALID_REPLICA_ASSIGNMENT", f"The manual partition assignment includes duplicate replicas: {replicas}"
    unknown = [r for r in replicas if r != broker.node_id]
    if unknown:
        return ("INVALID_REPLICA_ASSIGNMENT",
                f"The manual partition assignment includes broker {unknown[0]}, but no such broker is registered.")
    return None


@apis.handler(45, 0, 1)
async def alter_partition_reassignments(broker, ctx, request):
    if not _cluster_allowed(broker, ctx, Operation.ALTER):
        return {"throttle_time": 0, "error_code": code(CLUSTER_DENIED), "error_message": None,
                "responses": []}
    responses = []
    async for t in ctx.paced(request["topics"]):
        parts = []
        for p in t["partitions"]:
            partition = broker.topics.partition(t["name"], p["partition_index"])
            error = _reassignment_error(broker, partition, p["replicas"])
            parts.append({"partition_index": p["partition_index"], "error_code": code(error[0]) if error else 0,
                          "error_message": error[1] if error else None})
        responses.append({"name": t["name"], "partitions": parts})
    # v1's allow_replication_factor_change=false never matters here: a list other than this
    # one node fails on its unknown brokers first, as it does on Kafka.
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "responses": responses,
            "allow_replication_factor_change": request.get("allow_replication_factor_change", True)}


@apis.handler(46, 0, 0)
async def list_partition_reassignments(broker, ctx, request):
    if not _cluster_allowed(broker, ctx, Operation.DESCRIBE):
        return {"throttle_time": 0, "error_code": code(CLUSTER_DENIED), "error_message": None, "topics": []}
    # A reassignment to this node completes as it is made: none is ever ongoing.
    return {"throttle_time": 0, "error_code": 0, "error_message": None, "topics": []}
