"""ACLs and SCRAM users from Kafka's own tools and Java client, on our broker and on Apache Kafka
configured alike: a SASL_SSL listener (PLAIN users admin and alice, SCRAM users made through the
Admin API), StandardAuthorizer, `super.users` User:admin. kafka-acls (org.apache.kafka.tools.
AclCommand in Kafka 4) adds, lists and removes ACLs and its outputs, normalized, must be the same
on both brokers; a Java program (java/JavaSecurityScenario.java) drives createAcls, describeAcls,
deleteAcls, alterUserScramCredentials and describeUserScramCredentials; a producer whose user is
denied WRITE gets TopicAuthorizationException while an allowed one writes; the authorized
operations and refusals (CreateTopics, JoinGroup, DescribeAcls) of users without rights are
Kafka's. The Java program's answers are the same on both brokers too."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BrokerProcess, free_port, unique_topic
from tests.interop.apache_kafka import ApacheKafka, compile_java, kafka_libs
from tests.interop.kafka_tools import ACLS, run_tools
from tests.tls import CertificateAuthority, sasl_ssl_listener_configs

pytestmark = pytest.mark.slow

SOURCE = Path(__file__).parent / "java" / "JavaSecurityScenario.java"
ADMIN_PASSWORD = "admin-pw-5f0c2"
ALICE_PASSWORD = "alice-pw-81e4d"
AUTHORIZER = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer"}
# Apache Kafka's broker reaches its own controller over the PLAINTEXT CONTROLLER listener as
# User:ANONYMOUS, and ApacheKafka's readiness probe uses its PLAINTEXT listener: both must pass
# the authorizer there. Our broker has no such connection.
KAFKA_SUPER_USERS = "User:admin;User:ANONYMOUS"
TOOL_LOG4J2 = """<Configuration status="WARN">
  <Appenders><Console name="STDERR" target="SYSTEM_ERR"><PatternLayout pattern="%p %m (%c)%n"/></Console></Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="STDERR"/></Root></Loggers>
</Configuration>
"""
# Apache Kafka applies an ACL change on its broker when the controller's metadata record reaches
# it, just after the tool's request returned (ours: before answering). Listings are retried until
# they show what our broker showed, within this bound.
SETTLE_S = 30


class Secured:
    """A broker's SASL_SSL bootstrap and the client properties files of its PLAIN users."""

    def __init__(self, name: str, bootstrap: str, directory: Path, ca: CertificateAuthority):
        self.name, self.bootstrap = name, bootstrap
        directory.mkdir(parents=True, exist_ok=True)
        self.admin = directory / "admin.properties"
        self.alice = directory / "alice.properties"
        for path, user, password in [(self.admin, "admin", ADMIN_PASSWORD), (self.alice, "alice", ALICE_PASSWORD)]:
            path.write_text("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
                            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
                            f'username="{user}" password="{password}";\n'
                            f"ssl.truststore.type=PEM\nssl.truststore.location={ca.ca_file}\n")
        self.log4j2 = directory / "tools-log4j2.xml"
        self.log4j2.write_text(TOOL_LOG4J2)


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("java-security-ca"))


def listener_configs(ca) -> dict[str, str]:
    return {**sasl_ssl_listener_configs(ca, {"admin": ADMIN_PASSWORD, "alice": ALICE_PASSWORD}), **AUTHORIZER}


@pytest.fixture(scope="module")
def schemabus_secured(tmp_path_factory, ca):
    directory = tmp_path_factory.mktemp("schemabus-secured")
    port = free_port()
    broker = BrokerProcess(directory / "data", {"listeners": f"SASL_SSL://127.0.0.1:{port}", **listener_configs(ca),
                                                "super.users": "User:admin"}, port=port).start()
    yield Secured("schemabus", broker.bootstrap, directory, ca)
    broker.stop()
    log = broker.log_text()
    assert ADMIN_PASSWORD not in log and "writer-pw" not in log and "denied-pw" not in log


