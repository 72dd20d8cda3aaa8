"""The registry, the serdes and the console tools against a secured broker: Apache Kafka 4.1 and
our broker configured alike, with Kafka's config names (a SASL_SSL listener with a PEM keystore
and PLAIN users from the JAAS config, next to PLAINTEXT). On each, a SCRAM-SHA-512 user is made
through the Admin API by the PLAIN admin, and everything then runs as that SCRAM user over
SASL_SSL only:

1. `schemabus registry` keeps `_schemas` there (kafkastore.* settings, PEM truststore), and a
   restart reads the registered schemas back from that topic;
2. SerializingProducer / DeserializingConsumer round trips in Avro, Protobuf and JSON Schema;
3. kafka-avro-console-producer/-consumer and kafka-console-producer/-consumer with
   --producer.config / --consumer.config files in Kafka's Java names, and `schemabus topics
   list|describe` and `schemabus groups list` with --command-config;
4. no password shows in the registry's log or in any tool's stderr.

Every answer is asserted exactly, so both brokers must give the same."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

from serdes import SchemaRegistryClient
from serdes.avro import AvroDeserializer, AvroSerializer
from serdes.json_schema import JSONDeserializer, JSONSerializer
from serdes.kafka import DeserializingConsumer, SerializingProducer
from serdes.protobuf import ProtobufDeserializer, ProtobufSerializer
from tests.conftest import REPO, BrokerProcess, free_port, unique_topic
from tests.interop.apache_kafka import ApacheKafka
from tests.registry.conftest import RegistryProcess, record_schema
from tests.tls import CertificateAuthority, sasl_ssl_listener_configs

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "plain-admin-pw-3d8a1"  # the PLAIN admin of the listener's JAAS config
SCRAM_USER, SCRAM_PASSWORD = "platform", "scram-platform-pw-9b27e"
PASSWORDS = (ADMIN_PASSWORD, SCRAM_PASSWORD)
# Apache Kafka applies a SCRAM credential on its broker when the controller's metadata record
# reaches it, just after AlterUserScramCredentials returned (ours: before answering).
SCRAM_SETTLE_S = 30
SCRAM_JAAS = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
              f'username="{SCRAM_USER}" password="{SCRAM_PASSWORD}";')

POINT = record_schema("Point", {"name": "x", "type": "int"}, {"name": "label", "type": "string"})
PROTO = textwrap.dedent("""\
    syntax = "proto3";
    package platform;
    message Reading { string sensor = 1; double value = 2; repeated string tags = 3; }
""")
JSON_SCHEMA = json.dumps({"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                          "required": ["sku", "qty"], "additionalProperties": False})


@dataclass
class Secured:
    """One secured broker, the registry on it and what the tools said."""
    name: str
    sasl_bootstrap: str
    ca: CertificateAuthority
    base: Path
    registry: RegistryProcess
    client_properties: Path  # the SCRAM user's, Kafka's Java names
    broker_log: Callable[[], str]  # our broker's log; empty for Apache Kafka
    stderr: list[str] = field(default_factory=list)

    def librdkafka(self, **extra) -> dict:
        """The SCRAM user's settings for confluent-kafka clients (librdkafka's names)."""
        return {"bootstrap.servers": self.sasl_bootstrap, "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": SCRAM_USER, "sasl.password": SCRAM_PASSWORD,
                "ssl.ca.location": str(self.ca.ca_file), **extra}

    def run(self, argv: list[str], stdin: str = "", timeout: float = 90) -> subprocess.CompletedProcess:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=REPO)
        self.stderr.append(done.stderr)
        return done

    def tool(self, name: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """A console tool (cli.console's entry point, as the installed script runs it)."""
        return self.run([sys.executable, "-c", f"from cli.console import {name}; {name}()", *args], stdin)

    def schemabus(self, *args: str) -> subprocess.CompletedProcess:
        return self.run([sys.executable, "-m", "cli.main", *args, "--bootstrap-server", self.sasl_bootstrap,
                         "--command-config", str(self.client_properties), "--output", "json"])


def add_scram_user(admin_conf: dict, scram_conf: dict) -> None:
    admin = AdminClient(admin_conf)
    upsert = UserScramCredentialUpsertion(SCRAM_USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                          SCRAM_PASSWORD.encode())
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(30)
    # Bounded wait until the new user authenticates (see SCRAM_SETTLE_S).
    deadline = time.monotonic() + SCRAM_SETTLE_S
    while True:
        try:
            AdminClient({**scram_conf, "log_level": 0}).list_topics(timeout=5)
            return
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"SCRAM user {SCRAM_USER} not accepted within {SCRAM_SETTLE_S}s: {exc}") from None
            time.sleep(0.5)


