"""The accountant's inbox: orders delivered and not yet imported into Money S3.

Every file not imported yet, newest first, however old (a day filter narrows it); the files
ticked download as one ZIP (to import in Money S3 one after another), and "mark as
imported" records who and when and takes them out of the list, with an undo. A file a
Money S3 report says was imported leaves the list by itself. Other views list what needs a
look: orders Money refused, imports with warnings, deals changed since, files waiting too
long, and the files imported. Nothing is deleted from the export target: the folder or
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
from webhook.state.attention import attention, to_import
from webhook.state.model import KNOWN_LOCATION, Delivery
from webhook.web.admin import bp, who
from webhook.web.language import gettext, ngettext
from webhook.web.registry import instance

FILE_KEY = re.compile(r"^(\d{1,19}):(\d{1,9})$")  # case id : generation
VIEWS = ("to_import", "refused", "warnings", "changed", "overdue", "imported")
NEEDING_A_LOOK = ("refused", "warnings", "changed", "overdue")


@bp.get("/inbox")
def inbox() -> str:
    view = _view()
    since = _since()
    deliveries = _listed(view, since)
    undo = _file_keys(request.args.get("undo", "").split(",")) if request.args.get("undo") else []
    return render_template(
        "admin/inbox.html",
        view=view,
        views=VIEWS,
        deliveries=deliveries,
        since=since.date().isoformat() if since else "",
        downloadable=sum(1 for d in deliveries if _downloadable(d)),
        undo=",".join(f"{case}:{generation}" for case, generation in undo),
        undone=len(undo),
        overdue_days=instance().settings.import_overdue_days,
    )


def _listed(view: str, since: dt.datetime | None) -> list[Delivery]:
    """The deliveries of ``view``, newest first."""
    served = instance()
    records = served.state.records
    if view in NEEDING_A_LOOK:
        found = attention(records, time.time(), served.settings.import_overdue_days)
        return list(reversed(getattr(found, view)))
    start = since.timestamp() if since else 0.0
    if view == "imported":
        delivered = records.deliveries(start, imported=True)
        return [d for d in delivered if d.export.imported_at is not None]
    return to_import(records, start)


@bp.route("/inbox/orders.zip", methods=["GET", "POST"])
def inbox_zip() -> Response:
    """The files ticked (POST), or every one listed (GET), that are in the target, in one
    ZIP named after today."""
    served = instance()
    if request.method == "POST":
        chosen = set(_file_keys(request.form.getlist("file")))
        listed = [
            d
            for d in _listed("to_import", None) + _listed("imported", None)
            if (d.export.case_id, d.export.generation) in chosen
        ]
    else:
        listed = _listed(_view(), _since())
    buffer = io.BytesIO()
    added = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for delivery in listed:
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
    marked = [
        (case_id, generation)
        for case_id, generation in _file_keys(request.form.getlist("file"))
        if records.mark_imported(case_id, generation, who())
    ]
    if not marked:
        flash(gettext("No file was marked: choose the files first."))
    undo = ",".join(f"{case}:{generation}" for case, generation in marked) or None
    return redirect(url_for("admin.inbox", since=request.form.get("since") or None, undo=undo))


@bp.post("/inbox/unmark")
def unmark_imported() -> BaseResponse:
    """The undo of a mark: the files are back on the list."""
    records = instance().state.records
    undone = sum(
        records.unmark_imported(case_id, generation)
        for case_id, generation in _file_keys(request.form.get("files", "").split(","))
    )
    flash(
        ngettext("%(num)s file is back on the list.", "%(num)s files are back on the list.", undone)
    )
    return redirect(url_for("admin.inbox"))


@bp.post("/inbox/acknowledged")
def acknowledge() -> BaseResponse:
    """Someone has looked at Money's refusal or warnings, or at a deal's changes since its
    export (the ``changed`` view): off the list, kept on the case."""
    records = instance().state.records
    chosen = _file_keys(request.form.getlist("file"))
    if request.form.get("view") == "changed":  # each as listed: never a change found since
        seen = sum(
            records.acknowledge_changes(
                case_id, generation, who(), request.form.get(f"shown-{case_id}-{generation}", "")
            )
            for case_id, generation in chosen
        )
    else:
        seen = sum(
            records.acknowledge(case_id, generation, who()) for case_id, generation in chosen
        )
    flash(
        ngettext("%(num)s file marked as seen.", "%(num)s files marked as seen.", seen)
        if seen
        else gettext("Nothing was marked: choose the files first.")
    )
    return redirect(url_for("admin.inbox", view=request.form.get("view") or None))


@bp.get("/api/deliveries")
def api_deliveries() -> Response:
    since = _since()
    start = since.timestamp() if since else 0.0
    records = instance().state.records
    deliveries = (
        records.deliveries(start, imported=True)
        if request.args.get("imported") == "1"
        else to_import(records, start)
    )
    return jsonify(deliveries=[asdict(delivery) for delivery in deliveries])


@bp.post("/api/cases/<id:case_id>/files/<id:generation>/imported")
def api_mark_imported(case_id: int, generation: int) -> tuple[Response, int]:
    marked = instance().state.records.mark_imported(case_id, generation, _by("imported it"))
    return jsonify(marked=marked), 200 if marked else 409


@bp.post("/api/cases/<id:case_id>/files/<id:generation>/acknowledged")
def api_acknowledge(case_id: int, generation: int) -> tuple[Response, int]:
    """Money's refusal or warnings about the file seen."""
    seen = instance().state.records.acknowledge(case_id, generation, _by("saw it"))
    return jsonify(seen=seen), 200 if seen else 409


