"""Accessibility checked by a real tool: axe-core, injected into every main page of the console in the
headless Chromium (pages with content in them: records, versions, a diff, a group's lag, a connector,
forms showing their errors), run with the WCAG 2.x A and AA rules; a violation of impact "serious" or
"critical" fails the page. And the keyboard: the skip link comes first and moves focus to the content;
a form is filled and submitted with the keyboard alone.

axe-core is installed from npm into tests/js on first use, as the KafkaJS tests install KafkaJS."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from filelock import FileLock
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions

from serdes import MessageField, SchemaRegistryClient, SerializationContext
from serdes.avro import AvroSerializer
from tests.conftest import JS_DIR, unique_topic
from tests.console.conftest import PAGE_WAIT_S, PageWait, console_errors, open_page
from tests.console.test_security import secured, signed_in  # noqa: F401 (fixtures: the secured broker's pages)

AXE_VERSION = "4.14.1"  # tests/js/package.json pins the same
# WCAG 2.0, 2.1 and 2.2 success criteria, levels A and AA: axe's tags for them.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = ("serious", "critical")
FILE_SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"
READING = json.dumps({"type": "record", "name": "Reading", "namespace": "console.a11y", "fields": [
    {"name": "sensor", "type": "string"}, {"name": "level", "type": "double"}]})
PERSON_V1 = json.dumps({"type": "record", "name": "Person", "namespace": "console.a11y",
                        "fields": [{"name": "name", "type": "string"}]})
PERSON_V2 = json.dumps({"type": "record", "name": "Person", "namespace": "console.a11y",
                        "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int", "default": 0}]})
PERSON_BREAKING = json.dumps({"type": "record", "name": "Person", "namespace": "console.a11y",
                              "fields": [{"name": "name", "type": "string"}, {"name": "email", "type": "string"}]})

# Runs axe on the whole document with the WCAG rules only; answers its violations (or the error).
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
  .then(result => done(result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.map(n => n.target.join(' ')), summary: v.nodes.map(n => n.failureSummary)}))))
  .catch(error => done({error: String(error)}));
"""


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js, installed with npm into tests/js on first use (as the KafkaJS tests' fixture does)."""
    npm = shutil.which("npm")
    assert npm, "npm is needed to install axe-core for the accessibility tests"
    axe = JS_DIR / "node_modules" / "axe-core"
    with FileLock(Path(tempfile.gettempdir()) / "schemabus-tests-npm.lock"):  # test workers install once
        manifest = axe / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != AXE_VERSION:
            result = subprocess.run([npm, "install", "--no-package-lock", "--no-audit", "--no-fund",
                                     "--loglevel=error"], cwd=JS_DIR, capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, f"npm install failed in {JS_DIR}: {result.stdout}\n{result.stderr}"
    return (axe / "axe.min.js").read_text()


def axe_violations(driver, axe_source: str) -> list[dict]:
    """axe's WCAG A/AA violations on the page now in `driver` (all impacts)."""
    driver.set_script_timeout(60)
    driver.execute_script(axe_source)
    violations = driver.execute_async_script(RUN_AXE, WCAG_TAGS)
    assert not isinstance(violations, dict), f"axe.run failed on {driver.current_url}: {violations}"
    return violations


def assert_accessible(driver, axe_source: str) -> None:
    blocking = [v for v in axe_violations(driver, axe_source) if v["impact"] in BLOCKING]
    report = "\n".join(f"  [{v['impact']}] {v['id']}: {v['help']}\n" + "".join(
        f"      {target}\n        {summary.replace(chr(10), ' ')}\n"
        for target, summary in zip(v["targets"], v["summary"])) for v in blocking)
    print(f"axe on {driver.current_url}: {len(blocking)} serious/critical violation(s)\n{report}")
    assert not blocking, f"axe-core {AXE_VERSION} on {driver.current_url}:\n{report}"


def _submit(driver, button_xpath: str, ready_css: str) -> None:
    """Clicks a button that loads a new page and waits for `ready_css` on it (no browser console errors)."""
    console_errors(driver)
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.XPATH, button_xpath).click()
    PageWait(driver, PAGE_WAIT_S).until(expected_conditions.staleness_of(old), f"{button_xpath} loaded no page")
    PageWait(driver, PAGE_WAIT_S).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ready_css)),
        f"after {button_xpath}: {ready_css} did not appear within {PAGE_WAIT_S}s on {driver.current_url}")
    errors = console_errors(driver)
    assert not errors, f"{driver.current_url}: errors in the browser console: {errors}"


