"""The state model: one vocabulary for every backend.

Case states::

    pending  --export-->    exported   (a re-export request makes it pending again)
             --not won-->   skipped    (a new event makes it pending again)
             --transient--> failed     (retried at next_try_at; dead after the last attempt)
             --permanent--> dead       (waits for a replay, or for a new event)

The unit of work is the case, not the event: any number of events for one case become one
job, and a case already exported costs nothing more.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from webhook.errors import PermanentError
from webhook.i18n import N_
from webhook.order import CaseSummary, Caveat, Change, DigestLine, OrderDigest, Reason

Clock = Callable[[], float]  # seconds since the epoch; time.time in production

SYNC_FLAG = "sync_enabled"  # the operator's switch: "0" pauses exports
AUTH_REFUSED_FLAG = "raynet_auth_refused"  # the fingerprint of credentials RAYNET refused
KNOWN_LOCATION = "RAYNET"  # where a file known only from RAYNET's external ids was put
MONEY_S3 = "Money S3"  # who imported a file its report says Money took


class CaseState(enum.StrEnum):
    PENDING = "pending"
    EXPORTED = "exported"
    SKIPPED = "skipped"
    FAILED = "failed"
    DEAD = "dead"


DUE_STATES = (CaseState.PENDING, CaseState.FAILED)  # taken by a worker once next_try_at is due
RETRYABLE_STATES = (CaseState.FAILED, CaseState.DEAD, CaseState.SKIPPED)  # an operator may retry


@dataclass(frozen=True)
class WorkPolicy:
    """How long a claim lasts, how many attempts a case or a follow-up gets, and how often
    at most an exported case is read again to see whether it changed (None: never)."""

    lease_seconds: float = 120.0
    max_attempts: int = 10
    change_check_every: float | None = None


class CaseOrder(enum.StrEnum):
    """How a list of cases is sorted; ties by case id, the newest first."""

    CHANGED = "changed"  # most recently changed first
    CREATED = "created"  # most recently first seen first
    CODE = "code"  # by the case code, A to Z


@dataclass(frozen=True)
class CaseQuery:
    """Which cases to list: ``search`` matches code, name, customer or id; ``since`` keeps
    cases changed then or later."""

    state: CaseState | None = None
    search: str | None = None
    limit: int = 50
    offset: int = 0
    order: CaseOrder = CaseOrder.CHANGED
    since: float | None = None


@dataclass(frozen=True)
class KnownFile:
    """A file RAYNET says a case has (our external id on it): its name and which file of
    the case it is (1 for ``<code>.xml``, 2 for ``<code>+2.xml``, ...)."""

    name: str
    generation: int


@dataclass(frozen=True)
class CaseEvent:
    """A business-case webhook as the state keeps it: RAYNET's event id de-duplicates it.

    ``exported_files`` are the files RAYNET says the case has (our external ids on it): a
    case the state does not know as exported is recorded so, without asking RAYNET.
    """

    event_id: str
    case_id: int
    kind: str  # record.created, record.updated
    exported_files: tuple[KnownFile, ...] = ()
    by_bridge: bool = False  # the bridge's own write-back (its API user): no change to check


class Recorded(enum.Enum):
    """What became of an incoming event."""

    ACCEPTED = "accepted"  # stored; the case will be (re)examined
    DUPLICATE = "duplicate"  # this eventId was seen before; nothing new
    ALREADY_EXPORTED = "already_exported"  # stored, but the case's file exists: no work


@dataclass(frozen=True)
class Job:
    """A claimed case: export ``generation`` (1 = ``<code>.xml``) of ``case_id``.

    ``claim`` is the backend's proof of the lease, opaque to everyone else: a token in
    SQLite, the receipt handle in SQS. A settlement with a claim that lapsed does not count.
    """

    case_id: int
    generation: int
    attempts: int  # failed attempts before this one
    claim: str


class FollowUp(enum.StrEnum):
    """Side jobs recorded together with a delivered file, done after it, retried on their own."""

    EMAIL = "email"  # the file to the accountant
    UNLOCK = "raynet_unlock"  # RAYNET: a re-export opens the case it locked before...
    EXTERNAL_ID = "raynet_ext_id"  # RAYNET: the case carries the file's name
    POST = "raynet_post"  # RAYNET: a post in the case's discussion
    LOCK = "raynet_lock"  # RAYNET: the case locked against edits, the last write
    REPORT = "report"  # the daily report (case 0, generation = the day as YYYYMMDD)
    CHANGE_CHECK = "change_check"  # read an exported case again: does the order still hold?
    CHANGED_POST = "changed_post"  # RAYNET: the case changed since its order was delivered
    CHANGED_EMAIL = "changed_email"  # the same, to the accountant
    IMPORTED_POST = "money_imported_post"  # RAYNET: Money S3 imported the order
    REFUSED_POST = "money_refused_post"  # RAYNET: Money S3 did not take the order
    REFUSED_EMAIL = "money_refused_email"  # the same, to the accountant

    @property
    def after(self) -> tuple[FollowUp, ...]:
        """The follow-ups of the same file that must be finished (done or given up) first:
        RAYNET's case is unlocked before it is written to, and locked after."""
        return _AFTER.get(self, ())


