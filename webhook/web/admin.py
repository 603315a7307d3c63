"""``/admin``: the operator's dashboard, and the same actions as a JSON API.

Off unless ``ADMIN_TOKEN`` is set (404). Pages need a login with that token (a session
cookie signed with a key derived from it, HttpOnly, SameSite=Strict, Secure over HTTPS,
ended on the server by logout or 30 idle minutes: ``web/security``; forms carry a CSRF
token; 5 tries a minute per address); the JSON API under ``/admin/api`` takes it as
``Authorization: Bearer <token>``. Without the token, or with a wrong one, both answer 401.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import asdict
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from webhook.ops.operations import ActionRefused, find_case, reexport_case, retry_case
from webhook.settings.environment import Settings
from webhook.state.model import CaseQuery, CaseState, TrackedCase
from webhook.state.ports import CaseRecords, JobQueue
from webhook.web.registry import bounded, instance, instances
from webhook.web.security import LIFETIME_SECONDS, end_session, session_alive, start_session

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 50
STATES = tuple(CaseState)
OPEN_ENDPOINTS = ("admin.login",)


def init_admin(app: Flask, settings: Settings) -> None:
    """Sessions signed with a key derived from ADMIN_TOKEN: a new token logs everyone out."""
    if settings.admin_token:
        app.secret_key = hashlib.sha256(
            b"raynet-bridge admin session\0" + settings.admin_token.encode()
        ).digest()
    app.config.update(
        SESSION_COOKIE_NAME="bridge_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.admin_cookie_secure,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=LIFETIME_SECONDS),
    )
    app.jinja_env.filters["when"] = _when
    app.register_blueprint(bp)


def _token() -> str:
    token = instance().settings.admin_token
    if token is None:
        abort(404)  # no token configured: the dashboard does not exist
    return token


def _same(sent: str, expected: str) -> bool:
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def _session_mark(token: str) -> str:
    return hashlib.sha256(b"logged in\0" + token.encode()).hexdigest()


@bp.url_defaults
def _keep_instance(endpoint: str, values: dict[str, Any]) -> None:
    """Links within the dashboard stay with the instance being looked at."""
    if "instance" not in values and request.args.get("instance"):
        values["instance"] = request.args["instance"]


@bp.app_context_processor
def _instances() -> dict[str, Any]:
    names = [name for name in instances() if name]
    return {"instances": names, "current_instance": request.args.get("instance") or ""}


@bp.before_request
def _guard() -> Any:
    token = _token()
    if request.path.startswith("/admin/api/"):
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not _same(sent, token):
            return jsonify(error="unauthorized", message="Authorization: Bearer <ADMIN_TOKEN>"), 401
        return None
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not (_same(session.get("admin", ""), _session_mark(token)) and session_alive()):
        return render_template("admin/login.html", error=None), 401
    if request.method == "POST" and not _same(
        request.form.get("csrf", ""), session.get("csrf", "")
    ):
        abort(400, "the form has expired; reload the page")
    return None


# --- pages ----------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("admin/login.html", error=None)
    if not _same(request.form.get("token", ""), _token()):
        return render_template("admin/login.html", error="That is not the admin token."), 401
    start_session()
    session.permanent = True
    session["admin"] = _session_mark(_token())
    session["csrf"] = secrets.token_urlsafe(24)
    return redirect(url_for("admin.index"))


@bp.post("/logout")
def logout() -> BaseResponse:
    end_session()
    return redirect(url_for("admin.login"))


@bp.get("/")
def index() -> str:
    served = instance()
    search = request.args.get("q", "").strip() or None
    state = _state(request.args.get("state"))
    offset = bounded("offset", 0)
    records = served.state.records
    cases = records.cases(CaseQuery(state, search, limit=PAGE_SIZE + 1, offset=offset))
    return render_template(
        "admin/index.html",
        cases=cases[:PAGE_SIZE],
        more=len(cases) > PAGE_SIZE,
        offset=offset,
        page_size=PAGE_SIZE,
        search=search or "",
        state=state,
        states=STATES,
        counts=records.counts(),
        sync=_sync_state(),
        config=served.settings.summary(),
        now=time.time(),
    )


@bp.get("/cases/<id:case_id>")
def case_page(case_id: int) -> str:
    records = instance().state.records
    record = records.case(case_id)
    if record is None:
        abort(404, f"case {case_id} is unknown here")
    return render_template(
        "admin/case.html", case=record, exports=records.exports_of(case_id), now=time.time()
    )


@bp.get("/cases/<id:case_id>/files/<id:generation>")
def download(case_id: int, generation: int) -> Response:
    return _file(case_id, generation)


@bp.post("/cases/<id:case_id>/retry")
def retry(case_id: int) -> BaseResponse:
    return _act(lambda: retry_case(*_queue_and_records(), case_id), "queued again")


@bp.post("/cases/<id:case_id>/reexport")
def reexport(case_id: int) -> BaseResponse:
    return _act(lambda: reexport_case(*_queue_and_records(), case_id), "queued for another export")


@bp.post("/sync")
def sync() -> BaseResponse:
    enabled = request.form.get("enabled") == "1"
    instance().state.records.set_sync_enabled(enabled)
    flash("Exports are running." if enabled else "Exports are paused; webhooks are still recorded.")
    return redirect(url_for("admin.index"))


def _act(action: Any, done: str) -> BaseResponse:
    try:
        record: TrackedCase = action()
        flash(f"Case {record.case_id} {done}.")
    except ActionRefused as refused:
        flash(str(refused), "error")
    return redirect(request.referrer or url_for("admin.index"))


# --- JSON API ---------------------------------------------------------------------------


@bp.get("/api/cases")
def api_cases() -> Response:
    state = request.args.get("state")
    if state is not None and _state(state) is None:
        abort(400, f"state must be one of {', '.join(STATES)}")
    limit = min(500, max(1, bounded("limit", PAGE_SIZE)))
    records = instance().state.records.cases(
        CaseQuery(
            _state(state),
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
        case=asdict(record), exports=[asdict(export) for export in records.exports_of(case_id)]
    )


@bp.post("/api/cases/<id:case_id>/retry")
def api_retry(case_id: int) -> tuple[Response, int]:
    return _api_act(lambda: retry_case(*_queue_and_records(), case_id))


@bp.post("/api/cases/<id:case_id>/reexport")
def api_reexport(case_id: int) -> tuple[Response, int]:
    return _api_act(lambda: reexport_case(*_queue_and_records(), case_id))


@bp.get("/api/cases/<id:case_id>/files/<id:generation>")
def api_download(case_id: int, generation: int) -> Response:
    return _file(case_id, generation)


@bp.route("/api/sync", methods=["GET", "PUT"])
def api_sync() -> Response:
    if request.method == "PUT":
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
            abort(400, 'send {"enabled": true} or {"enabled": false}')
        instance().state.records.set_sync_enabled(body["enabled"])
    return jsonify(_sync_state())


@bp.get("/api/config")
def api_config() -> Response:
    return jsonify(config=dict(instance().settings.summary()))


def _api_act(action: Any) -> tuple[Response, int]:
    try:
        record: TrackedCase = action()
    except ActionRefused as refused:
        return jsonify(error="refused", message=str(refused)), 409
    return jsonify(case=asdict(record)), 202


# --- shared -----------------------------------------------------------------------------


def _state(value: str | None) -> CaseState | None:
    return CaseState(value) if value in STATES else None


def _queue_and_records() -> tuple[JobQueue, CaseRecords]:
    state = instance().state
    return state.queue, state.records


def _sync_state() -> dict[str, bool]:
    served = instance()
    switch = served.state.records.sync_enabled()
    return {
        "enabled": switch and served.settings.sync_enabled,
        "switch": switch,
        "environment": served.settings.sync_enabled,
    }


def _file(case_id: int, generation: int) -> Response:
    served = instance()
    export = next(
        (e for e in served.state.records.exports_of(case_id) if e.generation == generation),
        None,
    )
    if export is None:
        abort(404, f"case {case_id} has no export {generation}")
    try:
        content = served.target.read(export.file_name)
    except FileNotFoundError:
        abort(404, f"{export.location} is no longer there")
    return Response(
        content,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{export.file_name}"'},
    )


def _when(timestamp: float | None) -> str:
    """A timestamp as local date and time, for people."""
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
