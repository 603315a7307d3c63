"""The dashboard's page of Money S3's import reports: those read (from MONEY_S3_REPORTS or
uploaded), what each said, the orders no delivered file matches ("unknown Doklady"), and an
upload for the accountant who imports by hand ("Nahrát protokol importu", several files at
once). An upload is read by the very code that reads the report folder."""

from __future__ import annotations

from dataclasses import asdict

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from webhook.delivery.reports import MOST_BYTES
from webhook.state.model import problem_from
from webhook.web.admin import bp
from webhook.web.language import gettext, ngettext
from webhook.web.pages import problem_text
from webhook.web.registry import instance
from webhook.worker.chores import REPORTS_FLAG

MOST_FILES = 50
MOST_SAID = 5  # problems said in the flash after an upload


@bp.get("/reports")
def reports() -> str:
    served = instance()
    return render_template(
        "admin/reports.html",
        reports=served.state.records.reports(limit=100),
        source=served.settings.money_reports,
        every=served.settings.money_reports_every,
        problem=problem_from(served.state.records.flag(REPORTS_FLAG)),
    )


@bp.get("/api/reports")
def api_reports() -> Response:
    """The reports read, newest first, with what each said (for scripts)."""
    return jsonify(reports=[asdict(report) for report in instance().state.records.reports(100)])


@bp.post("/reports")
def upload_reports() -> BaseResponse:
    uploads = [upload for upload in request.files.getlist("report") if upload.filename]
    if not uploads:
        flash(gettext("Choose one or more report files first."), "error")
        return redirect(url_for("admin.reports"))
    if len(uploads) > MOST_FILES:
        abort(413, gettext("At most %(num)s files at once.", num=MOST_FILES))
    served = instance()
    problems = 0
    for upload in uploads:
        document = upload.read(MOST_BYTES + 1)
        name = _shown_name(upload.filename or "")
        if len(document) > MOST_BYTES:
            flash(gettext("%(file)s is too large for a report.", file=name), "error")
            problems += 1
            continue
        record = served.reports.take(name, None, document)
        if record.problem:
            problems += 1
            if problems <= MOST_SAID:  # the rest are on the page; a cookie holds only so much
                said = problem_text(record.problem)[:200]
                flash(gettext("%(file)s: %(problem)s", file=name, problem=said), "error")
    flash(ngettext("%(num)s report read.", "%(num)s reports read.", len(uploads) - problems))
    return redirect(url_for("admin.reports"))


def _shown_name(sent: str) -> str:
    """The uploaded file's own name (the last part of a path a browser may send), kept as
    the accountant knows it, '~' and all: it is only shown, never a path on this host."""
    name = sent.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:200] or "report.xml"
