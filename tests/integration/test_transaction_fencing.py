"""InitProducerId against an open transaction, on our broker and on Apache Kafka 4.1
(any_broker): the coordinator aborts the transaction under a bumped epoch, which fences its
producer, and answers CONCURRENT_TRANSACTIONS; the client's retry then gets its epoch. The
answers asserted are the ones Kafka gives (Kafka's TransactionCoordinator.handleInitProducerId)."""

from __future__ import annotations

import pytest

from broker.protocol.errors import code
from tests.conftest import wait_until
from tests.integration.txn_wire import INIT_PRODUCER_ID, Txn, create_topic, fetch_committed, settled
from tests.kafka_wire import RawClient

CONCURRENT, FENCED = code("CONCURRENT_TRANSACTIONS"), code("PRODUCER_FENCED")


def init(txn: Txn, producer_id: int = -1, epoch: int = -1, version: int = 5) -> list[tuple[int, int, int]]:
    """InitProducerId, again while it answers CONCURRENT_TRANSACTIONS: every answer as
    (error, producer id, epoch)."""
    answers = []

    def attempt():
        answer = txn.client.call(INIT_PRODUCER_ID, version, {
            "transactional_id": txn.id, "transaction_timeout": 60000, "producer_id": producer_id,
            "producer_epoch": epoch})
        answers.append((answer["error_code"], answer["producer_id"], answer["producer_epoch"]))
        return answer["error_code"] != CONCURRENT
    wait_until(attempt, 30, "InitProducerId answers something else than CONCURRENT_TRANSACTIONS")
    return answers


def open_transaction(client: RawClient, topic: str, tv2: bool) -> Txn:
    txn = Txn(client)
    txn.init()
    if not tv2:
        assert txn.add_partitions(topic, [0]) == [0]
    assert txn.produce(topic, [b"open"], 12 if tv2 else 11)["error_code"] == 0
    return txn


@pytest.mark.parametrize("tv2", [False, True], ids=["tv1", "tv2"])
def test_a_new_instance_fences_an_open_transaction_after_concurrent_transactions(any_broker, tv2):
    client = RawClient(any_broker.bootstrap)
    topic = create_topic(client)
    old = open_transaction(client, topic, tv2)
    answers = init(old)
    # First CONCURRENT_TRANSACTIONS while the open transaction is aborted under epoch + 1, then
    # epoch + 2 for the new instance.
    assert answers[0] == (CONCURRENT, -1, -1)
    assert answers[-1] == (0, old.pid, old.epoch + 2)
    assert old.produce(topic, [b"zombie"], 12 if tv2 else 11)["error_code"] == code("INVALID_PRODUCER_EPOCH")
    assert old.end(True, version=5 if tv2 else 3)["error_code"] == FENCED
    # The fenced producer's epochs stay fenced: the new instance's bump is no retry of theirs.
    assert init(old, old.pid, old.epoch) == [(FENCED, -1, -1)]
    assert init(old, old.pid, old.epoch + 1) == [(FENCED, -1, -1)]
    settled(client, topic)
    assert fetch_committed(client, topic)[1] == []


def test_the_producer_bumping_its_own_epoch_aborts_its_open_transaction(any_broker):
    """KIP-360: a producer recovering from an error bumps its epoch with its id and epoch. With a
    transaction open, the retry after CONCURRENT_TRANSACTIONS is a retry of the fencing bump:
    it gets epoch + 1, and again when repeated; a bump from there is epoch + 2."""
    client = RawClient(any_broker.bootstrap)
    topic = create_topic(client)
    txn = open_transaction(client, topic, tv2=False)
    pid, epoch = txn.pid, txn.epoch
    answers = init(txn, pid, epoch)
    assert (answers[0], answers[-1]) == ((CONCURRENT, -1, -1), (0, pid, epoch + 1))
    assert init(txn, pid, epoch) == [(0, pid, epoch + 1)]
    assert init(txn, pid, epoch + 1) == [(0, pid, epoch + 2)]
    settled(client, topic)
    assert fetch_committed(client, topic)[1] == []


def test_a_retried_bump_gets_the_same_epoch_until_a_new_instance(any_broker):
    client = RawClient(any_broker.bootstrap)
    txn = Txn(client)
    txn.init()
    pid = txn.pid
    assert init(txn, pid, 0) == [(0, pid, 1)]
    assert init(txn, pid, 0) == [(0, pid, 1)]  # its answer lost: the same epoch, no second bump
    assert init(txn, pid, 1) == [(0, pid, 2)]
    assert init(txn) == [(0, pid, 3)]  # a new instance
    assert init(txn, pid, 2) == [(FENCED, -1, -1)]
    assert init(txn, pid, 3) == [(0, pid, 4)]


def test_a_stale_epoch_of_the_producer_still_aborts_its_open_transaction(any_broker):
    """Kafka checks only the producer id against an open transaction: a stale epoch of it aborts
    the transaction (CONCURRENT_TRANSACTIONS) and is fenced on its retry, as is the producer of
    the aborted transaction. Another producer id is fenced at once and aborts nothing."""
    client = RawClient(any_broker.bootstrap)
    topic = create_topic(client)
    txn = open_transaction(client, topic, tv2=False)
    assert init(txn, txn.pid + 1000, 0) == [(FENCED, -1, -1)]
    assert init(txn, txn.pid, txn.epoch + 7) == [(CONCURRENT, -1, -1), (FENCED, -1, -1)]
    assert txn.end(True)["error_code"] == FENCED
    settled(client, topic)
    assert fetch_committed(client, topic)[1] == []


def test_a_producer_id_without_an_epoch_is_an_invalid_request(any_broker):
    client = RawClient(any_broker.bootstrap)
    txn = Txn(client)
    txn.init()
    assert init(txn, txn.pid, -1) == [(code("INVALID_REQUEST"), -1, -1)]
    assert init(txn, -1, 0) == [(code("INVALID_REQUEST"), -1, -1)]