@pytest.fixture(scope="module", params=["schemabus", "apache-kafka"])
def secured(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"secured-{request.param}")
    ca = CertificateAuthority(base / "ca")
    # The same Kafka configs for both brokers; each adds the SASL_SSL listener its own way.
    configs = sasl_ssl_listener_configs(ca, {"admin": ADMIN_PASSWORD})
    sasl_port = free_port()
    if request.param == "schemabus":
        plain_port = free_port()
        broker = BrokerProcess(base / "data", {
            **configs, "group.initial.rebalance.delay.ms": "0",  # as ApacheKafka configures Kafka
            "listeners": f"PLAINTEXT://127.0.0.1:{plain_port},SASL_SSL://127.0.0.1:{sasl_port}"},
            port=plain_port).start()
        stop, broker_log = broker.stop, broker.log_text
    else:
        kafka = ApacheKafka(base / "kafka", extra=configs, extra_listeners={"SASL_SSL": sasl_port}).start()
        stop, broker_log = kafka.destroy, lambda: ""  # Kafka's own log is not ours to vouch for
    sasl_bootstrap = f"127.0.0.1:{sasl_port}"
    try:
        admin_conf = {"bootstrap.servers": sasl_bootstrap, "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
                      "sasl.username": "admin", "sasl.password": ADMIN_PASSWORD, "ssl.ca.location": str(ca.ca_file)}
        client_properties = base / "scram-client.properties"
        client_properties.write_text(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
            f"sasl.jaas.config={SCRAM_JAAS}\n"
            f"ssl.truststore.type=PEM\nssl.truststore.location={ca.ca_file}\n")
        registry = RegistryProcess("", base, extra_args=[
            "--config", f"kafkastore.bootstrap.servers=SASL_SSL://{sasl_bootstrap}",
            "--config", "kafkastore.security.protocol=SASL_SSL",
            "--config", "kafkastore.sasl.mechanism=SCRAM-SHA-512",
            "--config", f"kafkastore.sasl.jaas.config={SCRAM_JAAS}",
            "--config", f"kafkastore.ssl.truststore.location={ca.ca_file}",
            "--config", "kafkastore.ssl.truststore.type=PEM"])
        secured = Secured(request.param, sasl_bootstrap, ca, base, registry, client_properties, broker_log)
        add_scram_user(admin_conf, secured.librdkafka())
        registry.start()
        try:
            yield secured
        finally:
            registry.stop()
    finally:
        stop()


# -- 1. the registry's store ---------------------------------------------------------------------


def test_registry_store_on_the_secured_broker_survives_a_restart(secured):
    registry = secured.registry
    # The leader election (a consumer group) ran through the SASL_SSL listener as well.
    assert "leader in group" in registry.ready_line, registry.ready_line
    first = registry.register("points-value", POINT)
    assert first.status_code == 200, first.text
    evolved = record_schema("Point", {"name": "x", "type": "int"}, {"name": "label", "type": "string"},
                            {"name": "y", "type": "int", "default": 0})
    second = registry.register("points-value", evolved)
    assert second.status_code == 200, second.text
    assert registry.call("PUT", "/config/points-value", {"compatibility": "FULL"}).status_code == 200
    ids = [first.json()["id"], second.json()["id"]]
    assert ids == [1, 2]

    registry.restart()
    # Everything comes back from `_schemas` on that broker: nothing is kept anywhere else.
    assert "leader in group" in registry.ready_line, registry.ready_line
    assert registry.call("GET", "/subjects").json() == ["points-value"]
    assert registry.call("GET", "/subjects/points-value/versions").json() == [1, 2]
    assert json.loads(registry.call("GET", f"/schemas/ids/{ids[1]}").json()["schema"]) == evolved
    assert registry.call("GET", "/config/points-value").json() == {"compatibilityLevel": "FULL"}
    # And the topic is there, on the secured broker, holding those records.
    listed = secured.schemabus("topics", "list")
    assert listed.returncode == 0, listed.stderr
    assert {"topic": registry.topic, "partitions": 1} in json.loads(listed.stdout)
    described = secured.schemabus("topics", "describe", registry.topic)
    assert described.returncode == 0, described.stderr
    store = json.loads(described.stdout)
    assert store["configs"].get("cleanup.policy") == "compact", store
    # Two schemas, one config, and a NOOP per start (at least) make the topic's records.
    assert store["partitions"][0]["end_offset"] >= 5, store


