"""`schemabus users add|list|remove` against a broker with a SASL listener: the users it makes
authenticate with SCRAM, the password never reaches the command line or the broker's log."""

from __future__ import annotations


from tests.cli.test_schemabus_command import as_json, schemabus
from tests.integration.test_sasl import ADMIN_PASSWORD, authentication_error, client, round_trip, sasl_broker

PASSWORD = "users-cmd-pw-41b7"


def test_users_add_list_remove(tmp_path):
    broker = sasl_broker(tmp_path).start()
    admin = tmp_path / "admin.properties"
    admin.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config="
                     "org.apache.kafka.common.security.plain.PlainLoginModule required "
                     f'username="admin" password="{ADMIN_PASSWORD}";\n')
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    connect = ["--bootstrap-server", broker.bootstrap, "--command-config", str(admin)]
    try:
        added = schemabus("users", "add", "henry", "--mechanism", "SCRAM-SHA-512", "--password-file",
                          str(password_file), *connect, "--output", "json")
        assert added.returncode == 0, added.stderr
        assert as_json(added) == [{"user": "henry", "mechanism": "SCRAM-SHA-512", "iterations": 8192}]
        piped = schemabus("users", "add", "iris", *connect, stdin=PASSWORD + "\n")  # both mechanisms
        assert piped.returncode == 0, piped.stderr
        listed = as_json(schemabus("users", "list", *connect, "--output", "json"))
        assert listed == [{"user": "henry", "mechanism": "SCRAM-SHA-512", "iterations": 8192},
                          {"user": "iris", "mechanism": "SCRAM-SHA-256", "iterations": 8192},
                          {"user": "iris", "mechanism": "SCRAM-SHA-512", "iterations": 8192}]
        assert round_trip(client(broker, "SCRAM-SHA-512", "henry", PASSWORD), 5)
        assert round_trip(client(broker, "SCRAM-SHA-256", "iris", PASSWORD), 5)

        refused = schemabus("users", "add", "jack", "--iterations", "100", "--password", "x", *connect)
        assert refused.returncode == 1 and "UNACCEPTABLE_CREDENTIAL" in refused.stderr, refused.stderr
        missing = schemabus("users", "list", "nobody", *connect)
        assert missing.returncode == 1 and "RESOURCE_NOT_FOUND" in missing.stderr, missing.stderr

        removed = schemabus("users", "remove", "iris", *connect, "--output", "json")
        assert as_json(removed) == [{"user": "iris", "mechanism": "SCRAM-SHA-256"},
                                    {"user": "iris", "mechanism": "SCRAM-SHA-512"}]
        assert [row["user"] for row in as_json(schemabus("users", "list", *connect, "--output", "json"))] == ["henry"]
        assert authentication_error(client(broker, "SCRAM-SHA-256", "iris", PASSWORD))
        # Without credentials the command cannot reach a SASL listener, and says so.
        anonymous = schemabus("users", "list", "--bootstrap-server", broker.bootstrap)
        assert anonymous.returncode != 0
    finally:
        broker.stop()
    assert PASSWORD not in broker.log_text() and ADMIN_PASSWORD not in broker.log_text()
