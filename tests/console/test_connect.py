"""The Kafka Connect pages against the platform's real Connect worker: a connector created through the
form Connect's config/validate describes, bad configs refused field by field with nothing created,
the lifecycle buttons checked through Connect's REST API, a failed task's trace shown whole, and
password-type values never on a page."""

from __future__ import annotations

import pytest
import requests
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from tests.conftest import unique_topic, wait_until
from tests.console.conftest import PAGE_WAIT_S, PageWait, console_errors, open_page, screenshot

FILE_SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"
JDBC_SOURCE = "io.confluent.connect.jdbc.JdbcSourceConnector"
STATE_WAIT_S = 30.0


@pytest.fixture(autouse=True)
def connect_ready(console_platform):
    """Connect's worker has joined its group: until then it answers writes 409 (no known leader)."""
    console_platform.connect.wait_ready()


def _connect(p, method: str, path: str, body=None) -> requests.Response:
    return requests.request(method, p.connect.url + path, json=body, timeout=30)


def _state(p, name: str) -> tuple[str | None, list[str]]:
    answer = _connect(p, "GET", f"/connectors/{name}/status")
    if answer.status_code != 200:
        return None, []
    status = answer.json()
    return status["connector"]["state"], [t["state"] for t in sorted(status["tasks"], key=lambda t: t["id"])]


def _wait_state(p, name: str, connector: str, tasks: list[str] | None = None):
    def reached():
        state = _state(p, name)
        return state[0] == connector and (tasks is None or state[1] == tasks)
    wait_until(reached, STATE_WAIT_S, f"{name} did not reach {connector} {tasks}: {_state(p, name)}")


def _fill(driver, field_id: str, text: str) -> None:
    field = driver.find_element(By.ID, field_id)
    field.clear()
    field.send_keys(text)


def _wait_text(driver, css: str, text: str):
    try:
        PageWait(driver, PAGE_WAIT_S).until(
            expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    except TimeoutException:
        raise AssertionError(f"{css} never showed {text!r} within {PAGE_WAIT_S}s; the page at {driver.current_url} "
                             f"shows: {driver.find_element(By.TAG_NAME, 'main').text[:1500]}") from None
    assert not console_errors(driver)


def _press(driver, button_id: str, flash: str, confirm: bool = False) -> None:
    driver.find_element(By.ID, button_id).click()
    if confirm:
        PageWait(driver, PAGE_WAIT_S).until(expected_conditions.alert_is_present()).accept()
    _wait_text(driver, "p.flash", flash)


def test_create_a_file_source_through_the_form_then_pause_resume_restart_stop_reset_delete(
        console_platform, browser, tmp_path):
    p = console_platform
    name, topic = unique_topic("file-src"), unique_topic("file-src-topic")
    source = tmp_path / "lines.txt"
    source.write_text("one\ntwo\nthree\n")

    open_page(browser, p.console.url + "/connect/new", "main table")
    browser.find_element(By.LINK_TEXT, FILE_SOURCE).click()
    _wait_text(browser, "main h1", "New FileStreamSourceConnector")
    _fill(browser, "f-name", name)
    _fill(browser, "f-file", str(source))
    _fill(browser, "f-topic", topic)
    _fill(browser, "f-batch-size", "10")
    browser.find_element(By.ID, "create-connector").click()
    _wait_text(browser, "main h1", f"Connector {name}")

    config = _connect(p, "GET", f"/connectors/{name}/config").json()
    assert config == {"name": name, "connector.class": FILE_SOURCE, "file": str(source), "topic": topic,
                      "batch.size": "10"}
    _wait_state(p, name, "RUNNING", ["RUNNING"])

    # The list: type, state and the task's state, as Connect reports them.
    open_page(browser, p.console.url + "/connect/", f"tr[data-connector='{name}']")
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-connector='{name}']").text
    assert "source" in row and "RUNNING" in row and "0: RUNNING" in row, row
    screenshot(browser, "connectors")

    # The offsets the source committed (the byte position after the third line) show on its page.
    offsets = f"/connectors/{name}/offsets"
    wait_until(lambda: _connect(p, "GET", offsets).json()["offsets"], STATE_WAIT_S, "no offsets committed")
    open_page(browser, f"{p.console.url}/connect/connectors/{name}", "#status table")
    assert '"position":14' in browser.find_element(By.ID, "offsets").text.replace(" ", "")

    _press(browser, "action-pause", f"Pause requested: {name}.")
    _wait_state(p, name, "PAUSED", ["PAUSED"])
    _press(browser, "action-resume", f"Resume requested: {name}.")
    _wait_state(p, name, "RUNNING", ["RUNNING"])
    browser.find_element(By.ID, "restart-include-tasks").click()
    _press(browser, "action-restart", f"Restart requested: {name}.")
    _wait_state(p, name, "RUNNING", ["RUNNING"])

    # Offsets can be reset once it is stopped, not before.
    assert not browser.find_elements(By.ID, "action-reset-offsets")
    _press(browser, "action-stop", f"Stop requested: {name}.")
    _wait_state(p, name, "STOPPED")
    open_page(browser, f"{p.console.url}/connect/connectors/{name}", "#action-reset-offsets")
    _press(browser, "action-reset-offsets", f"Offsets reset: {name}.", confirm=True)
    assert _connect(p, "GET", offsets).json()["offsets"] == []

    _press(browser, "action-delete", f"Connector {name} deleted.", confirm=True)
    assert _connect(p, "GET", f"/connectors/{name}").status_code == 404
    assert not browser.find_elements(By.CSS_SELECTOR, f"tr[data-connector='{name}']")


