"""Converters: Connect data <-> the bytes in Kafka records (Kafka's and Confluent's names)."""
