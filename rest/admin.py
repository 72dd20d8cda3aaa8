"""The Kafka admin operations behind kafka-rest v3, over confluent-kafka's AdminClient.

Each method waits for its futures (the proxy's request timeout) and turns Kafka's errors into
kafka-rest's, as its KafkaExceptionMapper does (docs/design/rest-proxy.md, section 2.1), so a
route only shapes results. Flask-free on purpose: nothing here knows about HTTP requests.

Two things librdkafka cannot do shape what callers get:
- it cannot name the cluster-wide (default, empty-named) broker config resource, so cluster
  configs are read from a broker's own description (their DYNAMIC_DEFAULT_BROKER_CONFIG
  entries) and cannot be altered (see `cluster_configs`);
- it drops DescribeAcls's error code (SECURITY_DISABLED arrives as an empty list), so an empty
  ACL listing is checked against the broker's `authorizer.class.name` (`authorizer_configured`).
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass

from confluent_kafka import (
    ConsumerGroupTopicPartitions, IsolationLevel, KafkaError, KafkaException, TopicCollection, TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding, AclBindingFilter, AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
    NewPartitions, NewTopic, OffsetSpec,
)

from rest.errors import RestError

AUTHENTICATION_ERRORS = frozenset({KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED})
AUTHORIZATION_ERRORS = frozenset({
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    KafkaError.DELEGATION_TOKEN_AUTHORIZATION_FAILED,
})
# kafka-rest's 400/40002 list; INVALID_REPLICA_ASSIGNMENT and librdkafka's local _INVALID_ARG are
# ours (kafka-rest answers them 500/50002, but they are the client's bad input).
BAD_REQUEST_ERRORS = frozenset({
    KafkaError.INVALID_REPLICATION_FACTOR, KafkaError.INVALID_PARTITIONS, KafkaError.INVALID_REQUEST,
    KafkaError.UNKNOWN, KafkaError.POLICY_VIOLATION, KafkaError.TOPIC_ALREADY_EXISTS, KafkaError.INVALID_CONFIG,
    KafkaError.TOPIC_DELETION_DISABLED, KafkaError.SECURITY_DISABLED, KafkaError.UNSUPPORTED_VERSION,
    KafkaError.TOPIC_EXCEPTION, KafkaError.INVALID_REPLICA_ASSIGNMENT, KafkaError._INVALID_ARG,
})
UNKNOWN_TOPIC_ERRORS = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.UNKNOWN_TOPIC_ID})
# Kafka's TimeoutException and friends are retriable (50003); librdkafka's local ones are not marked so.
UNREACHABLE_ERRORS = frozenset({KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
                                KafkaError.REQUEST_TIMED_OUT})
# A group that cannot be described is left out of listings (kafka-rest's ConsumerGroupManagerImpl).
SKIPPED_GROUP_ERRORS = frozenset({KafkaError.GROUP_ID_NOT_FOUND, KafkaError.GROUP_AUTHORIZATION_FAILED})

ALTER_OPERATIONS = {"SET": AlterConfigOpType.SET, "DELETE": AlterConfigOpType.DELETE}


def topic_not_found(topic: str) -> RestError:
    return RestError(404, f"Topic {topic} cannot be found.")


def kafka_rest_error(err: KafkaError, topic: str | None = None) -> RestError:
    """kafka-rest's answer to a Kafka error (KafkaExceptionMapper); an unknown topic named by the
    request is kafka-rest's 404 `Topic <t> cannot be found.`."""
    code, message = err.code(), err.str()
    if code in AUTHENTICATION_ERRORS:
        return RestError(40101, message)
    if code in AUTHORIZATION_ERRORS:
        return RestError(40301, message)
    if code in UNKNOWN_TOPIC_ERRORS:
        return topic_not_found(topic) if topic is not None else RestError(40403, message)
    if code in BAD_REQUEST_ERRORS:
        return RestError(40002, message)
    if code == KafkaError.BROKER_NOT_AVAILABLE:
        return RestError(50302, message)
    if code == KafkaError.THROTTLING_QUOTA_EXCEEDED:
        return RestError(42901, message)
    if err.retriable() or code in UNREACHABLE_ERRORS:
        return RestError(50003, message)
    return RestError(50002, f"Kafka error: {message}")


@dataclass(frozen=True)
class AlterCommand:
    """One incremental config change: SET name=value or DELETE (reset) name."""

    name: str
    operation: str  # "SET" | "DELETE"
    value: str | None = None

    def entry(self) -> ConfigEntry:
        return ConfigEntry(self.name, self.value, incremental_operation=ALTER_OPERATIONS[self.operation])


