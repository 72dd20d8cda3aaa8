"""The Consumer groups pages against real consumer groups (confluent-kafka Consumers committing
offsets): what they show is what the Admin API reports, and a reset is checked through it."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
import requests
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from tests.conftest import unique_topic, wait_until
from tests.console.conftest import PAGE_WAIT_S, PageWait, console_errors, open_page, screenshot

PER_PARTITION = 10
HOUR_MS = 3600 * 1000
# Records 0-4 of each partition are stamped BASE_MS, 5-9 an hour later: a reset to a time between
# them lands on offset 5.
BASE_MS = (int(time.time() * 1000) // HOUR_MS - 3) * HOUR_MS


@pytest.fixture
def admin(console_platform):
    return AdminClient({"bootstrap.servers": console_platform.bootstrap})


@pytest.fixture
def topic(console_platform, admin):
    """Two partitions of PER_PARTITION records each."""
    name = unique_topic("lag")
    admin.create_topics([NewTopic(name, 2, 1)])[name].result(timeout=30)
    producer = Producer({"bootstrap.servers": console_platform.bootstrap})
    for partition in (0, 1):
        for i in range(PER_PARTITION):
            producer.produce(name, f"{partition}-{i}".encode(), partition=partition,
                             timestamp=BASE_MS + (HOUR_MS if i >= 5 else 0))
    assert producer.flush(30) == 0
    return name


class Member:
    """A consumer in a group that consumed the topic and committed `offsets` (partition → offset)."""

    def __init__(self, bootstrap: str, group: str, topic: str, offsets: dict[int, int], protocol: str = "classic"):
        conf = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": f"{group}-client",
                "auto.offset.reset": "earliest", "enable.auto.commit": False}
        if protocol == "consumer":
            conf["group.protocol"] = "consumer"
        self.consumer = Consumer(conf)
        self.consumer.subscribe([topic])
        seen, deadline = 0, time.monotonic() + 60
        while seen < 2 * PER_PARTITION:
            assert time.monotonic() < deadline, f"{group}: consumed {seen} of {2 * PER_PARTITION} records in 60s"
            message = self.consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen += 1
        self.consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)

    def close(self):
        self.consumer.close()


@pytest.fixture
def members(console_platform):
    started = []

    def start(group: str, topic: str, offsets: dict[int, int], protocol: str = "classic") -> Member:
        member = Member(console_platform.bootstrap, group, topic, offsets, protocol)
        started.append(member)
        return member

    yield start
    for member in started:
        member.close()


def _committed(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    found = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=30)
    return {(tp.topic, tp.partition): tp.offset for tp in found.topic_partitions}


def _state(admin: AdminClient, group: str) -> str:
    return admin.describe_consumer_groups([group])[group].result(timeout=30).state.name


def _group_url(console_url: str, group: str) -> str:
    return f"{console_url}/groups/view/{quote(group, safe='')}"


def _submit(driver, xpath: str, ready_css: str):
    """Clicks a button that loads a new page, and waits for that page (no browser console errors)."""
    console_errors(driver)
    old = driver.find_element(By.CSS_SELECTOR, "main h1")
    driver.find_element(By.XPATH, xpath).click()
    PageWait(driver, PAGE_WAIT_S).until(expected_conditions.staleness_of(old), f"clicking {xpath} loaded no page")
    PageWait(driver, PAGE_WAIT_S).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ready_css)),
        f"after clicking {xpath}: {ready_css} did not appear within {PAGE_WAIT_S}s")
    errors = console_errors(driver)
    assert not errors, f"{driver.current_url}: errors in the browser console: {errors}"


def _reset(driver, target: str, topic: str = "", ready_css: str = ".flash.success", **fields):
    driver.find_element(By.ID, f"target-{target}").click()
    if topic:
        driver.find_element(By.XPATH, f"//select[@id='topic']/option[normalize-space()='{topic}']").click()
    for name, value in fields.items():
        box = driver.find_element(By.ID, f"reset-{name}")
        box.clear()
        box.send_keys(value)
    _submit(driver, "//button[normalize-space()='Reset offsets']", ready_css)


def _table(driver, css: str) -> list[list[str]]:
    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")]
            for row in driver.find_elements(By.CSS_SELECTOR, f"{css} tbody tr")]


def test_groups_list_shows_type_state_members_and_lag(console_platform, browser, topic, members):
    classic, modern = unique_topic("g-classic"), unique_topic("g-consumer")
    members(classic, topic, {0: 4, 1: 6})
    members(modern, topic, {0: 9, 1: 10}, protocol="consumer")

    open_page(browser, f"{console_platform.console.url}/groups/", "#groups")
    rows = {row[0]: row[1:] for row in _table(browser, "#groups")}
    assert rows[classic] == ["classic", "STABLE", "1", "10"]
    assert rows[modern] == ["consumer", "STABLE", "1", "1"]
    screenshot(browser, "groups-list")


def test_group_page_members_lag_and_chart_and_an_active_group_is_not_reset(console_platform, browser, admin, topic,
                                                                         members):
    group = unique_topic("g-active")
    members(group, topic, {0: 4, 1: 6})
    page = _group_url(console_platform.console.url, group)
    open_page(browser, page, "#lag-table")

    assert browser.find_element(By.ID, "group-state").text == "STABLE"
    (member,) = _table(browser, "#members")
    assert member[0] == f"{group}-client" and member[1].endswith("127.0.0.1")
    assert member[4] == f"{topic}[0], {topic}[1]"
    assert _table(browser, "#lag-table") == [[topic, "0", "4", "10", "6", f"{group}-client"],
                                             [topic, "1", "6", "10", "4", f"{group}-client"]]
    assert browser.find_element(By.ID, "total-lag").text == "10"

    # The chart gains a sample at each refresh (htmx polls the lag every few seconds).
    points = "const c = Chart.getChart('lag-chart'); return c ? c.data.datasets[0].data.length : 0"
    PageWait(browser, 30).until(lambda d: d.execute_script(points) >= 2,
                                     "the lag chart did not gain a second sample within 30s")
    assert browser.execute_script("return Chart.getChart('lag-chart').data.datasets[0].label") == topic
    assert browser.execute_script("return Chart.getChart('lag-chart').data.datasets[0].data.at(-1)") == 10

    # Five more records: the next refresh shows the lag grown, in the table and on the chart.
    producer = Producer({"bootstrap.servers": console_platform.bootstrap})
    for i in range(5):
        producer.produce(topic, b"more", partition=0)
    assert producer.flush(30) == 0
    last = "return Chart.getChart('lag-chart').data.datasets[0].data.at(-1)"
    PageWait(browser, 30).until(lambda d: d.execute_script(last) == 15,
                                     "the lag chart did not show the lag of 15 within 30s")
    PageWait(browser, 30).until(lambda d: d.find_element(By.ID, "total-lag").text == "15",
                                     "the lag table did not show the lag of 15 within 30s")
    assert not console_errors(browser)
    browser.execute_script("document.getElementById('lag-h').scrollIntoView()")
    screenshot(browser, "group-lag")

    # A reset while the group has a member is refused, as kafka-consumer-groups refuses it.
    _reset(browser, "earliest", ready_css="#reset-refused")
    refusal = browser.find_element(By.ID, "reset-refused").text
    assert "inactive" in refusal and "STABLE" in refusal
    assert _committed(admin, group) == {(topic, 0): 4, (topic, 1): 6}
    _reset(browser, "offset", topic=topic, offset="8", ready_css="#reset-refused")
    assert _committed(admin, group) == {(topic, 0): 4, (topic, 1): 6}

    # So is deleting it (the broker refuses: the group is not empty).
    _submit(browser, "//button[normalize-space()='Delete group']", "#confirm-h")
    _submit(browser, "//button[normalize-space()='Delete the group']", ".flash.error")
    assert "Not deleted" in browser.find_element(By.CSS_SELECTOR, ".flash.error").text
    assert _state(admin, group) == "STABLE"


def test_resetting_an_empty_groups_offsets(console_platform, browser, admin, topic, members):
    group = unique_topic("g-empty")
    members(group, topic, {0: 4, 1: 6}).close()
    wait_until(lambda: _state(admin, group) == "EMPTY", 30, f"{group} did not become EMPTY")
    open_page(browser, _group_url(console_platform.console.url, group), "#lag-table")
    assert browser.find_element(By.ID, "group-state").text == "EMPTY"

    _reset(browser, "earliest")
    assert _committed(admin, group) == {(topic, 0): 0, (topic, 1): 0}
    assert _table(browser, "#lag-table")[0][2:5] == ["0", "10", "10"]

    _reset(browser, "offset", topic=topic, offset="7")
    assert _committed(admin, group) == {(topic, 0): 7, (topic, 1): 7}

    _reset(browser, "offset", offset="99")  # beyond the end: the end, as kafka-consumer-groups clamps it
    assert _committed(admin, group) == {(topic, 0): 10, (topic, 1): 10}

    between = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((BASE_MS + HOUR_MS // 2) / 1000))
    _reset(browser, "timestamp", timestamp=between)
    assert _committed(admin, group) == {(topic, 0): 5, (topic, 1): 5}

    _reset(browser, "latest")
    assert _committed(admin, group) == {(topic, 0): 10, (topic, 1): 10}


def test_bad_reset_input_is_refused_inline_and_changes_nothing(console_platform, browser, admin, topic, members):
    group = unique_topic("g-bad")
    members(group, topic, {0: 4, 1: 6}).close()
    wait_until(lambda: _state(admin, group) == "EMPTY", 30, f"{group} did not become EMPTY")
    open_page(browser, _group_url(console_platform.console.url, group), "#lag-table")

    _reset(browser, "offset", offset="-3", ready_css="#reset-offset-error")
    assert browser.find_element(By.ID, "reset-offset").get_attribute("aria-describedby") == "reset-offset-error"
    _reset(browser, "timestamp", timestamp="yesterday", ready_css="#reset-timestamp-error")
    described = browser.find_element(By.ID, "reset-timestamp").get_attribute("aria-describedby")
    assert "reset-timestamp-error" in described
    assert browser.find_element(By.ID, "reset-timestamp").get_attribute("value") == "yesterday"
    assert _committed(admin, group) == {(topic, 0): 4, (topic, 1): 6}


def test_deleting_an_empty_group(console_platform, browser, admin, topic, members):
    group = unique_topic("g-delete")
    members(group, topic, {0: 1, 1: 1}).close()
    wait_until(lambda: _state(admin, group) == "EMPTY", 30, f"{group} did not become EMPTY")
    open_page(browser, _group_url(console_platform.console.url, group), "#lag-table")
    _submit(browser, "//button[normalize-space()='Delete group']", "#confirm-h")
    _submit(browser, "//button[normalize-space()='Delete the group']", ".flash.success")
    listed = admin.list_consumer_groups().result(timeout=30).valid
    assert group not in {g.group_id for g in listed}
    assert group not in [row[0] for row in _table(browser, "#groups")]


def test_unknown_group_is_a_404_page(console_platform):
    page = requests.get(_group_url(console_platform.console.url, unique_topic("g-nobody")), timeout=30)
    assert page.status_code == 404 and "No consumer group" in page.text
