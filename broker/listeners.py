"""Listeners as Kafka configures them: `listeners`, `listener.security.protocol.map`,
`advertised.listeners`, and the TLS settings (`ssl.*`, or `listener.name.<name>.ssl.*` for one
listener).

A listener whose protocol or settings this broker cannot serve is a start-up error, never
plaintext. SASL_PLAINTEXT and SASL_SSL listeners authenticate every connection (broker/sasl/).
Only PEM key and trust stores are read (`ssl.keystore.type=PEM`, Kafka's PEM support):
a key and certificate chain in one file (`ssl.keystore.location`) or inline
(`ssl.keystore.certificate.chain` / `ssl.keystore.key`), CA certificates in a file
(`ssl.truststore.location`) or inline (`ssl.truststore.certificates`).
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from dataclasses import dataclass

from broker.config import BrokerConfig, ConfigError
from broker.sasl.listener import ListenerSasl

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
ANONYMOUS = "User:ANONYMOUS"
_ENDPOINT = re.compile(r"(?:([A-Za-z0-9_]+)://)?(\[[^\]]*\]|[^:,/]*):(\d+)\Z")
_TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


@dataclass
class Listener:
    name: str
    protocol: str
    host: str
    port: int  # 0 until bound when configured as :0
    advertised_host: str | None = None  # from advertised.listeners; None: the bound address
    advertised_port: int | None = None
    tls: ssl.SSLContext | None = None
    principal_rules: "PrincipalMapper | None" = None
    sasl: ListenerSasl | None = None

    def advertised(self) -> tuple[str, int]:
        host = self.advertised_host or self.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        return host, self.advertised_port or self.port


def parse_endpoints(text: str, what: str) -> list[tuple[str, str, int]]:
    """'NAME://host:port,...' (a bare 'host:port' is PLAINTEXT) -> [(name, host, port)]."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        found = _ENDPOINT.match(item)
        if found is None:
            raise ConfigError(f"Invalid {what} entry {item!r}: expected NAME://host:port")
        name, host, port = found.group(1) or "PLAINTEXT", found.group(2).strip("[]"), int(found.group(3))
        if any(existing[0] == name.upper() for existing in out):
            raise ConfigError(f"Each listener must have a different name; {name} appears twice in {what}")
        out.append((name.upper(), host or "0.0.0.0", port))
    if not out:
        raise ConfigError(f"{what} is empty")
    return out


def protocol_map(text: str) -> dict[str, str]:
    out = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, protocol = item.partition(":")
        if not sep or not name or not protocol:
            raise ConfigError(f"Invalid listener.security.protocol.map entry {item!r}: expected NAME:PROTOCOL")
        if protocol.upper() not in PROTOCOLS:
            raise ConfigError(f"Invalid security protocol {protocol} for listener {name} "
                              f"(one of {', '.join(PROTOCOLS)})")
        out[name.upper()] = protocol.upper()
    return out


def configure(config: BrokerConfig, listen: str) -> list[Listener]:
    """The listeners to serve: `listeners` when set, else `--listen`; ConfigError when one cannot
    be served as configured."""
    text = config["listeners"] if "listeners" in config.explicit else listen
    protocols = protocol_map(config["listener.security.protocol.map"])
    listeners = []
    for name, host, port in parse_endpoints(text, "listeners"):
        protocol = protocols.get(name)
        if protocol is None:
            raise ConfigError(f"No security protocol defined for listener {name}: add {name}:<protocol> to "
                              "listener.security.protocol.map")
        listener = Listener(name, protocol, host, port)
        if protocol in TLS_PROTOCOLS:
            listener.tls = server_context(config, name)
            listener.principal_rules = PrincipalMapper(listener_value(config, name, "ssl.principal.mapping.rules"))
        if protocol in SASL_PROTOCOLS:
            listener.sasl = ListenerSasl(config, name)
        listeners.append(listener)
    by_name = {listener.name: listener for listener in listeners}
    if config["advertised.listeners"]:
        for name, host, port in parse_endpoints(config["advertised.listeners"], "advertised.listeners"):
            if name not in by_name:
                raise ConfigError(f"advertised.listeners names {name}, which is not in listeners")
            by_name[name].advertised_host, by_name[name].advertised_port = host, port
    inter_broker = config["inter.broker.listener.name"]
    if inter_broker and inter_broker.upper() not in by_name:
        raise ConfigError(f"inter.broker.listener.name {inter_broker} is not a listener")
    return listeners


def listener_value(config: BrokerConfig, listener: str, name: str):
    """`listener.name.<listener>.<name>` when set, else the broker-wide `<name>`."""
    return config.listener_override(listener, name, config[name])


# -- TLS -------------------------------------------------------------------------------------


def server_context(config: BrokerConfig, listener: str) -> ssl.SSLContext:
    def value(name):
        return listener_value(config, listener, name)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    versions = [v for v in value("ssl.enabled.protocols") if v in _TLS_VERSIONS]
    if not versions:
        raise ConfigError(f"ssl.enabled.protocols of listener {listener} names no supported version "
                          f"({', '.join(_TLS_VERSIONS)})")
    context.minimum_version = min(_TLS_VERSIONS[v] for v in versions)
    context.maximum_version = max(_TLS_VERSIONS[v] for v in versions)
    if value("ssl.cipher.suites"):
        try:
            context.set_ciphers(":".join(value("ssl.cipher.suites")))
        except ssl.SSLError as exc:
            raise ConfigError(f"ssl.cipher.suites of listener {listener}: {exc}") from None
    _load_keystore(context, listener, value)
    _load_truststore(context, listener, value)
    context.verify_mode = _CLIENT_AUTH[value("ssl.client.auth")]
    # No TLS 1.3 session tickets: Kafka clients do not resume sessions, and a ticket arriving on an
    # idle connection makes kafka-python drop it ("Socket EVENT_READ without in-flight-requests",
    # dpkp/kafka-python#2369).
    context.num_tickets = 0
    if context.verify_mode != ssl.CERT_NONE and not context.get_ca_certs():
        raise ConfigError(f"ssl.client.auth={value('ssl.client.auth')} on listener {listener} needs a "
                          "truststore (ssl.truststore.location or ssl.truststore.certificates)")
    return context


