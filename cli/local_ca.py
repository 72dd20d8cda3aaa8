"""A certificate authority kept in a directory, for `schemabus up --secure` and the tests:
a CA, then server and client certificates signed by it, written as PEM files with
`cryptography` (no openssl command needed).

The CA is made on first use and read back afterwards (`ca.pem`, `ca.key` mode 0600), so
clients that trust it keep working across restarts.
"""

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
    key: Path  # its private key (PEM, unencrypted, mode 0600)
    keystore: Path  # key + certificate in one file: Kafka's PEM keystore layout


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner may read (keys, passwords): 0600 before anything is in it."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class LocalCA:
    def __init__(self, directory: Path, name: str = "schemabus local CA", org: str = "schemabus",
                 days: int = 3650, cert_days: int = 825):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.org = org
        self.cert_days = cert_days
        self.ca_file = self.directory / "ca.pem"
        key_file = self.directory / "ca.key"
        if self.ca_file.exists() and key_file.exists():
            self.cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
            self.key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
            return
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(_name(name, org)).issuer_name(_name(name, org))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=days))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        write_private(key_file, _key_pem(self.key))
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, server: bool = False, org: str | None = None,
              hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Issued:
        """A certificate for a server (`hosts` as its subject alternative names) or a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(_name(common_name, org or self.org))
                   .issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=self.cert_days))
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]),
                                            critical=False)
        cert_pem = builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        key_pem = _key_pem(key)
        issued = Issued(self.directory / f"{common_name}.crt", self.directory / f"{common_name}.key",
                        self.directory / f"{common_name}.keystore.pem")
        issued.cert.write_bytes(cert_pem)
        write_private(issued.key, key_pem)
        write_private(issued.keystore, key_pem + cert_pem)
        return issued


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
