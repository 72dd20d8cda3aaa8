"""The registry client's settings as Confluent's console tools and serializers take them
(`--property`, the `--producer.config` / `--consumer.config` files, `schemabus ... --registry-config`):

    schema.registry.url
    basic.auth.credentials.source            USER_INFO, URL or SASL_INHERIT
    schema.registry.basic.auth.user.info     user:password (also basic.auth.user.info)
    bearer.auth.credentials.source           STATIC_TOKEN, with bearer.auth.token
    schema.registry.ssl.truststore.location  PEM CA certificates (Java's name; or ...ssl.ca.location)
    schema.registry.ssl.keystore.location    PEM key and certificate chain (or ...ssl.certificate.location
                                             and ...ssl.key.location), schema.registry.ssl.key.password

Java's TLS names go through kafka_properties (PEM stores only), as the Kafka client's do.
"""

from __future__ import annotations

from kafka_properties import PropertiesError, librdkafka_config

from cli.output import CommandError

EXIT_USAGE = 2
_PREFIX = "schema.registry."
_AUTH = ("basic.auth.credentials.source", "basic.auth.user.info", "bearer.auth.credentials.source",
         "bearer.auth.token", "bearer.auth.logical.cluster", "bearer.auth.identity.pool.id")
_TLS_OUT = ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password")


def is_registry_property(key: str) -> bool:
    return key.startswith(_PREFIX) or key in _AUTH


def split_registry_properties(properties: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the registry client's properties, the rest) of a client properties file."""
    registry = {k: v for k, v in properties.items() if is_registry_property(k)}
    return registry, {k: v for k, v in properties.items() if k not in registry}


def registry_client_conf(properties: dict[str, str], url: str | None = None,
                         kafka_conf: dict[str, str] | None = None) -> dict[str, str]:
    """Our registry client's conf from Confluent's serializer property names."""
    conf = {"url": url or properties.get(_PREFIX + "url", "")}
    for key in _AUTH:
        value = properties.get(_PREFIX + key, properties.get(key))
        if value is not None:
            conf[key] = value
    if conf.get("basic.auth.credentials.source", "").upper() == "SASL_INHERIT":
        for key in ("sasl.username", "sasl.password"):  # the Kafka client's, from its sasl.jaas.config
            if (kafka_conf or {}).get(key):
                conf[key] = kafka_conf[key]
    java_tls = {k[len(_PREFIX):]: v for k, v in properties.items() if k.startswith(_PREFIX + "ssl.")}
    try:
        tls = librdkafka_config(java_tls)
    except PropertiesError as exc:
        raise CommandError(f"{_PREFIX}{exc}", EXIT_USAGE) from None
    conf.update({k: v for k, v in tls.items() if k in _TLS_OUT})
    return conf
