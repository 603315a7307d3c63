"""``python -m webhook ...``: the bridge's command line.

Here the commands that run the service and act on cases; ``setup.py`` holds those that set
it up (check, register-webhook, backfill, demo). Exit codes are in ``console.py``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click

from webhook.delivery.stdout import StdoutTarget
from webhook.delivery.target import Target
from webhook.observability import configure_logging
from webhook.ops.backfill import backfill
from webhook.ops.check import check
from webhook.ops.console import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_NOT_EXPORTABLE,
    chosen_settings,
    fail,
    reports_errors,
    say,
)
from webhook.ops.demo import demo
from webhook.ops.serve import ServeOptions, port_taken, url
from webhook.ops.serve import serve as run_server
from webhook.ops.webhook_setup import register_webhook
from webhook.pipeline import CaseSource, Exporter, Skipped
from webhook.raynet.saved import SavedResponses
from webhook.settings.environment import Settings
from webhook.settings.instances import load_instances
from webhook.state.model import CaseQuery, CaseState, TrackedCase
from webhook.state.operations import find_case, reexport_case, retry_case
from webhook.state.ports import CaseRecords
from webhook.wiring import (
    build_raynet_client,
    build_renderer,
    build_target,
    build_worker,
    open_state,
)
from webhook.wording import money_message_text
from webhook.worker.loop import run_workers


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


output_option = click.option(
    "--output",
    "-o",
    metavar="DIR|s3://BUCKET/PREFIX|-",
    default=None,
    help="Where the file goes; '-' prints it. Default (export only): EXPORT_TARGET, recorded "
    "like the service's files.",
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
    """Export one business case from RAYNET, like Akce → Export → Money S3.

    Into EXPORT_TARGET (the default) the case goes the service's way: recorded in the
    state, e-mailed and written back like any other (another file of an exported case, as
    ``replay --case ID --again``). Elsewhere, or to '-', the file is just written."""
    settings = chosen_settings()
    if output is None or output == settings.export_target:
        if stock is not None and stock != settings.stock:
            fail("--stock differs from MONEY_S3_STOCK: give --output for a file aside", EXIT_CONFIG)
        _export_recorded(case_id, settings)
        return
    _export(case_id, build_raynet_client(settings), settings, stock, output)


def _export_recorded(case_id: int, settings: Settings) -> None:
    """The case through the state: queued (another file if it is exported), then exported
    here at once where the queue allows (SQLite), or by the running worker (SQS)."""
    state = open_state(settings)
    record = state.records.case(case_id)
    if record is not None and record.state == CaseState.EXPORTED:
        reexport_case(state.queue, state.records, case_id)
    else:
        state.queue.enqueue(case_id)
    worker = build_worker(settings, state).worker
    if not worker.run_once(case_id=case_id):
        say(f"case {case_id} queued: the worker exports it (python -m webhook status)")
        return
    done = state.records.case(case_id)
    if done is None or done.state != CaseState.EXPORTED:
        reason = done.reason if done else "unknown"
        code = EXIT_NOT_EXPORTABLE if done and done.state == CaseState.SKIPPED else EXIT_FAILED
        fail(f"case {case_id} not exported: {reason}", code)
    say(
        f"exported {done.code} to {done.location}; e-mail and write-back follow from the "
        "running worker"
    )


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
    """Export offline from saved API responses (businessCase and company JSON), to --output
    (the export target takes files only the service's way: use ``export`` there)."""
    settings = chosen_settings()
    if output is None or output == settings.export_target:
        fail(
            "render writes beside the export target: give --output DIR or '-' (into "
            "EXPORT_TARGET, use 'export ID' or 'replay --case ID --again')",
            EXIT_CONFIG,
        )
    source = SavedResponses(case_file, company_file, currency)
    _export(source.case_id, source, settings, stock, output)


def _export(
    case_id: int, source: CaseSource, settings: Settings, stock: bool | None, output: str | None
) -> None:
    renderer = build_renderer(settings, stock)
    to_stdout = output == "-"
    target: Target = StdoutTarget() if to_stdout else build_target(settings, output)
    outcome = Exporter(source, renderer, target).export(case_id, generation=None)
    if isinstance(outcome, Skipped):
        fail(f"{outcome.case_code} not exported: {outcome.reason}", EXIT_NOT_EXPORTABLE)
    if not to_stdout:
        say(f"exported {outcome.case_code} to {outcome.location}")


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
    taken = port_taken(host, port)
    if taken:
        fail(f"cannot listen on {host}:{port}: {taken} (another copy of the bridge?)", EXIT_CONFIG)
    say(
        f"listening on {url(host, port, '/webhooks/raynet')}; state {settings.state_db}, "
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
        workers.append(build_worker(settings, open_state(settings)))
    if not workers:
        fail("no instance has RAYNET_USERNAME, RAYNET_API_KEY and RAYNET_INSTANCE", EXIT_CONFIG)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_workers(workers, stop)


@main.command()
@click.option("--case", "case_id", type=click.IntRange(min=1), help="One business case id.")
@click.option("--all-failed", is_flag=True, help="Every failed and dead case.")
@click.option(
    "--again",
    is_flag=True,
    help="With --case on an exported case: export it once more (<code>+2.xml, ...).",
)
@reports_errors
def replay(case_id: int | None, all_failed: bool, again: bool) -> None:
    """Queue failed or dead cases again (also lifts a RAYNET credentials stop)."""
    if (case_id is None) == (not all_failed):
        fail("give either --case ID or --all-failed", EXIT_CONFIG)
    state = open_state(chosen_settings())
    if all_failed:
        say(f"queued {state.queue.replay()} case(s) again")
        return
    assert case_id is not None
    record = find_case(state.records, case_id)
    if record.state == CaseState.EXPORTED and again:
        reexport_case(state.queue, state.records, case_id)
        say(f"case {case_id} queued for another export")
    elif record.state == CaseState.EXPORTED:
        fail(
            f"case {case_id} is already exported as {record.location}; "
            "add --again to export another file"
        )
    else:
        retry_case(state.queue, state.records, case_id)
        say(f"case {case_id} queued again")


@main.command()
@click.option("--state", "wanted", type=click.Choice([state.value for state in CaseState]))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@reports_errors
def status(wanted: str | None, limit: int) -> None:
    """Counts per state and the most recently changed cases."""
    settings = chosen_settings()
    if not (settings.queue_url and settings.state_table) and not settings.state_db.is_file():
        fail(  # a reading command never makes a state file (a mistyped path would)
            f"STATE_DB {settings.state_db} does not exist: no state to show "
            "(is the path the service's?)",
            EXIT_CONFIG,
        )
    state = open_state(settings)
    records = state.records
    counts = records.counts()
    say("  ".join(f"{name} {count}" for name, count in counts.items()))
    events = records.events_stored()
    follow_ups = state.outbox.counts()
    waiting = ", ".join(f"{name} {count}" for name, count in follow_ups.items())
    if events is not None or waiting:
        say(
            "; ".join(
                part
                for part in (
                    events is not None and f"webhook events on record (30 days): {events}",
                    waiting and f"follow-ups (e-mail, write-back) {waiting}",
                )
                if part
            )
        )
    for record in records.cases(CaseQuery(CaseState(wanted) if wanted else None, limit=limit)):
        detail = record.reason or ""
        if record.state == CaseState.EXPORTED:
            detail = f"{record.location}{_after_delivery(records, record)}"
        say(f"{record.case_id:>8}  {record.code or '?':<20} {record.state:<9} {detail}")


def _after_delivery(records: CaseRecords, record: TrackedCase) -> str:
    """What Money S3 said of the latest file, and whether the deal changed since."""
    exports = records.exports_of(record.case_id)
    latest = exports[-1] if exports else None
    said = ""
    if latest is not None and latest.money is not None:
        verdict = latest.money
        first = f": {money_message_text(verdict.messages[0])}" if verdict.messages else ""
        said = f"; Money S3: {verdict.outcome.value}{first}"
    changes = record.changes
    if changes and changes.changes and latest and changes.generation == latest.generation:
        said += f"; changed since export ({len(changes.changes)} differences)"
        if changes.seen_by:
            said += f", seen by {changes.seen_by}"
    return said


for command in (check, register_webhook, backfill, demo):
    main.add_command(command)
