"""Human output (aligned tables) or `--output json` for scripts, and one-line errors."""

from __future__ import annotations

import json
import sys
import time


class CommandError(Exception):
    """Printed as one line on stderr; the command exits with `code`."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def emit(data, output: str, columns: list[str] | None = None) -> None:
    """Rows (list of dicts) as an aligned table, a dict as `key: value` lines, or JSON."""
    if output == "json":
        print(json.dumps(data, indent=2, default=str))
        return
    if isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            print(f"{key:<{width}}  {value if not isinstance(value, (list, dict)) else json.dumps(value)}")
        return
    rows = list(data)
    columns = columns or (list(rows[0]) if rows else [])
    if not columns:
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


class Progress:
    """A progress bar on stderr, only when stderr is a terminal (never in pipes or logs)."""

    def __init__(self, label: str, total: int | None = None, stream=None):
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.count = 0
        self._last = 0.0

    def advance(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.2:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        if self.total:
            done = min(self.count / self.total, 1.0)
            bar = "#" * int(done * 30)
            self.stream.write(f"\r{self.label} [{bar:<30}] {self.count}/{self.total}")
        else:
            self.stream.write(f"\r{self.label} {self.count}")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.count:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
