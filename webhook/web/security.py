"""What every answer carries, and admin sessions the server can end.

A signed cookie alone cannot be taken back: a copy saved before logout would work until it
expires. So a login also writes a session key into the shared counters (``web/limits``: the
SQLite file beside the state, or ``RATE_LIMIT_STORAGE``); logout deletes it, a session idle
for 30 minutes is over, and none lives longer than 12 hours.
"""

from __future__ import annotations

import secrets
import time

from flask import Flask, Response, request, session
from flask.sessions import SecureCookieSessionInterface

from webhook.web.limits import counters

IDLE_SECONDS = 30 * 60
LIFETIME_SECONDS = 12 * 60 * 60
SEEN_EVERY = 60  # refresh the cookie's last-seen time at most once a minute
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
HEADER_ITEMS = tuple(HEADERS.items())


class ProxyAwareSessions(SecureCookieSessionInterface):
    """``Secure`` cookies whenever the request came over HTTPS, also through the proxy
    (``TRUSTED_PROXIES`` makes ``X-Forwarded-Proto`` count), not only when configured."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure


def init_security(app: Flask) -> None:
    app.session_interface = ProxyAwareSessions()
    app.after_request(_headers)


def _headers(response: Response) -> Response:
    """No framing, no inline script or style, no sniffing, no referrer; nothing but the
    dashboard's own CSS and script is worth keeping in a cache. No view sets these itself,
    so they are added, not looked for first: every webhook's answer passes here."""
    response.headers.extend(HEADER_ITEMS)
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def _key(session_id: str) -> str:
    return f"admin-session:{session_id}"


def start_session() -> None:
    """A new session (after a correct token): a new id, valid on the server from now."""
    session.clear()
    session_id = secrets.token_urlsafe(24)
    counters().incr(_key(session_id), LIFETIME_SECONDS)
    session["id"] = session_id
    session["seen"] = int(time.time())


def session_alive() -> bool:
    """Whether this cookie's session was started here, not ended and not idle too long."""
    session_id, seen = session.get("id"), session.get("seen")
    if not isinstance(session_id, str) or not isinstance(seen, int):
        return False
    now = int(time.time())
    if now - seen > IDLE_SECONDS or counters().get(_key(session_id)) < 1:
        return False
    if now - seen >= SEEN_EVERY:
        session["seen"] = now
    return True


def end_session() -> None:
    session_id = session.get("id")
    if isinstance(session_id, str):
        counters().clear(_key(session_id))
    session.clear()
