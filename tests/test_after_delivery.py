"""After delivery, on the real state file: Money S3's reports read into each case, and a
deal changed since its export caught. Money S3 is the stand-in importing the real files
under Money's default definition (``webhook/moneys3/standin.py``)."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY

from tests.harness import Harness
from tests.support import TOKEN, AwsQueue, xsd_dir
from tests.test_fidelity import harness_env
from webhook.delivery.folder import FolderTarget
from webhook.delivery.reports import FolderReports
from webhook.delivery.target import DeliveryUnavailable
from webhook.moneys3.standin import MoneyS3StandIn
from webhook.moneys3.validation import ReportValidator
from webhook.ops.cli import main
from webhook.order import Change, DigestLine, OrderDigest, order_changes
from webhook.raynet.standin import RaynetStandIn
from webhook.state.attention import attention, overdue_cutoff, to_import
from webhook.state.model import CaseEvent, FollowUp, ImportOutcome, problem_from
from webhook.web import create_app
from webhook.wiring import build_money_reports
from webhook.worker.chores import REPORTS_FLAG
from webhook.worker.money_reports import MoneyReports

ADMIN_TOKEN = "admin-token-0123456789"
NEWS = (FollowUp.IMPORTED_POST, FollowUp.REFUSED_POST, FollowUp.REFUSED_EMAIL)


@pytest.fixture
def harness(raynet: RaynetStandIn, tmp_path: Path) -> Harness:
    return Harness(raynet, tmp_path, MONEY_S3_REPORTS=str(tmp_path / "reports"))


@pytest.fixture
def reports(harness: Harness) -> MoneyReports:
    return MoneyReports(
        harness.records,
        harness.state.outbox,
        NEWS,
        source=FolderReports(harness.exports.parent / "reports"),
        target=harness.service.chores.target,
        validator=ReportValidator(xsd_dir()),
        clock=harness.clock,
    )


def exported(harness: Harness) -> None:
    harness.webhook()
    assert harness.drain() == "exported"


def money_imports(harness: Harness, money: MoneyS3StandIn | None = None) -> MoneyS3StandIn:
    money = money or MoneyS3StandIn()
    money.import_folder(harness.exports, harness.exports.parent / "reports")
    return money


def news(harness: Harness) -> set[str]:
    return {item.kind.value for item in harness.state.outbox.of_case(1234) if item.kind in NEWS}


def test_an_imported_order_leaves_the_list_once_however_often_its_report_is_read(
    harness: Harness, reports: MoneyReports
) -> None:
    exported(harness)
    money = money_imports(harness)
    imports = {"instance": "", "result": "imported"}
    before = REGISTRY.get_sample_value("bridge_money_imports_total", imports) or 0
    assert reports.poll() == 1
    assert REGISTRY.get_sample_value("bridge_money_imports_total", imports) == before + 1
    (latest,) = harness.records.exports_of(1234)
    assert latest.money is not None
    assert latest.money.outcome is ImportOutcome.IMPORTED
    assert (latest.imported_by, latest.imported_at is not None) == ("Money S3", True)
    assert harness.records.deliveries(0) == []  # off the accountant's list
    assert news(harness) == {"money_imported_post"}
    assert reports.poll() == 0  # the same report is not read again
    (report,) = harness.records.reports()
    os.utime(harness.exports.parent / "reports" / report.name, ns=(1, 1))  # touched
    assert reports.poll() == 1  # a new version is read again, and changes nothing
    assert harness.records.exports_of(1234)[0].money == latest.money
    money_imports(harness, MoneyS3StandIn(money.agenda))  # imported again: Money skips it
    assert reports.poll() == 1
    assert harness.records.exports_of(1234)[0].money == latest.money
    assert news(harness) == {"money_imported_post"}  # "Money had it" about it is no news


def test_a_refused_order_keeps_moneys_words_and_asks_for_a_post_and_an_e_mail(
    harness: Harness, reports: MoneyReports, won_case: dict[str, Any]
) -> None:
    item = {**won_case["items"][0], "taxRate": 15, "discountPercent": 0}
    harness.raynet.add_case(
        {**won_case, "items": [item], "totalAmount": 9000, "totalAmountWithTax": 10350}
    )
    exported(harness)
    money_imports(harness)
    reports.poll()
    verdict = harness.records.exports_of(1234)[0].money
    assert verdict is not None
    assert verdict.outcome is ImportOutcome.REFUSED
    (message,) = verdict.messages
    assert "15" in message.description
    assert harness.records.deliveries(0) != []  # still to be imported
    assert news(harness) == {"money_refused_post", "money_refused_email"}
    needs = attention(harness.records, harness.clock(), 2)
    assert [d.export.file_name for d in needs.refused] == ["OP-24-057.xml"]
    status = CliRunner().invoke(main, ["status"], env=harness_env(harness))
    assert status.exit_code == 0, status.output
    assert "; Money S3: refused: ObjPrij" in status.output  # and Money's own words after it
    assert "15" in status.output.split("; Money S3: refused: ", 1)[1].splitlines()[0]
    assert harness.records.acknowledge(1234, 1, "Jana")
    assert not harness.records.acknowledge(1234, 1, "Jana")
    assert attention(harness.records, harness.clock(), 2).refused == ()


def test_a_number_money_already_had_is_its_own_outcome(
    harness: Harness, reports: MoneyReports
) -> None:
    """An order of Money's own with the same number (a collision): not a success."""
    money = MoneyS3StandIn()
    money.agenda.orders["OP-24-057"] = None  # type: ignore[assignment]  # Money's own order
    exported(harness)
    money_imports(harness, money)
    reports.poll()
    verdict = harness.records.exports_of(1234)[0].money
    assert verdict is not None
    assert verdict.outcome is ImportOutcome.ALREADY_THERE
    assert harness.records.exports_of(1234)[0].imported_at is None