def _fill(driver, css: str, text: str) -> None:
    field = driver.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(text)


class Sample:
    """What the pages show: a topic of Avro records, a subject with two versions, an empty consumer
    group with committed offsets, a running file source connector."""

    def __init__(self, platform, work: Path):
        self.platform = platform
        admin = AdminClient({"bootstrap.servers": platform.bootstrap})
        self.topic = unique_topic("a11y")
        admin.create_topics([NewTopic(self.topic, 2, 1)])[self.topic].result(30)
        registry = SchemaRegistryClient({"url": platform.registry.url})
        serialize = AvroSerializer(registry, READING)
        producer = Producer({"bootstrap.servers": platform.bootstrap})
        for i in range(6):
            value = serialize({"sensor": f"s-{i}", "level": i / 4},
                              SerializationContext(self.topic, MessageField.VALUE))
            producer.produce(self.topic, value, f"k{i}".encode(), partition=i % 2, headers=[("origin", b"a11y")])
        # A value taller than its cell (a scrolled box) and a header that is not text.
        long_value = json.dumps({f"field_{i}": "x" * 60 for i in range(40)}, indent=2).encode()
        producer.produce(self.topic, long_value, b"long", partition=0, headers=[("bin", b"\xff\x01")])
        assert producer.flush(30) == 0

        self.subject = unique_topic("a11y-person") + "-value"
        for schema in (PERSON_V1, PERSON_V2):
            answer = requests.post(f"{platform.registry.url}/subjects/{self.subject}/versions",
                                   json={"schema": schema}, timeout=10)
            assert answer.status_code == 200, answer.text

        self.group = unique_topic("a11y-group")
        consumer = Consumer({"bootstrap.servers": platform.bootstrap, "group.id": self.group})
        consumer.commit(offsets=[TopicPartition(self.topic, 0, 1), TopicPartition(self.topic, 1, 2)],
                        asynchronous=False)
        consumer.close()

        platform.connect.wait_ready()
        self.connector = unique_topic("a11y-source")
        source = work / "lines.txt"
        source.write_text("one\ntwo\n")
        answer = requests.post(f"{platform.connect.url}/connectors", timeout=30, json={
            "name": self.connector, "config": {"connector.class": FILE_SOURCE, "file": str(source),
                                               "topic": unique_topic("a11y-lines")}})
        assert answer.status_code == 201, answer.text
        # A FileStreamSource reading a directory: its task fails, and its page shows the trace.
        self.failing = unique_topic("a11y-failing")
        answer = requests.post(f"{platform.connect.url}/connectors", timeout=30, json={
            "name": self.failing, "config": {"connector.class": FILE_SOURCE, "file": str(work),
                                             "topic": unique_topic("a11y-failing")}})
        assert answer.status_code == 201, answer.text

    def close(self):
        for name in (self.connector, self.failing):
            requests.delete(f"{self.platform.connect.url}/connectors/{name}", timeout=30)


@pytest.fixture(scope="module")
def sample(console_platform, tmp_path_factory):
    made = Sample(console_platform, tmp_path_factory.mktemp("a11y"))
    yield made
    made.close()


def _new_topic_with_errors(driver, base, s):
    open_page(driver, base + "/topics/new", "form")
    _fill(driver, "#name", "bad name!")
    _fill(driver, "#partitions", "0")
    _submit(driver, "//button[normalize-space()='Create topic']", "#name-error")


def _subject_with_diff(driver, base, s):
    open_page(driver, f"{base}/schemas/subjects/{quote(s.subject, safe='')}?left=1&right=2", "#diff")


def _compatibility_failure(driver, base, s):
    open_page(driver, f"{base}/schemas/subjects/{quote(s.subject, safe='')}", "#cand-schema")
    _fill(driver, "#cand-schema", PERSON_BREAKING)
    _submit(driver, "//button[normalize-space()='Test compatibility']", "#compat-errors")


