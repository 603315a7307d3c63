"""The three seams between the bridge and wherever its state lives, and their bundle.

``JobQueue`` is what receivers, workers and operators need: events in, cases claimed and
settled, work asked for again. ``CaseRecords`` is what the dashboard, ``status`` and metrics
read: each case's state and files, and a few shared switches. ``Outbox`` holds the follow-ups
of a delivered file (the e-mail to the accountant, the write-back to RAYNET) and the
daily report. The SQLite state file implements all three; on many hosts SQS is the queue
and one DynamoDB table holds the records and the outbox.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from webhook.order import Reason
from webhook.state.model import (
    SYNC_FLAG,
    CaseChanges,
    CaseEvent,
    CaseQuery,
    CaseState,
    Delivery,
    ExportRecord,
    FollowUp,
    FollowUpState,
    HistoryEntry,
    Job,
    MoneyVerdict,
    OutboxItem,
    Recorded,
    ReportRecord,
    Settlement,
    TrackedCase,
    UnreadableEvent,
)


class JobQueue(Protocol):
    def record_event(self, event: CaseEvent) -> Recorded:
        """Accept a business-case event durably (the receiver answers after this)."""

    def record_unreadable(self, body: bytes, problem: Reason) -> None:
        """Keep an authenticated webhook that could not be read, for inspection."""

    def enqueue(self, case_id: int) -> None:
        """Ask for a look at a case without a webhook (backfill, reconciliation, a button)."""

    def claim(self, worker: str, case_id: int | None = None) -> Job | None:
        """A due case (or ``case_id`` if it is due) for ``worker`` alone until its lease
        ends, or None."""

    def settle(self, job: Job, settlement: Settlement) -> CaseState | None:
        """Record what became of ``job``: the case's new state, None if the lease had
        lapsed (another worker has the case now, and its result is the one that counts)."""

    def replay(self, case_id: int | None = None) -> int:
        """Queue one failed, dead or skipped case, or every failed and dead one, again (and
        lift a RAYNET credentials stop); how many."""

    def request_reexport(self, case_id: int) -> None:
        """Ask for one more file of an exported case (``<code>+2.xml``, ...)."""

    def due_count(self) -> int:
        """Cases waiting for a worker now."""

    def oldest_due(self) -> float | None:
        """Seconds the longest-waiting due case has waited since it became due."""

    def maintain(self) -> None:
        """Periodic housekeeping (forgetting event ids RAYNET can no longer redeliver)."""

    def probe(self) -> None:
        """Raise unless the queue takes a write where webhooks write (``/readyz``)."""


class CaseRecords(Protocol):
    def case(self, case_id: int) -> TrackedCase | None: ...

    def cases(self, query: CaseQuery) -> list[TrackedCase]: ...

    def counts(self) -> dict[CaseState, int]: ...

    def exports_of(self, case_id: int) -> list[ExportRecord]: ...

    def events_stored(self) -> int | None:
        """Webhook event ids kept for de-duplication; None where the queue keeps them."""

    def deliveries(
        self, since: float, *, imported: bool = False, most: int = 1000
    ) -> list[Delivery]:
        """Files delivered since ``since``, newest first, ``most`` of them; with ``imported``
        also those imported (marked, or by Money's report)."""

    def mark_imported(self, case_id: int, generation: int, by: str) -> bool:
        """Record who imported a file into Money S3, and when; False if already marked."""

    def unmark_imported(self, case_id: int, generation: int) -> bool:
        """Undo a mark made by hand (never one a Money S3 report made); False if none."""

    def unreadable(self, limit: int = 50) -> list[UnreadableEvent]:
        """The latest webhooks that could not be read, newest first."""

    def history(self, case_id: int) -> list[HistoryEntry]:
        """What happened to a case, oldest first; empty where the backend keeps none."""
        return []

    def maintain(self) -> None:
        """Periodic housekeeping (forgetting history older than its retention)."""

    # --- what Money S3 said, and what changed since ---------------------------------------

    def files_of_order(self, doklad: str | None, code: str | None) -> list[ExportRecord]:
        """Every file of the case whose order carries ``doklad`` in Money S3, else of the
        case whose code is ``code``, oldest first; none when no case does."""

    def record_verdict(self, case_id: int, generation: int, verdict: MoneyVerdict) -> bool:
        """Keep Money S3's word on a file (an import also marks it imported); False when
        the file has this outcome from this report already (a report read twice)."""

    def acknowledge(self, case_id: int, generation: int, by: str) -> bool:
        """Someone has seen Money's warnings or refusal; False if there is none, or seen."""

    def acknowledge_changes(
        self, case_id: int, generation: int, by: str, shown: str | None = None
    ) -> bool:
        """Someone has seen how the deal changed since the file ``generation`` (the order
        was fixed in Money S3 by hand, or needs nothing): off the lists until it changes
        otherwise; False if there are no such changes, they were seen, or they are not
        those ``shown`` any more (``CaseChanges.fingerprint``)."""

    def record_changes(self, case_id: int, changes: CaseChanges) -> bool:
        """Keep what a change check found; True when the case newly differs from its file
        (it did not before, or differed otherwise)."""

    def report_versions(self, names: Collection[str]) -> dict[str, str]:
        """Of the reports ``names``, those read so far: name → the version read."""

    def record_report(self, report: ReportRecord) -> None: ...

    def reports(self, limit: int = 50) -> list[ReportRecord]:
        """The latest reports read, newest first."""

    def flag(self, name: str) -> str | None: ...

    def set_flag(self, name: str, value: str | None) -> None: ...

    def take_turn(self, name: str, every: float) -> bool:
        """True once per ``every`` seconds for everyone sharing the records."""

    # Built on the flags; a backend inherits these by subclassing the port.

    def sync_enabled(self) -> bool:
        """The operator's runtime switch (the dashboard); on unless turned off."""
        return self.flag(SYNC_FLAG) != "0"

    def set_sync_enabled(self, enabled: bool) -> None:
        self.set_flag(SYNC_FLAG, "1" if enabled else "0")

    def ping(self) -> None:
        """Raise unless the records can be read and written."""
        self.set_flag("last_ping", secrets.token_hex(4))


class Outbox(Protocol):
    def claim(self, worker: str, kinds: Collection[FollowUp]) -> OutboxItem | None:
        """The follow-up of one of ``kinds`` that is due longest and whose ``after`` of the
        same file are all finished, for ``worker`` alone for a while."""

    def give_up(self, item: OutboxItem, error: str) -> None:
        """A follow-up that cannot succeed: dead at once, with why."""

    def add(self, kind: FollowUp, case_id: int, generation: int) -> bool:
        """Add a follow-up unless it exists (the daily report: once per day); whether added."""

    def rearm(self, kind: FollowUp, case_id: int, generation: int, every: float) -> None:
        """Make a follow-up due again (adding it if new): a pending one stays as it is, a
        finished one is due ``every`` seconds after it was done at the earliest."""

    def of_case(self, case_id: int) -> list[FollowUpState]: ...

    def done(self, item: OutboxItem) -> None: ...

    def failed(self, item: OutboxItem, error: str, retry_at: float) -> bool:
        """Try again at ``retry_at``; False when that was the last attempt."""

    def counts(self) -> dict[str, int]:
        """Follow-ups by state: pending, done, dead."""


@dataclass(frozen=True)
class State:
    """Where one instance's work, case states and follow-ups live (either backend)."""

    queue: JobQueue
    records: CaseRecords
    outbox: Outbox
