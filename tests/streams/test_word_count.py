"""examples/word_count.py as a real process against a real broker (ours, and Apache Kafka):
counts equal the ones computed here from the input; state survives a clean restart (RocksDB and
its checkpoint), kill -9 under exactly_once_v2 (every count once, in order, for read_committed
readers), the loss of one of two instances (the survivor restores the lost tasks' state from the
changelog), and a checkpoint that no longer matches the changelog."""

from __future__ import annotations

import re
import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.conftest import unique_topic, wait_until
from tests.streams.kafka_topics import create_topics
from tests.streams.word_count_app import WordCountApp, produce_lines, start_all, wait_for_counts


@pytest.fixture(params=["schemabus", pytest.param("apache-kafka", marks=pytest.mark.slow)])
def streams_broker(request):
    return request.getfixturevalue("shared_broker" if request.param == "schemabus" else "apache_kafka")


def topics_and_app(bootstrap: str) -> tuple[str, str, str]:
    source, sink, app_id = unique_topic("lines"), unique_topic("counts"), unique_topic("wordcount")
    create_topics(bootstrap, source, sink)
    return source, sink, app_id


def test_word_count_matches_counts_computed_here_and_survives_a_clean_restart(streams_broker, tmp_path):
    bootstrap = streams_broker.bootstrap
    source, sink, app_id = topics_and_app(bootstrap)
    expected = produce_lines(bootstrap, source, 3000, seed=1)
    app = WordCountApp(bootstrap, source, sink, app_id, tmp_path / "state", commit_interval_ms=500).start()
    try:
        wait_for_counts(bootstrap, sink, expected, 90, app)
        topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
        # Kafka Streams' names for the internal topics, with the partitions of the input.
        assert len(topics[f"{app_id}-counts-store-repartition"].partitions) == 3
        assert len(topics[f"{app_id}-counts-store-changelog"].partitions) == 3
        assert app.stop() == 0
        checkpoints = sorted(p.parent.name for p in (tmp_path / "state" / app_id).glob("*/.checkpoint"))
        assert checkpoints == ["1_0", "1_1", "1_2"]  # the counting tasks' RocksDB stores are checkpointed

        expected.update(produce_lines(bootstrap, source, 1000, seed=2))
        app.start()
        wait_for_counts(bootstrap, sink, expected, 90, app)
    finally:
        app.stop()


def test_exactly_once_v2_survives_kill_9(streams_broker, tmp_path):
    bootstrap = streams_broker.bootstrap
    source, sink, app_id = topics_and_app(bootstrap)
    expected = produce_lines(bootstrap, source, 2000, seed=3)
    app = WordCountApp(bootstrap, source, sink, app_id, tmp_path / "state", exactly_once=True).start()
    more: list = []
    killed = threading.Event()

    def feed():
        # Batches keep arriving until after the kill, so it lands while input is being processed.
        seed = 100
        while not killed.is_set():
            more.append(produce_lines(bootstrap, source, 500, seed=seed))
            seed += 1

    feeder = threading.Thread(target=feed, daemon=True)
    try:
        wait_for_counts(bootstrap, sink, expected, 90, app, read_committed=True)
        feeder.start()
        time.sleep(1.0)
        app.kill()
        killed.set()
        feeder.join(60)
        assert not feeder.is_alive(), "the feeder did not finish its last batch in 60 s"
        for counter in more:
            expected.update(counter)
        app.start()
        counts = wait_for_counts(bootstrap, sink, expected, 120, app, read_committed=True)
    finally:
        app.stop()
    # Each update of a word's count was committed once: its counts only grow.
    repeated = {w: v for w, v in counts.items() if any(b <= a for a, b in zip(v, v[1:]))}
    assert not repeated, f"counts written more than once or out of order: {dict(list(repeated.items())[:3])}"


