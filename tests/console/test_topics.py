"""The topic pages: list (with sizes and rates from the broker's metrics), detail, create, alter
configs, add partitions, delete. Every change is made through the pages in headless Chromium and
checked with AdminClient; refused forms show the broker's message next to the field and change
nothing."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from cli.metrics_status import scrape
from tests.conftest import BrokerProcess, free_port, unique_topic
from tests.console.conftest import ConsoleProcess, PAGE_WAIT_S, PageWait, console_errors, open_page, screenshot


@pytest.fixture(scope="module")
def admin(console_platform):
    return AdminClient({"bootstrap.servers": console_platform.bootstrap})


def make_topic(admin, partitions: int = 1, configs: dict | None = None, prefix: str = "console-t") -> str:
    name = unique_topic(prefix)
    admin.create_topics([NewTopic(name, partitions, 1, config=configs or {})])[name].result(15)
    return name


def topic_names(admin) -> set[str]:
    return set(admin.list_topics(timeout=10).topics)


def topic_configs(admin, name: str) -> dict:
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    return {k: v.value for k, v in admin.describe_configs([resource])[resource].result(15).items()}


def partition_count(admin, name: str) -> int:
    return len(admin.describe_topics(TopicCollection([name]))[name].result(15).partitions)


def fill(driver, field_id: str, value: str) -> None:
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(value)


def submit(driver, label: str) -> None:
    """Clicks a form's button and waits for the page it loads (so nothing is read off the old one)."""
    old_page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']").click()
    PageWait(driver, PAGE_WAIT_S).until(expected_conditions.staleness_of(old_page),
                                             f"clicking {label!r} loaded no page")
    PageWait(driver, PAGE_WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"),
                                             f"the page after {label!r} did not load")


def field_error(driver, field_id: str) -> str:
    """The error shown for a field, checked to be tied to it (aria-describedby, aria-invalid)."""
    PageWait(driver, PAGE_WAIT_S).until(lambda d: d.find_elements(By.ID, f"{field_id}-error"),
                                             f"no error shown for {field_id}")
    element = driver.find_element(By.ID, field_id)
    assert f"{field_id}-error" in (element.get_attribute("aria-describedby") or "").split()
    assert element.get_attribute("aria-invalid") == "true"
    return driver.find_element(By.ID, f"{field_id}-error").text


def wait_for_text(driver, css: str, text: str) -> None:
    PageWait(driver, PAGE_WAIT_S).until(
        lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css)),
        f"{text!r} did not appear in {css}")


# -- the list ---------------------------------------------------------------------------------


def test_topics_list_hides_internal_topics_until_asked(console_platform, browser, admin):
    name = make_topic(admin, partitions=3)
    page = open_page(browser, console_platform.console.url + "/topics/", "#topics")
    row = page.find_element(By.CSS_SELECTOR, f"tr[data-topic='{name}']")
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[:3] == ["3", "1", "0"]  # partitions, replication factor, under-replicated
    shown = {e.get_attribute("data-topic") for e in page.find_elements(By.CSS_SELECTOR, "tr[data-topic]")}
    assert "__consumer_offsets" in topic_names(admin) and "__consumer_offsets" not in shown
    assert "_schemas" not in shown
    # Without broker.metrics.url the sizes say where they would come from.
    assert "broker.metrics.url" in page.find_element(By.ID, "metrics-note").text
    page.find_element(By.PARTIAL_LINK_TEXT, "Show internal topics").click()
    PageWait(browser, PAGE_WAIT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-topic='__consumer_offsets']"),
        "the internal topics did not appear")
    assert not console_errors(browser)


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    """A broker serving its Prometheus metrics and a console given them (broker.metrics.url)."""
    work = tmp_path_factory.mktemp("console-metrics")
    metrics = f"127.0.0.1:{free_port()}"
    broker = BrokerProcess(work / "broker", {"schemabus.metrics.listen": metrics}).start()
    console = None
    try:
        console = ConsoleProcess(work, broker.bootstrap, configs={"broker.metrics.url": f"http://{metrics}"}).start()
        yield broker, console, f"http://{metrics}/metrics"
    finally:
        if console is not None:
            console.stop()
        broker.stop()


