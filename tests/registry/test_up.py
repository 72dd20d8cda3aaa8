"""`schemabus up` runs the broker and the registry together and stops both cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
import requests

from tests.conftest import REPO, free_port, wait_until


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _start_up(tmp_path, *extra: str, ports: tuple[int, int] | None = None):
    broker_port, registry_port = ports or (free_port(), free_port())
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "up", "--data-dir", str(tmp_path / "data"),
                             "--listen", f"127.0.0.1:{broker_port}", "--registry-listen", f"127.0.0.1:{registry_port}",
                             "--config", "group.initial.rebalance.delay.ms=0", *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=open(tmp_path / "up.log", "a"), text=True,
                            start_new_session=True)
    lines: list[str] = []
    ready = threading.Event()

    def watch():
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("schemabus up:"):
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    if not ready.wait(90):
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"schemabus up did not become ready: {lines} {(tmp_path / 'up.log').read_text()[-3000:]}")
    return proc, broker_port, registry_port, lines


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_up_runs_broker_and_registry(tmp_path, how):
    proc, broker_port, registry_port, lines = _start_up(tmp_path)
    try:
        ready = [line for line in lines if line.startswith("schemabus up:")][0]
        assert f"broker at 127.0.0.1:{broker_port}" in ready
        assert f"schema registry at http://127.0.0.1:{registry_port}" in ready
        url = f"http://127.0.0.1:{registry_port}"
        answer = requests.post(f"{url}/subjects/up-value/versions", json={"schema": '"string"'}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert requests.get(f"{url}/schemas/ids/{answer.json()['id']}", timeout=10).status_code == 200

        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
        else:
            proc.send_signal(signal.SIGTERM)  # a service manager: only the parent
        assert proc.wait(60) == 0
        wait_until(lambda: not _port_open(registry_port) and not _port_open(broker_port), 20,
                   "broker or registry still listening after schemabus up stopped")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _stop(proc) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(60) == 0


def _schemabus(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", "--log-level", "ERROR", *args], input=stdin, cwd=REPO,
                          capture_output=True, text=True, timeout=90)


def test_up_secure_sets_up_tls_scram_acls_and_registry_auth(tmp_path):
    from confluent_kafka import KafkaError, Producer

    from cli.client_config import librdkafka_config, read_properties

    proc, broker_port, registry_port, lines = _start_up(tmp_path, "--secure")
    security = tmp_path / "data" / "security"
    props = security / "client.properties"
    bootstrap, url = f"127.0.0.1:{broker_port}", f"https://127.0.0.1:{registry_port}"
    try:
        assert any(line.startswith("schemabus up --secure:") and str(props) in line for line in lines), lines
        assert f"schema registry at {url}" in lines[-1]
        password = (security / "admin.password").read_text().strip()
        assert oct((security / "client.properties").stat().st_mode)[-3:] == "600"
        admin = ["--bootstrap-server", bootstrap, "--command-config", str(props)]

        # The registry: HTTPS, 401 without credentials, the admin's credentials work.
        ca = str(security / "ca.pem")
        assert requests.get(f"{url}/subjects", verify=ca, timeout=10).status_code == 401
        assert requests.get(f"{url}/subjects", auth=("admin", password), verify=ca, timeout=10).json() == []

        # The broker: SASL_SSL only; the admin is a super user.
        created = _schemabus("topics", "create", "orders", "--config", "confluent.value.schema.validation=true", *admin)
        assert created.returncode == 0, created.stderr
        schema = '{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}'
        produced = subprocess.run(["kafka-avro-console-producer", "--bootstrap-server", bootstrap, "--topic", "orders",
                                   "--producer.config", str(props), "--property", f"value.schema={schema}"],
                                  input='{"id": 7}\n', capture_output=True, text=True, timeout=90)
        assert produced.returncode == 0, produced.stderr
        refused = subprocess.run(["kafka-console-producer", "--bootstrap-server", bootstrap, "--topic", "orders",
                                  "--producer.config", str(props)], input="not avro\n", capture_output=True, text=True,
                                 timeout=90)
        assert refused.returncode != 0 and "validate" in refused.stderr, refused.stderr  # governed, via HTTPS
        consumed = subprocess.run(["kafka-avro-console-consumer", "--bootstrap-server", bootstrap, "--topic", "orders",
                                   "--from-beginning", "--max-messages", "1", "--consumer.config", str(props)],
                                  capture_output=True, text=True, timeout=90)
        assert consumed.stdout.strip() == '{"id": 7}', consumed.stderr
        anonymous = _schemabus("topics", "list", "--bootstrap-server", bootstrap)
        assert anonymous.returncode != 0

        # Another user authenticates, but may do nothing until an ACL says so.
        assert _schemabus("users", "add", "bob", "--password", "bob-pw-1", *admin).returncode == 0
        bob = {**librdkafka_config(read_properties(str(props))), "sasl.username": "bob", "sasl.password": "bob-pw-1"}
        bob = {k: v for k, v in bob.items() if not k.startswith(("schema.registry.", "basic.auth."))}
        errors = []
        producer = Producer({**bob, "error_cb": errors.append})
        producer.produce("orders", b"x", on_delivery=lambda err, _msg: errors.append(err))
        producer.flush(30)
        assert [e for e in errors if e is not None and e.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED], errors
        granted = _schemabus("acls", "add", "--allow-principal", "User:bob", "--operation", "Describe",
                             "--operation", "Write", "--topic", "plain", *admin)
        assert granted.returncode == 0, granted.stderr
        assert _schemabus("topics", "create", "plain", *admin).returncode == 0
        delivered = []
        producer = Producer(bob)
        producer.produce("plain", b"y", on_delivery=lambda err, _msg: delivered.append(err))
        producer.flush(30)
        assert delivered == [None]
    finally:
        if proc.poll() is None:
            _stop(proc)

    # A restart keeps the CA, the password and the users: the same client properties still work.
    proc, *_ = _start_up(tmp_path, "--secure", ports=(broker_port, registry_port))
    try:
        assert (security / "admin.password").read_text().strip() == password
        listed = _schemabus("topics", "list", *admin)
        assert listed.returncode == 0 and "orders" in listed.stdout, listed.stderr
    finally:
        _stop(proc)
    log = (tmp_path / "up.log").read_text()
    assert password not in log and "bob-pw-1" not in log