def test_unknown_orders_and_files_that_are_no_reports_are_listed_and_the_loop_goes_on(
    harness: Harness, reports: MoneyReports, tmp_path: Path, won_case: dict[str, Any]
) -> None:
    folder = tmp_path / "reports"
    exported(harness)
    harness.raynet.add_case({**won_case, "id": 4321, "code": "OP-24-099"})
    other = Harness(harness.raynet, tmp_path / "elsewhere")  # a case this state never saw
    other.webhook(4321)
    assert other.drain(case_id=4321) == "exported"
    MoneyS3StandIn().import_folder(other.exports, folder)
    (folder / "b-garbage.xml").write_bytes(b"\x00not xml")
    (folder / "c-order.xml").write_bytes((harness.exports / "OP-24-057.xml").read_bytes())
    (folder / "notes.txt").write_text("not a report")
    (folder / "archive").mkdir()
    (folder / "archive" / "old.xml").write_bytes(b"<x/>")
    assert reports.poll() == 3
    by_name = {report.name: report for report in harness.records.reports()}
    problems = {name: by_name[name].problem for name in ("b-garbage.xml", "c-order.xml")}
    assert {name: problem and problem.code for name, problem in problems.items()} == {
        "b-garbage.xml": "report_not_xml",  # kept as a reason, shown in the reader's language
        "c-order.xml": "report_foreign",
    }
    (known,) = [r for r in by_name.values() if r.problem is None]
    assert [(u.doklad, u.outcome) for u in known.unknown] == [("OP-24-099", "imported")]
    assert harness.records.exports_of(1234)[0].money is None
    assert sorted(by_name) == sorted({known.name, "b-garbage.xml", "c-order.xml"})


def test_an_unreadable_report_folder_is_a_flag_not_a_crash(
    harness: Harness, tmp_path: Path
) -> None:
    chores = harness.service.chores
    assert chores.money_reports is not None
    chores.money_reports_every = 0.0
    chores.run_due()  # the folder does not exist yet
    assert "cannot be read" in str(problem_from(harness.records.flag(REPORTS_FLAG)))
    (tmp_path / "reports").mkdir()
    chores.records.set_flag("money_reports_turn", None)
    chores.run_due()
    assert harness.records.flag(REPORTS_FLAG) is None


