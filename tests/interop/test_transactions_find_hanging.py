"""kafka-transactions find-hanging after a chaos run (KIP-890): many transactional producers at
once, committing and aborting: Java client ones (transaction.version 2) and librdkafka ones (the
classic protocol) killed mid-transaction, hand-driven ones of both protocols abandoning
transactions, being fenced by a successor and sending the late writes that used to leave
transactions hanging. Afterwards every partition's
last stable offset reaches its high watermark, read_committed sees each transaction whole or
not at all, and Kafka's own find-hanging finds nothing. The same late write on a broker with
transaction.partition.verification.enable=false is what find-hanging reports: the check is real.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import pytest

from broker.protocol.errors import code
from tests.conftest import REPO, unique_topic, wait_until
from tests.integration.txn_wire import Txn, create_topic, fetch_committed
from tests.interop.apache_kafka import compile_java
from tests.interop.kafka_tools import TRANSACTIONS, run_tools
from tests.kafka_wire import RawClient

pytestmark = pytest.mark.slow

JAVA_PRODUCER = Path(__file__).parent / "java" / "TxnChaosProducer.java"

PARTITIONS = 4
# Abandoned transactions are aborted within a few seconds: a short transaction timeout, checked often.
TXN_TIMEOUT_MS = 3000
CHAOS_BROKER = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200"}
FIND_HANGING_HEADER = ["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset",
                       "LastTimestamp", "Duration(min)"]


class HandDriven:
    """A producer of one protocol (TV2: Produce v12 and EndTxn v5; classic: AddPartitionsToTxn,
    Produce v9, EndTxn v3) running `rounds` transactions of 3 records on 2 random partitions.
    `late`: after each abort it sends the delayed write that used to hang a partition;
    `fenced`: half-way a successor takes its transactional id over and it keeps writing;
    `abandon`: it leaves its last transaction open, as a killed producer does."""

    def __init__(self, bootstrap: str, topic: str, tv2: bool, seed: int, rounds: int = 10, *,
                 late: bool = False, fenced: bool = False, abandon: bool = False):
        self.bootstrap, self.topic, self.tv2, self.rounds = bootstrap, topic, tv2, rounds
        self.late, self.fenced, self.abandon = late, fenced, abandon
        self.rng = random.Random(seed)
        self.committed: set[bytes] = set()
        self.refused_late: list[int] = []  # the error codes the late and zombie writes got
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test thread
            self.failure = exc

    def _run(self) -> None:
        txn = Txn(RawClient(self.bootstrap))
        txn.init(timeout_ms=TXN_TIMEOUT_MS)
        for r in range(self.rounds):
            if self.fenced and r == self.rounds // 2:
                zombie, txn = txn, Txn(RawClient(self.bootstrap), txn.id)
                txn.init(timeout_ms=TXN_TIMEOUT_MS)
                self.refused_late.append(self._write(zombie, r, [b"zombie"])["error_code"])
            values = [f"{txn.id}/{r}/{i}".encode() for i in range(3)]
            results = self._write(txn, r, values)
            assert results["error_code"] == 0, results
            if self.abandon and r == self.rounds - 1:
                return  # never ended: the coordinator aborts it when it times out
            commit = self.rng.random() < 0.5
            epoch, seqs = txn.epoch, dict(txn.seqs)
            answer = txn.end_v2(commit) if self.tv2 else txn.end(commit)
            assert answer["error_code"] == 0, answer
            if commit:
                self.committed.update(values)
            elif self.late:
                self.refused_late.append(self._late_write(txn, epoch, seqs))

    def _write(self, txn: Txn, r: int, values: list[bytes]) -> dict:
        """Each value to one of two random partitions; the last answer (errors stop it)."""
        partitions = self.rng.sample(range(PARTITIONS), 2)
        if not self.tv2:
            added = txn.add_partitions(self.topic, sorted(set(partitions)))
            if any(added):
                return {"error_code": max(added)}
        answer = {"error_code": 0}
        for i, value in enumerate(values):
            answer = txn.produce(self.topic, [value], 12 if self.tv2 else 9, partition=partitions[i % 2])
            if answer["error_code"]:
                break
        return answer

    def _late_write(self, txn: Txn, epoch: int, seqs: dict) -> int:
        """The aborted transaction's write arriving after its EndTxn: its epoch, its next sequence."""
        (topic, partition), seq = next(iter(seqs.items()))
        answer = txn.produce(topic, [b"late"], 12 if self.tv2 else 9, epoch=epoch, seq=seq, partition=partition)
        return answer["error_code"]


@pytest.fixture(scope="module")
def java_classpath(tmp_path_factory) -> str:
    return compile_java(JAVA_PRODUCER, tmp_path_factory.mktemp("txn-chaos-classes"))


