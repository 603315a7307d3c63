"""The dashboard in a real headless Chromium (Debian's), against ``serve`` over HTTP."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, sync_playwright

from tests.servers import bridge, free_port, listening, wait_until
from tests.support import TOKEN, share, webhook_body, xsd_dir
from webhook.raynet.standin import RaynetStandIn

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN = "admin-token-0123456789"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (.ci/run installs it)",
    ),
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def test_log_in_see_a_failed_case_retry_it_and_download_the_file(
    browser: Browser, raynet: RaynetStandIn, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **raynet.environment(),
        "WEBHOOK_TOKEN": TOKEN,
        "ADMIN_TOKEN": ADMIN,
        "STATE_DB": str(tmp_path / "state.db"),
        "EXPORT_TARGET": share(tmp_path / "exports"),
        "MONEY_S3_XSD_DIR": str(xsd_dir()),
        "WORKER_POLL_SECONDS": "0.05",
        "WORKER_BACKOFF_BASE": "3600",
        "WORKER_BACKOFF_MAX": "3600",
    }
    raynet.fail("businessCase/", 503)
    service = bridge(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    try:
        wait_until(lambda: listening(port), 30, "gunicorn")
        url = f"http://127.0.0.1:{port}"
        assert (
            requests.post(
                f"{url}/webhooks/raynet",
                json=webhook_body(),
                headers={"X-RAYNETCRM-Token": TOKEN},
                timeout=5,
            ).status_code
            == 202
        )
        wait_until(lambda: len(raynet.calls("businessCase/")) == 1, 20, "the failed attempt")

        page = browser.new_page(accept_downloads=True)
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        response = page.goto(f"{url}/admin/")
        assert response is not None
        assert response.status == 401
        page.fill("input[name=token]", "wrong-token-0123456789")
        page.click("button[type=submit]")
        assert page.get_by_role("alert").inner_text() == "That is not the admin token."

        page.fill("input[name=token]", ADMIN)
        page.click("button[type=submit]")
        row = page.locator("#case-1234")
        wait_until(
            lambda: "failed" in row.inner_text(), 10, "the failed case on the page", interval=0.2
        )
        assert "RAYNET answered 503" in row.inner_text()
        page.screenshot(path=str(tmp_path / "dashboard-failed.png"), full_page=True)

        row.get_by_role("button", name="Retry").click()
        assert "Case 1234 queued again." in page.get_by_role("status").inner_text()

        def exported() -> bool:
            page.reload()
            return "exported" in page.locator("#case-1234 .state").inner_text()

        wait_until(exported, 20, "the case to be exported", interval=0.3)
        page.screenshot(path=str(tmp_path / "dashboard-exported.png"), full_page=True)
        with page.expect_download() as download_info:
            page.locator("#case-1234").get_by_role("link", name="OP-24-057.xml").click()
        download = download_info.value
        assert download.suggested_filename == "OP-24-057.xml"
        saved = tmp_path / "downloaded.xml"
        download.save_as(saved)
        assert saved.read_bytes() == (tmp_path / "exports" / "OP-24-057.xml").read_bytes()
        assert (tmp_path / "dashboard-exported.png").stat().st_size > 10_000

        # The stylesheet and the confirmation script load under the CSP (no inline code).
        header = page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
        assert header == "rgb(255, 255, 255)"
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.locator("#case-1234").get_by_role("button", name="Re-export").click()
        assert page.get_by_role("status").count() == 0  # dismissed: nothing was sent
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#case-1234").get_by_role("button", name="Re-export").click()
        assert "Case 1234 queued for another export." in page.get_by_role("status").inner_text()
        assert not [line for line in console if "Content Security Policy" in line], console
    finally:
        service.stop()
