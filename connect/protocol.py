"""Connect's group protocol bytes (docs/design/connect.md §3.1): the member metadata each worker
sends in JoinGroup and the assignment the leader sends each member in SyncGroup, for the
protocols `default` (v0, eager), `compatible` (v1) and `sessioned` (v2, cooperative), so Java
workers and ours can share one group."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

CONNECTOR_TASK = -1  # in a task list, "the connector object itself"
NO_ERROR, CONFIG_MISMATCH = 0, 1
PROTOCOLS = {"eager": [("default", 0)], "compatible": [("compatible", 1), ("default", 0)],
             "sessioned": [("sessioned", 2), ("compatible", 1), ("default", 0)]}
VERSION_OF = {"default": 0, "compatible": 1, "sessioned": 2}


class _Writer:
    def __init__(self):
        self.parts: list[bytes] = []

    def int16(self, v): self.parts.append(struct.pack(">h", v))
    def int32(self, v): self.parts.append(struct.pack(">i", v))
    def int64(self, v): self.parts.append(struct.pack(">q", v))

    def string(self, s: str):
        raw = s.encode()
        self.int16(len(raw))
        self.parts.append(raw)

    def nullable_bytes(self, b: bytes | None):
        if b is None:
            self.int32(-1)
        else:
            self.int32(len(b))
            self.parts.append(b)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def _unpack(self, fmt, size):
        value = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def int16(self): return self._unpack(">h", 2)
    def int32(self): return self._unpack(">i", 4)
    def int64(self): return self._unpack(">q", 8)

    def string(self) -> str:
        n = self.int16()
        raw = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return raw.decode()

    def nullable_bytes(self) -> bytes | None:
        n = self.int32()
        if n < 0:
            return None
        raw = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return raw

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


# Work as {connector: [task ids]} where -1 stands for the connector itself.
Work = dict


def _write_work(w: _Writer, work: Work | None, nullable: bool) -> None:
    if work is None:
        w.int32(-1 if nullable else 0)
        return
    w.int32(len(work))
    for connector, tasks in sorted(work.items()):
        w.string(connector)
        ordered = sorted(tasks)
        w.int32(len(ordered))
        for t in ordered:
            w.int32(t)


def _read_work(r: _Reader) -> Work | None:
    n = r.int32()
    if n < 0:
        return None
    out = {}
    for _ in range(n):
        connector = r.string()
        out[connector] = [r.int32() for _ in range(r.int32())]
    return out


@dataclass
class Assignment:
    error: int = NO_ERROR
    leader: str = ""
    leader_url: str = ""
    config_offset: int = -1
    assigned: Work = field(default_factory=dict)
    revoked: Work = field(default_factory=dict)
    delay: int = 0
    version: int = 1

    def connectors(self) -> list[str]:
        return sorted(c for c, tasks in self.assigned.items() if CONNECTOR_TASK in tasks)

    def tasks(self) -> list[tuple[str, int]]:
        return sorted((c, t) for c, tasks in self.assigned.items() for t in tasks if t != CONNECTOR_TASK)

    def encode(self) -> bytes:
        w = _Writer()
        w.int16(self.version)
        w.int16(self.error)
        w.string(self.leader)
        w.string(self.leader_url)
        w.int64(self.config_offset)
        _write_work(w, self.assigned, nullable=self.version > 0)
        if self.version > 0:
            _write_work(w, self.revoked, nullable=True)
            w.int32(self.delay)
        return w.bytes()

    @classmethod
    def decode(cls, data: bytes) -> "Assignment":
        r = _Reader(data)
        version = r.int16()
        out = cls(version=version, error=r.int16(), leader=r.string(), leader_url=r.string(),
                  config_offset=r.int64())
        out.assigned = _read_work(r) or {}
        if version > 0 and r.remaining:
            out.revoked = _read_work(r) or {}
            out.delay = r.int32() if r.remaining >= 4 else 0
        return out


@dataclass
class MemberMetadata:
    url: str
    config_offset: int
    allocation: Assignment | None = None  # what the member runs now (v1+)
    version: int = 1

    def encode(self) -> bytes:
        w = _Writer()
        w.int16(self.version)
        w.string(self.url)
        w.int64(self.config_offset)
        if self.version > 0:
            w.nullable_bytes(self.allocation.encode() if self.allocation is not None else None)
        return w.bytes()

    @classmethod
    def decode(cls, data: bytes) -> "MemberMetadata":
        r = _Reader(data)
        version = r.int16()
        url = r.string()
        offset = r.int64()
        allocation = None
        if version > 0 and r.remaining >= 4:
            raw = r.nullable_bytes()
            allocation = Assignment.decode(raw) if raw else None
        return cls(url, offset, allocation, version)


def work_items(work: Work) -> set[tuple[str, int]]:
    return {(c, t) for c, tasks in work.items() for t in tasks}


def as_work(items) -> Work:
    out: Work = {}
    for c, t in items:
        out.setdefault(c, []).append(t)
    return out


class CooperativeAssignor:
    """The leader's incremental cooperative assignment (KIP-415, docs/design/connect.md §3.2):
    revoke deleted and duplicated work, hold the work of departed workers for
    `scheduled.rebalance.max.delay.ms` in case they come back, then give it and new work to the
    least loaded workers; move work off overloaded workers only when nothing is being held."""

    def __init__(self, max_delay_ms: int, clock):
        self.max_delay_ms = max_delay_ms
        self.clock = clock
        self.previous: set[tuple[str, int]] = set()
        self.previous_members: set[str] = set()
        self.previous_generation = -1
        self.deadline: float | None = None

    def assign(self, generation: int, members: dict[str, MemberMetadata],
               configured: set[tuple[str, int]]) -> dict[str, tuple[set, set, int]]:
        """{member: (newly assigned, revoked, delay ms)}."""
        active = {m: work_items(meta.allocation.assigned) if meta.allocation else set() for m, meta in members.items()}
        running = set().union(*active.values()) if active else set()
        if self.previous_generation != generation - 1:
            self.previous = set(running)  # a new leader knows only what members report
        revoked = {m: set() for m in members}
        seen: set = set()
        for m in sorted(members):
            for item in sorted(active[m]):
                if item not in configured or item in seen:
                    revoked[m].add(item)  # deleted, or a duplicate of another member's
                seen.add(item)
        lost = self.previous - running - (self.previous - configured)
        created = configured - self.previous - running
        # Work lost while every earlier member is still here (e.g. tasks stopped for new configs)
        # has no departed owner to wait for.
        waiting = self.deadline is not None or not self.previous_members <= set(members)
        delay = self._hold_lost(lost) if waiting else 0
        to_assign = created | (lost if delay == 0 else set())
        after = {m: active[m] - revoked[m] for m in members}
        if delay == 0 and not to_assign:
            self._balance(after, revoked)
        assigned = self._distribute(after, to_assign)
        self.previous = set().union(*after.values()) | (lost if delay else set())
        self.previous_generation = generation
        self.previous_members = set(members)
        return {m: (assigned[m], revoked[m], delay) for m in members}

    def _hold_lost(self, lost: set) -> int:
        if not lost or self.max_delay_ms <= 0:
            self.deadline = None
            return 0
        now = self.clock()
        if self.deadline is None:
            self.deadline = now + self.max_delay_ms / 1000
        remaining = int((self.deadline - now) * 1000)
        if remaining <= 0:
            self.deadline = None
            return 0
        return remaining

    @staticmethod
    def _balance(after: dict[str, set], revoked: dict[str, set]) -> None:
        """Revoke work above the fair share; the revoked workers rejoin and the next round gives it
        to the under-loaded ones."""
        n = len(after)
        if n < 2:
            return
        for is_connector in (True, False):
            def load(m):
                return sorted(i for i in after[m] if (i[1] == CONNECTOR_TASK) == is_connector)
            total = sum(len(load(m)) for m in after)
            ceiling = -(-total // n)
            if min(len(load(m)) for m in after) >= total // n:
                continue
            for m in sorted(after):
                items = load(m)
                for item in items[ceiling:]:
                    after[m].discard(item)
                    revoked[m].add(item)

    @staticmethod
    def _distribute(after: dict[str, set], to_assign: set) -> dict[str, set]:
        assigned = {m: set() for m in after}
        if not after:
            return assigned
        connectors = sorted(i for i in to_assign if i[1] == CONNECTOR_TASK)
        tasks = sorted(i for i in to_assign if i[1] != CONNECTOR_TASK)
        for items, is_connector in ((connectors, True), (tasks, False)):
            for item in items:
                def load(m):
                    return sum(1 for i in after[m] if (i[1] == CONNECTOR_TASK) == is_connector)
                target = min(sorted(after), key=load)
                after[target].add(item)
                assigned[target].add(item)
        return assigned


def eager_assign(members: list[str], configured: set[tuple[str, int]]) -> dict[str, set]:
    """Protocol `default`: everyone released everything; deal all work round-robin."""
    out = {m: set() for m in members}
    ordered = sorted(members)
    items = sorted(i for i in configured if i[1] == CONNECTOR_TASK) + sorted(i for i in configured
                                                                              if i[1] != CONNECTOR_TASK)
    for n, item in enumerate(items):
        out[ordered[n % len(ordered)]].add(item)
    return out
