"""The dashboard's case pages: the list, one case (its order as Money S3 will see it, its
files, follow-ups and history), and what an operator may do to a case."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from webhook.errors import BridgeError
from webhook.i18n import N_
from webhook.moneys3.preview import OrderPreview, read_order
from webhook.order import Caveat, Change, Reason
from webhook.state.model import (
    KNOWN_LOCATION,
    CaseOrder,
    CaseQuery,
    CaseState,
    ExportRecord,
    FollowUp,
    Happening,
    HistoryEntry,
    ImportOutcome,
    MoneyMessage,
    MoneyVerdict,
    TrackedCase,
)
from webhook.state.operations import ActionRefused, reexport_case, retry_case
from webhook.state.ports import CaseRecords, JobQueue
from webhook.web.admin import bp, refusal_text, who
from webhook.web.language import gettext, ngettext, texts
from webhook.web.registry import bounded, instance
from webhook.wording import (
    advice,
    caveat_text,
    change_text,
    described,
    money_message_text,
    outcome_text,
    reason_text,
    verdict_advice,
)

PAGE_SIZE = 50
SETTING_WORDS = (N_("not set"), N_("set (hidden)"), N_("off"))  # in the settings summary
STATES = tuple(CaseState)


@bp.app_template_global()
def state_name(state: str) -> str:
    names = {
        CaseState.PENDING: gettext("waiting"),
        CaseState.EXPORTED: gettext("exported"),
        CaseState.SKIPPED: gettext("not exported"),
        CaseState.FAILED: gettext("failing"),
        CaseState.DEAD: gettext("dead"),
    }
    return names.get(CaseState(state), state)


@bp.app_template_global()
def follow_up_name(kind: str) -> str:
    names = {
        FollowUp.EMAIL: gettext("E-mail to the accountant"),
        FollowUp.EXTERNAL_ID: gettext("External id in RAYNET"),
        FollowUp.POST: gettext("Post in RAYNET"),
        FollowUp.LOCK: gettext("Case locked in RAYNET"),
        FollowUp.REPORT: gettext("Daily report"),
        FollowUp.UNLOCK: gettext("Case unlocked in RAYNET"),
        FollowUp.CHANGE_CHECK: gettext("Check for changes since export"),
        FollowUp.CHANGED_POST: gettext("Post in RAYNET: changed since export"),
        FollowUp.CHANGED_EMAIL: gettext("E-mail: changed since export"),
        FollowUp.IMPORTED_POST: gettext("Post in RAYNET: imported into Money S3"),
        FollowUp.REFUSED_POST: gettext("Post in RAYNET: not imported by Money S3"),
        FollowUp.REFUSED_EMAIL: gettext("E-mail: not imported by Money S3"),
    }
    return names.get(FollowUp(kind), kind) if kind in set(FollowUp) else kind


@bp.app_template_global()
def follow_up_state(state: str) -> str:
    names = {"pending": gettext("waiting"), "done": gettext("done"), "dead": gettext("gave up")}
    return names.get(state, state)


@bp.app_template_global()
def happening_name(what: str) -> str:
    names = {
        Happening.WEBHOOK: gettext("webhook from RAYNET"),
        Happening.EXPORTED: gettext("exported"),
        Happening.SKIPPED: gettext("not exported"),
        Happening.FAILED: gettext("attempt failed"),
        Happening.DEAD: gettext("gave up"),
        Happening.PENDING: gettext("changed while exported: looked at again"),
        Happening.FOLLOW_UP_DONE: gettext("done after the file"),
        Happening.FOLLOW_UP_FAILED: gettext("failed after the file"),
        Happening.IMPORTED: gettext("marked as imported by"),
        Happening.REEXPORT_ASKED: gettext("another file asked for, number"),
        Happening.RETRY_ASKED: gettext("retry asked for"),
        Happening.KNOWN_FROM_RAYNET: gettext("known as exported from RAYNET's external id"),
        Happening.MONEY_REPORT: gettext("Money S3's report"),
        Happening.CHANGED: gettext("changed since export; differences"),
        Happening.ACKNOWLEDGED: gettext("Money's report seen by"),
        Happening.CHANGES_SEEN: gettext("changes since export seen by"),
    }
    return names.get(Happening(what), what)


@bp.app_template_global()
def history_detail(entry: HistoryEntry) -> str:
    """A follow-up's name in the reader's language, with its error if it failed; Money's
    outcome in words."""
    if entry.what == Happening.MONEY_REPORT and entry.detail:
        outcome, _, report = entry.detail.partition(": ")
        if outcome in set(ImportOutcome):
            return f"{outcome_name(outcome)}: {report}"
    if entry.what not in (Happening.FOLLOW_UP_DONE, Happening.FOLLOW_UP_FAILED):
        return entry.detail or ""
    kind, _, error = (entry.detail or "").partition(": ")
    return follow_up_name(kind) + (f": {error}" if error else "")


@bp.app_template_global()
def outcome_name(outcome: str) -> str:
    return outcome_text(gettext, ImportOutcome(outcome))


@bp.app_template_global()
def money_message(message: MoneyMessage) -> str:
    return money_message_text(message)


@bp.app_template_global()
def caveat_line(caveat: Caveat) -> str:
    """What the accountant should know about a file before importing it."""
    return caveat_text(gettext, ngettext, caveat)


@bp.app_template_global()
def change_line(change: Change) -> str:
    return change_text(gettext, change, texts().number)


@bp.app_template_global()
def verdict_hint(verdict: MoneyVerdict, doklad: str | None) -> str | None:
    return verdict_advice(gettext, verdict, doklad)


@bp.app_template_global()
def case_reason(case: TrackedCase) -> str:
    return reason_text(gettext, case.reason_code, case.reason, case.detail)


@bp.app_template_global()
def problem_text(problem: Reason) -> str:
    """Why a file or a webhook was not read, or what stops the target, in the reader's
    language."""
    return described(gettext, problem)


@bp.app_template_global()
def case_advice(case: TrackedCase) -> str:
    return advice(gettext, case.reason_code)


@bp.app_template_global()
def raynet_url(case_id: int) -> str | None:
    credentials = instance().settings.raynet
    return credentials.case_url(case_id) if credentials else None


@bp.get("/")
def index() -> str:
    served = instance()
    search = request.args.get("q", "").strip() or None
    state = _state(request.args.get("state"))
    offset = bounded("offset", 0)
    order = _order(request.args.get("order"))
    since = _since(request.args.get("since"))
    records = served.state.records
    cases = records.cases(
        CaseQuery(
            state,
            search,
            limit=PAGE_SIZE + 1,
            offset=offset,
            order=order,
            since=since.timestamp() if since else None,
        )
    )
    return render_template(
        "admin/index.html",
        cases=cases[:PAGE_SIZE],
        more=len(cases) > PAGE_SIZE,
        offset=offset,
        page_size=PAGE_SIZE,
        search=search or "",
        state=state,
        order=order,
        orders=tuple(CaseOrder),
        since=since.date().isoformat() if since else "",
        states=STATES,
        counts=records.counts(),
        sync=sync_state(),
        config=[
            (name, gettext(value) if value in SETTING_WORDS else value)
            for name, value in served.settings.summary()
        ],
        now=time.time(),
    )


@bp.get("/cases/<id:case_id>")
def case_page(case_id: int) -> str:
    served = instance()
    records = served.state.records
    record = records.case(case_id)
    if record is None:
        abort(404, gettext("Case %(case)s is unknown here.", case=case_id))
    exports = records.exports_of(case_id)
    preview, unreadable = _preview(exports[-1]) if exports else (None, None)
    return render_template(
        "admin/case.html",
        case=record,
        exports=exports,
        preview=preview,
        currency=(preview.currency if preview else None) or served.settings.home_currency,
        unreadable=unreadable,
        follow_ups=served.state.outbox.of_case(case_id),
        history=records.history(case_id),
        now=time.time(),
    )


def _preview(export: ExportRecord) -> tuple[OrderPreview | None, str | None]:
    """The latest file as Money S3 will read it, or why it cannot be shown."""
    if export.location == KNOWN_LOCATION:
        return None, gettext("The file is known from RAYNET only (the state file was new).")
    try:
        return read_order(instance().target.read(export.file_name)), None
    except FileNotFoundError:
        return None, gettext("%(file)s is no longer in the export target.", file=export.file_name)
    except (BridgeError, OSError) as error:
        return None, str(error)


@bp.get("/cases/<id:case_id>/files/<id:generation>")
def download(case_id: int, generation: int) -> Response:
    return file_response(case_id, generation)


@bp.post("/cases/<id:case_id>/retry")
def retry(case_id: int) -> BaseResponse:
    return _act(
        lambda: retry_case(*queue_and_records(), case_id),
        gettext("Case %(case)s queued again.", case=case_id),
    )


@bp.post("/cases/<id:case_id>/files/<id:generation>/imported")
def mark_file_imported(case_id: int, generation: int) -> BaseResponse:
    """The accountant imported this one file by hand: marked from its case's page."""
    marked = instance().state.records.mark_imported(case_id, generation, who())
    flash(gettext("Marked as imported.") if marked else gettext("Already marked as imported."))
    return redirect(url_for("admin.case_page", case_id=case_id))


