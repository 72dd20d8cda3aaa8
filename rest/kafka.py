"""The Kafka clients one REST Proxy shares between all requests: an AdminClient for metadata and
configs, a consumer (no group) for partition offsets, and one Producer whose delivery reports a
background thread serves, so a request waits only for its own records."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from rest.errors import RestError, kafka_error

# Kafka's own internal topics, which kafka-rest leaves out of its listings (Admin listTopics).
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
AUTHORIZATION_ERRORS = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
                        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}


@dataclass
class Delivery:
    """What happened to one produced record: its partition and offset, or kafka-rest's error code."""

    partition: int | None = None
    offset: int | None = None
    timestamp_ms: int | None = None
    error_code: int | None = None
    error: str | None = None


def delivery_error_code(err: KafkaError) -> int:
    """kafka-rest's per-record codes: 40101 authentication, 40301 authorization, 50003 retriable,
    50002 any other Kafka error."""
    if err.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        return 40101
    if err.code() in AUTHORIZATION_ERRORS:
        return 40301
    return 50003 if err.retriable() else 50002


def refused_record(err: KafkaError) -> RestError:
    """A record the producer refused to take: too large (413), for a partition that does not exist
    (40402), or another Kafka error."""
    if err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
        return RestError(413, f"The request included a message larger than the maximum message size the "
                              f"server can accept: {err.str()}")
    if err.code() == KafkaError._UNKNOWN_PARTITION:
        return RestError(40402, "Partition not found.")
    return RestError(delivery_error_code(err), err.str())


class KafkaBackend:
    def __init__(self, client: dict, producer: dict | None = None, admin: dict | None = None,
                 timeout_s: float = 10.0):
        self.timeout_s = timeout_s
        self.admin = AdminClient({**client, **(admin or {})})
        # A record that cannot be delivered in 30 s fails (a request waits for all of its records);
        # producer.delivery.timeout.ms overrides it.
        producer = {"linger.ms": 5, "delivery.timeout.ms": 30000, **client, **(producer or {})}
        self.producer = Producer(producer)
        self._delivery_timeout_s = int(producer["delivery.timeout.ms"]) / 1000
        self._offsets = Consumer({**client, "group.id": "schemabus-rest-offsets", "enable.auto.commit": False})
        self._closed = threading.Event()
        self._cluster_id: str | None = None
        self._poller = threading.Thread(target=self._serve_deliveries, name="rest-deliveries", daemon=True)
        self._poller.start()

    def _serve_deliveries(self) -> None:
        while not self._closed.is_set():
            self.producer.poll(0.05)

    def close(self) -> None:
        self._closed.set()
        self._poller.join(5)
        self.producer.flush(self.timeout_s)
        self._offsets.close()

    # -- metadata ---------------------------------------------------------------------------

    def cluster(self):
        """The cluster's metadata: all topics, without asking for one by name (which could create it)."""
        try:
            return self.admin.list_topics(timeout=self.timeout_s)
        except Exception as exc:  # KafkaException: the broker cannot be reached
            raise kafka_error(f"cannot get the cluster's metadata: {exc}") from None

    def cluster_id(self) -> str:
        """The cluster's id, asked once (it never changes while the proxy runs)."""
        if self._cluster_id is None:
            try:
                described = self.admin.describe_cluster(request_timeout=self.timeout_s).result(self.timeout_s)
            except Exception as exc:
                raise kafka_error(f"cannot describe the cluster: {exc}") from None
            self._cluster_id = described.cluster_id
        return self._cluster_id

    def topic(self, name: str):
        """The topic's metadata; 40401 when it does not exist."""
        topic = self.cluster().topics.get(name)
        if topic is None or topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise RestError(40401, "Topic not found.")
        if topic.error is not None:
            code = 40301 if topic.error.code() in AUTHORIZATION_ERRORS else 50002
            raise RestError(code, topic.error.str())
        return topic

    def topic_configs(self, name: str) -> dict[str, str | None]:
        futures = self.admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)],
                                              request_timeout=self.timeout_s)
        try:
            (configs,) = [future.result(self.timeout_s) for future in futures.values()]
        except Exception as exc:
            raise kafka_error(f"cannot describe the configs of {name}: {exc}") from None
        return {key: entry.value for key, entry in sorted(configs.items())}

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        try:
            return self._offsets.get_watermark_offsets(TopicPartition(topic, partition), timeout=self.timeout_s)
        except Exception as exc:
            raise kafka_error(f"cannot get the offsets of {topic}-{partition}: {exc}") from None

    # -- produce ----------------------------------------------------------------------------

    def send(self, record: dict, on_delivery) -> None:
        """Hand one record ({"topic", "partition"?, "key", "value", "headers"?, "timestamp"?}) to the
        producer; `on_delivery(err, msg)` runs on the delivery thread once the broker answers."""
        kwargs = {}
        if record.get("partition") is not None:
            kwargs["partition"] = record["partition"]
        if record.get("timestamp"):
            kwargs["timestamp"] = record["timestamp"]
        while True:
            try:
                self.producer.produce(record["topic"], record["value"], record["key"],
                                      headers=record.get("headers"), on_delivery=on_delivery, **kwargs)
                return
            except BufferError:  # the local queue is full: the poller frees it as reports come
                self._closed.wait(0.01)
            except KafkaException as exc:  # refused before sending, e.g. larger than message.max.bytes
                raise refused_record(exc.args[0]) from None

    @property
    def delivery_wait_s(self) -> float:
        """How long a record can take to be acknowledged or failed, with a margin."""
        return self._delivery_timeout_s + self.timeout_s

    def produce(self, records: list[dict]) -> list[Delivery]:
        """Send `records` and wait for each one's delivery report; one Delivery per record, in order."""
        results = [Delivery() for _ in records]
        remaining = [len(records)]
        done = threading.Event()
        lock = threading.Lock()

        def report(index):
            def on_delivery(err, msg):
                result = results[index]
                if err is not None:
                    result.error_code, result.error = delivery_error_code(err), err.str()
                else:
                    result.partition, result.offset = msg.partition(), msg.offset()
                    result.timestamp_ms = msg.timestamp()[1]
                with lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        done.set()
            return on_delivery

        for index, record in enumerate(records):
            try:
                self.send(record, report(index))
            except RestError as exc:  # this record only: the others are still sent and reported
                results[index].error_code, results[index].error = exc.error_code, exc.message
                with lock:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        done.set()
        if records and not done.wait(self.delivery_wait_s):
            raise RestError(50002, "timed out waiting for the broker to acknowledge the records")
        return results
