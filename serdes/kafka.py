"""SerializingProducer and DeserializingConsumer around confluent-kafka's Producer / Consumer.

`key.serializer` / `value.serializer` (and `key.deserializer` / `value.deserializer`) are
any callables `(obj, ctx)`, ours or confluent-kafka's. The producer's default partitioner
is `murmur2_random`, the Java client's key hashing, so keyed records land where Java
producers put them.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Producer

from serdes.serialization import MessageField, SerializationContext, SerializationError


class SerializingProducer:
    def __init__(self, conf: dict):
        conf = dict(conf)
        self._key_serializer = conf.pop("key.serializer", None)
        self._value_serializer = conf.pop("value.serializer", None)
        conf.setdefault("partitioner", "murmur2_random")
        self._producer = Producer(conf)

    def produce(self, topic: str, key=None, value=None, partition: int = -1, on_delivery=None,
                timestamp: int = 0, headers=None) -> None:
        ctx = SerializationContext(topic, MessageField.KEY, headers)
        if self._key_serializer is not None:
            key = self._key_serializer(key, ctx)
        ctx.field = MessageField.VALUE
        if self._value_serializer is not None:
            value = self._value_serializer(value, ctx)
        kwargs = {"partition": partition, "timestamp": timestamp}
        if on_delivery is not None:
            kwargs["on_delivery"] = on_delivery
        if headers is not None:
            kwargs["headers"] = headers
        self._producer.produce(topic, value, key, **kwargs)

    def __getattr__(self, name):  # poll, flush, transactions, ... as confluent-kafka's Producer
        return getattr(self._producer, name)

    def __len__(self) -> int:
        return len(self._producer)


class DeserializingConsumer:
    def __init__(self, conf: dict):
        conf = dict(conf)
        self._key_deserializer = conf.pop("key.deserializer", None)
        self._value_deserializer = conf.pop("value.deserializer", None)
        self._consumer = Consumer(conf)

    def poll(self, timeout: float = -1):
        """The next message with key and value deserialized; None on timeout.

        A record that cannot be deserialized raises SerializationError naming topic,
        partition and offset; the consumer's position has moved past it."""
        msg = self._consumer.poll(timeout)
        if msg is None or msg.error() is not None:
            return msg
        ctx = SerializationContext(msg.topic(), MessageField.VALUE, msg.headers(), msg.partition(), msg.offset())
        if self._value_deserializer is not None:
            msg.set_value(self._value_deserializer(msg.value(), ctx))
        if self._key_deserializer is not None:
            ctx.field = MessageField.KEY
            msg.set_key(self._key_deserializer(msg.key(), ctx))
        return msg

    def consume(self, num_messages: int = 1, timeout: float = -1):
        raise NotImplementedError("DeserializingConsumer serves one record at a time: use poll()")

    def __getattr__(self, name):  # subscribe, assign, commit, close, ... as confluent-kafka's Consumer
        return getattr(self._consumer, name)


__all__ = ["DeserializingConsumer", "SerializationError", "SerializingProducer"]
