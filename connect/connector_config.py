"""The framework's own connector config keys (ConnectorConfig, SourceConnectorConfig,
SinkConnectorConfig): what every connector config has besides the connector's keys."""

from __future__ import annotations

import re

from connect.config_def import ConfigDef, ConfigType, Importance, Range, ValidString
from connect.errors import ConfigException

COMMON_GROUP, TRANSFORMS_GROUP, ERROR_GROUP = "Common", "Transforms", "Error Handling"


def common_config_def() -> ConfigDef:
    d = ConfigDef()
    d.define("name", ConfigType.STRING, validator=_non_empty_name, importance=Importance.HIGH,
             documentation="Globally unique name to use for this connector.", group=COMMON_GROUP, order=1,
             display_name="Connector name")
    d.define("connector.class", ConfigType.STRING, importance=Importance.HIGH,
             documentation="Name or alias of the class for this connector.", group=COMMON_GROUP, order=2,
             display_name="Connector class")
    d.define("tasks.max", ConfigType.INT, 1, Range.at_least(1), Importance.HIGH,
             "Maximum number of tasks to use for this connector.", group=COMMON_GROUP, order=3,
             display_name="Tasks max")
    d.define("tasks.max.enforce", ConfigType.BOOLEAN, True, None, Importance.LOW,
             "Fail the connector if it generates more task configs than tasks.max.", group=COMMON_GROUP, order=4)
    for order, side in ((5, "key"), (6, "value")):
        d.define(f"{side}.converter", ConfigType.CLASS, None, None, Importance.LOW,
                 f"Converter class used for the record {side}s; the worker's when unset.", group=COMMON_GROUP,
                 order=order)
    d.define("header.converter", ConfigType.CLASS, None, None, Importance.LOW,
             "HeaderConverter class used for record headers; the worker's when unset.", group=COMMON_GROUP, order=7)
    d.define("config.action.reload", ConfigType.STRING, "restart", ValidString.in_("none", "restart",
                                                                                    case_insensitive=True),
             Importance.LOW, "The action that Connect should take on the connector when changes in external "
             "configuration providers result in a change in the connector's configuration properties.",
             group=COMMON_GROUP, order=8)
    d.define("transforms", ConfigType.LIST, [], None, Importance.LOW,
             "Aliases for the transformations to be applied to records.", group=TRANSFORMS_GROUP, order=0)
    d.define("predicates", ConfigType.LIST, [], None, Importance.LOW,
             "Aliases for the predicates used by transformations.", group="Predicates", order=0)
    d.define("errors.retry.timeout", ConfigType.LONG, 0, None, Importance.MEDIUM,
             "The maximum duration in milliseconds that a failed operation will be reattempted. -1 for infinite.",
             group=ERROR_GROUP, order=1)
    d.define("errors.retry.delay.max.ms", ConfigType.LONG, 60000, None, Importance.MEDIUM,
             "The maximum duration in milliseconds between consecutive retry attempts.", group=ERROR_GROUP, order=2)
    d.define("errors.tolerance", ConfigType.STRING, "none", ValidString.in_("none", "all", case_insensitive=True),
             Importance.MEDIUM, "Behavior for tolerating errors during connector operation.", group=ERROR_GROUP,
             order=3)
    d.define("errors.log.enable", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
             "If true, write each error and the details of the failed operation and problematic record to the "
             "Connect application log.", group=ERROR_GROUP, order=4)
    d.define("errors.log.include.messages", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
             "Whether to include in the log the Connect record that resulted in a failure.", group=ERROR_GROUP,
             order=5)
    return d


def _non_empty_name(name, value):
    if value is None or not value.strip():
        raise ConfigException(name, value, "String may not be empty")
    if any(ord(c) < 0x20 for c in value):
        raise ConfigException(name, value, "String may not contain control sequences")


def sink_config_def() -> ConfigDef:
    d = common_config_def()
    d.define("topics", ConfigType.LIST, [], None, Importance.HIGH,
             "List of topics to consume, separated by commas", group=COMMON_GROUP, order=4)
    d.define("topics.regex", ConfigType.STRING, "", _valid_regex, Importance.HIGH,
             "Regular expression giving topics to consume.", group=COMMON_GROUP, order=4)
    d.define("errors.deadletterqueue.topic.name", ConfigType.STRING, "", None, Importance.MEDIUM,
             "The name of the topic to be used as the dead letter queue (DLQ) for messages that result in an error "
             "when processed by this sink connector, or its transformations or converters.", group=ERROR_GROUP, order=6)
    d.define("errors.deadletterqueue.topic.replication.factor", ConfigType.SHORT, 3, None, Importance.MEDIUM,
             "Replication factor used to create the dead letter queue topic when it doesn't already exist.",
             group=ERROR_GROUP, order=7)
    d.define("errors.deadletterqueue.context.headers.enable", ConfigType.BOOLEAN, False, None, Importance.MEDIUM,
             "If true, add headers containing error context to the messages written to the dead letter queue.",
             group=ERROR_GROUP, order=8)
    return d


def source_config_def() -> ConfigDef:
    d = common_config_def()
    d.define("exactly.once.support", ConfigType.STRING, "requested", ValidString.in_("requested", "required",
                                                                                      case_insensitive=True),
             Importance.MEDIUM, "Permitted values are requested, required.", group="Exactly Once Support", order=1)
    d.define("transaction.boundary", ConfigType.STRING, "poll", ValidString.in_("poll", "interval", "connector",
                                                                                 case_insensitive=True),
             Importance.MEDIUM, "Permitted values are: poll, interval, connector.", group="Exactly Once Support",
             order=2)
    d.define("offsets.storage.topic", ConfigType.STRING, None, None, Importance.LOW,
             "The name of a separate offsets topic to use for this connector.", group="offsets.storage", order=1)
    return d


def _valid_regex(name, value):
    try:
        re.compile(value or "")
    except re.error as exc:
        raise ConfigException(name, value, f"Invalid regex: {exc}") from None


def sink_problems(props: dict) -> dict[str, str]:
    """Cross-key rules for sinks (SinkConnectorConfig.validate)."""
    topics = [t.strip() for t in (props.get("topics") or "").split(",") if t.strip()]
    regex = (props.get("topics.regex") or "").strip()
    problems = {}
    if topics and regex:
        message = ("topics and topics.regex are mutually exclusive options, but both are set.")
        problems["topics"] = problems["topics.regex"] = message
    elif not topics and not regex:
        message = "Must configure one of topics or topics.regex"
        problems["topics"] = problems["topics.regex"] = message
    dlq = (props.get("errors.deadletterqueue.topic.name") or "").strip()
    if dlq and dlq in topics:
        problems["errors.deadletterqueue.topic.name"] = (
            f"The DLQ topic '{dlq}' may not be included in the list of topics ('topics'='{','.join(topics)}') "
            "consumed by the connector")
    return problems
