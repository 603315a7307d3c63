"""What needs a person after delivery, for the dashboard's banners and the daily report:
orders Money S3 refused or skipped, imports with warnings nobody has looked at, deals
changed since their order was sent, and files nobody imported in time.

Only each case's latest file counts (an earlier one was replaced by a re-export): every
file not imported, however old, and of the imported ones those of the last
``LOOK_BACK_DAYS``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from webhook.state.model import Delivery, ImportOutcome
from webhook.state.ports import CaseRecords

LOOK_BACK_DAYS = 60  # for files imported (with warnings) or changed since
DAY = 24 * 3600.0
MOST = 100_000  # deliveries read for it: every one, for years of orders


@dataclass(frozen=True)
class Attention:
    refused: tuple[Delivery, ...]  # refused, or skipped: Money had the number
    warnings: tuple[Delivery, ...]  # imported with warnings nobody acknowledged
    changed: tuple[Delivery, ...]  # the deal changed since the file was delivered, unseen
    overdue: tuple[Delivery, ...]  # delivered, neither imported nor marked, for too long

    def __bool__(self) -> bool:
        return bool(self.refused or self.warnings or self.changed or self.overdue)


def attention(records: CaseRecords, now: float, overdue_days: int) -> Attention:
    latest: dict[int, Delivery] = {}
    found = records.deliveries(now - LOOK_BACK_DAYS * DAY, imported=True, most=MOST)
    found += records.deliveries(0.0, imported=False, most=MOST)  # unimported, however old
    for delivery in found:
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
            and d.changes.seen_by is None
        ),
        overdue=tuple(
            d
            for d in deliveries
            if d.export.imported_at is None
            and d.export.money is None
            and d.export.exported_at < due_by
        ),
    )


def to_import(records: CaseRecords, since: float = 0.0) -> list[Delivery]:
    """The accountant's list: every file delivered since ``since`` and not imported, newest
    first, however old; without a file a newer one of its case replaced (it is not to be
    imported: Money would take the older order, and every file carries the same Doklad)."""
    delivered = records.deliveries(since, imported=True, most=MOST)
    latest: dict[int, int] = {}
    for delivery in delivered:
        case_id, generation = delivery.export.case_id, delivery.export.generation
        latest[case_id] = max(latest.get(case_id, 0), generation)
    return [
        d
        for d in delivered
        if d.export.imported_at is None and d.export.generation == latest[d.export.case_id]
    ]


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