class Admin:
    """The v3 operations on one AdminClient; every call waits at most `timeout_s` per future."""

    def __init__(self, client: AdminClient, timeout_s: float):
        self.client = client
        self.timeout_s = timeout_s

    # -- waiting -------------------------------------------------------------------------

    def _wait(self, future, topic: str | None = None):
        try:
            return future.result(self.timeout_s + 1)
        except KafkaException as exc:
            raise kafka_rest_error(exc.args[0], topic) from None
        except concurrent.futures.TimeoutError:
            raise RestError(50003, f"Kafka did not answer within {self.timeout_s:g} s") from None

    def _call(self, method, *args, topic: str | None = None, **kwargs):
        """Start an admin call; confluent-kafka refuses bad arguments (a negative partition count)
        before sending anything, which is the client's bad input: 400/40002."""
        try:
            return method(*args, request_timeout=self.timeout_s, **kwargs)
        except KafkaException as exc:
            raise kafka_rest_error(exc.args[0], topic) from None
        except (ValueError, TypeError, OverflowError) as exc:  # OverflowError: a count or id beyond int32
            raise RestError(40002, str(exc)) from None

    # -- cluster -------------------------------------------------------------------------

    def cluster(self):
        """DescribeCluster: the cluster id, the controller and the brokers (Node objects)."""
        return self._wait(self._call(self.client.describe_cluster))

    def metadata(self):
        """All topics with their partitions (leader, replicas, in-sync replicas) in one Metadata call."""
        try:
            return self.client.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise kafka_rest_error(exc.args[0]) from None

    # -- topics --------------------------------------------------------------------------

    def topic(self, name: str, authorized_operations: bool = False):
        """The TopicDescription of `name`; 404 `Topic <name> cannot be found.`."""
        futures = self._call(self.client.describe_topics, TopicCollection([name]), topic=name,
                             include_authorized_operations=authorized_operations)
        return self._wait(futures[name], topic=name)

    def topics(self, authorized_operations: bool = False) -> list:
        """Every topic's TopicDescription, by name; a topic deleted meanwhile is left out."""
        names = sorted(self.metadata().topics)
        if not names:
            return []
        futures = self._call(self.client.describe_topics, TopicCollection(names),
                             include_authorized_operations=authorized_operations)
        described = []
        for name in names:
            try:
                described.append(self._wait(futures[name], topic=name))
            except RestError as exc:
                if exc.http_status != 404:
                    raise
        return described

    def create_topic(self, new_topic: NewTopic, validate_only: bool) -> None:
        futures = self._call(self.client.create_topics, [new_topic], validate_only=validate_only)
        self._wait(futures[new_topic.topic])

    def delete_topic(self, name: str) -> None:
        self._wait(self._call(self.client.delete_topics, [name], topic=name)[name], topic=name)

    def create_partitions(self, name: str, count: int) -> None:
        futures = self._call(self.client.create_partitions, [NewPartitions(name, count)], topic=name)
        self._wait(futures[name], topic=name)

    def offsets(self, partitions: list[tuple[str, int]], spec: OffsetSpec,
                isolation: IsolationLevel = IsolationLevel.READ_UNCOMMITTED) -> dict[tuple[str, int], int]:
        """ListOffsets of `spec` for each (topic, partition); one that cannot be listed is left out."""
        if not partitions:
            return {}
        futures = self._call(self.client.list_offsets, {TopicPartition(t, p): spec for t, p in partitions},
                             isolation_level=isolation)
        found = {}
        for tp, future in futures.items():
            try:
                found[(tp.topic, tp.partition)] = future.result(self.timeout_s + 1).offset
            except (KafkaException, concurrent.futures.TimeoutError):
                continue
        return found

    def earliest_and_latest(self, topic: str, partition: int) -> tuple[int, int]:
        """The first offset and the log end offset of one partition (read uncommitted, as kafka-rest)."""
        bounds = []
        for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
            futures = self._call(self.client.list_offsets, {TopicPartition(topic, partition): spec}, topic=topic)
            (future,) = futures.values()
            bounds.append(self._wait(future, topic=topic).offset)
        return bounds[0], bounds[1]

    # -- configs -------------------------------------------------------------------------

    def configs(self, kind: ConfigResource.Type, names: list[str]) -> dict[str, list[ConfigEntry]]:
        """DescribeConfigs (with synonyms) of topics or brokers: name -> entries sorted by config name."""
        if not names:
            return {}
        futures = self._call(self.client.describe_configs, [ConfigResource(kind, name) for name in names])
        out = {}
        for resource, future in futures.items():
            entries = self._wait(future, topic=resource.name if kind == ConfigResource.Type.TOPIC else None)
            out[resource.name] = sorted(entries.values(), key=lambda e: e.name)
        return out

    def alter_configs(self, kind: ConfigResource.Type, commands: dict[str, list[AlterCommand]],
                      validate_only: bool = False) -> dict[str, RestError]:
        """IncrementalAlterConfigs of several resources at once; the failures, by resource name.
        A resource without changes is left alone (confluent-kafka refuses an empty change list)."""
        resources = [ConfigResource(kind, name, incremental_configs=[c.entry() for c in changes])
                     for name, changes in commands.items() if changes]
        if not resources:
            return {}
        futures = self._call(self.client.incremental_alter_configs, resources, validate_only=validate_only)
        failures = {}
        for resource, future in futures.items():
            topic = resource.name if kind == ConfigResource.Type.TOPIC else None
            try:
                self._wait(future, topic=topic)
            except RestError as exc:
                failures[resource.name] = exc
        return failures

    def alter_config(self, kind: ConfigResource.Type, name: str, commands: list[AlterCommand],
                     validate_only: bool = False) -> None:
        failures = self.alter_configs(kind, {name: commands}, validate_only)
        if failures:
            raise failures[name]

    def cluster_configs(self, broker_id: int) -> list[ConfigEntry]:
        """The cluster-wide broker configs as `broker_id` sees them: its entries whose value comes
        from the cluster default (DYNAMIC_DEFAULT_BROKER_CONFIG), the entry or one of its synonyms
        (a per-broker override shadows it). librdkafka cannot describe the default resource itself."""
        out = []
        for entry in self.configs(ConfigResource.Type.BROKER, [str(broker_id)])[str(broker_id)]:
            for candidate in [entry, *entry.synonyms.values()]:
                if source_name(candidate.source) == "DYNAMIC_DEFAULT_BROKER_CONFIG":
                    out.append(candidate)
                    break
        return out

    def authorizer_configured(self, broker_id: int) -> bool | None:
        """Whether the broker has an authorizer (`authorizer.class.name` set); None when it will not say."""
        try:
            entries = self.configs(ConfigResource.Type.BROKER, [str(broker_id)])[str(broker_id)]
        except RestError:
            return None
        for entry in entries:
            if entry.name == "authorizer.class.name":
                return bool(entry.value)
        return None

    # -- consumer groups -----------------------------------------------------------------

    def group_ids(self) -> list[str]:
        listed = self._wait(self._call(self.client.list_consumer_groups))
        return sorted(listing.group_id for listing in listed.valid)

    def groups(self, group_ids: list[str]) -> dict[str, object]:
        """ConsumerGroupDescriptions by id, without the groups that do not exist (Kafka describes an
        unknown id as a simple, DEAD group) or that this client may not describe."""
        if not group_ids:
            return {}
        futures = self._call(self.client.describe_consumer_groups, list(group_ids))
        out = {}
        for group_id in group_ids:
            try:
                described = futures[group_id].result(self.timeout_s + 1)
            except KafkaException as exc:
                if exc.args[0].code() in SKIPPED_GROUP_ERRORS:
                    continue
                raise kafka_rest_error(exc.args[0]) from None
            except concurrent.futures.TimeoutError:
                raise RestError(50003, f"Kafka did not answer within {self.timeout_s:g} s") from None
            if described.is_simple_consumer_group and described.state.name == "DEAD":
                continue
            out[group_id] = described
        return out

    def committed(self, group_id: str) -> dict[tuple[str, int], int]:
        """The group's committed offsets, by (topic, partition)."""
        futures = self._call(self.client.list_consumer_group_offsets, [ConsumerGroupTopicPartitions(group_id)])
        answer = self._wait(futures[group_id])
        return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions or []
                if tp.error is None and tp.offset >= 0}

    # -- ACLs ----------------------------------------------------------------------------

    def acls(self, acl_filter: AclBindingFilter) -> list[AclBinding]:
        return list(self._wait(self._call(self.client.describe_acls, acl_filter)) or [])

    def create_acls(self, bindings: list[AclBinding]) -> None:
        for future in self._call(self.client.create_acls, bindings).values():
            self._wait(future)

    def delete_acls(self, acl_filter: AclBindingFilter) -> list[AclBinding]:
        (future,) = self._call(self.client.delete_acls, [acl_filter]).values()
        return list(self._wait(future) or [])


def source_name(source) -> str:
    """kafka-rest's ConfigSource name of a confluent-kafka config source (an int or ConfigSource)."""
    try:
        name = ConfigSource(int(getattr(source, "value", source))).name
    except ValueError:
        return "UNKNOWN"
    return {"UNKNOWN_CONFIG": "UNKNOWN", "GROUP_CONFIG": "DYNAMIC_GROUP_CONFIG"}.get(name, name)
