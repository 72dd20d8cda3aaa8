"""Apache Kafka's command-line tools run from their classes in Kafka's jars, many commands in one
JVM (java/ToolFlow.java): a JVM per command would cost the suite a second or more each."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from filelock import FileLock

from tests.interop.apache_kafka import CACHE, kafka_libs

SOURCE = Path(__file__).parent / "java" / "ToolFlow.java"
QUIET_LOG4J2 = """<Configuration status="WARN">
  <Appenders><Console name="STDERR" target="SYSTEM_ERR"><PatternLayout pattern="%p %m (%c)%n"/></Console></Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="STDERR"/></Root></Loggers>
</Configuration>
"""

# The tools' main classes in Kafka 4.1.
TOPICS = "org.apache.kafka.tools.TopicCommand"
CONFIGS = "kafka.admin.ConfigCommand"
CONSUMER_GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
GET_OFFSETS = "org.apache.kafka.tools.GetOffsetShell"
DELETE_RECORDS = "org.apache.kafka.tools.DeleteRecordsCommand"
LOG_DIRS = "org.apache.kafka.tools.LogDirsCommand"
TRANSACTIONS = "org.apache.kafka.tools.TransactionsCommand"
LEADER_ELECTION = "org.apache.kafka.tools.LeaderElectionCommand"
REASSIGN = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"
PRODUCER_PERF = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER_PERF = "org.apache.kafka.tools.ConsumerPerformance"
ACLS = "org.apache.kafka.tools.AclCommand"
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"


def quiet_log4j2() -> Path:
    """A log4j2 configuration that lets only warnings through, to stderr."""
    path = CACHE.parent / "tools-log4j2.xml"
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(CACHE.parent / "tool-flow.lock"):  # test workers share it
        if not path.exists() or path.read_text() != QUIET_LOG4J2:
            path.write_text(QUIET_LOG4J2)
    return path


def tool_flow_classes() -> Path:
    """ToolFlow compiled once per source change, shared by the test workers."""
    out = CACHE.parent / "tool-flow-classes"
    stamp = out / "source.java"
    with FileLock(CACHE.parent / "tool-flow.lock"):
        if not stamp.exists() or stamp.read_text() != SOURCE.read_text():
            out.mkdir(parents=True, exist_ok=True)
            subprocess.run(["javac", "-cp", f"{kafka_libs()}/*", "-d", str(out), str(SOURCE)], check=True, timeout=300)
            stamp.write_text(SOURCE.read_text())
    return out


def run_tools(commands: list[list[str]], settle_ms: int = 0, log4j2: Path | None = None,
              timeout: float = 300) -> list[subprocess.CompletedProcess]:
    """Each command ([main class, arg, ...]) run in order in one JVM; their exit codes and outputs."""
    with tempfile.TemporaryDirectory(prefix="tool-flow-") as tmp:
        lines = Path(tmp) / "commands.txt"
        lines.write_text("".join("\t".join(map(str, c)) + "\n" for c in commands))
        log4j2 = log4j2 or quiet_log4j2()
        proc = subprocess.run(["java", f"-Dlog4j2.configurationFile={log4j2}", "-cp",
                               f"{tool_flow_classes()}:{kafka_libs()}/*", "ToolFlow", str(lines), str(settle_ms)],
                              capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = []
    for block in proc.stdout.split("=== exit ")[1:]:
        code, _, rest = block.partition("\n")
        out, _, err = rest.rsplit("=== end", 1)[0].partition("=== stderr\n")
        results.append(subprocess.CompletedProcess([], int(code), out, err))
    assert len(results) == len(commands), proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


def run_tool(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return run_tools([list(command)], **kwargs)[0]
