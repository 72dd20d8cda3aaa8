"""Feature versions (KIP-584), as ApiVersions reports them.

A feature has a range of versions this broker can run and a finalized level: the one in
use. Clients choose protocols by the finalized levels, not by API versions alone: the Java
producer runs KIP-890's transaction protocol only when `transaction.version` >= 2 is
finalized, and the new consumer group protocol (KIP-848) needs `group.version` >= 1.
A feature is finalized here at the highest level this broker implements: there is no
controller to negotiate levels with.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    name: str
    min_version: int
    max_version: int

    @property
    def finalized(self) -> int:
        """The level in use: the highest supported (Kafka's after `kafka-storage format`)."""
        return self.max_version


# The KIP-848 consumer group protocol.
GROUP_VERSION = Feature("group.version", 0, 1)

# KIP-890 part 2: an epoch bump per transaction, no AddPartitionsToTxn from the client.
TRANSACTION_VERSION = Feature("transaction.version", 0, 0)

FEATURES = (GROUP_VERSION, TRANSACTION_VERSION)

# Bumped when a level changes: clients cache finalized features per epoch.
FINALIZED_EPOCH = 1


def api_versions_fields(version: int) -> dict:
    """ApiVersions v3+'s feature fields. Before v4 a feature whose versions start at 0 is
    left out of the supported list (older clients cannot read a range that includes 0);
    a feature finalized at level 0 is not in use and is never listed as finalized."""
    supported = [f for f in FEATURES if f.max_version > 0 and (version >= 4 or f.min_version > 0)]
    finalized = [f for f in FEATURES if f.finalized > 0]
    return {
        "supported_features": [{"name": f.name, "min_version": f.min_version, "max_version": f.max_version}
                               for f in supported],
        "finalized_features_epoch": FINALIZED_EPOCH if finalized else -1,
        "finalized_features": [{"name": f.name, "min_version_level": f.finalized,
                                "max_version_level": f.finalized} for f in finalized],
    }
