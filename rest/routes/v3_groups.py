"""kafka-rest v3: consumer groups, their consumers and assignments, and their lags.

A group is what DescribeGroups says of it; a group Kafka does not know (described as a simple,
DEAD group) is 404, and listings leave out the groups this client may not describe, as
kafka-rest does. Lags are kafka-rest's: for each partition with a committed offset,
lag = max(0, log end offset (read committed) - committed offset), with the consumer the
partition is assigned to (empty strings when none); no committed offsets at all is 404.

librdkafka does not say whether a member of a new-protocol (CONSUMER) group still runs the
classic protocol, so `is_mixed_consumer_group` is always false (schemabus's broker has only
classic groups, for which kafka-rest answers false too).
"""

from __future__ import annotations

from confluent_kafka import IsolationLevel
from confluent_kafka.admin import OffsetSpec
from flask import Blueprint

from rest.v3 import admin, answer, cluster, collection, crn, install, not_found, path_partition, related, resource, url

bp = install(Blueprint("v3_groups", __name__))

# confluent-kafka's state names where they differ from Kafka's (kafka-rest's).
STATES = {"PREPARING_REBALANCING": "PREPARING_REBALANCE", "COMPLETING_REBALANCING": "COMPLETING_REBALANCE"}


def _group_url(cluster_id: str, group_id: str, *rest) -> str:
    return url("clusters", cluster_id, "consumer-groups", group_id, *rest)


def _group(cluster_id: str, group_id: str):
    cluster(cluster_id)
    described = admin().groups([group_id]).get(group_id)
    if described is None:
        raise not_found(f"Consumer Group {group_id} does not exist.")
    return described


# -- groups -----------------------------------------------------------------------------------


def _group_data(cluster_id: str, group) -> dict:
    group_id = group.group_id
    state = STATES.get(group.state.name, group.state.name)
    coordinator = group.coordinator.id if group.coordinator is not None else -1
    return resource(
        "KafkaConsumerGroup", _group_url(cluster_id, group_id), crn(cluster_id, "consumer-group", group_id),
        cluster_id=cluster_id, consumer_group_id=group_id, is_simple=bool(group.is_simple_consumer_group),
        partition_assignor=group.partition_assignor or "", state=state, type=group.type.name,
        is_mixed_consumer_group=False,
        coordinator=related("clusters", cluster_id, "brokers", coordinator),
        consumers=related("clusters", cluster_id, "consumer-groups", group_id, "consumers"),
        lag_summary=related("clusters", cluster_id, "consumer-groups", group_id, "lag-summary"),
    )


@bp.get("/clusters/<cluster_id>/consumer-groups")
def list_groups(cluster_id: str):
    cluster(cluster_id)
    groups = admin().groups(admin().group_ids())
    return answer(collection("KafkaConsumerGroupList", url("clusters", cluster_id, "consumer-groups"),
                             [_group_data(cluster_id, g) for _, g in sorted(groups.items())]))


@bp.get("/clusters/<cluster_id>/consumer-groups/<group_id>")
def get_group(cluster_id: str, group_id: str):
    return answer(_group_data(cluster_id, _group(cluster_id, group_id)))


# -- consumers --------------------------------------------------------------------------------


def _consumer_data(cluster_id: str, group_id: str, member) -> dict:
    return resource(
        "KafkaConsumer", _group_url(cluster_id, group_id, "consumers", member.member_id),
        crn(cluster_id, "consumer-group", group_id, "consumer", member.member_id),
        cluster_id=cluster_id, consumer_group_id=group_id, consumer_id=member.member_id,
        instance_id=member.group_instance_id, client_id=member.client_id,
        assignments=related("clusters", cluster_id, "consumer-groups", group_id, "consumers", member.member_id,
                            "assignments"),
    )


def _member(cluster_id: str, group_id: str, consumer_id: str):
    for member in _group(cluster_id, group_id).members:
        if member.member_id == consumer_id:
            return member
    raise not_found(f"Consumer {consumer_id} does not exist.")


@bp.get("/clusters/<cluster_id>/consumer-groups/<group_id>/consumers")
def list_consumers(cluster_id: str, group_id: str):
    members = sorted(_group(cluster_id, group_id).members, key=lambda m: m.member_id)
    return answer(collection("KafkaConsumerList", _group_url(cluster_id, group_id, "consumers"),
                             [_consumer_data(cluster_id, group_id, m) for m in members]))


@bp.get("/clusters/<cluster_id>/consumer-groups/<group_id>/consumers/<consumer_id>")
def get_consumer(cluster_id: str, group_id: str, consumer_id: str):
    return answer(_consumer_data(cluster_id, group_id, _member(cluster_id, group_id, consumer_id)))


# -- assignments ------------------------------------------------------------------------------


def _assigned(member) -> list[tuple[str, int]]:
    assignment = member.assignment
    return sorted((tp.topic, tp.partition) for tp in (assignment.topic_partitions if assignment else []) or [])


def _assignment_data(cluster_id: str, group_id: str, consumer_id: str, topic: str, partition: int) -> dict:
    return resource(
        "KafkaConsumerAssignment",
        _group_url(cluster_id, group_id, "consumers", consumer_id, "assignments", topic, "partitions", partition),
        crn(cluster_id, "consumer-group", group_id, "consumer", consumer_id, "assignment", topic,
            "partition", partition),
        cluster_id=cluster_id, consumer_group_id=group_id, consumer_id=consumer_id, topic_name=topic,
        partition_id=partition,
        partition=related("clusters", cluster_id, "topics", topic, "partitions", partition),
        lag=related("clusters", cluster_id, "consumer-groups", group_id, "lags", topic, "partitions", partition),
    )


