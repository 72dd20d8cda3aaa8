"""Transactions with real clients (librdkafka, kafka-python), against our broker and Apache Kafka."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import unique_topic
from tests.integration.test_broker_clients import consume_all_confluent


def _create(bootstrap: str, topic: str, partitions: int = 2) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(15)


def _transactional(bootstrap: str, txn_id: str) -> Producer:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5})
    producer.init_transactions(30)
    return producer


def test_commits_and_aborts_interleaved(any_broker):
    topic = unique_topic("txn")
    _create(any_broker.bootstrap, topic)
    producer = _transactional(any_broker.bootstrap, unique_topic("txid"))
    expected = []
    for round_ in range(6):
        producer.begin_transaction()
        values = [b"r%d-%d" % (round_, i) for i in range(50)]
        for i, v in enumerate(values):
            producer.produce(topic, v, partition=i % 2)
        if round_ % 2 == 0:
            producer.commit_transaction(30)
            expected += values
        else:
            producer.flush(30)  # put the records in the log first (abort would purge queued ones)
            producer.abort_transaction(30)
    # A trailing committed transaction, so aborted records sit below the last stable offset.
    producer.begin_transaction()
    producer.produce(topic, b"last", partition=0)
    producer.commit_transaction(30)
    expected.append(b"last")

    committed = consume_all_confluent(any_broker.bootstrap, topic, len(expected), partitions=2,
                                      extra={"isolation.level": "read_committed"}, idle_polls=10)
    assert sorted(m.value() for m in committed) == sorted(expected)
    everything = consume_all_confluent(any_broker.bootstrap, topic, 301, partitions=2,
                                       extra={"isolation.level": "read_uncommitted"}, idle_polls=10)
    assert len(everything) == 301  # aborted records are still in the log, markers are not delivered


def test_open_transaction_holds_back_read_committed(any_broker):
    topic = unique_topic("txn-open")
    _create(any_broker.bootstrap, topic, 1)
    plain = Producer({"bootstrap.servers": any_broker.bootstrap})
    producer = _transactional(any_broker.bootstrap, unique_topic("txid"))
    producer.begin_transaction()
    producer.produce(topic, b"pending", partition=0)
    producer.flush(10)
    plain.produce(topic, b"after-open-txn", partition=0)
    plain.flush(10)
    seen = consume_all_confluent(any_broker.bootstrap, topic, 1, partitions=1,
                                 extra={"isolation.level": "read_committed"}, idle_polls=5)
    assert seen == []  # the last stable offset is the open transaction's first offset
    producer.commit_transaction(30)
    seen = consume_all_confluent(any_broker.bootstrap, topic, 2, partitions=1,
                                 extra={"isolation.level": "read_committed"}, idle_polls=10)
    assert [m.value() for m in seen] == [b"pending", b"after-open-txn"]


def test_second_producer_with_same_transactional_id_fences_the_first(any_broker):
    topic = unique_topic("txn-fence")
    _create(any_broker.bootstrap, topic, 1)
    txn_id = unique_topic("txid")
    first = _transactional(any_broker.bootstrap, txn_id)
    first.begin_transaction()
    first.produce(topic, b"zombie", partition=0)
    first.flush(10)
    second = _transactional(any_broker.bootstrap, txn_id)  # aborts the first one's transaction
    second.begin_transaction()
    second.produce(topic, b"winner", partition=0)
    second.commit_transaction(30)
    with pytest.raises(KafkaException) as exc:
        first.commit_transaction(30)
    assert exc.value.args[0].fatal() or "fenced" in str(exc.value).lower()
    seen = consume_all_confluent(any_broker.bootstrap, topic, 1, partitions=1,
                                 extra={"isolation.level": "read_committed"}, idle_polls=10)
    assert [m.value() for m in seen] == [b"winner"]


@pytest.mark.slow
def test_kafka_python_transactional_producer(any_broker):
    from kafka import KafkaProducer

    topic = unique_topic("txn-kp")
    _create(any_broker.bootstrap, topic, 1)
    producer = KafkaProducer(bootstrap_servers=any_broker.bootstrap, transactional_id=unique_topic("kp-txid"))
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, b"kept", partition=0)
    producer.commit_transaction()
    producer.begin_transaction()
    producer.send(topic, b"dropped", partition=0)
    producer.abort_transaction()
    producer.begin_transaction()
    producer.send(topic, b"kept-too", partition=0)
    producer.commit_transaction()
    producer.close()
    seen = consume_all_confluent(any_broker.bootstrap, topic, 2, partitions=1,
                                 extra={"isolation.level": "read_committed"}, idle_polls=10)
    assert [m.value() for m in seen] == [b"kept", b"kept-too"]
