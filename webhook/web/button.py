"""``/raynet/button``: the *Export to Money S3* button on a business case in RAYNET.

An administrator adds a custom action button (AJAX) to the business-case detail with the URL
``https://<host>/raynet/button?key=<BUTTON_KEY>&token={token}&entityId={entityId}&personId={personId}``.
The answer is what RAYNET shows the salesperson: ``{"success": ..., "message": "..."}``,
HTTP 200 as RAYNET expects; only a request that cannot come from RAYNET gets a 4xx.

Anyone on the internet can call this URL, so a press costs RAYNET's daily quota nothing
until it is known to come from RAYNET's button, and costs the receiver little:

- without ``BUTTON_KEY`` (when it is set), a malformed token or one RAYNET answered before,
  nothing is asked of RAYNET; presses are rate-limited per address, after a few tokens
  RAYNET rejected from one address no more from there are asked about for 10 minutes,
  and presses stop while less than a tenth of the day's API requests is left, which is
  kept for exports (no limit counts everyone together: strangers could lock every
  salesperson out with it);
- the token is verified with ``GET security/checktoken/{token}/{personId}/`` (valid once,
  for 60 s), which proves the person; RAYNET does not bind it to the record, so the case
  must be that person's own (its owner), or the press exports nothing;
- an exported case is exported again only when the same person presses again within two
  minutes; the answer comes within RAYNET's 10 s, while a slow export goes on queued.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from webhook.errors import BridgeError
from webhook.i18n import N_
from webhook.observability import log_context
from webhook.raynet.client import RaynetNotFound
from webhook.raynet.schemas import MAX_ID
from webhook.state.model import CaseState
from webhook.web.language import gettext, texts
from webhook.web.limits import Refusals, SharedStoreUnavailable, counters, seen_before
from webhook.web.registry import instance
from webhook.wiring import Instance
from webhook.wording import reason_text

log = logging.getLogger(__name__)
bp = Blueprint("button", __name__)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")  # RAYNET's tokens: 43 characters of base64url
ANSWER_SECONDS = 8.0  # RAYNET gives up after 10
CONFIRM_SECONDS = 120
PRESSES_AT_ONCE = 2  # per process: the rest of the threads stay free for webhooks
EXTENSION = "bridge_button"
# Within 10 minutes, RAYNET is asked about at most 3 tokens it rejects from one address
# (BUTTON_KEY makes it 0).
REJECTED = Refusals("button-rejected", most=3, seconds=600)

# The answers RAYNET shows, in English as the catalogue's keys; each is translated into the
# presser's language (Accept-Language, else BRIDGE_LANGUAGE) when it is sent.
NOT_CONFIRMED = N_(
    "RAYNET did not confirm this request (a button link works once, for 60 seconds). "
    "Press the button again."
)
CANNOT_VERIFY = N_("The bridge could not reach RAYNET to verify the request; try again.")
BUSY = N_("The bridge is busy with other presses; press the button again in a moment.")
QUOTA_LOW = N_(
    "RAYNET's API requests for today are running low and are kept for exports; "
    "the case will be exported by its webhook, or press the button tomorrow."
)
QUEUED = N_("Queued for export to Money S3; the file will be there in a moment.")
TOO_MANY = N_("Too many presses in a short time; wait a minute and press again.")
TOO_MANY_REJECTED = N_(
    "RAYNET did not confirm several presses from this address lately; the button works "
    "here again in %(minutes)d min."
)
STORE_DOWN = N_("The bridge cannot check its limits right now; try again in a minute.")


class ButtonRequestSchema(Schema):
    """The variables RAYNET puts into the button's URL."""

    class Meta:
        unknown = EXCLUDE

    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    entityId = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))
    personId = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))
    userName = fields.String(load_default=None, validate=validate.Length(max=200))
    entityName = fields.String(load_default="BusinessCase")


@dataclass(frozen=True)
class _Capacity:
    """What one process spends on presses: a few at a time, exports on two threads."""

    presses: threading.BoundedSemaphore
    exports: ThreadPoolExecutor


def init_button(app: Flask) -> None:
    app.extensions[EXTENSION] = _Capacity(
        threading.BoundedSemaphore(PRESSES_AT_ONCE),
        ThreadPoolExecutor(2, thread_name_prefix="button-export"),
    )
    app.register_blueprint(bp)


def over_the_limit() -> Response:
    """The answer to a press over a rate limit, in the button's own words (200: RAYNET
    shows the message only with 200)."""
    return jsonify(success=False, message=gettext(TOO_MANY))


@bp.route("/raynet/button", methods=["GET", "POST"])
@bp.route("/raynet/button/<name>", methods=["GET", "POST"])
def press(name: str | None = None) -> tuple[Response, int]:
    started = time.monotonic()
    served = instance(name)  # 404 for an instance that is not served here
    arguments = {**request.args.to_dict(), **request.form.to_dict()}
    key = served.settings.button_key
    if key is not None and not hmac.compare_digest(arguments.get("key", "").encode(), key.encode()):
        return jsonify(success=False, message="not this bridge's button (BUTTON_KEY)"), 403
    try:
        pressed: dict[str, Any] = ButtonRequestSchema().load(arguments)
    except ValidationError as error:
        return jsonify(
            success=False, message="not a RAYNET button request", fields=error.messages
        ), 400
    with log_context(case_id=pressed["entityId"], user=pressed["userName"]):
        success, message = _press(served, pressed, started)
        log.info("button: %s", message)
    return jsonify(success=success, message=message), 200


