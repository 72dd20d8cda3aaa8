"""KIP-875: reading, altering and resetting a connector's offsets through the REST API.
Source offsets live in the offsets store; a sink's are its consumer group `connect-<c>`'s."""

from __future__ import annotations

import json

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient

from connect.api import SinkConnector, freeze_partition
from connect.herder import HerderError, not_found
from connect.storage.configs import STOPPED
from connect.storage.offsets import OffsetReader, OffsetWriter, check_offset_format
from connect.errors import DataException

ALTERED = "The offsets for this connector have been altered successfully"
RESET = "The offsets for this connector have been reset successfully"
FRAMEWORK_ONLY = ("The Connect framework-managed offsets for this connector have been {} successfully. However, "
                  "if this connector manages offsets externally, they will need to be manually {} in the system "
                  "that the connector uses.")


class OffsetsApi:
    def __init__(self, herder, offset_store, worker_config):
        self.herder = herder
        self.store = offset_store
        self.worker_config = worker_config
        self._admin_client: AdminClient | None = None

    def _connector(self, name: str):
        state = self.herder.snapshot()
        if not state.contains(name):
            raise not_found(f"Connector {name} not found")
        config = state.connector_configs[name]
        desc = self.herder.plugins.find(config.get("connector.class", ""), ("source", "sink"))
        if desc is None:
            raise HerderError(400, f"Connector {name} has an unknown connector.class")
        return state, config, desc.cls()

    def get(self, name: str) -> dict:
        _, _, connector = self._connector(name)
        if isinstance(connector, SinkConnector):
            return {"offsets": self._sink_offsets(name)}
        reader = OffsetReader(self.store, name)
        partitions = self.store.connector_partitions(name)
        found = reader.offsets(partitions)
        return {"offsets": [{"partition": p, "offset": found[freeze_partition(p)]}
                            for p in partitions if freeze_partition(p) in found]}

    def _admin(self) -> AdminClient:
        # One client kept for the worker's life: a client dropped while its futures are pending
        # is destroyed and fails them ("Broker handle destroyed").
        if self._admin_client is None:
            self._admin_client = AdminClient(self.worker_config.client_config("admin"))
        return self._admin_client

    def _sink_offsets(self, name: str) -> list[dict]:
        group = ConsumerGroupTopicPartitions(f"connect-{name}")
        try:
            result = self._admin().list_consumer_group_offsets([group])[f"connect-{name}"].result(30)
        except KafkaException as exc:
            raise HerderError(500, f"Failed to retrieve consumer group offsets for sink connector {name}: {exc}")
        return [{"partition": {"kafka_topic": tp.topic, "kafka_partition": tp.partition},
                 "offset": {"kafka_offset": tp.offset}} for tp in result.topic_partitions if tp.offset >= 0]

    def _require_stopped(self, state, name: str) -> None:
        if state.target_state(name) != STOPPED or state.task_configs.get(name):
            raise HerderError(400, "Connectors must be in the STOPPED state before their offsets can be modified. "
                                   "This can be done for the specified connector by issuing a 'PUT' request to the "
                                   f"'/connectors/{name}/stop' endpoint")

    def alter(self, name: str, body) -> dict:
        offsets = body.get("offsets") if isinstance(body, dict) else None
        if not offsets:
            raise HerderError(400, "Partitions / offsets need to be provided for an alter offsets request")
        state, config, connector = self._connector(name)
        self._require_stopped(state, name)
        if isinstance(connector, SinkConnector):
            managed = self._alter_sink(name, config, connector, offsets)
        else:
            managed = self._alter_source(name, config, connector, offsets)
        return {"message": ALTERED if managed else FRAMEWORK_ONLY.format("altered", "altered")}

    def _alter_source(self, name, config, connector, offsets) -> bool:
        changes = {}
        for entry in offsets:
            partition, offset = entry.get("partition"), entry.get("offset")
            try:
                check_offset_format("Partition", partition)
                check_offset_format("Offset", offset)
            except DataException as exc:
                raise HerderError(400, str(exc))
            if partition is None:
                raise HerderError(400, "Source partitions may not be null")
            changes[freeze_partition(partition)] = (partition, offset)
        managed = connector.alter_offsets(dict(config), {k: v[1] for k, v in changes.items()})
        OffsetWriter(self.store, name).write(changes)
        return bool(managed)

    def _alter_sink(self, name, config, connector, offsets) -> bool:
        to_set, to_reset = [], []
        for entry in offsets:
            tp = _sink_partition(entry.get("partition"))
            offset = entry.get("offset")
            if offset is None:
                to_reset.append(KafkaTopicPartition(*tp))
                continue
            if not isinstance(offset, dict) or "kafka_offset" not in offset:
                raise HerderError(400, "The offset for a sink connector should either be null or contain the key "
                                       "'kafka_offset'")
            to_set.append(KafkaTopicPartition(*tp, _integer(offset["kafka_offset"], "offset")))
        managed = connector.alter_offsets(dict(config), {tp: None for tp in to_reset})
        admin = self._admin()
        group = f"connect-{name}"
        try:
            if to_set:
                admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, to_set)])[group].result(30)
            if to_reset:
                admin.delete_consumer_group_offsets([ConsumerGroupTopicPartitions(group, to_reset)])[group].result(30)
        except KafkaException as exc:
            raise HerderError(500, f"Failed to alter consumer group offsets for connector {name}: {exc}")
        return bool(managed)

    def reset(self, name: str) -> dict:
        state, config, connector = self._connector(name)
        self._require_stopped(state, name)
        if isinstance(connector, SinkConnector):
            group = f"connect-{name}"
            try:
                self._admin().delete_consumer_groups([group])[group].result(30)
            except KafkaException as exc:
                if "GROUP_ID_NOT_FOUND" not in str(exc):
                    raise HerderError(500, f"Failed to reset consumer group offsets for connector {name}: {exc}")
            managed = connector.alter_offsets(dict(config), {})
        else:
            partitions = self.store.connector_partitions(name)
            managed = connector.alter_offsets(dict(config), {freeze_partition(p): None for p in partitions})
            OffsetWriter(self.store, name).write({freeze_partition(p): (p, None) for p in partitions})
        return {"message": RESET if managed else FRAMEWORK_ONLY.format("reset", "reset")}


def _sink_partition(partition) -> tuple[str, int]:
    if not isinstance(partition, dict) or "kafka_topic" not in partition or "kafka_partition" not in partition:
        raise HerderError(400, "The partition for a sink connector offset must contain the keys 'kafka_topic' and "
                               "'kafka_partition'")
    return str(partition["kafka_topic"]), _integer(partition["kafka_partition"], "partition")


def _integer(value, what: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise HerderError(400, f"Failed to parse the following Kafka {what} value in the provided offsets: "
                               f"'{json.dumps(value)}'. {what.capitalize()} values for sink connectors need to be "
                               "integers.") from None
