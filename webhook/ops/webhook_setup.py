"""``python -m webhook register-webhook``: the RAYNET webhook that calls this bridge, and who
RAYNET e-mails when its deliveries fail."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import click

from webhook.ops.console import EXIT_CONFIG, chosen_settings, fail, reports_errors, say
from webhook.raynet.schemas import Webhooks
from webhook.raynet.webhooks import WEBHOOK_EVENTS, same_url
from webhook.settings.environment import Settings
from webhook.wiring import build_raynet_client

WEBHOOK_PATH = re.compile(r".*/webhooks/raynet(?:/(?P<instance>[a-z0-9][a-z0-9-]{0,39}))?")


@click.command("register-webhook")
@click.option(
    "--url",
    help="This service's webhook URL, e.g. https://bridge.firma.cz/webhooks/raynet "
    "(…/webhooks/raynet/<instance> with BRIDGE_CONFIG). Default: from PUBLIC_URL.",
)
@click.option("--list", "list_them", is_flag=True, help="Show the instance's webhooks.")
@click.option("--delete", metavar="UUID", help="Delete the webhook with this id.")
@reports_errors
def register_webhook(url: str | None, list_them: bool, delete: str | None) -> None:
    """Create (or list, or delete) the RAYNET webhook that calls this service, and set who
    RAYNET e-mails when its deliveries fail (RAYNET_TECHNICAL_CONTACT)."""
    if sum(bool(choice) for choice in (url, list_them, delete)) > 1:
        fail("give one of --url URL, --list or --delete UUID", EXIT_CONFIG)
    settings = chosen_settings()
    client = build_raynet_client(settings)
    if list_them:
        _list_webhooks(client.webhooks(), settings)
        return
    if delete:
        client.delete_webhook(delete)
        say(f"deleted webhook {delete}")
        return
    url = _webhook_url(url, settings)
    if settings.webhook_token is None:
        fail("WEBHOOK_TOKEN is not set: RAYNET must send it with every webhook", EXIT_CONFIG)
    existing = [hook for hook in client.webhooks().hooks if same_url(hook.url, url)]
    if existing:
        say(f"already registered as {existing[0].id}; delete it first to register again")
    else:
        uuid = client.create_webhook(url, settings.webhook_token, list(WEBHOOK_EVENTS))
        say(f"registered webhook {uuid} for {url} ({', '.join(WEBHOOK_EVENTS)})")
    if settings.technical_contacts:
        # Technical contacts are the whole instance's: ours are added, none is replaced.
        present = list(client.webhooks().technical_contacts)
        contacts = present + [c for c in settings.technical_contacts if c not in present]
        if contacts != present:
            client.set_technical_contacts(contacts)
        say(
            "RAYNET e-mails "
            + ", ".join(contacts)
            + " when deliveries fail for a day (it deletes the webhook after 7 days)"
        )
    else:
        say(
            "warning: RAYNET_TECHNICAL_CONTACT is not set: nobody hears from RAYNET when "
            "deliveries fail, and it deletes the webhook after 7 days",
            err=True,
        )
    if url.startswith("http://"):
        say("warning: the token travels in a header; use https", err=True)


def _webhook_url(url: str | None, settings: Settings) -> str:
    """``--url`` (or PUBLIC_URL's), checked to be this instance's webhook address."""
    url = url or settings.webhook_url()
    if url is None:
        fail(
            "give --url or set PUBLIC_URL (the bridge's address as RAYNET reaches it)", EXIT_CONFIG
        )
    parsed = urlparse(url)
    match = WEBHOOK_PATH.fullmatch(parsed.path.rstrip("/"))
    if parsed.scheme not in ("https", "http") or not parsed.netloc or match is None:
        fail(
            "--url must be this service's address ending in /webhooks/raynet "
            "(or /webhooks/raynet/<instance>)",
            EXIT_CONFIG,
        )
    named = match["instance"] or ""
    if named != settings.instance:
        fail(
            f"{url} is the webhook address of instance {named or '(environment)'}, not of "
            f"{settings.instance or '(environment)'}: "
            + (f"add --instance {named}" if named else "drop --instance"),
            EXIT_CONFIG,
        )
    return url


def _list_webhooks(webhooks: Webhooks, settings: Settings) -> None:
    if not webhooks.hooks:
        say(
            "RAYNET has no webhook for this instance: run register-webhook (with PUBLIC_URL) "
            "to create one"
        )
    for hook in webhooks.hooks:
        token = (
            "none"
            if not hook.secret_token
            else "matches WEBHOOK_TOKEN"
            if hook.secret_token == settings.webhook_token
            else "differs from WEBHOOK_TOKEN"
        )
        say(f"{hook.id}  {hook.url}  {','.join(hook.events)}  token {token}")
    contacts = ", ".join(webhooks.technical_contacts)
    say(
        f"technical contact: {contacts}"
        if contacts
        else "technical contact: none (set RAYNET_TECHNICAL_CONTACT and run register-webhook, "
        "so that someone hears of failing deliveries before RAYNET deletes the webhook)"
    )
