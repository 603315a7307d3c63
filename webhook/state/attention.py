"""What needs a person after delivery, for the dashboard's banners and the daily report:
orders Money S3 refused or skipped, imports with warnings nobody has looked at, deals
changed since their order was sent, and files nobody imported in time.

Only each case's latest file counts (an earlier one was replaced by a re-export), and only
the last ``LOOK_BACK_DAYS`` of deliveries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from webhook.state.model import Delivery, ImportOutcome
from webhook.state.ports import CaseRecords

LOOK_BACK_DAYS = 60
DAY = 24 * 3600.0


@dataclass(frozen=True)
class Attention:
    refused: tuple[Delivery, ...]  # refused, or skipped: Money had the number
    warnings: tuple[Delivery, ...]  # imported with warnings nobody acknowledged
    changed: tuple[Delivery, ...]  # the deal changed since the file was delivered
    overdue: tuple[Delivery, ...]  # delivered, neither imported nor marked, for too long

    def __bool__(self) -> bool:
        return bool(self.refused or self.warnings or self.changed or self.overdue)


def attention(records: CaseRecords, now: float, overdue_days: int) -> Attention:
    latest: dict[int, Delivery] = {}
    for delivery in records.deliveries(now - LOOK_BACK_DAYS * DAY, imported=True):
        known = latest.get(delivery.export.case_id)
        if known is None or known.export.generation < delivery.export.generation:
            latest[delivery.export.case_id] = delivery
    deliveries = sorted(latest.values(), key=lambda d: d.export.exported_at)
    due_by = overdue_cutoff(now, overdue_days)

    def verdict_is(delivery: Delivery, *outcomes: ImportOutcome) -> bool:
        verdict = delivery.export.money
        return verdict is not None and verdict.outcome in outcomes

    def unacknowledged(delivery: Delivery) -> bool:
        verdict = delivery.export.money
        return verdict is not None and verdict.acknowledged_by is None

    return Attention(
        refused=tuple(
            d
            for d in deliveries
            if verdict_is(d, ImportOutcome.REFUSED, ImportOutcome.ALREADY_THERE)
            and unacknowledged(d)
        ),
        warnings=tuple(
            d for d in deliveries if verdict_is(d, ImportOutcome.WARNINGS) and unacknowledged(d)
        ),
        changed=tuple(
            d
            for d in deliveries
            if d.changes is not None
            and d.changes.changes
            and d.changes.generation == d.export.generation
        ),
        overdue=tuple(
            d
            for d in deliveries
            if d.export.imported_at is None
            and d.export.money is None
            and d.export.exported_at < due_by
        ),
    )


def overdue_cutoff(now: float, working_days: int) -> float:
    """The moment ``working_days`` working days (Monday to Friday) before ``now``: a file
    delivered before it has waited that long. Czech public holidays are not left out, so
    around them the warning comes a day early."""
    moment = dt.datetime.fromtimestamp(now)
    left = working_days
    while left > 0:
        moment -= dt.timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment.timestamp()
