"""The two seams between the export pipeline and where its work and state live.

``JobQueue`` is what receivers and workers need: record an event, claim a case, settle the
outcome. ``CaseRecords`` is what the dashboard, ``status``, metrics and operators need: each
case's state and files, and a few shared switches. The embedded default, ``StateStore``
(SQLite), is both. On many hosts, ``SqsJobQueue`` (Amazon SQS FIFO) and ``DynamoCaseRecords``
(DynamoDB) take their places; the worker and the pipeline do not change.
"""

from __future__ import annotations

from typing import Protocol

from webhook.jobs.store import CaseRecord, ExportRecord, Job, Recorded
from webhook.raynet.schemas import WebhookEvent


class JobQueue(Protocol):
    def record_event(self, event: WebhookEvent, now: float | None = None) -> Recorded:
        """Accept a business-case event durably (the receiver answers after this)."""

    def enqueue(self, case_id: int, *, now: float | None = None) -> None:
        """Ask for a look at a case without a webhook (backfill, reconciliation, a button)."""

    def claim(
        self, owner: str, lease_seconds: float, now: float | None = None, case_id: int | None = None
    ) -> Job | None:
        """A due case for ``owner`` alone until the lease ends, or None."""

    def exported(
        self,
        job: Job,
        *,
        code: str,
        file_name: str,
        location: str,
        sha256: str,
        notify: bool = False,
        now: float | None = None,
    ) -> bool: ...

    def skipped(
        self, job: Job, *, code: str, reason: str, reason_code: str, now: float | None = None
    ) -> bool: ...

    def failed_permanently(
        self,
        job: Job,
        *,
        reason: str,
        reason_code: str,
        code: str | None = None,
        now: float | None = None,
    ) -> bool: ...

    def failed_transiently(
        self,
        job: Job,
        *,
        reason: str,
        reason_code: str,
        retry_at: float,
        max_attempts: int,
        code: str | None = None,
        now: float | None = None,
    ) -> str:
        """Retry at ``retry_at``, or give up after ``max_attempts``; the case's new state."""

    def maintain(self, now: float) -> None:
        """Periodic housekeeping (forgetting old event ids)."""


class CaseRecords(Protocol):
    def case(self, case_id: int) -> CaseRecord | None: ...

    def cases(
        self,
        *,
        state: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[CaseRecord]: ...

    def counts(self) -> dict[str, int]: ...

    def exports_of(self, case_id: int) -> list[ExportRecord]: ...

    def due_count(self, now: float | None = None) -> int: ...

    def oldest_due(self, now: float | None = None) -> float | None: ...

    def replay(self, case_id: int | None = None, *, now: float | None = None) -> int:
        """Queue failed or dead cases (one, or all) again; how many."""

    def request_reexport(self, case_id: int, *, now: float | None = None) -> None: ...

    def flag(self, name: str) -> str | None: ...

    def set_flag(self, name: str, value: str | None) -> None: ...

    def take_turn(self, name: str, now: float, every: float) -> bool: ...

    def sync_enabled(self) -> bool: ...

    def set_sync_enabled(self, enabled: bool) -> None: ...

    def ping(self) -> None:
        """Raise unless the records can be read and written."""
