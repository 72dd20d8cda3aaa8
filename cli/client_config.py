"""Client properties as Kafka's tools take them (`--command-config`, `--producer.config`,
`--consumer.config`, `--producer-property`): kafka_properties' readers, with their errors turned
into usage errors (exit 2)."""

from __future__ import annotations

from kafka_properties import PropertiesError, connection_settings
from kafka_properties import librdkafka_config as _librdkafka_config
from kafka_properties import read_properties as _read_properties

from cli.output import CommandError

EXIT_USAGE = 2

__all__ = ["read_properties", "librdkafka_config", "connection_settings"]


def read_properties(path: str | None) -> dict[str, str]:
    try:
        return _read_properties(path)
    except PropertiesError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def librdkafka_config(properties: dict[str, str]) -> dict[str, str]:
    try:
        return _librdkafka_config(properties)
    except PropertiesError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
