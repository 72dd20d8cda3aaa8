"""Kafka's predicates (org.apache.kafka.connect.transforms.predicates): conditions under which a
transform runs (`transforms.<t>.predicate`, optionally negated)."""

from __future__ import annotations

import re

from connect.api import Predicate
from connect.config_def import NO_DEFAULT, ConfigDef, ConfigType, Importance, NonEmptyString
from connect.errors import ConfigException
from connect.transforms import java
from connect.transforms.routing import validate_regex
from connect.transforms.util import VERSION

PACKAGE = "org.apache.kafka.connect.transforms.predicates."


class _KafkaPredicate(Predicate):
    abstract_plugin = True
    CONFIG_DEF = ConfigDef()

    def config(self) -> ConfigDef:
        return self.CONFIG_DEF

    def version(self) -> str:
        return VERSION


def _validate_pattern(name, value):
    NonEmptyString()(name, value)
    validate_regex(name, value)


class TopicNameMatches(_KafkaPredicate):
    """True for records whose whole topic name matches `pattern`."""
    class_name = PACKAGE + "TopicNameMatches"
    CONFIG_DEF = ConfigDef().define("pattern", ConfigType.STRING, NO_DEFAULT, _validate_pattern, Importance.MEDIUM,
                                    "A Java regular expression for matching against the name of a record's topic.")

    def configure(self, configs):
        value = self.CONFIG_DEF.parse(configs)["pattern"]
        try:
            self.pattern = java.compile_regex(value)
        except re.error as exc:
            raise ConfigException("pattern", value,
                                  f"entry must be a Java-compatible regular expression: {exc}") from None

    def test(self, record) -> bool:
        return record.topic is not None and self.pattern.fullmatch(record.topic) is not None

    def __repr__(self) -> str:
        return f"TopicNameMatches{{pattern={self.pattern.pattern}}}"


class HasHeaderKey(_KafkaPredicate):
    """True for records with at least one header named `name`."""
    class_name = PACKAGE + "HasHeaderKey"
    CONFIG_DEF = ConfigDef().define("name", ConfigType.STRING, NO_DEFAULT, NonEmptyString(), Importance.MEDIUM,
                                    "The header name.")

    def configure(self, configs):
        self.name = self.CONFIG_DEF.parse(configs)["name"]

    def test(self, record) -> bool:
        return any(h.key == self.name for h in record.headers)

    def __repr__(self) -> str:
        return f"HasHeaderKey{{name='{self.name}'}}"


class RecordIsTombstone(_KafkaPredicate):
    """True for records whose value is null."""
    class_name = PACKAGE + "RecordIsTombstone"

    def test(self, record) -> bool:
        return record.value is None

    def __repr__(self) -> str:
        return "RecordIsTombstone{}"
