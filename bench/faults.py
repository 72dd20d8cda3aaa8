"""The fault-injection suite (tests/faults/) in its long mode, and the figures table.

Runs pytest on tests/faults with SCHEMABUS_FAULTS_LONG=1 (more kill -9 cycles, 3 minutes of
fuzzing, every array path of every API, and the Apache Kafka variants), collects the
figures each test records, and prints them: kill -9 cycles, acknowledged records, lost /
duplicated / reordered, restart times (median / max), fuzz frames sent, broker RSS before
and after, other connections' p50 / p99 latency during fuzzing and amplification; ours and
Kafka's side by side. Test failures are listed after the tables (the run goes on).

    python bench/faults.py                  # long mode, ours and Apache Kafka (~30-40 min)
    python bench/faults.py --ci             # the bounded (CI) mode, ours only
    python bench/faults.py -k kill          # any pytest selection
    python bench/faults.py --figures F.jsonl   # print the tables of an earlier run (--out) only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_suite(long: bool, select: str | None, figures: Path) -> int:
    env = dict(os.environ, SCHEMABUS_FAULTS_FIGURES=str(figures))
    if long:
        env["SCHEMABUS_FAULTS_LONG"] = "1"
    else:
        env.pop("SCHEMABUS_FAULTS_LONG", None)
    cmd = [sys.executable, "-m", "pytest", "tests/faults", "-q", "-p", "no:cacheprovider", "-rfEx"]
    if select:
        cmd += ["-k", select]
    return subprocess.run(cmd, cwd=REPO, env=env).returncode


def _table(title: str, columns: list[str], rows: list[dict]) -> str:
    if not rows:
        return ""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines) + "\n"


def report(rows: list[dict]) -> str:
    by = {}
    for r in rows:
        by.setdefault(r["section"], []).append(r)
    out = []
    out.append(_table("kill -9 loops under acks=all load (idempotent producer; events / compacted / retained topics)",
                      ["target", "mode", "cycles", "acked", "lost", "duplicated", "reordered", "restart_median_s",
                       "restart_max_s", "kills_mid_compaction", "max_children", "compactions_logged",
                       "retention_deletions_logged"], by.get("kill-9 loop", [])))
    out.append(_table("frame fuzzing (fuzzer processes, a good producer/consumer and a probe connection alongside)",
                      ["target", "mode", "seconds", "apis", "api_versions", "frames", "connections", "mib_sent",
                       "good_records", "good_p50_ms", "good_p99_ms", "other_p50_ms", "other_p99_ms",
                       "rss_before_mib", "rss_peak_mib", "rss_after_mib", "sockets_after", "fds_before",
                       "fds_after"], by.get("frame fuzzing", [])))
    amp = [r for r in by.get("amplification", []) if "summary" not in r.get("case", "")]
    out.append(_table("request amplification (other connection's latency while the request is sent repeatedly)",
                      ["target", "case", "entries", "request_bytes", "outcome", "max_seconds", "p50_ms", "p99_ms",
                       "max_ms", "rss_growth_mib", "rss_growth_factor"], amp))
    for r in by.get("amplification", []):
        if "summary" in r.get("case", ""):
            out.append(f"{r['target']} {r['case']}: {r['problems']} requirement misses, e.g. {r.get('examples')}\n")
    out.append(_table("on-disk damage (broker restarted on the damaged partition)",
                      ["case", "intact_served", "dropped_records", "logged"], by.get("disk-damage", [])))
    return "\n".join(o for o in out if o)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ci", action="store_true", help="the bounded (CI) mode instead of the long one")
    parser.add_argument("-k", dest="select", help="pytest -k selection within tests/faults")
    parser.add_argument("--figures", type=Path, help="print the tables of this figures file (JSON lines) only")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "schemabus-faults-figures.jsonl",
                        help="where to keep the figures of this run (JSON lines)")
    args = parser.parse_args()
    if args.figures:
        rows = [json.loads(line) for line in args.figures.read_text().splitlines() if line.strip()]
        print(report(rows))
        return 0
    with tempfile.TemporaryDirectory(prefix="schemabus-faults-") as tmp:
        figures = Path(tmp) / "figures.jsonl"
        figures.touch()
        code = run_suite(not args.ci, args.select, figures)
        rows = [json.loads(line) for line in figures.read_text().splitlines() if line.strip()]
        kept = args.out
        print()
        print(report(rows))
        if rows:
            kept.write_text(figures.read_text())
            print(f"(figures as JSON lines: {kept})")
    return code


if __name__ == "__main__":
    sys.exit(main())
