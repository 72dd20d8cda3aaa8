"""Online migration between the classic and the consumer group protocols (KIP-848), as Kafka 4.1.

Upgrade: a ConsumerGroupHeartbeat joining a classic group whose protocol type is "consumer"
(`group.consumer.migration.policy` upgrade or bidirectional, at most `group.consumer.max.size`
members, no custom assignor's user data in the assignment) turns it into a consumer group; else
it answers GROUP_ID_NOT_FOUND with Kafka's reason. Each classic member becomes a member using the
classic protocol: its subscription and rack from its JoinGroup metadata, its partitions and
target from the group's last assignment, its epoch the generation (the group epoch and
assignment epoch too). The joining member then bumps the group epoch, so a new target is
computed and the classic members are asked to rejoin (REBALANCE_IN_PROGRESS) to reconcile.

Downgrade: when the last member using the consumer protocol leaves or is fenced and the
others all use the classic protocol (policy downgrade or bidirectional, at most
`group.classic.max.size` remain), the group becomes a classic group, Stable at a generation
equal to the group epoch, each member with its target assignment, and a rebalance starts. So
it does when a static classic member replaces the last consumer-protocol member (joining with
its instance id); then a rebalance starts only if its subscription differs.

Both write what Kafka writes in one append: the old group's tombstones, the new group's records.
"""

from __future__ import annotations

from broker.coordinator import consumer_protocol as cp
from broker.coordinator import consumer_records as cr
from broker.coordinator.consumer_group import MEMBER_STABLE, ConsumerGroup, ConsumerMember
from broker.coordinator.group import CONSUMER_PROTOCOL_TYPE, STABLE, Group, Member


class UpgradeRefused(Exception):
    """Kafka's GROUP_ID_NOT_FOUND message for a classic group it does not upgrade."""


def check_upgrade(classic: Group, policy: str, max_size: int) -> None:
    """Kafka's validateOnlineUpgrade; raises UpgradeRefused (an Empty group is replaced without it)."""
    because = None
    if policy not in ("bidirectional", "upgrade"):
        because = "online upgrade is disabled"
    elif classic.protocol_type != CONSUMER_PROTOCOL_TYPE:
        because = "the group does not use the consumer embedded protocol"
    elif len(classic.members) > max_size:
        because = "the group size exceeds the consumer group maximum size"
    if because is not None:
        raise UpgradeRefused(f"Cannot upgrade classic group {classic.group_id} to consumer group because {because}.")


def may_downgrade(group: ConsumerGroup, leaving_id: str, policy: str, max_size: int) -> bool:
    """Kafka's validateOnlineDowngradeWithFencedMember."""
    return (group.all_classic_except(leaving_id) and len(group.members) > 1
            and policy in ("bidirectional", "downgrade") and len(group.members) - 1 <= max_size)


def may_downgrade_on_replacement(group: ConsumerGroup, replaced: ConsumerMember, policy: str,
                                 max_size: int) -> bool:
    """Kafka's validateOnlineDowngradeWithReplacedMember: a static classic member took the place
    of the last member using the consumer protocol (`replaced`, no longer in the group)."""
    return (not replaced.uses_classic_protocol and all(m.uses_classic_protocol for m in group.members.values())
            and policy in ("bidirectional", "downgrade") and len(group.members) <= max_size)


def upgrade_records(classic: Group, topic_exists) -> list[cr.Record]:
    """The consumer group records of `classic`'s members, in Kafka's order (all metadata, the
    group epoch, all targets, the assignment epoch, all current assignments). Raises
    UpgradeRefused if a member's embedded protocol cannot be read, or if its assignment
    carries a custom assignor's user data (which the server-side assignor would lose)."""
    gid, epoch = classic.group_id, classic.generation_id
    try:
        members = [_upgraded_member(classic, m, topic_exists) for m in classic.members.values()]
    except cp.MalformedProtocol:
        raise UpgradeRefused(f"Cannot upgrade classic group {gid} to consumer group because the embedded "
                             "consumer protocol is malformed.") from None
    return ([cr.Record(cr.MEMBER_METADATA, gid, m.member_id, m.metadata()) for m in members]
            + [cr.Record(cr.GROUP_EPOCH, gid, None, cr.Epoch(epoch))]
            + [cr.Record(cr.TARGET_MEMBER, gid, m.member_id, cr.TargetAssignment(m.assigned)) for m in members]
            + [cr.Record(cr.TARGET_EPOCH, gid, None, cr.Epoch(epoch))]
            + [cr.Record(cr.CURRENT_ASSIGNMENT, gid, m.member_id, m.current()) for m in members])


def _upgraded_member(classic: Group, member: Member, topic_exists) -> ConsumerMember:
    # Before its first generation a group has chosen no protocol: every one carries the subscription.
    protocol = classic.protocol_name or member.protocol_names[0]
    subscription = cp.decode_subscription(member.metadata(protocol))
    if cp.assignment_user_data(member.assignment):
        raise UpgradeRefused(f"Cannot upgrade classic group {classic.group_id} to consumer group because an "
                             "unsupported custom assignor is in use. Please refer to the documentation or switch "
                             "to a default assignor before re-attempting the upgrade.")
    assigned = {t: ps for t, ps in cp.decode_assignment(member.assignment).items() if ps and topic_exists(t)}
    return ConsumerMember(
        member.member_id, instance_id=member.group_instance_id, rack_id=subscription.rack_id,
        client_id=member.client_id, client_host=member.client_host,
        subscribed_topic_names=subscription.topics, rebalance_timeout_ms=member.rebalance_timeout_ms,
        member_epoch=classic.generation_id, previous_member_epoch=classic.generation_id, state=MEMBER_STABLE,
        assigned=assigned,
        classic=cr.ClassicMetadata(member.session_timeout_ms, tuple((n, bytes(d)) for n, d in member.protocols)))


def upgraded_group(classic: Group, records: list[cr.Record]) -> ConsumerGroup:
    group = ConsumerGroup(classic.group_id)
    for record in records:
        group.apply(record)
    return group


def downgrade_records(group: ConsumerGroup) -> list[cr.Record]:
    """The consumer group's tombstones, in Kafka's order."""
    gid = group.group_id
    return ([cr.Record(cr.CURRENT_ASSIGNMENT, gid, mid, None) for mid in group.members]
            + [cr.Record(cr.TARGET_MEMBER, gid, mid, None) for mid in group.members]
            + [cr.Record(cr.TARGET_EPOCH, gid, None, None)]
            + [cr.Record(cr.MEMBER_METADATA, gid, mid, None) for mid in group.members]
            + [cr.Record(cr.GROUP_EPOCH, gid, None, None)])


def downgraded_group(group: ConsumerGroup, leaving_id: str | None, now_ms: int) -> Group:
    """The classic group the remaining (classic) members form: Stable at the group epoch, each
    member's assignment its target, encoded in the version of its subscription. (A static
    member that replaced the leaving one has its target already.)"""
    classic = Group(group.group_id, now_ms, STABLE)
    classic.generation_id = group.group_epoch
    classic.protocol_type = CONSUMER_PROTOCOL_TYPE
    for mid, m in group.members.items():
        if mid != leaving_id:
            classic.add(Member(mid, m.instance_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                               m.classic.session_timeout_ms, CONSUMER_PROTOCOL_TYPE, list(m.classic.protocols)), None)
    classic.protocol_name = classic.select_protocol()
    classic.subscribed = classic._compute_subscribed()
    for mid, member in classic.members.items():
        version = cp.version_of(member.metadata(classic.protocol_name))
        member.assignment = cp.encode_assignment(group.target.get(mid, {}), version)
    return classic
