"""``python -m webhook ...``: the bridge's command line.

Exit codes: 0 done, 1 failed (the reason is one line on stderr), 2 configuration or usage
error, 3 the business case is not exportable (not won, no products).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import re
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlparse

import click

from webhook.config import Settings, load_instances, load_settings
from webhook.delivery import Target
from webhook.delivery.stdout import StdoutTarget
from webhook.demo import run_demo
from webhook.errors import BridgeError, ConfigError
from webhook.jobs.reconcile import queue_unexported
from webhook.jobs.store import StateStore
from webhook.moneys3.validation import DocumentValidator
from webhook.observability import configure_logging
from webhook.operations import find_case, reexport_case, retry_case
from webhook.pipeline import CaseSource, Skipped, export_case
from webhook.raynet.saved import SavedResponses
from webhook.raynet.schemas import Webhooks
from webhook.runtime import (
    build_raynet_client,
    build_renderer,
    build_target,
    build_worker,
    open_queue_and_records,
)
from webhook.serve import PACKAGE_ROOT, ServeOptions
from webhook.serve import serve as run_server

WEBHOOK_EVENTS = ("record.created", "record.updated")
WEBHOOK_PATH = re.compile(r".*/webhooks/raynet(?:/(?P<instance>[a-z0-9][a-z0-9-]{0,39}))?")
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_NOT_EXPORTABLE = 3
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def reports_errors(command: F) -> F:
    """Turn the bridge's errors into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            fail(str(error), EXIT_CONFIG)
        except BridgeError as error:
            fail(str(error))

    return wrapper  # type: ignore[return-value]


