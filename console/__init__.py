"""The web console: server-rendered pages (Jinja + htmx) over the platform's own APIs: the Kafka
Admin API (any broker: ours or Apache Kafka), the Schema Registry's REST API, Kafka Connect's REST
API and the REST Proxy's. It keeps no state of its own."""
