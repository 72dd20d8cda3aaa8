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

from broker.coordinator.transaction import LAST_USABLE_EPOCH
from broker.protocol.errors import code
from tests.conftest import unique_topic, wait_until
from tests.integration.txn_wire import (
    END_TXN, FIND_COORDINATOR, OFFSET_FETCH, TXN_OFFSET_COMMIT, Txn, create_topic, fetch_committed, settled)
from tests.kafka_wire import RawClient, read_frame, request_frame

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
    # Kafka answers CONCURRENT_TRANSACTIONS (retriable) until the last transaction's markers are written.
    wait_until(lambda: commit_offset(9) == 0, 10, "the next transaction's offset commit is accepted")
    assert txn.end_v2(commit=False)["error_code"] == 0
    assert wait_until(lambda: stable_offset() == 7, 10, "the aborted offset never shows")


def end_many_empty_transactions(client: RawClient, txn: Txn, count: int, chunk: int = 2000) -> None:
    """`count` EndTxn(abort) v5 of empty transactions, each bumping the epoch, pipelined: sent
    a chunk at a time on one connection (answered in order) rather than a round trip each."""
    done = 0
    while done < count:
        n = min(chunk, count - done)
        client.send_raw(b"".join(request_frame(END_TXN, 5, {
            "transactional_id": txn.id, "producer_id": txn.pid, "producer_epoch": txn.epoch + i,
            "committed": False}, correlation_id=1_000_000 + done + i) for i in range(n)))
        for _ in range(n):
            read_frame(client.sock)
        done += n
        txn.epoch += n


def test_tv2_producer_id_rotates_when_the_epoch_runs_out(shared_broker):
    """The epoch is an int16: when an EndTxn's bump reaches the last usable epoch the producer
    continues under a new producer id; the transaction's markers stay under the old one."""
    client = RawClient(shared_broker.bootstrap, timeout=60)
    topic = create_topic(client)
    txn = Txn(client)
    txn.init()
    old_pid = txn.pid
    end_many_empty_transactions(client, txn, LAST_USABLE_EPOCH - 1)
    assert txn.epoch == LAST_USABLE_EPOCH - 1
    assert txn.produce(topic, [b"last"], 12)["error_code"] == 0
    ended = txn.end_v2(commit=True)
    assert ended["error_code"] == 0 and ended["producer_id"] != old_pid and ended["producer_epoch"] == 0, ended
    new_pid = ended["producer_id"]
    retried = client.call(END_TXN, 5, {"transactional_id": txn.id, "producer_id": old_pid,
                                       "producer_epoch": LAST_USABLE_EPOCH - 1, "committed": True})
    assert (retried["error_code"], retried["producer_id"], retried["producer_epoch"]) == (0, new_pid, 0)
    part, kept = fetch_committed(client, topic)
    assert part["last_stable_offset"] == part["high_watermark"] == 2 and kept == [b"last"]
    # The old id is done: its data is refused; the new one starts a transaction at epoch 0.
    txn.pid = old_pid
    stale = txn.produce(topic, [b"stale"], 12, epoch=LAST_USABLE_EPOCH - 1, seq=1)
    assert stale["error_code"] == code("INVALID_PRODUCER_ID_MAPPING"), stale
    txn.pid = new_pid
    assert txn.produce(topic, [b"next"], 12)["error_code"] == 0
    assert txn.end_v2(commit=True)["producer_epoch"] == 1
    assert fetch_committed(client, topic)[1] == [b"last", b"next"]


def test_bad_transactional_requests_get_kafkas_error_codes(any_broker):
    """Unknown transactional ids, stale epochs, an empty id: an error code each, as Kafka answers."""
    client = RawClient(any_broker.bootstrap)
    topic = create_topic(client)
    txn = Txn(client)
    txn.init()
    unknown = Txn(client, "unknown-" + txn.id)
    unknown.pid, unknown.epoch = txn.pid + 1000, 0
    assert unknown.produce(topic, [b"x"], 12)["error_code"] == code("INVALID_PRODUCER_ID_MAPPING")
    assert unknown.produce(topic, [b"x"], 9)["error_code"] == code("INVALID_PRODUCER_ID_MAPPING")
    assert unknown.end(commit=True, version=5)["error_code"] == code("INVALID_PRODUCER_ID_MAPPING")
    assert txn.end(commit=True, version=5, epoch=txn.epoch + 7)["error_code"] == code("PRODUCER_FENCED")
    answer = client.call(TXN_OFFSET_COMMIT, 5, {
        "transactional_id": unknown.id, "group_id": unknown.id, "producer_id": unknown.pid, "producer_epoch": 0,
        "generation_id": -1, "member_id": "", "group_instance_id": None,
        "topics": [{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 1,
                                                    "committed_leader_epoch": -1, "committed_metadata": ""}]}]})
    assert answer["topics"][0]["partitions"][0]["error_code"] == code("INVALID_PRODUCER_ID_MAPPING")
    nameless = Txn(client)
    nameless.id = ""
    assert nameless.verify(topic, [0], epoch=0, pid=txn.pid) == [code("INVALID_REQUEST")]


def once_loaded(request) -> dict:
    """The answer of `request()` once the coordinator has replayed its state after a start."""
    def attempt():
        answer = request()
        return None if answer["error_code"] == code("COORDINATOR_LOAD_IN_PROGRESS") else answer
    return wait_until(attempt, 30, "the transaction coordinator has loaded")


def test_tv2_transactions_survive_a_crash(broker_factory):
    """The coordinator's TV2 state (the epoch before the bump, for a retried EndTxn) and the open
    transaction its produce started come back after kill -9."""
    broker = broker_factory()
    client = RawClient(broker.bootstrap)
    topic = create_topic(client)
    txn = Txn(client)
    txn.init()
    epoch = txn.epoch
    assert txn.produce(topic, [b"before"], 12)["error_code"] == 0
    for retry in (False, True):
        txn.client.close()
        broker.kill()
        broker.start()
        txn.client = RawClient(broker.bootstrap)
        ended = once_loaded(lambda: txn.end(commit=True, version=5, epoch=epoch))
        # The first EndTxn after the crash commits; the second is a retry of it.
        assert (ended["error_code"], ended["producer_epoch"]) == (0, epoch + 1), (retry, ended)
    assert fetch_committed(txn.client, topic)[1] == [b"before"]
