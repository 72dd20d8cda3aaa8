"""A transactional producer driven by hand over the wire (tests/kafka_wire.py), and what a
read_committed consumer of a partition sees: for the KIP-890 scenarios, which must give
Apache Kafka's answers too (Kafka creates its internal topics on first use, writes markers
after EndTxn has answered, and may answer a fetch with fewer batches than there are)."""

from __future__ import annotations

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
    """One transactional producer driven by hand: its id, producer id, epoch and the next
    sequence of each partition."""

    def __init__(self, client: RawClient, transactional_id: str | None = None):
        self.client = client
        self.id = transactional_id or unique_topic("kip890")
        self.pid = self.epoch = -1
        self.seqs: dict[tuple[str, int], int] = {}

    def init(self, version: int = 5, timeout_ms: int = 60000) -> dict:
        # Kafka creates __transaction_state when a transaction coordinator is first looked for.
        wait_until(lambda: self.client.call(FIND_COORDINATOR, 4, {"key_type": 1, "coordinator_keys": [self.id]})[
            "coordinators"][0]["error_code"] == 0, 30, "a transaction coordinator is found")

        def attempt():
            answer = self.client.call(INIT_PRODUCER_ID, version, {
                "transactional_id": self.id, "transaction_timeout": timeout_ms, "producer_id": -1,
                "producer_epoch": -1})
            return None if answer["error_code"] in NOT_READY else answer
        answer = wait_until(attempt, 30, "the transaction coordinator answers InitProducerId")
        assert answer["error_code"] == 0, answer
        self.pid, self.epoch, self.seqs = answer["producer_id"], answer["producer_epoch"], {}
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
        seq = self.seqs.get((topic, partition), 0) if seq is None else seq
        batch = records.encode_batch(
            [records.Record(i, 1000 + i, b"k", v) for i, v in enumerate(values)], base_offset=0,
            attributes=records.TRANSACTIONAL_BIT, producer_id=self.pid,
            producer_epoch=self.epoch if epoch is None else epoch, base_sequence=seq)
        answer = self.client.call(PRODUCE, version, {"transactional_id": self.id, "acks": -1, "timeout": 5000,
                                                     "topic_data": [{"name": topic, "partition_data": [
                                                         {"index": partition, "records": bytes(batch)}]}]})
        result = answer["responses"][0]["partition_responses"][0]
        if result["error_code"] == 0 and epoch is None:
            self.seqs[(topic, partition)] = seq + len(values)
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
            self.pid, self.epoch, self.seqs = answer["producer_id"], answer["producer_epoch"], {}
        return answer

    def verify(self, topic: str, partitions: list[int], epoch: int | None = None,
               pid: int | None = None) -> list[int]:
        """AddPartitionsToTxn v5 verify_only, as a partition's broker asks the coordinator: the
        error codes in partition order (Kafka answers partitions in no particular order)."""
        answer = self.client.call(ADD_PARTITIONS, 5, {"transactions": [{
            "transactional_id": self.id, "producer_id": self.pid if pid is None else pid,
            "producer_epoch": self.epoch if epoch is None else epoch, "verify_only": True,
            "topics": [{"name": topic, "partitions": partitions}]}]})
        assert answer["error_code"] == 0, answer
        (result,) = answer["results_by_transaction"]
        by_partition = result["topic_results"][0]["results_by_partition"]
        return [p["partition_error_code"] for p in sorted(by_partition, key=lambda p: p["partition_index"])]


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
