"""The dashboard in a real headless Chromium (Debian's), against ``serve`` over HTTP.

Screenshots at desktop and phone width go to ``test-artifacts/`` (kept by CI, looked at by
people): the accountant's Czech pages, the English switch, the banners, the bulk export.
"""

from __future__ import annotations

import copy
import io
import re
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.servers import ROOT, bridge, free_port, listening, wait_until
from tests.support import TOKEN, share, webhook_body, xsd_dir
from tests.test_fidelity import at_rate
from webhook.raynet.standin import RaynetStandIn

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN = "admin-token-0123456789"
ARTIFACTS = ROOT / "test-artifacts"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 740}
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


@pytest.fixture
def environment(raynet: RaynetStandIn, tmp_path: Path) -> dict[str, str]:
    return {
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


@contextmanager
def serving(env: dict[str, str], log: Path, *arguments: str) -> Iterator[str]:
    port = free_port()
    service = bridge(["serve", "--port", str(port), *arguments], env, log)
    try:
        wait_until(lambda: listening(port), 30, "gunicorn")
        yield f"http://127.0.0.1:{port}"
    finally:
        service.stop()


def send_webhook(url: str, case_id: int = 1234) -> None:
    answer = requests.post(
        f"{url}/webhooks/raynet",
        json=webhook_body(case_id),
        headers={"X-RAYNETCRM-Token": TOKEN},
        timeout=5,
    )
    assert answer.status_code == 202


def log_in(page: Page, url: str, name: str = "") -> None:
    page.goto(f"{url}/admin/")
    page.fill("input[name=name]", name)
    page.fill("input[name=token]", ADMIN)
    page.click("button[type=submit]")


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def fits_the_width(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_log_in_see_a_failed_case_retry_it_and_download_the_file(
    browser: Browser, raynet: RaynetStandIn, tmp_path: Path, environment: dict[str, str]
) -> None:
    """In English, as Chromium asks by default (Accept-Language: en-US)."""
    raynet.fail("businessCase/", 503)
    with serving(environment, tmp_path / "serve.log") as url:
        send_webhook(url)
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
            lambda: "failing" in row.inner_text(), 10, "the failed case on the page", interval=0.2
        )
        assert "RAYNET answered 503" in row.inner_text()
        screenshot(page, "en-dashboard-failed")

        row.get_by_role("button", name="Retry").click()
        assert "Case 1234 queued again." in page.get_by_role("status").inner_text()

        def exported() -> bool:
            page.reload()
            return "exported" in page.locator("#case-1234 .state").inner_text()

        wait_until(exported, 20, "the case to be exported", interval=0.3)
        with page.expect_download() as download_info:
            page.locator("#case-1234").get_by_role("link", name="OP-24-057.xml").click()
        download = download_info.value
        assert download.suggested_filename == "OP-24-057.xml"
        saved = tmp_path / "downloaded.xml"
        download.save_as(saved)
        assert saved.read_bytes() == (tmp_path / "exports" / "OP-24-057.xml").read_bytes()

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


def test_the_accountant_in_czech_imports_from_the_inbox_on_desktop_and_phone(
    browser: Browser,
    raynet: RaynetStandIn,
    tmp_path: Path,
    environment: dict[str, str],
    won_case: dict[str, Any],
) -> None:
    further = at_rate(copy.deepcopy(won_case), 2, 15)  # a rate the agenda may not know
    raynet.add_case({**further, "id": 77, "code": "OP-24-077", "name": "Servis tiskáren"})
    raynet.add_case({**won_case, "id": 78, "code": "OP-24-078", "status": "B_ACTIVE"})
    with serving(environment, tmp_path / "serve.log") as url:
        for case_id in (1234, 77, 78):
            send_webhook(url, case_id)
        not_json = requests.post(
            f"{url}/webhooks/raynet",
            data="{nedokončený JSON".encode(),
            headers={"X-RAYNETCRM-Token": TOKEN},
            timeout=5,
        )
        assert not_json.json() == {"status": "ignored", "reason": "unreadable"}
        wait_until(lambda: len(raynet.posts) == 2, 20, "two exports written back to RAYNET")
        context = browser.new_context(locale="cs-CZ", viewport=DESKTOP, accept_downloads=True)
        page = context.new_page()
        log_in(page, url, name="Jana Účetní")

        row = page.locator("#case-1234")
        for shown in (
            "OP-24-057",
            "Dodávka monitorů a instalace",
            "Stavební firma Novák s.r.o.",
            "12\xa0886,50\xa0Kč",
            "exportováno",
            "OP-24-057.xml",
            "doklad OP-24-057",
        ):
            assert shown in row.inner_text(), shown
        link = row.get_by_role("link", name="RAYNET ↗").get_attribute("href")
        host = urlsplit(raynet.url).netloc
        assert link == f"http://{host}/standin/?view=DetailView&en=BusinessCase&ei=1234"
        assert (
            "obchodní případ není vyhraný (stav otevřený)" in page.locator("#case-78").inner_text()
        )
        assert page.locator("#case-78 button").count() == 0  # no retry of a deal not won
        screenshot(page, "cs-desktop-cases")

        page.locator("#case-1234").get_by_role("link", name="OP-24-057", exact=True).click()
        preview = page.locator("table.lines")
        assert 'Monitor 24" Full HD' in preview.inner_text()
        assert "MON-24" in preview.inner_text()
        assert "DPH 21 %: základ 10\xa0650,00\xa0Kč" in preview.inner_text()
        assert "Celkem s DPH\t12\xa0886,50\xa0Kč" in preview.inner_text()
        follow_ups = page.locator("#follow-up-raynet_post-1").inner_text()
        assert "Příspěvek v RAYNETu" in follow_ups
        assert "hotovo" in follow_ups
        history = page.locator("ol.history").inner_text()
        assert "webhook z RAYNETu" in history
        assert "exportováno: OP-24-057.xml" in history
        screenshot(page, "cs-desktop-case")

        page.get_by_role("link", name="K importu").click()
        inbox = page.locator("table.inbox tbody")
        assert inbox.locator("tr").count() == 2
        noted = "Položky 2 mají DPH 15 %, což není sazba agendy (12 %, 21 %)"
        assert noted in page.locator("#file-77-1 ul.caveats").inner_text()
        assert page.locator("#file-1234-1 ul.caveats").count() == 0
        page.get_by_role("button", name="Vybrat vše").click()
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Stáhnout vybrané jako ZIP").click()
        archive = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
        assert sorted(archive.namelist()) == ["OP-24-057.xml", "OP-24-077.xml"]
        exported = tmp_path / "exports" / "OP-24-077.xml"
        assert archive.read("OP-24-077.xml") == exported.read_bytes()
        screenshot(page, "cs-desktop-inbox")

        page.get_by_role("button", name="Zrušit výběr").click()
        page.locator("#file-1234-1 input[type=checkbox]").check()
        page.get_by_role("button", name="Označit vybrané jako naimportované").click()
        assert "1 soubor označen jako naimportovaný." in page.get_by_role("status").inner_text()
        assert page.locator("table.inbox tbody tr").count() == 1
        assert page.locator("#file-77-1").count() == 1
        assert exported.exists()  # nothing is deleted from the target
        page.goto(f"{url}/admin/cases/1234")
        imported = page.locator("table").nth(1).inner_text()
        assert re.search(r"\d+\. \d+\. \d{4} \d+:\d\d, Jana Účetní", imported), imported

        page.goto(f"{url}/admin/cases/77")
        caveats = page.locator("#caveats").inner_text()
        assert caveats.startswith("Před importem mějte na paměti\n")
        assert noted in caveats
        screenshot(page, "cs-desktop-case-caveats")
        page.get_by_role("link", name="Nečitelné webhooky").click()
        kept = page.locator("table.webhooks tbody tr")
        assert kept.count() == 1
        assert "tělo požadavku není JSON" in kept.inner_text()
        assert "{nedokončený JSON" in kept.locator("pre.body").inner_text()
        screenshot(page, "cs-desktop-webhooks")

        page.set_viewport_size(PHONE)
        for path, name in (
            ("/admin/", "cases"),
            ("/admin/inbox", "inbox"),
            ("/admin/cases/77", "case-caveats"),
            ("/admin/webhooks", "webhooks"),
            ("/admin/cases/1234", "case"),  # the last: its lines are looked at below
        ):
            page.goto(url + path)
            assert fits_the_width(page), path
            screenshot(page, f"cs-phone-{name}")
        assert page.locator("td[data-label='Položka']").first.is_visible()
        context.close()


def test_banners_say_what_stops_exports(
    browser: Browser, raynet: RaynetStandIn, tmp_path: Path, environment: dict[str, str]
) -> None:
    wrong = {**environment, "RAYNET_API_KEY": "wrong-key-0123"}
    with serving(wrong, tmp_path / "serve.log", "--no-worker") as url:
        context = browser.new_context(locale="cs-CZ", viewport=DESKTOP)
        page = context.new_page()
        log_in(page, url)
        banners = page.locator(".banner").all_inner_texts()
        assert banners == ["Neběží žádný worker: webhooky se ukládají, nic se neexportuje."]
        screenshot(page, "cs-banner-no-worker")

        worker = bridge(["worker"], wrong, tmp_path / "worker.log")
        try:
            send_webhook(url)
            wait_until(lambda: len(raynet.requests) == 1, 20, "the refused request")

            def refused() -> bool:
                page.reload()
                return any("odmítl" in text for text in page.locator(".banner").all_inner_texts())

            wait_until(refused, 20, "the credentials banner", interval=0.3)
            assert page.locator(".banner").all_inner_texts() == [
                "RAYNET odmítl přihlašovací údaje API: nic se neexportuje, dokud nebudou "
                "opraveny (nebo dokud nezkusíte neúspěšné případy znovu)."
            ]
            screenshot(page, "cs-banner-credentials")
            page.get_by_role("link", name="English").click()
            assert page.locator(".banner").all_inner_texts() == [
                "RAYNET refused the API credentials: nothing is exported until they are "
                "corrected (or the dead cases are retried)."
            ]
            assert page.locator("html").get_attribute("lang") == "en"
        finally:
            worker.stop()
        context.close()


def test_bulk_export_from_the_dashboard_with_progress(
    browser: Browser,
    raynet: RaynetStandIn,
    tmp_path: Path,
    environment: dict[str, str],
    won_case: dict[str, Any],
) -> None:
    for number in range(1, 4):
        raynet.add_case(
            {
                **won_case,
                "id": 500 + number,
                "code": f"OP-26-{number:03d}",
                "rowInfo.updatedAt": "2026-11-20 09:00",
            }
        )
    raynet.add_case(
        {**won_case, "id": 600, "code": "OP-25-600", "rowInfo.updatedAt": "2025-01-05 09:00"}
    )
    with serving(environment, tmp_path / "serve.log") as url:
        context = browser.new_context(locale="cs-CZ", viewport=DESKTOP)
        page = context.new_page()
        log_in(page, url)
        page.get_by_role("link", name="Hromadný export").click()
        page.fill("input[name=since]", "2026-11-01")
        page.fill("input[name=until]", "2026-11-29")
        page.get_by_role("button", name="Exportovat dosud neexportované případy").click()
        assert page.get_by_role("status").inner_text() == "Hromadný export byl spuštěn."

        def done() -> bool:
            page.reload()
            return "exportováno: 3" in page.locator("#bulk-state").inner_text()

        wait_until(done, 30, "three cases exported", interval=0.5)
        assert page.locator("#bulk-state").inner_text() == (
            "Vyhrané případy v rozsahu: 3; zařazeno k exportu: 3, z nich zatím exportováno: 3."
        )
        assert sorted(p.name for p in (tmp_path / "exports").glob("*.xml")) == [
            "OP-26-001.xml",
            "OP-26-002.xml",
            "OP-26-003.xml",
        ]
        heading = page.locator("section.progress h3").inner_text()
        assert heading == "Hromadný export od 1. 11. 2026 do 29. 11. 2026"
        screenshot(page, "cs-bulk-export")
        context.close()