@pytest.fixture(scope="module")
def kafka_secured(tmp_path_factory, ca):
    directory = tmp_path_factory.mktemp("kafka-secured")
    port = free_port()
    kafka = ApacheKafka(directory / "kafka", extra={**listener_configs(ca), "super.users": KAFKA_SUPER_USERS},
                        extra_listeners={"SASL_SSL": port}).start()
    yield Secured("apache-kafka", f"127.0.0.1:{port}", directory, ca)
    kafka.destroy()


@pytest.fixture(params=["schemabus", "apache-kafka"])
def secured(request) -> Secured:
    return request.getfixturevalue("schemabus_secured" if request.param == "schemabus" else "kafka_secured")


# -- kafka-acls ----------------------------------------------------------------------------


def kafka_acls(broker: Secured, properties: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["java", f"-Dlog4j2.configurationFile={broker.log4j2}", "-cp", f"{kafka_libs()}/*",
         "org.apache.kafka.tools.AclCommand", "--bootstrap-server", broker.bootstrap,
         "--command-config", str(properties), *args], capture_output=True, text=True, timeout=120)


def normalized(result: subprocess.CompletedProcess, base: str) -> tuple:
    """The tool's answer without what may differ between runs or brokers: the run's names become
    $BASE, and resources and the entries of each (printed from hash sets) are sorted. An error is
    the tool's one-line summary (its stack trace follows it)."""
    out = result.stdout.replace(base, "$BASE")
    blocks, current = [], None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Error while executing ACL command:"):
            # The exception, not its message: Kafka's names the request's internals
            # ("Request Request(processor=4, connectionId=...) needs DESCRIBE permission."),
            # ours is the error code's text ("Cluster authorization failed.").
            blocks.append((line.split(": ")[1], ()))
            break  # the stack trace that follows differs with the tool's code paths
        elif line.startswith("(principal="):
            assert current is not None, out
            current[1].append(line)
        elif line:
            current = (line, [])
            blocks.append(current)
    return result.returncode, sorted((header, tuple(sorted(entries))) for header, entries in blocks)


# Each step: (client properties: "admin" or "alice", the tool's arguments with $BASE for the run's
# names). Listings come after each change.
FLOW = [
    ("admin", "--add --allow-principal User:$BASE-app --operation Read --operation Write --topic $BASE-orders"),
    ("admin", "--add --deny-principal User:$BASE-guest --operation Write --topic $BASE- --resource-pattern-type prefixed"),
    ("admin", "--add --consumer --allow-principal User:$BASE-app --topic $BASE-orders --group $BASE-group"),
    ("admin", "--add --producer --allow-principal User:$BASE-producer --topic $BASE-orders --transactional-id $BASE-tx"),
    ("admin", "--list --topic $BASE-orders"),
    ("admin", "--list --topic $BASE-orders --resource-pattern-type match"),
    ("admin", "--list --principal User:$BASE-app"),
    ("admin", "--list --transactional-id $BASE-tx"),
    ("alice", "--list --topic $BASE-orders"),  # no cluster DESCRIBE: refused
    ("alice", "--add --allow-principal User:alice --operation All --topic $BASE-orders"),  # no cluster ALTER
    ("admin", "--remove --allow-principal User:$BASE-app --operation Read --topic $BASE-orders --force"),
    ("admin", "--list --topic $BASE-orders --resource-pattern-type match"),
    ("admin", "--remove --topic $BASE-orders --resource-pattern-type match --force"),
    ("admin", "--list --topic $BASE-orders --resource-pattern-type match"),
    ("admin", "--list --principal User:$BASE-app"),
    # An ACL for one host; one on a USER resource (KIP-373: tokens for other users; our broker
    # serves no delegation tokens but keeps such ACLs, as Kafka does).
    ("admin", "--add --allow-principal User:$BASE-app --allow-host 127.0.0.1 --operation Describe --group $BASE-group"),
    ("admin", "--add --allow-principal User:$BASE-app --operation CreateTokens --user-principal User:$BASE-user"),
    ("admin", "--list --principal User:$BASE-app"),
    ("admin", "--list --user-principal User:$BASE-user"),
]