# -- 2. serdes -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reading_pb2(tmp_path_factory):
    """A generated class for PROTO (grpc_tools' protoc, as the serdes tests do)."""
    from grpc_tools import protoc
    import grpc_tools

    out = tmp_path_factory.mktemp("platform-pb2")
    (out / "platform_reading.proto").write_text(PROTO)
    include = str(importlib.resources.files(grpc_tools) / "_proto")
    assert protoc.main(["protoc", f"-I{out}", f"-I{include}", f"--python_out={out}",
                        str(out / "platform_reading.proto")]) == 0
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("platform_reading_pb2")
    finally:
        sys.path.remove(str(out))


def round_trip(secured: Secured, serializer, deserializer, values: list) -> tuple[str, list]:
    """`values` through the secured broker with our SerializingProducer / DeserializingConsumer:
    the topic and the values read back."""
    topic = unique_topic("serdes")
    producer = SerializingProducer(secured.librdkafka(**{"value.serializer": serializer,
                                                         "key.serializer": lambda k, ctx: k.encode()}))
    for i, value in enumerate(values):
        producer.produce(topic, key=f"k{i}", value=value)
    assert producer.flush(30) == 0, f"records not delivered to {topic} over SASL_SSL"
    consumer = DeserializingConsumer(secured.librdkafka(**{
        "group.id": topic, "enable.auto.commit": False, "value.deserializer": deserializer,
        "key.deserializer": lambda k, ctx: k.decode()}))
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    try:
        while len(got) < len(values):
            message = consumer.poll(30)
            assert message is not None, f"read {len(got)} of {len(values)} records of {topic} within 30s"
            assert message.error() is None, message.error()
            got.append((message.key(), message.value()))
    finally:
        consumer.close()
    assert [key for key, _ in got] == [f"k{i}" for i in range(len(values))]
    return topic, [value for _, value in got]


def test_serdes_round_trips_over_sasl_ssl(secured, reading_pb2):
    client = SchemaRegistryClient({"url": secured.registry.url})
    points = [{"x": i, "label": f"p{i}"} for i in range(20)]
    avro_topic, read = round_trip(secured, AvroSerializer(client, json.dumps(POINT)), AvroDeserializer(client), points)
    assert read == points

    readings = [reading_pb2.Reading(sensor=f"s{i}", value=i / 4, tags=["a", str(i)]) for i in range(20)]
    # Without the generated class the deserializer reads with the writer's schema from the registry.
    proto_topic, read = round_trip(secured, ProtobufSerializer(reading_pb2.Reading, client),
                                   ProtobufDeserializer(schema_registry_client=client), readings)
    assert [(r.sensor, r.value, list(r.tags)) for r in read] == [(r.sensor, r.value, list(r.tags)) for r in readings]

    orders = [{"sku": f"sku-{i}", "qty": i} for i in range(20)]
    json_topic, read = round_trip(secured, JSONSerializer(JSON_SCHEMA, client), JSONDeserializer(JSON_SCHEMA), orders)
    assert read == orders

    # What the serializers registered, under TopicNameStrategy's subjects, as the registry on
    # that broker answers it.
    registered = [secured.registry.call("GET", f"/subjects/{topic}-value/versions/latest").json()
                  for topic in (avro_topic, proto_topic, json_topic)]
    assert [(r["version"], r.get("schemaType", "AVRO")) for r in registered] == [
        (1, "AVRO"), (1, "PROTOBUF"), (1, "JSON")], registered
    assert json.loads(registered[0]["schema"]) == POINT
    assert len({r["id"] for r in registered}) == 3


# -- 3. console tools ----------------------------------------------------------------------------


