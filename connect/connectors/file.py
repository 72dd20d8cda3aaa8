"""FileStreamSource and FileStreamSink with Kafka's names, configs and offsets: one line of the
file is one record; the source's offset is the byte position after the last line read, under
the partition {"filename": <path>}, so a Java worker and ours can take over from each other."""

from __future__ import annotations

import io
import sys
import threading
import time

from connect import data
from connect.api import ExactlyOnceSupport, SinkConnector, SinkTask, SourceConnector, SourceTask, source_record
from connect.config_def import ConfigDef, ConfigType, Importance, Range

VERSION = "4.1.1"
FILENAME_FIELD = "filename"
POSITION_FIELD = "position"


def _source_config() -> ConfigDef:
    return (ConfigDef()
            .define("file", ConfigType.STRING, None, None, Importance.HIGH,
                    "Source filename. If not specified, the standard input will be used")
            .define("topic", ConfigType.LIST, validator=_single_topic, importance=Importance.HIGH,
                    documentation="The topic to publish data to")
            .define("batch.size", ConfigType.INT, 2000, Range.at_least(1), Importance.LOW,
                    "The maximum number of records the source task can read from the file each time it is polled"))


def _single_topic(name, value):
    from connect.errors import ConfigException
    if len(value or []) != 1:
        raise ConfigException(name, ",".join(value or []), "'topic' in FileStreamSourceConnector configuration "
                              "requires definition of a single topic")


class FileStreamSourceConnector(SourceConnector):
    class_name = "org.apache.kafka.connect.file.FileStreamSourceConnector"

    def version(self):
        return VERSION

    def config(self):
        return _source_config()

    def start(self, props):
        self.props = dict(props)
        _source_config().parse(props)

    def task_class(self):
        return FileStreamSourceTask

    def task_configs(self, max_tasks):
        parsed = _source_config().parse(self.props)
        config = {"topic": parsed["topic"][0], "batch.size": str(parsed["batch.size"])}
        if parsed["file"]:
            config["file"] = parsed["file"]
        return [config]  # one file, one task

    def exactly_once_support(self, props):
        return ExactlyOnceSupport.SUPPORTED if props.get("file") else ExactlyOnceSupport.UNSUPPORTED

    def alter_offsets(self, connector_config, offsets):
        return True  # everything it keeps is in Connect's offsets


class FileStreamSourceTask(SourceTask):
    """Reads whole lines from the last position; a partial last line waits for its newline."""
    class_name = "org.apache.kafka.connect.file.FileStreamSourceTask"

    def version(self):
        return VERSION

    def start(self, props):
        self.filename = props.get("file") or None
        self.topic = props["topic"]
        self.batch_size = int(props.get("batch.size", 2000))
        self.stream = None
        self.position = 0
        self.pending = b""
        self.stopped = threading.Event()

    def _open(self) -> bool:
        if self.filename is None:
            self.stream = sys.stdin.buffer
            return True
        try:
            self.stream = open(self.filename, "rb")
        except FileNotFoundError:
            return False
        stored = self.context.offset_storage_reader.offset({FILENAME_FIELD: self.filename}) if self.context else None
        if stored and isinstance(stored.get(POSITION_FIELD), int):
            self.position = stored[POSITION_FIELD]
            self.stream.seek(self.position)
        return True

    def poll(self):
        if self.stream is None and not self._open():
            self.stopped.wait(1.0)
            return None
        if b"\n" not in self.pending:  # lines left from the last read go first
            chunk = self.stream.read1(1 << 16) if hasattr(self.stream, "read1") else self.stream.read(1 << 16)
            if not chunk:
                self.stopped.wait(1.0)
                return None
            self.pending += chunk
        records = []
        partition = {FILENAME_FIELD: self.filename} if self.filename else None
        now = int(time.time() * 1000)
        start = 0
        while len(records) < self.batch_size:
            end = self.pending.find(b"\n", start)
            if end < 0:
                break
            raw = self.pending[start:end]
            self.position += end + 1 - start
            start = end + 1
            line = raw[:-1] if raw.endswith(b"\r") else raw
            offset = {POSITION_FIELD: self.position} if self.filename else None
            records.append(source_record(partition, offset, self.topic, value_schema=data.STRING_SCHEMA,
                                         value=line.decode("utf-8", "replace"), timestamp=now))
        self.pending = self.pending[start:]
        return records or None

    def stop(self):
        self.stopped.set()
        if self.stream is not None and self.filename is not None:
            self.stream.close()


def _sink_config() -> ConfigDef:
    return ConfigDef().define("file", ConfigType.STRING, None, None, Importance.HIGH,
                              "Destination filename. If not specified, the standard output will be used")


class FileStreamSinkConnector(SinkConnector):
    class_name = "org.apache.kafka.connect.file.FileStreamSinkConnector"

    def version(self):
        return VERSION

    def config(self):
        return _sink_config()

    def start(self, props):
        self.props = dict(props)

    def task_class(self):
        return FileStreamSinkTask

    def task_configs(self, max_tasks):
        return [dict(self.props) for _ in range(max_tasks)]

    def alter_offsets(self, connector_config, offsets):
        return True


class FileStreamSinkTask(SinkTask):
    """Appends each record's value and a newline; flush makes them durable to the OS."""
    class_name = "org.apache.kafka.connect.file.FileStreamSinkTask"

    def version(self):
        return VERSION

    def start(self, props):
        filename = props.get("file") or None
        self.out: io.TextIOBase = open(filename, "a", encoding="utf-8") if filename else sys.stdout

    def put(self, records):
        write = self.out.write
        for record in records:
            write(_text(record.value) + "\n")

    def flush(self, offsets):
        self.out.flush()

    def stop(self):
        if self.out is not sys.stdout:
            self.out.close()


def _text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
