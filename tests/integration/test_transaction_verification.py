"""KIP-890 at the protocol level, each scenario on our broker and on Apache Kafka 4.1 (any_broker):
the error codes asserted are the ones Kafka answers.

Part 1: a transactional batch for a partition that is not in the producer's ongoing transaction
is refused, so a late write (a retry or a zombie's produce arriving after EndTxn) can never
open a transaction that nothing ends: the partition's last stable offset keeps advancing.
Part 2 (transaction.version 2): the producer sends Produce v12+ without AddPartitionsToTxn and
TxnOffsetCommit v5+ without AddOffsetsToTxn, and EndTxn v5+ bumps its epoch, which fences
whatever the ended transaction still had in flight.
"""

from __future__ import annotations

import pytest

from broker import records
from broker.protocol.errors import code
from tests.conftest import unique_topic, wait_until
from tests.kafka_wire import RawClient

PRODUCE, INIT_PRODUCER_ID, ADD_PARTITIONS, END_TXN, TXN_OFFSET_COMMIT = 0, 22, 24, 26, 28
OFFSET_FETCH, CREATE_TOPICS, FETCH, FIND_COORDINATOR, LIST_OFFSETS = 9, 19, 1, 10, 2
# Errors a coordinator answers while it starts (Kafka creates __transaction_state on first use).
NOT_READY = {code("COORDINATOR_NOT_AVAILABLE"), code("COORDINATOR_LOAD_IN_PROGRESS"), code("NOT_COORDINATOR"),
             code("CONCURRENT_TRANSACTIONS")}


class Txn:
    """One transactional producer driven by hand: its id, producer id, epoch and sequence."""

    def __init__(self, client: RawClient, transactional_id: str | None = None):
        self.client = client
        self.id = transactional_id or unique_topic("kip890")
        self.pid = self.epoch = -1
        self.seq = 0

    def init(self, version: int = 5) -> dict:
        # Kafka creates __transaction_state when a transaction coordinator is first looked for.
        wait_until(lambda: self.client.call(FIND_COORDINATOR, 4, {"key_type": 1, "coordinator_keys": [self.id]})[
            "coordinators"][0]["error_code"] == 0, 30, "a transaction coordinator is found")

        def attempt():
            answer = self.client.call(INIT_PRODUCER_ID, version, {
                "transactional_id": self.id, "transaction_timeout": 60000, "producer_id": -1, "producer_epoch": -1})
            return None if answer["error_code"] in NOT_READY else answer
        answer = wait_until(attempt, 30, "the transaction coordinator answers InitProducerId")
        assert answer["error_code"] == 0, answer
        self.pid, self.epoch, self.seq = answer["producer_id"], answer["producer_epoch"], 0
        return answer

    def add_partitions(self, topic: str, partitions: list[int]) -> list[int]:
        answer = self.client.call(ADD_PARTITIONS, 3, {
            "v3_and_below_transactional_id": self.id, "v3_and_below_producer_id": self.pid,
            "v3_and_below_producer_epoch": self.epoch,
            "v3_and_below_topics": [{"name": topic, "partitions": partitions}]})
        return [p["partition_error_code"] for p in answer["results_by_topic_v3_and_below"][0]["results_by_partition"]]

    def produce(self, topic: str, values: list[bytes], version: int, epoch: int | None = None,
                seq: int | None = None, partition: int = 0) -> dict:
        """A transactional batch; by default the next sequence under the current epoch."""
        seq = self.seq if seq is None else seq
        batch = records.encode_batch(
            [records.Record(i, 1000 + i, b"k", v) for i, v in enumerate(values)], base_offset=0,
            attributes=records.TRANSACTIONAL_BIT, producer_id=self.pid,
            producer_epoch=self.epoch if epoch is None else epoch, base_sequence=seq)
        answer = self.client.call(PRODUCE, version, {"transactional_id": self.id, "acks": -1, "timeout": 5000,
                                                     "topic_data": [{"name": topic, "partition_data": [
                                                         {"index": partition, "records": bytes(batch)}]}]})
        result = answer["responses"][0]["partition_responses"][0]
        if result["error_code"] == 0 and epoch is None:
            self.seq = seq + len(values)
        return result

    def end(self, commit: bool, version: int = 3, epoch: int | None = None) -> dict:
        """EndTxn, again while the coordinator answers CONCURRENT_TRANSACTIONS: Kafka's is still
        writing the previous transaction's markers (ours writes them before it answers)."""
        def attempt():
            answer = self.client.call(END_TXN, version, {
                "transactional_id": self.id, "producer_id": self.pid,
                "producer_epoch": self.epoch if epoch is None else epoch, "committed": commit})
            return None if answer["error_code"] == code("CONCURRENT_TRANSACTIONS") else answer
        return wait_until(attempt, 10, "the previous transaction completes")

    def end_v2(self, commit: bool) -> dict:
        """EndTxn v5: the answer carries the id and epoch to continue with; sequences restart."""
        answer = self.end(commit, version=5)
        if answer["error_code"] == 0:
            self.pid, self.epoch, self.seq = answer["producer_id"], answer["producer_epoch"], 0
        return answer

    def verify(self, topic: str, partitions: list[int], epoch: int | None = None,
               pid: int | None = None) -> list[int]:
        """AddPartitionsToTxn v5 verify_only, as a partition's broker asks the coordinator."""
        answer = self.client.call(ADD_PARTITIONS, 5, {"transactions": [{
            "transactional_id": self.id, "producer_id": self.pid if pid is None else pid,
            "producer_epoch": self.epoch if epoch is None else epoch, "verify_only": True,
            "topics": [{"name": topic, "partitions": partitions}]}]})
        assert answer["error_code"] == 0, answer
        (result,) = answer["results_by_transaction"]
        return [p["partition_error_code"] for p in result["topic_results"][0]["results_by_partition"]]


