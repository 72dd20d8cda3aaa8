"""The Schemas pages against a real registry: what they show is what the registry's REST API says,
and what they change (register, delete, compatibility, mode) is checked through that API."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select

from tests.conftest import unique_topic
from tests.console.conftest import PAGE_WAIT_S, PageWait, console_errors, open_page, screenshot

JSON_TYPE = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def _record(name: str, fields: list[dict], namespace: str = "console.test") -> str:
    return json.dumps({"type": "record", "name": name, "namespace": namespace, "fields": fields})


NAME = {"name": "name", "type": "string"}
AGE = {"name": "age", "type": "int", "default": 0}
EMAIL = {"name": "email", "type": "string"}  # no default: breaks BACKWARD compatibility


def _register(registry_url: str, subject: str, schema: str, references: list[dict] | None = None) -> int:
    body = {"schema": schema, **({"references": references} if references else {})}
    answer = requests.post(f"{registry_url}/subjects/{quote(subject, safe='')}/versions", json=body,
                           headers=JSON_TYPE, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def _versions(registry_url: str, subject: str, deleted: bool = False) -> list[int]:
    answer = requests.get(f"{registry_url}/subjects/{quote(subject, safe='')}/versions",
                          params={"deleted": "true"} if deleted else None, timeout=10)
    return answer.json() if answer.status_code == 200 else []


def _subject_url(console_url: str, subject: str, **query) -> str:
    url = f"{console_url}/schemas/subjects/{quote(subject, safe='')}"
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _fill(driver, css: str, text: str):
    element = driver.find_element(By.CSS_SELECTOR, css)
    element.clear()
    element.send_keys(text)
    return element


def _click(driver, xpath: str, ready_css: str = "main h1"):
    """Clicks a button that loads a new page, and waits for that page."""
    console_errors(driver)  # forget the previous page's
    old = driver.find_element(By.CSS_SELECTOR, "main h1")
    driver.find_element(By.XPATH, xpath).click()
    PageWait(driver, PAGE_WAIT_S).until(expected_conditions.staleness_of(old), f"clicking {xpath} loaded no page")
    PageWait(driver, PAGE_WAIT_S).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ready_css)),
        f"after clicking {xpath}: {ready_css} did not appear within {PAGE_WAIT_S}s")
    errors = console_errors(driver)
    assert not errors, f"{driver.current_url}: errors in the browser console: {errors}"


@pytest.fixture
def people(console_platform):
    """A subject with two versions: v2 adds `age` (with a default)."""
    subject = unique_topic("people") + "-value"
    registry = console_platform.registry.url
    _register(registry, subject, _record("Person", [NAME]))
    _register(registry, subject, _record("Person", [NAME, AGE]))
    return subject


def test_subjects_list_with_filter(console_platform, browser, people):
    p = console_platform
    other = unique_topic("orders") + "-value"
    _register(p.registry.url, other, _record("Order", [{"name": "id", "type": "long"}]))
    requests.put(f"{p.registry.url}/config/{other}", json={"compatibility": "FULL"}, timeout=10).raise_for_status()

    open_page(browser, f"{p.console.url}/schemas/", "#subjects")
    rows = {row.find_element(By.CSS_SELECTOR, "th").text: [c.text for c in row.find_elements(By.CSS_SELECTOR, "td")]
            for row in browser.find_elements(By.CSS_SELECTOR, "#subjects tbody tr")}
    assert rows[people] == ["2", str(requests.get(f"{p.registry.url}/subjects/{people}/versions/latest",
                                                  timeout=10).json()["id"]), "AVRO", "2", "global (BACKWARD)",
                            "global (READWRITE)"]
    assert rows[other][3:] == ["1", "FULL", "global (READWRITE)"]
    screenshot(browser, "schemas-subjects")

    _fill(browser, "#q", people.upper())  # the filter ignores case
    _click(browser, "//button[normalize-space()='Filter']", "#subjects")
    shown = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#subjects tbody th")]
    assert shown == [people]
    assert "1 of" in browser.find_element(By.ID, "subjects-count").text


def test_diff_between_two_versions_shows_the_changed_field(console_platform, browser, people):
    p = console_platform
    open_page(browser, _subject_url(p.console.url, people), "#versions")
    versions = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#versions tbody th")]
    assert versions == ["1", "2"]
    assert '"age"' in browser.find_element(By.ID, "schema-text").text  # the latest, pretty-printed
    assert '\n  "type": "record"' in browser.find_element(By.ID, "schema-text").text

    Select(browser.find_element(By.ID, "left")).select_by_visible_text("1")
    Select(browser.find_element(By.ID, "right")).select_by_visible_text("2")
    _click(browser, "//button[normalize-space()='Compare']", "#diff")
    added = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#diff td.new")]
    removed = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#diff td.old")]
    assert any('"name": "age"' in text for text in added), added
    assert not any("age" in text for text in removed), removed
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#diff thead th")]
    assert headers == ["Line", "Version 1", "Line", "Version 2"]
    screenshot(browser, "schemas-diff")


def test_references_graph_both_ways(console_platform, browser, people):
    p = console_platform
    holder = unique_topic("team") + "-value"
    holder_schema = json.dumps({"type": "record", "name": "Team", "namespace": "console.test", "fields": [
        {"name": "lead", "type": "console.test.Person"}]})
    _register(p.registry.url, holder, holder_schema,
              [{"name": "console.test.Person", "subject": people, "version": 2}])

    open_page(browser, _subject_url(p.console.url, holder), "#references")
    ref = browser.find_element(By.CSS_SELECTOR, "#references tbody tr").text
    assert people in ref and ref.endswith("2")

    browser.find_element(By.LINK_TEXT, people).click()
    open_page(browser, browser.current_url, "#referenced-by")
    referrer = browser.find_element(By.CSS_SELECTOR, "#referenced-by tbody tr").text
    assert holder in referrer


def test_compatibility_failure_shows_the_registrys_field_message_and_registers_nothing(console_platform, browser,
                                                                                         people):
    p = console_platform
    open_page(browser, _subject_url(p.console.url, people), "#cand-schema")
    _fill(browser, "#cand-schema", _record("Person", [NAME, AGE, EMAIL]))
    _click(browser, "//button[normalize-space()='Test compatibility']", "#check-result")

    verdict = requests.post(f"{p.registry.url}/compatibility/subjects/{people}/versions/latest?verbose=true",
                            json={"schema": _record("Person", [NAME, AGE, EMAIL])}, timeout=10).json()
    assert verdict["is_compatible"] is False
    row = browser.find_element(By.CSS_SELECTOR, "#compat-errors tbody tr")
    field, error_type, message = [c.text for c in row.find_elements(By.CSS_SELECTOR, "td")]
    assert field == "/fields/2 (email)" and error_type == "READER_FIELD_MISSING_DEFAULT_VALUE"
    assert message in verdict["messages"][0]  # the registry's own words
    assert "Not compatible" in browser.find_element(By.ID, "check-h").text
    screenshot(browser, "schemas-compatibility-failure")

    # Registering it anyway: the registry's 409, shown next to the schema; nothing registered.
    _click(browser, "//button[normalize-space()='Register new version']", "#cand-schema-error")
    error = browser.find_element(By.ID, "cand-schema-error").text
    assert "incompatible" in error and "409" in error
    assert browser.find_element(By.ID, "cand-schema").get_attribute("aria-describedby") == "cand-schema-error"
    assert _versions(p.registry.url, people, deleted=True) == [1, 2]


def test_invalid_schema_and_empty_form_are_refused_inline(console_platform, browser, people):
    p = console_platform
    open_page(browser, _subject_url(p.console.url, people), "#cand-schema")
    _fill(browser, "#cand-schema", '{"type": "record", "name": ')
    _click(browser, "//button[normalize-space()='Register new version']", "#cand-schema-error")
    assert "Invalid schema" in browser.find_element(By.ID, "cand-schema-error").text
    assert browser.find_element(By.ID, "cand-schema").get_attribute("value") == '{"type": "record", "name": '

    _fill(browser, "#cand-schema", _record("Person", [NAME, AGE, {"name": "nick", "type": "string",
                                                                  "default": ""}]))
    _fill(browser, "#cand-references", "no equals sign here")
    _click(browser, "//button[normalize-space()='Register new version']", "#cand-references-error")
    assert "name=subject:version" in browser.find_element(By.ID, "cand-references-error").text
    assert "cand-references-error" in browser.find_element(By.ID, "cand-references").get_attribute("aria-describedby")
    assert _versions(p.registry.url, people, deleted=True) == [1, 2]

    # A new subject without a name
    open_page(browser, f"{p.console.url}/schemas/", "#new-subject")
    browser.find_element(By.XPATH, "//summary[contains(., 'Register under a new')]").click()
    _fill(browser, "#new-schema", _record("Thing", [NAME]))
    _click(browser, "//form[starts-with(@action, '/schemas/new')]//button", "#new-subject-error")
    assert browser.find_element(By.ID, "new-subject").get_attribute("aria-describedby") == "new-subject-error"


def _confirm(driver, button_text: str):
    _click(driver, f"//button[normalize-space()='{button_text}']", "#confirm-h")
    _click(driver, "//form//button[contains(@class, 'danger')]")


def test_register_and_delete_through_the_pages(console_platform, browser):
    p = console_platform
    subject = unique_topic("lifecycle") + "-value"
    open_page(browser, f"{p.console.url}/schemas/", "#new-subject")
    browser.find_element(By.XPATH, "//summary[contains(., 'Register under a new')]").click()
    _fill(browser, "#new-subject", subject)
    _fill(browser, "#new-schema", _record("Life", [NAME]))
    _click(browser, "//form[starts-with(@action, '/schemas/new')]//button", "#versions")
    assert _versions(p.registry.url, subject) == [1]

    _fill(browser, "#cand-schema", _record("Life", [NAME, AGE]))
    _click(browser, "//button[normalize-space()='Register new version']", "#versions")
    assert "Registered" in browser.find_element(By.CSS_SELECTOR, ".flash.success").text
    assert _versions(p.registry.url, subject) == [1, 2]

    # Soft delete of version 2: a confirmation page first; cancelling changes nothing.
    _click(browser, "//button[normalize-space()='Soft-delete version 2']", "#confirm-h")
    browser.find_element(By.LINK_TEXT, "Cancel").click()
    open_page(browser, browser.current_url, "#versions")
    assert _versions(p.registry.url, subject) == [1, 2]
    _confirm(browser, "Soft-delete version 2")
    assert _versions(p.registry.url, subject) == [1]
    assert _versions(p.registry.url, subject, deleted=True) == [1, 2]
    states = [row.find_elements(By.CSS_SELECTOR, "td")[3].text
              for row in browser.find_elements(By.CSS_SELECTOR, "#versions tbody tr")]
    assert states == ["live", "soft-deleted"]

    _confirm(browser, "Delete version 2 permanently")
    assert _versions(p.registry.url, subject, deleted=True) == [1]

    # A hard delete of a live subject is refused by the registry: the page says so, nothing changes.
    _confirm(browser, "Delete subject permanently")
    assert "Not deleted" in browser.find_element(By.CSS_SELECTOR, ".flash.error").text
    assert _versions(p.registry.url, subject) == [1]

    _confirm(browser, "Soft-delete subject")
    assert _versions(p.registry.url, subject) == []
    assert subject not in requests.get(f"{p.registry.url}/subjects", timeout=10).json()
    assert subject in requests.get(f"{p.registry.url}/subjects?deleted=true", timeout=10).json()
    open_page(browser, f"{p.console.url}/schemas/?q={subject}", "#subjects-count")
    assert not browser.find_elements(By.CSS_SELECTOR, "#subjects tbody tr")
    open_page(browser, f"{p.console.url}/schemas/?q={subject}&deleted=on", "#subjects")
    (row,) = browser.find_elements(By.CSS_SELECTOR, "#subjects tbody tr")
    assert row.find_element(By.CSS_SELECTOR, "th").text == f"{subject} soft-deleted"

    open_page(browser, _subject_url(p.console.url, subject), "#versions")
    _confirm(browser, "Delete subject permanently")
    assert subject not in requests.get(f"{p.registry.url}/subjects?deleted=true", timeout=10).json()


def test_compatibility_and_mode_per_subject_and_global(console_platform, browser, people):
    p = console_platform
    open_page(browser, _subject_url(p.console.url, people), "#compatibility")
    Select(browser.find_element(By.ID, "compatibility")).select_by_visible_text("NONE")
    Select(browser.find_element(By.ID, "mode")).select_by_visible_text("READONLY")
    _click(browser, "//section[@aria-labelledby='settings-h']//button[normalize-space()='Save']")
    assert requests.get(f"{p.registry.url}/config/{people}", timeout=10).json()["compatibilityLevel"] == "NONE"
    assert requests.get(f"{p.registry.url}/mode/{people}", timeout=10).json()["mode"] == "READONLY"
    assert Select(browser.find_element(By.ID, "mode")).first_selected_option.text == "READONLY"

    # READONLY: the registry refuses a new version; the page shows why, nothing registered.
    _fill(browser, "#cand-schema", _record("Person", [NAME]))
    _click(browser, "//button[normalize-space()='Register new version']", "#cand-schema-error")
    assert _versions(p.registry.url, people) == [1, 2]

    Select(browser.find_element(By.ID, "mode")).select_by_visible_text("READWRITE")
    _click(browser, "//section[@aria-labelledby='settings-h']//button[normalize-space()='Save']")
    assert requests.get(f"{p.registry.url}/mode/{people}", timeout=10).json()["mode"] == "READWRITE"

    open_page(browser, f"{p.console.url}/schemas/", "#global-compatibility")
    try:
        Select(browser.find_element(By.ID, "global-compatibility")).select_by_visible_text("FULL_TRANSITIVE")
        _click(browser, "//section[@aria-labelledby='global-h']//button[normalize-space()='Save']")
        assert requests.get(f"{p.registry.url}/config", timeout=10).json()["compatibilityLevel"] == "FULL_TRANSITIVE"
        assert requests.get(f"{p.registry.url}/mode", timeout=10).json()["mode"] == "READWRITE"
    finally:
        requests.put(f"{p.registry.url}/config", json={"compatibility": "BACKWARD"}, timeout=10).raise_for_status()


def test_unknown_subject_is_a_404_page(console_platform):
    page = requests.get(_subject_url(console_platform.console.url, "no-such-subject-anywhere"), timeout=10)
    assert page.status_code == 404 and "no-such-subject-anywhere" in page.text


@pytest.mark.parametrize("message, field, error_type", [
    ("{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the new schema does "
     "not match with the old schema', additionalInfo:'reader type: INT not compatible with writer type: STRING'}",
     "/fields/0/type", "TYPE_MISMATCH"),
    ('{errorType:"TYPE_CHANGED", description:"A type at path \'#/properties/a\' is different between the new schema '
     'and the old schema\'}', "#/properties/a", "TYPE_CHANGED"),
    ('{errorType:"FIELD_SCALAR_KIND_CHANGED", description:"The kind of a SCALAR field at path \'#/M/1\' in the new '
     'schema does not match its kind in the old schema"}', "#/M/1", "FIELD_SCALAR_KIND_CHANGED"),
])
def test_the_registrys_messages_split_per_field_for_each_format(message, field, error_type):
    """The layouts of the registry's Avro, JSON Schema and Protobuf messages (as it renders them)."""
    from console.schema_text import split_messages

    errors, context = split_messages([message, "{oldSchemaVersion: 1}"])
    assert [(e.field, e.error_type) for e in errors] == [(field, error_type)]
    assert errors[0].message == message and field in errors[0].description
    assert context == ["{oldSchemaVersion: 1}"]