def run_flow_in_one_jvm(broker: Secured, base: str, settle_ms: int = 0) -> list:
    """The FLOW's normalized answers, every command in one JVM (tests/interop/kafka_tools.py)."""
    commands = []
    for who, args in FLOW:
        properties = broker.admin if who == "admin" else broker.alice
        commands.append([ACLS, "--bootstrap-server", broker.bootstrap, "--command-config", str(properties),
                         *args.replace("$BASE", base).split()])
    return [normalized(result, base) for result in run_tools(commands, settle_ms, broker.log4j2)]


def run_flow(broker: Secured, base: str, settle_like: list | None = None) -> list:
    """The FLOW's normalized answers; with `settle_like` (another broker's answers), a listing that
    differs is retried, bounded, in case the change before it has not reached the broker yet."""
    answers = []
    for i, (who, args) in enumerate(FLOW):
        properties = broker.admin if who == "admin" else broker.alice
        argv = args.replace("$BASE", base).split()
        deadline = time.monotonic() + SETTLE_S
        while True:
            answer = normalized(kafka_acls(broker, properties, *argv), base)
            if settle_like is None or "--list" not in argv or answer == settle_like[i] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        answers.append(answer)
    return answers


def resource(kind: str, name: str, pattern: str = "LITERAL", listing: bool = True) -> str:
    verb = "Current ACLs for" if listing else "Adding ACLs for"
    return f"{verb} resource `ResourcePattern(resourceType={kind}, name={name}, patternType={pattern})`:"


def entry(principal: str, operation: str, permission: str = "ALLOW") -> str:
    return f"(principal={principal}, host=*, operation={operation}, permissionType={permission})"


def test_kafka_acls_gives_the_same_answers_on_both_brokers(schemabus_secured, kafka_secured):
    base = unique_topic("acltool")
    ours = run_flow_in_one_jvm(schemabus_secured, base)

    # What kafka-acls shows on our broker, in the steps that matter (Kafka's answers are then
    # compared with all of ours).
    app, orders = "User:$BASE-app", "$BASE-orders"
    assert ours[4] == (0, [(resource("TOPIC", orders), (
        entry(app, "DESCRIBE"), entry(app, "READ"), entry(app, "WRITE"),
        entry("User:$BASE-producer", "CREATE"), entry("User:$BASE-producer", "DESCRIBE"),
        entry("User:$BASE-producer", "WRITE")))]), ours[4]
    matched = dict(ours[5][1])
    assert matched[resource("TOPIC", "$BASE-", "PREFIXED")] == (entry("User:$BASE-guest", "WRITE", "DENY"),)
    assert ours[6] == (0, sorted([
        ("ACLs for principal `User:$BASE-app`", ()),
        (resource("TOPIC", orders), (entry(app, "DESCRIBE"), entry(app, "READ"), entry(app, "WRITE"))),
        (resource("GROUP", "$BASE-group"), (entry(app, "READ"),))])), ours[6]
    refusal = ("org.apache.kafka.common.errors.ClusterAuthorizationException", ())
    assert ours[8] == (1, [refusal]), ours[8]
    assert ours[9][0] == 1 and refusal in ours[9][1], ours[9]
    after_remove = dict(ours[11][1])
    assert entry(app, "READ") not in after_remove[resource("TOPIC", orders)]
    assert entry(app, "WRITE") in after_remove[resource("TOPIC", orders)]
    assert ours[13] == (0, []), ours[13]
    assert ours[14] == (0, sorted([("ACLs for principal `User:$BASE-app`", ()),
                                   (resource("GROUP", "$BASE-group"), (entry(app, "READ"),))])), ours[14]

    assert ours[17] == (0, sorted([
        ("ACLs for principal `User:$BASE-app`", ()),
        (resource("GROUP", "$BASE-group"), (entry(app, "READ"), "(principal=User:$BASE-app, host=127.0.0.1, "
                                                                 "operation=DESCRIBE, permissionType=ALLOW)")),
        (resource("USER", "User:$BASE-user"), (entry(app, "CREATE_TOKENS"),))])), ours[17]

    theirs = run_flow_in_one_jvm(kafka_secured, base, settle_ms=300)
    if theirs != ours:  # Kafka may show a change late: again a command at a time, each listing settled
        theirs = run_flow(kafka_secured, unique_topic("acltool-again"), settle_like=ours)
    differences = [f"kafka-acls {args} (as {who}):\n  schemabus:    {mine}\n  apache-kafka: {kafkas}"
                   for (who, args), mine, kafkas in zip(FLOW, ours, theirs) if mine != kafkas]
    assert not differences, "\n".join(differences)


