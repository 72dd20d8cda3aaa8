"""The console tools as subprocesses, as people type them, against a real broker and registry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, unique_topic

SCHEMAS = REPO / "schemas"


def tool(name: str, *args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", f"import sys; from cli.console import {name}; {name}()", *args],
                          input=stdin, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_avro_round_trip_with_keys_and_metadata(platform):
    broker, registry = platform
    topic = unique_topic("avro-console")
    lines = ['{"id": 1, "name": "Ada", "email": {"string": "ada@example.com"}}',
             '{"id": 2, "name": "Grace", "email": null}']
    sent = "\n".join(f"user-{i}\t{line}" for i, line in enumerate(lines)) + "\n"
    produced = tool("avro_producer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                    "--property", f"schema.registry.url={registry.url}",
                    "--property", f"value.schema.file={SCHEMAS / 'user.avsc'}",
                    "--property", "parse.key=true", stdin=sent)
    assert produced.returncode == 0, produced.stderr

    consumed = tool("avro_consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                    "--from-beginning", "--max-messages", "2", "--timeout-ms", "20000",
                    "--property", f"schema.registry.url={registry.url}",
                    "--property", "print.key=true", "--property", "print.offset=true",
                    "--property", "print.schema.ids=true")
    assert consumed.returncode == 0, consumed.stderr
    out = consumed.stdout.splitlines()
    assert len(out) == 2
    offset, key, value, schema_id = out[0].split("\t")
    assert (offset, key) == ("Offset:0", "user-0")
    assert json.loads(value) == json.loads(lines[0])
    assert int(schema_id) > 0
    assert json.loads(out[1].split("\t")[2]) == json.loads(lines[1])
    assert "Processed a total of 2 messages" in consumed.stderr


def test_string_console_tools(platform):
    broker, _ = platform
    topic = unique_topic("plain")
    produced = tool("string_producer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                    stdin="hello\nworld\n")
    assert produced.returncode == 0, produced.stderr
    consumed = tool("string_consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                    "--partition", "0", "--offset", "earliest", "--max-messages", "2", "--timeout-ms", "20000",
                    "--property", "print.partition=true")
    assert consumed.stdout.splitlines() == ["Partition:0\thello", "Partition:0\tworld"]


def test_bad_line_stops_with_line_number_and_keeps_what_was_sent(platform):
    broker, registry = platform
    topic = unique_topic("badline")
    stdin = '{"id": 1, "name": "ok", "email": null}\n{"id": "one"}\n{"id": 3, "name": "never", "email": null}\n'
    produced = tool("avro_producer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                    "--property", f"schema.registry.url={registry.url}",
                    "--property", f"value.schema.file={SCHEMAS / 'user.avsc'}", stdin=stdin)
    assert produced.returncode != 0
    assert "line 2" in produced.stderr and "Traceback" not in produced.stderr
    consumed = tool("avro_consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                    "--from-beginning", "--timeout-ms", "3000",
                    "--property", f"schema.registry.url={registry.url}")
    assert [json.loads(x)["name"] for x in consumed.stdout.splitlines()] == ["ok"]

    skipped = tool("avro_producer", "--bootstrap-server", broker.bootstrap, "--topic", topic, "--skip-bad-lines",
                   "--property", f"schema.registry.url={registry.url}",
                   "--property", f"value.schema.file={SCHEMAS / 'user.avsc'}", stdin=stdin)
    assert skipped.returncode == 0 and "line 2" in skipped.stderr


def test_unknown_schema_id_and_unreachable_services(platform):
    broker, registry = platform
    topic = unique_topic("unreachable")
    unknown = tool("avro_producer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                   "--property", f"schema.registry.url={registry.url}", "--property", "value.schema.id=987654",
                   stdin='{"id": 1}\n')
    assert unknown.returncode != 0 and "40403" in unknown.stderr and "Traceback" not in unknown.stderr

    no_registry = tool("avro_producer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                       "--property", "schema.registry.url=http://127.0.0.1:9",
                       "--property", f"value.schema.file={SCHEMAS / 'user.avsc'}",
                       stdin='{"id": 1, "name": "x", "email": null}\n')
    assert no_registry.returncode == 3 and "unreachable" in no_registry.stderr
    assert "Traceback" not in no_registry.stderr

    no_broker = tool("string_producer", "--bootstrap-server", "127.0.0.1:9", "--topic", topic, stdin="x\n")
    assert no_broker.returncode == 3 and "cannot reach the Kafka broker" in no_broker.stderr
    assert "Traceback" not in no_broker.stderr


@pytest.mark.parametrize("script", ["kafka-avro-console-producer", "kafka-console-consumer"])
def test_console_scripts_are_installed(script):
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "--bootstrap-server" in result.stdout


ORDER_PROTO = """syntax = "proto3";
package tour;
import "google/protobuf/timestamp.proto";
message Order {
  int64 id = 1;
  string item = 2;
  google.protobuf.Timestamp at = 3;
}
"""


@pytest.mark.parametrize("fmt, schema, lines", [
    ("protobuf", ORDER_PROTO, ['{"id": "1", "item": "book", "at": "2026-11-25T10:00:00Z"}', '{"id": "2", "item": "pen"}']),
    ("json_schema", (SCHEMAS / "address.json").read_text(),
     ['{"street": "1 Rua Direita", "city": "Porto", "postcode": "4000-123"}', '{"city": "Lisbon"}']),
])
def test_protobuf_and_json_schema_round_trips(platform, tmp_path, fmt, schema, lines):
    broker, registry = platform
    topic = unique_topic(fmt.replace("_", "-"))
    schema_file = tmp_path / ("schema.proto" if fmt == "protobuf" else "schema.json")
    schema_file.write_text(schema)
    common = ["--bootstrap-server", broker.bootstrap, "--topic", topic,
              "--property", f"schema.registry.url={registry.url}"]
    produced = tool(f"{fmt}_producer", *common, "--property", f"value.schema.file={schema_file}",
                    stdin="\n".join(lines) + "\n")
    assert produced.returncode == 0, produced.stderr
    consumed = tool(f"{fmt}_consumer", *common, "--from-beginning", "--max-messages", "2", "--timeout-ms", "20000")
    assert consumed.returncode == 0, consumed.stderr
    out = [json.loads(x) for x in consumed.stdout.splitlines()]
    assert [json.loads(x) for x in lines] == out

    bad = tool(f"{fmt}_producer", *common, "--property", f"value.schema.file={schema_file}",
               stdin='{"id": "x", "item": 5}\n' if fmt == "protobuf" else '{"city": 7}\n')
    assert bad.returncode == 1 and "line 1" in bad.stderr and "Traceback" not in bad.stderr


def test_schema_file_with_references(platform):
    """value.refs (Confluent's property) resolves a .proto import from a schema file."""
    from serdes import Schema, SchemaRegistryClient

    broker, registry = platform
    client = SchemaRegistryClient({"url": registry.url})
    client.register_schema("address.proto", Schema((SCHEMAS / "address.proto").read_text(), "PROTOBUF"))
    version = client.lookup_schema("address.proto",
                                   Schema((SCHEMAS / "address.proto").read_text(), "PROTOBUF")).version
    refs = json.dumps([{"name": "address.proto", "subject": "address.proto", "version": version}])
    topic = unique_topic("proto-refs")
    common = ["--bootstrap-server", broker.bootstrap, "--topic", topic,
              "--property", f"schema.registry.url={registry.url}"]
    line = '{"id": "3", "name": "Grace", "address": {"city": "Arlington"}}'
    produced = tool("protobuf_producer", *common, "--property", f"value.schema.file={SCHEMAS / 'user.proto'}",
                    "--property", f"value.refs={refs}", stdin=line + "\n")
    assert produced.returncode == 0, produced.stderr
    consumed = tool("protobuf_consumer", *common, "--from-beginning", "--max-messages", "1", "--timeout-ms", "20000")
    assert json.loads(consumed.stdout) == json.loads(line)


def test_ctrl_c_commits_the_group_position_and_exits_cleanly(platform):
    import signal
    import time

    from confluent_kafka import Consumer, TopicPartition

    broker, _ = platform
    topic, group = unique_topic("ctrl-c"), unique_topic("console-group")
    produced = tool("string_producer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                    stdin="".join(f"line-{i}\n" for i in range(5)))
    assert produced.returncode == 0, produced.stderr
    proc = subprocess.Popen([sys.executable, "-c", "from cli.console import string_consumer; string_consumer()",
                             "--bootstrap-server", broker.bootstrap, "--topic", topic, "--group", group,
                             "--from-beginning"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [proc.stdout.readline().strip() for _ in range(5)]
    assert lines == [f"line-{i}" for i in range(5)]
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err and "Processed a total of 5 messages" in err
    check = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    committed = check.committed([TopicPartition(topic, 0)], timeout=10)
    check.close()
    assert committed[0].offset == 5