_AFTER = {
    FollowUp.EXTERNAL_ID: (FollowUp.UNLOCK,),
    FollowUp.POST: (FollowUp.UNLOCK,),
    FollowUp.LOCK: (FollowUp.UNLOCK, FollowUp.EXTERNAL_ID, FollowUp.POST),
}
WRITE_BACK = (FollowUp.UNLOCK, FollowUp.EXTERNAL_ID, FollowUp.POST, FollowUp.LOCK)
# What asks RAYNET: waits while RAYNET refuses the credentials, like exports.
NEEDS_RAYNET = (
    *WRITE_BACK,
    FollowUp.CHANGE_CHECK,
    FollowUp.CHANGED_POST,
    FollowUp.IMPORTED_POST,
    FollowUp.REFUSED_POST,
)


@dataclass(frozen=True)
class DeliveredFile:
    file_name: str
    location: str
    sha256: str
    caveats: tuple[Caveat, ...] = ()  # what the accountant should know about it
    digest: OrderDigest | None = None  # the order in it, to tell a later change


class ImportOutcome(enum.StrEnum):
    """What Money S3's import report says became of a delivered file."""

    IMPORTED = "imported"
    WARNINGS = "imported_with_warnings"  # in Money, but a part of it failed (a stock card)
    REFUSED = "refused"
    ALREADY_THERE = "already_there"  # Money had the number: "existing → no action"

    @property
    def taken(self) -> bool:
        """The order is in Money S3 (the file needs no import by hand any more)."""
        return self in (ImportOutcome.IMPORTED, ImportOutcome.WARNINGS)


@dataclass(frozen=True)
class MoneyMessage:
    """One error Money S3 reported, verbatim: where in the order, its type, code and text,
    and the key of the record it concerns (``KodSkladu=XX``)."""

    where: str
    kind: str
    code: str
    description: str
    key: str = ""


@dataclass(frozen=True)
class MoneyVerdict:
    """Money S3's word on one delivered file: the latest report that named it."""

    outcome: ImportOutcome
    report: str  # the report's file name
    read_at: float
    messages: tuple[MoneyMessage, ...] = ()
    acknowledged_by: str | None = None  # someone saw the warnings or the refusal
    acknowledged_at: float | None = None


@dataclass(frozen=True)
class ReportEntry:
    """An order of a report as the report page lists it: the case it was matched to (its
    code), or, for one no delivered file matches, what the report names (never guessed)."""

    doklad: str | None
    partner_document: str | None
    case_code: str | None
    outcome: ImportOutcome


@dataclass(frozen=True)
class ReportRecord:
    """A report file the bridge read (or could not): read once per ``version``."""

    name: str
    version: str  # what tells a replaced or grown file: size, time, ETag
    read_at: float
    problem: Reason | None  # why it says nothing usable; None when its entries were read
    entries: int
    unknown: tuple[ReportEntry, ...] = ()  # orders no delivered file matches
    matched: tuple[ReportEntry, ...] = ()  # the others, with their case's code


