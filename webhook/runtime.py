"""Builds the service's parts from the settings: state store, target, RAYNET client, worker.

The one place where configuration turns into objects, shared by the web app, the worker
process and the command line.
"""

from __future__ import annotations

from webhook.config import Settings
from webhook.delivery import Target, target_from_setting
from webhook.delivery.folder import FolderTarget
from webhook.jobs.interfaces import CaseRecords, JobQueue
from webhook.jobs.reconcile import Reconciler
from webhook.jobs.store import Job, StateStore
from webhook.jobs.worker import Worker, credentials_fingerprint
from webhook.moneys3.validation import DocumentValidator
from webhook.notify import Notifier
from webhook.observability import record_raynet_request
from webhook.pipeline import Outcome, Renderer, export_case
from webhook.raynet.client import RaynetClient


def open_queue_and_records(settings: Settings) -> tuple[JobQueue, CaseRecords]:
    """Where this instance's work and case states live: the SQLite state file by default,
    SQS and DynamoDB with ``QUEUE_URL`` and ``STATE_TABLE``."""
    if settings.queue_url and settings.state_table:
        import boto3  # noqa: PLC0415 - only the distributed mode needs it here

        from webhook.jobs.aws import DynamoCaseRecords, SqsJobQueue  # noqa: PLC0415

        records = DynamoCaseRecords(boto3.resource("dynamodb").Table(settings.state_table))
        queue = SqsJobQueue(
            boto3.client("sqs"),
            settings.queue_url,
            records,
            wait_seconds=settings.queue_wait_seconds,
        )
        return queue, records
    store = StateStore(settings.state_db)
    return store, store


def build_target(settings: Settings, location: str | None = None) -> Target:
    """EXPORT_TARGET, or ``location`` (a folder or ``s3://`` URL) in its place."""
    return target_from_setting(
        location or settings.export_target,
        s3_sse=settings.s3_sse,
        s3_kms_key_id=settings.s3_kms_key_id,
    )


def build_renderer(settings: Settings, stock: bool | None = None) -> Renderer:
    """The renderer the settings describe; ``stock`` overrides MONEY_S3_STOCK."""
    validator = DocumentValidator(settings.xsd_dir) if settings.xsd_dir else None
    return Renderer(settings.export_options(stock), validator)


def build_raynet_client(settings: Settings) -> RaynetClient:
    return RaynetClient(settings.require_raynet(), on_request=record_raynet_request)


def build_worker(
    settings: Settings,
    queue: JobQueue,
    records: CaseRecords,
    target: Target | None = None,
    client: RaynetClient | None = None,
) -> Worker:
    client = client or build_raynet_client(settings)
    renderer = build_renderer(settings)
    destination = target or build_target(settings)

    def run_job(job: Job) -> Outcome:
        return export_case(job.case_id, client, renderer, destination, job.generation)

    interval = settings.worker.reconcile_interval
    return Worker(
        queue,
        records,
        run_job,
        settings.worker,
        credentials_fingerprint=credentials_fingerprint(settings.require_raynet()),
        sync_enabled=settings.sync_enabled,
        instance=settings.instance,
        housekeeping=destination.remove_stale_temporaries
        if isinstance(destination, FolderTarget)
        else None,
        reconciler=Reconciler(queue, records, client, interval) if interval else None,
        notifier=_notifier(settings, queue, destination),
    )


def _notifier(settings: Settings, queue: JobQueue, target: Target) -> Notifier | None:
    """E-mail to the accountant keeps its queue in the SQLite state file."""
    if settings.smtp is None:
        return None
    assert isinstance(queue, StateStore), "the configuration refuses SMTP_URL with QUEUE_URL"
    return Notifier(settings.smtp, queue, target, settings.worker.max_attempts)