def librdkafka_producer(bootstrap: str, topic: str, transactional_id: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.integration.txn_chaos_producer", bootstrap, topic,
                             transactional_id, str(PARTITIONS)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def java_producer(classpath: str, bootstrap: str, topic: str, transactional_id: str) -> subprocess.Popen:
    return subprocess.Popen(["java", "-cp", classpath, "TxnChaosProducer", bootstrap, topic, transactional_id,
                             str(PARTITIONS)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def kill_mid_transaction(proc: subprocess.Popen, at: int) -> list[int]:
    """SIGKILL once transaction `at` is open (or after a minute); the transactions it saw committed."""
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    committed, reached = [], False
    for line in proc.stdout:
        word, n = line.split()
        if word == "committed":
            committed.append(int(n))
        elif int(n) >= at:
            reached = True
            break
    proc.kill()
    proc.wait()
    watchdog.cancel()
    assert reached, f"the producer stopped before its transaction {at} (committed: {committed})"
    return committed


def find_hanging(*bootstraps: str) -> list[list[list[str]]]:
    """Kafka's find-hanging on broker 1 of each cluster (one JVM): each answer's rows."""
    results = run_tools([[TRANSACTIONS, "--bootstrap-server", bs, "find-hanging", "--broker-id", "1",
                          "--max-transaction-timeout", "0"] for bs in bootstraps])
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
    return [[re.split(r"\s+", line.strip()) for line in r.stdout.splitlines() if line.strip()] for r in results]


def test_find_hanging_finds_none_after_a_chaos_run(broker_factory, java_classpath):
    guarded = broker_factory(CHAOS_BROKER)
    unguarded = broker_factory({**CHAOS_BROKER, "transaction.partition.verification.enable": "false"})
    client = RawClient(guarded.bootstrap)
    topic = create_topic(client, PARTITIONS)

    killed = {f"{topic}-rdk{i}": librdkafka_producer(guarded.bootstrap, topic, f"{topic}-rdk{i}") for i in range(3)}
    killed.update({f"{topic}-java{i}": java_producer(java_classpath, guarded.bootstrap, topic, f"{topic}-java{i}")
                   for i in range(2)})
    hand = [HandDriven(guarded.bootstrap, topic, tv2, seed, late=seed % 2 == 0, fenced=seed % 3 == 0,
                       abandon=seed % 4 == 1)
            for seed, tv2 in enumerate([True, True, True, True, False, False, False])]
    threads = [threading.Thread(target=h.run) for h in hand]
    for t in threads:
        t.start()
    seen_committed = {tid: kill_mid_transaction(proc, at=3 + i) for i, (tid, proc) in enumerate(killed.items())}
    for t in threads:
        t.join(120)
    for h in hand:
        assert h.failure is None, repr(h.failure)
    # Every late write and every zombie write was refused, whichever the protocol.
    refusals = {c for h in hand for c in h.refused_late}
    assert refusals and refusals <= {code("INVALID_TXN_STATE"), code("INVALID_PRODUCER_EPOCH"),
                                     code("PRODUCER_FENCED")}, refusals

    # The killed and abandoned transactions time out; then nothing is open anywhere.
    def all_stable():
        parts = [fetch_committed(client, topic, p) for p in range(PARTITIONS)]
        return parts if all(part["last_stable_offset"] == part["high_watermark"] for part, _ in parts) else None
    parts = wait_until(all_stable, 30, "every partition's last stable offset reaches its high watermark")

    # read_committed: each transaction whole or not at all; exactly the committed ones of the
    # hand-driven producers, and at least those the killed ones reported committed.
    visible = [value for _, values in parts for value in values]
    by_transaction = defaultdict(int)
    for value in visible:
        producer, n, _ = value.decode().rsplit("/", 2)
        by_transaction[(producer, int(n))] += 1
    for (producer, n), count in by_transaction.items():
        assert count == (5 if producer in killed else 3), (producer, n, count)
    assert {v for v in visible if not v.decode().startswith(tuple(killed))} == set().union(
        *(h.committed for h in hand))
    for tid, committed in seen_committed.items():
        assert {(tid, n) for n in committed} <= set(by_transaction), tid

    # The control: the same late write where nothing verifies it leaves a transaction hanging.
    control = RawClient(unguarded.bootstrap)
    control_topic = create_topic(control)
    txn = Txn(control, unique_topic("hanging"))
    txn.init(version=4)
    assert txn.add_partitions(control_topic, [0]) == [0]
    assert txn.produce(control_topic, [b"a1"], 9)["error_code"] == 0
    assert txn.end(commit=False)["error_code"] == 0
    assert txn.produce(control_topic, [b"late"], 9)["error_code"] == 0
    # Only the check is off there: a TV2 producer's produce still adds its partition (a commit
    # of a transaction nothing was added to would be refused).
    tv2 = Txn(control)
    tv2.init()
    assert tv2.produce(control_topic, [b"tv2"], 12, partition=0)["error_code"] == 0
    assert tv2.end_v2(commit=True)["error_code"] == 0

    ours, theirs = find_hanging(guarded.bootstrap, unguarded.bootstrap)
    assert ours == [FIND_HANGING_HEADER]
    assert theirs[0] == FIND_HANGING_HEADER and [row[:3] for row in theirs[1:]] == [
        [control_topic, "0", str(txn.pid)]], theirs
