"""``POST /webhooks/raynet``: check, store durably, answer fast. Plus health probes.

No RAYNET or S3 call happens here; the worker does the work. A case whose ``extIds`` name
a file of ours is recorded as exported (it costs no work at all, whatever the state file
knew). Answers:
401 wrong token, 400 not RAYNET's event shape, 413 too large, 200 ``ignored`` (other
entities, deletions), 200 ``duplicate`` (eventId seen before), 202 stored, 503 the state
store cannot take it right now (RAYNET retries).
"""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
import time
from typing import Any

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST

from webhook.errors import BridgeError, QueueUnavailable
from webhook.observability import WEBHOOK_SECONDS, WEBHOOKS, log_context, render_metrics
from webhook.raynet import external_ids
from webhook.raynet.schemas import InvalidWebhook, WebhookEvent, parse_webhook
from webhook.settings.environment import Settings
from webhook.settings.wiring import Instance
from webhook.state.model import CaseEvent, Recorded
from webhook.state.ports import CaseRecords, JobQueue
from webhook.web.registry import instance, instances
from webhook.worker.loop import HEARTBEAT_SILENCE, silence

TOKEN_HEADER = "X-RAYNETCRM-Token"  # noqa: S105 - a header name, not a secret
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
    WEBHOOKS.labels(instance=name, outcome=body.get("status") or body["error"]).inc()
    WEBHOOK_SECONDS.observe(time.perf_counter() - started)
    response, code = _answer(code, **body)
    if code == 503:
        response.headers["Retry-After"] = "30"
    return response, code


def _receive(served: Instance) -> tuple[int, dict[str, Any]]:
    """The status and JSON body for the webhook in the current request."""
    try:
        event = _authentic_event(served.settings)
        with log_context(event_id=event.event_id, case_id=event.entity_id):
            if not event.is_business_case:
                return 200, {"status": "ignored", "reason": f"entity {event.entity_name}"}
            if event.type == "record.deleted":
                return 200, {"status": "ignored", "reason": "deleted record"}
            recorded = _record(served.state.queue, event)
            log.debug("webhook %s", recorded.value)  # each one is in the state (history)
    except _Refusal as refusal:
        return refusal.code, refusal.body
    if recorded is Recorded.DUPLICATE:
        return 200, {"status": "duplicate", "eventId": event.event_id}
    return 202, {"status": recorded.value, "eventId": event.event_id}


def _authentic_event(settings: Settings) -> WebhookEvent:
    """The event in the request, if the token is right and the body is RAYNET's shape."""
    if not _token_ok(settings):
        raise _Refusal(401, error="unauthorized", message=f"missing or wrong {TOKEN_HEADER}")
    try:
        body = json.loads(_body(settings.webhook_max_body))
    except (ValueError, RecursionError):
        raise _Refusal(400, error="invalid_json", message="the body is not JSON") from None
    try:
        return parse_webhook(body)
    except InvalidWebhook as error:
        raise _Refusal(
            400, error="invalid_event", message="not a RAYNET webhook event", fields=error.fields
        ) from None


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


def _record(queue: JobQueue, event: WebhookEvent) -> Recorded:
    try:
        return queue.record_event(
            CaseEvent(
                event.event_id,
                event.entity_id,
                event.type,
                exported_files=external_ids.files_in(event.external_ids),
            )
        )
    except QueueUnavailable:
        log.exception("cannot store the event")
        raise _Refusal(503, error="unavailable", message="state store unavailable") from None


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: counters of every process, case states from the state file."""
    states = {
        name: (served.state.queue, served.state.records) for name, served in instances().items()
    }
    return Response(render_metrics(states), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Alive: the process answers."""
    return _answer(200, status="ok")


def _worker_heard_from(records: CaseRecords) -> None:
    quiet = silence(records, time.time())
    if quiet is not None and quiet > HEARTBEAT_SILENCE:
        raise BridgeError(f"no worker has been alive for {quiet:.0f} s")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready: every instance's state takes writes, its export target takes files, and its
    worker (wherever it runs) has been heard from."""
    checks: dict[str, str] = {}
    for name, served in instances().items():
        prefix = f"{name}: " if name else ""
        for check, probe in (
            ("state_store", served.state.records.ping),
            ("export_target", served.target.check),
            ("worker", lambda records=served.state.records: _worker_heard_from(records)),
        ):
            try:
                probe()
                checks[prefix + check] = "ok"
            except (BridgeError, sqlite3.Error, OSError) as error:
                checks[prefix + check] = str(error)
    ready = all(result == "ok" for result in checks.values())
    return _answer(200 if ready else 503, status="ready" if ready else "not ready", checks=checks)
