"""`schemabus streams list|describe|reset` against a real word-count application: listed with its
lag and stores, described with its threads and changelog sizes, reset as
kafka-streams-application-reset does (refused while running; afterwards the application
recomputes everything from the beginning, with its local state rebuilt, not added to)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from confluent_kafka.admin import AdminClient

from tests.conftest import REPO
from tests.streams.test_word_count import topics_and_app
from tests.streams.word_count_app import WordCountApp, produce_lines, read_counts, wait_for_counts


def schemabus(bootstrap: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", "streams", *args, "--bootstrap-server", bootstrap,
                           "--output", "json"], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_list_describe_and_reset(any_broker, tmp_path):
    bootstrap = any_broker.bootstrap
    source, sink, app_id = topics_and_app(bootstrap)
    expected = produce_lines(bootstrap, source, 500, seed=21)
    app = WordCountApp(bootstrap, source, sink, app_id, tmp_path / "state", commit_interval_ms=300).start()
    try:
        wait_for_counts(bootstrap, sink, expected, 90, app)
        listed = {row["application"]: row for row in json.loads(schemabus(bootstrap, "list").stdout)}
        assert listed[app_id]["state"] == "STABLE" and listed[app_id]["threads"] == 1
        assert listed[app_id]["stores"] == 1
        described = json.loads(schemabus(bootstrap, "describe", app_id, "--state-dir", str(tmp_path / "state")).stdout)
        assert {t["topic"] for t in described["internal_topics"]} == {f"{app_id}-counts-store-changelog",
                                                                      f"{app_id}-counts-store-repartition"}
        changelog = next(t for t in described["internal_topics"] if t["kind"] == "changelog")
        assert changelog["records"] >= len(expected)  # every word's count is in it
        assert {o["topic"] for o in described["offsets"]} >= {source}
        refused = schemabus(bootstrap, "reset", app_id)
        assert refused.returncode == 1 and "still active" in refused.stderr
    finally:
        assert app.stop() == 0
    before = sum(len(v) for v in read_counts(bootstrap, sink).values())
    plan = json.loads(schemabus(bootstrap, "reset", app_id, "--dry-run").stdout)
    assert plan["input_topics"] == [source] and all(o["new_offset"] == 0 for o in plan["offsets"])
    done = schemabus(bootstrap, "reset", app_id)
    assert done.returncode == 0, done.stderr
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    assert not [t for t in topics if t.startswith(f"{app_id}-")], "internal topics left behind"

    app.start()
    try:
        deadline = time.monotonic() + 90
        while sum(len(v) for v in read_counts(bootstrap, sink).values()) <= before:  # recomputed from the start
            assert time.monotonic() < deadline and app.alive(), app.log_text()[-3000:]
            time.sleep(0.5)
        wait_for_counts(bootstrap, sink, expected, 30, app)  # the same counts, not doubled
        assert "beyond the log end" in app.log_text()  # the local state was rebuilt
    finally:
        app.stop()
