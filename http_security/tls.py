"""The TLS of an https listener from Confluent's `ssl.*` properties (the registry's and kafka-rest's
names): `ssl.keystore.location` / `.password` / `.type`, `ssl.key.password`, `ssl.truststore.location` /
`.type`, `ssl.client.authentication` (NONE/REQUESTED/REQUIRED, or the older `ssl.client.auth=true`).

Stores are PEM (`ssl.keystore.type=PEM`, the default here): the keystore holds the private key and
its certificate chain, the truststore the CA certificates client certificates are checked against.
A JKS or PKCS12 store stops the start with how to convert it.
"""

from __future__ import annotations

import ssl

CLIENT_AUTH = {"NONE": ssl.CERT_NONE, "REQUESTED": ssl.CERT_OPTIONAL, "REQUIRED": ssl.CERT_REQUIRED}
_CONVERT = {"JKS": "keytool -importkeystore -srckeystore STORE.jks -destkeystore STORE.p12 -deststoretype PKCS12, "
                   "then openssl pkcs12 -in STORE.p12 -nodes -out STORE.pem",
            "PKCS12": "openssl pkcs12 -in STORE.p12 -nodes -out STORE.pem"}


def client_auth(properties: dict[str, str]) -> int:
    """ssl.client.authentication (NONE/REQUESTED/REQUIRED), else the older ssl.client.auth boolean."""
    value = properties.get("ssl.client.authentication")
    if value is None:
        older = properties.get("ssl.client.auth", "false").strip().lower()
        if older not in ("true", "false"):
            raise ValueError(f"ssl.client.auth must be true or false, not {older!r}")
        return ssl.CERT_REQUIRED if older == "true" else ssl.CERT_NONE
    mode = CLIENT_AUTH.get(value.strip().upper())
    if mode is None:
        raise ValueError(f"ssl.client.authentication must be NONE, REQUESTED or REQUIRED, not {value!r}")
    return mode


def _require_pem(properties: dict[str, str], kind: str) -> None:
    store_type = properties.get(f"ssl.{kind}.type", "PEM").strip().upper()
    if store_type != "PEM":
        how = _CONVERT.get(store_type, "convert it to PEM")
        raise ValueError(f"ssl.{kind}.location: a {store_type} {kind} cannot be read here; set ssl.{kind}.type=PEM "
                         f"with a PEM file (convert: {how})")


def server_tls_context(properties: dict[str, str]) -> ssl.SSLContext:
    """The TLS context of the https listeners (ValueError naming the property when unusable)."""
    keystore = properties.get("ssl.keystore.location")
    if not keystore:
        raise ValueError("an https listener needs ssl.keystore.location (a PEM file: private key and certificate "
                         "chain)")
    _require_pem(properties, "keystore")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # For a PEM keystore the key's password is ssl.key.password; Confluent's images also set the
    # keystore password to the same value, so that is tried as well.
    password = properties.get("ssl.key.password") or properties.get("ssl.keystore.password") or None
    try:
        context.load_cert_chain(keystore, password=password)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"ssl.keystore.location: cannot load the key and certificate chain from {keystore}: "
                         f"{exc.strerror or exc}") from None
    context.verify_mode = client_auth(properties)
    truststore = properties.get("ssl.truststore.location")
    if truststore:
        _require_pem(properties, "truststore")
        try:
            context.load_verify_locations(cafile=truststore)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"ssl.truststore.location: cannot load CA certificates from {truststore}: "
                             f"{exc.strerror or exc}") from None
    elif context.verify_mode != ssl.CERT_NONE:
        raise ValueError("ssl.client.authentication REQUESTED/REQUIRED needs ssl.truststore.location (PEM CA "
                         "certificates to check client certificates against)")
    return context
