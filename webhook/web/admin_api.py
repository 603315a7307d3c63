"""``/admin/api``: the dashboard's actions as JSON, for scripts (English, like the logs)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response, abort, jsonify, request

from webhook.state.model import CaseQuery, TrackedCase
from webhook.state.operations import ActionRefused, find_case, reexport_case, retry_case
from webhook.web.admin import bp
from webhook.web.pages import PAGE_SIZE, STATES, file_response, queue_and_records, sync_state
from webhook.web.registry import bounded, instance

MOST_PER_PAGE = 500


@bp.get("/api/cases")
def api_cases() -> Response:
    state = request.args.get("state")
    if state is not None and state not in STATES:
        abort(400, f"state must be one of {', '.join(STATES)}")
    limit = min(MOST_PER_PAGE, max(1, bounded("limit", PAGE_SIZE)))
    records = instance().state.records.cases(
        CaseQuery(
            next((s for s in STATES if s == state), None),
            request.args.get("q") or None,
            limit=limit,
            offset=bounded("offset", 0),
        )
    )
    return jsonify(cases=[asdict(record) for record in records])


@bp.get("/api/cases/<id:case_id>")
def api_case(case_id: int) -> Response:
    records = instance().state.records
    try:
        record = find_case(records, case_id)
    except ActionRefused as refused:
        abort(404, str(refused))
    return jsonify(
        case=asdict(record),
        changes_fingerprint=record.changes.fingerprint if record.changes else None,
        exports=[asdict(export) for export in records.exports_of(case_id)],
        history=[asdict(entry) for entry in records.history(case_id)],
    )


@bp.post("/api/cases/<id:case_id>/retry")
def api_retry(case_id: int) -> tuple[Response, int]:
    return _api_act(lambda: retry_case(*queue_and_records(), case_id))


@bp.post("/api/cases/<id:case_id>/reexport")
def api_reexport(case_id: int) -> tuple[Response, int]:
    return _api_act(lambda: reexport_case(*queue_and_records(), case_id))


@bp.get("/api/cases/<id:case_id>/files/<id:generation>")
def api_download(case_id: int, generation: int) -> Response:
    return file_response(case_id, generation)


@bp.route("/api/sync", methods=["GET", "PUT"])
def api_sync() -> Response:
    if request.method == "PUT":
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
            abort(400, 'send {"enabled": true} or {"enabled": false}')
        instance().state.records.set_sync_enabled(body["enabled"])
    return jsonify(sync_state())


@bp.get("/api/config")
def api_config() -> Response:
    return jsonify(config=dict(instance().settings.summary()))


def _api_act(action: Any) -> tuple[Response, int]:
    try:
        record: TrackedCase = action()
    except ActionRefused as refused:
        return jsonify(error="refused", message=str(refused)), 409
    return jsonify(case=asdict(record)), 202
