"""Java properties files: `key=value` (or `key: value`) lines, `#`/`!` comments."""

from __future__ import annotations

import re
from pathlib import Path

from kafka_properties.errors import PropertiesError

_LINE = re.compile(r"([^=:\s]+)\s*[=:]\s*(.*)\Z")


def read_properties(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise PropertiesError(f"cannot read {path}: {exc.strerror}") from None
    out = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        found = _LINE.match(line)
        if found is None:
            raise PropertiesError(f"{path}: expected key=value, got {line!r}")
        key, value = found.groups()
        out[key] = value
    return out
