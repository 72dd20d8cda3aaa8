"""The transaction coordinator and read_committed, driven with exact protocol requests.

(Client-level scenarios with librdkafka, kafka-python and the Java client live in
test_transactions.py; these pin down the protocol-level answers.)
"""

from __future__ import annotations

from broker import records
from broker.protocol.errors import code
from tests.conftest import unique_topic
from tests.kafka_wire import RawClient


def _init(client, txn_id, timeout=60000, pid=-1, epoch=-1):
    return client.call(22, 4, {"transactional_id": txn_id, "transaction_timeout": timeout,
                               "producer_id": pid, "producer_epoch": epoch})


def _add_partitions(client, txn_id, pid, epoch, topic, partitions):
    resp = client.call(24, 3, {"v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": pid,
                               "v3_and_below_producer_epoch": epoch,
                               "v3_and_below_topics": [{"name": topic, "partitions": partitions}]})
    return [p["partition_error_code"] for p in resp["results_by_topic_v3_and_below"][0]["results_by_partition"]]


def _end(client, txn_id, pid, epoch, commit):
    return client.call(26, 3, {"transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch,
                               "committed": commit})["error_code"]


def _produce(client, txn_id, topic, pid, epoch, seq, values, transactional=True):
    batch = records.encode_batch(
        [records.Record(i, 1000 + i, b"k", v) for i, v in enumerate(values)], base_offset=0,
        attributes=records.TRANSACTIONAL_BIT if transactional else 0,
        producer_id=pid, producer_epoch=epoch, base_sequence=seq)
    resp = client.call(0, 9, {"transactional_id": txn_id, "acks": -1, "timeout": 5000, "topic_data": [
        {"name": topic, "partition_data": [{"index": 0, "records": bytes(batch)}]}]})
    return resp["responses"][0]["partition_responses"][0]


