"""The accountant's daily pages in a real headless Chromium, in Czech and English, at desktop
(1280 × 800) and phone (375 × 740) width: the inbox ("K importu") and its ticks, the ZIP of
what is ticked and the undo of a mark; an order Money S3 refused and a deal changed since
its export; Money's reports uploaded through the page; long escaped file names.

Money S3 and RAYNET are the stand-ins (``webhook/moneys3/standin.py``,
``webhook/raynet/standin.py``). Every screenshot goes to ``test-artifacts/``, named
``<language>-<desktop|phone>-<what>.png``, for people to look at.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from lxml import etree
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect

from tests import test_admin_browser as admin_browser
from tests.servers import wait_until
from tests.test_admin_browser import (
    ADMIN,
    ARTIFACTS,
    DESKTOP,
    PHONE,
    fits_the_width,
    log_in,
    screenshot,
    send_webhook,
    serving,
)
from webhook.delivery.naming import file_name
from webhook.moneys3.standin import MoneyS3StandIn
from webhook.raynet.standin import RaynetStandIn

pytestmark = admin_browser.pytestmark
browser = admin_browser.browser  # the fixtures, shared
environment = admin_browser.environment

LONG_CODE = "OP/24/060 dlouhý název zakázky s mnoha slovy"
LONG_NAME = file_name(LONG_CODE)  # OP~2F24~2F060~20~64~6C~6F~75~68~C3~BD...xml
SIZES: dict[str, ViewportSize] = {"desktop": DESKTOP, "phone": PHONE}
LOCALES = {"cs": "cs-CZ", "en": "en-US"}
EVERY_WAY = [(language, size) for language in LOCALES for size in SIZES]
CHOOSING = {  # the inbox's buttons: choose all, choose none, mark the chosen
    "cs": ("Vybrat vše", "Zrušit výběr", "Označit vybrané jako naimportované"),
    "en": ("Choose all", "Choose none", "Mark the chosen as imported"),
}


SESSIONS: dict[str, Any] = {}  # the dashboard's URL -> a logged-in browser's cookies


@contextmanager
def looking(browser: Browser, url: str, language: str, size: str) -> Iterator[Page]:
    """A page in ``language`` at ``size``, logged in as Jana Účetní: once per server, as
    logging in is limited to 5 a minute; later pages share that session's cookie."""
    context: BrowserContext = browser.new_context(
        locale=LOCALES[language],
        viewport=SIZES[size],
        accept_downloads=True,
        storage_state=SESSIONS.get(url),
    )
    try:
        page = context.new_page()
        if url in SESSIONS:
            page.goto(f"{url}/admin/")
        else:
            log_in(page, url, name="Jana Účetní")
            SESSIONS[url] = context.storage_state()
        assert page.locator("input[name=token]").count() == 0, "not logged in"
        yield page
    finally:
        context.close()


def ticked(page: Page) -> list[str]:
    """The values of the inbox's ticked boxes (``case:generation``)."""
    boxes = page.locator("table.inbox input[type=checkbox][name=file]")
    return [box.get_attribute("value") or "" for box in boxes.all() if box.is_checked()]


def line_count(element: Locator) -> int:
    """How many lines the element's text takes on screen."""
    return int(
        element.evaluate(
            """e => {
                const range = document.createRange();
                range.selectNodeContents(e);
                const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                return tops.size;
            }"""
        )
    )


def in_view(page: Page, element: Locator) -> bool:
    """Within the screen as it is scrolled now: no scrolling sideways or down to reach it."""
    box = element.bounding_box()
    size = page.viewport_size
    assert box is not None
    assert size is not None
    across = box["x"] >= 0 and box["x"] + box["width"] <= size["width"]
    return bool(across and box["y"] >= 0 and box["y"] + box["height"] <= size["height"])


