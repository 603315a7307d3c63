"""Builds the service's parts from the settings: state, target, RAYNET client, worker.

The one place where configuration turns into objects and concrete types are named, shared
by the web app, the worker process and the command line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from webhook.delivery import Target, target_from_setting
from webhook.delivery.folder import FolderTarget
from webhook.i18n import Texts
from webhook.moneys3.validation import DocumentValidator
from webhook.observability import instrument_aws, record_raynet_request
from webhook.pipeline import Outcome, Renderer, export_case
from webhook.raynet.client import RaynetClient
from webhook.settings.environment import Settings
from webhook.state.model import Clock, FollowUp, Job, WorkPolicy
from webhook.state.ports import CaseRecords, JobQueue, Outbox
from webhook.worker.follow_ups import FollowUps, Handler
from webhook.worker.loop import Worker, credentials_fingerprint
from webhook.worker.mail import Mailer
from webhook.worker.reconcile import Reconciler
from webhook.worker.report import DailyReport
from webhook.worker.upkeep import Upkeep
from webhook.worker.write_back import WriteBack


@dataclass(frozen=True)
class State:
    """Where one instance's work and case states live."""

    queue: JobQueue
    records: CaseRecords
    outbox: Outbox | None  # follow-ups of delivered files; kept in the SQLite state only


@dataclass(frozen=True)
class Instance:
    """Everything one RAYNET instance needs while the service runs."""

    settings: Settings
    state: State
    target: Target
    worker: Worker | None  # exports on demand (the button); None without API access
    raynet: RaynetClient | None


def open_state(settings: Settings, clock: Clock = time.time) -> State:
    """The SQLite state file by default; SQS and DynamoDB with ``QUEUE_URL``/``STATE_TABLE``."""
    policy = WorkPolicy(settings.worker.lease_seconds, settings.worker.max_attempts)
    if settings.queue_url and settings.state_table:
        import boto3  # noqa: PLC0415 - only the distributed mode needs it here

        instrument_aws()
        from webhook.state.aws.dynamo import DynamoCaseRecords  # noqa: PLC0415
        from webhook.state.aws.sqs import SqsJobQueue  # noqa: PLC0415

        records = DynamoCaseRecords(boto3.resource("dynamodb").Table(settings.state_table), clock)
        queue = SqsJobQueue(
            boto3.client("sqs"),
            settings.queue_url,
            records,
            clock,
            policy=policy,
            wait_seconds=settings.queue_wait_seconds,
            prefetch=settings.worker.threads,
        )
        return State(queue, records, outbox=None)
    from webhook.state.sqlite import open_state as open_sqlite  # noqa: PLC0415

    sqlite = open_sqlite(settings.state_db, clock, policy)
    return State(sqlite.queue, sqlite.records, sqlite.outbox)


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
    return Renderer(settings.export_options(stock), validator)


def build_raynet_client(settings: Settings, deadline: float = 30.0) -> RaynetClient:
    return RaynetClient(
        settings.require_raynet(), deadline=deadline, on_request=record_raynet_request
    )


def build_worker(
    settings: Settings,
    state: State,
    target: Target | None = None,
    client: RaynetClient | None = None,
    clock: Clock = time.time,
) -> Worker:
    client = client or build_raynet_client(settings)
    renderer = build_renderer(settings)
    destination = target or build_target(settings)

    def run_job(job: Job) -> Outcome:
        return export_case(job.case_id, client, renderer, destination, job.generation)

    interval = settings.worker.reconcile_interval
    handlers, report = build_follow_ups(settings, state, destination, client, clock)
    return Worker(
        state.queue,
        state.records,
        run_job,
        settings.worker,
        clock=clock,
        credentials_fingerprint=credentials_fingerprint(settings.require_raynet()),
        sync_enabled=settings.sync_enabled,
        instance=settings.instance,
        housekeeping=destination.remove_stale_temporaries
        if isinstance(destination, FolderTarget)
        else None,
        reconciler=Reconciler(state.queue, state.records, client, interval, clock)
        if interval
        else None,
        follow_ups=FollowUps(state.outbox, handlers, clock, instance=settings.instance)
        if state.outbox is not None and handlers
        else None,
        report=report,
        upkeep=Upkeep(state.records, client, settings.webhook_url(), settings.webhook_token),
        target_check=destination.check,
    )


def build_follow_ups(
    settings: Settings, state: State, target: Target, client: RaynetClient, clock: Clock
) -> tuple[dict[FollowUp, Handler], DailyReport | None]:
    """What follows a delivered file here, and the daily report: e-mail with SMTP_URL,
    write-back unless RAYNET_WRITE_BACK=0. Both need the outbox of the SQLite state."""
    handlers: dict[FollowUp, Handler] = {}
    if state.outbox is None:
        return handlers, None
    texts = Texts(settings.language)
    if settings.write_back:
        write_back = WriteBack(
            client,
            state.records,
            texts,
            credentials_fingerprint(settings.require_raynet()),
            lock=settings.lock_exported,
        )
        handlers.update(write_back.handlers())
    report = None
    if settings.smtp is not None:
        mailer = Mailer(settings.smtp, target, texts)
        handlers[FollowUp.EMAIL] = mailer.send_order
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
            )
            handlers[FollowUp.REPORT] = report.send
    return handlers, report


def build_instance(settings: Settings) -> Instance:
    """One instance's state, target and on-demand worker, for the web app. Its RAYNET
    client answers within 3 s: the button must answer RAYNET within 10."""
    state = open_state(settings)
    target = build_target(settings)
    raynet = build_raynet_client(settings, deadline=3.0) if settings.raynet else None
    worker = build_worker(settings, state, target) if raynet else None
    return Instance(settings=settings, state=state, target=target, worker=worker, raynet=raynet)
