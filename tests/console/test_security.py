"""ACLs, SCRAM users and the console's own basic authentication, against a secured broker (SASL_PLAINTEXT
with SCRAM, the StandardAuthorizer, User:admin a super user) and a console configured with the admin's
credentials in a properties file, behind basic authentication from a users file. Every change made
through a page is checked with an AdminClient of our own; no password shows in a page or the log."""

from __future__ import annotations

import base64

import pytest
import requests
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBindingFilter, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType,
    ScramMechanism,
)
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select

from http_security.users import user_entry
from tests.conftest import BrokerProcess, free_port, unique_topic
from tests.console.conftest import ConsoleProcess, PAGE_WAIT_S, PageWait, console_errors, open_page, screenshot

STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ADMIN_PASSWORD = "admin-pw-c0n5013"
CONSOLE_USER, CONSOLE_PASSWORD = "operator", "console-pw-8d2f1"
TIMEOUT = 30


class PropertiesConsole(ConsoleProcess):
    """`schemabus console console.properties ...`: the secrets in a file, not on the command line."""

    def __init__(self, work_dir, bootstrap, properties_file):
        super().__init__(work_dir, bootstrap)
        self.properties_file = properties_file

    def command(self) -> list[str]:
        return [*super().command(), str(self.properties_file)]


def _admin_conf(bootstrap: str, user: str = "admin", password: str = ADMIN_PASSWORD) -> dict:
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user, "sasl.password": password}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    from broker.sasl.scram import ScramCredential, ScramCredentials

    work = tmp_path_factory.mktemp("console-secured")
    data = work / "data"
    data.mkdir()
    # The super user's SCRAM credential, in the broker's store before it starts (as `up --secure` does).
    ScramCredentials(data).apply([("admin", "SCRAM-SHA-512",
                                   ScramCredential.from_password("SCRAM-SHA-512", ADMIN_PASSWORD))], [])
    port = free_port()
    broker = BrokerProcess(data, {"listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
                                  "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
                                  "authorizer.class.name": STANDARD_AUTHORIZER, "super.users": "User:admin"},
                           port=port).start()
    users = work / "console-users"
    users.write_text(user_entry(CONSOLE_USER, CONSOLE_PASSWORD, ["admin"]) + "\n")
    properties = work / "console.properties"
    properties.write_text("\n".join([
        "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=SCRAM-SHA-512",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{ADMIN_PASSWORD}";',
        "authentication.method=BASIC", "authentication.realm=ConsoleTest", "authentication.roles=admin",
        f"schemabus.authentication.users.file={users}"]) + "\n")
    console = None
    try:
        console = PropertiesConsole(work, broker.bootstrap, properties).start()
        yield broker, console, AdminClient(_admin_conf(broker.bootstrap))
    finally:
        if console is not None:
            console.stop()
        broker.stop()


@pytest.fixture
def signed_in(browser):
    """The shared browser sends the console user's credentials with every request, then stops."""
    token = base64.b64encode(f"{CONSOLE_USER}:{CONSOLE_PASSWORD}".encode()).decode()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})


