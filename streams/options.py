"""The DSL's option objects, by Kafka's names: Consumed, Produced, Grouped, Materialized, Named,
Repartitioned, Branched. Each is a small value with `with_*` methods returning a copy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from streams.serdes import Serde


class _With:
    def _with(self, **changes):
        return dataclasses.replace(self, **changes)

    def with_key_serde(self, serde: Serde):
        return self._with(key_serde=serde)

    def with_value_serde(self, serde: Serde):
        return self._with(value_serde=serde)


@dataclass(frozen=True)
class Named(_With):
    name: str | None = None

    @staticmethod
    def as_(name: str) -> "Named":
        return Named(name)


@dataclass(frozen=True)
class Consumed(_With):
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    timestamp_extractor: Callable | None = None
    offset_reset: str | None = None
    name: str | None = None

    @staticmethod
    def with_(key_serde: Serde | None = None, value_serde: Serde | None = None) -> "Consumed":
        return Consumed(key_serde, value_serde)

    @staticmethod
    def as_(name: str) -> "Consumed":
        return Consumed(name=name)

    def with_timestamp_extractor(self, extractor: Callable) -> "Consumed":
        return self._with(timestamp_extractor=extractor)

    def with_offset_reset_policy(self, policy: str) -> "Consumed":
        """Where this source starts when the application has no committed offset for a
        partition: "earliest" or "latest" (Kafka's Topology.AutoOffsetReset), else the
        consumer's auto.offset.reset."""
        if str(policy).lower() not in ("earliest", "latest"):
            raise ValueError(f"offset reset policy must be earliest or latest, not {policy!r}")
        return self._with(offset_reset=str(policy).lower())


@dataclass(frozen=True)
class Produced(_With):
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    partitioner: Callable | None = None  # (topic, key, value, num_partitions) -> partition or None
    name: str | None = None

    @staticmethod
    def with_(key_serde: Serde | None = None, value_serde: Serde | None = None) -> "Produced":
        return Produced(key_serde, value_serde)

    @staticmethod
    def as_(name: str) -> "Produced":
        return Produced(name=name)

    def with_stream_partitioner(self, partitioner: Callable) -> "Produced":
        return self._with(partitioner=partitioner)


@dataclass(frozen=True)
class Grouped(_With):
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    name: str | None = None

    @staticmethod
    def with_(key_serde: Serde | None = None, value_serde: Serde | None = None) -> "Grouped":
        return Grouped(key_serde, value_serde)

    @staticmethod
    def as_(name: str) -> "Grouped":
        return Grouped(name=name)


@dataclass(frozen=True)
class Repartitioned(_With):
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    name: str | None = None
    number_of_partitions: int | None = None
    partitioner: Callable | None = None

    @staticmethod
    def as_(name: str) -> "Repartitioned":
        return Repartitioned(name=name)

    @staticmethod
    def with_(key_serde: Serde | None = None, value_serde: Serde | None = None) -> "Repartitioned":
        return Repartitioned(key_serde, value_serde)

    def with_number_of_partitions(self, count: int) -> "Repartitioned":
        return self._with(number_of_partitions=count)

    def with_stream_partitioner(self, partitioner: Callable) -> "Repartitioned":
        return self._with(partitioner=partitioner)


@dataclass(frozen=True)
class Materialized(_With):
    """Where a KTable lives: a store name (queryable, and its changelog's name), serdes, and
    Kafka's defaults: persistent (RocksDB), logged to a changelog, cached."""
    name: str | None = None
    key_serde: Serde | None = None
    value_serde: Serde | None = None
    persistent: bool = True
    logging: bool = True
    log_config: tuple = ()
    caching: bool = True

    @staticmethod
    def as_(name: str) -> "Materialized":
        return Materialized(name)

    @staticmethod
    def with_(key_serde: Serde | None = None, value_serde: Serde | None = None) -> "Materialized":
        return Materialized(None, key_serde, value_serde)

    def in_memory(self) -> "Materialized":
        return self._with(persistent=False)

    def with_logging_enabled(self, config: dict | None = None) -> "Materialized":
        return self._with(logging=True, log_config=tuple(sorted((config or {}).items())))

    def with_logging_disabled(self) -> "Materialized":
        return self._with(logging=False)

    def with_caching_enabled(self) -> "Materialized":
        return self._with(caching=True)

    def with_caching_disabled(self) -> "Materialized":
        return self._with(caching=False)


@dataclass(frozen=True)
class Branched:
    name: str | None = None
    function: Callable | None = None  # KStream -> KStream | None, applied to the branch

    @staticmethod
    def as_(name: str) -> "Branched":
        return Branched(name)

    @staticmethod
    def with_function(function: Callable, name: str | None = None) -> "Branched":
        return Branched(name, function)
