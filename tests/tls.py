"""A throwaway certificate authority for TLS tests: a CA, then server and client certificates
signed by it, written as PEM files (`cryptography`, no openssl command needed)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Issued:
    cert: Path  # the certificate (PEM)
    key: Path  # its private key (PEM, unencrypted)
    keystore: Path  # key + certificate in one file: Kafka's PEM keystore layout


def _name(common_name: str, org: str = "schemabus tests") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PT"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class CertificateAuthority:
    def __init__(self, directory: Path, name: str = "schemabus test CA"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, server: bool = False, org: str = "schemabus tests") -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(_name(common_name, org)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        issued = Issued(self.directory / f"{common_name}.crt", self.directory / f"{common_name}.key",
                        self.directory / f"{common_name}.keystore.pem")
        issued.cert.write_bytes(cert_pem)
        issued.key.write_bytes(key_pem)
        issued.keystore.write_bytes(key_pem + cert_pem)
        for path in (issued.key, issued.keystore):
            path.chmod(0o600)
        return issued


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
