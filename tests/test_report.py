"""The daily report, against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.harness import Harness
from tests.servers import Inbox
from webhook.moneys3.standin import MoneyS3StandIn
from webhook.raynet.standin import RaynetStandIn
from webhook.state.model import FollowUp

DAY = 24 * 3600


def report_harness(raynet: RaynetStandIn, tmp_path: Path, port: int, **extra: str) -> Harness:
    settings = {
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "NOTIFY_EMAIL": "ucetni@firma.cz",
        "REPORT_EMAIL": "provoz@firma.cz",
        "REPORT_HOUR": "0",
        "RAYNET_WRITE_BACK": "0",
        "PUBLIC_URL": "https://most.firma.cz",
    }
    return Harness(raynet, tmp_path, **{**settings, **extra})


def test_one_report_a_day_from_two_workers_in_czech(
    raynet: RaynetStandIn,
    tmp_path: Path,
    smtp: tuple[int, Inbox],
    won_case: dict[str, Any],
    state_mode: dict[str, str],
) -> None:
    port, inbox = smtp
    slow_retries = {"WORKER_BACKOFF_BASE": "3600", "WORKER_BACKOFF_MAX": "3600"}  # 78 fails
    first = report_harness(raynet, tmp_path, port, **state_mode, **slow_retries)
    second = report_harness(raynet, tmp_path, port, **state_mode, **slow_retries)
    raynet.add_case({**won_case, "id": 77, "code": "OP-24-077", "status": "B_ACTIVE"})
    raynet.add_case({**won_case, "id": 78, "code": "OP-24-078"})
    raynet.fail("businessCase/78/", 500, times=100, body={"message": "fault 500"})
    for case_id in (1234, 77, 78):
        first.webhook(case_id)
    first.drain()
    first.drain(case_id=77)
    first.drain(until_state="failed", case_id=78)
    first.follow_ups.run_one([FollowUp.EMAIL])  # the order's own e-mail
    assert [m["Subject"] for m in inbox.messages] == ["Objednávka z RAYNET CRM: OP-24-057"]
    barrier = threading.Barrier(2)

    def next_day(harness: Harness) -> None:
        """A worker's rounds the next day, after REPORT_HOUR: both at the same moment."""
        harness.clock.advance(DAY)
        assert harness.follow_ups.report is not None
        barrier.wait()
        harness.follow_ups.report.schedule_if_due()
        harness.follow_ups.run_due()

    workers = [threading.Thread(target=next_day, args=(h,)) for h in (first, second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(inbox.messages) == 2
    report = inbox.messages[1]
    assert report["Subject"].startswith("RAYNET → Money S3, ")
    assert report["Subject"].endswith(": doručeno 1, pozornost potřebuje 1")
    assert report["To"] == "ucetni@firma.cz, provoz@firma.cz"
    body = report.get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert (
        "Doručené objednávky: 1\n- OP-24-057: OP-24-057.xml, Stavební firma Novák s.r.o., "
        "12\xa0886,50\xa0Kč" in text
    )
    assert (
        "Neexportované případy: 1\n- OP-24-077: obchodní případ není vyhraný (stav otevřený)"
        in text
    )
    assert (
        "Případy, které potřebují pozornost: 1\n"
        "- 78 (chyba): RAYNET na GET businessCase/78/ odpověděl 500" in text
    )
    assert "Zkouší se znovu samo" in text
    assert "Přehled: https://most.firma.cz/admin/" in text
    if state_mode:  # a file in a bucket is linked (a presigned URL), not attached
        assert list(report.iter_attachments()) == []
        assert "/orders/OP-24-057.xml?" in text
        return
    (attachment,) = list(report.iter_attachments())
    assert attachment.get_filename() == "OP-24-057.xml"
    assert attachment.get_content() == first.file("OP-24-057.xml")


def test_the_report_lists_what_money_refused_and_what_waits_too_long(
    raynet: RaynetStandIn, tmp_path: Path, smtp: tuple[int, Inbox], won_case: dict[str, Any]
) -> None:
    port, _ = smtp
    folder = tmp_path / "money-reports"
    harness = report_harness(raynet, tmp_path, port, MONEY_S3_REPORTS=str(folder))
    item = {**won_case["items"][0], "taxRate": 15, "discountPercent": 0}  # Money refuses it
    raynet.add_case({**won_case, "items": [item], "totalAmount": 9000, "totalAmountWithTax": 10350})
    raynet.add_case({**won_case, "id": 60, "code": "OP-24-060"})
    for case_id in (1234, 60):
        harness.webhook(case_id)
        assert harness.drain(case_id=case_id) == "exported"
    folder.mkdir()
    report = MoneyS3StandIn().import_document("OP-24-057.xml", harness.file("OP-24-057.xml"))
    (folder / "OP-24-057_report.xml").write_bytes(report)  # OP-24-060 not imported
    assert harness.service.chores.money_reports is not None
    assert harness.service.chores.money_reports.poll() == 1
    harness.clock.advance(5 * DAY)  # OP-24-060 is neither imported nor marked since
    assert harness.follow_ups.report is not None
    day = int(time.strftime("%Y%m%d", time.localtime(harness.clock())))
    body = harness.follow_ups.report.message(day).get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert "\nNenaimportováno do Money S3: 1\n- OP-24-057: OP-24-057.xml: " in text
    refused = text.split("Nenaimportováno do Money S3: 1\n")[1].splitlines()[0]
    assert "15" in refused  # Money's own words on the rate it does not know
    assert "\nČeká na import déle než 2 pracovní dny: 1\n- OP-24-060: OP-24-060.xml\n" in text


def test_no_report_before_the_hour_or_without_mail(
    raynet: RaynetStandIn, tmp_path: Path, smtp: tuple[int, Inbox]
) -> None:
    port, _ = smtp
    off = report_harness(raynet, tmp_path / "off", port, REPORT_HOUR="off")
    assert off.follow_ups.report is None
    without_mail = Harness(raynet, tmp_path / "nomail")
    assert without_mail.follow_ups.report is None
    late = report_harness(raynet, tmp_path / "late", port, REPORT_HOUR="23")
    assert late.follow_ups.report is not None
    hour = time.localtime(late.clock()).tm_hour
    assert late.follow_ups.report.schedule_if_due() is (hour >= 23)
