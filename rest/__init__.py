"""The REST Proxy: Confluent kafka-rest's HTTP API over any Kafka broker and the schema registry
(issue 17). A Flask app (app.py) with one blueprint per API family (routes/), Kafka clients shared
by all requests (kafka.py), served by waitress (server.py). docs/design/rest-proxy.md holds the
facts about kafka-rest it follows.
"""