def test_console_tools_with_kafkas_java_names(secured):
    config = ["--bootstrap-server", secured.sasl_bootstrap]
    registry = ["--property", f"schema.registry.url={secured.registry.url}"]
    producer_config = ["--producer.config", str(secured.client_properties)]
    consumer_config = ["--consumer.config", str(secured.client_properties)]

    avro_topic, text_topic = unique_topic("console-avro"), unique_topic("console-text")
    for topic in (avro_topic, text_topic):
        created = secured.schemabus("topics", "create", topic, "--partitions", "2")
        assert created.returncode == 0, created.stderr

    produced = secured.tool("avro_producer", *config, "--topic", avro_topic, *producer_config, *registry,
                            "--property", f"value.schema={json.dumps(POINT)}",
                            "--property", "parse.key=true", "--property", "key.separator=|",
                            stdin="".join(f'k{i}|{{"x": {i}, "label": "c{i}"}}\n' for i in range(6)))
    assert produced.returncode == 0, produced.stderr
    consumed = secured.tool("avro_consumer", *config, "--topic", avro_topic, "--from-beginning", *consumer_config,
                            *registry, "--property", "print.schema.ids=true", "--property", "print.key=true",
                            "--max-messages", "6")
    assert consumed.returncode == 0, consumed.stderr
    point_id = secured.registry.call("POST", f"/subjects/{avro_topic}-value", {"schema": json.dumps(POINT)}).json()["id"]
    rows = sorted((key, json.loads(value), int(schema_id))
                  for key, value, schema_id in (line.split("\t") for line in consumed.stdout.splitlines()))
    assert rows == [(f"k{i}", {"x": i, "label": f"c{i}"}, point_id) for i in range(6)], consumed.stdout

    group = unique_topic("console-group")
    lines = [f"line {i}" for i in range(10)]
    produced = secured.tool("string_producer", *config, "--topic", text_topic, *producer_config,
                            stdin="".join(f"{line}\n" for line in lines))
    assert produced.returncode == 0, produced.stderr
    consumed = secured.tool("string_consumer", *config, "--topic", text_topic, "--from-beginning", "--group", group,
                            *consumer_config, "--max-messages", "10")
    assert consumed.returncode == 0, consumed.stderr
    assert sorted(consumed.stdout.splitlines()) == lines

    listed = secured.schemabus("topics", "list")
    assert listed.returncode == 0, listed.stderr
    topics = json.loads(listed.stdout)
    assert {"topic": avro_topic, "partitions": 2} in topics and {"topic": text_topic, "partitions": 2} in topics
    described = secured.schemabus("topics", "describe", text_topic)
    assert described.returncode == 0, described.stderr
    info = json.loads(described.stdout)
    # A legitimate difference: Apache Kafka 4.1 formats a new cluster with eligible leader
    # replicas (KIP-966), which needs a cluster-wide min.insync.replicas, so it writes one
    # (=1) as a dynamic cluster default. DescribeConfigs reports it with source
    # DYNAMIC_DEFAULT_BROKER_CONFIG, not DEFAULT_CONFIG, so the tool shows it as an override,
    # as kafka-topics --describe does. Our broker has no cluster-level dynamic configs.
    assert info["configs"] == ({"min.insync.replicas": "1"} if secured.name == "apache-kafka" else {}), info
    assert [p["partition"] for p in info["partitions"]] == [0, 1]
    assert sum(p["end_offset"] - p["start_offset"] for p in info["partitions"]) == 10, info

    groups = secured.schemabus("groups", "list")
    assert groups.returncode == 0, groups.stderr
    # The console consumer committed its position when it closed and left: an empty group.
    assert {"group": group, "state": "EMPTY"} in json.loads(groups.stdout), groups.stdout


def test_tools_need_the_right_password(secured, tmp_path):
    """The tools really authenticate: the same file with another password is refused (and the
    wrong password is not printed either)."""
    wrong = tmp_path / "wrong.properties"
    wrong.write_text(secured.client_properties.read_text().replace(SCRAM_PASSWORD, "not-the-pw-71c2d"))
    done = secured.run([sys.executable, "-m", "cli.main", "topics", "list", "--bootstrap-server",
                        secured.sasl_bootstrap, "--command-config", str(wrong)])
    assert done.returncode != 0
    # librdkafka retries a refused authentication and tells only its error_cb: the tool watches
    # for it and says so at once, on both brokers alike.
    assert "refused the credentials" in done.stderr and "SCRAM-SHA-512" in done.stderr, done.stderr
    assert "not-the-pw-71c2d" not in done.stderr + done.stdout


# -- 4. secrets ----------------------------------------------------------------------------------


def test_no_password_in_logs_or_stderr(secured):
    registry_log = secured.registry.log_text()
    assert registry_log, "the registry wrote no log"
    assert "kafkastore.sasl.jaas.config=[hidden]" in registry_log
    assert secured.stderr, "no tool ran"
    for text, where in [(registry_log, "the registry's log"), (secured.broker_log(), "our broker's log"),
                        *((err, "a tool's stderr") for err in secured.stderr)]:
        for password in PASSWORDS:
            assert password not in text, f"a password in {where} ({secured.name})"