@dataclass(frozen=True)
class CaseChanges:
    """What changed in a deal since its latest file was delivered (none: it still holds)."""

    generation: int
    checked_at: float
    changes: tuple[Change, ...]
    seen_by: str | None = None  # the accountant saw them (the order was fixed in Money)
    seen_at: float | None = None

    @property
    def fingerprint(self) -> str:
        """Which differences these are, in short: a mark of "seen" names the ones shown,
        so that a difference found meanwhile is never marked unseen."""
        listed = [[c.what, c.old, c.new, c.line] for c in self.changes]
        return hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Settlement:
    """What became of a claimed case; built with one of the four constructors.

    ``reason`` is the English text (logs, the JSON API); ``detail`` the same as a catalogue
    message with its values, shown in the reader's language."""

    state: CaseState
    code: str | None = None
    reason: str | None = None
    reason_code: str | None = None
    file: DeliveredFile | None = None
    retry_at: float | None = None  # FAILED: the earliest next attempt
    follow_ups: tuple[FollowUp, ...] = ()
    summary: CaseSummary | None = None
    detail: Reason | None = None

    @classmethod
    def exported(
        cls,
        code: str,
        file: DeliveredFile,
        follow_ups: tuple[FollowUp, ...] = (),
        summary: CaseSummary | None = None,
    ) -> Settlement:
        return cls(CaseState.EXPORTED, code=code, file=file, follow_ups=follow_ups, summary=summary)

    @classmethod
    def skipped(cls, code: str, reason: Reason, summary: CaseSummary | None = None) -> Settlement:
        """Not exportable now; a case changed meanwhile is looked at again."""
        return cls(
            CaseState.SKIPPED,
            code=code,
            reason=str(reason),
            reason_code=reason.code,
            summary=summary,
            detail=reason,
        )

    @classmethod
    def failed(
        cls,
        reason: str,
        reason_code: str,
        retry_at: float,
        code: str | None = None,
        detail: Reason | None = None,
    ) -> Settlement:
        """May succeed later: retried at ``retry_at``, dead after the queue's last attempt."""
        return cls(
            CaseState.FAILED,
            code=code,
            reason=reason,
            reason_code=reason_code,
            retry_at=retry_at,
            detail=detail,
        )

    @classmethod
    def dead(
        cls, reason: str, reason_code: str, code: str | None = None, detail: Reason | None = None
    ) -> Settlement:
        """Retrying cannot help: dead until replayed, or until the case changes."""
        return cls(CaseState.DEAD, code=code, reason=reason, reason_code=reason_code, detail=detail)


@dataclass(frozen=True)
class TrackedCase:
    """A business case as the bridge tracks it: state, reason, latest file."""

    case_id: int
    state: CaseState
    code: str | None
    attempts: int
    next_try_at: float
    exports_wanted: int  # files asked for: 1, plus one per re-export request
    exports_done: int
    reason: str | None
    reason_code: str | None
    file_name: str | None
    location: str | None
    sha256: str | None
    exported_at: float | None
    events: int | None  # webhooks received for it; None where the backend does not count
    created_at: float
    updated_at: float
    summary: CaseSummary = field(default_factory=CaseSummary)
    detail: Reason | None = None  # the reason as a catalogue message, when it is one
    changes: CaseChanges | None = None  # the latest change check, if one was made


@dataclass(frozen=True)
class ExportRecord:
    case_id: int
    generation: int
    file_name: str
    location: str
    sha256: str  # "" for a file known only from RAYNET (our external id on the case)
    exported_at: float
    imported_at: float | None = None  # marked as imported into Money S3 by the accountant
    imported_by: str | None = None
    caveats: tuple[Caveat, ...] = ()
    digest: OrderDigest | None = None
    money: MoneyVerdict | None = None  # what Money S3's report said, once one did


@dataclass(frozen=True)
class UnreadableEvent:
    """An authenticated webhook the receiver could not read (answered 200 ``ignored``, so
    that RAYNET does not retry it for days and delete the webhook), kept for a look."""

    received_at: float
    problem: Reason | None  # None only where a state file lost it
    body: bytes