def _load_keystore(context: ssl.SSLContext, listener: str, value) -> None:
    if str(value("ssl.keystore.type")).upper() != "PEM":
        raise ConfigError(f"ssl.keystore.type {value('ssl.keystore.type')} of listener {listener}: only PEM "
                          "keystores are read (convert with openssl pkcs12 -nodes, or keytool -exportcert)")
    location, chain, key = value("ssl.keystore.location"), value("ssl.keystore.certificate.chain"), \
        value("ssl.keystore.key")
    password = value("ssl.key.password") or value("ssl.keystore.password")
    try:
        if location:
            context.load_cert_chain(location, password=password)
        elif chain and key:
            _load_inline_cert_chain(context, chain, key, password)
        else:
            raise ConfigError(f"Listener {listener} uses TLS but has no keystore: set ssl.keystore.location, or "
                              "ssl.keystore.certificate.chain and ssl.keystore.key")
    except (ssl.SSLError, OSError) as exc:
        # Never the password or key in the message: only where they came from.
        raise ConfigError(f"cannot load the TLS key and certificate of listener {listener} "
                          f"({location or 'inline ssl.keystore.*'}): {exc.__class__.__name__}: "
                          f"{getattr(exc, 'strerror', None) or getattr(exc, 'reason', None) or 'invalid'}") from None


def _load_inline_cert_chain(context: ssl.SSLContext, chain: str, key: str, password: str | None) -> None:
    """load_cert_chain reads files only: the inline PEM goes through a private temporary file."""
    fd, path = tempfile.mkstemp(prefix="schemabus-keystore-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:  # mkstemp's file is 0600
            f.write(key.strip() + "\n" + chain.strip() + "\n")
        context.load_cert_chain(path, password=password)
    finally:
        os.unlink(path)


def _load_truststore(context: ssl.SSLContext, listener: str, value) -> None:
    if str(value("ssl.truststore.type")).upper() != "PEM":
        raise ConfigError(f"ssl.truststore.type {value('ssl.truststore.type')} of listener {listener}: only PEM "
                          "truststores are read")
    try:
        if value("ssl.truststore.location"):
            context.load_verify_locations(cafile=value("ssl.truststore.location"))
        if value("ssl.truststore.certificates"):
            context.load_verify_locations(cadata=value("ssl.truststore.certificates"))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot load the truststore of listener {listener}: {exc}") from None


# -- principals ------------------------------------------------------------------------------

_RDN_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
              "localityName": "L", "stateOrProvinceName": "ST", "streetAddress": "STREET",
              "domainComponent": "DC", "userId": "UID", "emailAddress": "EMAILADDRESS"}


def distinguished_name(peer_cert: dict) -> str:
    """The subject of a certificate as an RFC 2253 string ("CN=app,O=Org,C=US"), as Java prints
    X500Principal.getName(): the last RDN first."""
    parts = []
    for rdn in reversed(peer_cert.get("subject", ())):
        parts.append("+".join(f"{_RDN_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn))
    return ",".join(parts)


def _escape(value: str) -> str:
    out = re.sub(r'([,+"\\<>;=])', r"\\\1", value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


class PrincipalMapper:
    """`ssl.principal.mapping.rules`: Kafka's SslPrincipalMapper. Rules are tried in order;
    `RULE:pattern/replacement/[LU]` maps a matching DN, `DEFAULT` keeps the DN as it is."""

    _RULE = re.compile(r"\s*RULE:((?:\\/|[^/])*)/((?:\\/|[^/])*)/([LU]?)\s*\Z")

    def __init__(self, rules: str | None):
        self.rules: list[tuple[re.Pattern, str, str] | None] = []
        for rule in _split_rules(rules or "DEFAULT"):
            if rule.strip() == "DEFAULT":
                self.rules.append(None)
                continue
            found = self._RULE.match(rule)
            if found is None:
                raise ConfigError(f"Invalid rule in ssl.principal.mapping.rules: {rule}")
            pattern, replacement, case = (g.replace("\\/", "/") for g in found.groups())
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"Invalid pattern in ssl.principal.mapping.rules {rule}: {exc}") from None
            # Java's $1 backreferences in the replacement.
            self.rules.append((compiled, re.sub(r"\$(\d+)", r"\\\1", replacement), case))

    def principal(self, dn: str) -> str:
        for rule in self.rules:
            if rule is None:
                return "User:" + dn
            pattern, replacement, case = rule
            if pattern.fullmatch(dn):
                name = pattern.sub(replacement, dn, count=1)
                name = name.lower() if case == "L" else name.upper() if case == "U" else name
                return "User:" + name
        raise ValueError(f"no ssl.principal.mapping.rules rule matches {dn!r}")


def _split_rules(text: str) -> list[str]:
    """Rules are comma-separated, but a RULE's pattern may hold commas: split before RULE:/DEFAULT."""
    return [part.strip().rstrip(",").strip() for part in re.split(r",\s*(?=RULE:|DEFAULT)", text) if part.strip()]
