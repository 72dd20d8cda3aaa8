"""`schemabus up` runs the broker, the registry, the REST Proxy and a Kafka Connect worker together and
stops them cleanly."""

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


def _start_up(tmp_path, *extra: str, ports: tuple[int, int, int] | None = None, connect_port: int | None = None):
    broker_port, registry_port, rest_port = ports or (free_port(), free_port(), free_port())
    connect_port = connect_port or free_port()
    metrics_port = free_port()  # not the default 9308: runs side by side must not collide
    console_port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "up", "--data-dir", str(tmp_path / "data"),
                             "--listen", f"127.0.0.1:{broker_port}", "--registry-listen", f"127.0.0.1:{registry_port}",
                             "--rest-listen", f"127.0.0.1:{rest_port}", "--connect-listen", f"127.0.0.1:{connect_port}",
                             "--metrics-listen", f"127.0.0.1:{metrics_port}",
                             "--console-listen", f"127.0.0.1:{console_port}",
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
    proc.connect_url = f"http://127.0.0.1:{connect_port}"
    proc.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    proc.console_url = f"http://127.0.0.1:{console_port}"
    return proc, (broker_port, registry_port, rest_port), lines


def _v3_produce(rest_url: str, topic: str, value: str, create: bool = False, **kwargs) -> dict:
    """One record through the REST Proxy's v3 API (the topic created through it first with
    `create`); its answer."""
    clusters = requests.get(f"{rest_url}/v3/clusters", timeout=30, **kwargs)
    assert clusters.status_code == 200, clusters.text
    cluster_id = clusters.json()["data"][0]["cluster_id"]
    if create:
        created = requests.post(f"{rest_url}/v3/clusters/{cluster_id}/topics", timeout=30,
                                json={"topic_name": topic, "partitions_count": 1}, **kwargs)
        assert created.status_code == 201, created.text
    answer = requests.post(f"{rest_url}/v3/clusters/{cluster_id}/topics/{topic}/records", timeout=60,
                           json={"value": {"type": "STRING", "data": value}}, **kwargs)
    assert answer.status_code == 200 and answer.json()["error_code"] == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_up_runs_broker_registry_and_rest_proxy(tmp_path, how):
    proc, (broker_port, registry_port, rest_port), lines = _start_up(tmp_path)
    try:
        ready = [line for line in lines if line.startswith("schemabus up:")][0]
        assert f"broker at 127.0.0.1:{broker_port}" in ready
        assert f"schema registry at http://127.0.0.1:{registry_port}" in ready
        assert f"REST Proxy at http://127.0.0.1:{rest_port}" in ready
        url = f"http://127.0.0.1:{registry_port}"
        answer = requests.post(f"{url}/subjects/up-value/versions", json={"schema": '"string"'}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert requests.get(f"{url}/schemas/ids/{answer.json()['id']}", timeout=10).status_code == 200

        rest = f"http://127.0.0.1:{rest_port}"
        assert requests.get(f"{rest}/", timeout=10).json() == {}
        assert _v3_produce(rest, "up-rest", "through the proxy", create=True)["offset"] == 0

        # Kafka Connect: a worker of the group connect-cluster, values as Avro through the registry.
        assert f"Kafka Connect at {proc.connect_url}" in ready
        wait_until(lambda: requests.get(f"{proc.connect_url}/health", timeout=10).status_code == 200, 60,
                   "the Connect worker healthy")
        source = tmp_path / "lines.txt"
        source.write_text("one\ntwo\n")
        created = requests.post(f"{proc.connect_url}/connectors", timeout=30, json={"name": "up-file", "config": {
            "connector.class": "FileStreamSource", "file": str(source), "topic": "up-connect"}})
        assert created.status_code == 201, created.text
        wait_until(lambda: requests.get(f"{url}/subjects", timeout=10).json().count("up-connect-value") == 1, 60,
                   "the AvroConverter registering up-connect-value")

        # The web console, over all of them.
        assert f"web console at {proc.console_url}" in ready
        overview = requests.get(proc.console_url + "/", timeout=30)
        assert overview.status_code == 200 and "Unavailable" not in overview.text, overview.text
        assert "Size on disk" in overview.text  # the console was given the broker's metrics endpoint

        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
        else:
            proc.send_signal(signal.SIGTERM)  # a service manager: only the parent
        assert proc.wait(60) == 0
        connect_port = int(proc.connect_url.rsplit(":", 1)[1])
        console_port = int(proc.console_url.rsplit(":", 1)[1])
        wait_until(lambda: not any(_port_open(p) for p in (registry_port, broker_port, rest_port, connect_port,
                                                           console_port)), 20,
                   "broker, registry, REST Proxy, Connect or the console still listening after schemabus up stopped")
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

    proc, ports, lines = _start_up(tmp_path, "--secure")
    broker_port, registry_port, rest_port = ports
    security = tmp_path / "data" / "security"
    props = security / "client.properties"
    bootstrap, url = f"127.0.0.1:{broker_port}", f"https://127.0.0.1:{registry_port}"
    rest = f"https://127.0.0.1:{rest_port}"
    try:
        assert any(line.startswith("schemabus up --secure:") and str(props) in line for line in lines), lines
        assert f"schema registry at {url}" in lines[-1] and f"REST Proxy at {rest}" in lines[-1]
        password = (security / "admin.password").read_text().strip()
        assert oct((security / "client.properties").stat().st_mode)[-3:] == "600"
        admin = ["--bootstrap-server", bootstrap, "--command-config", str(props)]

        # The registry: HTTPS, 401 without credentials, the admin's credentials work.
        ca = str(security / "ca.pem")
        assert requests.get(f"{url}/subjects", verify=ca, timeout=10).status_code == 401
        assert requests.get(f"{url}/subjects", auth=("admin", password), verify=ca, timeout=10).json() == []

        # The REST Proxy: HTTPS; a caller's basic credentials are its Kafka (SCRAM) login.
        assert requests.get(f"{rest}/", verify=ca, timeout=10).status_code == 401
        assert requests.get(f"{rest}/", auth=("admin", "wrong-pw-3"), verify=ca, timeout=30).status_code == 401
        assert requests.get(f"{rest}/", auth=("admin", password), verify=ca, timeout=30).json() == {}
        assert _v3_produce(rest, "via-rest", "secure", create=True, auth=("admin", password), verify=ca)["offset"] == 0

        # The web console: HTTPS behind basic authentication (the admin user), pages and static assets alike;
        # its clients reach the secured broker, registry and REST Proxy with the admin's settings from a
        # private file.
        console = proc.console_url.replace("http://", "https://")
        assert f"web console at {console}" in lines[-1], lines
        for path in ("/", "/static/console.css"):
            refused = requests.get(console + path, verify=ca, timeout=10)
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic realm=")
            assert requests.get(console + path, auth=("admin", "wrong-pw-3"), verify=ca, timeout=30).status_code == 401
        overview = requests.get(console + "/", auth=("admin", password), verify=ca, timeout=60)
        assert overview.status_code == 200 and "Unavailable" not in overview.text, overview.text
        with pytest.raises(requests.exceptions.ConnectionError):  # TLS only: no plaintext answer on that port
            requests.get(proc.console_url + "/", timeout=10)
        assert oct((security / "console.properties").stat().st_mode)[-3:] == "600"
        curlrc = security / "rest-proxy.curlrc"
        assert oct(curlrc.stat().st_mode)[-3:] == "600" and str(security / "ca.pem") in curlrc.read_text()
        assert any(str(curlrc) in line for line in lines), lines

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
        # Through the REST Proxy bob is held to the same ACLs.
        bob_rest = {"auth": ("bob", "bob-pw-1"), "verify": ca}
        assert _v3_produce(rest, "plain", "bob via rest", **bob_rest)["offset"] == 1
        cluster_id = requests.get(f"{rest}/v3/clusters", timeout=30, **bob_rest).json()["data"][0]["cluster_id"]
        refused = requests.post(f"{rest}/v3/clusters/{cluster_id}/topics/orders/records", timeout=60,
                                json={"value": {"type": "STRING", "data": "x"}}, **bob_rest)
        assert refused.status_code == 403 and refused.json()["error_code"] == 40301, refused.text
    finally:
        if proc.poll() is None:
            _stop(proc)

    # A restart keeps the CA, the password and the users: the same client properties still work.
    proc, *_ = _start_up(tmp_path, "--secure", ports=ports)
    try:
        assert (security / "admin.password").read_text().strip() == password
        listed = _schemabus("topics", "list", *admin)
        assert listed.returncode == 0 and "orders" in listed.stdout, listed.stderr
    finally:
        _stop(proc)
    log = (tmp_path / "up.log").read_text()
    assert password not in log and "bob-pw-1" not in log
    assert not any(password in line for line in lines)
