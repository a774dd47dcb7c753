"""The inspector page in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

The browser may reach 127.0.0.1 only (every other host fails to resolve), so the page and
the API docs are shown to work without internet. Set ``AGENTMEM_INSPECTOR_SCREENSHOT=PATH``
to keep the screenshot (docs/inspector.png is made that way).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from agentmem import NotFoundError
from tests.server.conftest import Live
from tests.server.live import ALICE_KEY

INSTALL = "install it with: apt-get install -y chromium chromium-driver"


def _find(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        if Path(f"/usr/bin/{name}").exists():
            return f"/usr/bin/{name}"
    pytest.fail(f"{names[0]} is missing; {INSTALL}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = _find("chromium", "chromium-browser")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-extensions", "--window-size=1500,950",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(_find("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


def rows(driver: WebDriver) -> list[str]:
    return [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#memories tbody tr")]


def test_inspector_lists_shows_history_searches_previews_and_forgets(
    live: Live, browser: WebDriver, tmp_path: Path
) -> None:
    memory = live.memory
    moved = memory.add("Alice lives in Porto", user_id="alice", kind="fact")
    memory.add("Alice's sister Maria studies medicine", user_id="alice", kind="fact")
    memory.add("Alice had toast for breakfast", user_id="alice")
    job = memory.add("Alice works at Acme", user_id="alice", kind="fact")
    memory.add("Bob's private note", user_id="bob")
    live.clock.advance(timedelta(days=40))
    memory.update(moved.id, text="Alice lives in Lisbon", reason="she moved in May")
    memory.update(job.id, valid_to=live.clock.now(), reason="she left Acme")
    doomed = memory.add("Alice's old gym code is 4711", user_id="alice")
    wait = WebDriverWait(browser, 20)

    browser.get(live.url + "/")
    browser.find_element(By.ID, "key").send_keys(ALICE_KEY)
    browser.find_element(By.ID, "connect").click()
    wait.until(lambda d: len(rows(d)) == 5)
    listed = "\n".join(rows(browser))
    closed = browser.find_element(By.CSS_SELECTOR, f'#memories tr[data-id="{job.id}"]')
    assert "closed" in closed.get_attribute("class").split() and "closed 2024-02-10" in closed.text
    assert "Alice lives in Lisbon" in listed and "gym code" in listed
    assert "Bob" not in listed and "Bob" not in browser.find_element(By.ID, "users").text

    row = browser.find_element(By.CSS_SELECTOR, f'#memories tr[data-id="{moved.id}"]')
    row.find_element(By.CSS_SELECTOR, "button.history").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline li")) == 2)
    timeline = browser.find_elements(By.CSS_SELECTOR, "#timeline li")
    assert [li.get_attribute("data-op") for li in timeline] == ["add", "update"]
    assert "she moved in May" in timeline[1].text and "Porto" in timeline[1].text

    browser.find_element(By.ID, "search-q").send_keys("where does alice live Lisbon")
    browser.find_element(By.ID, "search-go").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hits li[data-id]"))
    first = browser.find_element(By.CSS_SELECTOR, "#hits li[data-id]")
    assert first.get_attribute("data-id") == moved.id
    assert "found by" in first.text and "score" in first.text
    assert memory.get(moved.id).access_count == 0  # the inspector looks without recalling

    browser.find_element(By.ID, "policy-spec").send_keys("ttl:ttl=30d")
    browser.find_element(By.ID, "preview-go").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#decisions li[data-action]"))
    decisions = browser.find_element(By.ID, "decisions").text
    assert "forget" in decisions and "toast" in decisions and "gym code" not in decisions
    assert memory.count(user_id="alice") == 5  # a preview changes nothing

    browser.execute_script("window.scrollTo(0, 0)")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1500, min(int(height) + 140, 2000))
    shot = Path(os.environ.get("AGENTMEM_INSPECTOR_SCREENSHOT") or tmp_path / "inspector.png")
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    row = browser.find_element(By.CSS_SELECTOR, f'#memories tr[data-id="{doomed.id}"]')
    row.find_element(By.CSS_SELECTOR, "button.forget").click()
    dialog = wait.until(ec.visibility_of_element_located((By.ID, "confirm")))
    assert "gym code" in dialog.text
    browser.find_element(By.ID, "confirm-no").click()  # cancel first: nothing happens
    assert memory.get(doomed.id)
    row.find_element(By.CSS_SELECTOR, "button.forget").click()
    wait.until(ec.visibility_of_element_located((By.ID, "confirm")))
    browser.find_element(By.ID, "confirm-yes").click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-id="{doomed.id}"]'))
    assert len(rows(browser)) == 4
    with pytest.raises(NotFoundError):
        memory.get(doomed.id)
    assert memory.count(user_id="bob") == 1


def test_api_docs_render_offline(live: Live, browser: WebDriver) -> None:
    browser.get(live.url + "/docs")
    title = WebDriverWait(browser, 20).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title"))
    )
    assert "agentmem" in title.text
    assert browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
