"""The console in front of Apache Kafka 4.1.1 (not our broker), with our registry keeping its schemas
in that Kafka: the overview, the topics pages, creating a topic, browsing Avro records decoded,
consumer groups with their lag and resetting an empty group's offsets. What the pages show is
compared with what Kafka's Admin API answers, and every change is checked through it. Kafka starts
once (the session's `apache_kafka`); no page may log an error in the browser."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from serdes import MessageField, SchemaRegistryClient, SerializationContext
from serdes.avro import AvroSerializer
from tests.conftest import unique_topic, wait_until
from tests.console.conftest import ConsoleProcess, PAGE_WAIT_S, PageWait, console_errors, open_page
from tests.registry.conftest import RegistryProcess

READING = json.dumps({"type": "record", "name": "Reading", "namespace": "console.kafka", "fields": [
    {"name": "sensor", "type": "string"}, {"name": "level", "type": "double"},
    {"name": "tags", "type": {"type": "array", "items": "string"}}]})
PER_PARTITION = 6


class KafkaConsole:
    def __init__(self, kafka, registry, console):
        self.kafka, self.registry, self.console = kafka, registry, console
        self.admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
        self.url = console.url


@pytest.fixture(scope="module")
def kafka_console(apache_kafka, tmp_path_factory):
    """Our registry and the console in front of Apache Kafka (the registry's topic in that Kafka)."""
    work = tmp_path_factory.mktemp("console-apache-kafka")
    registry = RegistryProcess(apache_kafka.bootstrap, work).start()
    try:
        console = ConsoleProcess(work, apache_kafka.bootstrap, registry.url).start()
        try:
            yield KafkaConsole(apache_kafka, registry, console)
        finally:
            console.stop()
    finally:
        registry.stop()


def _make_topic(admin: AdminClient, partitions: int = 2, prefix: str = "kafka-console") -> str:
    name = unique_topic(prefix)
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    return name


def _fill(driver, field_id: str, text: str) -> None:
    field = driver.find_element(By.ID, field_id)
    field.clear()
    field.send_keys(text)


def _submit(driver, label: str, ready_css: str) -> None:
    """Clicks the button `label`, waits for the page it loads to show `ready_css`, with no browser errors."""
    console_errors(driver)
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']").click()
    PageWait(driver, PAGE_WAIT_S).until(expected_conditions.staleness_of(old), f"{label!r} loaded no page")
    PageWait(driver, PAGE_WAIT_S).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ready_css)),
        f"after {label!r}: {ready_css} did not appear; the page says "
        f"{driver.find_element(By.TAG_NAME, 'body').text[:1500]}")
    errors = console_errors(driver)
    assert not errors, f"{driver.current_url}: errors in the browser console: {errors}"


def _table(driver, css: str) -> list[list[str]]:
    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")]
            for row in driver.find_elements(By.CSS_SELECTOR, f"{css} tbody tr")]


def _committed(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    found = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=30)
    return {(tp.topic, tp.partition): tp.offset for tp in found.topic_partitions}


def _group_state(admin: AdminClient, group: str) -> str:
    return admin.describe_consumer_groups([group])[group].result(timeout=30).state.name


def test_overview_shows_the_apache_kafka_cluster(kafka_console, browser):
    k = kafka_console
    cluster = k.admin.describe_cluster().result(30)
    open_page(browser, k.url + "/")
    broker = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby='broker-h']").text
    assert cluster.cluster_id in broker and f"1 (127.0.0.1:{k.kafka.port}), controller" in broker, broker
    topics = [t for t in k.admin.list_topics(timeout=30).topics if not t.startswith("_")]
    assert f"Topics\n{len(topics)}" in broker, broker
    registry = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby='registry-h']").text
    assert k.registry.url in registry and "Unavailable" not in registry, registry


@pytest.mark.parametrize("path", ["/schemas/", "/groups/", "/connect/", "/security/acls", "/security/users"])
def test_every_area_opens_without_an_error(kafka_console, browser, path):
    """The areas not tested below: they open (Connect is not configured here; Kafka has no authorizer)."""
    open_page(browser, kafka_console.url + path)
    assert "Internal error" not in browser.find_element(By.TAG_NAME, "main").text


