"""The overview page and the console's frame: every service shown, navigation usable by keyboard."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By

from tests.console.conftest import open_page, screenshot


def _card(driver, heading: str) -> str:
    return driver.find_element(By.XPATH, f"//section[h2[normalize-space()='{heading}']]").text


def test_overview_shows_every_service(console_platform, browser):
    p = console_platform
    open_page(browser, p.console.url + "/")
    broker = _card(browser, "Kafka cluster")
    assert p.bootstrap.split(":")[1] in broker and "controller" in broker
    registry = _card(browser, "Schema Registry")
    assert p.registry.url in registry and "BACKWARD" in registry and "READWRITE" in registry
    assert p.connect.url in _card(browser, "Kafka Connect")
    rest = _card(browser, "REST Proxy")
    cluster_id = requests.get(p.rest.url + "/v3/clusters", timeout=10).json()["data"][0]["cluster_id"]
    assert cluster_id in rest and cluster_id in broker
    screenshot(browser, "overview")


def test_a_service_that_is_down_is_shown_as_unavailable_not_an_error_page(console_platform, tmp_path):
    """The console started against a Connect URL nobody serves: the page still renders, that card says why."""
    from tests.conftest import free_port
    from tests.console.conftest import ConsoleProcess

    p = console_platform
    dead = f"http://127.0.0.1:{free_port()}"
    console = ConsoleProcess(tmp_path, p.bootstrap, p.registry.url, dead, p.rest.url).start()
    try:
        page = requests.get(console.url + "/", timeout=30)
        assert page.status_code == 200
        assert "Unavailable" in page.text and dead in page.text
    finally:
        console.stop()


def test_unknown_page_is_a_404_page(console_platform):
    page = requests.get(console_platform.console.url + "/no/such/page", timeout=10)
    assert page.status_code == 404 and "Not Found" in page.text
