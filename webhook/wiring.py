"""Builds the service's parts from the settings: state, target, RAYNET client, exporter and
worker.

The one place where configuration turns into objects and concrete classes are named (the
SQLite or AWS state, a folder or S3 target), shared by the web app, the worker process and
the command line.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from webhook.delivery import target_from_setting
from webhook.delivery.folder import FolderTarget
from webhook.delivery.reports import FolderReports, ReportSource
from webhook.delivery.target import Target
from webhook.i18n import Texts
from webhook.moneys3.validation import DocumentValidator, ReportValidator
from webhook.observability import instrument_aws, record_raynet_request
from webhook.pipeline import Exporter, Renderer
from webhook.raynet.client import RaynetClient, RaynetCredentials
from webhook.settings.environment import Settings
from webhook.state.model import Clock, FollowUp, WorkPolicy
from webhook.state.ports import State
from webhook.state.sqlite import open_state as open_sqlite_state
from webhook.worker.changes import ChangeCheck
from webhook.worker.chores import Chores
from webhook.worker.daily_report import DailyReport
from webhook.worker.follow_ups import FollowUps, Handler
from webhook.worker.gate import CredentialsStop, ExportGate
from webhook.worker.loop import InstanceWorker, Worker
from webhook.worker.mail import Mailer
from webhook.worker.money_reports import MoneyReports
from webhook.worker.reconcile import Reconciler
from webhook.worker.write_back import WriteBack, paused_while_refused

BUTTON_DEADLINE = 3.0  # the button answers RAYNET within its 10 s
# A web request's waits for the state end well inside RAYNET's 10 s, whatever holds it:
# SQLite's two (the host's writer lock, then the file) WEB_STATE_WAIT each; a DynamoDB or
# SQS call two tries of 1 s (DynamoDB answers in tens of ms, and one retry rides out a 500
# or a transaction conflict), 3 s with the back-off between them.
WEB_STATE_WAIT = 1.5


@dataclass(frozen=True)
class Instance:
    """What the web process needs of one RAYNET instance: its state and target, and for the
    Export button a RAYNET client and a worker that exports one case on demand (no chores,
    no follow-ups: the instance's worker process does those)."""

    settings: Settings
    state: State
    target: Target
    gate: ExportGate
    raynet: RaynetClient | None  # None without API access
    button: Worker | None
    reports: MoneyReports  # takes the Money S3 reports the accountant uploads


def credentials_fingerprint(credentials: RaynetCredentials) -> str:
    """Identifies a set of credentials without storing them."""
    material = "\0".join(
        (credentials.api_url, credentials.instance, credentials.username, credentials.api_key)
    )
    return hashlib.sha256(material.encode()).hexdigest()


def open_state(settings: Settings, clock: Clock = time.time, *, web: bool = False) -> State:
    """The SQLite state file by default; SQS and DynamoDB with ``QUEUE_URL``/``STATE_TABLE``.

    ``web``: for a web process, whose every wait on the state ends within WEB_STATE_WAIT."""
    policy = WorkPolicy(
        settings.worker.lease_seconds, settings.worker.max_attempts, settings.change_check_every
    )
    if settings.queue_url and settings.state_table:
        import boto3  # noqa: PLC0415 - only the AWS mode needs boto3, slow to import: no cycle
        from botocore.config import Config  # noqa: PLC0415 - likewise

        from webhook.state import aws  # noqa: PLC0415 - likewise

        instrument_aws()
        config = None
        if web:
            config = Config(
                connect_timeout=0.5,
                read_timeout=1.0,
                retries={"mode": "standard", "total_max_attempts": 2},
            )
        return aws.open_state(
            boto3.client("sqs", config=config),
            settings.queue_url,
            boto3.resource("dynamodb", config=config).Table(settings.state_table),
            clock,
            policy,
            wait_seconds=settings.queue_wait_seconds,
            prefetch=settings.worker.threads,
        )
    return open_sqlite_state(
        settings.state_db, clock, policy, write_wait=WEB_STATE_WAIT if web else 10.0
    )


def build_target(settings: Settings, location: str | None = None) -> Target:
    """EXPORT_TARGET, or ``location`` (a folder or ``s3://`` URL someone typed for one
    command, created if need be) in its place."""
    if (location or settings.export_target).startswith("s3://"):
        instrument_aws()
    return target_from_setting(
        location or settings.export_target,
        s3_sse=settings.s3_sse,
        s3_kms_key_id=settings.s3_kms_key_id,
        create=True if location else None,
    )


def build_renderer(settings: Settings, stock: bool | None = None) -> Renderer:
    """The renderer the settings describe; ``stock`` overrides MONEY_S3_STOCK."""
    validator = DocumentValidator(settings.xsd_dir) if settings.xsd_dir else None
    return Renderer(
        settings.export_options(stock),
        bookkeeping=settings.bookkeeping,
        raynet_base_currency=settings.raynet_base_currency,
        validator=validator,
    )


def build_raynet_client(
    settings: Settings,
    deadline: float = 30.0,
    credentials: CredentialsStop | None = None,
    clock: Clock = time.time,
) -> RaynetClient:
    return RaynetClient(
        settings.require_raynet(),
        deadline=deadline,
        clock=clock,
        on_request=record_raynet_request,
        latch=credentials,
    )


def build_gate(settings: Settings, state: State, clock: Clock = time.time) -> ExportGate:
    credentials = (
        CredentialsStop(state.records, credentials_fingerprint(settings.raynet), clock)
        if settings.raynet
        else None
    )
    return ExportGate(state.records, credentials, settings.sync_enabled, clock)


def after_export(settings: Settings) -> tuple[FollowUp, ...]:
    """What follows every delivered file here: e-mail with SMTP_URL, write-back unless
    RAYNET_WRITE_BACK=0 (the lock, and a re-export's unlock, with RAYNET_LOCK_EXPORTED=1)."""
    kinds: list[FollowUp] = []
    if settings.smtp is not None:
        kinds.append(FollowUp.EMAIL)
    if settings.write_back:
        kinds += [FollowUp.EXTERNAL_ID, FollowUp.POST]
        if settings.lock_exported:
            kinds += [FollowUp.UNLOCK, FollowUp.LOCK]
    return tuple(kinds)


def build_worker(
    settings: Settings,
    state: State,
    target: Target | None = None,
    client: RaynetClient | None = None,
    clock: Clock = time.time,
) -> InstanceWorker:
    """One instance's worker: exports, chores and follow-ups."""
    gate = build_gate(settings, state, clock)
    client = client or build_raynet_client(settings, credentials=gate.credentials, clock=clock)
    destination = target or build_target(settings)
    exporter = Exporter(client, build_renderer(settings), destination)
    worker = Worker(
        state.queue,
        exporter,
        gate,
        settings.worker,
        after_export(settings),
        clock=clock,
        instance=settings.instance,
    )
    interval = settings.worker.reconcile_interval
    chores = Chores(
        state.queue,
        state.records,
        gate,
        client,
        destination,
        housekeeping=destination.remove_stale_temporaries
        if isinstance(destination, FolderTarget)
        else None,
        reconciler=Reconciler(state.queue, state.records, client, interval, clock)
        if interval
        else None,
        webhook_url=settings.webhook_url(),
        webhook_token=settings.webhook_token,
        money_reports=build_money_reports(settings, state, destination, clock)
        if settings.money_reports
        else None,
        money_reports_every=settings.money_reports_every,
        clock=clock,
    )
    handlers, report = _follow_up_handlers(settings, state, destination, client, clock)
    if settings.change_check_every is not None:
        check = ChangeCheck(
            exporter, state.records, state.outbox, handlers.keys(), clock, settings.instance
        )
        handlers[FollowUp.CHANGE_CHECK] = paused_while_refused(check.check)
    follow_ups = FollowUps(
        state.outbox,
        handlers,
        name=f"{worker.name}/follow-up",
        credentials=gate.credentials,
        report=report,
        clock=clock,
        instance=settings.instance,
    )
    return InstanceWorker(worker, chores, follow_ups)


def _follow_up_handlers(
    settings: Settings, state: State, target: Target, client: RaynetClient, clock: Clock
) -> tuple[dict[FollowUp, Handler], DailyReport | None]:
    """Who does each follow-up here, and the daily report (with SMTP_URL)."""
    texts = Texts(settings.language)
    label = settings.export_location_label
    handlers: dict[FollowUp, Handler] = {}
    if settings.write_back:
        handlers.update(
            WriteBack(client, texts, settings.lock_exported, files_location=label).handlers()
        )
    report = None
    if settings.smtp is not None:
        mailer = Mailer(settings.smtp, target, texts, files_location=label)
        handlers[FollowUp.EMAIL] = mailer.send_order
        handlers[FollowUp.REFUSED_EMAIL] = mailer.send_news
        handlers[FollowUp.CHANGED_EMAIL] = mailer.send_news
        if settings.report_hour is not None:
            report = DailyReport(
                state.records,
                state.outbox,
                mailer,
                target,
                settings.report_hour,
                settings.smtp.recipients + settings.report_recipients,
                settings.dashboard_url(),
                clock,
                settings.import_overdue_days,
            )
            handlers[FollowUp.REPORT] = report.send
    return handlers, report


def build_report_source(where: str) -> ReportSource:
    """``MONEY_S3_REPORTS``: a folder, or ``s3://bucket/prefix``."""
    parsed = urlparse(where)
    if parsed.scheme == "s3":
        from webhook.delivery.s3 import S3Reports  # noqa: PLC0415 - boto3 only for S3; no cycle

        instrument_aws()
        return S3Reports(parsed.netloc, parsed.path.lstrip("/"))
    return FolderReports(Path(parsed.path if parsed.scheme == "file" else where))


def build_money_reports(
    settings: Settings, state: State, target: Target, clock: Clock = time.time
) -> MoneyReports:
    """Reads Money S3's import reports: from MONEY_S3_REPORTS, or uploaded. The news it
    asks for are those this instance sends (write-back, e-mail)."""
    news = []
    if settings.write_back:
        news += [FollowUp.IMPORTED_POST, FollowUp.REFUSED_POST]
    if settings.smtp is not None:
        news.append(FollowUp.REFUSED_EMAIL)
    return MoneyReports(
        state.records,
        state.outbox,
        news,
        source=build_report_source(settings.money_reports) if settings.money_reports else None,
        target=target,
        validator=ReportValidator(settings.xsd_dir) if settings.xsd_dir else None,
        clock=clock,
        instance=settings.instance,
    )


def build_instance(settings: Settings, clock: Clock = time.time) -> Instance:
    """One instance's state and target, and what its Export button needs. The button's
    RAYNET client answers within 3 s: the button must answer RAYNET within 10."""
    state = open_state(settings, clock, web=True)
    target = build_target(settings)
    gate = build_gate(settings, state, clock)
    raynet = None
    button = None
    if settings.raynet:
        raynet = build_raynet_client(settings, BUTTON_DEADLINE, gate.credentials)
        exporter = Exporter(raynet, build_renderer(settings), target)
        button = Worker(
            state.queue, exporter, gate, settings.worker, after_export(settings),
            instance=settings.instance,
        )  # fmt: skip
    return Instance(
        settings,
        state,
        target,
        gate,
        raynet,
        button,
        build_money_reports(settings, state, target, clock),
    )
