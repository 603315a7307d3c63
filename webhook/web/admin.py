"""``/admin``: the dashboard for the accountant and ops, and the same actions as a JSON API.

Off unless ``ADMIN_TOKEN`` is set: 404, a page saying how to switch it on (JSON for the API).
Pages need a login with that token and a name (who marked a file imported); the session
cookie is signed with a key derived from the token, HttpOnly, SameSite=Strict, Secure over
HTTPS, and ended on the server by logout or 30 idle minutes (``web/security``); forms carry
a CSRF token; 5 tries a minute per address. The JSON API under ``/admin/api`` takes the
token as ``Authorization: Bearer <token>``. Without the token, or with a wrong one, both
answer 401.

The pages are in ``web/pages.py`` (cases), ``web/inbox.py`` (the accountant's orders to
import), ``web/money_reports.py`` (Money S3's import reports), ``web/bulk.py`` (bulk export),
``web/unreadable.py`` (webhooks kept unread) and ``web/admin_api.py``; this module holds
what they share: the blueprint, the guard, login and logout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from webhook.settings.environment import Settings
from webhook.state.operations import ActionRefused
from webhook.web.banners import banners
from webhook.web.language import gettext, remember_switch
from webhook.web.registry import instance, instances
from webhook.web.security import LIFETIME_SECONDS, end_session, session_alive, start_session
from webhook.wording import one_line

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.after_request(remember_switch)
OPEN_ENDPOINTS = ("admin.login",)
NAME_LENGTH = 60
# Pages that take more than a webhook's worth of body: Money S3's reports, uploaded.
LARGER_BODIES = {"admin.upload_reports": 64 * 1024 * 1024}
OFF = "The dashboard is off: ADMIN_TOKEN is not set."  # the JSON API's 404


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
    app.register_blueprint(bp)


def who() -> str:
    """The name the logged-in person gave, for "imported by"."""
    return str(session.get("who") or gettext("administrator"))


def refusal_text(refused: ActionRefused) -> str:
    return gettext(refused.message, **refused.values)


def _token() -> str:
    token = instance().settings.admin_token
    if token is None:
        abort(404, OFF)  # no token configured: the dashboard does not exist
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
def _page_context() -> dict[str, Any]:
    """What every page's header shows: the instances, and what stops exports now."""
    if not request.path.startswith("/admin/") or not session.get("csrf"):
        return {"instances": [], "current_instance": "", "banners": []}
    try:
        shown = banners(instance())
    except Exception:  # a banner must never take the page down with it
        log.exception("the banners could not be drawn")
        shown = []
    names = [name for name in instances() if name]
    return {
        "instances": names,
        "current_instance": request.args.get("instance") or "",
        "banners": shown,
    }


@bp.before_request
def _guard() -> Any:
    if instance().settings.admin_token is None and not request.path.startswith("/admin/api/"):
        return render_template("admin/off.html"), 404  # what to do; no link back to itself
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
    if request.endpoint in LARGER_BODIES:
        request.max_content_length = LARGER_BODIES[request.endpoint]
    if request.method == "POST" and not _same(
        request.form.get("csrf", ""), session.get("csrf", "")
    ):
        abort(400, gettext("The form has expired; reload the page."))
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("admin/login.html", error=None)
    if not _same(request.form.get("token", ""), _token()):
        error = gettext("That is not the admin token.")
        return render_template("admin/login.html", error=error), 401
    start_session()
    session.permanent = True
    session["admin"] = _session_mark(_token())
    session["csrf"] = secrets.token_urlsafe(24)
    session["who"] = one_line(request.form.get("name", ""))[:NAME_LENGTH]
    return redirect(url_for("admin.index"))


@bp.post("/logout")
def logout() -> BaseResponse:
    end_session()
    return redirect(url_for("admin.login"))