def create_topic(client: RawClient, partitions: int = 1) -> str:
    topic = unique_topic("kip890")
    answer = client.call(CREATE_TOPICS, 7, {"topics": [{"name": topic, "num_partitions": partitions,
                                                        "replication_factor": 1, "assignments": [], "configs": []}],
                                            "timeout": 10000, "validate_only": False})
    assert answer["topics"][0]["error_code"] == 0, answer

    def led() -> bool:  # Kafka answers NOT_LEADER_OR_FOLLOWER until each partition's leader is up
        answer = client.call(LIST_OFFSETS, 7, {"replica_id": -1, "isolation_level": 0, "topics": [
            {"name": topic, "partitions": [{"partition_index": i, "current_leader_epoch": -1, "timestamp": -1}
                                           for i in range(partitions)]}]})
        return all(p["error_code"] == 0 for p in answer["topics"][0]["partitions"])
    wait_until(led, 30, f"{topic} has a leader for each partition")
    return topic


def _fetch(client: RawClient, topic: str, partition: int, offset: int) -> dict:
    answer = client.call(FETCH, 12, {
        "replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20, "isolation_level": 1,
        "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
        "topics": [{"topic": topic, "partitions": [
            {"partition": partition, "current_leader_epoch": -1, "fetch_offset": offset, "last_fetched_epoch": -1,
             "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}]})
    return answer["responses"][0]["partitions"][0]


def fetch_committed(client: RawClient, topic: str, partition: int = 0) -> tuple[dict, list[bytes]]:
    """(partition answer, values a read_committed consumer keeps) up to the last stable offset.
    Fetched until that offset is reached: Kafka may answer with fewer batches than are there."""
    part = _fetch(client, topic, partition, 0)
    batches, aborted, offset = [], set(), 0
    while True:
        aborted |= {(t["producer_id"], t["first_offset"]) for t in part["aborted_transactions"] or ()}
        data = part["records"] or b""
        fetched = [(h, data[pos:pos + h.size]) for pos, h in records.iter_batches(data)]
        batches += fetched
        offset = fetched[-1][0].next_offset if fetched else offset
        if not fetched or offset >= part["last_stable_offset"]:
            break
        part = _fetch(client, topic, partition, offset)
    kept, dropping = [], set()
    for header, batch in batches:
        if (header.producer_id, header.base_offset) in aborted:
            dropping.add(header.producer_id)
        if header.is_control:
            dropping.discard(header.producer_id)
        elif header.producer_id not in dropping:
            kept += [r.value for r in records.decode_records(batch)]
    return part, kept


def settled(client: RawClient, topic: str) -> dict:
    """The partition once its last stable offset has reached its high watermark."""
    return wait_until(lambda: (lambda p: p if p["last_stable_offset"] == p["high_watermark"] else None)(
        fetch_committed(client, topic)[0]), 10, "the last stable offset reaches the high watermark")


# -- part 1: verification -------------------------------------------------------------------

# What Kafka 4.1 answers a transactional produce to a partition outside the transaction: older
# producers know INVALID_TXN_STATE; Produce v11 promises to handle TRANSACTION_ABORTABLE.
UNADDED_PARTITION_ERRORS = {9: "INVALID_TXN_STATE", 10: "INVALID_TXN_STATE", 11: "TRANSACTION_ABORTABLE"}


@pytest.mark.parametrize("version", sorted(UNADDED_PARTITION_ERRORS))
def test_produce_to_a_partition_not_in_the_transaction_is_refused(any_broker, version):
    client = RawClient(any_broker.bootstrap)
    topic = create_topic(client, partitions=2)
    txn = Txn(client)
    txn.init()
    assert txn.add_partitions(topic, [0]) == [0]
    # Partition 1 was never added: nothing is appended there, whatever the batch says.
    refused = txn.produce(topic, [b"stray"], version, partition=1)
    assert refused["error_code"] == code(UNADDED_PARTITION_ERRORS[version]), refused
    assert txn.produce(topic, [b"in"], version)["error_code"] == 0
    assert txn.end(commit=True)["error_code"] == 0
    settled(client, topic)
    assert fetch_committed(client, topic)[1] == [b"in"]
    part = fetch_committed(client, topic, partition=1)[0]
    assert part["high_watermark"] == part["last_stable_offset"] == 0


def test_a_late_write_after_abort_is_refused_and_never_hangs_the_partition(any_broker):
    """The KIP-890 hang: a produce of an aborted transaction delayed past its EndTxn. Before
    KIP-890 it opened a transaction no coordinator knew of, holding the last stable offset
    back for good."""
    client = RawClient(any_broker.bootstrap)
    topic = create_topic(client)
    txn = Txn(client)
    txn.init(version=4)
    assert txn.add_partitions(topic, [0]) == [0]
    assert txn.produce(topic, [b"a1"], 9)["error_code"] == 0
    assert txn.end(commit=False)["error_code"] == 0
    settled(client, topic)  # Kafka writes markers after it answers: the write comes later than them
    late = txn.produce(topic, [b"late"], 9)  # same epoch, next sequence: what a delayed retry sends
    assert late["error_code"] == code("INVALID_TXN_STATE"), late
    part = settled(client, topic)
    assert part["high_watermark"] == 2  # a1 and the ABORT marker; nothing after them
    assert fetch_committed(client, topic)[1] == []
    # The producer carries on: its next transaction commits normally.
    assert txn.add_partitions(topic, [0]) == [0]
    assert txn.produce(topic, [b"b1"], 9)["error_code"] == 0
    assert txn.end(commit=True)["error_code"] == 0
    settled(client, topic)
    assert fetch_committed(client, topic)[1] == [b"b1"]


def test_verify_only_add_partitions_answers_as_kafkas_coordinator(any_broker):
    """AddPartitionsToTxn v5 verify_only (the brokers' form): per partition, in the ongoing
    transaction or not; a stale epoch or another producer id fails every partition."""
    client = RawClient(any_broker.bootstrap)
    topic = create_topic(client, partitions=2)
    txn = Txn(client)
    txn.init()
    assert txn.verify(topic, [0]) == [code("TRANSACTION_ABORTABLE")]  # no transaction open
    assert txn.add_partitions(topic, [0]) == [0]
    assert txn.verify(topic, [0, 1]) == [0, code("TRANSACTION_ABORTABLE")]
    assert txn.verify(topic, [0], epoch=txn.epoch - 1) == [code("PRODUCER_FENCED")]
    assert txn.verify(topic, [0], pid=txn.pid + 1000) == [code("INVALID_PRODUCER_ID_MAPPING")]
    assert Txn(client).verify(topic, [0], epoch=0, pid=txn.pid) == [code("INVALID_PRODUCER_ID_MAPPING")]
    # Verifying added nothing: partition 1 is still outside the transaction.
    stray = txn.produce(topic, [b"x"], 9, partition=1)
    assert stray["error_code"] == code("INVALID_TXN_STATE"), stray
    assert txn.end(commit=False)["error_code"] == 0


def test_transactional_records_without_a_transactional_id_are_refused(any_broker):
    client = RawClient(any_broker.bootstrap)
    topic = create_topic(client)
    txn = Txn(client)
    txn.init()
    assert txn.add_partitions(topic, [0]) == [0]
    txn.id = None
    assert txn.produce(topic, [b"anonymous"], 9)["error_code"] == code("TRANSACTIONAL_ID_AUTHORIZATION_FAILED")


# -- part 2: transaction.version 2 ------------------------------------------------------------


def test_tv2_produce_adds_the_partition_and_end_txn_bumps_the_epoch(any_broker):
    client = RawClient(any_broker.bootstrap)
    topic = create_topic(client)
    txn = Txn(client)
    first = txn.init()
    pid, epoch = first["producer_id"], first["producer_epoch"]

    # No AddPartitionsToTxn: Produce v12 adds the partition to the transaction.
    assert txn.produce(topic, [b"c1", b"c2"], 12)["error_code"] == 0
    assert txn.verify(topic, [0]) == [0]
    assert fetch_committed(client, topic)[0]["last_stable_offset"] == 0  # open
    committed = txn.end_v2(commit=True)
    assert (committed["error_code"], committed["producer_id"], committed["producer_epoch"]) == (0, pid, epoch + 1)
    # A retry of that EndTxn (its answer lost) gets the same answer.
    retried = txn.end(commit=True, version=5, epoch=epoch)
    assert (retried["error_code"], retried["producer_id"], retried["producer_epoch"]) == (0, pid, epoch + 1)

    # The next transaction runs under the bumped epoch; the old epoch is fenced everywhere.
    stale = txn.produce(topic, [b"stale"], 12, epoch=epoch, seq=2)
    assert stale["error_code"] == code("INVALID_PRODUCER_EPOCH"), stale
    assert txn.produce(topic, [b"a1"], 12)["error_code"] == 0
    aborted = txn.end_v2(commit=False)
    assert (aborted["error_code"], aborted["producer_epoch"]) == (0, epoch + 2)
    # The KIP-890 hang under TV2: the aborted transaction's delayed write carries the epoch
    # the abort's marker fenced.
    settled(client, topic)  # Kafka writes markers after it answers: the write comes later than them
    late = txn.produce(topic, [b"late"], 12, epoch=epoch + 1, seq=1)
    assert late["error_code"] == code("INVALID_PRODUCER_EPOCH"), late
    settled(client, topic)
    assert fetch_committed(client, topic)[1] == [b"c1", b"c2"]
    # A transaction with nothing in it can still be aborted: the epoch moves on all the same.
    assert txn.end_v2(commit=False)["producer_epoch"] == epoch + 3


def test_tv2_txn_offset_commit_adds_the_group(any_broker):
    """TxnOffsetCommit v5 without AddOffsetsToTxn: the offsets stay pending until EndTxn commits."""
    client = RawClient(any_broker.bootstrap)
    topic, group = create_topic(client), unique_topic("kip890-group")
    txn = Txn(client)
    txn.init()

    def commit_offset(offset: int) -> int:
        answer = client.call(TXN_OFFSET_COMMIT, 5, {
            "transactional_id": txn.id, "group_id": group, "producer_id": txn.pid, "producer_epoch": txn.epoch,
            "generation_id": -1, "member_id": "", "group_instance_id": None,
            "topics": [{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": offset,
                                                        "committed_leader_epoch": -1, "committed_metadata": ""}]}]})
        return answer["topics"][0]["partitions"][0]["error_code"]

    def stable_offset() -> int:
        answer = client.call(OFFSET_FETCH, 7, {"group_id": group, "require_stable": True,
                                               "topics": [{"name": topic, "partition_indexes": [0]}]})
        part = answer["topics"][0]["partitions"][0]
        return -2 if part["error_code"] == code("UNSTABLE_OFFSET_COMMIT") else part["committed_offset"]

    # Kafka creates __consumer_offsets when a group coordinator is first looked for.
    wait_until(lambda: client.call(FIND_COORDINATOR, 4, {"key_type": 0, "coordinator_keys": [group]})[
        "coordinators"][0]["error_code"] == 0, 30, "a group coordinator is found")
    wait_until(lambda: commit_offset(7) == 0, 30, "the offset commit is accepted (the group coordinator is up)")
    assert stable_offset() == -2
    assert txn.end_v2(commit=True)["error_code"] == 0
    assert wait_until(lambda: stable_offset() == 7, 10, "the committed offset becomes visible")
    assert commit_offset(9) == 0
    assert txn.end_v2(commit=False)["error_code"] == 0
    assert wait_until(lambda: stable_offset() == 7, 10, "the aborted offset never shows")
