"""``POST /webhooks/raynet``: check, store durably, answer fast.

No RAYNET or S3 call happens here; the worker does the work. A case whose ``extIds`` name
a file of ours is recorded as exported (it costs no work at all, whatever the state file
knew). Answers: 401 wrong token; 429 to a wrong token after WRONG_TOKENS of them from one
address in 10 minutes (the right token is always heard: RAYNET behind the same address
as a guesser, a NAT or a proxy, is never turned away); 413 too large; 400 a
``Content-Length`` that is not a count; 200 ``ignored`` (other entities, deletions, and an
authenticated body that is not RAYNET's event: RAYNET would retry a 4xx for days and then
delete the webhook, so it is kept for a look on the dashboard instead); 200 ``duplicate``
(eventId seen before); 202 stored; 503 the state store cannot take it right now (RAYNET
retries).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from contextlib import suppress
from typing import Any

from flask import Blueprint, Response, request

from webhook.delivery.naming import generation_of
from webhook.errors import QueueUnavailable
from webhook.i18n import N_
from webhook.observability import WEBHOOK_SECONDS, WEBHOOKS, log_context
from webhook.order import Reason
from webhook.raynet import external_ids
from webhook.raynet.schemas import InvalidWebhook, WebhookEvent, parse_webhook
from webhook.settings.environment import Settings
from webhook.state.model import CaseEvent, KnownFile, Recorded
from webhook.web.limits import Refusals, SharedStoreUnavailable
from webhook.web.registry import instance
from webhook.wiring import Instance

TOKEN_HEADER = "X-RAYNETCRM-Token"  # noqa: S105 - a header name, not a secret
UNREADABLE = "unreadable"
# Guessing tokens: 20 wrong ones from an address, then its wrong ones get 429 for the rest of
# the 10 minutes (guessing a 16+ character token is hopeless anyway; this keeps the logs
# and the storage quiet). The right token is always heard.
WRONG_TOKENS = Refusals("webhook-wrong-token", most=20, seconds=600)
log = logging.getLogger(__name__)
bp = Blueprint("receiver", __name__)


def _answer(code: int, **body: Any) -> tuple[Response, int]:
    """A small JSON answer, serialised directly (no pretty-printing, no key sorting)."""
    return Response(json.dumps(body), mimetype="application/json"), code


class _Refusal(Exception):
    """A request we answer with an error status and a JSON body naming the problem."""

    def __init__(self, code: int, **body: Any) -> None:
        super().__init__(code)
        self.code = code
        self.body = body


@bp.post("/webhooks/raynet")
@bp.post("/webhooks/raynet/<name>")
def receive_event(name: str = "") -> tuple[Response, int]:
    started = time.perf_counter()
    code, body = _receive(instance(name))
    outcome = "unreadable" if body.get("reason") == UNREADABLE else body.get("status")
    WEBHOOKS.labels(instance=name, outcome=outcome or body["error"]).inc()
    WEBHOOK_SECONDS.observe(time.perf_counter() - started)
    response, code = _answer(code, **body)
    if code == 503:
        response.headers["Retry-After"] = "30"
    elif code == 429:
        response.headers["Retry-After"] = str(body["retryAfter"])
    return response, code


def _receive(served: Instance) -> tuple[int, dict[str, Any]]:
    """The status and JSON body for the webhook in the current request."""
    try:
        event = _authentic_event(served)
        if event is None:
            return 200, {"status": "ignored", "reason": UNREADABLE}
        with log_context(event_id=event.event_id, case_id=event.entity_id):
            if not event.is_business_case:
                return 200, {"status": "ignored", "reason": f"entity {event.entity_name}"}
            if event.type == "record.deleted":
                return 200, {"status": "ignored", "reason": "deleted record"}
            recorded = _record(served, event)
            log.debug("webhook %s", recorded.value)  # each one is in the state (history)
    except _Refusal as refusal:
        return refusal.code, refusal.body
    if recorded is Recorded.DUPLICATE:
        return 200, {"status": "duplicate", "eventId": event.event_id}
    return 202, {"status": recorded.value, "eventId": event.event_id}


def _authentic_event(served: Instance) -> WebhookEvent | None:
    """The event in the request, if the token is right; None for an authenticated body that
    is not RAYNET's event shape (kept for a look)."""
    settings = served.settings
    if not _token_ok(settings):  # compared first: the right token is always heard
        address = request.remote_addr or "unknown"
        wait = WRONG_TOKENS.wait(address)
        if wait is not None:
            message = f"too many wrong {TOKEN_HEADER} from this address; try again in {wait} s"
            raise _Refusal(429, error="too_many_wrong_tokens", message=message, retryAfter=wait)
        with suppress(SharedStoreUnavailable):  # logged; the token is refused all the same
            WRONG_TOKENS.count(address)
        raise _Refusal(401, error="unauthorized", message=f"missing or wrong {TOKEN_HEADER}")
    raw = _body(settings.webhook_max_body)
    try:
        return parse_webhook(json.loads(raw))
    except InvalidWebhook as error:  # a ValueError too: first
        problem = Reason(
            "webhook_not_event",
            N_("not a RAYNET webhook event: %(fields)s"),
            {"fields": json.dumps(error.fields, ensure_ascii=False)},
        )
    except (ValueError, RecursionError):
        problem = Reason("webhook_not_json", N_("the body is not JSON"))
    log.warning("an authenticated webhook could not be read (%s); kept for a look", problem)
    try:
        served.state.queue.record_unreadable(raw, problem)
    except QueueUnavailable:
        log.exception("cannot keep the unreadable webhook")
        raise _Refusal(503, error="unavailable", message="state store unavailable") from None
    return None


def _body(limit: int) -> bytes:
    """The whole body, or a 413 refusal. With a Content-Length it is read straight from the
    server's input, no more than that (the hot path: werkzeug's stream wrappers cost more
    than the read). A chunked body has no Content-Length to check, and werkzeug's limited
    stream stops at the limit without a word: one byte more is read from the stream the
    server ends (gunicorn's), and a body that has it is too large."""
    environ = request.environ
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        # Not -1 (read(-1) reads whatever the client sends), nor "²" (a digit to isdigit()).
        if not (declared.isascii() and declared.isdigit()):
            raise _Refusal(400, error="invalid_length", message="bad Content-Length")
        length = int(declared)
        if length > limit:
            raise _too_large()
        body: bytes = environ["wsgi.input"].read(length)
        return body
    if "wsgi.input_terminated" not in environ:
        return request.get_data(cache=False)
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        raise _too_large()
    return body


def _too_large() -> _Refusal:
    return _Refusal(413, error="too_large", message="body over WEBHOOK_MAX_BODY")


def _token_ok(settings: Settings) -> bool:
    if settings.webhook_token is None:
        return settings.webhook_allow_no_token
    sent = request.headers.get(TOKEN_HEADER, "")
    return hmac.compare_digest(sent.encode("utf-8"), settings.webhook_token.encode("utf-8"))


def _record(served: Instance, event: WebhookEvent) -> Recorded:
    known = tuple(
        KnownFile(name, generation_of(name)) for name in external_ids.files_in(event.external_ids)
    )
    raynet = served.settings.raynet
    try:
        return served.state.queue.record_event(
            CaseEvent(
                event.event_id,
                event.entity_id,
                event.type,
                exported_files=known,
                by_bridge=raynet is not None and event.made_by_api_user(raynet.username),
            )
        )
    except QueueUnavailable:
        log.exception("cannot store the event")
        raise _Refusal(503, error="unavailable", message="state store unavailable") from None
