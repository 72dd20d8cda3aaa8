"""The benchmark harness (bench/harness.py): its run order and statistics, and one short
comparison against a real broker, so the benchmarks cannot rot unnoticed between runs.
Nothing here looks at timings."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from bench.harness import Comparison, SchemabusBroker, alternating, produce_bytes, summarize


def test_runs_alternate_so_neither_broker_always_goes_first():
    assert alternating(["a", "b"], 3) == ["a", "b", "b", "a", "a", "b"]
    assert alternating(["a"], 2) == ["a", "a"]


def test_summary_is_median_and_spread_ignoring_missing_runs():
    assert summarize([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)
    assert summarize([4.0, float("nan"), 2.0]) == (3.0, 2.0, 4.0)
    median, low, high = summarize([])
    assert median != median and low != low and high != high


class _Named(SchemabusBroker):
    """A second schemabus, so the two-broker paths (pairing, ratios) run without Kafka."""

    name = "other"


def test_comparison_pairs_runs_deletes_topics_and_reports_failures(tmp_path, capsys):
    seen_topics: list[tuple[str, str]] = []

    def produce_case(run):
        topic = run.new_topic(2, "harness")
        seen_topics.append((run.broker.name, topic))
        count, seconds = produce_bytes(run.bootstrap, topic, 100, 100 * 1000, 2)
        return {"records": count, "cpu": run.cpu_seconds()}

    def failing_case(run):
        if run.broker.name == "other":
            raise RuntimeError("cannot cope")
        return {"value": 1.0}

    with Comparison([SchemabusBroker(), _Named()], repeats=3, warm_up_mib=1, work_dir=str(tmp_path)) as cmp:
        cmp.run("produce", produce_case)
        cmp.run("fails on one broker", failing_case)
        rows = {(r["case"], r["metric"]): r for r in cmp.rows()}
        for name, topic in seen_topics:  # every run's topic is gone once the case is done
            listed = AdminClient({"bootstrap.servers": cmp.brokers[name].bootstrap}).list_topics(timeout=30).topics
            assert topic not in listed
        cmp.print_markdown("smoke")

    assert [name for name, _ in seen_topics] == ["schemabus", "other", "other", "schemabus", "schemabus", "other"]
    records = rows[("produce", "records")]
    assert records["schemabus"] == (1000, 1000, 1000) and records["ratio"] == (1.0, 1.0, 1.0)
    assert rows[("produce", "cpu")]["schemabus"][0] > 0
    # The failing broker ran the case once, then was skipped; the table says it failed.
    assert cmp.failures == {("fails on one broker", "other"): "RuntimeError: cannot cope"}
    assert rows[("fails on one broker", "value")]["schemabus"] == (1.0, 1.0, 1.0)
    out = capsys.readouterr().out
    assert "| fails on one broker | value | 1.00 (1.00-1.00) | failed |" in out
    assert "other failed fails on one broker: RuntimeError: cannot cope" in out


def test_a_broker_that_died_is_skipped_not_waited_for(tmp_path):
    calls: list[str] = []

    def case(run):
        calls.append(run.broker.name)
        return {"x": 1.0}

    with Comparison([SchemabusBroker()], repeats=2, warm_up_mib=0, work_dir=str(tmp_path)) as cmp:
        cmp.brokers["schemabus"].stop(kill=True)
        cmp.run("after death", case)
    assert calls == []
    assert "not running" in cmp.failures[("after death", "schemabus")]

