"""Config definitions as Kafka's ConfigDef: typed keys with defaults, validators, importance and
documentation; parsing with Kafka's error texts; validation results in the shapes that
`GET /connector-plugins/{p}/config` and `PUT .../config/validate` answer.

Connectors, converters and transforms declare their configs with it; the worker validates
connector configs with it and reports every error per field.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from connect.errors import ConfigException


class ConfigType(str, enum.Enum):
    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    INT = "INT"
    SHORT = "SHORT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    LIST = "LIST"
    CLASS = "CLASS"
    PASSWORD = "PASSWORD"


class Importance(str, enum.Enum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Width(str, enum.Enum):
    NONE = "NONE"
    SHORT = "SHORT"
    MEDIUM = "MEDIUM"
    LONG = "LONG"


NO_DEFAULT = object()
_INT_BITS = {ConfigType.SHORT: 16, ConfigType.INT: 32, ConfigType.LONG: 64}


class Password:
    """A secret config value: never shown by repr, logs or the REST API ("[hidden]")."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "[hidden]"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, Password) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


def parse_type(name: str, value, config_type: ConfigType):
    """ConfigDef.parseType: a string or typed value as `config_type`, else ConfigException."""
    if value is None:
        return None
    if isinstance(value, str):
        trimmed = value.strip()
    try:
        if config_type is ConfigType.BOOLEAN:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and trimmed.lower() in ("true", "false"):
                return trimmed.lower() == "true"
            raise ConfigException(name, value, "Expected value to be either true or false")
        if config_type in _INT_BITS:
            if isinstance(value, bool):
                raise ValueError
            number = int(trimmed) if isinstance(value, str) else value
            if not isinstance(number, int):
                raise ValueError
            bits = _INT_BITS[config_type]
            if not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
                raise ValueError
            return number
        if config_type is ConfigType.DOUBLE:
            if isinstance(value, bool):
                raise ValueError
            return float(trimmed) if isinstance(value, str) else float(value)
        if config_type is ConfigType.STRING:
            if isinstance(value, str):
                return trimmed
            raise ConfigException(name, value, "Expected value to be a string, but it was a " + type(value).__name__)
        if config_type is ConfigType.PASSWORD:
            if isinstance(value, Password):
                return value
            if isinstance(value, str):
                return Password(trimmed)
            raise ConfigException(name, value, "Expected value to be a string, but it was a " + type(value).__name__)
        if config_type is ConfigType.LIST:
            if isinstance(value, (list, tuple)):
                return list(value)
            if isinstance(value, str):
                return [] if not trimmed else [part.strip() for part in trimmed.split(",")]
            raise ConfigException(name, value, "Expected a comma separated list.")
        if config_type is ConfigType.CLASS:
            if isinstance(value, str):
                return trimmed
            if isinstance(value, type):
                return value
            raise ConfigException(name, value, "Expected a Class instance or class name.")
    except ValueError:
        raise ConfigException(name, value, f"Not a number of type {config_type.value}") from None
    raise ConfigException(name, value, "Unknown type.")


def to_config_string(value, config_type: ConfigType) -> str | None:
    """ConfigDef.convertToString: how a default or value is shown in the REST API."""
    if value is None:
        return None
    if config_type is ConfigType.PASSWORD:
        return "[hidden]"
    if config_type is ConfigType.LIST:
        return ",".join(str(v) for v in value)
    if config_type is ConfigType.BOOLEAN:
        return "true" if value else "false"
    if config_type is ConfigType.CLASS and isinstance(value, type):
        return getattr(value, "class_name", f"{value.__module__}.{value.__qualname__}")
    return str(value)


# Validators: callables (name, parsed value) that raise ConfigException; str() describes them.

@dataclass(frozen=True)
class Range:
    min: float | None = None
    max: float | None = None

    @classmethod
    def at_least(cls, minimum) -> "Range":
        return cls(minimum, None)

    @classmethod
    def between(cls, minimum, maximum) -> "Range":
        return cls(minimum, maximum)

    def __call__(self, name, value):
        if value is None:
            raise ConfigException(name, value, "Value must be non-null")
        if self.min is not None and value < self.min:
            raise ConfigException(name, value, f"Value must be at least {self.min}")
        if self.max is not None and value > self.max:
            raise ConfigException(name, value, f"Value must be no more than {self.max}")

    def __str__(self) -> str:
        if self.max is None:
            return f"[{self.min},...]"
        if self.min is None:
            return f"[...,{self.max}]"
        return f"[{self.min},...,{self.max}]"


@dataclass(frozen=True)
class ValidString:
    allowed: tuple[str, ...]
    case_insensitive: bool = False

    @classmethod
    def in_(cls, *allowed: str, case_insensitive: bool = False) -> "ValidString":
        return cls(tuple(allowed), case_insensitive)

    def __call__(self, name, value):
        options = [a.lower() for a in self.allowed] if self.case_insensitive else self.allowed
        probe = value.lower() if self.case_insensitive and isinstance(value, str) else value
        if probe not in options:
            raise ConfigException(name, value, "String must be one of: " + ", ".join(self.allowed))

    def __str__(self) -> str:
        return "[" + ", ".join(self.allowed) + "]"


