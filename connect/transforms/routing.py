"""SMTs that change where a record goes or whether it goes at all: RegexRouter, TimestampRouter,
Filter (org.apache.kafka.connect.transforms)."""

from __future__ import annotations

import datetime
import re

from connect import data
from connect.config_def import NO_DEFAULT, ConfigDef, ConfigType, Importance
from connect.errors import ConfigException, DataException
from connect.transforms import java
from connect.transforms.dateformat import DateFormat
from connect.transforms.util import SimpleTransformation


def validate_regex(name, value):
    """Kafka's RegexValidator, for Java patterns as compile_regex reads them."""
    try:
        java.compile_regex(value or "")
    except re.error as exc:
        raise ConfigException(name, value, f"Invalid regex: {exc}") from None


class RegexRouter(SimpleTransformation):
    """Rename the topic when `regex` matches all of it; `replacement` may use `$1` or `${name}`."""
    class_name = "org.apache.kafka.connect.transforms.RegexRouter"
    CONFIG_DEF = (ConfigDef()
                  .define("regex", ConfigType.STRING, NO_DEFAULT, validate_regex, Importance.HIGH,
                          "Regular expression to use for matching.")
                  .define("replacement", ConfigType.STRING, NO_DEFAULT, None, Importance.HIGH, "Replacement string."))

    def configure(self, configs):
        c = self.parse(configs)
        self.regex = java.compile_regex(c["regex"])
        try:
            # Java reads the replacement at each record; reading it once here reports a bad one early.
            self.replacement = java.parse_replacement(c["replacement"], self.regex)
        except ValueError as exc:
            raise ConfigException("replacement", c["replacement"], str(exc)) from None

    def apply(self, record):
        if record.topic is None or not self.regex.fullmatch(record.topic):
            return record
        # Java's Matcher.replaceFirst after matches(): the first match found from the start is replaced.
        topic = self.regex.sub(lambda m: java.expand(self.replacement, m), record.topic, count=1)
        return record.new_record(topic=topic)


class TimestampRouter(SimpleTransformation):
    """Topic from `topic.format` with ${topic} and ${timestamp} (the record time in UTC, formatted)."""
    class_name = "org.apache.kafka.connect.transforms.TimestampRouter"
    CONFIG_DEF = (ConfigDef()
                  .define("topic.format", ConfigType.STRING, "${topic}-${timestamp}", None, Importance.HIGH,
                          "Format string which can contain <code>${topic}</code> and <code>${timestamp}</code> as "
                          "placeholders for the topic and timestamp, respectively.")
                  .define("timestamp.format", ConfigType.STRING, "yyyyMMdd", None, Importance.HIGH,
                          "Format string for the timestamp that is compatible with "
                          "<code>java.text.SimpleDateFormat</code>."))

    def configure(self, configs):
        c = self.parse(configs)
        self.topic_format = c["topic.format"]
        try:
            self.timestamp_format = DateFormat(c["timestamp.format"])
        except ValueError as exc:
            raise ConfigException("timestamp.format", c["timestamp.format"], str(exc)) from None

    def apply(self, record):
        if record.timestamp is None:
            raise DataException(f"Timestamp missing on record: {record}")
        moment = data.EPOCH_DT + datetime.timedelta(milliseconds=record.timestamp)
        # Replaced in Kafka's order: a topic containing "${timestamp}" gets it replaced too.
        topic = self.topic_format.replace("${topic}", record.topic)
        topic = topic.replace("${timestamp}", self.timestamp_format.format(moment))
        return record.new_record(topic=topic)


class Filter(SimpleTransformation):
    """Drops every record: meant to run under a predicate."""
    class_name = "org.apache.kafka.connect.transforms.Filter"

    def configure(self, configs):
        pass

    def apply(self, record):
        return None
