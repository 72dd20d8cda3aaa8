"""A throwaway certificate authority for TLS tests: the product's LocalCA (cli/local_ca.py)
in a temporary directory, with short-lived certificates."""

from __future__ import annotations

from pathlib import Path

from cli.local_ca import Issued, LocalCA

__all__ = ["CertificateAuthority", "Issued", "sasl_ssl_listener_configs"]


class CertificateAuthority(LocalCA):
    def __init__(self, directory: Path, name: str = "schemabus test CA"):
        super().__init__(directory, name, org="schemabus tests", days=2, cert_days=1)


_SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


def sasl_ssl_listener_configs(ca: "CertificateAuthority", users: dict[str, str]) -> dict[str, str]:
    """Broker configs, with Kafka's names, of a listener named SASL_SSL: a PEM keystore signed by
    `ca`, and PLAIN users (name -> password). The same dict configures our broker and Apache
    Kafka; each adds the listener to its own `listeners`."""
    server = ca.issue("broker", server=True)
    users_jaas = " ".join(f'user_{name}="{password}"' for name, password in users.items())
    return {"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {users_jaas};",
            # Kafka wants a JAAS entry per mechanism, even one that only names the login module.
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": _SCRAM_JAAS,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": _SCRAM_JAAS,
            "ssl.keystore.type": "PEM", "ssl.keystore.location": str(server.keystore),
            "ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca.ca_file)}
