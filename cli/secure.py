"""`schemabus up --secure`: the local platform with TLS, SASL/SCRAM, ACLs and registry
authentication on, set up without hand work.

Under `<data>/security/` (made on first use, reused afterwards so clients keep working):
- a local CA (`ca.pem`) and a server certificate for the broker and the registry;
- an `admin` user with a generated password (`admin.password`, mode 0600), a SCRAM-SHA-512 and
  SCRAM-SHA-256 credential for it in the broker's data dir, and `User:admin` as super user;
- `client.properties` (mode 0600): what a client needs, in Kafka's and Confluent's names, for
  `--command-config`, `--producer.config`, `--consumer.config` and the registry's clients;
- `rest.properties` (the REST Proxy's own) and `rest-proxy.curlrc` (mode 0600): the proxy's URL,
  the CA and the admin's credentials for `curl -K`;
- `console.properties` (mode 0600): the web console's, its clients acting as the admin user.

The broker serves SASL_SSL only, with the StandardAuthorizer: every other principal needs ACLs
(`schemabus acls add`). The registry serves HTTPS with HTTP basic authentication. The REST Proxy
serves HTTPS; a caller's basic credentials are a broker user's, passed to the broker as its own
SCRAM-SHA-512 login (rest.authorization), so each caller is held to its own ACLs. The web console
serves HTTP on its (loopback) listener behind basic authentication with the registry's users (the
admin user).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cli.local_ca import LocalCA, write_private

ADMIN = "admin"
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def _write_private(path: Path, text: str) -> None:
    write_private(path, text.encode())


@dataclass
class SecureSetup:
    directory: Path
    ca_file: Path
    keystore: Path  # the server's key and certificate (PEM), for the broker and the registry
    admin_password: str

    @property
    def client_properties(self) -> Path:
        return self.directory / "client.properties"

    def broker_configs(self, listen: str) -> dict[str, str]:
        return {
            "listeners": f"SASL_SSL://{listen}",
            "sasl.enabled.mechanisms": ",".join(SCRAM_MECHANISMS),
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.location": str(self.ca_file),
            "authorizer.class.name": STANDARD_AUTHORIZER,
            "super.users": f"User:{ADMIN}",
        }

    def kafka_client_properties(self, bootstrap: str) -> dict[str, str]:
        """Kafka's (Java) client names; cli/client_config translates them for librdkafka."""
        return {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
                                f'username="{ADMIN}" password="{self.admin_password}";',
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
        }

    def write_client_properties(self, bootstrap: str, registry_url: str | None = None,
                                registry: dict[str, str] | None = None) -> None:
        lines = ["# Written by `schemabus up --secure`: the admin user's client settings.",
                 "# Pass to --command-config, --producer.config or --consumer.config."]
        lines += [f"{k}={v}" for k, v in self.kafka_client_properties(bootstrap).items()]
        if registry_url:
            lines.append(f"schema.registry.url={registry_url}")
        lines += [f"{k}={v}" for k, v in (registry or {}).items()]
        _write_private(self.client_properties, "\n".join(lines) + "\n")


    def registry_properties(self, registry_listen: str) -> dict[str, str]:
        """HTTPS with basic authentication (the admin user, role admin), and the `_schemas` store
        reached over SASL_SSL as the admin user."""
        kafka = self.kafka_client_properties("")
        return {
            "listeners": f"https://{registry_listen}",
            "ssl.keystore.type": "PEM", "ssl.keystore.location": str(self.keystore),
            "authentication.method": "BASIC", "authentication.realm": "SchemaRegistry",
            "schemabus.authentication.users.file": str(self.directory / "registry-users"),
            **{f"kafkastore.{k}": v for k, v in kafka.items() if k != "bootstrap.servers"},
        }

    def registry_client_properties(self) -> dict[str, str]:
        """How clients reach the registry, in the console tools' (Confluent's) names."""
        return {"basic.auth.credentials.source": "USER_INFO",
                "schema.registry.basic.auth.user.info": f"{ADMIN}:{self.admin_password}",
                "schema.registry.ssl.truststore.location": str(self.ca_file),
                "schema.registry.ssl.truststore.type": "PEM"}

    def rest_properties(self, rest_listen: str) -> dict[str, str]:
        """HTTPS; every caller's own Kafka clients from its basic credentials (SCRAM-SHA-512 over
        SASL_SSL); the registry reached as the admin user."""
        return {
            "listeners": f"https://{rest_listen}",
            "ssl.keystore.type": "PEM", "ssl.keystore.location": str(self.keystore),
            "rest.authorization": "true",
            "client.security.protocol": "SASL_SSL", "client.sasl.mechanism": "SCRAM-SHA-512",
            "client.ssl.truststore.type": "PEM", "client.ssl.truststore.location": str(self.ca_file),
            "schema.registry.basic.auth.credentials.source": "USER_INFO",
            "schema.registry.basic.auth.user.info": f"{ADMIN}:{self.admin_password}",
            "schema.registry.ssl.ca.location": str(self.ca_file),
        }

    def console_properties(self, bootstrap: str, console_listen: str) -> dict[str, str]:
        """The web console: HTTPS; its Kafka clients as the admin user (SASL_SSL), the registry and the
        REST Proxy reached over HTTPS as the admin too; itself behind basic authentication against the
        registry's users file (the admin user, role admin)."""
        kafka = self.kafka_client_properties(bootstrap)
        return {
            **kafka,
            "listeners": f"https://{console_listen}",
            "console.ssl.keystore.type": "PEM", "console.ssl.keystore.location": str(self.keystore),
            "schema.registry.basic.auth.credentials.source": "USER_INFO",
            "schema.registry.basic.auth.user.info": f"{ADMIN}:{self.admin_password}",
            "schema.registry.ssl.ca.location": str(self.ca_file),
            "rest.basic.auth.user.info": f"{ADMIN}:{self.admin_password}",
            "console.http.ssl.ca.location": str(self.ca_file),
            "authentication.method": "BASIC", "authentication.realm": "SchemabusConsole",
            "authentication.roles": "admin",
            "schemabus.authentication.users.file": str(self.directory / "registry-users"),
        }

    @property
    def rest_curl_config(self) -> Path:
        return self.directory / "rest-proxy.curlrc"

    def write_rest_client(self, rest_url: str) -> None:
        """curl's config (`curl -K FILE URL`): the CA and the admin's credentials for the REST Proxy."""
        _write_private(self.rest_curl_config, f"# Written by `schemabus up --secure`: the REST Proxy at {rest_url} "
                                              f"as the admin user.\n"
                                              f'cacert = "{self.ca_file}"\nuser = "{ADMIN}:{self.admin_password}"\n')

    def broker_registry_client(self) -> dict[str, str]:
        """Confluent Server's names for the broker's own registry client (governed topics)."""
        return {"confluent.basic.auth.credentials.source": "USER_INFO",
                "confluent.basic.auth.user.info": f"{ADMIN}:{self.admin_password}",
                "confluent.ssl.truststore.location": str(self.ca_file)}

    def write_private(self, name: str, text: str) -> Path:
        path = self.directory / name
        _write_private(path, text)
        return path


def prepare(data_dir: Path, broker_data_dir: Path) -> SecureSetup:
    """The CA, certificates, admin password and SCRAM credentials, made or reused."""
    from broker.sasl.scram import ScramCredential, ScramCredentials

    directory = Path(data_dir) / "security"
    ca = LocalCA(directory)
    server = directory / "server.keystore.pem"
    if not server.exists():
        server = ca.issue("server", server=True).keystore
    password_file = directory / "admin.password"
    if password_file.exists():
        password = password_file.read_text().strip()
    else:
        password = secrets.token_urlsafe(18)
        _write_private(password_file, password + "\n")
    users = directory / "registry-users"
    if not users.exists():
        from registry.auth import user_entry

        _write_private(users, user_entry(ADMIN, password, ["admin"]) + "\n")
    Path(broker_data_dir).mkdir(parents=True, exist_ok=True)
    credentials = ScramCredentials(broker_data_dir)
    if any(credentials.get(ADMIN, m) is None for m in SCRAM_MECHANISMS):
        credentials.apply([(ADMIN, m, ScramCredential.from_password(m, password)) for m in SCRAM_MECHANISMS], [])
    return SecureSetup(directory, ca.ca_file, server, password)