@bp.errorhandler(SharedStoreUnavailable)
def _store_down(_: SharedStoreUnavailable) -> Response:
    """Redis down: said in the button's words, with 200 (RAYNET shows nothing else)."""
    return jsonify(success=False, message=gettext(STORE_DOWN))


def _press(served: Instance, pressed: dict[str, Any], started: float) -> tuple[bool, str]:
    refusal = _refusal_without_raynet(served, pressed)
    if refusal is not None:
        return False, refusal
    capacity: _Capacity = current_app.extensions[EXTENSION]
    if not capacity.presses.acquire(blocking=False):
        return False, gettext(BUSY)
    try:
        refusal = _refusal_by_raynet(served, pressed)
        if refusal is not None:
            return False, refusal
        asking = _export_or_ask(served, pressed["entityId"], pressed["personId"])
        if asking is not None:
            return False, asking
        return _exported_within(served, capacity, pressed["entityId"], started)
    finally:
        capacity.presses.release()


def _refusal_without_raynet(served: Instance, pressed: dict[str, Any]) -> str | None:
    """Why this press cannot export anything, found without a request to RAYNET."""
    return _cannot_export_here(served, pressed) or _not_worth_asking(served, pressed)


def _cannot_export_here(served: Instance, pressed: dict[str, Any]) -> str | None:
    if pressed["entityName"].casefold() != "businesscase":
        return gettext("This button works on business cases only.")
    if served.raynet is None or served.button is None:
        return gettext("The bridge has no RAYNET API access configured; tell your administrator.")
    paused = served.gate.closed_because()
    if paused is None:
        return None
    return gettext("Exports to Money S3 are paused (%(why)s).", why=gettext(paused))


def _not_worth_asking(served: Instance, pressed: dict[str, Any]) -> str | None:
    """A token RAYNET cannot have issued, or has answered before, and a quota kept for
    exports: nothing to ask RAYNET about."""
    assert served.raynet is not None
    if not TOKEN.match(pressed["token"]):
        return gettext(NOT_CONFIRMED)
    if served.raynet.rate_limit.running_low():
        return gettext(QUOTA_LOW)
    wait = REJECTED.wait(request.remote_addr or "unknown", shared=True)
    if wait is not None:
        return gettext(TOO_MANY_REJECTED, minutes=math.ceil(wait / 60))
    digest = hashlib.sha256(pressed["token"].encode()).hexdigest()
    if seen_before(f"button-token:{digest}", 120):  # valid once: no second question
        return gettext(NOT_CONFIRMED)
    return None


def _refusal_by_raynet(served: Instance, pressed: dict[str, Any]) -> str | None:
    """Why RAYNET says this press is not for us: a token it did not issue to this person,
    or a case that is not this person's."""
    assert served.raynet is not None
    try:
        if not served.raynet.check_button_token(pressed["token"], pressed["personId"]):
            REJECTED.count(request.remote_addr or "unknown")
            return gettext(NOT_CONFIRMED)
        case = served.raynet.business_case(pressed["entityId"])
    except RaynetNotFound:
        return gettext("This business case does not exist in RAYNET.")
    except BridgeError as error:
        log.warning("cannot verify a button press: %s", error)
        return gettext(CANNOT_VERIFY)
    if case.owner_id != pressed["personId"]:
        return gettext(
            "Only the case's owner (%(owner)s) can send it to Money S3 from RAYNET; your "
            "administrator can from the bridge's dashboard.",
            owner=case.owner_name or "?",
        )
    return None


def _export_or_ask(served: Instance, case_id: int, person_id: int) -> str | None:
    """Queue the case; an exported one only when the same person presses twice."""
    queue, records = served.state.queue, served.state.records
    record = records.case(case_id)
    if record is None or record.state != CaseState.EXPORTED:
        queue.enqueue(case_id)
        return None
    confirmation = f"button-again:{case_id}:{person_id}"
    if seen_before(confirmation, CONFIRM_SECONDS):
        counters().clear(confirmation)  # a third press asks again
        queue.request_reexport(case_id)
        return None
    return gettext(
        "Already exported to Money S3 as %(file)s (%(when)s). Press the button again within "
        "2 minutes to write one more file.",
        file=record.file_name,
        when=texts().moment(record.exported_at),
    )


def _exported_within(
    served: Instance, capacity: _Capacity, case_id: int, started: float
) -> tuple[bool, str]:
    """Export now if it fits RAYNET's patience; else it goes on while we answer."""
    assert served.button is not None
    export = capacity.exports.submit(served.button.run_once, 0, case_id)
    try:
        worked = export.result(timeout=max(0.5, ANSWER_SECONDS - (time.monotonic() - started)))
    except Late:
        return True, gettext(QUEUED)
    record = served.state.records.case(case_id)
    if not worked or record is None:
        return True, gettext(QUEUED)
    if record.state == CaseState.EXPORTED:
        return True, (
            gettext("Exported to Money S3 again as %(file)s.", file=record.file_name)
            if record.exports_done > 1
            else gettext("Exported to Money S3 as %(file)s.", file=record.file_name)
        )
    reason = reason_text(gettext, record.reason_code, record.reason, record.detail).rstrip(".")
    return False, gettext("Not exported: %(reason)s.", reason=reason)
