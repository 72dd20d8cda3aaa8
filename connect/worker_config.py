"""Worker configuration with Kafka's names and defaults (WorkerConfig, DistributedConfig,
StandaloneConfig, RestServerConfig), and the Kafka client configs derived from it."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from connect.config_def import ConfigDef, ConfigType, Importance, Range, ValidString
from kafka_properties import librdkafka_config

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


def _common() -> ConfigDef:
    d = ConfigDef()
    d.define("bootstrap.servers", ConfigType.LIST, "localhost:9092", None, Importance.HIGH,
             "A list of host/port pairs used to establish the initial connection to the Kafka cluster.")
    d.define("key.converter", ConfigType.CLASS, None, None, Importance.HIGH,
             "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka.")
    d.define("value.converter", ConfigType.CLASS, None, None, Importance.HIGH,
             "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka.")
    d.define("header.converter", ConfigType.CLASS, "org.apache.kafka.connect.storage.SimpleHeaderConverter", None,
             Importance.LOW, "HeaderConverter class used to convert between Kafka Connect format and the serialized form.")
    d.define("offset.flush.interval.ms", ConfigType.LONG, 60000, None, Importance.LOW,
             "Interval at which to try committing offsets for tasks.")
    d.define("offset.flush.timeout.ms", ConfigType.LONG, 5000, None, Importance.LOW,
             "Maximum number of milliseconds to wait for records to flush and partition offset data to be committed.")
    d.define("listeners", ConfigType.LIST, "http://:8083", None, Importance.LOW,
             "List of comma-separated URIs the REST API will listen on.")
    d.define("rest.advertised.host.name", ConfigType.STRING, None, None, Importance.LOW,
             "If this is set, this is the hostname that will be given out to other workers to connect to.")
    d.define("rest.advertised.port", ConfigType.INT, None, None, Importance.LOW,
             "If this is set, this is the port that will be given out to other workers to connect to.")
    d.define("rest.advertised.listener", ConfigType.STRING, None, None, Importance.LOW,
             "Sets the advertised listener (HTTP or HTTPS) which will be given to other workers to use.")
    d.define("plugin.path", ConfigType.LIST, None, None, Importance.LOW,
             "Directories whose Python modules are scanned for connectors, converters and transforms.")
    d.define("task.shutdown.graceful.timeout.ms", ConfigType.LONG, 5000, None, Importance.LOW,
             "Amount of time to wait for tasks to shutdown gracefully.")
    d.define("topic.tracking.enable", ConfigType.BOOLEAN, True, None, Importance.LOW,
             "Enable tracking the set of active topics per connector during runtime.")
    return d


def distributed_config_def() -> ConfigDef:
    d = _common()
    d.define("group.id", ConfigType.STRING, importance=Importance.HIGH,
             documentation="A unique string that identifies the Connect cluster group this worker belongs to.")
    for name, partitions, doc in (("config", None, "configuration"), ("offset", 25, "offsets"), ("status", 5, "status")):
        d.define(f"{name}.storage.topic", ConfigType.STRING, importance=Importance.HIGH,
                 documentation=f"The name of the Kafka topic where connector {doc} are stored")
        d.define(f"{name}.storage.replication.factor", ConfigType.SHORT, 3, None, Importance.LOW,
                 f"Replication factor used when creating the {doc} storage topic")
        if partitions is not None:
            d.define(f"{name}.storage.partitions", ConfigType.INT, partitions, None, Importance.LOW,
                     f"The number of partitions used when creating the {doc} storage topic")
    d.define("session.timeout.ms", ConfigType.INT, 10000, None, Importance.HIGH,
             "The timeout used to detect worker failures.")
    d.define("heartbeat.interval.ms", ConfigType.INT, 3000, None, Importance.HIGH,
             "The expected time between heartbeats to the group coordinator.")
    d.define("rebalance.timeout.ms", ConfigType.INT, 60000, None, Importance.HIGH,
             "The maximum allowed time for each worker to join the group once a rebalance has begun.")
    d.define("scheduled.rebalance.max.delay.ms", ConfigType.INT, 300000, Range.between(0, 2**31 - 1), Importance.LOW,
             "The maximum delay that is scheduled in order to wait for the return of one or more departed workers.")
    d.define("connect.protocol", ConfigType.STRING, "sessioned", ValidString.in_("eager", "compatible", "sessioned",
                                                                                  case_insensitive=True),
             Importance.LOW, "Compatibility mode for Kafka Connect Protocol")
    d.define("exactly.once.source.support", ConfigType.STRING, "disabled",
             ValidString.in_("disabled", "preparing", "enabled", case_insensitive=True), Importance.HIGH,
             "Whether to enable exactly-once support for source connectors in the cluster by using transactions "
             "to write source records and their source offsets.")
    d.define("worker.sync.timeout.ms", ConfigType.INT, 3000, None, Importance.MEDIUM,
             "When the worker is out of sync with other workers and needs to resynchronize configurations, wait up to this amount of time.")
    return d


def standalone_config_def() -> ConfigDef:
    d = _common()
    d.define("offset.storage.file.filename", ConfigType.STRING, importance=Importance.HIGH,
             documentation="File to store source connector offsets in")
    return d


class WorkerConfig:
    def __init__(self, props: dict[str, str], distributed: bool):
        self.props = dict(props)
        self.distributed = distributed
        definition = distributed_config_def() if distributed else standalone_config_def()
        known = {k: v for k, v in props.items() if k in definition.keys}
        self.values = definition.parse(known)

    def __getitem__(self, key):
        return self.values[key]

    def get(self, key, default=None):
        value = self.values.get(key)
        return default if value is None else value

    # -- Kafka clients --------------------------------------------------------------------------

    def _connection(self) -> dict[str, str]:
        """Settings every worker client shares: bootstrap servers and the top-level security ones."""
        conf = {"bootstrap.servers": ",".join(self.values["bootstrap.servers"])}
        conf.update({k: v for k, v in self.props.items()
                     if k.startswith(("security.", "sasl.", "ssl.")) or k in ("client.dns.lookup",)})
        return conf

    def client_config(self, prefix: str | None = None) -> dict:
        """librdkafka config for the worker's own clients, with `<prefix>.*` overrides
        (producer., consumer., admin.)."""
        conf = self._connection()
        if prefix:
            conf.update({k[len(prefix) + 1:]: v for k, v in self.props.items() if k.startswith(prefix + ".")})
        return librdkafka_config(conf)

    # -- REST -----------------------------------------------------------------------------------

    def listener(self) -> tuple[str, str, int]:
        """(scheme, host, port) of the first listener; an empty host means all interfaces."""
        url = urlparse(self.values["listeners"][0])
        return url.scheme or "http", url.hostname or "", url.port or 8083

    def advertised_url(self, bound_port: int | None = None) -> str:
        scheme, host, port = self.listener()
        scheme = self.get("rest.advertised.listener", scheme)
        host = self.get("rest.advertised.host.name") or host or socket.gethostname()
        port = self.get("rest.advertised.port") or bound_port or port
        return f"{scheme}://{host}:{port}/"

    def worker_id(self, bound_port: int | None = None) -> str:
        url = urlparse(self.advertised_url(bound_port))
        return f"{url.hostname}:{url.port}"
