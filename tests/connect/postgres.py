"""A throwaway PostgreSQL server for tests: Debian's binaries, a data directory in a fresh temp
dir, a free loopback port, and its unix socket beside the data.

Tests run as root and PostgreSQL refuses to run as root, so initdb and postgres run as the
`postgres` system user through `runuser`, which forks: the server's own pid comes from
postmaster.pid, and that is the pid stopped at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SYSTEM_USER = "postgres"


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install "
                           "Debian's server package: apt-get update && apt-get install -y postgresql")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """start() runs initdb and the server; stop() ends it and removes the directory."""

    def __init__(self):
        self.bin_dir = find_bin_dir()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = SYSTEM_USER
        # Not under pytest's tmp dirs: those are root-only (0700) and the postgres user must
        # reach its data dir; a short path also keeps the socket path under its 107-byte limit.
        self.root = Path(tempfile.mkdtemp(prefix="schemabus-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None

    def _as_postgres(self, *argv: str) -> list[str]:
        return ["runuser", "-u", SYSTEM_USER, "--", *argv]

    def start(self) -> "PostgresServer":
        shutil.chown(self.root, SYSTEM_USER, SYSTEM_USER)
        initdb = subprocess.run(
            self._as_postgres(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SYSTEM_USER,
                              "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
            capture_output=True, text=True, timeout=START_TIMEOUT)
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}")
        log = open(self.log_path, "ab")
        shutil.chown(self.log_path, SYSTEM_USER, SYSTEM_USER)
        # Durability settings off: the data is thrown away, and the tests run faster.
        self.proc = subprocess.Popen(
            self._as_postgres(str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                              "-k", str(self.root), "-c", f"listen_addresses={self.host}", "-c", "fsync=off",
                              "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
            stdout=log, stderr=log)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode} during startup; "
                                   f"log:\n{self.log_text()}")
            if self.pid is None:
                self.pid = self._postmaster_pid()
            ready = subprocess.run([str(self.bin_dir / "pg_isready"), "-h", self.host, "-p", str(self.port),
                                    "-U", self.user, "-d", "postgres", "-t", "2"], capture_output=True)
            if self.pid is not None and ready.returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"postgres did not accept connections on {self.host}:{self.port} within "
                           f"{START_TIMEOUT:.0f}s; log:\n{self.log_text()}")

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for `database`."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def jdbc_url(self, database: str = "postgres") -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{database}?user={self.user}"

    def create_database(self, name: str) -> None:
        import psycopg
        with psycopg.connect(host=self.host, port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the server by its pid, SIGKILL if it overstays."""
        pid = self.pid or self._postmaster_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pid = None
        if self.proc is not None:
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                if pid is not None:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.wait(STOP_TIMEOUT)
        shutil.rmtree(self.root, ignore_errors=True)
