"""How the registry reaches Kafka: Confluent's `kafkastore.*` settings turned into the librdkafka
settings every Kafka client the registry creates takes (the store's producer, reader and admin
client, the election's consumer and admin client), and the TLS context of the ApiVersions probe.

Confluent's registry takes a Java client's properties under `kafkastore.`:
`kafkastore.security.protocol`, `kafkastore.sasl.mechanism`, `kafkastore.sasl.jaas.config`,
`kafkastore.ssl.truststore.location`, `kafkastore.ssl.keystore.location`,
`kafkastore.ssl.endpoint.identification.algorithm`, ... kafka_properties translates them (PEM stores
only); librdkafka's own names (`kafkastore.ssl.ca.location`, ...) pass as they are.
"""

from __future__ import annotations

import os
import ssl
import tempfile

from kafka_properties import PropertiesError, librdkafka_config

PREFIX = "kafkastore."
BOOTSTRAP = PREFIX + "bootstrap.servers"
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# The client settings that say how to connect; the rest of kafkastore.* (topic, timeouts, ...) is
# the registry's own.
_CLIENT_PREFIXES = ("security.protocol", "ssl.", "sasl.", "enable.ssl.", "enable.sasl.")


def client_settings(properties: dict[str, str]) -> dict[str, str]:
    """librdkafka settings from the `kafkastore.*` properties (ValueError when unusable)."""
    java = {key[len(PREFIX):]: value for key, value in properties.items()
            if key.startswith(PREFIX) and key[len(PREFIX):].startswith(_CLIENT_PREFIXES)}
    if "security.protocol" in java:
        protocol = java["security.protocol"].strip().upper()
        if protocol not in PROTOCOLS:
            raise ValueError(f"kafkastore.security.protocol must be one of {', '.join(PROTOCOLS)}, "
                             f"not {java['security.protocol']!r}")
        java["security.protocol"] = protocol
    try:
        return librdkafka_config(java)
    except PropertiesError as exc:  # its messages start with the (unprefixed) property name
        raise ValueError(f"{PREFIX}{exc}") from None


def split_bootstrap(servers: str) -> tuple[str, str | None]:
    """Confluent's `kafkastore.bootstrap.servers` may name the protocol (`SASL_SSL://host:9093`):
    (host:port list for librdkafka, the protocol named, if any)."""
    hosts, protocols = [], set()
    for server in servers.split(","):
        server = server.strip()
        if not server:
            continue
        protocol, sep, address = server.rpartition("://")
        if sep:
            protocols.add(protocol.upper())
        hosts.append(address)
    if len(protocols) > 1:
        raise ValueError(f"kafkastore.bootstrap.servers names several security protocols: {sorted(protocols)}")
    protocol = protocols.pop() if protocols else None
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"kafkastore.bootstrap.servers: unknown security protocol {protocol!r}")
    return ",".join(hosts), protocol


def resolve(bootstrap: str | None, properties: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(bootstrap servers, librdkafka connection settings) from the flag and the properties."""
    servers = bootstrap or properties.get(BOOTSTRAP)
    if not servers:
        raise ValueError("no Kafka to keep the schemas in: give --bootstrap-server or kafkastore.bootstrap.servers")
    servers, named = split_bootstrap(servers)
    settings = client_settings(properties)
    if named is not None and named != "PLAINTEXT":
        settings.setdefault("security.protocol", named)
    return servers, settings


def uses_tls(settings: dict[str, str]) -> bool:
    return settings.get("security.protocol", "PLAINTEXT").upper() in ("SSL", "SASL_SSL")


def probe_tls_context(settings: dict[str, str]) -> ssl.SSLContext:
    """A client TLS context from librdkafka settings, for the registry's own ApiVersions probe: the
    same CA, client certificate and hostname check as its Kafka clients use."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if settings.get("ssl.ca.location"):
        context.load_verify_locations(cafile=settings["ssl.ca.location"])
    if settings.get("ssl.ca.pem"):
        context.load_verify_locations(cadata=settings["ssl.ca.pem"])
    password = settings.get("ssl.key.password") or None
    if settings.get("ssl.certificate.location"):
        context.load_cert_chain(settings["ssl.certificate.location"], settings.get("ssl.key.location"), password)
    elif settings.get("ssl.certificate.pem") and settings.get("ssl.key.pem"):
        _load_inline_chain(context, settings["ssl.certificate.pem"], settings["ssl.key.pem"], password)
    if settings.get("ssl.endpoint.identification.algorithm", "https").lower() == "none":
        context.check_hostname = False
    return context


def _load_inline_chain(context: ssl.SSLContext, cert_pem: str, key_pem: str, password: str | None) -> None:
    # ssl loads a chain from files only: a private temporary file, removed at once.
    fd, path = tempfile.mkstemp(prefix="schemabus-probe-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(key_pem.strip() + "\n" + cert_pem.strip() + "\n")
        context.load_cert_chain(path, password=password)
    finally:
        os.unlink(path)
