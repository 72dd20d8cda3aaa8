"""Kafka timestamps (epoch milliseconds) to and from the ISO-8601 text v3 uses."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_to_ms(text: str) -> int:
    """ISO-8601 (`2021-02-05T19:14:42Z`, offsets and fractions too; no zone is UTC) -> epoch
    milliseconds; ValueError when it is not ISO-8601."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


class IsoMillis:
    """Epoch milliseconds -> `2021-02-05T19:14:42.123Z`, the date part formatted once per second
    (records of one second share it: the per-record paths format only the milliseconds)."""

    def __init__(self):
        self._second = None
        self._second_text = ""

    def __call__(self, ms: int) -> str:
        second, millis = divmod(ms, 1000)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{millis:03d}Z"