def _fetch(client, topic, offset=0, committed=True):
    resp = client.call(1, 12, {
        "replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20,
        "isolation_level": 1 if committed else 0, "session_id": 0, "session_epoch": -1,
        "forgotten_topics_data": [], "rack_id": "",
        "topics": [{"topic": topic, "partitions": [
            {"partition": 0, "current_leader_epoch": -1, "fetch_offset": offset, "last_fetched_epoch": -1,
             "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}]})
    part = resp["responses"][0]["partitions"][0]
    batches = [(h, records.decode_records(part["records"][pos:pos + h.size]))
               for pos, h in records.iter_batches(part["records"])]
    return part, batches


def _create(client, topic):
    client.call(19, 7, {"topics": [{"name": topic, "num_partitions": 1, "replication_factor": 1,
                                    "assignments": [], "configs": []}], "timeout": 5000, "validate_only": False})


def test_commit_and_abort_with_last_stable_offset(shared_broker):
    client = RawClient(shared_broker.bootstrap)
    topic = unique_topic("txwire")
    _create(client, topic)
    txn = unique_topic("txid")
    init = _init(client, txn)
    assert init["error_code"] == 0 and init["producer_epoch"] == 0
    pid, epoch = init["producer_id"], init["producer_epoch"]

    assert _add_partitions(client, txn, pid, epoch, topic, [0]) == [0]
    assert _produce(client, txn, topic, pid, epoch, 0, [b"a1", b"a2"])["error_code"] == 0
    # Open transaction: read_committed sees nothing yet, the LSO stays at its first offset.
    part, batches = _fetch(client, topic)
    assert part["last_stable_offset"] == 0 and part["high_watermark"] == 2 and batches == []
    part, batches = _fetch(client, topic, committed=False)
    assert len(batches) == 1

    assert _end(client, txn, pid, epoch, False) == 0  # abort
    assert _add_partitions(client, txn, pid, epoch, topic, [0]) == [0]
    assert _produce(client, txn, topic, pid, epoch, 2, [b"c1"])["error_code"] == 0
    assert _end(client, txn, pid, epoch, True) == 0  # commit
    assert _end(client, txn, pid, epoch, True) == 0  # a retried commit is fine

    part, batches = _fetch(client, topic)
    assert part["last_stable_offset"] == part["high_watermark"] == 5
    assert part["aborted_transactions"] == [{"producer_id": pid, "first_offset": 0}]
    markers = [records.control_marker(recs[0]) for h, recs in batches if h.is_control]
    assert markers == [records.CONTROL_ABORT, records.CONTROL_COMMIT]
    data = [r.value for h, recs in batches if not h.is_control for r in recs]
    assert data == [b"a1", b"a2", b"c1"]  # the consumer drops a1, a2 using aborted_transactions


def test_errors_and_fencing(shared_broker):
    client = RawClient(shared_broker.bootstrap)
    topic = unique_topic("txfence")
    _create(client, topic)
    txn = unique_topic("txid")
    assert _init(client, txn, timeout=10**9)["error_code"] == code("INVALID_TRANSACTION_TIMEOUT")
    first = _init(client, txn)
    pid, epoch = first["producer_id"], first["producer_epoch"]
    assert _end(client, txn, pid, epoch, True) == code("INVALID_TXN_STATE")
    assert _add_partitions(client, txn, pid + 1, epoch, topic, [0]) == [code("INVALID_PRODUCER_ID_MAPPING")]
    assert _add_partitions(client, txn, pid, epoch, topic, [0, 9]) == \
        [code("OPERATION_NOT_ATTEMPTED"), code("UNKNOWN_TOPIC_OR_PARTITION")]
    assert _add_partitions(client, txn, pid, epoch, topic, [0]) == [0]
    assert _produce(client, txn, topic, pid, epoch, 0, [b"zombie"])["error_code"] == 0

    # A second producer with the same transactional id aborts the open transaction and fences:
    # answered CONCURRENT_TRANSACTIONS meanwhile, as Kafka answers it (test_transaction_fencing.py).
    assert _init(client, txn)["error_code"] == code("CONCURRENT_TRANSACTIONS")
    second = _init(client, txn)
    # As in Kafka: one bump for the fencing abort, one for the new producer.
    assert second["producer_id"] == pid and second["producer_epoch"] == epoch + 2
    assert _end(client, txn, pid, epoch, True) == code("PRODUCER_FENCED")
    assert _produce(client, txn, topic, pid, epoch, 1, [b"late"])["error_code"] == code("INVALID_PRODUCER_EPOCH")
    part, batches = _fetch(client, topic)
    assert [r.value for h, recs in batches if not h.is_control for r in recs] == [b"zombie"]
    assert part["aborted_transactions"] == [{"producer_id": pid, "first_offset": 0}]


def test_timed_out_transaction_is_aborted(broker_factory):
    broker = broker_factory({"transaction.abort.timed.out.transaction.cleanup.interval.ms": "100"})
    client = RawClient(broker.bootstrap)
    topic = unique_topic("txtimeout")
    _create(client, topic)
    init = _init(client, "slow-txn", timeout=300)
    pid, epoch = init["producer_id"], init["producer_epoch"]
    _add_partitions(client, "slow-txn", pid, epoch, topic, [0])
    _produce(client, "slow-txn", topic, pid, epoch, 0, [b"never-committed"])
    from tests.conftest import wait_until
    wait_until(lambda: _fetch(client, topic)[0]["last_stable_offset"] == 2, 10,
               "the coordinator aborted the timed-out transaction")
    assert _end(client, "slow-txn", pid, epoch, True) == code("PRODUCER_FENCED")


def test_transaction_state_survives_restart(broker_factory):
    broker = broker_factory()
    client = RawClient(broker.bootstrap)
    topic = unique_topic("txrestart")
    _create(client, topic)
    init = _init(client, "durable-txn")
    pid, epoch = init["producer_id"], init["producer_epoch"]
    _add_partitions(client, "durable-txn", pid, epoch, topic, [0])
    _produce(client, "durable-txn", topic, pid, epoch, 0, [b"open"])
    client.close()
    broker.kill()
    broker.start()
    client = RawClient(broker.bootstrap)
    # The open transaction is still open after the crash (LSO held back), and can commit.
    assert _fetch(client, topic)[0]["last_stable_offset"] == 0
    assert _end(client, "durable-txn", pid, epoch, True) == 0
    part, batches = _fetch(client, topic)
    assert part["last_stable_offset"] == 2
    assert [r.value for h, recs in batches if not h.is_control for r in recs] == [b"open"]
    # Deduplication survives the restart too: a retry of sequence 0 is answered, not appended.
    assert _produce(client, None, topic, pid, epoch, 0, [b"open"], transactional=False)["base_offset"] == 0


def _offset_fetch(client, group, topic, require_stable=True):
    resp = client.call(9, 7, {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0]}],
                              "require_stable": require_stable})
    return resp["topics"][0]["partitions"][0]


def test_txn_offset_commit_is_pending_until_the_transaction_commits(broker_factory):
    broker = broker_factory()
    client = RawClient(broker.bootstrap)
    topic, group, txn = unique_topic("txoff"), unique_topic("txgroup"), unique_topic("txid")
    _create(client, topic)
    init = _init(client, txn)
    pid, epoch = init["producer_id"], init["producer_epoch"]

    def commit_offset(offset):
        resp = client.call(28, 3, {"transactional_id": txn, "group_id": group, "producer_id": pid,
                                   "producer_epoch": epoch, "generation_id": -1, "member_id": "",
                                   "group_instance_id": None, "topics": [{"name": topic, "partitions": [
                                       {"partition_index": 0, "committed_offset": offset,
                                        "committed_leader_epoch": -1, "committed_metadata": "m"}]}]})
        return resp["topics"][0]["partitions"][0]["error_code"]

    assert commit_offset(5) == code("INVALID_TXN_STATE")  # the group was not added to the transaction
    assert client.call(25, 3, {"transactional_id": txn, "producer_id": pid, "producer_epoch": epoch,
                               "group_id": group})["error_code"] == 0
    assert commit_offset(5) == 0
    assert _offset_fetch(client, group, topic)["error_code"] == code("UNSTABLE_OFFSET_COMMIT")
    assert _offset_fetch(client, group, topic, require_stable=False)["committed_offset"] == -1
    assert _end(client, txn, pid, epoch, True) == 0
    assert _offset_fetch(client, group, topic)["committed_offset"] == 5

    # An aborted transaction's offsets never become visible, also after a crash and replay.
    assert client.call(25, 3, {"transactional_id": txn, "producer_id": pid, "producer_epoch": epoch,
                               "group_id": group})["error_code"] == 0
    assert commit_offset(9) == 0
    assert _end(client, txn, pid, epoch, False) == 0
    client.close()
    broker.kill()
    broker.start()
    client = RawClient(broker.bootstrap)
    fetched = _offset_fetch(client, group, topic)
    assert (fetched["error_code"], fetched["committed_offset"]) == (0, 5)


def _markers(client, pid, epoch, coordinator_epoch, topic, partitions, commit=False):
    resp = client.call(27, 1, {"markers": [{"producer_id": pid, "producer_epoch": epoch, "transaction_result": commit,
                                            "topics": [{"name": topic, "partition_indexes": partitions}],
                                            "coordinator_epoch": coordinator_epoch}]})
    return [p["error_code"] for p in resp["markers"][0]["topics"][0]["partitions"]]


def test_write_txn_markers_aborts_an_open_transaction_and_refuses_stale_ones(shared_broker):
    """What kafka-transactions abort sends: an ABORT marker written straight to the partition.
    A marker for a fenced epoch or an unknown partition is refused and writes nothing."""
    client = RawClient(shared_broker.bootstrap)
    topic, txn = unique_topic("txmarkers"), unique_topic("txid")
    _create(client, topic)
    init = _init(client, txn)
    pid, epoch = init["producer_id"], init["producer_epoch"]
    assert _add_partitions(client, txn, pid, epoch, topic, [0]) == [0]
    assert _produce(client, txn, topic, pid, epoch, 0, [b"hanging"])["error_code"] == 0
    assert _fetch(client, topic)[0]["last_stable_offset"] == 0

    assert _markers(client, pid, epoch, 0, topic, [0, 7]) == [0, code("UNKNOWN_TOPIC_OR_PARTITION")]
    part, batches = _fetch(client, topic)
    assert part["last_stable_offset"] == part["high_watermark"] == 2
    assert part["aborted_transactions"] == [{"producer_id": pid, "first_offset": 0}]

    # An epoch older than the producer's, or a coordinator epoch older than the last marker's.
    assert _markers(client, pid, epoch - 1, 0, topic, [0]) == [code("INVALID_PRODUCER_EPOCH")]
    assert _markers(client, pid, epoch, -5, topic, [0]) == [code("TRANSACTION_COORDINATOR_FENCED")]
    assert _fetch(client, topic)[0]["high_watermark"] == 2
    client.close()
