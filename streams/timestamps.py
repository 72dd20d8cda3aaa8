"""Timestamp extractors (Kafka's TimestampExtractor implementations, by name): which time a
record counts at. A negative result from an extractor means: skip the record."""

from __future__ import annotations

import logging
import time
from typing import Callable

from streams.errors import StreamsException

log = logging.getLogger("streams.timestamps")


def fail_on_invalid(msg, partition_time: int) -> int:
    timestamp = msg.timestamp()[1]
    if timestamp < 0:
        raise StreamsException(f"Input record of topic {msg.topic()} partition {msg.partition()} offset "
                               f"{msg.offset()} has invalid (negative) timestamp {timestamp}. Use a different "
                               "TimestampExtractor to process this data.")
    return timestamp


def log_and_skip_on_invalid(msg, partition_time: int) -> int:
    timestamp = msg.timestamp()[1]
    if timestamp < 0:
        log.warning("Input record of topic %s partition %d offset %d will be dropped because it has an invalid "
                    "(negative) timestamp.", msg.topic(), msg.partition(), msg.offset())
    return timestamp


def use_partition_time_on_invalid(msg, partition_time: int) -> int:
    timestamp = msg.timestamp()[1]
    if timestamp >= 0:
        return timestamp
    if partition_time < 0:
        raise StreamsException("Could not infer new timestamp for input record because partition time is unknown.")
    return partition_time


def wallclock(msg, partition_time: int) -> int:
    return int(time.time() * 1000)


_BY_NAME = {
    "failoninvalidtimestamp": fail_on_invalid,
    "logandskiponinvalidtimestamp": log_and_skip_on_invalid,
    "usepartitiontimeoninvalidtimestamp": use_partition_time_on_invalid,
    "wallclocktimestampextractor": wallclock,
}


class TimestampExtractor:
    @staticmethod
    def of(value) -> Callable:
        """A function (msg, partition_time) -> timestamp, or Kafka's class name of one."""
        if callable(value):
            return value
        name = str(value).rsplit(".", 1)[-1].lower()
        if name not in _BY_NAME:
            raise StreamsException(f"unknown timestamp extractor {value!r}")
        return _BY_NAME[name]