def test_what_stops_exports_and_reports_is_said_in_the_readers_language(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    reports = str(tmp_path / "reports")  # not there
    harness = Harness(
        raynet, tmp_path, MONEY_S3_REPORTS=reports, ADMIN_TOKEN=ADMIN_TOKEN, WEBHOOK_TOKEN=TOKEN
    )
    chores = harness.service.chores
    chores.target = FolderTarget(tmp_path / "unmounted")
    chores.money_reports_every = 0.0
    chores.watch_target()
    chores.run_due()
    client = create_app(harness.settings).test_client()
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 302
    czech = client.get("/admin/").get_data(as_text=True)
    unmounted = f"{tmp_path}/unmounted"
    assert f"nelze ukládat soubory: EXPORT_TARGET {unmounted} neexistuje (je sdílená" in czech
    assert (
        f"Protokoly Money S3 nelze číst: MONEY_S3_REPORTS {reports} nelze číst: "
        "soubor ani složka neexistuje"  # the operating system's word too
    ) in czech
    english = client.get("/admin/?lang=en").get_data(as_text=True)
    assert f"takes no files: EXPORT_TARGET {unmounted} does not exist" in english
    assert f"MONEY_S3_REPORTS {reports} cannot be read: no such file or folder" in english
    ready = client.get("/readyz").json or {}
    assert ready["checks"]["export_target"].startswith("EXPORT_TARGET ")  # for machines: English


def test_the_folder_lists_only_reports_directly_in_it(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(b"<a/>")
    (tmp_path / "B.XML").write_bytes(b"<b/>")
    (tmp_path / "c.txt").write_bytes(b"c")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.xml").write_bytes(b"<d/>")
    assert sorted(r.name for r in FolderReports(tmp_path).listing()) == ["B.XML", "a.xml"]
    with pytest.raises(DeliveryUnavailable):
        FolderReports(tmp_path / "missing").listing()


def test_an_upload_is_read_like_a_report_from_the_folder(harness: Harness, tmp_path: Path) -> None:
    exported(harness)
    written = MoneyS3StandIn().import_folder(harness.exports, tmp_path / "downloads")
    uploads = build_money_reports(harness.settings, harness.state, harness.service.chores.target)
    record = uploads.take("protokol.xml", None, written[0].read_bytes())
    assert (record.problem, record.entries, record.unknown) == (None, 1, ())
    verdict = harness.records.exports_of(1234)[0].money
    assert verdict is not None
    assert verdict.report == "protokol.xml"


# --- changed after export -----------------------------------------------------------------


def test_a_deal_changed_after_its_export_is_found_and_told_once(harness: Harness) -> None:
    exported(harness)
    harness.follow_ups.run_due()  # write-back: the post that the order is ready
    posts = len(harness.raynet.posts[1234])
    harness.queue.record_event(CaseEvent("own", 1234, "record.updated", by_bridge=True))
    assert not [i for i in harness.state.outbox.of_case(1234) if i.kind is FollowUp.CHANGE_CHECK]
    harness.raynet.cases[1234]["items"][0]["count"] = 3
    harness.raynet.cases[1234]["totalAmount"] = 14700
    harness.raynet.cases[1234]["totalAmountWithTax"] = 17787
    harness.webhook()
    harness.follow_ups.run_due()
    case = harness.records.case(1234)
    assert case is not None
    assert case.changes is not None
    whats = [change.what for change in case.changes.changes]
    assert whats == ["quantity", "total_gross"]
    harness.follow_ups.run_due()
    assert len(harness.raynet.posts[1234]) == posts + 1
    assert "množství 2 → 3" in harness.raynet.posts[1234][-1]["comment"]
    assert "Celkem s DPH: 12\xa0886,5 → 17\xa0787" in harness.raynet.posts[1234][-1]["comment"]
    reads = len(harness.raynet.reads("businessCase/1234/"))
    harness.webhook()  # within CHANGE_CHECK_EVERY: no read now, one later
    harness.follow_ups.run_due()
    assert len(harness.raynet.reads("businessCase/1234/")) == reads
    harness.clock.advance(601)
    harness.follow_ups.run_due()
    assert len(harness.raynet.reads("businessCase/1234/")) == reads + 1
    assert len(harness.raynet.posts[1234]) == posts + 1  # the same changes: told once


def test_changes_seen_leave_the_lists_until_the_deal_changes_otherwise(
    raynet: RaynetStandIn, tmp_path: Path, state_mode: dict[str, str]
) -> None:
    """The accountant fixed the order in Money S3 by hand: the changes, marked as seen, are
    off the banner's list and stay seen while a check finds the same; a further difference
    is news again, told once more. In both state modes."""
    harness = Harness(raynet, tmp_path, **state_mode)
    exported(harness)
    harness.follow_ups.run_due()
    posts = len(harness.raynet.posts[1234])

    def changed_in(count: int, total: int) -> None:
        harness.raynet.cases[1234]["items"][0]["count"] = count
        harness.raynet.cases[1234]["totalAmount"] = total
        harness.raynet.cases[1234]["totalAmountWithTax"] = total * Decimal("1.21")
        harness.clock.advance(601)
        harness.webhook()
        harness.follow_ups.run_due()
        harness.follow_ups.run_due()

    def needing_a_look() -> list[int]:
        return [d.export.case_id for d in attention(harness.records, harness.clock(), 2).changed]

    def seen() -> tuple[str | None, float | None]:
        case = harness.records.case(1234)
        assert case is not None
        assert case.changes is not None
        return case.changes.seen_by, case.changes.seen_at

    changed_in(3, 14700)
    assert needing_a_look() == [1234]
    case = harness.records.case(1234)
    assert case is not None
    assert case.changes is not None
    shown = case.changes.fingerprint  # what the page listed
    assert not harness.records.acknowledge_changes(1234, 2, "Jana", shown)  # no such file
    assert not harness.records.acknowledge_changes(1234, 1, "Jana", "0" * 16)  # not these
    assert harness.records.acknowledge_changes(1234, 1, "Jana", shown)
    assert not harness.records.acknowledge_changes(1234, 1, "Petr")  # seen already
    by, at = seen()
    assert by == "Jana"
    assert harness.clock() - 60 < (at or 0) <= harness.clock()
    assert needing_a_look() == []
    status = CliRunner().invoke(main, ["status"], env={**harness_env(harness), **state_mode})
    assert "; changed since export (2 differences), seen by Jana" in status.output
    changed_in(3, 14700)  # checked again, the same difference: still seen, not told again
    assert seen()[0] == "Jana"
    assert needing_a_look() == []
    assert len(harness.raynet.posts[1234]) == posts + 1
    changed_in(4, 19600)  # another difference: news
    assert seen() == (None, None)
    assert needing_a_look() == [1234]
    assert len(harness.raynet.posts[1234]) == posts + 2
    assert "množství 2 → 4" in harness.raynet.posts[1234][-1]["comment"]
    # a page still showing the first differences cannot mark the new ones as seen
    assert not harness.records.acknowledge_changes(1234, 1, "Jana", shown)
    assert needing_a_look() == [1234]
    company = harness.raynet.companies[881]
    company["name"], name = "Novák a syn s.r.o.", company["name"]
    changed_in(4, 19600)  # the customer renamed as well: news, told
    assert len(harness.raynet.posts[1234]) == posts + 3
    case = harness.records.case(1234)
    assert case is not None
    assert case.changes is not None
    assert harness.records.acknowledge_changes(1234, 1, "Petr", case.changes.fingerprint)
    company["name"] = name
    changed_in(4, 19600)  # the rename undone: fewer differences, no news, still seen
    assert seen()[0] == "Petr"
    assert needing_a_look() == []
    assert len(harness.raynet.posts[1234]) == posts + 3


def test_a_deal_lost_after_its_export_counts_as_changed(harness: Harness) -> None:
    exported(harness)
    harness.raynet.cases[1234]["status"] = "E_LOST"
    harness.webhook()
    harness.follow_ups.run_due()
    case = harness.records.case(1234)
    assert case is not None
    assert case.changes is not None
    (change,) = case.changes.changes
    assert change.what == "no_longer_exportable"
    assert "E_LOST" in (change.new or "")


def digest(*lines: tuple[str, str, str], customer: str = "Novák") -> OrderDigest:
    made = tuple(
        DigestLine(name, None, Decimal(quantity), Decimal(price), Decimal(21), Decimal(0))
        for name, quantity, price in lines
    )
    total = sum((line.quantity * line.unit_price for line in made), Decimal(0))
    return OrderDigest(customer, "27082440", "CZK", made, total, total * Decimal("1.21"))


def test_order_changes_pair_lines_by_item_and_say_old_and_new() -> None:
    before = digest(("Monitor", "2", "4500"), ("Kabel", "1", "100"), ("Kabel", "1", "100"))
    assert order_changes(before, before) == ()
    after = digest(("Monitor", "2", "4200"), ("Kabel", "1", "100"), ("Myš", "1", "300"))
    assert order_changes(before, after) == (
        Change("unit_price", "4500", "4200", "Monitor"),
        Change("line_removed", "1 × 100, 21 %", None, "Kabel"),
        Change("line_added", None, "1 × 300, 21 %", "Myš"),
        Change("total_gross", "11132", "10648"),
    )
    renamed = digest(("Monitor", "2", "4500"), customer="Novák s.r.o.")
    assert order_changes(before, renamed)[0] == Change("customer", "Novák", "Novák s.r.o.")


def test_overdue_counts_working_days_only() -> None:
    friday_noon = dt.datetime(2026, 12, 4, 12, 0).timestamp()
    monday_noon = dt.datetime(2026, 12, 7, 12, 0).timestamp()
    tuesday_noon = dt.datetime(2026, 12, 8, 12, 0).timestamp()
    assert overdue_cutoff(monday_noon, 2) < friday_noon  # Friday and Monday: one working day
    assert overdue_cutoff(tuesday_noon, 2) == friday_noon


# --- found by the review: which file, which order, a bad name ---------------------------


def test_a_report_of_a_replaced_file_is_matched_by_its_lines_not_to_the_newest(
    harness: Harness, reports: MoneyReports
) -> None:
    """A re-export after a change: the accountant's list shows only the new file, and a
    report of the old one (picked from the share) is matched to the old one by the order
    Money imported, so the new file is still to be imported and the change still shown."""
    exported(harness)
    harness.raynet.cases[1234]["items"][0]["count"] = 3
    harness.raynet.cases[1234]["totalAmount"] = 14700
    harness.raynet.cases[1234]["totalAmountWithTax"] = 17787
    harness.queue.request_reexport(1234)
    assert harness.drain() == "exported"
    assert [d.export.file_name for d in to_import(harness.records)] == ["OP-24-057+2.xml"]
    old = (harness.exports / "OP-24-057.xml").read_bytes()
    folder = harness.exports.parent / "reports"
    folder.mkdir(exist_ok=True)
    (folder / "a.xml").write_bytes(MoneyS3StandIn().import_document("OP-24-057.xml", old))
    reports.poll()
    first, second = harness.records.exports_of(1234)
    assert first.money is not None
    assert first.money.outcome is ImportOutcome.IMPORTED
    assert second.money is None
    assert [d.export.file_name for d in to_import(harness.records)] == ["OP-24-057+2.xml"]


def test_a_poll_asks_the_state_only_about_reports_new_or_changed_since(
    raynet: RaynetStandIn, tmp_path: Path, state_mode: dict[str, str]
) -> None:
    """A share keeps every report Money ever wrote: a poll reads each once, and asks the
    state only about files it has not seen in that version (in DynamoDB by key, never a
    scan of the table); a new worker learns from the state what was read."""
    folder = tmp_path / "money-reports"
    folder.mkdir()
    harness = Harness(raynet, tmp_path, MONEY_S3_REPORTS=str(folder), **state_mode)
    exported(harness)
    money = MoneyS3StandIn()
    document = harness.service.chores.target.read("OP-24-057.xml")
    (folder / "first.xml").write_bytes(money.import_document("OP-24-057.xml", document))
    polling = harness.service.chores.money_reports
    assert polling is not None

    def dynamo(operation: str) -> float:
        labels = {"service": "DynamoDB", "operation": operation}
        return REGISTRY.get_sample_value("bridge_aws_requests_total", labels) or 0.0

    assert polling.poll() == 1
    asked = (dynamo("Scan"), dynamo("BatchGetItem"))
    assert polling.poll() == 0
    assert (dynamo("Scan"), dynamo("BatchGetItem")) == asked  # nothing new: the state not asked
    again = MoneyReports(harness.records, harness.state.outbox, NEWS, source=polling.source)
    assert again.poll() == 0  # read before, as the state says
    assert dynamo("Scan") == asked[0]
    if state_mode:  # (the SQLite state makes no AWS request at all)
        assert dynamo("BatchGetItem") > asked[1]  # asked by key
    with (folder / "first.xml").open("ab") as grown:
        grown.write(b"\n")
    (folder / "second.xml").write_bytes(
        MoneyS3StandIn(money.agenda).import_document("OP-24-057.xml", document)
    )
    assert again.poll() == 2  # the grown one again, and the new one
    scans = dynamo("Scan")  # (matching an order to its case by Doklad is one)
    assert polling.poll() == 0  # the first worker learns it from the state
    assert dynamo("Scan") == scans


def test_reports_are_read_oldest_first_and_a_word_in_money_is_never_taken_back(
    harness: Harness, reports: MoneyReports, won_case: dict[str, Any], tmp_path: Path
) -> None:
    """report_9 (refused) was written before report_10 (imported after the fix), though
    it sorts after it by name; and an older refusal read later changes nothing."""
    item = {**won_case["items"][0], "taxRate": 15, "discountPercent": 0}
    harness.raynet.add_case(
        {**won_case, "items": [item], "totalAmount": 9000, "totalAmountWithTax": 10350}
    )
    exported(harness)
    document = (harness.exports / "OP-24-057.xml").read_bytes()
    folder = tmp_path / "reports"
    folder.mkdir()
    money = MoneyS3StandIn()
    refused = money.import_document("OP-24-057.xml", document)
    money.agenda.vat_rates.add(Decimal(15))  # the rate added in Money, the file imported again
    (folder / "report_10.xml").write_bytes(money.import_document("OP-24-057.xml", document))
    (folder / "report_9.xml").write_bytes(refused)
    os.utime(folder / "report_9.xml", (1_700_000_000, 1_700_000_000))
    assert reports.poll() == 2
    (export,) = harness.records.exports_of(1234)
    assert export.money is not None
    assert export.money.outcome is ImportOutcome.IMPORTED
    assert export.imported_at is not None
    (folder / "late.xml").write_bytes(refused)  # the old refusal, read once more and later
    reports.poll()
    (export,) = harness.records.exports_of(1234)
    assert export.money is not None
    assert export.money.outcome is ImportOutcome.IMPORTED
    assert export.imported_at is not None


def test_a_report_whose_name_is_no_utf8_does_not_stop_the_others(
    harness: Harness, reports: MoneyReports, tmp_path: Path
) -> None:
    """A Czech name from a share mounted without iocharset=utf8 (windows-1250 bytes)."""
    exported(harness)
    folder = tmp_path / "reports"
    folder.mkdir()
    odd = os.path.join(os.fsencode(folder), "Protokol_Objednávky".encode("cp1250") + b".xml")
    with open(odd, "wb") as file:
        file.write(b"<x/>")
    document = (harness.exports / "OP-24-057.xml").read_bytes()
    (folder / "z-report.xml").write_bytes(MoneyS3StandIn().import_document("f.xml", document))
    assert reports.poll() == 2
    assert harness.records.exports_of(1234)[0].money is not None
    assert any("Objedn" in report.name for report in harness.records.reports())
    assert reports.poll() == 0  # read once, though kept under a name the state can store


@pytest.mark.aws
def test_two_names_the_state_stores_alike_are_asked_about_once(
    raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue
) -> None:
    """``a?.xml`` and a name with a byte that is no UTF-8 in its place are one key in the
    table: asked about twice in one BatchGetItem, DynamoDB would refuse the whole batch."""
    folder = tmp_path / "money-reports"
    folder.mkdir()
    harness = Harness(raynet, tmp_path, MONEY_S3_REPORTS=str(folder), **aws.env)
    exported(harness)
    with open(os.path.join(os.fsencode(folder), b"a\xff.xml"), "wb") as file:
        file.write(b"<x/>")
    (folder / "a?.xml").write_bytes(b"<y/>")
    polling = harness.service.chores.money_reports
    assert polling is not None
    assert polling.poll() == 2
    polling.known.clear()  # as a worker starting anew
    polling.poll()


def test_a_deal_that_cannot_be_an_order_any_more_counts_as_changed_and_a_new_change_is_told(
    harness: Harness,
) -> None:
    exported(harness)
    harness.follow_ups.run_due()
    posts = len(harness.raynet.posts[1234])
    harness.raynet.cases[1234]["company"] = None  # its client removed after the export
    harness.webhook()
    harness.follow_ups.run_due()
    case = harness.records.case(1234)
    assert case is not None
    assert case.changes is not None
    assert [change.what for change in case.changes.changes] == ["no_longer_exportable"]
    harness.follow_ups.run_due()
    assert len(harness.raynet.posts[1234]) == posts + 1
    harness.raynet.cases[1234]["company"] = {"id": 881, "name": "Stavební firma Novák s.r.o."}
    harness.raynet.cases[1234]["items"][0]["count"] = 3
    harness.raynet.cases[1234]["totalAmount"] = 14700
    harness.raynet.cases[1234]["totalAmountWithTax"] = 17787
    harness.clock.advance(601)
    harness.webhook()
    harness.follow_ups.run_due()
    harness.follow_ups.run_due()
    assert len(harness.raynet.posts[1234]) == posts + 2  # another difference, told again


def test_an_old_unimported_file_stays_overdue_past_a_thousand_newer_ones(
    harness: Harness, won_case: dict[str, Any]
) -> None:
    harness.clock.advance(-30 * 86400)
    exported(harness)
    harness.clock.advance(30 * 86400)
    for number in range(1, 1002):
        harness.raynet.add_case({**won_case, "id": 10_000 + number, "code": f"N-{number}"})
    state = harness.state
    for number in range(1, 1002):
        state.queue.record_event(CaseEvent(f"n{number}", 10_000 + number, "record.updated"))
    while harness.worker.run_once():
        pass
    for number in range(1, 1002):
        harness.records.mark_imported(10_000 + number, 1, "Jana")
    overdue = attention(harness.records, harness.clock(), 2).overdue
    assert [d.export.file_name for d in overdue] == ["OP-24-057.xml"]


@pytest.mark.aws
@pytest.mark.parametrize("kept", [None, ""])
def test_a_case_whose_changes_are_kept_empty_takes_a_check_and_a_mark(
    raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue, kept: str | None
) -> None:
    """An item whose ``changes`` is NULL or empty (written so by another path, or by hand)
    is as one without: the conditional write takes it, never retries for ever."""
    harness = Harness(raynet, tmp_path, **aws.env)
    exported(harness)
    boto3.resource("dynamodb").Table(aws.table).update_item(
        Key={"pk": "case#1234"},
        UpdateExpression="SET changes = :kept",
        ExpressionAttributeValues={":kept": kept},
    )
    harness.raynet.cases[1234]["items"][0]["count"] = 3
    harness.webhook()
    harness.follow_ups.run_due()
    case = harness.records.case(1234)
    assert case is not None
    assert case.changes is not None
    assert [change.what for change in case.changes.changes] == ["quantity"]
    assert harness.records.acknowledge_changes(1234, 1, "Jana", case.changes.fingerprint)