def export_three(raynet: RaynetStandIn, won_case: dict[str, Any], url: str) -> None:
    """OP-24-057 (1234), OP-24-077 (77) and the long code (60) delivered and posted."""
    raynet.add_case({**won_case, "id": 77, "code": "OP-24-077", "name": "Servis tiskáren"})
    raynet.add_case(
        {**won_case, "id": 60, "code": LONG_CODE, "name": "Rekonstrukce kanceláří ve třetím patře"}
    )
    for case_id in (1234, 77, 60):
        send_webhook(url, case_id)
    wait_until(lambda: len(raynet.posts) == 3, 30, "three exports written back to RAYNET")


def test_the_inbox_ticks_nothing_zips_the_chosen_and_undoes_a_mark(
    browser: Browser,
    raynet: RaynetStandIn,
    tmp_path: Path,
    environment: dict[str, str],
    won_case: dict[str, Any],
) -> None:
    exports = tmp_path / "exports"
    with serving(environment, tmp_path / "serve.log") as url:
        export_three(raynet, won_case, url)
        with looking(browser, url, "cs", "desktop") as page:
            page.get_by_role("link", name="K importu").click()
            rows = page.locator("table.inbox tbody tr")
            assert rows.count() == 3
            assert ticked(page) == []  # nothing is chosen until someone chooses
            long_row = page.locator("#file-60-1")
            assert LONG_NAME in long_row.inner_text()
            assert LONG_CODE in long_row.inner_text()  # the case code beside the name
            screenshot(page, "cs-desktop-inbox-nothing-ticked")
            for doklad in page.locator("td.doklad").all():
                assert line_count(doklad) == 1, doklad.inner_text()

            page.get_by_role("button", name="Vybrat vše").click()
            assert sorted(ticked(page)) == ["1234:1", "60:1", "77:1"]
            page.get_by_role("button", name="Zrušit výběr").click()
            assert ticked(page) == []

            page.locator("#file-77-1 input[type=checkbox]").check()
            long_row.locator("input[type=checkbox]").check()
            with page.expect_download() as download_info:
                page.get_by_role("button", name="Stáhnout vybrané jako ZIP").click()
            zipped = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
            assert sorted(zipped.namelist()) == sorted(["OP-24-077.xml", LONG_NAME])
            for name in zipped.namelist():
                assert zipped.read(name) == (exports / name).read_bytes()
            screenshot(page, "cs-desktop-inbox-two-ticked")

            page.get_by_role("button", name="Zrušit výběr").click()
            page.locator("#file-77-1 input[type=checkbox]").check()
            page.get_by_role("button", name="Označit vybrané jako naimportované").click()
            status = page.get_by_role("status")
            assert "1 soubor označen jako naimportovaný." in status.inner_text()
            assert page.locator("#file-77-1").count() == 0
            assert rows.count() == 2
            assert ticked(page) == []
            assert (exports / "OP-24-077.xml").exists()  # nothing is deleted
            screenshot(page, "cs-desktop-inbox-undo")

            page.get_by_role("link", name="Naimportované objednávky").click()
            imported = page.locator("table.inbox tbody")
            assert imported.locator("tr").count() == 1
            assert "Jana Účetní" in page.locator("#file-77-1").inner_text()
            screenshot(page, "cs-desktop-inbox-imported")

            page.go_back()
            page.get_by_role("button", name="Vrátit zpět").click()
            assert page.get_by_role("status").inner_text() == "1 soubor je zpět v seznamu."
            assert rows.count() == 3
            assert page.locator("#file-77-1").count() == 1
            assert ticked(page) == []

            page.goto(f"{url}/admin/cases/60")
            assert LONG_NAME in page.locator("main").inner_text()
            assert LONG_CODE in page.locator("h2").inner_text()
            screenshot(page, "cs-desktop-case-long-name")

        for language, size in EVERY_WAY:
            with looking(browser, url, language, size) as page:
                page.goto(f"{url}/admin/inbox")
                screenshot(page, f"{language}-{size}-inbox-long-names")
                assert fits_the_width(page), (language, size)
                choose_all, choose_none, mark_chosen = CHOOSING[language]
                mark = page.get_by_role("button", name=mark_chosen)
                assert in_view(page, mark), (language, size)
                assert ticked(page) == []
                page.get_by_role("button", name=choose_all).click()
                assert len(ticked(page)) == 3
                page.get_by_role("button", name=choose_none).click()
                assert ticked(page) == []
                page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
                page.screenshot(path=str(ARTIFACTS / f"{language}-{size}-inbox-scrolled.png"))
                assert in_view(page, mark), "the bar stays while scrolling"
                page.goto(f"{url}/admin/cases/60")
                screenshot(page, f"{language}-{size}-case-long-name")
                assert fits_the_width(page), (language, size)
                page.goto(f"{url}/admin/")
                screenshot(page, f"{language}-{size}-cases-long-name")
                assert fits_the_width(page), (language, size)


