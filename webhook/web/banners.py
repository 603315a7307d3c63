"""The dashboard's header banner: what stops exports right now, said plainly.

Read from the shared records (the worker publishes what it sees, ``worker/chores.py``) and
the settings; a page never calls RAYNET or the target to draw it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import url_for

from webhook.state.attention import attention
from webhook.state.model import problem_from
from webhook.web.language import gettext, ngettext
from webhook.wiring import Instance
from webhook.wording import described
from webhook.worker.chores import (
    HEARTBEAT_SILENCE,
    REPORTS_FLAG,
    TARGET_FLAG,
    WEBHOOK_FLAG,
    requests_left,
    silence,
)

QUOTA_RESERVE = 0.1


@dataclass(frozen=True)
class Banner:
    level: str  # "bad": nothing is exported; "warn": something needs a look
    text: str
    link: str | None = None  # where to look


def banners(served: Instance) -> list[Banner]:
    settings, records = served.settings, served.state.records
    found: list[Banner] = []
    if settings.raynet is None:
        found.append(
            Banner(
                "bad",
                gettext(
                    "No RAYNET API access is configured (RAYNET_USERNAME, RAYNET_API_KEY, "
                    "RAYNET_INSTANCE): webhooks are stored, nothing is exported."
                ),
            )
        )
    elif served.gate.credentials and served.gate.credentials.refused_since() is not None:
        found.append(
            Banner(
                "bad",
                gettext(
                    "RAYNET refused the API credentials: nothing is exported until they are "
                    "corrected (or the dead cases are retried)."
                ),
            )
        )
    quiet = silence(records, time.time())
    if quiet is None or quiet > HEARTBEAT_SILENCE:
        found.append(
            Banner(
                "bad",
                gettext("No worker is running: webhooks are stored, nothing is exported.")
                if quiet is None
                else ngettext(
                    "No worker has been heard from for %(num)s minute: exports stand still.",
                    "No worker has been heard from for %(num)s minutes: exports stand still.",
                    int(quiet // 60),
                ),
            )
        )
    if not settings.sync_enabled or not records.sync_enabled():
        found.append(Banner("warn", gettext("Exports are paused; webhooks are still stored.")))
    problem = problem_from(records.flag(TARGET_FLAG))
    if problem:
        said = described(gettext, problem)
        found.append(
            Banner("bad", gettext("The export target takes no files: %(problem)s", problem=said))
        )
    missing = records.flag(WEBHOOK_FLAG)
    if missing:
        found.append(Banner("bad", gettext("RAYNET's webhook: %(problem)s", problem=missing)))
    found += _after_delivery(served)
    left = requests_left(records)
    if left is not None and left[0] < left[1] * QUOTA_RESERVE:
        found.append(
            Banner(
                "warn",
                gettext(
                    "Only %(left)s of RAYNET's %(limit)s API requests are left today: "
                    "sweeps and the button wait, exports go on.",
                    left=left[0],
                    limit=left[1],
                ),
            )
        )
    return found


def _after_delivery(served: Instance) -> list[Banner]:
    """Money S3's word on the orders, and deals changed since: what the accountant must
    look at (each banner leads to the list of those cases)."""
    records = served.state.records
    found: list[Banner] = []
    unreadable = problem_from(records.flag(REPORTS_FLAG))
    if unreadable:
        said = described(gettext, unreadable)
        found.append(
            Banner(
                "warn",
                gettext("Money S3's reports cannot be read: %(problem)s", problem=said),
                url_for("admin.reports"),
            )
        )
    days = served.settings.import_overdue_days
    needs = attention(records, time.time(), days)
    for level, view, count, text in (
        (
            "bad",
            "refused",
            len(needs.refused),
            ngettext(
                "Money S3 did not import %(num)s order: see why and what to do.",
                "Money S3 did not import %(num)s orders: see why and what to do.",
                len(needs.refused),
            ),
        ),
        (
            "warn",
            "changed",
            len(needs.changed),
            ngettext(
                "%(num)s deal changed after its order went to Money S3.",
                "%(num)s deals changed after their orders went to Money S3.",
                len(needs.changed),
            ),
        ),
        (
            "warn",
            "warnings",
            len(needs.warnings),
            ngettext(
                "%(num)s order was imported into Money S3 with warnings.",
                "%(num)s orders were imported into Money S3 with warnings.",
                len(needs.warnings),
            ),
        ),
        (
            "warn",
            "overdue",
            len(needs.overdue),
            ngettext(
                "%(num)s order has waited over %(days)s working days for its import.",
                "%(num)s orders have waited over %(days)s working days for their import.",
                len(needs.overdue),
                days=days,
            ),
        ),
    ):
        if count:
            found.append(Banner(level, text, url_for("admin.inbox", view=view)))
    return found
