"""The whole loop, in both modes, through the real service: a won deal becomes a file, the
accountant hears of it, the salesperson sees it in RAYNET, Money S3 imports it (the
stand-in, under Money's default import definition) and says so in its report, which the
bridge reads back; a refusal and a change after export are told, and fixed.

Each test runs on the SQLite state with a shared folder, and on SQS + DynamoDB + S3 (moto
server): one parametrised test, so that the scale-out mode cannot fall behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.servers import Inbox, Service, bridge, free_port, listening, wait_until
from tests.support import TOKEN, AwsQueue, webhook_body
from webhook.moneys3.standin import Agenda, MoneyS3StandIn
from webhook.raynet.standin import RaynetStandIn

pytestmark = pytest.mark.slow
ADMIN = "admin-token-0123456789"
ACCOUNTANT = "ucetni@firma.cz"


@dataclass
class Loop:
    """The service, the two stand-ins and the accountant's mailbox, in one mode."""

    running: Service
    raynet: RaynetStandIn
    inbox: Inbox
    importer: Callable[[MoneyS3StandIn], list[Any]]
    money: MoneyS3StandIn = field(default_factory=MoneyS3StandIn)

    @property
    def agenda(self) -> Agenda:
        return self.money.agenda

    def import_in_money(self) -> list[Any]:
        """The accountant imports the new files in Money S3; its reports are written."""
        return self.importer(self.money)

    def import_again(self) -> list[Any]:
        """The accountant imports every file once more (another session of Money S3, the
        same agenda): Money skips the orders it has, and says so."""
        return self.importer(MoneyS3StandIn(self.money.agenda))

    def reports_read(self) -> list[dict[str, Any]]:
        answer = requests.get(
            f"{self.running.url}/admin/api/reports",
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
        reports: list[dict[str, Any]] = answer.json()["reports"]
        return reports

    def case(self, case_id: int = 1234) -> dict[str, Any]:
        answer = requests.get(
            f"{self.running.url}/admin/api/cases/{case_id}",
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def latest_verdict(self, case_id: int = 1234) -> dict[str, Any] | None:
        exports = self.case(case_id)["exports"]
        verdict: dict[str, Any] | None = exports[-1]["money"] if exports else None
        return verdict

    def posts(self, case_id: int = 1234) -> list[str]:
        return [post["comment"] for post in self.raynet.posts.get(case_id, [])]

    def mails(self, subject_part: str) -> list[Any]:
        return [m for m in self.inbox.messages if subject_part in str(m["Subject"])]

    def to_import(self) -> list[str]:
        answer = requests.get(
            f"{self.running.url}/admin/api/deliveries",
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
        return [d["export"]["file_name"] for d in answer.json()["deliveries"]]


@pytest.fixture(params=["sqlite", pytest.param("sqs", marks=pytest.mark.aws)])
def loop(
    request: pytest.FixtureRequest,
    service: Any,
    env: dict[str, str],
    raynet: RaynetStandIn,
    smtp: tuple[int, Inbox],
    tmp_path: Path,
) -> Loop:
    port, inbox = smtp
    settings = {
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "NOTIFY_EMAIL": ACCOUNTANT,
        "REPORT_HOUR": "off",
        "ADMIN_TOKEN": ADMIN,
        "MONEY_S3_REPORTS_EVERY": "5",
    }
    if request.param == "sqs":
        aws: AwsQueue = request.getfixturevalue("aws")
        s3 = boto3.client("s3")
        settings |= {**aws.env, "MONEY_S3_REPORTS": f"s3://{aws.bucket}/reports"}

        def importer(money: MoneyS3StandIn) -> list[Any]:
            return money.import_bucket(s3, aws.bucket, "orders/", "reports/")

    else:
        exports, reports = tmp_path / "exports", tmp_path / "money-reports"
        reports.mkdir()
        settings["MONEY_S3_REPORTS"] = str(reports)

        def importer(money: MoneyS3StandIn) -> list[Any]:
            return money.import_folder(exports, reports)

    running: Service = service(**settings)
    return Loop(running, raynet, inbox, importer)


def test_an_order_goes_round_the_loop(loop: Loop) -> None:
    """Delivered, e-mailed, written back; imported by Money S3, whose report the bridge
    reads: the file leaves the accountant's list, one post says so. The same report read
    again, and a repeated import of the same file, change nothing."""
    assert loop.running.post(webhook_body()).status_code == 202
    wait_until(lambda: len(loop.posts()) == 1, 30, "the post that the order is ready")
    wait_until(lambda: bool(loop.mails("OP-24-057")), 30, "the e-mail to the accountant")
    assert loop.raynet.cases[1234]["extIds"] == ["moneys3:OP-24-057.xml"]
    assert loop.to_import() == ["OP-24-057.xml"]
    assert loop.latest_verdict() is None

    assert len(loop.import_in_money()) == 1
    wait_until(lambda: loop.latest_verdict() is not None, 30, "Money's report read")
    verdict = loop.latest_verdict()
    assert verdict is not None
    assert verdict["outcome"] == "imported"
    assert loop.case()["exports"][-1]["imported_by"] == "Money S3"
    assert loop.to_import() == []
    wait_until(lambda: len(loop.posts()) == 2, 30, "the post that Money imported it")
    assert loop.posts()[1].startswith("Objednávka je v Money S3: OP-24-057.xml")

    assert len(loop.import_again()) == 1  # "existing → no action": Money has it
    wait_until(lambda: len(loop.reports_read()) == 2, 30, "the second report read")
    assert [r["problem"] for r in loop.reports_read()] == [None, None]
    assert (loop.latest_verdict() or {})["outcome"] == "imported"
    assert len(loop.posts()) == 2


def test_a_refused_order_is_told_and_delivered_again_after_the_fix(
    loop: Loop, won_case: dict[str, Any]
) -> None:
    """Money S3 refuses an order with a VAT rate its agenda lacks: the case shows Money's
    own words, the salesperson gets a post, the accountant an e-mail; once the rate is
    added in Money, another export is imported."""
    items = [{**won_case["items"][0], "taxRate": 15, "discountPercent": 0}]
    total = sum(Decimal(str(i["price"])) * Decimal(str(i["count"])) for i in items)
    loop.raynet.add_case(
        {
            **won_case,
            "items": items,
            "totalAmount": float(total),
            "totalAmountWithTax": float(total * Decimal("1.15")),
        }
    )
    assert loop.running.post(webhook_body()).status_code == 202
    wait_until(lambda: loop.to_import() == ["OP-24-057.xml"], 30, "the delivery")
    loop.import_in_money()
    wait_until(lambda: loop.latest_verdict() is not None, 30, "Money's report read")
    verdict = loop.latest_verdict()
    assert verdict is not None
    assert verdict["outcome"] == "refused"
    assert "15" in verdict["messages"][0]["description"]
    wait_until(lambda: len(loop.posts()) == 2, 30, "the post about the refusal")
    assert loop.posts()[1].startswith("Money S3 objednávku OP-24-057.xml")
    wait_until(lambda: bool(loop.mails("nenaimportoval")), 30, "the e-mail about the refusal")

    loop.agenda.vat_rates.add(Decimal(15))
    answer = requests.post(
        f"{loop.running.url}/admin/api/cases/1234/reexport",
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    wait_until(lambda: len(loop.case()["exports"]) == 2, 30, "the second file")
    loop.import_in_money()
    wait_until(lambda: (loop.latest_verdict() or {}).get("outcome") == "imported", 30, "the import")


def test_a_deal_changed_after_export_is_caught_once(loop: Loop) -> None:
    """The salesperson edits a quantity after the export: the next webhook has the case
    read again and compared; the difference is kept and told once. The bridge's own
    write-back webhooks cost no read."""
    assert loop.running.post(webhook_body()).status_code == 202
    wait_until(lambda: len(loop.posts()) == 1, 30, "the delivery and its post")
    reads = len(loop.raynet.reads("businessCase/1234/"))
    own = {
        **webhook_body(),
        "author": loop.raynet.username,
        "source": {"name": "api", "description": "bridge"},
    }
    assert loop.running.post(own).status_code == 202
    loop.raynet.cases[1234]["items"][0]["count"] = 3
    assert loop.running.post(webhook_body()).status_code == 202
    wait_until(lambda: loop.case()["case"]["changes"] is not None, 30, "the change check")
    changes = loop.case()["case"]["changes"]["changes"]
    assert ["quantity", "2", "3", loop.raynet.cases[1234]["items"][0]["name"]] in [
        [c["what"], c["old"], c["new"], c["line"]] for c in changes
    ]
    assert len(loop.raynet.reads("businessCase/1234/")) == reads + 1
    wait_until(lambda: len(loop.posts()) == 2, 30, "the post about the change")
    assert loop.posts()[1].startswith("Obchodní případ se změnil")
    wait_until(lambda: bool(loop.mails("Změněno po exportu")), 30, "the e-mail about the change")
    assert loop.running.post(webhook_body()).status_code == 202  # within the 10 minutes
    assert len(loop.raynet.reads("businessCase/1234/")) == reads + 1
    assert len(loop.posts()) == 2


def test_a_worker_killed_mid_follow_up_leaves_each_write_back_once(
    env: dict[str, str], raynet: RaynetStandIn, tmp_path: Path, state_mode: dict[str, str]
) -> None:
    """SIGKILL while RAYNET is taking the post (the write is made, the answer has not come
    yet); a new worker takes the follow-up once its lease runs out and finds the post
    there: one post, one external id. In either state mode (the outbox in the state file,
    or in DynamoDB)."""
    port = free_port()
    settings = {**env, **state_mode, "WORKER_LEASE_SECONDS": "5"}
    receiver = bridge(["serve", "--no-worker", "--port", str(port)], settings, tmp_path / "r.log")
    first = bridge(["worker"], settings, tmp_path / "worker-1.log")
    second = None
    try:
        wait_until(lambda: listening(port), 30, "the receiver")
        raynet.fail("businessCase/1234/post/", 200, after_doing_it=True, stall=60)
        answer = requests.post(
            f"http://127.0.0.1:{port}/webhooks/raynet",
            json=webhook_body(),
            headers={"X-RAYNETCRM-Token": TOKEN},
            timeout=10,
        )
        assert answer.status_code == 202
        wait_until(lambda: bool(raynet.posts.get(1234)), 30, "the post made")
        first.kill()  # while it waits for RAYNET's answer
        second = bridge(["worker"], settings, tmp_path / "worker-2.log")
        wait_until(
            lambda: raynet.cases[1234]["extIds"] == ["moneys3:OP-24-057.xml"], 30, "the ext id"
        )
        wait_until(
            lambda: len(raynet.calls("businessCase/1234/post/")) >= 2, 30, "the look for the post"
        )
    finally:
        for process in (receiver, first, second):
            if process is not None:
                process.stop()
    assert len(raynet.posts[1234]) == 1
    assert raynet.cases[1234]["extIds"] == ["moneys3:OP-24-057.xml"]
