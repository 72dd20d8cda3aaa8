"""kafka-rest v3: the cluster, its brokers, each broker's configs and the cluster-wide broker configs.

The cluster is the one the proxy's AdminClient describes (DescribeCluster): /v3/clusters lists it
alone, as kafka-rest does. Broker configs are read and altered per broker (DescribeConfigs and
IncrementalAlterConfigs on the BROKER resource); a config the broker cannot change dynamically
comes back as Kafka's INVALID_REQUEST (400/40002), which is what a client sees.

Cluster-wide configs (`broker-configs`) differ from kafka-rest: librdkafka cannot name Kafka's
default broker resource (the empty name), so they are read from the controller's description
(its values that come from the cluster default) and every change to them is refused with
400/40002, pointing to the per-broker configs.
"""

from __future__ import annotations

from confluent_kafka.admin import ConfigResource
from flask import Blueprint

from rest.errors import RestError
from rest.v3 import (
    admin, alter_commands, answer, checked_commands, cluster, collection, config_fields, controller_id, crn,
    field, install, json_request, no_content, not_found, path_int, related, resource, url,
)

bp = install(Blueprint("v3_cluster", __name__))

BROKER = ConfigResource.Type.BROKER
NULL_PAYLOAD = "Null input provided. Data is required."
CLUSTER_CONFIGS_READ_ONLY = (
    "Cluster-wide broker configs cannot be changed through this REST Proxy: its Kafka client "
    "(librdkafka) cannot name the cluster's default broker config resource. Change them per broker "
    "(/v3/clusters/{cluster_id}/brokers/{broker_id}/configs).")


# -- clusters ---------------------------------------------------------------------------------


def _cluster_data(described) -> dict:
    cid = described.cluster_id
    controller = described.controller
    return resource(
        "KafkaCluster", url("clusters", cid), crn(cid),
        cluster_id=cid,
        controller=related("clusters", cid, "brokers", controller.id) if controller is not None else None,
        acls=related("clusters", cid, "acls"),
        brokers=related("clusters", cid, "brokers"),
        broker_configs=related("clusters", cid, "broker-configs"),
        consumer_groups=related("clusters", cid, "consumer-groups"),
        topics=related("clusters", cid, "topics"),
        partition_reassignments=related("clusters", cid, "topics", "-", "partitions", "-", "reassignment"),
    )


@bp.get("/clusters")
def list_clusters():
    described = admin().cluster()
    return answer(collection("KafkaClusterList", url("clusters"), [_cluster_data(described)]))


@bp.get("/clusters/<cluster_id>")
def get_cluster(cluster_id: str):
    return answer(_cluster_data(cluster(cluster_id)))


# -- brokers ----------------------------------------------------------------------------------


def _broker_data(cluster_id: str, node) -> dict:
    return resource(
        "KafkaBroker", url("clusters", cluster_id, "brokers", node.id), crn(cluster_id, "broker", node.id),
        cluster_id=cluster_id, broker_id=node.id,
        host=node.host or None, port=node.port if node.port != -1 else None, rack=node.rack,
        configs=related("clusters", cluster_id, "brokers", node.id, "configs"),
        partition_replicas=related("clusters", cluster_id, "brokers", node.id, "partition-replicas"),
    )


def broker_node(cluster_id: str, broker_text: str):
    """The broker of the path, after the cluster check; 404 `Broker <id> cannot be found.`."""
    broker_id = path_int(broker_text)
    for node in cluster(cluster_id).nodes:
        if node.id == broker_id:
            return node
    raise not_found(f"Broker {broker_id} cannot be found.")


@bp.get("/clusters/<cluster_id>/brokers")
def list_brokers(cluster_id: str):
    nodes = sorted(cluster(cluster_id).nodes, key=lambda n: n.id)
    return answer(collection("KafkaBrokerList", url("clusters", cluster_id, "brokers"),
                             [_broker_data(cluster_id, n) for n in nodes]))


@bp.get("/clusters/<cluster_id>/brokers/<broker_id>")
def get_broker(cluster_id: str, broker_id: str):
    return answer(_broker_data(cluster_id, broker_node(cluster_id, broker_id)))


# -- broker configs -----------------------------------------------------------------------------


def _broker_config_data(cluster_id: str, broker_id: int, entry) -> dict:
    return resource(
        "KafkaBrokerConfig", url("clusters", cluster_id, "brokers", broker_id, "configs", entry.name),
        crn(cluster_id, "broker", broker_id, "config", entry.name),
        **config_fields(cluster_id, entry, broker_id=broker_id))


def _broker_configs(broker_id: int) -> list:
    return admin().configs(BROKER, [str(broker_id)])[str(broker_id)]


def _broker_config(cluster_id: str, broker_id: int, name: str):
    for entry in _broker_configs(broker_id):
        if entry.name == name:
            return entry
    raise not_found(f"Config {name} cannot be found for BROKER {broker_id} in cluster {cluster_id}.")