@click.group()
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--instance", metavar="NAME", help="With BRIDGE_CONFIG: the RAYNET instance a command is about."
)
@click.pass_context
def main(context: click.Context, log_level: str, instance: str | None) -> None:
    """RAYNET CRM → Money S3 bridge: won deals become received orders."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    context.obj = {"instance": instance}


def chosen_settings() -> Settings:
    """The settings of the instance ``--instance`` names, or of the only one there is."""
    wanted = (click.get_current_context().find_root().obj or {}).get("instance")
    instances = load_instances()
    names = ", ".join(name or "(environment)" for name in instances)
    if wanted is None:
        if len(instances) == 1:
            return next(iter(instances.values()))
        raise ConfigError(
            f"several instances are configured ({names}): choose one with --instance NAME"
        )
    if wanted not in instances:
        raise ConfigError(f"--instance {wanted}: no such instance (configured: {names})")
    return instances[wanted]


output_option = click.option(
    "--output",
    "-o",
    metavar="DIR|s3://BUCKET/PREFIX|-",
    default=None,
    help="Where the file goes; '-' prints it. Default: EXPORT_TARGET (./exports).",
)
stock_option = click.option(
    "--stock/--no-stock",
    default=None,
    help="Stock-linked items (Sklad + KmKarta by product code). Default: MONEY_S3_STOCK.",
)


@main.command()
@click.argument("case_id", type=click.IntRange(min=1), metavar="BUSINESS_CASE_ID")
@stock_option
@output_option
@reports_errors
def export(case_id: int, stock: bool | None, output: str | None) -> None:
    """Export one business case from RAYNET, like Akce → Export → Money S3."""
    settings = chosen_settings()
    _export(case_id, build_raynet_client(settings), settings, stock, output)


@main.command()
@click.argument("case_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("company_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--currency", metavar="ISO", help="ISO code of the case's currency, e.g. EUR.")
@stock_option
@output_option
@reports_errors
def render(
    case_file: Path,
    company_file: Path,
    currency: str | None,
    stock: bool | None,
    output: str | None,
) -> None:
    """Export offline from saved API responses (businessCase and company JSON)."""
    settings = chosen_settings()
    source = SavedResponses(case_file, company_file, currency)
    _export(source.case_id, source, settings, stock, output)


def _export(
    case_id: int, source: CaseSource, settings: Settings, stock: bool | None, output: str | None
) -> None:
    renderer = build_renderer(settings, stock)
    to_stdout = output == "-"
    target: Target = StdoutTarget() if to_stdout else build_target(settings, output)
    outcome = export_case(case_id, source, renderer, target, generation=None)
    if isinstance(outcome, Skipped):
        fail(f"{outcome.case_code} not exported: {outcome.reason}", EXIT_NOT_EXPORTABLE)
    if not to_stdout:
        click.echo(f"exported {outcome.case_code} to {outcome.location}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    "http_workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes for webhooks.",
)
@click.option("--no-worker", is_flag=True, help="Only receive; run `worker` elsewhere.")
@click.option(
    "--dev",
    is_flag=True,
    help="Local trial: generate a webhook token if WEBHOOK_TOKEN is unset, and run "
    "without RAYNET credentials (webhooks are stored, not exported).",
)
@reports_errors
def serve(host: str, port: int, http_workers: int, no_worker: bool, dev: bool) -> None:
    """Receive webhooks (gunicorn) and export won cases (worker), for every instance."""
    instances = load_instances()
    if not dev:
        for settings in instances.values():
            settings.check_receiver()
            if not no_worker:
                settings.require_raynet()
    settings = instances.get("") or next(iter(instances.values()))
    options = ServeOptions(
        host=host, port=port, http_workers=http_workers, run_worker=not no_worker, dev=dev
    )
    click.echo(
        f"listening on http://{host}:{port}/webhooks/raynet; state {settings.state_db}, "
        f"files to {settings.export_target}",
        err=True,
    )
    sys.exit(run_server(instances, options))


@main.command()
@reports_errors
def worker() -> None:
    """Export due cases of every instance until stopped (SIGTERM/SIGINT).

    Several worker processes may share the state; each instance gets its own thread(s).
    """
    instances = load_instances()
    first = next(iter(instances.values()))
    configure_logging(first.log_level, first.log_json)
    workers = []
    for name, settings in instances.items():
        if settings.raynet is None:
            logging.getLogger(__name__).warning(
                "instance %s has no RAYNET credentials: nothing is exported", name or "(env)"
            )
            continue
        queue, records = open_queue_and_records(settings)
        workers.append(build_worker(settings, queue, records))
    if not workers:
        fail("no instance has RAYNET_USERNAME, RAYNET_API_KEY and RAYNET_INSTANCE", EXIT_CONFIG)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threads = [
        threading.Thread(target=w.run, args=(stop,), name=f"worker-{n}")
        for n, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@main.command()
@click.option("--case", "case_id", type=click.IntRange(min=1), help="One business case id.")
@click.option("--all-failed", is_flag=True, help="Every failed and dead case.")
@click.option(
    "--again",
    is_flag=True,
    help="With --case on an exported case: export it once more (<code>-2.xml, ...).",
)
@reports_errors
def replay(case_id: int | None, all_failed: bool, again: bool) -> None:
    """Queue failed or dead cases again (also lifts a RAYNET credentials stop)."""
    if (case_id is None) == (not all_failed):
        fail("give either --case ID or --all-failed", EXIT_CONFIG)
    _, records = open_queue_and_records(chosen_settings())
    if all_failed:
        click.echo(f"queued {records.replay()} case(s) again")
        return
    assert case_id is not None
    record = find_case(records, case_id)
    if record.state == "exported" and again:
        reexport_case(records, case_id)
        click.echo(f"case {case_id} queued for another export")
    elif record.state == "exported":
        fail(
            f"case {case_id} is already exported as {record.location}; "
            "add --again to export another file"
        )
    else:
        retry_case(records, case_id)
        click.echo(f"case {case_id} queued again")


@main.command()
@click.option("--state", type=click.Choice(["pending", "exported", "skipped", "failed", "dead"]))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@reports_errors
def status(state: str | None, limit: int) -> None:
    """Counts per state and the most recently changed cases."""
    _, records = open_queue_and_records(chosen_settings())
    counts = records.counts()
    click.echo("  ".join(f"{name} {count}" for name, count in counts.items()))
    if isinstance(records, StateStore):  # what only the embedded state keeps
        mails = records.notifications_by_state()
        click.echo(
            f"webhook events on record (30 days): {records.events_stored()}"
            + (f"; e-mails {', '.join(f'{k} {v}' for k, v in mails.items())}" if mails else "")
        )
    for record in records.cases(state=state, limit=limit):
        detail = record.location if record.state == "exported" else (record.reason or "")
        click.echo(f"{record.case_id:>8}  {record.code or '?':<20} {record.state:<9} {detail}")


@main.command()
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
        open_queue_and_records(settings)[1].ping()
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

    for name, test in (
        ("webhook token", webhook_token),
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
    if not hook.active:
        raise BridgeError(f"RAYNET's webhook {hook.id} for {expected} is not active")
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


@main.command("register-webhook")
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


def same_url(first: str, second: str) -> bool:
    return first.strip().rstrip("/") == second.strip().rstrip("/")


@main.command()
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
    queue, records = open_queue_and_records(settings)
    with click.progressbar(
        client.won_cases_changed_since(since.astimezone()),
        label="won cases",
        show_pos=True,
        file=sys.stderr,
    ) as cases:
        listed, queued = queue_unexported(queue, records, cases)
    left = client.rate_limit.remaining
    click.echo(
        f"{listed} won case(s) changed since {since:%Y-%m-%d %H:%M}; {queued} queued for "
        f"export, the rest are exported or waiting already "
        f"({client.requests_sent} RAYNET API call(s)"
        + (f", {left:,} left today)" if left is not None else ")")
    )


@main.command()
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
