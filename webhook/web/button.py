"""``/raynet/button``: the *Export to Money S3* button on a business case in RAYNET.

An administrator adds a custom action button (AJAX) to the business-case detail with the URL
``https://<host>/raynet/button?token={token}&entityId={entityId}&personId={personId}&userName={userName}``.
RAYNET calls it with a one-time token, which is verified with
``GET security/checktoken/{token}/{personId}/`` (valid once, for 60 seconds), so RAYNET's
own permissions decide who may press it. The case is exported at once (or exported again,
as ``<code>+2.xml``, if it already was) and the answer tells the salesperson the outcome:
``{"success": true, "message": "..."}`` or ``{"success": false, "message": "..."}``, HTTP 200
as RAYNET expects. Only a request that cannot come from RAYNET gets a 400.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from webhook.errors import BridgeError
from webhook.observability import log_context
from webhook.raynet.schemas import MAX_ID
from webhook.settings.wiring import Instance
from webhook.state.model import CaseState
from webhook.web.registry import instance

log = logging.getLogger(__name__)
bp = Blueprint("button", __name__)


class ButtonRequestSchema(Schema):
    """The variables RAYNET puts into the button's URL."""

    class Meta:
        unknown = EXCLUDE

    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    entityId = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))
    personId = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))
    userName = fields.String(load_default=None, validate=validate.Length(max=200))
    entityName = fields.String(load_default="BusinessCase")


@bp.route("/raynet/button", methods=["GET", "POST"])
@bp.route("/raynet/button/<name>", methods=["GET", "POST"])
def press(name: str | None = None) -> tuple[Response, int]:
    served = instance(name)  # 404 for an instance that is not served here
    try:
        pressed: dict[str, Any] = ButtonRequestSchema().load(
            {**request.args.to_dict(), **request.form.to_dict()}
        )
    except ValidationError as error:
        return jsonify(
            success=False, message="not a RAYNET button request", fields=error.messages
        ), 400
    with log_context(case_id=pressed["entityId"], user=pressed["userName"]):
        success, message = _export(served, pressed)
        log.info("button: %s", message)
    return jsonify(success=success, message=message), 200


def _export(served: Instance, pressed: dict[str, Any]) -> tuple[bool, str]:
    refusal = _refusal(served, pressed)
    if refusal is not None:
        return False, refusal
    assert served.worker is not None
    case_id: int = pressed["entityId"]
    queue, records = served.state.queue, served.state.records
    record = records.case(case_id)
    if record is not None and record.state == CaseState.EXPORTED:
        queue.request_reexport(case_id)
    else:
        queue.enqueue(case_id)
    if not served.worker.run_once(case_id=case_id):
        return True, "Queued for export to Money S3; the file will be there in a moment."
    return _outcome(served, case_id)


def _refusal(served: Instance, pressed: dict[str, Any]) -> str | None:
    """Why this press cannot export anything, or None."""
    if pressed["entityName"].casefold() != "businesscase":
        return "This button works on business cases only."
    if served.raynet is None or served.worker is None:
        return "The bridge has no RAYNET API access configured; tell your administrator."
    try:
        confirmed = served.raynet.check_button_token(pressed["token"], pressed["personId"])
    except BridgeError as error:
        log.warning("cannot verify a button token: %s", error)
        return "The bridge could not reach RAYNET to verify the request; try again."
    if not confirmed:
        return (
            "RAYNET did not confirm this request (a button link works once, for 60 "
            "seconds). Press the button again."
        )
    paused = served.worker.paused_because()
    return f"Exports to Money S3 are paused ({paused})." if paused else None


def _outcome(served: Instance, case_id: int) -> tuple[bool, str]:
    record = served.state.records.case(case_id)
    assert record is not None
    if record.state == CaseState.EXPORTED:
        again = " again" if record.exports_done > 1 else ""
        return True, f"Exported to Money S3{again} as {record.file_name}."
    if record.state == CaseState.SKIPPED:
        return False, f"Not exported: {record.reason}."
    return False, f"Not exported: {record.reason}"