@bp.post("/api/cases/<id:case_id>/files/<id:generation>/changes-seen")
def api_acknowledge_changes(case_id: int, generation: int) -> tuple[Response, int]:
    """The deal's changes since the file seen: those whose fingerprint is sent, if one is
    (``GET cases/ID`` gives it as ``changes_fingerprint``), else whichever are kept now."""
    by = _by("saw them")
    body = request.get_json(silent=True)
    shown = body.get("fingerprint") if isinstance(body, dict) else None
    if shown is not None and not isinstance(shown, str):
        abort(400, "fingerprint must be the string GET cases/ID gives as changes_fingerprint")
    seen = instance().state.records.acknowledge_changes(case_id, generation, by, shown)
    return jsonify(seen=seen), 200 if seen else 409


def _by(did: str) -> str:
    """The name a script sends as ``{"by": …}``: a 400 without one."""
    body = request.get_json(silent=True)
    by = body.get("by") if isinstance(body, dict) else None
    if not isinstance(by, str) or not by.strip() or len(by) > 60:
        abort(400, f'send {{"by": "<who {did}>"}} (at most 60 characters)')
    return by.strip()


def _downloadable(delivery: Delivery) -> bool:
    return delivery.export.location != KNOWN_LOCATION


def _view() -> str:
    view = request.args.get("view") or "to_import"
    return view if view in VIEWS else "to_import"


def _since() -> dt.datetime | None:
    """``?since=YYYY-MM-DD`` (local midnight); by default none: a file waits on the list
    until it is imported, however old."""
    value = request.args.get("since") or request.form.get("since")
    if not value:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time()).astimezone()
    except ValueError:
        abort(400, gettext("since must be a date like 2026-11-01"))


def _file_keys(values: list[str]) -> list[tuple[int, int]]:
    keys = []
    for value in (value for value in values[:1000] if value):
        match = FILE_KEY.match(value)
        if match is None:
            abort(400, gettext("Not a file of a case: %(value)s", value=value[:40]))
        if int(match[1]) > MAX_ID:
            abort(400, gettext("Not a file of a case: %(value)s", value=value[:40]))
        keys.append((int(match[1]), int(match[2])))
    return keys
