"""REST API v1 blueprints, one per Confluent resource."""
