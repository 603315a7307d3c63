"""Bulk export from the dashboard: ``backfill`` for ops without a shell.

Choose a date range; the won cases changed in RAYNET within it (one API request per 1,000)
that were never exported are queued, and the workers export them as any other. The page
shows the progress: cases listed, queued, and how many of those are exported so far. The
job runs in the web process that took the request; its progress is in the shared records,
so every process shows it, and one left behind by a restart is seen as stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from webhook.errors import BridgeError
from webhook.raynet.schemas import CaseChange
from webhook.state.model import CaseState
from webhook.state.ports import CaseRecords
from webhook.web.admin import bp, who
from webhook.web.language import gettext
from webhook.web.registry import instance
from webhook.wiring import Instance, build_raynet_client
from webhook.worker.reconcile import queue_unexported

FLAG = "bulk_export"
STALE_SECONDS = 300.0  # a listing not heard from for this long died with its process
MOST_REMEMBERED = 5000  # queued case ids kept for the progress figures


@dataclass(frozen=True)
class BulkExport:
    since: str  # YYYY-MM-DD
    until: str
    by: str
    started_at: float
    updated_at: float
    running: bool = True
    listed: int = 0
    queued: list[int] = field(default_factory=list)
    error: str | None = None

    def stale(self, now: float) -> bool:
        return self.running and now - self.updated_at > STALE_SECONDS


def current(records: CaseRecords) -> BulkExport | None:
    value = records.flag(FLAG)
    return None if value is None else BulkExport(**json.loads(value))


def _save(records: CaseRecords, job: BulkExport) -> None:
    records.set_flag(FLAG, json.dumps(asdict(job)))


@bp.get("/bulk")
def bulk() -> str:
    records = instance().state.records
    job = current(records)
    exported = 0
    if job is not None:
        for case_id in job.queued:
            record = records.case(case_id)
            exported += record is not None and record.state == CaseState.EXPORTED
    today = dt.date.today()
    return render_template(
        "admin/bulk.html",
        job=job,
        stale=job is not None and job.stale(time.time()),
        exported=exported,
        default_since=(today - dt.timedelta(days=30)).isoformat(),
        default_until=today.isoformat(),
    )


@bp.post("/bulk")
def start_bulk() -> BaseResponse:
    served = instance()
    records = served.state.records
    job = current(records)
    if job is not None and job.running and not job.stale(time.time()):
        flash(gettext("A bulk export is running already."), "error")
        return redirect(url_for("admin.bulk"))
    if served.settings.raynet is None:
        flash(gettext("No RAYNET API access is configured."), "error")
        return redirect(url_for("admin.bulk"))
    try:
        since = dt.date.fromisoformat(request.form.get("since", ""))
        until = dt.date.fromisoformat(request.form.get("until", ""))
    except ValueError:
        flash(gettext("Choose both dates."), "error")
        return redirect(url_for("admin.bulk"))
    if until < since:
        flash(gettext("The range ends before it starts."), "error")
        return redirect(url_for("admin.bulk"))
    now = time.time()
    job = BulkExport(since.isoformat(), until.isoformat(), who(), now, now)
    _save(records, job)
    threading.Thread(target=_run, args=(served, job), name="bulk-export", daemon=True).start()
    flash(gettext("Bulk export started."))
    return redirect(url_for("admin.bulk"))


def _run(served: Instance, job: BulkExport) -> None:
    """List, queue, and keep the progress up to date; errors end up on the page."""
    records = served.state.records
    start = dt.datetime.combine(dt.date.fromisoformat(job.since), dt.time()).astimezone()
    end = dt.datetime.combine(dt.date.fromisoformat(job.until), dt.time()).astimezone()
    end += dt.timedelta(days=1)

    def within(changes: Iterator[CaseChange]) -> Iterator[CaseChange]:
        nonlocal job
        for listed, change in enumerate(changes, start=1):
            if listed % 100 == 0:
                job = replace(job, listed=listed, updated_at=time.time())
                _save(records, job)
            if change.modified_at is None or change.modified_at < end:
                yield change

    try:
        client = build_raynet_client(served.settings)
        listed, queued = queue_unexported(
            served.state.queue, records, within(client.won_cases_changed_since(start))
        )
        job = replace(job, listed=listed, queued=queued[:MOST_REMEMBERED], running=False)
    except BridgeError as error:
        job = replace(job, running=False, error=str(error))
    _save(records, replace(job, updated_at=time.time()))