def _new_connector_with_errors(driver, base, s):
    open_page(driver, f"{base}/connect/new/{FILE_SOURCE}", "#connector-form")
    _fill(driver, "#f-name", unique_topic("a11y-invalid"))
    _fill(driver, "#f-topic", "two,topics")
    _fill(driver, "#f-batch-size", "0")
    driver.find_element(By.ID, "create-connector").click()
    PageWait(driver, PAGE_WAIT_S).until(
        expected_conditions.presence_of_element_located((By.ID, "f-batch-size-error")), "no error for batch.size")


def _produce_with_errors(driver, base, s):
    open_page(driver, f"{base}/topics/{quote(s.topic, safe='')}/produce", "form")
    _fill(driver, "#partition", "99")
    _fill(driver, "#header_value_0", "a value without its name")
    _submit(driver, "//button[normalize-space()='Produce']", "#header_name_0-error")


def _group_reset_with_errors(driver, base, s):
    open_page(driver, f"{base}/groups/view/{quote(s.group, safe='')}", "#lag-table")
    driver.find_element(By.ID, "target-offset").click()
    _fill(driver, "#reset-offset", "-3")
    _submit(driver, "//button[normalize-space()='Reset offsets']", "#reset-offset-error")


def _failed_connector(driver, base, s):
    def failed(_):
        status = requests.get(f"{s.platform.connect.url}/connectors/{s.failing}/status", timeout=30).json()
        return [t["state"] for t in status.get("tasks", [])] == ["FAILED"]
    PageWait(driver, 60).until(failed, f"{s.failing}'s task did not fail within 60s")
    open_page(driver, f"{base}/connect/connectors/{s.failing}", "pre.trace[data-task='0']")


def _group_delete_confirm(driver, base, s):
    open_page(driver, f"{base}/groups/view/{quote(s.group, safe='')}", "#lag-table")
    _submit(driver, "//button[normalize-space()='Delete group']", "#confirm-h")


def _version_delete_confirm(driver, base, s):
    open_page(driver, f"{base}/schemas/subjects/{quote(s.subject, safe='')}", "#versions")
    _submit(driver, "//button[normalize-space()='Soft-delete version 2']", "#confirm-h")


def _not_found(driver, base, s):
    """The error page (with the 404 the browser logs as an error, so not through open_page)."""
    driver.get(base + "/topics/no-such-topic-a11y")
    PageWait(driver, PAGE_WAIT_S).until(expected_conditions.text_to_be_present_in_element(
        (By.CSS_SELECTOR, "main h1"), "404"), "no 404 page")


def _page(path: str, ready_css: str):
    def visit(driver, base, s):
        open_page(driver, base + path.format(s=s, topic=quote(s.topic, safe=""), group=quote(s.group, safe=""),
                                             subject=quote(s.subject, safe="")), ready_css)
    return visit


PAGES = {
    "overview": _page("/", "main h1"),
    "topics-list": _page("/topics/", "#topics"),
    "topic-detail": _page("/topics/{topic}", "#partitions"),
    "topic-delete-confirm": _page("/topics/{topic}/delete", "form"),
    "new-topic-with-errors": _new_topic_with_errors,
    "messages-browse": _page("/topics/{topic}/messages?partition=0&start=earliest", "#records"),
    "messages-tail": _page("/topics/{topic}/messages?tail=1", "#tail-poller"),
    "produce-form": _page("/topics/{topic}/produce", "form"),
    "produce-with-errors": _produce_with_errors,
    "schemas-list": _page("/schemas/", "#subjects"),
    "subject-with-diff": _subject_with_diff,
    "compatibility-failure": _compatibility_failure,
    "version-delete-confirm": _version_delete_confirm,
    "groups-list": _page("/groups/", "#groups"),
    "group-page": _page("/groups/view/{group}", "#lag-table"),
    "group-reset-with-errors": _group_reset_with_errors,
    "group-delete-confirm": _group_delete_confirm,
    "connectors-list": _page("/connect/", "tr[data-connector]"),
    "connector-page": _page("/connect/connectors/{s.connector}", "#status table"),
    "connector-failed-task": _failed_connector,
    "connector-plugins": _page("/connect/new", "main table"),
    "new-connector-with-errors": _new_connector_with_errors,
    "not-found": _not_found,
}


@pytest.mark.parametrize("page", list(PAGES))
def test_page_has_no_serious_accessibility_violations(console_platform, browser, axe_source, sample, page):
    PAGES[page](browser, console_platform.console.url, sample)
    assert_accessible(browser, axe_source)


