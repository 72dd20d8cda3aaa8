"""Per-partition log configuration: Kafka's topic-config semantics and defaults.

broker/config.py maps Kafka's config names (and their broker synonyms) onto it."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LONG = 2**63 - 1

CLEANUP_POLICIES = frozenset({"delete", "compact"})

@dataclass(frozen=True)
class LogConfig:
    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    retention_ms: int = 604800000  # negative: keep forever
    retention_bytes: int = -1  # negative: no size limit
    cleanup_policy: frozenset[str] = field(default_factory=lambda: frozenset({"delete"}))
    delete_retention_ms: int = 86400000
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0
    index_interval_bytes: int = 4096
    segment_index_bytes: int = 10485760
    flush_messages: int = MAX_LONG
    flush_ms: int = MAX_LONG
    # Kept for config round trips; segments are deleted at once (no async deleter).
    file_delete_delay_ms: int = 60000

    def __post_init__(self) -> None:
        if isinstance(self.cleanup_policy, str):  # tolerate "compact,delete"
            object.__setattr__(self, "cleanup_policy", _parse_policy(self.cleanup_policy))
        else:
            object.__setattr__(self, "cleanup_policy", frozenset(self.cleanup_policy))
        unknown = self.cleanup_policy - CLEANUP_POLICIES
        if unknown:
            raise ValueError(f"unknown cleanup.policy value(s): {', '.join(sorted(unknown))}")
        if self.segment_bytes <= 0:
            raise ValueError("segment.bytes must be positive")
        if self.segment_index_bytes < 12:
            raise ValueError("segment.index.bytes must hold at least one index entry")
        if self.index_interval_bytes < 0:
            raise ValueError("index.interval.bytes must not be negative")
        if self.flush_messages < 1 or self.flush_ms < 0 or self.segment_ms < 1:
            raise ValueError("flush.messages and segment.ms must be >= 1, flush.ms >= 0")
        if not 0.0 <= self.min_cleanable_dirty_ratio <= 1.0:
            raise ValueError("min.cleanable.dirty.ratio must be within [0, 1]")

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy


def _parse_policy(raw: str) -> frozenset[str]:
    return frozenset(p.strip() for p in raw.split(",") if p.strip())
