"""Apache Kafka's own command-line tools, run from Kafka 4.1's jars, against our broker and against
Apache Kafka: the same commands must give the same answers on both (what may differ between runs,
such as topic ids, paths and timings, is normalized away)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource

from tests.conftest import unique_topic, wait_until
from tests.interop.apache_kafka import kafka_libs
from tests.interop.kafka_tools import (
    CONFIGS, CONSOLE_CONSUMER, CONSOLE_PRODUCER, CONSUMER_GROUPS, CONSUMER_PERF, DELETE_RECORDS, GET_OFFSETS,
    LEADER_ELECTION, LOG_DIRS, PRODUCER_PERF, REASSIGN, TOPICS, TRANSACTIONS, quiet_log4j2, run_tools)

pytestmark = pytest.mark.slow


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def table(text: str) -> list[list[str]]:
    """A tool's tab- or space-aligned table as rows of cells."""
    return [re.split(r"\s+", line.strip()) for line in lines(text)]


def test_kafka_topics_and_kafka_configs(any_broker):
    bs = any_broker.bootstrap
    topic, missing = unique_topic("tools-topics"), unique_topic("tools-missing")
    results = run_tools([
        [TOPICS, "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "3",
         "--config", "retention.ms=86400000"],
        [TOPICS, "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "3"],
        [TOPICS, "--bootstrap-server", bs, "--alter", "--topic", topic, "--partitions", "4"],
        [TOPICS, "--bootstrap-server", bs, "--describe", "--topic", topic],
        [TOPICS, "--bootstrap-server", bs, "--list", "--exclude-internal"],
        [CONFIGS, "--bootstrap-server", bs, "--alter", "--entity-type", "topics", "--entity-name", topic,
         "--add-config", "cleanup.policy=compact,max.message.bytes=2000000"],
        [CONFIGS, "--bootstrap-server", bs, "--alter", "--entity-type", "topics", "--entity-name", topic,
         "--delete-config", "max.message.bytes"],
        [CONFIGS, "--bootstrap-server", bs, "--describe", "--entity-type", "topics", "--entity-name", topic],
        [CONFIGS, "--bootstrap-server", bs, "--alter", "--entity-type", "topics", "--entity-name", topic,
         "--add-config", "retention.ms=soon"],
        [TOPICS, "--bootstrap-server", bs, "--delete", "--topic", topic],
        [TOPICS, "--bootstrap-server", bs, "--delete", "--topic", missing],
    ])
    created, duplicate, altered, described, listed, configured, deleted_config, configs, bad, deleted, unknown = results
    assert (created.returncode, lines(created.stdout)) == (0, [f"Created topic {topic}."]), created
    assert duplicate.returncode == 1
    assert lines(duplicate.stdout) == [f"Error while executing topic command : Topic '{topic}' already exists."]
    assert altered.returncode == 0, altered.stderr
    header, *partitions = lines(described.stdout)
    # Apache Kafka shows its cluster-wide min.insync.replicas default as set; we have no such default.
    header = re.sub(r"TopicId: \S+", "TopicId: ID", header).replace("min.insync.replicas=1,", "")
    assert header == (f"Topic: {topic}\tTopicId: ID\tPartitionCount: 4\tReplicationFactor: 1\t"
                      "Configs: retention.ms=86400000")
    assert partitions == [f"Topic: {topic}\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr:"
                          for p in range(4)]
    assert topic in lines(listed.stdout) and not any(t.startswith("__") for t in lines(listed.stdout))
    assert lines(configured.stdout) == [f"Completed updating config for topic {topic}."]
    assert deleted_config.returncode == 0, deleted_config.stderr
    assert lines(configs.stdout) == [
        f"Dynamic configs for topic {topic} are:",
        "cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact, "
        "DEFAULT_CONFIG:log.cleanup.policy=delete}",
        "retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000}",
    ], configs.stdout
    assert bad.returncode == 1 and "InvalidConfigurationException" in bad.stderr, bad.stderr[:2000]
    assert deleted.returncode == 0 and unknown.returncode == 1
    assert lines(unknown.stdout) == [f"Error while executing topic command : Topic '{missing}' does not exist as expected"]


def test_perf_tests_consumer_groups_offsets_and_delete_records(any_broker, tmp_path):
    bs = any_broker.bootstrap
    topic, group = unique_topic("tools-perf"), unique_topic("tools-group")
    delete_plan = tmp_path / "delete.json"
    delete_plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": p, "offset": 100} for p in range(2)]}))
    results = run_tools([
        [TOPICS, "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "2"],
        [PRODUCER_PERF, "--topic", topic, "--num-records", "3000", "--record-size", "200", "--throughput", "-1",
         "--producer-props", f"bootstrap.servers={bs}", "acks=all", "partitioner.class="
         "org.apache.kafka.clients.producer.RoundRobinPartitioner"],
        [CONSUMER_PERF, "--bootstrap-server", bs, "--topic", topic, "--messages", "3000", "--group", group],
        [CONSUMER_GROUPS, "--bootstrap-server", bs, "--list"],
        [CONSUMER_GROUPS, "--bootstrap-server", bs, "--describe", "--group", group],
        [CONSUMER_GROUPS, "--bootstrap-server", bs, "--reset-offsets", "--group", group, "--topic", topic,
         "--to-offset", "1000", "--execute"],
        [CONSUMER_GROUPS, "--bootstrap-server", bs, "--describe", "--group", group, "--offsets"],
        [DELETE_RECORDS, "--bootstrap-server", bs, "--offset-json-file", str(delete_plan)],
        [GET_OFFSETS, "--bootstrap-server", bs, "--topic", topic, "--time", "-2"],
        [GET_OFFSETS, "--bootstrap-server", bs, "--topic", topic, "--time", "-1"],
        [LOG_DIRS, "--bootstrap-server", bs, "--describe", "--topic-list", topic],
        [CONSUMER_GROUPS, "--bootstrap-server", bs, "--delete", "--group", group],
        [CONSUMER_GROUPS, "--bootstrap-server", bs, "--describe", "--group", group],
    ])
    (_, produced, consumed, groups, described, reset, after_reset, deleted, earliest, latest, log_dirs,
     group_deleted, gone) = results
    assert lines(produced.stdout)[-1].startswith("3000 records sent,"), produced.stdout + produced.stderr
    header, values = [line.split(", ") for line in lines(consumed.stdout)[-2:]]
    assert dict(zip(header, values))["data.consumed.in.nMsg"] == "3000", consumed.stdout
    assert group in lines(groups.stdout)
    rows = table(described.stdout)
    assert rows[0] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID",
                       "HOST", "CLIENT-ID"]
    assert sorted(r[:6] for r in rows[1:]) == [[group, topic, str(p), "1500", "1500", "0"] for p in range(2)]
    assert f"Consumer group '{group}' has no active members." in described.stderr
    assert sorted(table(reset.stdout)[1:]) == [[group, topic, str(p), "1000"] for p in range(2)], reset.stdout
    assert sorted(r[:6] for r in table(after_reset.stdout)[1:]) == [
        [group, topic, str(p), "1000", "1500", "500"] for p in range(2)]
    assert lines(deleted.stdout)[:2] == ["Executing records delete operation", "Records delete operation completed:"]
    assert sorted(lines(deleted.stdout)[2:]) == [f"partition: {topic}-{p}\tlow_watermark: 100" for p in range(2)]
    assert sorted(lines(earliest.stdout)) == [f"{topic}:{p}:100" for p in range(2)]
    assert sorted(lines(latest.stdout)) == [f"{topic}:{p}:1500" for p in range(2)]
    assert lines(log_dirs.stdout)[:2] == ["Querying brokers for log directories information",
                                          "Received log directory information from brokers 1"]
    (log_dir,) = json.loads(lines(log_dirs.stdout)[2])["brokers"][0]["logDirs"]
    assert log_dir["error"] is None
    assert sorted(p["partition"] for p in log_dir["partitions"]) == [f"{topic}-{p}" for p in range(2)]
    # 1,500 records of 200 bytes on each partition: at least their values are on disk.
    assert all(p["size"] > 1500 * 200 and p["offsetLag"] == 0 and not p["isFuture"] for p in log_dir["partitions"])
    assert lines(group_deleted.stdout) == [f"Deletion of requested consumer groups ('{group}') was successful."]
    assert f"GroupIdNotFoundException: Group {group} not found." in gone.stdout, gone.stdout


def test_leader_election_and_reassignment_as_one_node_answers(any_broker, tmp_path):
    bs = any_broker.bootstrap
    topic = unique_topic("tools-elect")
    to_this_node, to_another_node = tmp_path / "here.json", tmp_path / "elsewhere.json"
    to_this_node.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [1], "log_dirs": ["any"]}]}))
    to_another_node.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [7], "log_dirs": ["any"]}]}))
    results = run_tools([
        [TOPICS, "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "2"],
        [LEADER_ELECTION, "--bootstrap-server", bs, "--election-type", "PREFERRED", "--topic", topic,
         "--partition", "0"],
        [LEADER_ELECTION, "--bootstrap-server", bs, "--election-type", "UNCLEAN", "--topic", topic,
         "--partition", "1"],
        [LEADER_ELECTION, "--bootstrap-server", bs, "--election-type", "PREFERRED", "--topic", topic + "-nope",
         "--partition", "0"],
        [LEADER_ELECTION, "--bootstrap-server", bs, "--election-type", "PREFERRED", "--all-topic-partitions"],
        [REASSIGN, "--bootstrap-server", bs, "--list"],
        [REASSIGN, "--bootstrap-server", bs, "--execute", "--reassignment-json-file", str(to_this_node)],
        [REASSIGN, "--bootstrap-server", bs, "--verify", "--reassignment-json-file", str(to_this_node)],
        [REASSIGN, "--bootstrap-server", bs, "--execute", "--reassignment-json-file", str(to_another_node)],
    ])
    _, preferred, unclean, unknown, everything, listed, executed, verified, elsewhere = results
    assert lines(preferred.stdout) == [f"Valid replica already elected for partitions {topic}-0"]
    assert lines(unclean.stdout) == [f"Valid replica already elected for partitions {topic}-1"]
    assert unknown.returncode == 1 and "UnknownTopicOrPartitionException" in unknown.stdout + unknown.stderr
    assert everything.returncode == 0 and lines(everything.stdout) == []
    assert lines(listed.stdout) == ["No partition reassignments found."]
    assert executed.returncode == 0, executed.stdout + executed.stderr
    assert "Successfully started partition reassignment for " + f"{topic}-0" in executed.stdout
    assert verified.returncode == 0 and f"Reassignment of partition {topic}-0 is completed." in verified.stdout
    assert elsewhere.returncode == 1, elsewhere.stdout
    assert "Unknown broker id 7" in elsewhere.stdout + elsewhere.stderr, elsewhere.stdout + elsewhere.stderr


def test_kafka_transactions_lists_describes_and_aborts_an_open_transaction(any_broker):
    bs = any_broker.bootstrap
    topic, txn_id = unique_topic("tools-txn"), unique_topic("tools-txn-id")
    run_tools([[TOPICS, "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "1"]])
    producer = Producer({"bootstrap.servers": bs, "transactional.id": txn_id})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, value=b"open-%d" % i, partition=0)
    producer.flush(30)
    results = run_tools([
        [TRANSACTIONS, "--bootstrap-server", bs, "list"],
        [TRANSACTIONS, "--bootstrap-server", bs, "describe", "--transactional-id", txn_id],
        [TRANSACTIONS, "--bootstrap-server", bs, "describe", "--transactional-id", txn_id + "-nope"],
        [TRANSACTIONS, "--bootstrap-server", bs, "describe-producers", "--topic", topic, "--partition", "0"],
        [TRANSACTIONS, "--bootstrap-server", bs, "find-hanging", "--topic", topic, "--max-transaction-timeout", "0"],
        [TRANSACTIONS, "--bootstrap-server", bs, "abort", "--topic", topic, "--partition", "0",
         "--start-offset", "0"],
        [TRANSACTIONS, "--bootstrap-server", bs, "describe-producers", "--topic", topic, "--partition", "0"],
    ])
    listed, described, unknown, producers, hanging, aborted, after = results
    ours = [row for row in table(listed.stdout) if row[0] == txn_id]
    assert table(listed.stdout)[0] == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
    assert len(ours) == 1 and ours[0][1] == "1" and ours[0][3] == "Ongoing", listed.stdout
    header, row = table(described.stdout)
    assert header == ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
                      "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs",
                      "TopicPartitions"]
    described_row = dict(zip(header, row))
    assert described_row["TransactionState"] == "Ongoing" and described_row["TopicPartitions"] == f"{topic}-0"
    assert described_row["TransactionTimeoutMs"] == "60000" and described_row["ProducerId"] == ours[0][2]
    assert unknown.returncode == 1 and "could not be found" in unknown.stderr, unknown.stderr
    header, row = table(producers.stdout)
    producer_row = dict(zip(header, row))
    assert producer_row["ProducerId"] == ours[0][2] and producer_row["LastSequence"] == "4"
    assert producer_row["CurrentTransactionStartOffset"] == "0" and producer_row["LatestCoordinatorEpoch"] == "-1"
    # The coordinator has the partition in the open transaction: it is not hanging.
    assert table(hanging.stdout) == [["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch",
                                      "StartOffset", "LastTimestamp", "Duration(min)"]]
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    header, row = table(after.stdout)
    assert dict(zip(header, row))["CurrentTransactionStartOffset"] == "None"

    # The ABORT marker is in the log: a read_committed consumer reaches the end and sees none of it.
    consumer = Consumer({"bootstrap.servers": bs, "group.id": unique_topic("tools-txn-reader"),
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 6)
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen = [m for m in consumer.consume(10, timeout=3) if m.error() is None]
        assert seen == []
        assert consumer.position([TopicPartition(topic, 0)])[0].offset == 6
    finally:
        consumer.close()
        producer.abort_transaction(30)  # the producer's own abort after the operator's: harmless


def _produce_error(bs: str, topic: str, size: int):
    """The delivery error of one record of `size` bytes (None when it was written)."""
    errors = []
    producer = Producer({"bootstrap.servers": bs, "message.max.bytes": 10_000_000, "retries": 0})
    producer.produce(topic, value=b"x" * size, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    return errors[0]


def test_dynamic_broker_configs_with_kafka_configs_take_effect_without_restart(any_broker):
    bs = any_broker.bootstrap
    topic = unique_topic("tools-dynamic")
    broker_1 = [CONFIGS, "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-name", "1"]
    cluster = [CONFIGS, "--bootstrap-server", bs, "--entity-type", "brokers", "--entity-default"]
    run_tools([[TOPICS, "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "1"]])
    try:
        changed, defaulted, described, default_described, static, bad = run_tools([
            [*broker_1, "--alter", "--add-config", "message.max.bytes=3000,log.retention.ms=1000000"],
            [*cluster, "--alter", "--add-config", "log.segment.bytes=20000000"],
            [*broker_1, "--describe"],
            [*cluster, "--describe"],
            [*broker_1, "--alter", "--add-config", "num.partitions=5"],
            [*broker_1, "--alter", "--add-config", "log.retention.ms=soon"],
        ])
        assert lines(changed.stdout) == ["Completed updating config for broker 1."], changed.stderr
        assert lines(defaulted.stdout) == ["Completed updating default config for brokers in the cluster."]
        assert lines(described.stdout) == [
            "Dynamic configs for broker 1 are:",
            "log.retention.ms=1000000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.retention.ms=1000000, "
            "DEFAULT_CONFIG:log.retention.hours=168}",
            "message.max.bytes=3000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:message.max.bytes=3000, "
            "DEFAULT_CONFIG:message.max.bytes=1048588}",
        ], described.stdout
        # Apache Kafka's KRaft cluster also has min.insync.replicas=1 as a cluster default.
        assert [line for line in lines(default_described.stdout) if not line.startswith("min.insync.replicas=")] == [
            "Default configs for brokers in the cluster are:",
            "log.segment.bytes=20000000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:"
            "log.segment.bytes=20000000}"]
        assert static.returncode == 1 and ("InvalidRequestException: Cannot update these configs dynamically: "
                                           "Set(num.partitions)") in static.stderr, static.stderr[:2000]
        assert bad.returncode == 1 and ("InvalidRequestException: Invalid value soon for configuration "
                                        "log.retention.ms: Not a number of type LONG") in bad.stderr, bad.stderr[:2000]

        # The topic falls back to the broker's new message.max.bytes at once (Apache Kafka: once the
        # change reached the broker through its metadata log).
        wait_until(lambda: _produce_error(bs, topic, 5000) is not None, 15, "a 5,000-byte record to be refused")
        assert _produce_error(bs, topic, 5000).code() == KafkaError.MSG_SIZE_TOO_LARGE
        admin = AdminClient({"bootstrap.servers": bs})
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        entry = admin.describe_configs([resource])[resource].result(15)["max.message.bytes"]
        assert (entry.value, entry.source) == ("3000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    finally:
        run_tools([[*broker_1, "--alter", "--delete-config", "message.max.bytes,log.retention.ms"],
                   [*cluster, "--alter", "--delete-config", "log.segment.bytes"]])
    wait_until(lambda: _produce_error(bs, topic, 5000) is None, 15, "a 5,000-byte record to be written again")


def test_kafka_console_producer_and_consumer(any_broker):
    bs = any_broker.bootstrap
    topic = unique_topic("tools-console")
    run_tools([[TOPICS, "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "1"]])
    produced = subprocess.run(
        ["java", f"-Dlog4j2.configurationFile={quiet_log4j2()}", "-cp", f"{kafka_libs()}/*", CONSOLE_PRODUCER,
         "--bootstrap-server", bs, "--topic", topic, "--property", "parse.key=true", "--property", "key.separator=:"],
        input="k1:first\nk2:second\nk1:third\n", capture_output=True, text=True, timeout=120)
    assert produced.returncode == 0, produced.stderr[-2000:]
    (consumed,) = run_tools([[CONSOLE_CONSUMER, "--bootstrap-server", bs, "--topic", topic, "--from-beginning",
                              "--max-messages", "3", "--property", "print.key=true",
                              "--property", "key.separator=:"]])
    assert lines(consumed.stdout) == ["k1:first", "k2:second", "k1:third"], consumed.stdout + consumed.stderr
    assert "Processed a total of 3 messages" in consumed.stderr


def test_kafka_configs_sets_and_describes_group_configs(any_broker):
    """Per-group configs (KIP-848), `--entity-type groups`: set, described (with --all: every
    group config, the others at the broker's values), refused with Kafka's reason, deleted."""
    bs, group = any_broker.bootstrap, unique_topic("tools-group")
    base = [CONFIGS, "--bootstrap-server", bs, "--entity-type", "groups", "--entity-name", group]
    results = run_tools([
        [*base, "--alter", "--add-config", "consumer.session.timeout.ms=50000,consumer.heartbeat.interval.ms=6000"],
        [*base, "--describe"],
        [*base, "--describe", "--all"],
        [*base, "--alter", "--add-config", "consumer.session.timeout.ms=1000"],
        [*base, "--alter", "--add-config", "no.such.config=1"],
        [*base, "--alter", "--delete-config", "consumer.heartbeat.interval.ms"],
        [*base, "--describe"],
    ], settle_ms=1000)  # Kafka applies a config change through its metadata log
    added, described, described_all, too_short, unknown, deleted, after = results
    assert added.stdout.strip() == deleted.stdout.strip() == f"Completed updating config for group {group}."
    dynamic = "sensitive=false synonyms={DYNAMIC_GROUP_CONFIG:"
    assert lines(described.stdout) == [
        f"Dynamic configs for group {group} are:",
        f"consumer.heartbeat.interval.ms=6000 {dynamic}consumer.heartbeat.interval.ms=6000}}",
        f"consumer.session.timeout.ms=50000 {dynamic}consumer.session.timeout.ms=50000}}"]
    defaults = {"share.auto.offset.reset": "latest", "share.heartbeat.interval.ms": "5000",
                "share.isolation.level": "read_uncommitted", "share.record.lock.duration.ms": "30000",
                "share.session.timeout.ms": "45000", "streams.heartbeat.interval.ms": "5000",
                "streams.num.standby.replicas": "0", "streams.session.timeout.ms": "45000"}
    assert lines(described_all.stdout) == [f"All configs for group {group} are:"] + lines(described.stdout)[1:] + [
        f"{name}={value} sensitive=false synonyms={{DEFAULT_CONFIG:{name}={value}}}" for name, value in defaults.items()]
    assert too_short.returncode == unknown.returncode == 1
    assert ("InvalidConfigurationException: consumer.session.timeout.ms must be greater than or equal to "
            "group.consumer.min.session.timeout.ms") in too_short.stderr
    assert "InvalidConfigurationException: Unknown group config name: no.such.config" in unknown.stderr
    assert lines(after.stdout) == [f"Dynamic configs for group {group} are:", lines(described.stdout)[2]]
