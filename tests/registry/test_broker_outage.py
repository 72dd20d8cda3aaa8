"""Broker unreachable: reads keep working from memory, writes answer 50001/50002 with a clear
message, and once the broker is back the registry serves writes again with nothing lost."""

from __future__ import annotations

import requests

from tests.conftest import wait_until
from tests.registry.conftest import FAST_GROUPS, record_schema


def test_writes_fail_cleanly_while_the_broker_is_down(broker_factory, registry_factory):
    broker = broker_factory(FAST_GROUPS)
    reg = registry_factory(bootstrap=broker.bootstrap, extra_args=["--write-timeout", "3"])
    first = reg.register("outage", record_schema("O", {"name": "a", "type": "int"}))
    assert first.status_code == 200, first.text

    broker.kill()
    assert reg.call("GET", "/schemas/ids/1").status_code == 200
    assert reg.call("GET", "/subjects/outage/versions").json() == [1]

    down = reg.register("outage", record_schema("O", {"name": "a", "type": "int"},
                                                {"name": "b", "type": "int", "default": 0}))
    assert down.status_code == 500, down.text
    body = down.json()
    assert body["error_code"] in (50001, 50002), body
    assert broker.bootstrap in body["message"] or "Kafka store" in body["message"], body
    config = reg.call("PUT", "/config", {"compatibility": "NONE"})
    assert config.status_code == 500 and config.json()["error_code"] in (50001, 50002)

    broker.start()

    def registered():
        try:
            answer = reg.register("outage", record_schema("O", {"name": "a", "type": "int"},
                                                          {"name": "b", "type": "int", "default": 0}))
        except requests.RequestException:
            return None
        return answer if answer.status_code == 200 else None

    answer = wait_until(registered, 60, "the registry did not accept writes after the broker came back")
    assert answer.json()["version"] == 2
    assert reg.call("GET", "/subjects/outage/versions").json() == [1, 2]
    assert reg.call("GET", "/schemas/ids/1").json()["schema"] == \
        '{"type":"record","name":"O","fields":[{"name":"a","type":"int"}]}'

    # What the topic holds survives a registry restart: nothing lost, nothing doubled.
    reg.restart()
    assert reg.call("GET", "/subjects/outage/versions").json() == [1, 2]
    ids = {reg.call("GET", f"/subjects/outage/versions/{v}").json()["id"] for v in (1, 2)}
    assert len(ids) == 2


def test_start_fails_with_a_clear_message_when_no_broker(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO, free_port

    port = free_port()
    proc = subprocess.run([sys.executable, "-m", "cli.main", "registry", "--bootstrap-server", f"127.0.0.1:{port}",
                           "--listen", f"127.0.0.1:{free_port()}", "--init-timeout", "3"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"127.0.0.1:{port}" in proc.stderr and "schemabus registry:" in proc.stderr
