"""Whether RAYNET still calls the bridge: RAYNET deletes a webhook after 7 days of failed
deliveries, and e-mails only its technical contact about it. ``check`` asks, and so does
the worker every hour, for the dashboard's banner."""

from __future__ import annotations

import hmac

from webhook.errors import BridgeError
from webhook.raynet.schemas import Webhooks

WEBHOOK_EVENTS = ("record.created", "record.updated")


def webhook_problem(webhooks: Webhooks, expected: str, token: str | None) -> str:
    """What ``check`` says of RAYNET's webhook for this bridge; ``BridgeError`` when RAYNET
    would not deliver to it (RAYNET deletes a webhook after 7 days of failures)."""
    ours = [hook for hook in webhooks.hooks if same_url(hook.url, expected)]
    if not ours:
        raise BridgeError(
            f"RAYNET has no webhook calling {expected} (deleted after 7 days of failed "
            "deliveries?): run register-webhook"
        )
    hook = ours[0]
    missing = [event for event in WEBHOOK_EVENTS if event not in hook.events]
    if missing:
        raise BridgeError(f"RAYNET's webhook {hook.id} does not send {', '.join(missing)}")
    if token is not None and not hmac.compare_digest(
        (hook.secret_token or "").encode(), token.encode()
    ):
        raise BridgeError(f"RAYNET's webhook {hook.id} sends another token than WEBHOOK_TOKEN")
    contacts = ", ".join(webhooks.technical_contacts)
    return f"{hook.id} calls {expected}" + (
        f"; RAYNET e-mails {contacts} when it fails"
        if contacts
        else "; no technical contact: set RAYNET_TECHNICAL_CONTACT and run register-webhook"
    )


def same_url(first: str, second: str) -> bool:
    return first.strip().rstrip("/") == second.strip().rstrip("/")
