"""Broker and topic configs: Kafka names, synonyms, defaults, validation."""

import pytest

from broker.config import SOURCE_DEFAULT, SOURCE_STATIC_BROKER, SOURCE_TOPIC, BrokerConfig, ConfigError, \
    parse_key_values, validate_topic_configs


def test_topic_config_falls_back_to_broker_synonym_then_default():
    config = BrokerConfig({"log.retention.ms": "1000"})
    assert config.topic_value({}, "retention.ms") == (1000, SOURCE_STATIC_BROKER)
    assert config.topic_value({"retention.ms": "5"}, "retention.ms") == (5, SOURCE_TOPIC)
    assert config.topic_value({}, "segment.bytes") == (1073741824, SOURCE_DEFAULT)


def test_log_config_maps_kafka_names():
    log_config = BrokerConfig().log_config({"cleanup.policy": "compact,delete", "retention.ms": "-1",
                                            "segment.bytes": "4096"})
    assert log_config.cleanup_policy == frozenset({"compact", "delete"})
    assert log_config.retention_ms == -1 and log_config.segment_bytes == 4096
    assert log_config.delete_retention_ms == 86400000


def test_retention_hours_spelling():
    assert BrokerConfig({"log.retention.hours": "2"})["log.retention.ms"] == 7200000


@pytest.mark.parametrize("configs", [
    {"no.such.config": "1"}, {"cleanup.policy": "shred"}, {"segment.bytes": "many"},
    {"message.timestamp.type": "Whenever"}, {"min.insync.replicas": "0"},
])
def test_invalid_topic_configs(configs):
    with pytest.raises(ConfigError):
        validate_topic_configs(configs)


def test_unknown_broker_config_and_bad_pairs():
    with pytest.raises(ConfigError):
        BrokerConfig({"no.such": "1"})
    with pytest.raises(ConfigError):
        parse_key_values(["novalue"])
    assert parse_key_values(["a=b=c"]) == {"a": "b=c"}
