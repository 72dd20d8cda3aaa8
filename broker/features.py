"""Feature versions (KIP-584): what this broker supports, what is finalized, and UpdateFeatures.

A feature has a range of versions this broker can run and a finalized level: the one in use.
Clients choose protocols by the finalized levels, not by API versions alone: the Java producer
runs KIP-890's transaction protocol only when `transaction.version` >= 2 is finalized, and the
new consumer group protocol (KIP-848) needs `group.version` >= 1.

A new broker finalizes every feature at the highest level it implements, as `kafka-storage
format` does by default; `kafka-features upgrade/downgrade` (UpdateFeatures) moves a level
within the supported range. Levels and their epoch are kept in `<data>/.features.json`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from broker.storage.checkpoint import write_atomically

log = logging.getLogger("schemabus.broker")

FILE_NAME = ".features.json"

# UpdateFeatures' upgrade types (v1+; v0's allow_downgrade maps to SAFE_DOWNGRADE).
UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE = 1, 2, 3


@dataclass(frozen=True)
class Feature:
    name: str
    min_version: int
    max_version: int

    @property
    def finalized(self) -> int:
        """The level a new broker starts with: the highest supported."""
        return self.max_version


# The KIP-848 consumer group protocol.
GROUP_VERSION = Feature("group.version", 0, 1)

# KIP-890 part 2: an epoch bump per transaction, no AddPartitionsToTxn from the client
# (level 1 is part 1's verification, which a broker does whatever the level).
TRANSACTION_VERSION = Feature("transaction.version", 0, 2)

FEATURES = (GROUP_VERSION, TRANSACTION_VERSION)
BY_NAME = {f.name: f for f in FEATURES}


class FeatureUpdateError(ValueError):
    """An update Kafka would refuse with INVALID_UPDATE_VERSION; nothing was changed."""


class FinalizedFeatures:
    def __init__(self, data_dir: Path, node_id: int):
        self.path = Path(data_dir) / FILE_NAME
        self.node_id = node_id
        self.levels = {f.name: f.finalized for f in FEATURES}
        self.epoch = 1
        if self.path.exists():
            self._load(json.loads(self.path.read_text()))

    def _load(self, stored: dict) -> None:
        self.epoch = int(stored["epoch"])
        for name, level in stored["levels"].items():
            feature = BY_NAME.get(name)
            if feature is None:
                log.warning("ignoring finalized feature %s=%s: this broker does not know it", name, level)
            elif not feature.min_version <= level <= feature.max_version:
                log.warning("finalized %s=%s is outside the versions this broker supports (%s-%s): using %s",
                            name, level, feature.min_version, feature.max_version, feature.finalized)
            else:
                self.levels[name] = level

    def level(self, feature: Feature) -> int:
        return self.levels[feature.name]

    def update(self, updates: list[tuple[str, int, int]], validate_only: bool = False) -> None:
        """Apply (name, level, upgrade type) updates all or none, as Kafka's controller does:
        the first invalid one raises FeatureUpdateError with Kafka's message."""
        for name, level, upgrade_type in updates:
            reason = self._invalid(name, level, upgrade_type)
            if reason:
                raise FeatureUpdateError("The update failed for all features since the following feature had an "
                                         f"error: Invalid update version {level} for feature {name}. {reason}")
        if validate_only:
            return
        for name, level, _ in updates:
            self.levels[name] = level
        self.epoch += 1
        write_atomically(self.path, json.dumps({"epoch": self.epoch, "levels": self.levels}, sort_keys=True))
        log.info("finalized features now %s (epoch %d)", self.levels, self.epoch)

    def _invalid(self, name: str, level: int, upgrade_type: int) -> str | None:
        feature = BY_NAME.get(name)
        if level < 0:
            return "A feature version cannot be less than 0."
        if upgrade_type not in (UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE):
            return "The controller does not support the given upgrade type."
        if feature is None or feature.max_version == 0:
            return f"Local controller {self.node_id} does not support this feature."
        if not feature.min_version <= level <= feature.max_version:
            return f"Local controller {self.node_id} only supports versions {feature.min_version}-{feature.max_version}"
        if level < self.levels[name] and upgrade_type == UPGRADE:
            return ("Can't downgrade the version of this feature without setting the upgrade type to either safe "
                    "or unsafe downgrade.")
        return None

    def api_versions_fields(self, version: int) -> dict:
        """ApiVersions v3+'s feature fields. Before v4 a feature whose versions start at 0 is
        left out of the supported list (older clients cannot read a range that includes 0);
        a feature finalized at level 0 is not in use and is not listed as finalized."""
        supported = [f for f in FEATURES if f.max_version > 0 and (version >= 4 or f.min_version > 0)]
        finalized = [(name, level) for name, level in self.levels.items() if level > 0]
        return {
            "supported_features": [{"name": f.name, "min_version": f.min_version, "max_version": f.max_version}
                                   for f in supported],
            "finalized_features_epoch": self.epoch if finalized else -1,
            "finalized_features": [{"name": name, "min_version_level": level, "max_version_level": level}
                                   for name, level in finalized],
        }