@bp.get("/clusters/<cluster_id>/consumer-groups/<group_id>/consumers/<consumer_id>/assignments")
def list_assignments(cluster_id: str, group_id: str, consumer_id: str):
    member = _member(cluster_id, group_id, consumer_id)
    return answer(collection(
        "KafkaConsumerAssignmentList", _group_url(cluster_id, group_id, "consumers", consumer_id, "assignments"),
        [_assignment_data(cluster_id, group_id, consumer_id, t, p) for t, p in _assigned(member)]))


@bp.get("/clusters/<cluster_id>/consumer-groups/<group_id>/consumers/<consumer_id>/assignments/<topic_name>"
        "/partitions/<partition>")
def get_assignment(cluster_id: str, group_id: str, consumer_id: str, topic_name: str, partition: str):
    wanted = path_partition(partition)
    if (topic_name, wanted) not in _assigned(_member(cluster_id, group_id, consumer_id)):
        raise not_found(f"Consumer {consumer_id} is not assigned partition {wanted} of topic {topic_name}.")
    return answer(_assignment_data(cluster_id, group_id, consumer_id, topic_name, wanted))


# -- lags -------------------------------------------------------------------------------------


def _lags(cluster_id: str, group_id: str) -> list[dict]:
    """Each committed partition's lag facts, by topic and partition (kafka-rest's ConsumerLag)."""
    group = _group(cluster_id, group_id)
    owners = {tp: m for m in group.members for tp in _assigned(m)}
    committed = admin().committed(group_id)
    if not committed:
        raise not_found("Consumer group offsets could not be found.")
    ends = admin().offsets(sorted(committed), OffsetSpec.latest(), IsolationLevel.READ_COMMITTED)
    lags = []
    for (topic, partition), current in sorted(committed.items()):
        if (topic, partition) not in ends:
            continue  # its log end cannot be listed (the topic was deleted since): left out, not a failure
        owner = owners.get((topic, partition))
        end = ends[(topic, partition)]
        lags.append({"topic_name": topic, "partition_id": partition,
                     "consumer_id": owner.member_id if owner else "",
                     "instance_id": owner.group_instance_id if owner else None,
                     "client_id": owner.client_id if owner else "",
                     "current_offset": current, "log_end_offset": end, "lag": max(0, end - current)})
    return lags


def _lag_data(cluster_id: str, group_id: str, lag: dict) -> dict:
    topic, partition = lag["topic_name"], lag["partition_id"]
    return resource(
        "KafkaConsumerLag", _group_url(cluster_id, group_id, "lags", topic, "partitions", partition),
        crn(cluster_id, "consumer-group", group_id, "lag", topic, "partition", partition),
        cluster_id=cluster_id, consumer_group_id=group_id, **lag)


@bp.get("/clusters/<cluster_id>/consumer-groups/<group_id>/lags")
def list_lags(cluster_id: str, group_id: str):
    lags = sorted(_lags(cluster_id, group_id), key=lambda lag: (-lag["lag"], lag["topic_name"], lag["partition_id"]))
    return answer(collection("KafkaConsumerLagList", _group_url(cluster_id, group_id, "lags"),
                             [_lag_data(cluster_id, group_id, lag) for lag in lags]))


@bp.get("/clusters/<cluster_id>/consumer-groups/<group_id>/lags/<topic_name>/partitions/<partition>")
def get_lag(cluster_id: str, group_id: str, topic_name: str, partition: str):
    wanted = path_partition(partition)
    for lag in _lags(cluster_id, group_id):
        if lag["topic_name"] == topic_name and lag["partition_id"] == wanted:
            return answer(_lag_data(cluster_id, group_id, lag))
    raise not_found(f"Consumer group {group_id} has no committed offset for partition {wanted} of topic {topic_name}.")


@bp.get("/clusters/<cluster_id>/consumer-groups/<group_id>/lag-summary")
def lag_summary(cluster_id: str, group_id: str):
    """The largest lag (the first partition, by topic and partition, to reach it) and the total."""
    lags = _lags(cluster_id, group_id)
    if not lags:
        raise not_found("Consumer group offsets could not be found.")
    top = max(lags, key=lambda lag: lag["lag"])
    return answer(resource(
        "KafkaConsumerGroupLagSummary", _group_url(cluster_id, group_id, "lag-summary"),
        crn(cluster_id, "consumer-group", group_id, "lag-summary", None),
        cluster_id=cluster_id, consumer_group_id=group_id,
        max_lag=top["lag"], total_lag=sum(lag["lag"] for lag in lags),
        max_lag_consumer_id=top["consumer_id"],
        max_lag_consumer=related("clusters", cluster_id, "consumer-groups", group_id, "consumers",
                                 top["consumer_id"]),
        max_lag_client_id=top["client_id"], max_lag_instance_id=top["instance_id"],
        max_lag_topic_name=top["topic_name"], max_lag_partition_id=top["partition_id"],
        max_lag_partition=related("clusters", cluster_id, "topics", top["topic_name"], "partitions",
                                  top["partition_id"]),
    ))
