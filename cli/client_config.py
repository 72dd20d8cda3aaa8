"""Client properties as Kafka's tools take them (`--command-config`, `--producer.config`,
`--consumer.config`, `--producer-property`), turned into librdkafka's, which our tools run on.

Most names are the same in both (`security.protocol`, `sasl.mechanism`, `client.id`, `acks`,
...). The TLS stores differ: Kafka's Java client names a truststore and a keystore, librdkafka
a CA file and a certificate/key pair. Only PEM stores translate (librdkafka reads no JKS);
`sasl.jaas.config` with PlainLoginModule or ScramLoginModule becomes `sasl.username` /
`sasl.password`.
"""

from __future__ import annotations

import re
from pathlib import Path

from cli.output import CommandError

EXIT_USAGE = 2
# Java-only settings with nothing to translate to: dropped (librdkafka would refuse them).
_JAVA_ONLY = {"ssl.truststore.type", "ssl.keystore.type", "ssl.truststore.password", "ssl.keystore.password",
              "ssl.protocol", "ssl.enabled.protocols", "ssl.trustmanager.algorithm", "ssl.keymanager.algorithm",
              "ssl.secure.random.implementation", "key.serializer", "value.serializer", "key.deserializer",
              "value.deserializer", "sasl.login.callback.handler.class", "sasl.client.callback.handler.class"}
_RENAMED = {"ssl.truststore.location": "ssl.ca.location", "ssl.truststore.certificates": "ssl.ca.pem",
            "ssl.keystore.certificate.chain": "ssl.certificate.pem", "ssl.keystore.key": "ssl.key.pem"}
_JAAS = re.compile(r"\s*(\S+)\s+(required|optional|requisite|sufficient)\s*(.*?);?\s*\Z", re.S)
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|\S+)')


def read_properties(path: str | None) -> dict[str, str]:
    """A Java properties file: `key=value` (or `key: value`) lines, `#`/`!` comments."""
    if not path:
        return {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    out = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        found = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)\Z", line)
        if found is None:
            raise CommandError(f"{path}: expected key=value, got {line!r}", EXIT_USAGE)
        key, value = found.groups()
        out[key] = value
    return out


def librdkafka_config(properties: dict[str, str]) -> dict[str, str]:
    """Kafka (Java) client properties -> librdkafka properties (librdkafka's own names pass)."""
    out: dict[str, str] = {}
    for key, value in properties.items():
        if key in _JAVA_ONLY:
            continue
        if key == "ssl.keystore.location":
            _require_pem(properties, "ssl.keystore.type", key)
            out["ssl.certificate.location"] = out["ssl.key.location"] = value  # key and chain in one file
        elif key in _RENAMED:
            if key.startswith("ssl.truststore"):
                _require_pem(properties, "ssl.truststore.type", key)
            out[_RENAMED[key]] = value
        elif key == "ssl.endpoint.identification.algorithm":
            out[key] = value if value else "none"  # Java's empty value turns hostname checks off
        elif key == "sasl.jaas.config":
            out.update(_jaas_credentials(value))
        else:
            out[key] = value
    return out


def _require_pem(properties: dict[str, str], type_key: str, key: str) -> None:
    store_type = properties.get(type_key, "PEM" if key.endswith(("certificates", "chain", "key")) else "JKS")
    if store_type.upper() != "PEM":
        raise CommandError(f"{key}: a {store_type} store cannot be read here; set {type_key}=PEM with a PEM "
                           "file (convert with keytool -exportcert / openssl pkcs12 -nodes)", EXIT_USAGE)


def _jaas_credentials(jaas: str) -> dict[str, str]:
    found = _JAAS.match(jaas)
    if found is None or not found.group(1).endswith(("PlainLoginModule", "ScramLoginModule")):
        raise CommandError("sasl.jaas.config: only PlainLoginModule and ScramLoginModule with username and "
                           "password are understood here", EXIT_USAGE)
    options = {k: v[1:-1].replace('\\"', '"') if v.startswith('"') else v
               for k, v in _JAAS_OPTION.findall(found.group(3))}
    if "username" not in options or "password" not in options:
        raise CommandError("sasl.jaas.config needs username and password", EXIT_USAGE)
    return {"sasl.username": options["username"], "sasl.password": options["password"]}


def connection_settings(conf: dict[str, str]) -> dict[str, str]:
    """The part of a client config every client type takes: where and how to connect."""
    return {k: v for k, v in conf.items()
            if k in ("bootstrap.servers", "client.id", "log_level") or k.startswith(("security.", "ssl.", "sasl."))}
