"""Errors answered in the reader's terms: HTML pages on the dashboard, JSON everywhere else
(RAYNET, probes, scripts). No traceback ever reaches a client; an unexpected error is
logged with one and answered 500."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from webhook.errors import QueueUnavailable
from webhook.web.language import gettext
from webhook.web.limits import SharedStoreUnavailable

log = logging.getLogger(__name__)


def init_errors(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(QueueUnavailable, _unavailable)
    app.register_error_handler(SharedStoreUnavailable, _store_down)
    app.register_error_handler(Exception, _unexpected)


def _page_wanted() -> bool:
    path = request.path
    return path.startswith("/admin/") and not path.startswith("/admin/api/")


def _http_error(error: HTTPException) -> ResponseReturnValue:
    """The raiser's own answer if it chose one (the button's rate limit), else a page or
    JSON (413 too large, 404, 405, ...)."""
    if error.response is not None:
        return error.get_response()
    code = error.code or 500
    if _page_wanted():
        return render_template("admin/error.html", code=code, detail=_detail(error)), code
    return jsonify(
        error=(error.name or "error").lower().replace(" ", "_"), message=error.description
    ), code


def _detail(error: HTTPException) -> str:
    """Our own descriptions are written for the reader; werkzeug's stock ones are not."""
    default = type(error).description
    if error.description and error.description != default:
        return error.description
    stock = {
        404: gettext("There is no such page."),
        405: gettext("This page cannot be used like that."),
        413: gettext("The request is too large."),
        429: gettext("Too many attempts; wait a minute and try again."),
    }
    return stock.get(error.code or 500, gettext("The request could not be handled."))


def _unavailable(error: QueueUnavailable) -> ResponseReturnValue:
    """The state cannot be read or written (a deleted or damaged file, SQS down): 503."""
    log.error("state unavailable: %s", error)
    return _retry_later(
        gettext("The bridge cannot read its state file right now: %(error)s", error=error)
        if _page_wanted()
        else str(error)
    )


def _retry_later(detail: str) -> Response:
    """503 with Retry-After: a page on the dashboard, JSON elsewhere."""
    if _page_wanted():
        response = Response(render_template("admin/error.html", code=503, detail=detail), 503)
    else:
        response = jsonify(error="unavailable", message=detail)
        response.status_code = 503
    response.headers["Retry-After"] = "30"
    return response


def _store_down(error: SharedStoreUnavailable) -> ResponseReturnValue:
    """Sessions and limits cannot be checked (Redis down): 503, never a login unchecked."""
    detail = gettext(
        "The bridge cannot reach its store of sessions and limits (RATE_LIMIT_STORAGE) "
        "right now; try again in a minute."
    )
    return _retry_later(detail)


def _unexpected(error: Exception) -> ResponseReturnValue:
    log.exception("unexpected error answering %s %s", request.method, request.path)
    return _http_error(InternalServerError())
