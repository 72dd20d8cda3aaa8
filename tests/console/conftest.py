"""A whole platform (broker, registry, Connect, REST Proxy) with the web console in front of it, each
started as `schemabus up` starts it, and headless Chromium driving the console's pages.

The browser is Debian's chromium with its matching chromedriver (scripts/test.sh installs both);
Selenium is pointed at them, so it never tries to download a browser or a driver.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import REPO, BrokerProcess, ServiceProcess, free_port
from tests.connect.worker_process import ConnectWorker
from tests.registry.conftest import RegistryProcess
from tests.rest.conftest import RestProcess

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Screenshots of the main pages, kept as the run's artifacts (docs/console/ holds the README's copies).
SCREENSHOTS = Path(os.environ.get("SCHEMABUS_SCREENSHOTS", REPO / "build" / "console-screenshots"))
PAGE_WAIT_S = 20.0
# chromedriver's answer when an element is read while the page it was on is being replaced (a click
# that loads a new page): not the StaleElementReferenceException Selenium's conditions expect.
NAVIGATION_RACE = "does not belong to the document"


class PageWait(WebDriverWait):
    """WebDriverWait for pages that replace each other: an element caught mid-navigation means "not
    yet", and the condition is asked again."""

    def until(self, method, message: str = ""):
        def tolerant(driver):
            try:
                return method(driver)
            except WebDriverException as exc:
                if NAVIGATION_RACE in str(exc):
                    return False
                raise
        return super().until(tolerant, message)


class ConsoleProcess(ServiceProcess):
    def __init__(self, work_dir: Path, bootstrap: str, registry_url: str | None = None,
                 connect_url: str | None = None, rest_url: str | None = None, configs: dict[str, str] | None = None):
        self.port = free_port()
        self.bootstrap = bootstrap
        self.registry_url, self.connect_url, self.rest_url = registry_url, connect_url, rest_url
        self.configs = dict(configs or {})
        self.log_path = Path(work_dir) / f"console-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "cli.main", "console", "--bootstrap-server", self.bootstrap,
               "--listen", f"127.0.0.1:{self.port}"]
        for flag, value in (("--schema-registry-url", self.registry_url), ("--connect-url", self.connect_url),
                            ("--rest-url", self.rest_url)):
            if value:
                cmd += [flag, value]
        for key, value in self.configs.items():
            cmd += ["--config", f"{key}={value}"]
        return cmd


class Platform:
    def __init__(self, broker, registry, connect, rest, console):
        self.broker, self.registry, self.connect, self.rest, self.console = broker, registry, connect, rest, console

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap


@pytest.fixture(scope="session")
def console_platform(tmp_path_factory):
    work = tmp_path_factory.mktemp("console-platform")
    started = []
    try:
        broker = BrokerProcess(work / "broker").start()
        started.append(broker)
        registry = RegistryProcess(broker.bootstrap, work).start()
        started.append(registry)
        connect = ConnectWorker(work / "connect", broker.bootstrap, group="console-connect").start()
        started.append(connect)
        rest = RestProcess(work, broker.bootstrap, registry_url=registry.url).start()
        started.append(rest)
        console = ConsoleProcess(work, broker.bootstrap, registry.url, connect.url, rest.url).start()
        started.append(console)
        yield Platform(broker, registry, connect, rest, console)
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture(scope="session")
def browser():
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed (Debian's chromium and chromium-driver; "
                    f"scripts/test.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,900",
                "--disable-gpu", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_WAIT_S * 2)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:
    """The browser console's errors since the last call (reading the log empties it)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def open_page(driver, url: str, ready_css: str = "main h1"):
    """Loads `url`, waits for `ready_css`, and fails on any error in the browser's console."""
    console_errors(driver)  # forget the previous page's
    driver.get(url)
    PageWait(driver, PAGE_WAIT_S).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ready_css)),
        f"{url}: {ready_css} did not appear within {PAGE_WAIT_S}s")
    errors = console_errors(driver)
    assert not errors, f"{url}: errors in the browser console: {errors}"
    return driver


def screenshot(driver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
