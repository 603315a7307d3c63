"""The dashboard's page of webhooks that came with RAYNET's token and could not be read.

The receiver answers such a body 200 ``ignored`` (a 4xx would have RAYNET retry it for
days and then delete the webhook) and keeps it, with what was wrong, for ops to see here
what RAYNET sent: the latest 100, 30 days at most.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from flask import Response, jsonify, render_template

from webhook.order import Reason
from webhook.state.model import UnreadableEvent
from webhook.web.admin import bp
from webhook.web.registry import instance

MOST_LISTED = 100
SHOWN_CHARACTERS = 4000  # of a body on the page: enough to tell what it is; the API has it all


@dataclass(frozen=True)
class ShownEvent:
    received_at: float
    problem: Reason | None
    body: str  # as text, cut to SHOWN_CHARACTERS
    size: int  # bytes received


@bp.get("/webhooks")
def unreadable_webhooks() -> str:
    kept = instance().state.records.unreadable(limit=MOST_LISTED)
    return render_template("admin/webhooks.html", kept=[_shown(event) for event in kept])


@bp.get("/api/webhooks/unreadable")
def api_unreadable_webhooks() -> Response:
    """The kept bodies, newest first, whole (base64: they need not be text)."""
    kept = instance().state.records.unreadable(limit=MOST_LISTED)
    return jsonify(
        unreadable=[
            {
                "received_at": event.received_at,
                "problem": str(event.problem or ""),
                "code": event.problem.code if event.problem else None,
                "body_base64": base64.b64encode(event.body).decode("ascii"),
            }
            for event in kept
        ]
    )


def _shown(event: UnreadableEvent) -> ShownEvent:
    text = event.body.decode("utf-8", errors="replace")
    if len(text) > SHOWN_CHARACTERS:
        text = text[: SHOWN_CHARACTERS - 1] + "…"
    return ShownEvent(event.received_at, event.problem, text, len(event.body))