def case_api(url: str, case_id: int) -> dict[str, Any]:
    answer = requests.get(
        f"{url}/admin/api/cases/{case_id}",
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def verdict(url: str, case_id: int) -> str | None:
    exports = case_api(url, case_id)["exports"]
    money = exports[-1]["money"] if exports else None
    return str(money["outcome"]) if money else None


def moneys_words(report: Path) -> list[str]:
    """Every ErrorDescription in a report, as Money S3 wrote it."""
    root = etree.fromstring(report.read_bytes())
    return [info.findtext("ErrorDescription") or "" for info in root.iter("ErrorInfo")]


def test_an_order_money_refused_and_a_deal_changed_since_say_what_to_do(
    browser: Browser,
    raynet: RaynetStandIn,
    tmp_path: Path,
    environment: dict[str, str],
    won_case: dict[str, Any],
) -> None:
    """OP-24-057 carries a VAT rate the agenda lacks: Money S3 refuses it, and its report
    is read from the report folder. OP-24-077 goes in, then its quantity changes in
    RAYNET. Both pages say what happened and what to do; the list has a banner for each,
    until someone marks each as seen."""
    reports = tmp_path / "money-reports"
    reports.mkdir()
    settings = {**environment, "MONEY_S3_REPORTS": str(reports), "MONEY_S3_REPORTS_EVERY": "5"}
    items = [{**won_case["items"][0], "taxRate": 15, "discountPercent": 0}]
    total = sum(Decimal(str(i["price"])) * Decimal(str(i["count"])) for i in items)
    raynet.add_case(
        {
            **won_case,
            "items": items,
            "totalAmount": float(total),
            "totalAmountWithTax": float(total * Decimal("1.15")),
        }
    )
    raynet.add_case({**won_case, "id": 77, "code": "OP-24-077", "name": "Servis tiskáren"})
    with serving(settings, tmp_path / "serve.log") as url:
        for case_id in (1234, 77):
            send_webhook(url, case_id)
        wait_until(lambda: len(raynet.posts) == 2, 30, "two exports written back to RAYNET")
        written = MoneyS3StandIn().import_folder(tmp_path / "exports", reports)
        (refusal,) = [report for report in written if "OP-24-057" in report.name]
        words = moneys_words(refusal)
        assert words
        assert "15" in words[0]
        wait_until(lambda: verdict(url, 1234) == "refused", 30, "the refusal read")
        wait_until(lambda: verdict(url, 77) == "imported", 30, "the import read")
        changed = raynet.cases[77]
        changed["items"][0]["count"] = 3
        changed["totalAmount"], changed["totalAmountWithTax"] = 14700, 17787
        send_webhook(url, 77)
        wait_until(lambda: case_api(url, 77)["case"]["changes"] is not None, 30, "the change")

        for language, size in EVERY_WAY:
            with looking(browser, url, language, size) as page:
                screenshot(page, f"{language}-{size}-cases-refused-and-changed")
                assert fits_the_width(page), (language, size)
                assert len(page.locator(".banner").all()) == 2
                page.goto(f"{url}/admin/cases/1234")
                screenshot(page, f"{language}-{size}-case-refused")
                assert fits_the_width(page), (language, size)
                said = page.locator("#money-s3 table.messages").inner_text()
                for text in words:
                    assert text in said  # verbatim, in either language
                page.goto(f"{url}/admin/cases/77")
                screenshot(page, f"{language}-{size}-case-changed")
                assert fits_the_width(page), (language, size)

        with looking(browser, url, "cs", "desktop") as page:
            banners = page.locator(".banner")
            assert banners.all_inner_texts() == [
                "Money S3 nenaimportoval 1 objednávku: podívejte se proč a co dělat. Zobrazit →",
                "1 obchodní případ se změnil po odeslání objednávky do Money S3. Zobrazit →",
            ]
            banners.first.get_by_role("link", name="Zobrazit →").click()
            assert page.locator("h2").inner_text() == "Nenaimportováno do Money S3"
            refused_row = page.locator("#file-1234-1")
            assert "Money S3 odmítl" in refused_row.inner_text()
            assert words[0] in refused_row.inner_text()
            screenshot(page, "cs-desktop-inbox-refused")
            refused_row.get_by_role("link", name="OP-24-057", exact=True).click()

            section = page.locator("#money-s3")
            assert section.locator("h3").inner_text() == "Money S3 odmítl"
            assert section.locator(".advice").inner_text() == (
                "Odstraňte příčinu v Money S3 nebo v RAYNETu a soubor naimportujte znovu, "
                "případně obchodní případ na jeho stránce exportujte znovu."
            )
            section.get_by_role("button", name="Označit jako zkontrolované").click()
            assert page.get_by_role("status").inner_text() == "Označeno jako zkontrolované."
            assert "Zkontroloval(a) Jana Účetní" in page.locator("#money-s3").inner_text()
            assert page.locator("#money-s3 button").count() == 0
            screenshot(page, "cs-desktop-case-refused-seen")

            page.goto(f"{url}/admin/")
            assert page.locator(".banner").all_inner_texts() == [
                "1 obchodní případ se změnil po odeslání objednávky do Money S3. Zobrazit →"
            ]
            page.get_by_role("link", name="Zobrazit →").click()
            changed_row = page.locator("#file-77-1")
            assert "1 změna" in changed_row.inner_text() or "změny" in changed_row.inner_text()
            changed_row.get_by_role("link", name="OP-24-077", exact=True).click()
            changes = page.locator("#changes")
            assert changes.locator("h3").inner_text() == "Změněno po exportu"
            listed = changes.locator("ul.changes li").all_inner_texts()
            assert 'Monitor 24" Full HD: množství 2 → 3' in listed, listed
            assert "Chcete-li odeslat objednávku v nynější podobě" in changes.inner_text()
            assert "OP-24-077" in changes.locator(".advice").inner_text()
            changes.get_by_role("button", name="Zkontrolováno: objednávka v Money S3").click()
            assert page.get_by_role("status").inner_text() == "Označeno jako zkontrolované."
            assert "Zkontroloval(a) Jana Účetní" in page.locator("#changes").inner_text()
            assert page.locator("#changes button").count() == 0
            screenshot(page, "cs-desktop-case-changed-seen")
            page.goto(f"{url}/admin/")
            assert page.locator(".banner").count() == 0  # both seen: nothing needs a look
            page.goto(f"{url}/admin/cases/77")
            page.once("dialog", lambda dialog: dialog.accept())
            page.get_by_role("button", name="Exportovat znovu").click()
            assert page.get_by_role("status").inner_text() == (
                "Případ 77 je zařazen k dalšímu exportu."
            )
            wait_until(lambda: len(case_api(url, 77)["exports"]) == 2, 30, "the second file")


@dataclass
class Uploaded:
    """What the accountant uploaded, and how the bridge named each report."""

    url: str
    files: list[Path]
    unknown: str  # the Doklad no delivered file has


@contextmanager
def reports_uploaded(
    browser: Browser,
    raynet: RaynetStandIn,
    tmp_path: Path,
    environment: dict[str, str],
    won_case: dict[str, Any],
) -> Iterator[Uploaded]:
    """OP-24-057 and the long code delivered; the accountant imports them by hand and
    uploads Money's two reports, a report about an order no file here holds (Doklad
    OP-24-999) and a file that is no XML at all, in one go through the page's file input."""
    raynet.add_case({**won_case, "id": 60, "code": LONG_CODE, "name": "Rekonstrukce kanceláří"})
    exports, downloads = tmp_path / "exports", tmp_path / "downloads"
    with serving(environment, tmp_path / "serve.log") as url:
        for case_id in (1234, 60):
            send_webhook(url, case_id)
        wait_until(lambda: len(raynet.posts) == 2, 30, "two exports written back to RAYNET")
        money = MoneyS3StandIn()
        files = money.import_folder(exports, downloads)
        foreign = (exports / "OP-24-057.xml").read_bytes().replace(b"OP-24-057", b"OP-24-999")
        files.append(downloads / "protokol-ciziho-dokladu.xml")
        files[-1].write_bytes(money.import_document("OP-24-999.xml", foreign))
        files.append(downloads / "poznamky.xml")
        files[-1].write_bytes(b"Tohle neni protokol, jen poznamky.\n")
        assert len(files) == 4
        with looking(browser, url, "cs", "desktop") as page:
            page.get_by_role("link", name="Protokoly Money S3").click()
            assert "nahrajte protokoly sem" in page.locator("main").inner_text()
            page.get_by_label("Nahrát protokol importu (XML, i více najednou)").set_input_files(
                files
            )
            page.get_by_role("button", name="Nahrát protokoly").click()
            said = page.get_by_role("status").all_inner_texts()
            assert said[-1] == "Přečteny 3 protokoly.", said
            not_xml = "poznamky.xml: XML není správně utvořené: "  # why, in Czech
            assert any(text.startswith(not_xml) for text in said), said
            screenshot(page, "cs-desktop-reports-uploaded")
        yield Uploaded(url, files, "OP-24-999")


def test_reports_uploaded_several_at_once_are_read_and_listed(
    browser: Browser,
    raynet: RaynetStandIn,
    tmp_path: Path,
    environment: dict[str, str],
    won_case: dict[str, Any],
) -> None:
    with reports_uploaded(browser, raynet, tmp_path, environment, won_case) as uploaded:
        url = uploaded.url
        assert verdict(url, 1234) == "imported"
        assert verdict(url, 60) == "imported"
        for language, size in EVERY_WAY:
            with looking(browser, url, language, size) as page:
                page.goto(f"{url}/admin/reports")
                screenshot(page, f"{language}-{size}-reports")
                assert fits_the_width(page), (language, size)
                page.goto(f"{url}/admin/cases/60")
                screenshot(page, f"{language}-{size}-case-imported-by-report")
                assert fits_the_width(page), (language, size)

        with looking(browser, url, "cs", "phone") as page:
            page.goto(f"{url}/admin/reports")
            rows = page.locator("table.reports tbody tr")
            assert rows.count() == 4
            listed = {row.locator("td.file").inner_text(): row.inner_text() for row in rows.all()}
            problem = listed.pop("poznamky.xml")
            assert "nepřečteno XML není správně utvořené: " in problem
            (foreign,) = [text for name, text in listed.items() if "ciziho" in name]
            assert "1 objednávka neodpovídá žádnému doručenému souboru (neznámý doklad):" in foreign
            assert "OP-24-999 – naimportováno do Money S3" in foreign
            said_of_cases = " ".join(listed.values())
            assert "OP-24-057 – naimportováno do Money S3" in said_of_cases
            assert f"{LONG_CODE} – naimportováno do Money S3" in said_of_cases
            page.goto(f"{url}/admin/inbox")
            assert page.locator("table.inbox tbody tr").inner_text() == (
                "Není co importovat: každý doručený soubor je naimportovaný nebo označený jako "
                "naimportovaný."
            )  # both imported, by Money's word
            page.get_by_role("link", name="Naimportované objednávky").click()
            assert page.locator("#file-60-1").count() == 1
            assert "Money S3" in page.locator("#file-60-1").inner_text()
            screenshot(page, "cs-phone-inbox-imported-by-report")
            assert fits_the_width(page)


def test_each_report_names_the_cases_beside_it_and_keeps_its_name(
    browser: Browser,
    raynet: RaynetStandIn,
    tmp_path: Path,
    environment: dict[str, str],
    won_case: dict[str, Any],
) -> None:
    with (
        reports_uploaded(browser, raynet, tmp_path, environment, won_case) as uploaded,
        looking(browser, uploaded.url, "cs", "desktop") as page,
    ):
        page.goto(f"{uploaded.url}/admin/reports")
        rows = page.locator("table.reports tbody tr")
        names = [row.locator("td.file").inner_text() for row in rows.all()]
        assert sorted(names) == sorted(path.name for path in uploaded.files)
        for row in rows.all():
            name = row.locator("td.file").inner_text()
            if "OP~2F24" in name:
                assert LONG_CODE in row.inner_text()
            elif "OP-24-057" in name:
                assert "OP-24-057" in row.locator("td").nth(3).inner_text()


def focused(page: Page) -> str:
    """The focused element: its tag and name (``input name``, ``button``)."""
    return str(
        page.evaluate(
            "(() => { const e = document.activeElement;"
            " return [e.tagName.toLowerCase(), e.name || e.type].join(' '); })()"
        )
    )


def test_the_login_reaches_the_name_and_a_pause_is_said_once(
    browser: Browser, tmp_path: Path, environment: dict[str, str]
) -> None:
    """The name (who imported) is where the cursor starts, Tab goes on to the token and
    the button; after a wrong token the name stays. Pausing exports says so once."""
    paused = "Exporty jsou pozastavené; webhooky se dál ukládají."
    with serving(environment, tmp_path / "serve.log") as url:
        for size, viewport in SIZES.items():
            context = browser.new_context(locale="cs-CZ", viewport=viewport)
            page = context.new_page()
            page.goto(f"{url}/admin/")
            # autofocus is applied at the page's first rendering opportunity: waited for
            expect(page.locator("input[name=name]")).to_be_focused(timeout=5000)
            assert focused(page) == "input name"
            screenshot(page, f"cs-{size}-login")
            assert fits_the_width(page)
            page.keyboard.type("Jana Účetní")
            page.keyboard.press("Tab")
            assert focused(page) == "input token"
            page.keyboard.type("wrong-token-0123456789")
            page.keyboard.press("Tab")
            assert focused(page) == "button submit"
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert page.get_by_role("alert").inner_text() == "To není správný přístupový token."
            assert page.locator("input[name=name]").input_value() == "Jana Účetní"
            expect(page.locator("input[name=token]")).to_be_focused(timeout=5000)
            assert focused(page) == "input token"
            page.keyboard.type(ADMIN)
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert page.locator("input[name=token]").count() == 0
            context.close()

        with looking(browser, url, "cs", "desktop") as page:
            page.get_by_role("button", name="Pozastavit exporty").click()
            assert page.locator(".banner").all_inner_texts() == [paused]
            assert page.locator("body").inner_text().count(paused) == 1
            assert page.get_by_role("status").count() == 0
            assert "Exporty pozastavené" in page.locator(".sync").inner_text()
            screenshot(page, "cs-desktop-paused")
            page.get_by_role("button", name="Obnovit exporty").click()
            assert page.get_by_role("status").inner_text() == "Exporty běží."
            assert page.locator(".banner").count() == 0