def _wait_text(driver, css: str, text: str):
    try:
        PageWait(driver, PAGE_WAIT_S).until(
            expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    except TimeoutException:
        raise AssertionError(f"{css} never showed {text!r}; the page shows: "
                             f"{driver.find_element(By.TAG_NAME, 'main').text[:1500]}") from None
    assert not console_errors(driver)


def _save_user(driver) -> None:
    """Submits the user form and waits for the page it loads: the old page may show the same flash."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, "save-user").click()
    PageWait(driver, PAGE_WAIT_S).until(expected_conditions.staleness_of(old), "saving the user loaded no page")


def _fill(driver, field_id: str, text: str) -> None:
    field = driver.find_element(By.ID, field_id)
    field.clear()
    field.send_keys(text)


def _acls_of(admin: AdminClient, principal: str) -> list:
    match = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, principal, None, AclOperation.ANY,
                             AclPermissionType.ANY)
    return admin.describe_acls(match, request_timeout=TIMEOUT).result()


def _scram_of(admin: AdminClient, user: str) -> list[tuple[ScramMechanism, int]] | None:
    try:
        described = admin.describe_user_scram_credentials([user], request_timeout=TIMEOUT)[user].result()
    except KafkaException:  # RESOURCE_NOT_FOUND: no such user
        return None
    return sorted((i.mechanism, i.iterations) for i in described.scram_credential_infos)


def _assert_described_error(driver, field_id: str, expected: str) -> None:
    error = driver.find_element(By.ID, f"error-{field_id}")
    assert expected in error.text, error.text
    field = driver.find_element(By.ID, field_id)
    assert f"error-{field_id}" in field.get_attribute("aria-describedby").split()
    assert field.get_attribute("aria-invalid") == "true"


def test_the_console_refuses_requests_without_its_credentials(secured):
    _, console, _ = secured
    for path in ("/", "/security/acls", "/static/console.css", "/static/vendor/htmx-2.0.11.min.js"):
        for auth in (None, (CONSOLE_USER, "wrong-pw-1"), ("nobody", CONSOLE_PASSWORD)):
            answer = requests.get(console.url + path, auth=auth, timeout=TIMEOUT)
            assert answer.status_code == 401, (path, auth, answer.status_code)
            assert answer.headers["WWW-Authenticate"] == 'Basic realm="ConsoleTest"'
        signed = requests.get(console.url + path, auth=(CONSOLE_USER, CONSOLE_PASSWORD), timeout=TIMEOUT)
        assert signed.status_code == 200, (path, signed.status_code)


def test_acls_are_created_and_deleted_through_the_page(secured, signed_in):
    broker, console, admin = secured
    driver = signed_in
    principal, topic = f"User:{unique_topic('alice')}", unique_topic("acl-topic")
    open_page(driver, console.url + "/security/acls", "#acl-form")

    # A principal without its type: an error by the field, and no ACL made.
    _fill(driver, "resource_name", topic)
    _fill(driver, "principal", principal.split(":")[1])
    driver.find_element(By.ID, "create-acl").click()
    _wait_text(driver, "#form-problem", "The ACL was not created")
    _assert_described_error(driver, "principal", "TYPE:NAME")
    assert driver.find_element(By.ID, "resource_name").get_attribute("value") == topic
    assert _acls_of(admin, principal) == []

    _fill(driver, "principal", principal)
    Select(driver.find_element(By.ID, "pattern_type")).select_by_value("PREFIXED")
    Select(driver.find_element(By.ID, "operation")).select_by_value("WRITE")
    Select(driver.find_element(By.ID, "permission")).select_by_value("ALLOW")
    driver.find_element(By.ID, "create-acl").click()
    _wait_text(driver, "p.flash", "ACL created")
    [binding] = _acls_of(admin, principal)
    assert (binding.restype, binding.name, binding.resource_pattern_type, binding.host, binding.operation,
            binding.permission_type) == (ResourceType.TOPIC, topic, ResourcePatternType.PREFIXED, "*",
                                         AclOperation.WRITE, AclPermissionType.ALLOW)
    row = driver.find_element(By.XPATH, f"//table[@id='acls']//tr[td[normalize-space()='{principal}']]").text
    assert topic in row and "PREFIXED" in row and "WRITE" in row and "ALLOW" in row
    screenshot(driver, "acls")

    driver.find_element(By.CSS_SELECTOR, f"button[aria-label*='{principal} WRITE on TOPIC {topic}']").click()
    PageWait(driver, PAGE_WAIT_S).until(expected_conditions.alert_is_present()).accept()
    _wait_text(driver, "p.flash", "ACL deleted (1 binding)")
    assert _acls_of(admin, principal) == []


def test_scram_users_are_created_changed_and_deleted_and_the_password_never_shows(secured, signed_in):
    broker, console, admin = secured
    driver = signed_in
    user, password, new_password = unique_topic("bob"), "bob-pw-91c7e2", "bob-pw-2-4a8d11"
    open_page(driver, console.url + "/security/users", "#user-form")

    # Iterations Kafka would refuse: the error by the field, the password not sent back, no user made.
    _fill(driver, "user", user)
    _fill(driver, "password", password)
    _fill(driver, "iterations", "100")
    _save_user(driver)
    _wait_text(driver, "#form-problem", "The user was not saved")
    _assert_described_error(driver, "iterations", "4096 to 16384")
    assert driver.find_element(By.ID, "password").get_attribute("value") == ""
    assert password not in driver.page_source
    assert _scram_of(admin, user) is None

    _fill(driver, "password", password)
    _fill(driver, "iterations", "4096")
    driver.find_element(By.ID, "mechanism-SCRAM-SHA-256").click()  # SCRAM-SHA-512 only
    _save_user(driver)
    _wait_text(driver, "p.flash", f"SCRAM credentials of {user} saved")
    assert _scram_of(admin, user) == [(ScramMechanism.SCRAM_SHA_512, 4096)]
    assert "SCRAM-SHA-512 (4096)" in driver.find_element(By.CSS_SELECTOR, f"tr[data-user='{user}']").text
    assert password not in driver.page_source
    # The credential is real: the broker lets the user log in with it.
    AdminClient(_admin_conf(broker.bootstrap, user, password)).list_topics(timeout=TIMEOUT)

    # An upsert: a new password, both mechanisms.
    _fill(driver, "user", user)
    _fill(driver, "password", new_password)
    _fill(driver, "iterations", "8192")
    _save_user(driver)
    _wait_text(driver, "p.flash", f"SCRAM credentials of {user} saved")
    assert _scram_of(admin, user) == [(ScramMechanism.SCRAM_SHA_256, 8192), (ScramMechanism.SCRAM_SHA_512, 8192)]
    assert new_password not in driver.page_source

    driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Delete user {user}']").click()
    PageWait(driver, PAGE_WAIT_S).until(expected_conditions.alert_is_present()).accept()
    _wait_text(driver, "p.flash", f"SCRAM user {user} deleted")
    assert _scram_of(admin, user) is None

    log = console.log_path.read_text()
    assert not any(secret in log for secret in (password, new_password, ADMIN_PASSWORD, CONSOLE_PASSWORD)), log


def test_without_an_authorizer_the_page_says_security_is_off(console_platform, browser):
    open_page(browser, console_platform.console.url + "/security/acls", "#security-off")
    assert "no authorizer" in browser.find_element(By.ID, "security-off").text
    assert not browser.find_elements(By.ID, "acl-form")
