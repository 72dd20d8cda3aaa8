"""Per-group configs (KIP-848): `kafka-configs --entity-type groups`, DescribeConfigs and
(Incremental)AlterConfigs on GROUP resources.

Kafka 4.1's GroupConfig: ten configs, each falling back to a broker config (or a fixed
default), checked on every change against the broker's bounds with Kafka's messages, the
group's other overrides included. The consumer group coordinator uses a group's
`consumer.heartbeat.interval.ms` and `consumer.session.timeout.ms`; the share and streams
configs are kept and described (those groups are not served). Overrides are kept per group
name whether or not the group exists, and outlive its deletion, as in Kafka; they are stored in
`group-configs.json` in the data directory, written atomically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from broker.config import INT, STRING, ConfigDef, ConfigError
from broker.storage.checkpoint import write_atomically

FILE_NAME = "group-configs.json"
SOURCE_GROUP = 8  # DescribeConfigs' DYNAMIC_GROUP_CONFIG


@dataclass(frozen=True)
class GroupConfigDef:
    definition: ConfigDef
    broker_default: str | None  # the broker config it falls back to, else definition.default
    low: str | None = None  # broker configs bounding it
    high: str | None = None


def _timing(group_type: str, what: str) -> tuple[str, str, str]:
    prefix = f"group.{group_type}."
    return prefix + what, f"{prefix}min.{what}", f"{prefix}max.{what}"


def _int(name: str, broker_default: str, low: str | None, high: str | None, minimum: int = 1) -> GroupConfigDef:
    return GroupConfigDef(ConfigDef(name, INT, None, minimum=minimum), broker_default, low, high)


# In the order Kafka's DescribeConfigs lists them.
GROUP_CONFIGS = {d.definition.name: d for d in (
    _int("consumer.session.timeout.ms", *_timing("consumer", "session.timeout.ms")),
    _int("streams.heartbeat.interval.ms", *_timing("streams", "heartbeat.interval.ms")),
    GroupConfigDef(ConfigDef("share.auto.offset.reset", STRING, "latest"), None),
    _int("share.record.lock.duration.ms", "group.share.record.lock.duration.ms",
         "group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms", minimum=1000),
    _int("consumer.heartbeat.interval.ms", *_timing("consumer", "heartbeat.interval.ms")),
    _int("share.session.timeout.ms", *_timing("share", "session.timeout.ms")),
    GroupConfigDef(ConfigDef("share.isolation.level", STRING, "read_uncommitted",
                             choices=("read_committed", "read_uncommitted")), None),
    _int("streams.session.timeout.ms", *_timing("streams", "session.timeout.ms")),
    _int("share.heartbeat.interval.ms", *_timing("share", "heartbeat.interval.ms")),
    _int("streams.num.standby.replicas", "group.streams.num.standby.replicas", None,
         "group.streams.max.standby.replicas", minimum=0),
)}
# Kafka's checks in its order: bounds, then each session timeout against its heartbeat interval.
_BOUNDED = ("consumer.heartbeat.interval.ms", "consumer.session.timeout.ms", "share.heartbeat.interval.ms",
            "share.session.timeout.ms", "share.record.lock.duration.ms", "streams.heartbeat.interval.ms",
            "streams.session.timeout.ms", "streams.num.standby.replicas")
_SESSIONS = ("consumer", "share", "streams")
# share.auto.offset.reset: earliest, latest, or by_duration:<ISO-8601 duration, not negative>.
_DURATION = re.compile(r"([-+]?)P(?:([-+]?\d+)D)?"
                       r"(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+)(?:[.,](\d{0,9}))?S)?)?", re.IGNORECASE)


class GroupConfigError(ValueError):
    """A change Kafka refuses: `error` is its error code's name."""

    def __init__(self, error: str, message: str):
        super().__init__(message)
        self.error = error
        self.message = message


def _duration_s(text: str) -> float | None:
    """An ISO-8601 duration in seconds as Java's Duration.parse reads it, else None."""
    match = _DURATION.fullmatch(text)
    if match is None or text.upper().endswith(("P", "T")):  # no amount, or a T without one
        return None
    sign, days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60
    total += float(f"{seconds or 0}.{fraction or 0}")
    return -total if sign == "-" else total