@bp.post("/cases/<id:case_id>/files/<id:generation>/acknowledged")
def acknowledge_file(case_id: int, generation: int) -> BaseResponse:
    """Money's refusal or warnings seen: off the lists, kept on the case."""
    seen = instance().state.records.acknowledge(case_id, generation, who())
    flash(gettext("Marked as seen.") if seen else gettext("Nothing to mark: already seen."))
    return redirect(url_for("admin.case_page", case_id=case_id))


@bp.post("/cases/<id:case_id>/files/<id:generation>/changes-seen")
def acknowledge_changes(case_id: int, generation: int) -> BaseResponse:
    """The changes since this file seen (the order fixed in Money S3 by hand, or nothing to
    do): off the lists, kept on the case, until the deal changes otherwise."""
    records = instance().state.records
    shown = request.form.get("shown") or None
    if records.acknowledge_changes(case_id, generation, who(), shown):
        flash(gettext("Marked as seen."))
    else:
        case = records.case(case_id)
        seen = case is not None and case.changes is not None and case.changes.seen_by
        flash(
            gettext("Nothing to mark: already seen.")
            if seen
            else gettext("The deal changed again meanwhile: look at the changes below first.")
        )
    return redirect(url_for("admin.case_page", case_id=case_id))


@bp.post("/cases/<id:case_id>/reexport")
def reexport(case_id: int) -> BaseResponse:
    return _act(
        lambda: reexport_case(*queue_and_records(), case_id),
        gettext("Case %(case)s queued for another export.", case=case_id),
    )


