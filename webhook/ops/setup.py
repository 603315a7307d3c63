"""Commands that set the bridge up and keep it connected: ``check``, ``register-webhook``,
``backfill`` and ``demo``."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import click

from webhook.errors import BridgeError, ConfigError
from webhook.moneys3.validation import DocumentValidator
from webhook.ops.console import (
    EXIT_CONFIG,
    EXIT_FAILED,
    chosen_settings,
    fail,
    reports_errors,
)
from webhook.ops.demo import run_demo
from webhook.ops.serve import PACKAGE_ROOT
from webhook.raynet.schemas import Webhooks
from webhook.raynet.upkeep import WEBHOOK_EVENTS, same_url, webhook_problem
from webhook.settings.environment import Settings, load_settings
from webhook.settings.wiring import build_raynet_client, build_target, open_state
from webhook.worker.reconcile import queue_unexported

WEBHOOK_PATH = re.compile(r".*/webhooks/raynet(?:/(?P<instance>[a-z0-9][a-z0-9-]{0,39}))?")


@click.command()
def check() -> None:
    """Check the configuration, one RAYNET API call, the state file and the export target."""
    failures = 0

    def item(name: str, test: Callable[[], str]) -> None:
        nonlocal failures
        try:
            detail = test()
        except _Warning as warning:
            click.echo(f"WARN  {name}: {warning}")
        except (BridgeError, OSError, sqlite3.Error) as error:
            failures += 1
            click.echo(f"FAIL  {name}: {error}")
        else:
            click.echo(f"PASS  {name}: {detail}")

    try:
        settings = chosen_settings()
    except ConfigError as error:
        click.echo(f"FAIL  configuration: {error}")
        sys.exit(EXIT_CONFIG)
    click.echo("PASS  configuration: every variable is valid")

    def webhook_token() -> str:
        settings.check_receiver()
        return "set" if settings.webhook_token else "not set: WEBHOOK_ALLOW_NO_TOKEN=1"

    def state_store() -> str:
        open_state(settings).records.ping()
        return f"{settings.state_db} takes writes"

    def export_target() -> str:
        target = build_target(settings)
        target.check()
        return f"{target.description} takes files"

    def xsd() -> str:
        if settings.xsd_dir is None:
            return "MONEY_S3_XSD_DIR not set: documents are not validated before delivery"
        DocumentValidator(settings.xsd_dir)
        return f"{settings.xsd_dir} loaded; every document is validated"

    def raynet() -> str:
        client = build_raynet_client(settings)
        count = len(client.currencies())
        left = client.rate_limit.remaining
        return f"instance {settings.require_raynet().instance} answered ({count} currencies)" + (
            f"; {left:,} requests left today" if left is not None else ""
        )

    def raynet_webhook() -> str:
        expected = settings.webhook_url()
        if expected is None:
            raise _Warning("PUBLIC_URL not set: cannot tell whether RAYNET still calls this bridge")
        webhooks = build_raynet_client(settings).webhooks()
        return webhook_problem(webhooks, expected, settings.webhook_token)

    def button() -> str:
        if settings.button_key is None:
            raise _Warning(
                "BUTTON_KEY not set: anyone can press the Export button's URL (rate-limited, "
                "RAYNET verifies each press)"
            )
        return "BUTTON_KEY set: presses without it never reach RAYNET"

    def write_back() -> str:
        if not settings.write_back:
            return "off (RAYNET_WRITE_BACK=0): nothing is written to RAYNET"
        if settings.queue_url:
            raise _Warning(
                "RAYNET_WRITE_BACK=1 does nothing in the SQS mode (it needs the SQLite "
                "state's outbox); set it to 0"
            )
        locked = ", and the case is locked" if settings.lock_exported else ""
        return f"after each file RAYNET gets an external id and a post{locked}"

    for name, test in (
        ("webhook token", webhook_token),
        ("Export button", button),
        ("write-back to RAYNET", write_back),
        ("state file", state_store),
        ("export target", export_target),
        ("Money S3 schema", xsd),
        ("RAYNET API", raynet),
        ("RAYNET webhook", raynet_webhook),
    ):
        item(name, test)
    sys.exit(EXIT_FAILED if failures else 0)


class _Warning(Exception):
    """A check that could not be made; reported, not counted as a failure."""


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
        click.echo(f"deleted webhook {delete}")
        return
    url = _webhook_url(url, settings)
    if settings.webhook_token is None:
        fail("WEBHOOK_TOKEN is not set: RAYNET must send it with every webhook", EXIT_CONFIG)
    existing = [hook for hook in client.webhooks().hooks if same_url(hook.url, url)]
    if existing:
        click.echo(f"already registered as {existing[0].id}; delete it first to register again")
    else:
        uuid = client.create_webhook(url, settings.webhook_token, list(WEBHOOK_EVENTS))
        click.echo(f"registered webhook {uuid} for {url} ({', '.join(WEBHOOK_EVENTS)})")
    if settings.technical_contacts:
        client.set_technical_contacts(list(settings.technical_contacts))
        click.echo(
            "RAYNET e-mails "
            + ", ".join(settings.technical_contacts)
            + " when deliveries fail for a day (it deletes the webhook after 7 days)"
        )
    else:
        click.echo(
            "warning: RAYNET_TECHNICAL_CONTACT is not set: nobody hears from RAYNET when "
            "deliveries fail, and it deletes the webhook after 7 days",
            err=True,
        )
    if url.startswith("http://"):
        click.echo("warning: the token travels in a header; use https", err=True)


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
    for hook in webhooks.hooks:
        token = (
            "none"
            if not hook.secret_token
            else "matches WEBHOOK_TOKEN"
            if hook.secret_token == settings.webhook_token
            else "differs from WEBHOOK_TOKEN"
        )
        state = "" if hook.active else "  INACTIVE"
        click.echo(f"{hook.id}  {hook.url}  {','.join(hook.events)}  token {token}{state}")
    contacts = ", ".join(webhooks.technical_contacts) or "none"
    click.echo(f"technical contact: {contacts}")


@click.command()
@click.option(
    "--since",
    required=True,
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
    help="Date (local time) from which changed won cases are looked for.",
)
@reports_errors
def backfill(since: dt.datetime) -> None:
    """Queue won cases changed since a date that were never exported (outage, new install)."""
    settings = chosen_settings()
    client = build_raynet_client(settings)
    state = open_state(settings)
    with click.progressbar(
        client.won_cases_changed_since(since.astimezone()),
        label="won cases",
        show_pos=True,
        file=sys.stderr,
    ) as cases:
        listed, queued = queue_unexported(state.queue, state.records, cases)
    left = client.rate_limit.remaining
    click.echo(
        f"{listed} won case(s) changed since {since:%Y-%m-%d %H:%M}; {len(queued)} queued for "
        f"export, the rest are exported or waiting already "
        f"({client.requests_sent} RAYNET API call(s)"
        + (f", {left:,} left today)" if left is not None else ")")
    )


@click.command()
@click.option(
    "--output",
    default="./exports",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the file.",
)
@reports_errors
def demo(output: Path) -> None:
    """See the bridge work on bundled sample data, without any RAYNET credentials."""
    xsd_dir = load_settings().xsd_dir or _shared_xsd_dir()
    result = run_demo(output, xsd_dir, say=click.echo)
    if xsd_dir is not None:
        DocumentValidator(xsd_dir).validate(result.file.read_bytes())
        click.echo(f"4. The file is valid against Money S3's schema ({xsd_dir / '_Document.xsd'}).")
    else:
        click.echo("4. Not validated: set MONEY_S3_XSD_DIR to Seyfor's XSD folder to check it.")
    head = result.file.read_text(encoding="utf-8").splitlines()[:12]
    click.echo("\n" + "\n".join(f"   {line}" for line in head) + "\n   ...")
    click.echo(
        "\nNext: import it in Money S3 (Objednávky přijaté → XML přenosy → Import z XML, O+P+N),"
        "\nthen set WEBHOOK_TOKEN and RAYNET_USERNAME/RAYNET_API_KEY/RAYNET_INSTANCE and run "
        "`python -m webhook check`."
    )


def _shared_xsd_dir() -> Path | None:
    """Seyfor's XSDs where this project's developers keep them, if they are there."""
    candidate = PACKAGE_ROOT.parent / "shared" / "money-s3-xsd"
    return candidate if (candidate / "_Document.xsd").is_file() else None
