"""A registry killed with kill -9 comes back as fast as after a clean stop (static group membership:
it takes back its slot instead of waiting out the dead session), and loses nothing it acknowledged."""

from __future__ import annotations

import subprocess
import threading
import time

import requests

from tests.conftest import REPO, wait_until
from tests.registry.conftest import record_schema

SESSION_TIMEOUT_S = 10.0  # registry.election.GroupElection's default


def _time_to_first_write(reg, subject: str) -> tuple[float, float]:
    """Start `reg`; seconds until it is ready and until it has accepted a write."""
    started = time.monotonic()
    reg.start()
    ready = time.monotonic() - started

    def written():
        answer = reg.register(subject, record_schema("Restart", {"name": f"f{time.monotonic_ns()}", "type": "int"}))
        return answer.status_code == 200
    wait_until(written, 60, f"the restarted registry accepted no write; log:\n{reg.log_text()[-3000:]}")
    return ready, time.monotonic() - started


def test_restart_after_kill_is_as_fast_as_a_clean_restart(registry):
    assert registry.call("PUT", "/config", {"compatibility": "NONE"}).status_code == 200
    assert registry.register("restart", record_schema("Restart")).status_code == 200

    registry.stop()
    clean = _time_to_first_write(registry, "restart")
    registry.kill()
    killed = _time_to_first_write(registry, "restart")
    print(f"\nclean restart: ready {clean[0]:.2f}s, first write {clean[1]:.2f}s; "
          f"after kill -9: ready {killed[0]:.2f}s, first write {killed[1]:.2f}s")
    # Without static membership the new process waited for the dead one's session to expire.
    assert killed[1] < SESSION_TIMEOUT_S * 0.7, (clean, killed)
    assert "group.instance.id schemabus-registry-" in registry.ready_line


def test_acknowledged_registrations_survive_kill_and_restart(registry):
    """Register distinct schemas without pause while the registry is killed (-9) and restarted
    twice: every registration answered 200 is there afterwards, under the id it was given."""
    assert registry.call("PUT", "/config", {"compatibility": "NONE"}).status_code == 200
    acknowledged: dict[str, int] = {}
    failures: list[str] = []
    stop = threading.Event()

    def register_loop():
        n = 0
        while not stop.is_set():
            n += 1
            subject = f"acked-{n}"
            try:
                answer = requests.post(f"{registry.url}/subjects/{subject}/versions", timeout=30,
                                       json={"schema": '{"type":"record","name":"A%d","fields":[]}' % n})
            except requests.RequestException as exc:
                failures.append(type(exc).__name__)
                time.sleep(0.05)
                continue
            if answer.status_code == 200:
                acknowledged[subject] = answer.json()["id"]
            else:
                failures.append(str(answer.json().get("error_code")))

    writer = threading.Thread(target=register_loop, daemon=True)
    writer.start()
    try:
        for _ in range(2):
            wait_until(lambda count=len(acknowledged): len(acknowledged) >= count + 20, 60,
                       f"registrations stalled; failures: {failures[-5:]}")
            registry.kill()
            time.sleep(0.5)
            registry.start()
        wait_until(lambda count=len(acknowledged): len(acknowledged) >= count + 20, 60,
                   f"registrations stalled after the restarts; failures: {failures[-5:]}")
    finally:
        stop.set()
        writer.join(35)
    print(f"\n{len(acknowledged)} registrations acknowledged, {len(failures)} failed across 2 kill -9 restarts")

    assert len(set(acknowledged.values())) == len(acknowledged), "two schemas were given the same id"
    for subject, schema_id in acknowledged.items():
        answer = registry.call("GET", f"/subjects/{subject}/versions/1")
        assert answer.status_code == 200, (subject, answer.text)
        assert answer.json()["id"] == schema_id, (subject, schema_id, answer.json())
    registry.restart()
    for subject, schema_id in acknowledged.items():
        assert registry.call("GET", f"/subjects/{subject}/versions/1").json()["id"] == schema_id


def test_a_second_instance_on_a_taken_port_leaves_the_writer_alone(registry):
    """Same host and port, so the same group.instance.id: it must fail on the port before it joins
    the group, or it would fence the running writer out of it."""
    assert registry.register("taken", record_schema("Taken")).status_code == 200
    proc = subprocess.run(registry.command(), cwd=REPO, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{registry.port}" in proc.stderr, proc.stderr[-2000:]
    answer = registry.register("taken", record_schema("Taken", {"name": "a", "type": "int", "default": 0}))
    assert answer.status_code == 200, answer.text
    assert "leader election stopped" not in registry.log_text()