@dataclass(frozen=True)
class ValidList:
    allowed: tuple[str, ...]

    def __call__(self, name, value):
        for item in value or []:
            if item not in self.allowed:
                raise ConfigException(name, item, "Invalid value " + item + " for configuration " + name +
                                      ": String must be one of: " + ", ".join(self.allowed))

    def __str__(self) -> str:
        return "[" + ", ".join(self.allowed) + "]"


class NonEmptyString:
    def __call__(self, name, value):
        if value is None or not str(value).strip():
            raise ConfigException(name, value, "String may not be empty")

    def __str__(self) -> str:
        return "non-empty string"


class NonEmptyList:
    def __call__(self, name, value):
        if not value:
            raise ConfigException(name, value, "Empty list")

    def __str__(self) -> str:
        return "non-empty list"


class ValidRegex:
    def __call__(self, name, value):
        try:
            re.compile(value or "")
        except re.error as exc:
            raise ConfigException(name, value, f"Invalid regular expression: {exc}") from None

    def __str__(self) -> str:
        return "a valid regular expression"


@dataclass
class ConfigKey:
    name: str
    type: ConfigType
    default: Any = NO_DEFAULT
    validator: Callable | None = None
    importance: Importance = Importance.MEDIUM
    documentation: str = ""
    group: str | None = None
    order: int = -1
    width: Width = Width.NONE
    display_name: str | None = None
    dependents: list[str] = field(default_factory=list)
    recommender: Callable[[str, dict], list] | None = None

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT

    def info(self) -> dict:
        """ConfigKeyInfo as the REST API shows it."""
        return {"name": self.name, "type": self.type.value, "required": self.required,
                "default_value": None if self.required else to_config_string(self.default, self.type),
                "importance": self.importance.value, "documentation": self.documentation,
                "group": self.group, "order": self.order, "width": self.width.value,
                "display_name": self.display_name or self.name, "dependents": list(self.dependents)}


@dataclass
class ConfigValue:
    """One key's validation result (ConfigValue / ConfigValueInfo)."""
    name: str
    value: Any = None
    recommended_values: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    visible: bool = True

    def info(self, config_type: ConfigType | None = None) -> dict:
        shown = to_config_string(self.value, config_type) if config_type else (
            None if self.value is None else str(self.value))
        return {"name": self.name, "value": shown,
                "recommended_values": [str(v) for v in self.recommended_values],
                "errors": list(self.errors), "visible": self.visible}


class ConfigDef:
    """An ordered set of ConfigKeys."""

    def __init__(self, keys: list[ConfigKey] | None = None):
        self.keys: dict[str, ConfigKey] = {}
        for key in keys or []:
            self.add(key)

    def define(self, name: str, type: ConfigType, default=NO_DEFAULT, validator=None,
               importance: Importance = Importance.MEDIUM, documentation: str = "", **extra) -> "ConfigDef":
        return self.add(ConfigKey(name, type, default, validator, importance, documentation, **extra))

    def add(self, key: ConfigKey) -> "ConfigDef":
        if key.name in self.keys:
            raise ConfigException(f"Configuration {key.name} is defined twice.")
        if key.default is not NO_DEFAULT and key.default is not None:
            key.default = parse_type(key.name, key.default, key.type)
            if key.validator is not None:
                key.validator(key.name, key.default)
        self.keys[key.name] = key
        return self

    def merged(self, other: "ConfigDef") -> "ConfigDef":
        """A new ConfigDef with this one's keys and then the other's that are not already here."""
        out = ConfigDef(list(self.keys.values()))
        for key in other.keys.values():
            if key.name not in out.keys:
                out.keys[key.name] = key
        return out

    def parse(self, props: dict) -> dict:
        """Typed values of every defined key (defaults filled in); the first error raises."""
        values = {}
        for key in self.keys.values():
            values[key.name] = self._parse_value(key, props.get(key.name), key.name in props)
        return values

    def _parse_value(self, key: ConfigKey, raw, is_set: bool):
        if is_set:
            value = parse_type(key.name, raw, key.type)
        elif key.required:
            raise ConfigException(f'Missing required configuration "{key.name}" which has no default value.')
        else:
            value = key.default
        if key.validator is not None and (is_set or value is not None):
            key.validator(key.name, value)
        return value

    def validate(self, props: dict) -> dict[str, ConfigValue]:
        """Every defined key's ConfigValue with all its errors (ConfigDef.validateAll)."""
        results = {}
        for key in self.keys.values():
            result = ConfigValue(key.name)
            try:
                result.value = self._parse_value(key, props.get(key.name), key.name in props)
            except ConfigException as exc:
                result.value = props.get(key.name)
                result.errors.append(str(exc))
            if key.recommender is not None:
                try:
                    result.recommended_values = list(key.recommender(key.name, props))
                except Exception:  # a recommender's failure must not hide the validation
                    pass
            results[key.name] = result
        return results

    def infos(self) -> list[dict]:
        return [key.info() for key in self.keys.values()]


def error_count(values) -> int:
    return sum(len(v.errors) for v in values)
