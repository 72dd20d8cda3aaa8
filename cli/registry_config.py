"""`schemabus registry`'s properties as Confluent's `schema-registry-start` takes them: a
properties file, then `--config KEY=VALUE` overrides."""

from __future__ import annotations

from cli.client_config import read_properties
from cli.output import CommandError

EXIT_USAGE = 2


def registry_properties(path: str | None, overrides: list[str] | None) -> dict[str, str]:
    properties = read_properties(path)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--config expects KEY=VALUE, not {item!r}", EXIT_USAGE)
        properties[key.strip()] = value
    return properties
