"""Connect's exception family, named as Kafka's (org.apache.kafka.connect.errors)."""

from __future__ import annotations


class ConnectException(Exception):
    """Something failed in the framework, a connector or a task."""


class DataException(ConnectException):
    """A value does not fit its schema, or bytes do not convert."""


class SchemaBuilderException(DataException):
    pass


class RetriableException(ConnectException):
    """A failure that may succeed when tried again (a sink's put is redelivered)."""


class ConfigException(ConnectException):
    """An invalid configuration; the message is Kafka's wording where Kafka has one."""

    def __init__(self, name: str, value=None, message: str | None = None):
        if message is None:
            super().__init__(name)
        else:
            super().__init__(f"Invalid value {value} for configuration {name}: {message}")
        self.name = name


class NotFoundException(ConnectException):
    pass


class AlreadyExistsException(ConnectException):
    pass
