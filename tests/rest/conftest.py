"""A broker and a REST Proxy in front of it, as processes started the way a user starts them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import BrokerProcess, ServiceProcess, free_port


class RestProcess(ServiceProcess):
    def __init__(self, work_dir: Path, bootstrap: str, configs: dict[str, str] | None = None):
        self.port = free_port()
        self.bootstrap = bootstrap
        self.configs = dict(configs or {})
        self.log_path = Path(work_dir) / f"rest-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "cli.main", "rest", "--bootstrap-server", self.bootstrap,
               "--listen", f"127.0.0.1:{self.port}"]
        for key, value in self.configs.items():
            cmd += ["--config", f"{key}={value}"]
        return cmd


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    work = tmp_path_factory.mktemp("rest")
    broker = BrokerProcess(work / "data", {"num.partitions": "1"}).start()
    rest = RestProcess(work, broker.bootstrap).start()
    try:
        yield broker, rest
    finally:
        rest.stop()
        broker.stop()