def _acl_form_with_errors(driver):
    _fill(driver, "#resource_name", unique_topic("a11y-acl"))
    _fill(driver, "#principal", "no-type")
    driver.find_element(By.ID, "create-acl").click()


def _user_form_with_errors(driver):
    _fill(driver, "#user", unique_topic("a11y-user"))
    _fill(driver, "#password", "a11y-pw-1")
    _fill(driver, "#iterations", "100")
    driver.find_element(By.ID, "save-user").click()


@pytest.mark.parametrize("path, ready_css, refused", [("/security/acls", "#acl-form", _acl_form_with_errors),
                                                      ("/security/users", "#user-form", _user_form_with_errors)])
def test_security_pages_have_no_serious_accessibility_violations(secured, signed_in, axe_source,  # noqa: F811
                                                                  path, ready_css, refused):
    """As they open, then with a refused form's errors."""
    _, console, _ = secured
    open_page(signed_in, console.url + path, ready_css)
    assert_accessible(signed_in, axe_source)
    refused(signed_in)
    PageWait(signed_in, PAGE_WAIT_S).until(
        expected_conditions.presence_of_element_located((By.ID, "form-problem")), "the form's errors did not show")
    assert not console_errors(signed_in)
    assert_accessible(signed_in, axe_source)


# -- the keyboard -------------------------------------------------------------------------------


def _press(driver, *keys) -> None:
    """Keys typed to whatever has the focus, as a keyboard would."""
    ActionChains(driver).send_keys(*keys).perform()


def _focused(driver):
    return driver.switch_to.active_element


def test_the_skip_link_comes_first_and_moves_the_focus_to_the_content(console_platform, browser):
    open_page(browser, console_platform.console.url + "/topics/", "#topics")
    _press(browser, Keys.TAB)
    first = _focused(browser)
    assert (first.get_attribute("class"), first.text) == ("skip", "Skip to content"), first.get_attribute("outerHTML")
    assert first.is_displayed() and first.location["x"] >= 0  # shown while it has the focus
    _press(browser, Keys.ENTER)
    PageWait(browser, PAGE_WAIT_S).until(lambda d: _focused(d).get_attribute("id") == "main",
                                              "the skip link did not move the focus to <main>")
    # The next Tab goes on from the content, past the navigation.
    _press(browser, Keys.TAB)
    after = _focused(browser)
    assert browser.execute_script("return document.getElementById('main').contains(arguments[0])", after), \
        after.get_attribute("outerHTML")


def test_a_topic_is_created_with_the_keyboard_alone(console_platform, browser, axe_source):
    admin = AdminClient({"bootstrap.servers": console_platform.bootstrap})
    name = unique_topic("a11y-keyboard")
    typed = {"name": name, "partitions": "2", "replication": "1", "config_name_0": "retention.ms",
             "config_value_0": "7200000"}
    open_page(browser, console_platform.console.url + "/topics/new", "form")
    _press(browser, Keys.TAB, Keys.ENTER)  # the skip link, to the form
    visited = []
    for _ in range(40):  # the form's fields, in the order Tab reaches them, up to its button
        _press(browser, Keys.TAB)
        field = _focused(browser)
        field_id = field.get_attribute("id")
        visited.append(field_id or field.tag_name)
        if field_id in typed:
            _press(browser, typed[field_id])
        elif field_id == "confluent.value.schema.validation":
            _press(browser, Keys.SPACE)  # ticks the checkbox
        elif field.tag_name == "button" and field.text == "Create topic":
            _press(browser, Keys.ENTER)
            break
    else:
        raise AssertionError(f"Tab never reached the Create topic button; it went through {visited}")
    assert [v for v in visited if v in typed] == list(typed), visited  # every field, in reading order
    PageWait(browser, PAGE_WAIT_S).until(
        expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "main h1"), f"Topic {name}"),
        f"submitting with Enter did not lead to the topic's page; the page says "
        f"{browser.find_element(By.TAG_NAME, 'main').text[:800]}")
    assert not console_errors(browser)

    described = admin.describe_topics(TopicCollection([name]))[name].result(30)
    assert len(described.partitions) == 2
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    configs = {k: c.value for k, c in admin.describe_configs([resource])[resource].result(30).items()}
    assert configs["retention.ms"] == "7200000"
    assert configs["confluent.value.schema.validation"] == "true"
    assert_accessible(browser, axe_source)  # the topic's page with its "created" message
