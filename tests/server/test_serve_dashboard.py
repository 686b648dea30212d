"""Acceptance (issue 13): the dashboard in headless Chromium (Debian's chromium-driver).

Sign in with a token (keyboard only), the fleet numbers on the page equal the API's,
make a plan on the page, have it approved, apply it from the page, and the run's host
rows reach "done" without a reload (each wait is on a DOM condition). The browser's
log must show no Content-Security-Policy violation and no error. With
HWFW_DASHBOARD_SCREENSHOT=PATH the screenshot taken during the run is also written
there (how docs/dashboard.png is made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import Served, make_tokens, start_server, wait_for

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1366,900")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromium-driver are needed (scripts/install-system-packages lists them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # a driver path in the Service: Selenium Manager is never asked to download one
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text)


def _rows(driver: Any) -> list[tuple[str, str]]:
    """(host, state) of the run's host rows, read in one go (the table is redrawn live)."""
    rows = driver.execute_script("return Array.from(document.querySelectorAll('#run-hosts tr[data-host]'))"
                                 ".map(r => [r.dataset.host, r.dataset.state]);")
    return [(str(h), str(s)) for h, s in rows]


def test_sign_in_fleet_numbers_and_a_run_live_to_done(browser: Any, lab_copy: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    served: Served = start_server(lab_copy, make_tokens(lab_copy))
    wait = WebDriverWait(browser, 120, poll_frequency=0.05)
    try:
        with served.client("viewer") as viewer, served.client("approver") as approver:
            # the startup scan has read the fleet before the numbers are compared
            def read() -> dict[str, Any] | None:
                doc: dict[str, Any] = viewer.get("/api/firmware/status").json()
                return doc if doc["inventory"]["time"] and not doc["inventory"]["scanning"] else None

            status = wait_for("the fleet read by the server", read)
            browser.get(served.url)
            token = wait.until(EC.visibility_of_element_located((By.ID, "token")))
            token.send_keys(served.tokens["operator"], Keys.ENTER)
            wait.until(EC.text_to_be_present_in_element((By.ID, "who"), "test-operator (operator)"))
            wait.until(lambda d: _text(d, "fleet-hosts") != "")
            summary = status["summary"]
            assert _text(browser, "fleet-hosts") == str(summary["hosts"])
            assert _text(browser, "fleet-compliant") == str(summary["compliant_hosts"])
            assert _text(browser, "fleet-behind") == str(summary["components"]["behind"])
            assert _text(browser, "fleet-unreachable") == str(summary["unreachable"])
            cells = browser.find_elements(By.CSS_SELECTOR, "tr[data-component] td[data-count='behind']")
            api_cells = [c["counts"]["behind"] for b in status["baselines"] for c in b["components"]]
            assert [int(c.text) for c in cells] == api_cells
            assert len(browser.find_elements(By.CSS_SELECTOR, "#host-table tr[data-host]")) == summary["hosts"]

            browser.find_element(By.CSS_SELECTOR, "#nav a[data-section='plans']").click()
            wait.until(EC.element_to_be_clickable((By.ID, "new-plan"))).click()
            wait.until(lambda d: d.current_url.rsplit("#/plans/", 1)[-1].isalnum()
                       and d.find_elements(By.ID, "apply"))
            plan_id = browser.current_url.rsplit("/", 1)[-1]
            assert browser.find_elements(By.CSS_SELECTOR, "section[data-host='lab-dell-01'] .changes li")
            assert approver.post(f"/api/firmware/plans/{plan_id}/approve").status_code == 200

            # back to the plan through the page's own links: now approved, it can be applied
            browser.find_element(By.CSS_SELECTOR, "#nav a[data-section='plans']").click()
            wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f"tr[data-plan='{plan_id}'] a"))).click()
            wait.until(EC.element_to_be_clickable((By.ID, "apply"))).click()
            wait.until(lambda d: any(state == "done" for _, state in _rows(d)))
            shot = lab_copy.parent / "dashboard-run.png"
            browser.save_screenshot(str(shot))
            if os.environ.get("HWFW_DASHBOARD_SCREENSHOT"):
                shutil.copyfile(shot, os.environ["HWFW_DASHBOARD_SCREENSHOT"])
            url_during_run = browser.current_url
            wait.until(lambda d: "succeeded" in _text(d, "run-status"))
            rows = _rows(browser)
            assert rows and all(state == "done" for _, state in rows), rows
            assert browser.current_url == url_during_run          # no navigation, no reload
            run_id = url_during_run.rsplit("/", 1)[-1]
            progress = viewer.get(f"/api/firmware/runs/{run_id}").json()["progress"]
            api_hosts = {h["name"]: h["state"] for h in progress["hosts"]}
            assert dict(rows) == api_hosts
        log = browser.get_log("browser")
        assert not [e for e in log if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"], log
    finally:
        assert served.stop() == 0, served.stderr()[-3000:]