def test_an_invalid_config_shows_connects_errors_per_field_and_creates_nothing(console_platform, browser):
    p = console_platform
    name = unique_topic("invalid-src")
    before = _connect(p, "GET", "/connectors").json()
    open_page(browser, f"{p.console.url}/connect/new/{FILE_SOURCE}", "#connector-form")
    _fill(browser, "f-name", name)
    _fill(browser, "f-topic", "two,topics")   # FileStreamSource takes exactly one
    _fill(browser, "f-batch-size", "0")       # at least 1
    browser.find_element(By.ID, "create-connector").click()
    _wait_text(browser, "#form-problem", "nothing was created")

    for field, expected in (("f-batch-size", "Value must be at least 1"),
                            ("f-topic", "requires definition of a single topic")):
        error = browser.find_element(By.ID, f"{field}-error")
        assert expected in error.text, error.text
        described = browser.find_element(By.ID, field).get_attribute("aria-describedby").split()
        assert f"{field}-error" in described
        assert browser.find_element(By.ID, field).get_attribute("aria-invalid") == "true"
    # What was typed stays in the form, to be corrected.
    assert browser.find_element(By.ID, "f-topic").get_attribute("value") == "two,topics"
    assert browser.find_element(By.ID, "f-name").get_attribute("value") == name
    screenshot(browser, "connect-form-errors")

    assert _connect(p, "GET", "/connectors").json() == before
    assert _connect(p, "GET", f"/connectors/{name}").status_code == 404


def test_a_failed_task_shows_its_whole_trace(console_platform, browser, tmp_path):
    """A FileStreamSource pointed at a directory: its task fails opening it, and Connect keeps the trace."""
    p = console_platform
    name = unique_topic("failing-src")
    created = _connect(p, "POST", "/connectors", {"name": name, "config": {
        "connector.class": FILE_SOURCE, "file": str(tmp_path), "topic": unique_topic("failing")}})
    assert created.status_code == 201, created.text
    try:
        _wait_state(p, name, "RUNNING", ["FAILED"])
        trace = _connect(p, "GET", f"/connectors/{name}/status").json()["tasks"][0]["trace"]
        open_page(browser, f"{p.console.url}/connect/connectors/{name}", "pre.trace[data-task='0']")
        shown = browser.find_element(By.CSS_SELECTOR, "pre.trace[data-task='0']").get_attribute("textContent")
        assert shown == trace and "IsADirectoryError" in shown
        assert "FAILED" in browser.find_element(By.CSS_SELECTOR, "tr[data-instance='task-0']").text
        screenshot(browser, "connector-failed-trace")

        open_page(browser, p.console.url + "/connect/", f"tr[data-connector='{name}']")
        assert "0: FAILED" in browser.find_element(By.CSS_SELECTOR, f"tr[data-connector='{name}']").text
    finally:
        _connect(p, "DELETE", f"/connectors/{name}")


def test_password_values_are_never_on_the_page(console_platform, browser, tmp_path):
    p = console_platform
    name, secret, user_info = unique_topic("jdbc-src"), "db-pw-5f1e93", "sr-user:sr-pw-77a0"
    created = _connect(p, "POST", "/connectors", {"name": name, "config": {
        "connector.class": JDBC_SOURCE, "connection.url": f"jdbc:sqlite:{tmp_path / 'db.sqlite'}",
        "connection.password": secret, "mode": "bulk", "topic.prefix": unique_topic("jdbc-"),
        "value.converter.basic.auth.user.info": user_info}})
    assert created.status_code == 201, created.text
    try:
        page = open_page(browser, f"{p.console.url}/connect/connectors/{name}", "#config")
        rows = {r.find_element(By.CSS_SELECTOR, "td").text: r.find_elements(By.CSS_SELECTOR, "td")[1].text
                for r in browser.find_elements(By.CSS_SELECTOR, "#config tbody tr")}
        assert rows["connection.password"] == "[hidden]"
        assert rows["value.converter.basic.auth.user.info"] == "[hidden]"
        assert rows["mode"] == "bulk"
        assert secret not in page.page_source and "sr-pw-77a0" not in page.page_source
        # The form for a new one: a password-type field is a password input.
        open_page(browser, f"{p.console.url}/connect/new/{JDBC_SOURCE}", "#connector-form")
        assert browser.find_element(By.ID, "f-connection-password").get_attribute("type") == "password"
        assert secret not in p.console.log_path.read_text()
    finally:
        _connect(p, "DELETE", f"/connectors/{name}")


def test_an_unknown_connector_is_an_error_page_not_a_traceback(console_platform):
    page = requests.get(console_platform.console.url + "/connect/connectors/no-such-connector", timeout=30)
    assert page.status_code == 502 and "not found" in page.text and "Traceback" not in page.text