def test_the_survivor_restores_the_lost_instances_state(streams_broker, tmp_path):
    bootstrap = streams_broker.bootstrap
    source, sink, app_id = topics_and_app(bootstrap)
    apps = [WordCountApp(bootstrap, source, sink, app_id, tmp_path / f"state{i}", exactly_once=True)
            for i in range(2)]
    try:
        start_all(apps)
        expected = produce_lines(bootstrap, source, 3000, seed=4)
        wait_for_counts(bootstrap, sink, expected, 90, apps[1], read_committed=True)
        apps[0].kill()
        expected.update(produce_lines(bootstrap, source, 3000, seed=5))
        wait_for_counts(bootstrap, sink, expected, 120, apps[1], read_committed=True)
        # The survivor rebuilt the counting stores it took over from their changelogs.
        restored = re.findall(rf"Restored (\d+) records of {app_id}-counts-store-changelog", apps[1].log_text())
        assert any(int(n) > 0 for n in restored), apps[1].log_text()[-3000:]
    finally:
        for app in apps:
            app.stop()


def test_a_checkpoint_beyond_the_changelog_end_is_rebuilt_from_the_changelog(streams_broker, tmp_path):
    bootstrap = streams_broker.bootstrap
    source, sink, app_id = topics_and_app(bootstrap)
    state = tmp_path / "state"
    expected = produce_lines(bootstrap, source, 2000, seed=6)
    app = WordCountApp(bootstrap, source, sink, app_id, state, commit_interval_ms=500).start()
    try:
        wait_for_counts(bootstrap, sink, expected, 90, app)
        assert app.stop() == 0
        # As after a changelog was deleted and recreated: the checkpoints point past its end.
        for checkpoint in (state / app_id).glob("*/.checkpoint"):
            lines = checkpoint.read_text().splitlines()
            checkpoint.write_text("\n".join(lines[:2] + [" ".join(l.split()[:2] + ["1000000000"]) for l in lines[2:]])
                                  + "\n")
        expected.update(produce_lines(bootstrap, source, 500, seed=7))
        app.start()
        wait_for_counts(bootstrap, sink, expected, 90, app)
        assert "is beyond the log end" in app.log_text()
    finally:
        app.stop()


def test_a_standby_replica_lets_the_survivor_take_over_without_restoring(streams_broker, tmp_path):
    """num.standby.replicas=1 with two instances: each follows the changelogs of the other's
    counting tasks and checkpoints them, so when one is killed the survivor's new tasks start
    from those checkpoints and restore nothing."""
    bootstrap = streams_broker.bootstrap
    source, sink, app_id = topics_and_app(bootstrap)
    states = [tmp_path / f"state{i}" for i in range(2)]
    apps = [WordCountApp(bootstrap, source, sink, app_id, state, exactly_once=True, standby_replicas=1)
            for state in states]
    changelog = f"{app_id}-counts-store-changelog"
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("ends")})
    try:
        start_all(apps)
        expected = produce_lines(bootstrap, source, 3000, seed=8)
        wait_for_counts(bootstrap, sink, expected, 90, apps[1], read_committed=True)

        def mirrored():
            # Under exactly_once_v2 only standbys checkpoint while running: every counting task
            # checkpointed at its changelog's end somewhere means each has a caught-up standby.
            ends = {p: reader.get_watermark_offsets(TopicPartition(changelog, p), timeout=10)[1] for p in range(3)}
            at_end = {p for state in states for p in range(3)
                      if f"{changelog} {p} {ends[p]}" in _read(state / app_id / f"1_{p}" / ".checkpoint")}
            return at_end == {0, 1, 2}
        wait_until(mirrored, 60, "a standby of every counting task caught up with its changelog")
        mark = len(apps[1].log_text())
        apps[0].kill()
        expected.update(produce_lines(bootstrap, source, 1000, seed=9))
        wait_for_counts(bootstrap, sink, expected, 120, apps[1], read_committed=True)
        after = apps[1].log_text()[mark:]
        assert "handed to its active task" in after, after[-3000:]
        restored = [int(n) for n in re.findall(rf"Restored (\d+) records of {changelog}", after)]
        assert not any(restored), f"the survivor restored {restored} records: its standbys were not used"
    finally:
        reader.close()
        for app in apps:
            app.stop()


def _read(path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