def test_sizes_and_rates_come_from_the_broker_metrics(metered, browser):
    broker, console, metrics_url = metered
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    name = make_topic(admin, partitions=2)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(40):
        producer.produce(name, b"x" * 100, str(i).encode())
    assert producer.flush(15) == 0
    on_disk = sum(v for labels, v in scrape(metrics_url).rows("kafka_log_log_size") if labels["topic"] == name)
    assert on_disk > 40 * 100
    page = open_page(browser, console.url + "/topics/", f"tr[data-topic='{name}']")
    size = page.find_element(By.CSS_SELECTOR, f"tr[data-topic='{name}'] td.size")
    assert int(size.get_attribute("data-bytes")) == on_disk
    # The table refreshes itself; records written meanwhile show as a rate.
    for i in range(200):
        producer.produce(name, b"y" * 10)
    assert producer.flush(15) == 0
    PageWait(browser, 40).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f"tr[data-topic='{name}'] td.rate-messages").text
        not in ("–", "0.0"), "no messages-in rate appeared after the table refreshed")
    screenshot(browser, "topics")
    open_page(browser, console.url + "/", "main h1")
    assert "Size on disk" in browser.find_element(By.XPATH, "//section[h2[normalize-space()='Kafka cluster']]").text


# -- create -----------------------------------------------------------------------------------


def test_create_a_topic_with_configs_and_schema_validation(console_platform, browser, admin):
    name = unique_topic("console-created")
    open_page(browser, console_platform.console.url + "/topics/new", "form")
    fill(browser, "name", name)
    fill(browser, "partitions", "3")
    fill(browser, "replication", "1")
    fill(browser, "config_name_0", "retention.ms")
    fill(browser, "config_value_0", "3600000")
    browser.find_element(By.ID, "confluent.value.schema.validation").click()
    submit(browser, "Create topic")
    wait_for_text(browser, "main h1", f"Topic {name}")
    assert partition_count(admin, name) == 3
    configs = topic_configs(admin, name)
    assert configs["retention.ms"] == "3600000"
    assert configs["confluent.value.schema.validation"] == "true"
    assert configs["confluent.key.schema.validation"] == "false"


@pytest.mark.parametrize("name, partitions, config, field, message", [
    ("bad name!", "1", None, "name", "illegal"),
    (None, "0", None, "partitions", "Number of partitions must be larger than 0"),
    (None, "1", ("no.such.config", "1"), "config_name_0", "Unknown topic config name: no.such.config"),
    (None, "1", ("retention.ms", "soon"), "config_name_0", "Invalid value soon for configuration retention.ms"),
    (None, "-3", None, "partitions", "Must be at least 1"),
])
def test_invalid_create_forms_show_the_error_and_create_nothing(console_platform, browser, admin, name,
                                                                 partitions, config, field, message):
    name = name or unique_topic("console-refused")
    before = topic_names(admin)
    open_page(browser, console_platform.console.url + "/topics/new", "form")
    fill(browser, "name", name)
    fill(browser, "partitions", partitions)
    if config:
        fill(browser, "config_name_0", config[0])
        fill(browser, "config_value_0", config[1])
    submit(browser, "Create topic")
    assert message in field_error(browser, field)
    # What was typed is still there to be corrected.
    assert browser.find_element(By.ID, "name").get_attribute("value") == name
    assert topic_names(admin) == before


# -- one topic --------------------------------------------------------------------------------


def test_topic_detail_shows_partitions_offsets_groups_and_overridden_configs(console_platform, browser, admin):
    name = make_topic(admin, partitions=2, configs={"cleanup.policy": "compact"})
    producer = Producer({"bootstrap.servers": console_platform.bootstrap})
    for i in range(5):
        producer.produce(name, b"v", f"k{i}".encode(), partition=i % 2)
    assert producer.flush(15) == 0
    group = unique_topic("console-group")
    consumer = Consumer({"bootstrap.servers": console_platform.bootstrap, "group.id": group})
    consumer.commit(offsets=[TopicPartition(name, 0, 1)], asynchronous=False)
    consumer.close()
    page = open_page(browser, f"{console_platform.console.url}/topics/{name}", "#partitions")
    rows = page.find_elements(By.CSS_SELECTOR, "#partitions tbody tr")
    shown = [[c.text for c in r.find_elements(By.CSS_SELECTOR, "th, td")] for r in rows]
    assert shown == [["0", "1", "1", "1", "0", "3"], ["1", "1", "1", "1", "0", "2"]]
    groups = page.find_element(By.ID, "groups").text
    assert group in groups and "2" in groups.split(group)[1]  # 1 partition committed, lag 3 - 1
    overridden = page.find_element(By.CSS_SELECTOR, "tr[data-config='cleanup.policy']")
    assert "overridden" in overridden.get_attribute("class") and overridden.find_elements(By.TAG_NAME, "mark")
    assert "default" in page.find_element(By.CSS_SELECTOR, "tr[data-config='retention.ms']").get_attribute("class")
    screenshot(browser, "topic-detail")


