"""Prometheus metrics over HTTP, shared by every schemabus service.

`requests` counts and times the HTTP requests of the Flask services (registry, REST Proxy,
Connect) with the URL rule as the endpoint label; `exposition` answers `/metrics` (inside a
service's WSGI stack, or on a port of its own for the broker). A leaf package: it imports only
prometheus_client and werkzeug, so every service may use it.
"""
