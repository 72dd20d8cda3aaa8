"""Kafka's single message transforms and predicates, under Kafka's class names (e.g.
`org.apache.kafka.connect.transforms.InsertField$Value`), and the chain a connector config
describes. Importing this package is what registers them as built-in plugins."""

from connect.transforms.cast import Cast, SetSchemaMetadata
from connect.transforms.fields import ExtractField, HoistField, InsertField, MaskField, ReplaceField, ValueToKey
from connect.transforms.flatten import Flatten
from connect.transforms.headers import DropHeaders, HeaderFrom, InsertHeader
from connect.transforms.predicates import HasHeaderKey, RecordIsTombstone, TopicNameMatches
from connect.transforms.routing import Filter, RegexRouter, TimestampRouter
from connect.transforms.timestamps import TimestampConverter

__all__ = ["Cast", "DropHeaders", "ExtractField", "Filter", "Flatten", "HasHeaderKey", "HeaderFrom", "HoistField",
           "InsertField", "InsertHeader", "MaskField", "RecordIsTombstone", "RegexRouter", "ReplaceField",
           "SetSchemaMetadata", "TimestampConverter", "TimestampRouter", "TopicNameMatches", "ValueToKey"]
