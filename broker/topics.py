"""The broker's topics: names, ids, partition counts, configs, and their partitions.

Topic metadata lives in `<data>/.topics/<name>.json` (written atomically), partition data
in `<data>/<topic>-<partition>/` as in Kafka. Deleting a topic removes its metadata file
first, so a crash half-way leaves only orphan directories, removed at the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from broker.config import BrokerConfig, ConfigError, validate_topic_configs
from broker.partition import Partition
from broker.storage.checkpoint import sync_file_system

log = logging.getLogger("schemabus.broker")

_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_NAME = 249
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
# Open partitions beyond which a clean stop syncs the file system instead of each file.
BATCHED_SYNC_FROM = 200
# Creating a partition makes a directory and three files (~1 ms): CreateTopics and
# CreatePartitions give the event loop back after this long.
CREATE_SLICE_S = 0.01


class TopicError(Exception):
    def __init__(self, error: str, message: str):
        super().__init__(message)
        self.error = error
        self.message = message


def validate_topic_name(name: str | None) -> None:
    if not name:
        raise TopicError("INVALID_TOPIC_EXCEPTION", "Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise TopicError("INVALID_TOPIC_EXCEPTION", "Topic name cannot be \".\" or \"..\"")
    if len(name) > MAX_TOPIC_NAME:
        raise TopicError("INVALID_TOPIC_EXCEPTION",
                         f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters")
    if not _LEGAL_TOPIC.match(name):
        raise TopicError("INVALID_TOPIC_EXCEPTION",
                         f"Topic name \"{name}\" is illegal, it contains a character other than "
                         "ASCII alphanumerics, '.', '_' and '-'")


@dataclass
class Topic:
    name: str
    topic_id: bytes
    configs: dict[str, str]
    partitions: list[Partition] = field(default_factory=list)
    # Derived from configs on first use (e.g. schema validation rules); cleared when they change.
    derived: dict = field(default_factory=dict)

    @property
    def internal(self) -> bool:
        return self.name in INTERNAL_TOPICS


def _write_json_atomically(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class TopicManager:
    def __init__(self, data_dir: Path, config: BrokerConfig):
        self.data_dir = Path(data_dir)
        self.config = config
        self.meta_dir = self.data_dir / ".topics"
        self.meta_dir.mkdir(parents=True, exist_ok=True)
        self.topics: dict[str, Topic] = {}
        # The same topics by id: Fetch v13+ names every topic by id, so lookups must not scan.
        self._by_id: dict[bytes, Topic] = {}
        self._creating: set[str] = set()  # topics whose partitions are being created (paced)
        self._load()

    # -- persistence --------------------------------------------------------------

    def _load(self) -> None:
        unreadable = set()
        for path in sorted(self.meta_dir.glob("*.json")):
            try:
                meta = json.loads(path.read_text())
                topic = Topic(meta["name"], bytes.fromhex(meta["topic_id"]), meta.get("configs", {}))
                count = int(meta["partitions"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.error("skipping unreadable topic metadata %s (its partition directories are kept): %s",
                          path, exc)
                unreadable.add(path.stem)
                continue
            self._add(topic)
            # Opened on first use (or by the broker's background pass): a start does not
            # read tens of thousands of partition directories before it serves anyone.
            self._open_partitions(topic, count, open_now=False)
        self._remove_orphans(unreadable)

    def _remove_orphans(self, unreadable: set[str]) -> None:
        """Delete the directories of deleted topics; never those of a topic whose metadata
        file is there but unreadable (bit rot must not turn into data loss)."""
        known = {f"{t.name}-{p.index}" for t in self.topics.values() for p in t.partitions}
        with os.scandir(self.data_dir) as entries:  # no stat per entry: d_type says "directory"
            for entry in entries:
                if entry.name in known or entry.name.startswith(".") or not entry.is_dir():
                    continue
                if re.match(r".+-\d+$", entry.name) and entry.name.rpartition("-")[0] not in unreadable:
                    log.warning("removing partition directory of a deleted topic: %s", entry.path)
                    shutil.rmtree(entry.path, ignore_errors=True)

    def _add(self, topic: Topic) -> None:
        self.topics[topic.name] = topic
        self._by_id[topic.topic_id] = topic

    def _save(self, topic: Topic) -> None:
        _write_json_atomically(self.meta_dir / f"{topic.name}.json", {
            "name": topic.name, "topic_id": topic.topic_id.hex(),
            "partitions": len(topic.partitions), "configs": topic.configs,
        })

    def _open_partitions(self, topic: Topic, count: int, open_now: bool = True) -> None:
        topic.partitions.extend(self._new_partitions(topic, count, open_now))

    def _new_partitions(self, topic: Topic, count: int, open_now: bool = True) -> Iterator[Partition]:
        """Partitions len(topic.partitions) .. count-1 of `topic` (not added to it)."""
        log_config = self.config.log_config(topic.configs)
        for index in range(len(topic.partitions), count):
            directory = self.data_dir / f"{topic.name}-{index}"
            yield Partition(topic.name, index, directory, log_config, open_now=open_now)

    async def _make_paced(self, topic: Topic, count: int) -> list[Partition]:
        """_new_partitions on the event loop in slices; on failure none are left behind."""
        made: list[Partition] = []
        slice_end = time.monotonic() + CREATE_SLICE_S
        try:
            for partition in self._new_partitions(topic, count):
                made.append(partition)
                if time.monotonic() >= slice_end:
                    await asyncio.sleep(0)
                    slice_end = time.monotonic() + CREATE_SLICE_S
        except BaseException:
            for partition in made:
                partition.delete()
            raise
        return made

    # -- queries ------------------------------------------------------------------

    def get(self, name: str) -> Topic | None:
        return self.topics.get(name)

    def partition(self, name: str, index: int) -> Partition | None:
        topic = self.topics.get(name)
        if topic is None or not 0 <= index < len(topic.partitions):
            return None
        return topic.partitions[index]

    def by_id(self, topic_id: bytes) -> Topic | None:
        return self._by_id.get(topic_id)

    def topic_value(self, topic: Topic, name: str):
        return self.config.topic_value(topic.configs, name)[0]

    # -- changes ------------------------------------------------------------------

    def check_new_topic(self, name: str, num_partitions: int, replication_factor: int,
                        configs: dict[str, str | None]) -> tuple[int, int, dict[str, str]]:
        """Validate a CreateTopics entry; returns (partitions, replication factor, configs)."""
        validate_topic_name(name)
        if name in self.topics or name in self._creating:
            raise TopicError("TOPIC_ALREADY_EXISTS", f"Topic '{name}' already exists.")
        if num_partitions == -1:
            num_partitions = self.config["num.partitions"]
        if num_partitions <= 0:
            raise TopicError("INVALID_PARTITIONS", "Number of partitions must be larger than 0.")
        if replication_factor == -1:
            replication_factor = self.config["default.replication.factor"]
        if replication_factor <= 0:
            raise TopicError("INVALID_REPLICATION_FACTOR", "Replication factor must be larger than 0.")
        if replication_factor > 1:
            raise TopicError("INVALID_REPLICATION_FACTOR",
                             f"Unable to replicate the partition {replication_factor} time(s): "
                             "The target replication factor of "
                             f"{replication_factor} cannot be reached because only 1 broker(s) are registered.")
        try:
            stored = validate_topic_configs(configs)
        except ConfigError as exc:
            raise TopicError("INVALID_CONFIG", str(exc)) from None
        return num_partitions, replication_factor, stored

    def create(self, name: str, num_partitions: int = -1, replication_factor: int = -1,
               configs: dict[str, str | None] | None = None) -> Topic:
        num_partitions, _, stored = self.check_new_topic(name, num_partitions, replication_factor, configs or {})
        topic = Topic(name, uuid.uuid4().bytes, stored)
        self._open_partitions(topic, num_partitions)
        self._save(topic)
        self._add(topic)
        log.info("created topic %s with %d partition(s)", name, num_partitions)
        return topic

    async def create_paced(self, name: str, num_partitions: int = -1, replication_factor: int = -1,
                           configs: dict[str, str | None] | None = None) -> Topic:
        """create() for CreateTopics: the partitions are made in slices, other requests
        served in between; the topic appears (and exists after a crash) once all are made."""
        num_partitions, _, stored = self.check_new_topic(name, num_partitions, replication_factor, configs or {})
        topic = Topic(name, uuid.uuid4().bytes, stored)
        self._creating.add(name)
        try:
            topic.partitions = await self._make_paced(topic, num_partitions)
        finally:
            self._creating.discard(name)
        self._save(topic)
        self._add(topic)
        log.info("created topic %s with %d partition(s)", name, num_partitions)
        return topic

    def delete(self, name: str) -> None:
        topic = self.topics.pop(name, None)
        if topic is None:
            raise TopicError("UNKNOWN_TOPIC_OR_PARTITION", "This server does not host this topic-partition.")
        self._by_id.pop(topic.topic_id, None)
        (self.meta_dir / f"{name}.json").unlink(missing_ok=True)
        for partition in topic.partitions:
            partition.delete()
        log.info("deleted topic %s", name)

    def add_partitions(self, name: str, count: int, validate_only: bool = False) -> None:
        topic = self.topics.get(name)
        if topic is None:
            raise TopicError("UNKNOWN_TOPIC_OR_PARTITION", f"The topic '{name}' does not exist.")
        if count <= len(topic.partitions):
            raise TopicError("INVALID_PARTITIONS",
                             f"Topic currently has {len(topic.partitions)} partitions, which is higher than "
                             f"or equal to the requested {count}.")
        if validate_only:
            return
        self._open_partitions(topic, count)
        self._save(topic)

    async def add_partitions_paced(self, name: str, count: int, validate_only: bool = False) -> None:
        """add_partitions() for CreatePartitions, made in slices: the new partitions appear
        together once all are made and recorded."""
        key = f"{name}\0partitions"
        while key in self._creating:  # one at a time per topic, as Kafka's controller does
            await asyncio.sleep(0.01)
        self.add_partitions(name, count, validate_only=True)
        if validate_only:
            return
        topic = self.topics[name]
        self._creating.add(key)
        try:
            made = await self._make_paced(topic, count)
        finally:
            self._creating.discard(key)
        if self.topics.get(name) is not topic:  # deleted meanwhile
            for partition in made:
                partition.delete()
            raise TopicError("UNKNOWN_TOPIC_OR_PARTITION", f"The topic '{name}' does not exist.")
        topic.partitions.extend(made)
        self._save(topic)

    def set_configs(self, topic: Topic, configs: dict[str, str]) -> None:
        """Replace the topic's explicit configs and apply them to its logs."""
        try:
            stored = validate_topic_configs(configs)
        except ConfigError as exc:
            raise TopicError("INVALID_CONFIG", str(exc)) from None
        topic.configs = stored
        self._save(topic)
        self._reconfigure(topic)

    def refresh_configs(self) -> None:
        """The broker's defaults changed (dynamic configs): every topic that falls back to them
        takes the new values."""
        for topic in self.topics.values():
            self._reconfigure(topic)

    def _reconfigure(self, topic: Topic) -> None:
        topic.derived.clear()
        log_config = self.config.log_config(topic.configs)
        for partition in topic.partitions:
            partition.update_config(log_config)

    def close(self) -> None:
        """Close every partition. Past a few dozen changed partitions their files are made
        durable with two syncs of the file system (data, then the clean-shutdown markers)
        instead of several fsyncs each: with 50,000 partitions that is seconds, not minutes."""
        partitions = [p for topic in self.topics.values() for p in topic.partitions if p.is_open]
        if len(partitions) <= BATCHED_SYNC_FROM:
            for partition in partitions:
                partition.close()
            return
        unmarked = [p for p in partitions if p.close(sync=False)]
        if unmarked:
            sync_file_system(self.data_dir)
            for partition in unmarked:
                partition.log.write_clean_marker(fsync=False)
            sync_file_system(self.data_dir)
