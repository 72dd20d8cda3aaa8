"""Kafka Connect in Python: a worker (standalone or distributed) with Kafka Connect's REST API,
internal-topic layouts and group protocol, the connector API for Python authors, converters
(including the registry's formats), single message transforms, and the FileStream and JDBC
connectors. See docs/design/connect.md for the facts it follows."""