@dataclass(frozen=True)
class Delivery:
    """A delivered file with the case it is an order of: a line of the accountant's inbox."""

    export: ExportRecord
    code: str | None
    summary: CaseSummary
    changes: CaseChanges | None = None  # the case's latest change check


class Happening(enum.StrEnum):
    """What a case's history records, besides the webhooks."""

    EXPORTED = "exported"
    SKIPPED = "skipped"
    FAILED = "failed"
    DEAD = "dead"
    PENDING = "pending"  # a result that came while the case changed: looked at again
    FOLLOW_UP_DONE = "follow_up_done"
    FOLLOW_UP_FAILED = "follow_up_failed"
    IMPORTED = "imported"
    MONEY_REPORT = "money_report"  # Money S3's report named the file: its outcome
    CHANGED = "changed"  # the deal changed since its order was delivered
    ACKNOWLEDGED = "acknowledged"
    CHANGES_SEEN = "changes_seen"  # someone saw the changes since the export
    REEXPORT_ASKED = "reexport_asked"
    RETRY_ASKED = "retry_asked"
    KNOWN_FROM_RAYNET = "known_from_raynet"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class HistoryEntry:
    at: float
    what: Happening
    detail: str | None = None  # a file name, a reason, a follow-up and its error


@dataclass(frozen=True)
class OutboxItem:
    """A claimed follow-up of export ``generation`` of ``case_id``, with the file it is about
    (none for the daily report)."""

    kind: FollowUp
    case_id: int
    generation: int
    attempts: int
    claim: str
    code: str | None = None
    file_name: str | None = None
    location: str | None = None
    exported_at: float | None = None
    summary: CaseSummary = field(default_factory=CaseSummary)
    caveats: tuple[Caveat, ...] = ()  # of the file it follows
    money: MoneyVerdict | None = None  # what Money S3's report said of the file, if it did
    changes: CaseChanges | None = None  # the case's latest change check

    def delivered_file(self) -> tuple[str, str]:
        """The file this follows and where it is (a report follows none)."""
        if self.file_name is None or self.location is None:
            raise PermanentError(
                N_("%(kind)s of case %(case)s: no delivered file"),
                kind=self.kind.value,
                case=self.case_id,
            )
        return self.file_name, self.location


@dataclass(frozen=True)
class FollowUpState:
    """Where a follow-up of a file stands (the dashboard's view of the outbox)."""

    kind: FollowUp
    generation: int
    state: str  # pending, done, dead
    attempts: int
    error: str | None
    done_at: float | None


def caveats_json(caveats: Sequence[Caveat]) -> str | None:
    """Caveats as the backends keep them (JSON), None when there are none."""
    if not caveats:
        return None
    return json.dumps([{"code": c.code, "values": dict(c.values)} for c in caveats])


def caveats_from(stored: str | None) -> tuple[Caveat, ...]:
    if not stored:
        return ()
    return tuple(Caveat(item["code"], item.get("values") or {}) for item in json.loads(stored))


def reason_json(reason: Reason | None) -> str | None:
    if reason is None:
        return None
    return json.dumps({"code": reason.code, "message": reason.message, "values": reason.values})


def reason_from(stored: str | None) -> Reason | None:
    if not stored:
        return None
    item = json.loads(stored)
    return Reason(item["code"], item["message"], item.get("values") or {})


def problem_from(stored: str | None) -> Reason | None:
    """A problem as stored (a report's, a flag's, an unreadable webhook's): a reason's JSON,
    or the English line an older state file kept (shown as it is)."""
    if not stored:
        return None
    if not stored.startswith("{"):
        return Reason("as_kept", stored)
    return reason_from(stored)


def newly_changed(before: CaseChanges | None, now: CaseChanges) -> bool:
    """Whether a check found a difference not reported before (for the same file);
    differences going away (fewer of those reported) are no news."""
    if not now.changes:
        return False
    if before is None or before.generation != now.generation:
        return True
    return not set(now.changes) <= set(before.changes)


