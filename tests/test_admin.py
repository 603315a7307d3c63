"""The admin dashboard and JSON API: off without a token, 401 without the right one."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.harness import Harness
from tests.support import TOKEN
from tests.test_fidelity import at_rate
from webhook.moneys3.standin import MoneyS3StandIn
from webhook.raynet.standin import RaynetStandIn
from webhook.web import create_app
from webhook.worker.chores import HEARTBEAT_FLAG

ADMIN = "admin-token-0123456789"
BEARER = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def harness(raynet: RaynetStandIn, tmp_path: Path) -> Harness:
    return Harness(
        raynet,
        tmp_path,
        WEBHOOK_TOKEN=TOKEN,
        ADMIN_TOKEN=ADMIN,
        WORKER_BACKOFF_BASE="3600",
        WORKER_BACKOFF_MAX="3600",
    )


@pytest.fixture
def admin_app(harness: Harness) -> Flask:
    return create_app(harness.settings)


def logged_in(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    response = client.post("/admin/login", data={"token": ADMIN, "name": "Jana"})
    assert response.status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    return client, match[1]


def test_dashboard_is_off_without_a_token(client: FlaskClient) -> None:
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/api/cases", headers=BEARER).status_code == 404


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789", ADMIN + "x"])
def test_pages_and_api_answer_401_without_the_right_token(
    admin_app: Flask, token: str | None
) -> None:
    client = admin_app.test_client()
    page = client.get("/admin/")
    assert page.status_code == 401
    assert 'name="token"' in page.get_data(as_text=True)  # the login form
    if token is not None:
        assert client.post("/admin/login", data={"token": token}).status_code == 401
        assert client.get("/admin/").status_code == 401
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    api = client.get("/admin/api/cases", headers=headers)
    assert api.status_code == 401
    assert api.json == {"error": "unauthorized", "message": "Authorization: Bearer <ADMIN_TOKEN>"}


@pytest.mark.parametrize(
    ("silent_seconds", "czech", "english"),
    [
        (65, "neozval už 1 minutu", "heard from for 1 minute:"),
        (185, "neozval už 3 minuty", "heard from for 3 minutes:"),
        (600, "neozval už 10 minut", "heard from for 10 minutes:"),
    ],
)
def test_a_silent_worker_banner_counts_minutes_in_each_language(
    admin_app: Flask, harness: Harness, silent_seconds: int, czech: str, english: str
) -> None:
    harness.records.set_flag(HEARTBEAT_FLAG, repr(time.time() - silent_seconds))
    client, _ = logged_in(admin_app)
    assert czech in client.get("/admin/").get_data(as_text=True)
    assert english in client.get("/admin/?lang=en").get_data(as_text=True)


def test_what_to_note_before_the_import_is_on_the_case_and_in_the_inbox(
    admin_app: Flask, harness: Harness, won_case: dict[str, Any]
) -> None:
    harness.raynet.add_case(at_rate(won_case, 2, 15))  # a rate the agenda may not know
    harness.webhook(1234)
    assert harness.drain() == "exported"
    client, _ = logged_in(admin_app)
    czech = "Položky 2 mají DPH 15 %, což není sazba agendy (12 %, 21 %): Money S3 je převezme"
    case = client.get("/admin/cases/1234").get_data(as_text=True)
    assert "Před importem mějte na paměti" in case
    assert czech in case
    assert czech in client.get("/admin/inbox").get_data(as_text=True)
    english = client.get("/admin/cases/1234?lang=en").get_data(as_text=True)
    assert "Items 2 have VAT 15 %, not one of the agenda&#39;s rates (12 %, 21 %)" in english


def test_webhooks_that_could_not_be_read_are_shown_as_they_came(admin_app: Flask) -> None:
    receiver = admin_app.test_client()
    signed = {"X-RAYNETCRM-Token": TOKEN}
    for body in (b"<script>alert(1)</script>\xff", b'{"eventId": "e-1", "type": "record.updated"}'):
        answer = receiver.post("/webhooks/raynet", data=body, headers=signed)
        assert answer.json == {"status": "ignored", "reason": "unreadable"}
    client, _ = logged_in(admin_app)
    page = client.get("/admin/webhooks").get_data(as_text=True)
    assert "Nečitelné webhooky" in page
    assert "tělo požadavku není JSON" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\ufffd" in page  # shown, never run
    assert "není to událost webhooku RAYNET: {&#34;data&#34;:" in page
    assert "26 bajtů" in page
    kept = client.get("/admin/api/webhooks/unreadable", headers=BEARER).json or {}
    assert [item["code"] for item in kept["unreadable"]] == [
        "webhook_not_event",
        "webhook_not_json",
    ]
    assert base64.b64decode(kept["unreadable"][1]["body_base64"]) == (
        b"<script>alert(1)</script>\xff"
    )


def test_cases_with_their_state_file_and_reason(
    admin_app: Flask, harness: Harness, won_case: dict[str, Any]
) -> None:
    harness.webhook(1234)
    harness.drain()
    harness.raynet.add_case({**won_case, "id": 77, "code": "OP-24-077", "status": "B_ACTIVE"})
    harness.webhook(77)
    harness.drain(case_id=77)
    harness.raynet.fail("businessCase/78/", 503)
    harness.webhook(78)
    harness.drain(case_id=78)
    client, _ = logged_in(admin_app)
    page = client.get("/admin/").get_data(as_text=True)  # Czech unless the reader asks
    assert '<html lang="cs">' in page
    assert "OP-24-057.xml" in page
    assert "doklad OP-24-057" in page
    assert "Stavební firma Novák s.r.o." in page
    assert "12\xa0886,50\xa0Kč" in page  # RAYNET's total with VAT, in Czech format
    assert "obchodní případ není vyhraný (stav otevřený)" in page
    assert "RAYNET na GET businessCase/78/ odpověděl 503" in page  # a technical reason, in Czech
    assert "1. pokus, další" in page
    assert "exportováno <strong>1</strong>" in page
    english = client.get("/admin/?lang=en").get_data(as_text=True)
    assert "the deal is not won (status open)" in english
    assert "12,886.50" in english
    assert "Bulk export" in english
    assert '<html lang="en">' in client.get("/admin/").get_data(as_text=True)  # remembered
    found = client.get("/admin/?q=24-077").get_data(as_text=True)
    assert "OP-24-077" in found
    assert "OP-24-057" not in found
    failed_only = client.get("/admin/?state=failed").get_data(as_text=True)
    assert "case-78" in failed_only
    assert "case-1234" not in failed_only


def test_a_direction_override_from_raynet_is_shown_not_obeyed(
    admin_app: Flask, harness: Harness, won_case: dict[str, Any]
) -> None:
    """U+202E in a case's name would show "fdp.exe" as "exe.pdf"; the page shows it as
    an escape instead, and amounts keep their no-break spaces."""
    harness.raynet.add_case({**won_case, "name": "Faktura \u202efdp.exe"})
    harness.webhook(1234)
    harness.drain()
    client, _ = logged_in(admin_app)
    page = client.get("/admin/cases/1234").get_data(as_text=True)
    assert "\u202e" not in page
    assert "Faktura \\u202efdp.exe" in page
    assert "12\xa0886,50\xa0Kč" in page


def test_retry_reexport_sync_and_download_from_the_pages(
    admin_app: Flask, harness: Harness
) -> None:
    harness.raynet.fail("businessCase/", 503)
    harness.webhook()
    assert harness.drain() == "failed"
    client, csrf = logged_in(admin_app)
    assert client.post("/admin/cases/1234/retry").status_code == 400  # no CSRF token
    response = client.post(
        "/admin/cases/1234/retry", data={"csrf": csrf}, headers={"Referer": "/admin/"}
    )
    assert response.status_code == 302
    assert "Případ 1234 je znovu zařazen k exportu." in client.get("/admin/").get_data(as_text=True)
    assert harness.drain() == "exported"
    download = client.get("/admin/cases/1234/files/1")
    assert download.status_code == 200
    assert download.data == (harness.exports / "OP-24-057.xml").read_bytes()
    assert 'filename="OP-24-057.xml"' in download.headers["Content-Disposition"]
    client.post("/admin/cases/1234/reexport", data={"csrf": csrf})
    assert harness.drain() == "exported"
    assert harness.files() == ["OP-24-057+2.xml", "OP-24-057.xml"]
    client.post("/admin/sync", data={"csrf": csrf, "enabled": "0"})
    assert not harness.records.sync_enabled()
    assert "pozastavené" in client.get("/admin/").get_data(as_text=True)
    refused = client.post("/admin/cases/1234/retry", data={"csrf": csrf})
    assert refused.status_code == 302
    assert "znovu lze zkusit jen chybné" in client.get("/admin/").get_data(as_text=True)


def test_json_api_offers_the_same_actions(admin_app: Flask, harness: Harness) -> None:
    harness.raynet.fail("businessCase/", 503)
    harness.webhook()
    harness.drain()
    client = admin_app.test_client()
    listed = client.get("/admin/api/cases?state=failed", headers=BEARER).json
    assert listed is not None
    assert [case["case_id"] for case in listed["cases"]] == [1234]
    assert client.post("/admin/api/cases/1234/reexport", headers=BEARER).status_code == 409
    retried = client.post("/admin/api/cases/1234/retry", headers=BEARER)
    assert retried.status_code == 202
    assert retried.json is not None
    assert retried.json["case"]["state"] == "pending"
    harness.drain()
    detail = client.get("/admin/api/cases/1234", headers=BEARER).json
    assert detail is not None
    assert detail["exports"][0]["file_name"] == "OP-24-057.xml"
    xml = client.get("/admin/api/cases/1234/files/1", headers=BEARER)
    assert xml.data == (harness.exports / "OP-24-057.xml").read_bytes()
    assert client.get("/admin/api/cases/999", headers=BEARER).status_code == 404
    assert client.put("/admin/api/sync", json={"enabled": False}, headers=BEARER).json == {
        "enabled": False,
        "switch": False,
        "environment": True,
    }
    assert client.put("/admin/api/sync", json={"enabled": "no"}, headers=BEARER).status_code == 400
    assert client.get("/admin/api/cases?state=bogus", headers=BEARER).status_code == 400


def test_configuration_summary_hides_secrets(admin_app: Flask, harness: Harness) -> None:
    config = admin_app.test_client().get("/admin/api/config", headers=BEARER).json
    assert config is not None
    assert config["config"]["RAYNET_API_KEY"] == "set (hidden)"
    assert config["config"]["WEBHOOK_TOKEN"] == "set (hidden)"
    client, _ = logged_in(admin_app)
    page = client.get("/admin/").get_data(as_text=True)
    for secret in (harness.raynet.api_key, TOKEN, ADMIN):
        assert secret not in page
        assert secret not in str(config)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/api/cases/9223372036854775808",
        "/admin/api/cases/1/files/99999999999999999999",
        "/admin/api/cases?offset=99999999999999999999",
        "/admin/api/cases?offset=-5",
    ],
)
def test_numbers_past_64_bits_are_400_in_the_api(admin_app: Flask, path: str) -> None:
    response = admin_app.test_client().get(path, headers=BEARER)
    assert response.status_code == 400
    assert response.json is not None


def test_numbers_past_64_bits_are_400_on_the_pages(admin_app: Flask) -> None:
    client, _ = logged_in(admin_app)
    assert client.get("/admin/cases/9223372036854775808").status_code == 400
    assert client.get("/admin/?offset=10000000000000000000000").status_code == 400


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("bridge_admin")
    assert cookie is not None
    return cookie.value


def test_a_saved_cookie_is_dead_after_logout(admin_app: Flask) -> None:
    """Row 11: logout ends the session on the server, not only in the browser."""
    client, csrf = logged_in(admin_app)
    saved = _cookie(client)
    assert client.post("/admin/logout", data={"csrf": csrf}).status_code == 302
    replay = admin_app.test_client()
    replay.set_cookie("bridge_admin", saved)
    assert replay.get("/admin/").status_code == 401


def test_an_idle_session_is_over_after_30_minutes(admin_app: Flask) -> None:
    client, _ = logged_in(admin_app)
    serializer = admin_app.session_interface.get_signing_serializer(admin_app)  # type: ignore[attr-defined]
    session = serializer.loads(_cookie(client))
    assert client.get("/admin/").status_code == 200
    idle = {**session, "seen": session["seen"] - 31 * 60}
    client.set_cookie("bridge_admin", serializer.dumps(idle))
    assert client.get("/admin/").status_code == 401
    recent = {**session, "seen": session["seen"] - 29 * 60}
    client.set_cookie("bridge_admin", serializer.dumps(recent))
    assert client.get("/admin/").status_code == 200


def test_login_tries_are_limited_per_address(admin_app: Flask) -> None:
    client = admin_app.test_client()
    for n in range(5):
        assert client.post("/admin/login", data={"token": f"guess-{n}"}).status_code == 401
    assert client.post("/admin/login", data={"token": ADMIN}).status_code == 429
    elsewhere = admin_app.test_client()
    answer = elsewhere.post(
        "/admin/login", data={"token": ADMIN}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert answer.status_code == 302


def test_every_answer_carries_the_security_headers(admin_app: Flask) -> None:
    client, _ = logged_in(admin_app)
    for path in ("/admin/", "/admin/login", "/healthz", "/admin/cases/1"):
        headers = client.get(path).headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cache-Control"] == "no-store"
    page = client.get("/admin/").get_data(as_text=True)
    assert "<style" not in page
    assert " on" + "submit=" not in page
    with client.get("/admin/static/admin.css") as stylesheet:
        assert stylesheet.status_code == 200
        assert "no-store" not in stylesheet.headers.get("Cache-Control", "")


@pytest.mark.parametrize(
    ("proxies", "forwarded", "secure"),
    [("0", "https", False), ("1", "https", True), ("1", "http", False)],
)
def test_the_cookie_is_secure_when_the_proxy_says_https(
    raynet: RaynetStandIn, tmp_path: Path, proxies: str, forwarded: str, secure: bool
) -> None:
    harness = Harness(
        raynet, tmp_path, WEBHOOK_TOKEN=TOKEN, ADMIN_TOKEN=ADMIN, TRUSTED_PROXIES=proxies
    )
    client = create_app(harness.settings).test_client()
    answer = client.post(
        "/admin/login", data={"token": ADMIN}, headers={"X-Forwarded-Proto": forwarded}
    )
    assert answer.status_code == 302
    assert ("Secure" in answer.headers["Set-Cookie"]) is secure


def test_errors_are_pages_on_the_dashboard_and_json_in_the_api(admin_app: Flask) -> None:
    client, _ = logged_in(admin_app)
    page = client.get("/admin/cases/999")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert "Nenalezeno" in page.get_data(as_text=True)
    assert "Případ 999 tu není evidován." in page.get_data(as_text=True)
    assert "Not found" in client.get("/admin/nowhere?lang=en").get_data(as_text=True)
    api = client.get("/admin/api/cases/999", headers=BEARER)
    assert (api.status_code, api.mimetype) == (404, "application/json")
    assert client.get("/webhooks/raynet").json == {
        "error": "method_not_allowed",
        "message": "The method is not allowed for the requested URL.",
    }


def test_the_inbox_lists_zips_and_marks_imported_files(admin_app: Flask, harness: Harness) -> None:
    harness.webhook()
    harness.drain()
    client, csrf = logged_in(admin_app)
    inbox = client.get("/admin/inbox").get_data(as_text=True)
    assert 'id="file-1234-1"' in inbox
    archive = client.get("/admin/inbox/orders.zip")
    assert archive.mimetype == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(archive.data)).namelist() == ["OP-24-057.xml"]
    for bad in ("1234", "x:1", f"{2**63}:1"):
        refused = client.post("/admin/inbox/imported", data={"csrf": csrf, "file": bad})
        assert refused.status_code == 400
    marked = client.post("/admin/inbox/imported", data={"csrf": csrf, "file": "1234:1"})
    assert marked.status_code == 302
    (export,) = harness.records.exports_of(1234)
    assert export.imported_by == "Jana"
    assert 'id="file-1234-1"' not in client.get("/admin/inbox").get_data(as_text=True)
    assert client.get("/admin/inbox/orders.zip").status_code == 404
    listed = client.get("/admin/api/deliveries?imported=1", headers=BEARER).json
    assert listed is not None
    assert [d["export"]["imported_by"] for d in listed["deliveries"]] == ["Jana"]
    again = client.post(
        "/admin/api/cases/1234/files/1/imported", json={"by": "Petr"}, headers=BEARER
    )
    assert (again.status_code, again.json) == (409, {"marked": False})  # the first mark counts
    assert client.get("/admin/inbox?since=yesterday").status_code == 400


def test_a_bulk_export_needs_a_range_that_makes_sense(admin_app: Flask) -> None:
    client, csrf = logged_in(admin_app)
    for since, until, said in (
        ("", "2026-11-29", "Zvolte obě data."),
        ("2026-11-29", "2026-11-01", "Období končí dřív, než začíná."),
    ):
        client.post("/admin/bulk", data={"csrf": csrf, "since": since, "until": until})
        assert said in client.get("/admin/bulk").get_data(as_text=True)


def test_the_inbox_ticks_nothing_zips_the_chosen_and_undoes_a_mark(
    admin_app: Flask, harness: Harness, won_case: dict[str, Any]
) -> None:
    harness.raynet.add_case({**won_case, "id": 77, "code": "OP-24-077"})
    for case_id in (1234, 77):
        harness.webhook(case_id)
        harness.drain(case_id=case_id)
    harness.clock.advance(-40 * 86400)  # (the state's clock: files of the same moment)
    client, csrf = logged_in(admin_app)
    inbox = client.get("/admin/inbox").get_data(as_text=True)
    assert inbox.count('name="file"') == 2
    assert " checked" not in inbox  # nothing is chosen for the accountant
    assert 'data-select="all"' in inbox
    chosen = client.post("/admin/inbox/orders.zip", data={"csrf": csrf, "file": "77:1"})
    assert zipfile.ZipFile(io.BytesIO(chosen.data)).namelist() == ["OP-24-077.xml"]
    marked = client.post("/admin/inbox/imported", data={"csrf": csrf, "file": ["77:1"]})
    assert marked.status_code == 302
    after = client.get(marked.headers["Location"]).get_data(as_text=True)
    assert 'id="file-77-1"' not in after
    assert "1 soubor označen jako naimportovaný" in after or "Undo" in after or "Vrátit" in after
    undone = client.post("/admin/inbox/unmark", data={"csrf": csrf, "files": "77:1"})
    assert undone.status_code == 302
    assert 'id="file-77-1"' in client.get("/admin/inbox").get_data(as_text=True)
    imported = client.get("/admin/inbox?view=imported").get_data(as_text=True)
    assert 'id="file-77-1"' not in imported


def test_a_file_delivered_long_ago_stays_on_the_list_and_is_overdue(
    admin_app: Flask, harness: Harness
) -> None:
    harness.clock.advance(-45 * 86400)
    harness.webhook()
    harness.drain()
    client, _ = logged_in(admin_app)
    assert 'id="file-1234-1"' in client.get("/admin/inbox").get_data(as_text=True)
    page = client.get("/admin/").get_data(as_text=True)
    assert "čeká na import déle než 2 pracovní dny" in page
    overdue = client.get("/admin/inbox?view=overdue").get_data(as_text=True)
    assert 'id="file-1234-1"' in overdue


def test_an_uploaded_report_larger_than_a_webhook_shows_moneys_refusal_on_the_case(
    admin_app: Flask, harness: Harness, won_case: dict[str, Any], tmp_path: Path
) -> None:
    item = {**won_case["items"][0], "taxRate": 15, "discountPercent": 0}
    harness.raynet.add_case(
        {**won_case, "items": [item], "totalAmount": 9000, "totalAmountWithTax": 10350}
    )
    harness.webhook()
    harness.drain()
    (written,) = MoneyS3StandIn().import_folder(harness.exports, tmp_path / "downloads")
    padded = written.read_bytes() + b"<!--" + b" " * 100_000 + b"-->"  # over 64 kB
    client, csrf = logged_in(admin_app)
    answer = client.post(
        "/admin/reports",
        data={
            "csrf": csrf,
            "report": [(io.BytesIO(padded), "protokol.xml"), (io.BytesIO(b"junk"), "x.xml")],
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    listing = client.get("/admin/reports").get_data(as_text=True)
    assert "protokol.xml" in listing
    assert "nepřečteno" in listing  # x.xml, with why
    page = client.get("/admin/cases/1234").get_data(as_text=True)
    assert "<h3>Money S3 odmítl</h3>" in page  # the outcome, not "Money S3: Money S3 …"
    assert "Sazba DPH 15" in page  # Money's own words
    assert "Money S3 nenaimportoval 1 objednávku" in page  # the banner
    seen = client.post("/admin/cases/1234/files/1/acknowledged", data={"csrf": csrf})
    assert seen.status_code == 302
    assert "Zkontroloval(a) Jana" in client.get("/admin/cases/1234").get_data(as_text=True)
    assert "nenaimportoval 1" not in client.get("/admin/").get_data(as_text=True)


def test_the_case_list_sorts_and_filters_by_day(
    admin_app: Flask, harness: Harness, won_case: dict[str, Any]
) -> None:
    harness.raynet.add_case({**won_case, "id": 77, "code": "AA-01"})
    harness.webhook(1234)
    harness.drain()
    harness.clock.advance(-3 * 86400)  # case 77 was last changed three days ago
    harness.webhook(77)
    harness.drain(case_id=77)
    client, _ = logged_in(admin_app)
    changed = client.get("/admin/").get_data(as_text=True)
    assert changed.index("case-1234") < changed.index("case-77")
    by_code = client.get("/admin/?order=code").get_data(as_text=True)
    assert by_code.index("case-77") < by_code.index("case-1234")
    assert 'value="code" selected' in by_code
    today = dt.date.fromtimestamp(time.time()).isoformat()
    recent = client.get(f"/admin/?since={today}").get_data(as_text=True)
    assert "case-1234" in recent
    assert "case-77" not in recent
    assert client.get("/admin/?since=soon").status_code == 400


def test_a_file_is_marked_imported_from_its_case_page(admin_app: Flask, harness: Harness) -> None:
    harness.webhook()
    harness.drain()
    client, csrf = logged_in(admin_app)
    page = client.get("/admin/cases/1234").get_data(as_text=True)
    assert "/admin/cases/1234/files/1/imported" in page
    marked = client.post("/admin/cases/1234/files/1/imported", data={"csrf": csrf})
    assert marked.status_code == 302
    (export,) = harness.records.exports_of(1234)
    assert export.imported_by == "Jana"
    assert "/admin/cases/1234/files/1/imported" not in client.get("/admin/cases/1234").get_data(
        as_text=True
    )
    forged = client.post("/admin/cases/1234/files/1/imported", data={})
    assert forged.status_code == 400  # no CSRF token, no mark


def test_changes_since_export_are_marked_seen_in_the_list_and_by_a_script(
    admin_app: Flask, harness: Harness
) -> None:
    harness.webhook()
    harness.drain()
    harness.raynet.cases[1234]["items"][0]["count"] = 3
    harness.clock.advance(601)
    harness.webhook()
    harness.follow_ups.run_due()
    client, csrf = logged_in(admin_app)
    listed = client.get("/admin/inbox?view=changed").get_data(as_text=True)
    assert 'id="file-1234-1"' in listed
    assert "Označit vybrané jako zkontrolované" in listed
    assert "se změnil po odeslání objednávky" in client.get("/admin/").get_data(as_text=True)
    missing = client.post(
        "/admin/api/cases/1234/files/1/changes-seen", json={"by": ""}, headers=BEARER
    )
    assert missing.status_code == 400
    listed_fingerprint = re.search(r'name="shown-1234-1" value="([0-9a-f]{16})"', listed)
    assert listed_fingerprint is not None
    chosen = {"csrf": csrf, "view": "changed", "file": "1234:1"}
    stale = client.post("/admin/inbox/acknowledged", data={**chosen, "shown-1234-1": "0" * 16})
    assert stale.status_code == 302
    assert 'id="file-1234-1"' in client.get("/admin/inbox?view=changed").get_data(as_text=True)
    seen = client.post(
        "/admin/inbox/acknowledged", data={**chosen, "shown-1234-1": listed_fingerprint[1]}
    )
    assert seen.status_code == 302
    assert 'id="file-1234-1"' not in client.get("/admin/inbox?view=changed").get_data(as_text=True)
    assert "se změnil po odeslání objednávky" not in client.get("/admin/").get_data(as_text=True)
    case = harness.records.case(1234)
    assert case is not None
    assert case.changes is not None
    assert case.changes.seen_by == "Jana"
    again = client.post(
        "/admin/api/cases/1234/files/1/changes-seen", json={"by": "Petr"}, headers=BEARER
    )
    assert (again.status_code, again.json) == (409, {"seen": False})  # the first mark counts
    shown = client.get("/admin/api/cases/1234", headers=BEARER).json
    assert shown is not None
    assert shown["changes_fingerprint"] == listed_fingerprint[1]
    no_verdict = client.post(
        "/admin/api/cases/1234/files/1/acknowledged", json={"by": "Petr"}, headers=BEARER
    )
    assert (no_verdict.status_code, no_verdict.json) == (409, {"seen": False})
