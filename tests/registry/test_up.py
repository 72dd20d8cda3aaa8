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


def _start_up(tmp_path):
    broker_port, registry_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "up", "--data-dir", str(tmp_path / "data"),
                             "--listen", f"127.0.0.1:{broker_port}", "--registry-listen", f"127.0.0.1:{registry_port}",
                             "--config", "group.initial.rebalance.delay.ms=0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=open(tmp_path / "up.log", "w"), text=True,
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