def test_topics_list_and_a_topics_page(kafka_console, browser):
    k = kafka_console
    name = _make_topic(k.admin)
    producer = Producer({"bootstrap.servers": k.kafka.bootstrap})
    for i in range(5):
        producer.produce(name, b"v", f"k{i}".encode(), partition=i % 2)
    assert producer.flush(30) == 0

    open_page(browser, k.url + "/topics/", "#topics")
    row = browser.find_element(By.XPATH, f"//table[@id='topics']//tr[th[normalize-space()='{name}']]")
    assert row.text.split()[:3] == [name, "2", "1"], row.text
    assert "__consumer_offsets" not in browser.find_element(By.ID, "topics").text  # internal: hidden
    # No metrics endpoint given (Apache Kafka has none of its own): the page says so, no error.
    assert "broker.metrics.url" in browser.find_element(By.ID, "metrics-note").text

    open_page(browser, f"{k.url}/topics/{name}", "#partitions")
    # partition, leader, replicas, in-sync replicas, earliest, latest: as Kafka answers them
    assert _table(browser, "#partitions") == [["0", "1", "1", "1", "0", "3"], ["1", "1", "1", "1", "0", "2"]]
    configs = browser.find_element(By.ID, "configs-table").text
    assert "retention.ms" in configs and "cleanup.policy" in configs

    _fill(browser, "total", "3")
    _submit(browser, "Add partitions", ".flash.success")
    assert len(k.admin.describe_topics(TopicCollection([name]))[name].result(30).partitions) == 3
    assert [r[0] for r in _table(browser, "#partitions")] == ["0", "1", "2"]

    # Configs altered incrementally (IncrementalAlterConfigs), then the topic deleted by its name.
    _fill(browser, "set_name_0", "retention.ms")
    _fill(browser, "set_value_0", "7200000")
    _submit(browser, "Apply config changes", ".flash.success")
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    assert k.admin.describe_configs([resource])[resource].result(30)["retention.ms"].value == "7200000"
    open_page(browser, f"{k.url}/topics/{name}/delete", "#confirm")
    _fill(browser, "confirm", name)
    _submit(browser, "Delete topic", ".flash.success")
    wait_until(lambda: name not in k.admin.list_topics(timeout=30).topics, 30, f"{name} was not deleted")


def test_create_a_topic_through_the_form(kafka_console, browser):
    k = kafka_console
    name = unique_topic("kafka-created")
    open_page(browser, k.url + "/topics/new", "form")
    _fill(browser, "name", name)
    _fill(browser, "partitions", "3")
    _fill(browser, "replication", "1")
    _fill(browser, "config_name_0", "retention.ms")
    _fill(browser, "config_value_0", "3600000")
    _submit(browser, "Create topic", "#partitions")
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == f"Topic {name}"
    assert len(k.admin.describe_topics(TopicCollection([name]))[name].result(30).partitions) == 3
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    described = k.admin.describe_configs([resource])[resource].result(30)
    assert described["retention.ms"].value == "3600000"

    # Kafka's own refusal, by the field it is about; nothing created.
    refused = unique_topic("kafka-refused")
    open_page(browser, k.url + "/topics/new", "form")
    _fill(browser, "name", refused)
    _fill(browser, "config_name_0", "retention.ms")
    _fill(browser, "config_value_0", "soon")
    _submit(browser, "Create topic", "#config_name_0-error")
    assert "soon" in browser.find_element(By.ID, "config_name_0-error").text
    assert refused not in k.admin.list_topics(timeout=30).topics

    # Schema validation is not Apache Kafka's (it refuses the topic configs): the form does not offer it.
    assert not browser.find_elements(By.ID, "confluent.value.schema.validation")
    assert "does not validate records" in browser.find_element(By.ID, "no-schema-validation").text


def test_browse_decodes_avro_records(kafka_console, browser):
    k = kafka_console
    name = _make_topic(k.admin, partitions=1)
    registry = SchemaRegistryClient({"url": k.registry.url})
    serialize = AvroSerializer(registry, READING)
    readings = [{"sensor": f"s-{i}", "level": i / 4, "tags": ["a"] * i} for i in range(3)]
    producer = Producer({"bootstrap.servers": k.kafka.bootstrap})
    for reading in readings:
        producer.produce(name, serialize(reading, SerializationContext(name, MessageField.VALUE)), b"key")
    assert producer.flush(30) == 0
    schema_id = registry.get_latest_version(f"{name}-value").schema_id

    open_page(browser, f"{k.url}/topics/{name}/messages?partition=0&start=earliest", "#records")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.record")
    assert len(rows) == 3
    for offset, (row, reading) in enumerate(zip(rows, readings)):
        assert row.get_attribute("data-offset") == str(offset)
        value = row.find_element(By.CSS_SELECTOR, "td.value .shown")
        assert value.get_attribute("data-kind") == "AVRO", value.text
        assert value.find_element(By.CSS_SELECTOR, ".schema-id").text == str(schema_id)
        assert json.loads(value.find_element(By.CSS_SELECTOR, "pre.value-data").text) == reading


