"""The daily report to the accountant and to ops, in ``BRIDGE_LANGUAGE``.

Once a day, after ``REPORT_HOUR`` (host time), one worker adds the day's report to the
outbox (its key is the day, so however many workers try, one report is added) and whichever
worker claims it sends it: orders delivered since the last report, cases skipped with their
reasons, the cases failing or dead now with what to do, and what needs a look after
delivery (orders Money S3 refused or imported with warnings, deals changed since, files
waiting too long for import: ``state/attention.py``), the day's files attached (a folder)
or linked (S3). Sent to ``NOTIFY_EMAIL`` and ``REPORT_EMAIL``; retried like any
follow-up.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from email.message import EmailMessage

from webhook.delivery.target import Target
from webhook.i18n import N_, Texts
from webhook.state.attention import attention
from webhook.state.model import (
    KNOWN_LOCATION,
    CaseQuery,
    CaseState,
    Clock,
    Delivery,
    FollowUp,
    OutboxItem,
    TrackedCase,
)
from webhook.state.ports import CaseRecords, Outbox
from webhook.wording import advice, money_message_text, one_line, reason_text
from webhook.worker.mail import LINK_SECONDS, Mailer, send

REPORT_CASE = 0  # the report's outbox key: case 0, generation = the day as YYYYMMDD
MOST_ATTACHED = 50  # more files than this are listed, and are on the dashboard


@dataclass
class DailyReport:
    records: CaseRecords
    outbox: Outbox
    mailer: Mailer
    target: Target
    hour: int
    recipients: tuple[str, ...]
    dashboard_url: str | None = None
    clock: Clock = time.time
    overdue_days: int = 2  # MONEY_S3_IMPORT_OVERDUE

    def schedule_if_due(self) -> bool:
        """Add today's report once it is past ``hour``; True if this call added it."""
        now = dt.datetime.fromtimestamp(self.clock()).astimezone()
        if now.hour < self.hour:
            return False
        return self.outbox.add(FollowUp.REPORT, REPORT_CASE, int(now.strftime("%Y%m%d")))

    def send(self, item: OutboxItem) -> None:
        send(self.mailer.settings, self.message(item.generation))

    def message(self, day_key: int) -> EmailMessage:
        t = self.mailer.texts
        end = self._report_time(dt.datetime.strptime(str(day_key), "%Y%m%d").date())
        start = end - dt.timedelta(days=1)
        period = (start.timestamp(), end.timestamp())
        delivered = [
            d
            for d in self.records.deliveries(period[0], imported=True)
            if d.export.exported_at < period[1]
        ]
        skipped = self._cases(CaseState.SKIPPED, period)
        troubled = self._cases(CaseState.FAILED) + self._cases(CaseState.DEAD)
        message = self.mailer.message(
            t.gettext(
                "RAYNET → Money S3, %(day)s: %(delivered)s delivered, %(troubled)s need attention",
                day=t.day(end.date()),
                delivered=len(delivered),
                troubled=len(troubled),
            ),
            self.recipients,
        )
        message.set_content(self._text(delivered, skipped, troubled, start, end))
        self._attach(message, delivered)
        return message

    def _text(
        self,
        delivered: list[Delivery],
        skipped: list[TrackedCase],
        troubled: list[TrackedCase],
        start: dt.datetime,
        end: dt.datetime,
    ) -> str:
        t = self.mailer.texts
        lines = [
            t.gettext(
                "Report from %(start)s to %(end)s.",
                start=t.moment(start.timestamp()),
                end=t.moment(end.timestamp()),
            ),
            "",
            t.gettext("Orders delivered: %(count)s", count=len(delivered)),
        ]
        lines += [f"- {self._delivery_line(t, d)}" for d in delivered]
        lines += ["", t.gettext("Cases not exported: %(count)s", count=len(skipped))]
        lines += [
            f"- {one_line(case.code or str(case.case_id))}: "
            f"{reason_text(t.gettext, case.reason_code, case.reason, case.detail)}"
            for case in skipped
        ]
        lines += ["", t.gettext("Cases that need attention: %(count)s", count=len(troubled))]
        for case in troubled:
            state = t.gettext("failing") if case.state == CaseState.FAILED else t.gettext("dead")
            lines.append(
                f"- {one_line(case.code or str(case.case_id))} ({state}): "
                f"{one_line(reason_text(t.gettext, case.reason_code, case.reason, case.detail))}"
            )
            lines.append(f"  {advice(t.gettext, case.reason_code)}")
        lines += self._after_delivery(t, end.timestamp())
        if self.dashboard_url:
            lines += ["", t.gettext("Dashboard: %(url)s", url=self.dashboard_url)]
        return "\n".join(lines) + "\n\n— RAYNET → Money S3\n"

    def _after_delivery(self, t: Texts, now: float) -> list[str]:
        """Money S3's word on the orders, changes since export, imports overdue."""
        needs = attention(self.records, now, self.overdue_days)
        lines: list[str] = []
        days = self.overdue_days
        for title, found in (
            (N_("Not imported by Money S3: %(count)s"), needs.refused),
            (N_("Imported with warnings, not looked at yet: %(count)s"), needs.warnings),
            (N_("Changed since export: %(count)s"), needs.changed),
            (N_("Waiting over %(days)s working days for import: %(count)s"), needs.overdue),
        ):
            if not found:
                continue
            lines += ["", t.gettext(title, count=len(found), days=days)]
            for delivery in found:
                code = one_line(delivery.code or str(delivery.export.case_id))
                verdict = delivery.export.money
                said = (
                    "; ".join(money_message_text(m) for m in verdict.messages[:3])
                    if verdict is not None and found is not needs.changed
                    else ""
                )
                lines.append(
                    f"- {code}: {delivery.export.file_name}"
                    + (f": {one_line(said)}" if said else "")
                )
        return lines

    def _delivery_line(self, t: Texts, delivery: Delivery) -> str:
        summary = delivery.summary
        code = one_line(delivery.code or str(delivery.export.case_id))
        parts = [
            f"{code}: {delivery.export.file_name}",  # the code: a file name may be escaped
            one_line(summary.customer or ""),
            t.amount(summary.total_with_vat, summary.currency),
        ]
        link = self._link(delivery)
        return ", ".join(part for part in parts if part) + (f"\n  {link}" if link else "")

    def _link(self, delivery: Delivery) -> str | None:
        if delivery.export.location == KNOWN_LOCATION:
            return None
        return self.target.link(delivery.export.file_name, LINK_SECONDS)

    def _attach(self, message: EmailMessage, delivered: list[Delivery]) -> None:
        """The files themselves, when they live in a folder (S3 files are linked)."""
        for delivery in delivered[:MOST_ATTACHED]:
            if delivery.export.location == KNOWN_LOCATION or self._link(delivery):
                continue
            try:
                document = self.target.read(delivery.export.file_name)
            except FileNotFoundError:
                continue  # moved away by the accountant: listed, not attached
            message.add_attachment(
                document,
                maintype="application",
                subtype="xml",
                filename=delivery.export.file_name,
            )

    def _cases(
        self, state: CaseState, period: tuple[float, float] | None = None
    ) -> list[TrackedCase]:
        found = self.records.cases(CaseQuery(state=state, limit=500))
        if period is None:
            return found
        return [case for case in found if period[0] <= case.updated_at < period[1]]

    def _report_time(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(self.hour)).astimezone()