@bp.post("/sync")
def sync() -> BaseResponse:
    enabled = request.form.get("enabled") == "1"
    instance().state.records.set_sync_enabled(enabled)
    flash(
        gettext("Exports are running.")
        if enabled
        else gettext("Exports are paused; webhooks are still stored.")
    )
    return redirect(url_for("admin.index"))


def _act(action: Any, done: str) -> BaseResponse:
    try:
        action()
        flash(done)
    except ActionRefused as refused:
        flash(refusal_text(refused), "error")
    return redirect(request.referrer or url_for("admin.index"))


def _state(value: str | None) -> CaseState | None:
    return CaseState(value) if value in STATES else None


def _order(value: str | None) -> CaseOrder:
    return CaseOrder(value) if value in set(CaseOrder) else CaseOrder.CHANGED


def _since(value: str | None) -> dt.datetime | None:
    """``?since=YYYY-MM-DD``: cases changed from that day (local midnight) on."""
    if not value:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time()).astimezone()
    except ValueError:
        abort(400, gettext("since must be a date like 2026-11-01"))


@bp.app_template_global()
def order_name(order: str) -> str:
    names = {
        CaseOrder.CHANGED: gettext("last changed first"),
        CaseOrder.CREATED: gettext("newest first"),
        CaseOrder.CODE: gettext("by code"),
    }
    return names.get(CaseOrder(order), order)


def queue_and_records() -> tuple[JobQueue, CaseRecords]:
    state = instance().state
    return state.queue, state.records


def sync_state() -> dict[str, bool]:
    served = instance()
    switch = served.state.records.sync_enabled()
    return {
        "enabled": switch and served.settings.sync_enabled,
        "switch": switch,
        "environment": served.settings.sync_enabled,
    }


def file_response(case_id: int, generation: int) -> Response:
    served = instance()
    export = next(
        (e for e in served.state.records.exports_of(case_id) if e.generation == generation),
        None,
    )
    if export is None:
        abort(
            404, gettext("Case %(case)s has no file %(number)s.", case=case_id, number=generation)
        )
    try:
        content = served.target.read(export.file_name)
    except FileNotFoundError:
        abort(404, gettext("%(file)s is no longer in the export target.", file=export.file_name))
    return Response(
        content,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{export.file_name}"'},
    )