@bp.get("/clusters/<cluster_id>/brokers/-/configs")
def list_all_broker_configs(cluster_id: str):
    ids = sorted(n.id for n in cluster(cluster_id).nodes)
    configs = admin().configs(BROKER, [str(i) for i in ids])
    data = [_broker_config_data(cluster_id, i, e) for i in ids for e in configs[str(i)]]
    return answer(collection("KafkaBrokerConfigList", url("clusters", cluster_id, "brokers", "-", "configs"), data))


@bp.get("/clusters/<cluster_id>/brokers/<broker_id>/configs")
def list_broker_configs(cluster_id: str, broker_id: str):
    node = broker_node(cluster_id, broker_id)
    data = [_broker_config_data(cluster_id, node.id, e) for e in _broker_configs(node.id)]
    return answer(collection("KafkaBrokerConfigList", url("clusters", cluster_id, "brokers", node.id, "configs"),
                             data))


@bp.get("/clusters/<cluster_id>/brokers/<broker_id>/configs/<name>")
def get_broker_config(cluster_id: str, broker_id: str, name: str):
    node = broker_node(cluster_id, broker_id)
    return answer(_broker_config_data(cluster_id, node.id, _broker_config(cluster_id, node.id, name)))


def _alter_broker(cluster_id: str, broker_id: str, commands) -> None:
    node = broker_node(cluster_id, broker_id)
    known = {e.name for e in _broker_configs(node.id)}
    checked_commands(commands, known, f"BROKER {node.id}", cluster_id)
    admin().alter_config(BROKER, str(node.id), commands)


@bp.put("/clusters/<cluster_id>/brokers/<broker_id>/configs/<name>")
def update_broker_config(cluster_id: str, broker_id: str, name: str):
    value = field(json_request(NULL_PAYLOAD), "value", str)
    _alter_broker(cluster_id, broker_id, alter_commands([{"name": name, "value": value}]))
    return no_content()


@bp.delete("/clusters/<cluster_id>/brokers/<broker_id>/configs/<name>")
def reset_broker_config(cluster_id: str, broker_id: str, name: str):
    _alter_broker(cluster_id, broker_id, alter_commands([{"name": name, "operation": "DELETE"}]))
    return no_content()


@bp.post("/clusters/<cluster_id>/brokers/<broker_id>/configs:alter")
def alter_broker_configs(cluster_id: str, broker_id: str):
    body = json_request(NULL_PAYLOAD)
    _alter_broker(cluster_id, broker_id, alter_commands(field(body, "data", list, required=True)))
    return no_content()


# -- cluster-wide broker configs ------------------------------------------------------------------


def _cluster_config_data(cluster_id: str, entry) -> dict:
    return resource(
        "KafkaClusterConfig", url("clusters", cluster_id, "broker-configs", entry.name),
        crn(cluster_id, "broker-config", entry.name),
        **config_fields(cluster_id, entry, config_type="BROKER"))


def _cluster_configs(cluster_id: str) -> list:
    return admin().cluster_configs(controller_id(cluster(cluster_id)))


@bp.get("/clusters/<cluster_id>/broker-configs")
def list_cluster_configs(cluster_id: str):
    data = [_cluster_config_data(cluster_id, e) for e in _cluster_configs(cluster_id)]
    return answer(collection("KafkaClusterConfigList", url("clusters", cluster_id, "broker-configs"), data))


@bp.get("/clusters/<cluster_id>/broker-configs/<name>")
def get_cluster_config(cluster_id: str, name: str):
    for entry in _cluster_configs(cluster_id):
        if entry.name == name:
            return answer(_cluster_config_data(cluster_id, entry))
    # kafka-rest's text, with the default resource's empty name between BROKER and "in"
    raise not_found(f"Config {name} cannot be found for BROKER  in cluster {cluster_id}.")


@bp.put("/clusters/<cluster_id>/broker-configs/<name>")
def update_cluster_config(cluster_id: str, name: str):
    field(json_request(NULL_PAYLOAD), "value", str)
    cluster(cluster_id)
    raise RestError(40002, CLUSTER_CONFIGS_READ_ONLY)


@bp.delete("/clusters/<cluster_id>/broker-configs/<name>")
def delete_cluster_config(cluster_id: str, name: str):
    get_cluster_config(cluster_id, name)  # kafka-rest resets only a config the cluster has: else 404
    raise RestError(40002, CLUSTER_CONFIGS_READ_ONLY)


@bp.post("/clusters/<cluster_id>/broker-configs:alter")
def alter_cluster_configs(cluster_id: str):
    alter_commands(field(json_request(NULL_PAYLOAD), "data", list, required=True))
    cluster(cluster_id)
    raise RestError(40002, CLUSTER_CONFIGS_READ_ONLY)