def test_alter_configs_incrementally_and_reset(console_platform, browser, admin):
    name = make_topic(admin, configs={"cleanup.policy": "compact"})
    url = f"{console_platform.console.url}/topics/{name}"
    open_page(browser, url, "#configs-table")
    fill(browser, "set_name_0", "retention.ms")
    fill(browser, "set_value_0", "7200000")
    submit(browser, "Apply config changes")
    wait_for_text(browser, ".flash", "changed")
    configs = topic_configs(admin, name)
    assert configs["retention.ms"] == "7200000" and configs["cleanup.policy"] == "compact"  # incremental
    # A bad value among good ones: the broker's message, nothing changed.
    open_page(browser, url, "#configs-table")
    fill(browser, "set_name_0", "segment.ms")
    fill(browser, "set_value_0", "100000000")
    fill(browser, "set_name_1", "retention.ms")
    fill(browser, "set_value_1", "forever")
    submit(browser, "Apply config changes")
    assert "Invalid value forever for configuration retention.ms" in field_error(browser, "set_name_1")
    assert topic_configs(admin, name) == configs
    # Reset to the default.
    open_page(browser, url, "#configs-table")
    browser.find_element(By.ID, "reset-retention.ms").click()
    submit(browser, "Apply config changes")
    wait_for_text(browser, ".flash", "changed")
    after = topic_configs(admin, name)
    assert after["retention.ms"] == "604800000" and after["cleanup.policy"] == "compact"


def test_add_partitions(console_platform, browser, admin):
    name = make_topic(admin, partitions=2)
    url = f"{console_platform.console.url}/topics/{name}"
    open_page(browser, url, "#partitions")
    fill(browser, "total", "2")
    submit(browser, "Add partitions")
    assert "Topic currently has 2 partitions" in field_error(browser, "total")
    assert partition_count(admin, name) == 2
    fill(browser, "total", "5")
    submit(browser, "Add partitions")
    wait_for_text(browser, ".flash", "now has 5 partitions")
    assert partition_count(admin, name) == 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "#partitions tbody tr")) == 5


def test_delete_asks_for_the_name(console_platform, browser, admin):
    name = make_topic(admin)
    open_page(browser, f"{console_platform.console.url}/topics/{name}", "#partitions")
    browser.find_element(By.CSS_SELECTOR, "nav.subnav").find_element(By.LINK_TEXT, "Delete").click()
    wait_for_text(browser, "main h1", "Delete topic")
    fill(browser, "confirm", name + "x")
    submit(browser, "Delete topic")
    assert "Type" in field_error(browser, "confirm")
    assert name in topic_names(admin)
    fill(browser, "confirm", name)
    submit(browser, "Delete topic")
    wait_for_text(browser, ".flash", f"Topic {name} deleted")
    PageWait(browser, PAGE_WAIT_S).until(lambda _: name not in topic_names(admin), "the topic was not deleted")


def test_unknown_topic_is_a_404(console_platform):
    import requests
    for path in ("", "/messages", "/produce", "/delete"):
        answer = requests.get(f"{console_platform.console.url}/topics/no-such-topic-{free_port()}{path}", timeout=20)
        assert answer.status_code == 404, path


def test_an_unreachable_broker_is_a_service_error_page_not_a_500(tmp_path):
    """A console whose bootstrap server nobody serves: the topic pages say Kafka cannot be reached."""
    import requests

    console = ConsoleProcess(tmp_path, f"127.0.0.1:{free_port()}").start()
    try:
        for path in ("/topics/", "/topics/some-topic"):
            answer = requests.get(console.url + path, timeout=60)
            assert answer.status_code == 502 and "Kafka" in answer.text and "Internal error" not in answer.text, path
    finally:
        console.stop()