def _check_offset_reset(value: str) -> None:
    duration = _duration_s(value[len("by_duration:"):]) if value.startswith("by_duration:") else None
    if value in ("earliest", "latest") or (duration is not None and duration >= 0):
        return
    raise GroupConfigError("INVALID_CONFIG", (
        f"Invalid value {value} for configuration share.auto.offset.reset: Invalid value `{value}` for configuration "
        "share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format "
        "'by_duration:<PnDTnHnMn.nS>'."))


class GroupConfigs:
    def __init__(self, data_dir: Path, config):
        self.path = Path(data_dir) / FILE_NAME
        self.config = config  # the broker's: defaults and bounds
        self.raw: dict[str, dict[str, str]] = {}  # as given, and as DescribeConfigs answers them
        if self.path.exists():
            self.raw = {group: dict(configs) for group, configs in json.loads(self.path.read_text()).items()}
        self._parsed = {group: self._parse(configs) for group, configs in self.raw.items()}

    def groups(self) -> list[str]:
        """The groups with overrides."""
        return list(self.raw)

    def overrides(self, group: str) -> dict[str, str]:
        return dict(self.raw.get(group, {}))

    def default(self, name: str) -> object:
        definition = GROUP_CONFIGS[name]
        return self.config[definition.broker_default] if definition.broker_default else definition.definition.default

    def value(self, group: str, name: str) -> object:
        """The group's value of `name`: its override, else the broker's."""
        found = self._parsed.get(group)
        if found is not None and name in found:
            return found[name]
        return self.default(name)

    def describe(self, group: str) -> list[tuple[str, str, int, int]]:
        """(name, value, source, config type) of every group config, in Kafka's order."""
        overrides = self.raw.get(group, {})
        out = []
        for name, definition in GROUP_CONFIGS.items():
            if name in overrides:
                value, source = overrides[name], SOURCE_GROUP
            else:
                value, source = str(self.default(name)), 5  # DEFAULT_CONFIG
            out.append((name, value, source, definition.definition.type))
        return out

    def replace(self, group: str, configs: dict[str, str], validate_only: bool = False) -> None:
        """Make `configs` the group's overrides, once they pass Kafka's checks."""
        parsed = self.check(configs)
        if validate_only:
            return
        if configs:
            self.raw[group], self._parsed[group] = dict(configs), parsed
        else:
            self.raw.pop(group, None)
            self._parsed.pop(group, None)
        write_atomically(self.path, json.dumps(self.raw, indent=1, sort_keys=True))

    def check(self, configs: dict[str, str]) -> dict[str, object]:
        """Kafka's GroupConfig.validate of a group's overrides: names, values, then bounds."""
        for name in configs:
            if name not in GROUP_CONFIGS:
                raise GroupConfigError("INVALID_CONFIG", f"Unknown group config name: {name}")
        parsed = self._parse(configs)
        values = {name: parsed.get(name, self.default(name)) for name in GROUP_CONFIGS}
        for name in _BOUNDED:
            definition = GROUP_CONFIGS[name]
            if definition.low and values[name] < self.config[definition.low]:
                raise GroupConfigError("INVALID_CONFIG", f"{name} must be greater than or equal to {definition.low}")
            if values[name] > self.config[definition.high]:
                raise GroupConfigError("INVALID_CONFIG", f"{name} must be less than or equal to {definition.high}")
        for group_type in _SESSIONS:
            session, heartbeat = f"{group_type}.session.timeout.ms", f"{group_type}.heartbeat.interval.ms"
            if values[session] <= values[heartbeat]:
                raise GroupConfigError("INVALID_CONFIG", f"{session} must be greater than {heartbeat}")
        return parsed

    @staticmethod
    def _parse(configs: dict[str, str]) -> dict[str, object]:
        parsed = {}
        for name, raw in configs.items():
            try:
                parsed[name] = GROUP_CONFIGS[name].definition.parse(raw)
            except ConfigError as exc:
                raise GroupConfigError("INVALID_CONFIG", str(exc)) from None
            if name == "share.auto.offset.reset":
                _check_offset_reset(parsed[name])
        return parsed