@pytest.fixture
def lagging(kafka_console):
    """A topic of two partitions with PER_PARTITION records each, and a function starting a member of
    a classic group that read them all and committed the given offsets."""
    k = kafka_console
    topic = _make_topic(k.admin, prefix="kafka-lag")
    producer = Producer({"bootstrap.servers": k.kafka.bootstrap})
    for partition in (0, 1):
        for i in range(PER_PARTITION):
            producer.produce(topic, f"{partition}-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0
    members = []

    def member(group: str, offsets: dict[int, int], protocol: str = "classic") -> Consumer:
        conf = {"bootstrap.servers": k.kafka.bootstrap, "group.id": group, "client.id": f"{group}-client",
                "auto.offset.reset": "earliest", "enable.auto.commit": False}
        if protocol == "consumer":  # KIP-848, on by default in Kafka 4
            conf["group.protocol"] = "consumer"
        consumer = Consumer(conf)
        members.append(consumer)
        consumer.subscribe([topic])
        seen, deadline = 0, time.monotonic() + 60
        while seen < 2 * PER_PARTITION:
            assert time.monotonic() < deadline, f"{group}: consumed {seen} of {2 * PER_PARTITION} records in 60s"
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen += 1
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
        return consumer

    yield topic, member
    for consumer in members:
        consumer.close()


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_groups_list_and_a_groups_page_with_its_lag(kafka_console, browser, lagging, protocol):
    k = kafka_console
    topic, member = lagging
    group = unique_topic(f"kafka-{protocol}")
    member(group, {0: 2, 1: 5}, protocol)
    wait_until(lambda: _group_state(k.admin, group) == "STABLE", 30, f"{group} did not become STABLE")

    open_page(browser, k.url + "/groups/", "#groups")
    row = browser.find_element(By.XPATH, f"//table[@id='groups']//tr[th[normalize-space()='{group}']]")
    cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "td")]
    assert cells[:4] == [protocol, "STABLE", "1", str(2 * PER_PARTITION - 7)], cells
    # The topic's page lists the group with its offsets and lag there too.
    open_page(browser, f"{k.url}/topics/{topic}", "#groups")
    assert [group, "2", "5"] in _table(browser, "#groups")

    open_page(browser, f"{k.url}/groups/view/{quote(group, safe='')}", "#lag-table")
    assert browser.find_element(By.ID, "group-state").text == "STABLE"
    assert f"{group}-client" in browser.find_element(By.ID, "members").text
    lag = {tuple(r[:2]): r[2:5] for r in _table(browser, "#lag-table")}
    assert lag == {(topic, "0"): ["2", "6", "4"], (topic, "1"): ["5", "6", "1"]}, lag

    # The page refreshes its lag (htmx, every 5 s) from Kafka too, without an error in the browser.
    browser.execute_script("window.lagSwaps = 0; document.getElementById('lag').addEventListener("
                           "'htmx:afterSwap', () => window.lagSwaps++)")
    PageWait(browser, 30).until(lambda d: d.execute_script("return window.lagSwaps") > 0,
                                     "the lag was not refreshed within 30 s")
    assert not console_errors(browser)
    lag = {tuple(r[:2]): r[2:5] for r in _table(browser, "#lag-table")}
    assert lag == {(topic, "0"): ["2", "6", "4"], (topic, "1"): ["5", "6", "1"]}, lag


def test_resetting_an_empty_groups_offsets(kafka_console, browser, lagging):
    k = kafka_console
    topic, member = lagging
    group = unique_topic("kafka-empty")
    member(group, {0: 4, 1: 1}).close()
    wait_until(lambda: _group_state(k.admin, group) == "EMPTY", 30, f"{group} did not become EMPTY")
    open_page(browser, f"{k.url}/groups/view/{quote(group, safe='')}", "#lag-table")
    assert browser.find_element(By.ID, "group-state").text == "EMPTY"

    browser.find_element(By.ID, "target-earliest").click()
    _submit(browser, "Reset offsets", ".flash.success")
    assert _committed(k.admin, group) == {(topic, 0): 0, (topic, 1): 0}

    browser.find_element(By.ID, "target-offset").click()
    _fill(browser, "reset-offset", "3")
    _submit(browser, "Reset offsets", ".flash.success")
    assert _committed(k.admin, group) == {(topic, 0): 3, (topic, 1): 3}
    assert [r[2:5] for r in _table(browser, "#lag-table")] == [["3", "6", "3"], ["3", "6", "3"]]

    browser.find_element(By.ID, "target-latest").click()
    _submit(browser, "Reset offsets", ".flash.success")
    assert _committed(k.admin, group) == {(topic, 0): PER_PARTITION, (topic, 1): PER_PARTITION}
