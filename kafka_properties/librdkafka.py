"""Kafka (Java) client properties turned into librdkafka's, which our Python clients run on.

Most names are the same in both (`security.protocol`, `sasl.mechanism`, `client.id`, `acks`,
...). The TLS stores differ: Kafka's Java client names a truststore and a keystore, librdkafka
a CA file and a certificate/key pair. Only PEM stores translate (librdkafka reads no JKS);
`sasl.jaas.config` with PlainLoginModule or ScramLoginModule becomes `sasl.username` /
`sasl.password`, and OAuthBearerLoginModule's unsecured claims librdkafka's unsecured JWT settings.
"""

from __future__ import annotations

from kafka_properties.errors import PropertiesError
from kafka_properties.jaas import OAUTHBEARER, PLAIN, SCRAM, parse_jaas

# Java-only settings with nothing to translate to: dropped (librdkafka would refuse them).
_JAVA_ONLY = {"ssl.truststore.type", "ssl.keystore.type", "ssl.truststore.password", "ssl.keystore.password",
              "ssl.protocol", "ssl.enabled.protocols", "ssl.trustmanager.algorithm", "ssl.keymanager.algorithm",
              "ssl.secure.random.implementation", "key.serializer", "value.serializer", "key.deserializer",
              "value.deserializer", "sasl.login.callback.handler.class", "sasl.client.callback.handler.class"}
_RENAMED = {"ssl.truststore.location": "ssl.ca.location", "ssl.truststore.certificates": "ssl.ca.pem",
            "ssl.keystore.certificate.chain": "ssl.certificate.pem", "ssl.keystore.key": "ssl.key.pem"}


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
        raise PropertiesError(f"{key}: a {store_type} store cannot be read here; set {type_key}=PEM with a PEM "
                              "file (convert with keytool -exportcert / openssl pkcs12 -nodes)")


def _jaas_credentials(text: str) -> dict[str, str]:
    jaas = parse_jaas(text)
    if jaas.is_module(OAUTHBEARER):
        claims = {k[len("unsecuredLoginStringClaim_"):]: v for k, v in jaas.options.items()
                  if k.startswith("unsecuredLoginStringClaim_")}
        if "sub" not in claims:
            raise PropertiesError("sasl.jaas.config: OAuthBearerLoginModule is understood here with "
                                  "unsecuredLoginStringClaim_sub (an unsecured token) only")
        config = " ".join(f"{k}={v}" for k, v in [("principal", claims.pop("sub"))] + sorted(claims.items()))
        return {"enable.sasl.oauthbearer.unsecure.jwt": "true", "sasl.oauthbearer.config": config}
    if not (jaas.is_module(PLAIN) or jaas.is_module(SCRAM)):
        raise PropertiesError("sasl.jaas.config: only PlainLoginModule, ScramLoginModule and OAuthBearerLoginModule "
                              "are understood here")
    if "username" not in jaas.options or "password" not in jaas.options:
        raise PropertiesError("sasl.jaas.config needs username and password")
    return {"sasl.username": jaas.options["username"], "sasl.password": jaas.options["password"]}


def connection_settings(conf: dict[str, str]) -> dict[str, str]:
    """The part of a client config every client type takes: where and how to connect."""
    return {k: v for k, v in conf.items()
            if k in ("bootstrap.servers", "client.id", "log_level") or k.startswith(("security.", "ssl.", "sasl."))}
