"""Dynamic broker configs: kafka-configs --alter --entity-type brokers, applied without restart.

Kafka keeps two layers above the static configuration: the cluster-wide default
(`--entity-default`, resource name "") and each broker's own (`--entity-name 1`). Both are
stored here in `dynamic-broker-configs.json` in the data directory, written atomically, and
read again on start. Only the configs Kafka treats as dynamic can be changed this way; of
those, we take the ones this broker applies: the log defaults every topic falls back to
(retention, segments, compaction, message size, timestamps, ...) and the producer id expiry,
plus the replication throttles, which a single node accepts and keeps without effect.
"""

from __future__ import annotations

import json
from pathlib import Path

from broker.config import BROKER_CONFIGS, TOPIC_SYNONYM, BrokerConfig, ConfigError
from broker.storage.checkpoint import write_atomically

FILE_NAME = "dynamic-broker-configs.json"
BROKER, CLUSTER_DEFAULT = "broker", "default"

DYNAMIC_CONFIGS = frozenset({name for name in TOPIC_SYNONYM.values() if name in BROKER_CONFIGS} | {
    "producer.id.expiration.ms", "leader.replication.throttled.rate", "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second"})


class DynamicConfigError(ValueError):
    """A change Kafka refuses with INVALID_REQUEST: a static or unknown config, or a bad value."""


def _parsed(configs: dict[str, str]) -> dict[str, object]:
    return {name: BROKER_CONFIGS[name].parse(value) for name, value in configs.items()}


class DynamicBrokerConfigs:
    def __init__(self, data_dir: Path, config: BrokerConfig):
        self.path = Path(data_dir) / FILE_NAME
        self.config = config
        self.raw: dict[str, dict[str, str]] = {BROKER: {}, CLUSTER_DEFAULT: {}}
        if self.path.exists():
            stored = json.loads(self.path.read_text())
            self.raw = {scope: dict(stored.get(scope, {})) for scope in (BROKER, CLUSTER_DEFAULT)}
        self._apply()

    def current(self, scope: str) -> dict[str, str]:
        return dict(self.raw[scope])

    def replace(self, scope: str, configs: dict[str, str], validate_only: bool = False) -> None:
        """Make `configs` the whole dynamic layer `scope` (BROKER or CLUSTER_DEFAULT)."""
        self.check(configs)
        if validate_only:
            return
        self.raw[scope] = dict(configs)
        self._save()
        self._apply()

    @staticmethod
    def check(configs: dict[str, str]) -> None:
        unknown = sorted(name for name in configs if name not in BROKER_CONFIGS)
        if unknown:
            raise DynamicConfigError(f"Unknown broker configs: {', '.join(unknown)}")
        static = sorted(name for name in configs if name not in DYNAMIC_CONFIGS)
        if static:
            raise DynamicConfigError(f"Cannot update these configs dynamically: Set({', '.join(static)})")
        try:
            _parsed(configs)
        except ConfigError as exc:
            raise DynamicConfigError(str(exc)) from None

    def _apply(self) -> None:
        self.config.dynamic = _parsed(self.raw[BROKER])
        self.config.dynamic_default = _parsed(self.raw[CLUSTER_DEFAULT])

    def _save(self) -> None:
        write_atomically(self.path, json.dumps(self.raw, indent=1, sort_keys=True))
