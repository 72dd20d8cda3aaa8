"""`schemabus topics|groups|schemas|status|produce|consume` as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

from confluent_kafka import Consumer, Producer

from tests.conftest import REPO, unique_topic, wait_until

SCHEMAS = REPO / "schemas"


def schemabus(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", "--log-level", "ERROR", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def as_json(result: subprocess.CompletedProcess):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_topics_lifecycle(platform):
    broker, _ = platform
    b = ["--bootstrap-server", broker.bootstrap]
    topic = unique_topic("cmd")
    assert as_json(schemabus("topics", "create", topic, "--partitions", "3", "--config", "retention.ms=60000",
                             *b, "--output", "json"))["created"] == topic
    listed = as_json(schemabus("topics", "list", *b, "--output", "json"))
    assert {"topic": topic, "partitions": 3} in listed
    table = schemabus("topics", "list", *b)
    assert table.returncode == 0 and table.stdout.splitlines()[0].split() == ["TOPIC", "PARTITIONS"]

    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(9):
        p.produce(topic, b"x", partition=i % 3)
    p.flush(10)
    described = as_json(schemabus("topics", "describe", topic, *b, "--output", "json"))
    assert [part["end_offset"] for part in described["partitions"]] == [3, 3, 3]
    assert described["configs"]["retention.ms"] == "60000"

    as_json(schemabus("topics", "alter", topic, "--config", "retention.ms=120000", "--partitions", "4",
                      *b, "--output", "json"))
    described = as_json(schemabus("topics", "describe", topic, *b, "--output", "json"))
    assert described["configs"]["retention.ms"] == "120000" and len(described["partitions"]) == 4

    as_json(schemabus("topics", "delete", topic, *b, "--output", "json"))
    # Apache Kafka removes a deleted topic from its metadata asynchronously.
    missing = wait_until(lambda: (lambda r: r if r.returncode != 0 else None)(schemabus("topics", "describe", topic, *b)),
                         20, "the deleted topic is gone")
    assert "unknown topic" in missing.stderr and "Traceback" not in missing.stderr


def test_schemas_commands_and_the_compatibility_story(platform):
    _, registry = platform
    r = ["--registry-url", registry.url, "--output", "json"]
    subject = unique_topic("users") + "-value"
    first = as_json(schemabus("schemas", "register", subject, "--file", str(SCHEMAS / "user.avsc"), *r))
    assert first["id"] > 0
    assert as_json(schemabus("schemas", "check", subject, "--file", str(SCHEMAS / "user-v2.avsc"), *r))["compatible"]
    bad = schemabus("schemas", "check", subject, "--file", str(SCHEMAS / "user-v3-incompatible.avsc"), *r)
    assert bad.returncode == 1 and json.loads(bad.stdout)["compatible"] is False
    refused = schemabus("schemas", "register", subject, "--file", str(SCHEMAS / "user-v3-incompatible.avsc"), *r)
    assert refused.returncode == 1 and "409" in refused.stderr and "Traceback" not in refused.stderr
    as_json(schemabus("schemas", "register", subject, "--file", str(SCHEMAS / "user-v2.avsc"), *r))

    got = as_json(schemabus("schemas", "get", subject, *r))
    assert got["version"] == 2 and "country" in got["schema"]
    assert as_json(schemabus("schemas", "get", "--id", str(first["id"]), *r))["type"] == "AVRO"
    rows = as_json(schemabus("schemas", "list", "--prefix", subject, *r))
    assert rows == [{"subject": subject, "latest_version": 2, "id": got["id"], "type": "AVRO"}]

    assert as_json(schemabus("schemas", "config", subject, "--set", "full", *r))["compatibility"] == "FULL"
    assert as_json(schemabus("schemas", "mode", subject, "--set", "READONLY", *r))["mode"] == "READONLY"
    assert as_json(schemabus("schemas", "mode", subject, "--set", "READWRITE", *r))["mode"] == "READWRITE"
    assert as_json(schemabus("schemas", "delete", subject, *r))["deleted"] == [1, 2]
    unknown = schemabus("schemas", "get", subject, *r)
    assert unknown.returncode == 1 and "40401" in unknown.stderr


def test_status(platform):
    broker, registry = platform
    up = schemabus("status", "--bootstrap-server", broker.bootstrap, "--registry-url", registry.url)
    assert up.returncode == 0 and "broker" in up.stdout and "registry" in up.stdout


def test_unreachable_services():
    """Once, not per broker: nothing is reached (each command waits out its connection timeout)."""
    down = schemabus("status", "--bootstrap-server", "127.0.0.1:9", "--registry-url", "http://127.0.0.1:9")
    assert down.returncode == 3 and "unreachable" in down.stdout and "Traceback" not in down.stderr
    no_broker = schemabus("topics", "list", "--bootstrap-server", "127.0.0.1:9")
    assert no_broker.returncode == 3 and "cannot reach the Kafka broker" in no_broker.stderr
    assert len(no_broker.stderr.strip().splitlines()) == 1
    no_registry = schemabus("schemas", "list", "--registry-url", "http://127.0.0.1:9")
    assert no_registry.returncode == 3 and "unreachable" in no_registry.stderr


def test_produce_and_consume_subcommands(platform):
    broker, registry = platform
    topic = unique_topic("subcmd")
    common = ["--bootstrap-server", broker.bootstrap, "--topic", topic, "--format", "avro",
              "--property", f"schema.registry.url={registry.url}"]
    produced = schemabus("produce", *common, "--property", f"value.schema.file={SCHEMAS / 'user.avsc'}",
                         stdin='{"id": 5, "name": "Linus", "email": null}\n')
    assert produced.returncode == 0, produced.stderr
    consumed = schemabus("consume", *common, "--from-beginning", "--max-messages", "1", "--timeout-ms", "20000")
    assert json.loads(consumed.stdout) == {"id": 5, "name": "Linus", "email": None}


def test_groups_commands(platform):
    broker, _ = platform
    b = ["--bootstrap-server", broker.bootstrap, "--output", "json"]
    topic, group = unique_topic("grp"), unique_topic("group")
    schemabus("topics", "create", topic, "--partitions", "2", *b)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        p.produce(topic, b"%d" % i, partition=i % 2)
    p.flush(10)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    seen = 0
    for _ in range(100):
        seen += len([m for m in c.consume(10, 0.3) if not m.error()])
        if seen == 10:
            break
    c.commit(asynchronous=False)
    c.close()
    assert group in [g["group"] for g in as_json(schemabus("groups", "list", *b))]
    described = as_json(schemabus("groups", "describe", group, *b))
    assert sorted((o["partition"], o["committed"], o["lag"]) for o in described["offsets"]) == [(0, 5, 0), (1, 5, 0)]
    reset = as_json(schemabus("groups", "reset-offsets", group, "--topic", topic, "--to-earliest", *b))
    assert [r["new_offset"] for r in reset] == [0, 0]
    described = as_json(schemabus("groups", "describe", group, *b))
    assert sorted(o["lag"] for o in described["offsets"]) == [5, 5]
    as_json(schemabus("groups", "delete", group, *b))
    assert group not in [g["group"] for g in as_json(schemabus("groups", "list", *b))]
