"""The consumer-group scenario every client family goes through, and its member processes.

Three members of one group on a 6-partition topic each get two partitions; one closes
cleanly (LeaveGroup), one is killed -9 (its session must lapse); the survivor takes over
every partition. Records are produced in three phases around those events. At the end:

- every produced record was delivered at least once;
- nothing before a committed offset was delivered again: no delivery of offset O of
  partition P after (on the machine-wide monotonic clock) a successful commit of an
  offset > O for P, by any member. Members commit synchronously after each batch, so only
  records a member got but did not commit (the killed one's last batch, a commit refused
  during a rebalance) may be delivered twice.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from confluent_kafka import Producer

from tests.conftest import REPO, wait_until

PARTITIONS = 6
SESSION_TIMEOUT_S = 6  # the members' session.timeout.ms (the broker's minimum)


class MemberProcess:
    """A group member in its own process, speaking the JSON-lines protocol of groups_member.py."""

    def __init__(self, name: str, cmd: list[str], log_dir: Path, cwd: Path = REPO):
        self.name = name
        self.log_path = Path(log_dir) / f"member-{name}.log"
        self._stderr = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.events.append(event)

    def _of(self, kind: str) -> list[dict]:
        with self._lock:
            return [e for e in self.events if e["event"] == kind]

    @property
    def assignment(self) -> list[int] | None:
        found = self._of("assignment")
        return found[-1]["partitions"] if found else None

    def assignments(self) -> list[list[int]]:
        return [e["partitions"] for e in self._of("assignment")]

    def records(self) -> list[tuple[float, int, int]]:
        return [(e["t"], e["p"], e["o"]) for e in self._of("record")]

    def commits(self) -> list[tuple[float, int, int]]:
        return [(e["t"], e["p"], e["o"]) for e in self._of("commit")]

    def closed(self) -> bool:
        return bool(self._of("closed"))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def describe(self) -> str:
        errors = self._of("error")
        tail = self.log_path.read_text()[-1500:] if self.log_path.exists() else ""
        return (f"member {self.name}: alive={self.alive()} assignments={self.assignments()} "
                f"records={len(self._of('record'))} commits={len(self._of('commit'))} errors={errors} "
                f"stderr tail: {tail}")

    def terminate(self) -> None:
        """Ask for a clean close (the member leaves the group)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """kill -9: the member vanishes without leaving; only its session timeout removes it."""
        if self.alive():
            self.proc.kill()
        self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        self.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._stderr.close()


def python_member(client: str, bootstrap: str, group: str, topic: str, log_dir: Path, name: str,
                  assignor: str = "range") -> MemberProcess:
    cmd = [sys.executable, "-m", "tests.integration.groups_member", client, bootstrap, group, topic,
           "--assignor", assignor]
    return MemberProcess(name, cmd, log_dir)


def produce(bootstrap: str, topic: str, count: int, start: int = 0,
            partitions: int = PARTITIONS) -> dict[int, list[int]]:
    """Produce records `start`..`start+count-1` round-robin over the partitions, value
    b"record-<i>"; returns the offsets delivered per partition."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    delivered: dict[int, list[int]] = {}
    failures = []

    def report(err, msg):
        if err is not None:
            failures.append(err)
        else:
            delivered.setdefault(msg.partition(), []).append(msg.offset())

    for i in range(start, start + count):
        producer.produce(topic, value=b"record-%d" % i, partition=i % partitions, on_delivery=report)
    assert producer.flush(30) == 0 and not failures, f"produce failed: {failures}"
    return delivered


def _merge(into: dict[int, set[int]], more: dict[int, list[int]]) -> None:
    for p, offsets in more.items():
        into.setdefault(p, set()).update(offsets)


def _delivered(members: list[MemberProcess]) -> set[tuple[int, int]]:
    return {(p, o) for m in members for _, p, o in m.records()}


def _wait_consumed(members, expected: dict[int, set[int]], what: str, timeout: float = 60) -> None:
    wanted = {(p, o) for p, offsets in expected.items() for o in offsets}

    def done():
        return wanted <= _delivered(members)

    try:
        wait_until(done, timeout, f"every record consumed ({what})")
    except AssertionError:
        missing = sorted(wanted - _delivered(members))
        raise AssertionError(f"{len(missing)} record(s) never consumed ({what}), e.g. {missing[:10]}; "
                             + "; ".join(m.describe() for m in members)) from None


def _wait_assignment(members, sizes: list[int], what: str, timeout: float = 60) -> None:
    def done():
        current = [m.assignment for m in members]
        if any(a is None for a in current):
            return False
        union = sorted(p for a in current for p in a)
        return sorted(len(a) for a in current) == sorted(sizes) and union == list(range(PARTITIONS))

    try:
        wait_until(done, timeout, what)
    except AssertionError:
        raise AssertionError(f"timed out: {what}; " + "; ".join(m.describe() for m in members)) from None


def check_no_redelivery_before_commit(members: list[MemberProcess]) -> None:
    commits = sorted(c for m in members for c in m.commits())
    best: dict[int, list[tuple[float, int]]] = {}  # partition -> [(time, max committed so far)]
    for t, p, o in commits:
        history = best.setdefault(p, [])
        history.append((t, max(o, history[-1][1] if history else -1)))
    violations = []
    for m in members:
        for t, p, o in m.records():
            committed = -1
            for ct, c in best.get(p, []):
                if ct >= t:
                    break
                committed = c
            if o < committed:
                violations.append((m.name, p, o, committed))
    assert not violations, f"records delivered again below an offset already committed: {violations[:10]}"


def run_membership_scenario(spawn, bootstrap: str, topic: str, per_phase: int = 600) -> None:
    """spawn(name) -> MemberProcess; the topic must exist with PARTITIONS partitions."""
    expected: dict[int, set[int]] = {}
    _merge(expected, produce(bootstrap, topic, per_phase))
    a, b, c = spawn("a"), spawn("b"), spawn("c")
    members = [a, b, c]
    try:
        _wait_assignment(members, [2, 2, 2], "three members with two partitions each")
        _wait_consumed(members, expected, "phase 1")

        a.terminate()  # a clean close: LeaveGroup, the others rebalance at once
        wait_until(a.closed, 30, f"member a closed cleanly; {a.describe()}")
        _wait_assignment([b, c], [3, 3], "two members with three partitions each after a left")
        _merge(expected, produce(bootstrap, topic, per_phase, per_phase))
        _wait_consumed(members, expected, "phase 2")

        b.kill()  # no LeaveGroup: the broker notices when b's session lapses
        _wait_assignment([c], [6], "the survivor owns all six partitions within the session timeout",
                         timeout=SESSION_TIMEOUT_S + 30)
        _merge(expected, produce(bootstrap, topic, per_phase, 2 * per_phase))
        _wait_consumed(members, expected, "phase 3")
        c.stop()
        assert c.closed(), c.describe()
        check_no_redelivery_before_commit(members)
    finally:
        for m in members:
            m.stop()
