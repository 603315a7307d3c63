"""The accountant's inbox: orders delivered and not yet imported into Money S3.

Files delivered since a chosen day, newest first; one click downloads them as one ZIP (to
import in Money S3 one after another), and "mark as imported" records who and when and
takes them out of the list. Nothing is deleted from the export target: the folder or
bucket stays the record of what was delivered.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
import zipfile
from dataclasses import asdict

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from webhook.raynet.schemas import MAX_ID
from webhook.state.model import KNOWN_LOCATION, Delivery
from webhook.web.admin import bp, who
from webhook.web.language import gettext, ngettext
from webhook.web.registry import instance

DEFAULT_DAYS = 30
FILE_KEY = re.compile(r"^(\d{1,19}):(\d{1,9})$")  # case id : generation


@bp.get("/inbox")
def inbox() -> str:
    since = _since()
    deliveries = instance().state.records.deliveries(since.timestamp())
    return render_template(
        "admin/inbox.html",
        deliveries=deliveries,
        since=since.date().isoformat(),
        downloadable=sum(1 for d in deliveries if _downloadable(d)),
    )


@bp.get("/inbox/orders.zip")
def inbox_zip() -> Response:
    """Every listed file that is in the target, in one ZIP named after today."""
    served = instance()
    buffer = io.BytesIO()
    added = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for delivery in served.state.records.deliveries(_since().timestamp()):
            if not _downloadable(delivery):
                continue
            try:
                content = served.target.read(delivery.export.file_name)
            except FileNotFoundError:
                continue  # moved away since: the list says so
            archive.writestr(delivery.export.file_name, content)
            added += 1
    if not added:
        abort(404, gettext("No file to download."))
    name = f"objednavky-{dt.date.today().isoformat()}.zip"
    return Response(
        buffer.getvalue(),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/inbox/imported")
def mark_imported() -> BaseResponse:
    records = instance().state.records
    marked = sum(
        records.mark_imported(case_id, generation, who())
        for case_id, generation in _file_keys(request.form.getlist("file"))
    )
    flash(
        ngettext("%(num)s file marked as imported.", "%(num)s files marked as imported.", marked)
        if marked
        else gettext("No file was marked: choose the files first.")
    )
    return redirect(url_for("admin.inbox", since=request.form.get("since") or None))


@bp.get("/api/deliveries")
def api_deliveries() -> Response:
    deliveries = instance().state.records.deliveries(
        _since().timestamp(), imported=request.args.get("imported") == "1"
    )
    return jsonify(deliveries=[asdict(delivery) for delivery in deliveries])


@bp.post("/api/cases/<id:case_id>/files/<id:generation>/imported")
def api_mark_imported(case_id: int, generation: int) -> tuple[Response, int]:
    body = request.get_json(silent=True)
    by = body.get("by") if isinstance(body, dict) else None
    if not isinstance(by, str) or not by.strip() or len(by) > 60:
        abort(400, 'send {"by": "<who imported it>"} (at most 60 characters)')
    marked = instance().state.records.mark_imported(case_id, generation, by.strip())
    return jsonify(marked=marked), 200 if marked else 409


def _downloadable(delivery: Delivery) -> bool:
    return delivery.export.location != KNOWN_LOCATION


def _since() -> dt.datetime:
    """``?since=YYYY-MM-DD`` (local midnight), by default 30 days back."""
    value = request.args.get("since") or request.form.get("since")
    if not value:
        return dt.datetime.fromtimestamp(time.time() - DEFAULT_DAYS * 86400).astimezone()
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time()).astimezone()
    except ValueError:
        abort(400, gettext("since must be a date like 2026-11-01"))


def _file_keys(values: list[str]) -> list[tuple[int, int]]:
    keys = []
    for value in values[:1000]:
        match = FILE_KEY.match(value)
        if match is None:
            abort(400, gettext("Not a file of a case: %(value)s", value=value[:40]))
        if int(match[1]) > MAX_ID:
            abort(400, gettext("Not a file of a case: %(value)s", value=value[:40]))
        keys.append((int(match[1]), int(match[2])))
    return keys