# -- Java Admin and producers ----------------------------------------------------------------


@pytest.fixture(scope="session")
def java_security(tmp_path_factory) -> str:
    return compile_java(SOURCE, tmp_path_factory.mktemp("java-security-classes"))


EXPECTED = {
    "scram $BASE-writer": "[SCRAM_SHA_256/8192]",
    "scram $BASE-denied": "[SCRAM_SHA_512/4096]",
    "acls matching the topic": "[TOPIC:LITERAL:$BASE-data:User:$BASE-denied:*:WRITE:DENY, "
                               "TOPIC:LITERAL:$BASE-data:User:$BASE-writer:*:WRITE:ALLOW, "
                               "TOPIC:PREFIXED:$BASE-:User:$BASE-denied:*:ALL:ALLOW]",
    "deny acls of the denied user": "[TOPIC:LITERAL:$BASE-data:User:$BASE-denied:*:WRITE:DENY]",
    "writer produces": "sent 10",
    "denied produces": "TopicAuthorizationException [$BASE-data]",
    # Enum order (AclOperation's codes), as the TreeSets print them.
    "admin cluster operations": "[CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, "
                                "IDEMPOTENT_WRITE]",
    "$BASE-writer topic operations": "[WRITE, DESCRIBE]",  # WRITE implies DESCRIBE
    "$BASE-writer cluster operations": "[]",
    # ALL from the prefixed ALLOW, but the DENY takes WRITE away.
    "$BASE-denied topic operations": "[READ, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS]",
    "$BASE-denied cluster operations": "[]",
    "writer describes acls": "ClusterAuthorizationException",
    "writer creates a topic": "TopicAuthorizationException",
    "writer joins a group": "GroupAuthorizationException $BASE-group",
    "acls deleted": "[TOPIC:LITERAL:$BASE-data:User:$BASE-denied:*:WRITE:DENY, "
                    "TOPIC:LITERAL:$BASE-data:User:$BASE-writer:*:WRITE:ALLOW, "
                    "TOPIC:PREFIXED:$BASE-:User:$BASE-denied:*:ALL:ALLOW]",
    "acls left": "[]",
    "writer after deletion": "ResourceNotFoundException",
}


def test_java_admin_manages_acls_and_scram_users_and_producers_meet_them(java_security, secured):
    classpath = java_security
    base = unique_topic("javasec")
    proc = subprocess.run(["java", "-cp", classpath, "JavaSecurityScenario", secured.bootstrap, base,
                           str(secured.admin)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    results = dict(line[len("RESULT "):].split("=", 1) for line in proc.stdout.splitlines()
                   if line.startswith("RESULT "))
    assert results == EXPECTED, f"{secured.name}: {results}"
    assert not re.search(r"(writer|denied)-pw", proc.stdout)