def changes_to_keep(before: CaseChanges | None, now: CaseChanges) -> CaseChanges:
    """What a check found, as kept: differences someone has seen stay seen while no new
    one comes; a new difference is news again."""
    if before is None or before.seen_by is None or newly_changed(before, now) or not now.changes:
        return now
    return replace(now, seen_by=before.seen_by, seen_at=before.seen_at)


def changes_seen(
    changes: CaseChanges | None, generation: int, by: str, at: float, shown: str | None = None
) -> CaseChanges | None:
    """The changes of the file ``generation`` marked as seen; None when there are none
    for that file, someone saw them already, or they are no longer those ``shown`` (their
    fingerprint, where the mark came from a page that listed them)."""
    if changes is None or not changes.changes or changes.generation != generation:
        return None
    if changes.seen_by is not None or shown not in (None, changes.fingerprint):
        return None
    return replace(changes, seen_by=by, seen_at=at)


def digest_json(digest: OrderDigest | None) -> str | None:
    if digest is None:
        return None
    return json.dumps(
        {
            "customer": digest.customer,
            "reg_number": digest.reg_number,
            "currency": digest.currency,
            "total_net": str(digest.total_net),
            "total_gross": str(digest.total_gross),
            "lines": [
                [line.name, line.product_code, str(line.quantity), str(line.unit_price),
                 str(line.vat_rate), str(line.discount_percent)]
                for line in digest.lines
            ],
        }
    )  # fmt: skip


def digest_from(stored: str | None) -> OrderDigest | None:
    if not stored:
        return None
    item = json.loads(stored)
    return OrderDigest(
        customer=item["customer"],
        reg_number=item["reg_number"],
        currency=item["currency"],
        lines=tuple(
            DigestLine(name, code, Decimal(quantity), Decimal(price), Decimal(vat), Decimal(off))
            for name, code, quantity, price, vat, off in item["lines"]
        ),
        total_net=Decimal(item["total_net"]),
        total_gross=Decimal(item["total_gross"]),
    )


def verdict_json(verdict: MoneyVerdict | None) -> str | None:
    if verdict is None:
        return None
    return json.dumps(
        {
            "outcome": verdict.outcome.value,
            "report": verdict.report,
            "read_at": verdict.read_at,
            "messages": [[m.where, m.kind, m.code, m.description, m.key] for m in verdict.messages],
            "acknowledged_by": verdict.acknowledged_by,
            "acknowledged_at": verdict.acknowledged_at,
        }
    )


def verdict_from(stored: str | None) -> MoneyVerdict | None:
    if not stored:
        return None
    item = json.loads(stored)
    return MoneyVerdict(
        outcome=ImportOutcome(item["outcome"]),
        report=item["report"],
        read_at=float(item["read_at"]),
        messages=tuple(MoneyMessage(*message) for message in item["messages"]),
        acknowledged_by=item.get("acknowledged_by"),
        acknowledged_at=item.get("acknowledged_at"),
    )


def changes_json(changes: CaseChanges | None) -> str | None:
    if changes is None:
        return None
    return json.dumps(
        {
            "generation": changes.generation,
            "checked_at": changes.checked_at,
            "changes": [[c.what, c.old, c.new, c.line] for c in changes.changes],
            "seen_by": changes.seen_by,
            "seen_at": changes.seen_at,
        }
    )


def changes_from(stored: str | None) -> CaseChanges | None:
    if not stored:
        return None
    item = json.loads(stored)
    return CaseChanges(
        generation=int(item["generation"]),
        checked_at=float(item["checked_at"]),
        changes=tuple(Change(*change) for change in item["changes"]),
        seen_by=item.get("seen_by"),
        seen_at=item.get("seen_at"),
    )


def entries_json(entries: Sequence[ReportEntry]) -> str:
    return json.dumps(
        [[e.doklad, e.partner_document, e.case_code, e.outcome.value] for e in entries]
    )


def entries_from(stored: str | None) -> tuple[ReportEntry, ...]:
    if not stored:
        return ()
    return tuple(
        ReportEntry(doklad, partner, code, ImportOutcome(outcome))
        for doklad, partner, code, outcome in json.loads(stored)
    )
