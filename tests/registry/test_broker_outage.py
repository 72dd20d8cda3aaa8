"""Broker unreachable: reads keep working from memory, writes answer 50001/50002 with a clear
message (never 50004: a single instance stays the writer), and once the broker is back the registry
serves writes again within seconds with nothing lost."""

from __future__ import annotations

import itertools
import time

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


def test_single_instance_rides_out_a_broker_outage(broker_factory, registry_factory):
    """Longer than the group session (10 s): writes answer 50001/50002, never 50004, and the writer
    role survives, so writes succeed again within a few seconds of the broker's return."""
    broker = broker_factory(FAST_GROUPS)
    reg = registry_factory(bootstrap=broker.bootstrap, extra_args=["--write-timeout", "2"])
    assert reg.call("PUT", "/config", {"compatibility": "NONE"}).status_code == 200
    acknowledged: dict[str, int] = {}
    answers: list[tuple[str, float, int, int | None]] = []
    counter = itertools.count()

    def attempt(phase: str):
        n = next(counter)
        subject = f"ride-{n}"
        try:
            answer = reg.register(subject, record_schema(f"R{n}", {"name": "a", "type": "int"}))
        except requests.RequestException as exc:
            raise AssertionError(f"the registry did not answer during the {phase}: {exc}") from None
        code = None if answer.status_code == 200 else answer.json().get("error_code")
        answers.append((phase, time.monotonic(), answer.status_code, code))
        if answer.status_code == 200:
            acknowledged[subject] = answer.json()["id"]
        return answer

    assert attempt("start").status_code == 200
    broker.kill()
    down_since = time.monotonic()
    while time.monotonic() - down_since < 13:  # past the 10 s session timeout
        assert reg.call("GET", f"/schemas/ids/{acknowledged['ride-0']}").status_code == 200
        attempt("outage")
    broker.start()
    back = time.monotonic()
    while attempt("recovery").status_code != 200:
        assert time.monotonic() - back < 60, f"writes did not resume after the broker came back: {answers[-3:]}"
        time.sleep(0.1)
    recovery = answers[-1][1] - back
    print(f"\nbroker outage of {back - down_since:.1f}s: first write {recovery:.2f}s after the broker was back")

    outage_codes = {code for phase, _, _, code in answers if phase == "outage"}
    assert outage_codes and outage_codes <= {50001, 50002}, answers
    assert all(code != 50004 for _, _, _, code in answers), answers
    assert recovery < 6, f"writes resumed only {recovery:.1f}s after the broker was back (the session timeout is 10s)"
    assert "lost the session" in reg.log_text() and "still the writer" in reg.log_text()
    # Everything acknowledged is there with its id, here and after a restart.
    for restart in (False, True):
        if restart:
            reg.restart()
        for subject, schema_id in acknowledged.items():
            assert reg.call("GET", f"/subjects/{subject}/versions/1").json()["id"] == schema_id


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
