"""Connectors shipped with schemabus: FileStream (Kafka's example pair) and JDBC."""
