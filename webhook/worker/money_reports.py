"""Money S3's import reports: what became of each delivered order in Money.

Money S3 writes a ``MoneyReport`` after every XML import (``_Report.xsd``): a status per
order, its own error texts, and the key it matched on. ``MONEY_S3_REPORTS`` names where
they are (a folder, or ``s3://``); one worker at a time looks there every
``MONEY_S3_REPORTS_EVERY`` seconds, and the dashboard takes a report the accountant
uploads. The same ``take`` reads either:

- each order of the report is matched to its case by ``Doklad``, else by the case code
  (``PrimDoklad``, the note's first line); the file's verdict is kept (an import also takes
  the file out of the accountant's *to import* list), counted in
  ``bridge_money_imports_total``, and followed by a post in RAYNET and, for a refusal, an
  e-mail (follow-ups in the outbox: once per outcome and file, however often the report
  is read);
- "Money already has this number" about a file imported before (the import repeated) is no
  news; about any other file (a re-export, a collision with Money's own numbers) it is;
- an order no case matches is listed with the report ("unknown Doklady"), never guessed;
- a file that is no report (or is damaged) is listed with why, and the loop goes on.

A report is read once per version (a report that grows or is replaced is read again), and
never deleted or moved.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from decimal import Decimal

from webhook.delivery.reports import ReportSource
from webhook.delivery.target import Target
from webhook.errors import BridgeError
from webhook.moneys3.preview import read_order
from webhook.moneys3.reports import ImportEntry, ReadReport, read_report
from webhook.moneys3.validation import ReportValidator
from webhook.observability import MONEY_IMPORTS
from webhook.state.model import (
    Clock,
    ExportRecord,
    FollowUp,
    ImportOutcome,
    MoneyMessage,
    MoneyVerdict,
    ReportEntry,
    ReportRecord,
)
from webhook.state.ports import CaseRecords, Outbox

log = logging.getLogger(__name__)
CLOCK_SLACK = 5.0  # s: S3 keeps whole seconds, and a share's clock is another host's
MOST_LISTED = 500  # orders of one report kept for the report page (a DynamoDB item < 400 KB)
AFTER_TAKEN = (FollowUp.IMPORTED_POST,)
AFTER_REFUSED = (FollowUp.REFUSED_POST, FollowUp.REFUSED_EMAIL)


@dataclass
class MoneyReports:
    """Reads reports into the state: from ``source`` on a schedule, or handed over."""

    records: CaseRecords
    outbox: Outbox
    follow_ups: Collection[FollowUp]  # the posts and e-mails this instance sends
    source: ReportSource | None = None  # MONEY_S3_REPORTS; None: uploads only
    target: Target | None = None  # the files, to tell which of a case's Money imported
    validator: ReportValidator | None = None  # _Report.xsd, with MONEY_S3_XSD_DIR
    clock: Clock = time.time
    instance: str = ""
    # Versions the state is known to hold: a poll asks the state only about files new or
    # changed since it last looked (a folder keeps every report Money ever wrote).
    known: dict[str, str] = field(default_factory=dict)

    def poll(self) -> int:
        """Read every report in ``source`` not read yet, or changed since; how many."""
        if self.source is None:
            return 0
        listing = self.source.listing()  # oldest first: a later word counts last
        unsure = {
            _storable(r.name) for r in listing if self.known.get(_storable(r.name)) != r.version
        }
        self.known.update(self.records.report_versions(sorted(unsure)))
        fresh = [r for r in listing if self.known.get(_storable(r.name)) != r.version]
        for report in fresh:
            try:
                document = self.source.read(report.name)
                self.take(report.name, report.version, document, report.written_at)
            except BridgeError as error:  # gone or locked meanwhile: the next look reads it
                log.warning("%s", error)
            except Exception:  # one bad report must not stop the others being read
                log.exception("Money S3 report %r could not be taken", report.name)
        return len(fresh)

    def take(
        self, name: str, version: str | None, document: bytes, written_at: float | None = None
    ) -> ReportRecord:
        """Read one report, keep each order's verdict, and what it was; ``version`` None
        takes the content's digest (an upload), ``written_at`` None its time unknown."""
        name = _storable(name)
        read = read_report(document, self.validator)
        matched: list[ReportEntry] = []
        unknown: list[ReportEntry] = []
        for entry in read.entries:
            code = self._keep(name, entry, written_at)
            listed = ReportEntry(entry.doklad, entry.partner_document, code, _outcome(entry))
            if code is None:
                unknown.append(replace(listed, case_code=entry.case_code))
            else:
                matched.append(listed)
        record = ReportRecord(
            name=name,
            version=version or hashlib.sha256(document).hexdigest(),
            read_at=self.clock(),
            problem=read.problem,
            entries=len(read.entries),
            unknown=tuple(unknown[:MOST_LISTED]),
            matched=tuple(matched[:MOST_LISTED]),
        )
        self.records.record_report(record)
        self.known[name] = record.version
        _log(name, read, len(unknown))
        return record

    def _keep(self, report: str, entry: ImportEntry, written_at: float | None) -> str | None:
        """Keep the verdict on the file the entry is about: the code of its case, None when
        no delivered file is the entry's."""
        delivery = self._the_file(entry, written_at)
        if delivery is None:
            return None
        case = self.records.case(delivery.case_id)
        code = (case.code if case else None) or str(delivery.case_id)
        outcome = _outcome(entry)
        if not outcome.taken and _in_money(delivery):
            return code  # in Money already (an import repeated, an older report): no news
        verdict = MoneyVerdict(
            outcome=outcome,
            report=report,
            read_at=self.clock(),
            messages=tuple(
                MoneyMessage(m.where, m.kind, m.code, m.description, m.key) for m in entry.messages
            ),
        )
        if self.records.record_verdict(delivery.case_id, delivery.generation, verdict):
            MONEY_IMPORTS.labels(instance=self.instance, result=outcome.value).inc()
            for kind in AFTER_TAKEN if outcome.taken else AFTER_REFUSED:
                if kind in self.follow_ups:
                    self.outbox.add(kind, delivery.case_id, delivery.generation)
        return code

    def _the_file(self, entry: ImportEntry, written_at: float | None) -> ExportRecord | None:
        """Which of a case's files the entry is about (they all carry the same ``Doklad``):
        the one whose lines are the order Money imported, when the report shows it and
        one file alone has them; else by time (``_by_time``)."""
        files = self._files_of(entry)
        if len(files) > 1 and entry.order is not None and self.target is not None:
            imported = _lines(entry.order)
            alike = [f for f in files if imported is not None and self._lines_of(f) == imported]
            if len(alike) == 1:
                return alike[0]
        return _by_time(files, written_at)

    def _lines_of(self, export: ExportRecord) -> list[tuple[str, Decimal, Decimal]] | None:
        assert self.target is not None
        try:
            return _lines(self.target.read(export.file_name))
        except (OSError, BridgeError):  # moved away, or the target is down: by time, then
            return None

    def _files_of(self, entry: ImportEntry) -> list[ExportRecord]:
        """The files of the case the entry is about: by ``Doklad`` (the key Money matched
        on), else by the case code the bridge wrote in the note, else by ``PrimDoklad``
        (a field the accountant may have mapped to something else)."""
        found = self.records.files_of_order(entry.doklad, None)
        for code in (entry.case_code, entry.partner_document):
            if not found and code:
                found = self.records.files_of_order(None, code)
        return found


def _lines(document: bytes) -> list[tuple[str, Decimal, Decimal]] | None:
    """An order's lines as compared: name, quantity, unit price; None if unreadable."""
    try:
        order = read_order(document)
    except BridgeError:
        return None
    return [(line.name, line.quantity, line.unit_price) for line in order.lines]


def _by_time(files: list[ExportRecord], written_at: float | None) -> ExportRecord | None:
    """Of the files written before the report (when its time is known), the newest not yet
    in Money (the one on the accountant's list: an earlier one was replaced), else the
    newest."""
    before = [
        f for f in files if written_at is None or f.exported_at <= written_at + CLOCK_SLACK
    ] or files
    waiting = [f for f in before if not _in_money(f)]
    return max(waiting or before, key=lambda f: f.generation, default=None)


def _storable(name: str) -> str:
    """A file name as the state can keep it: bytes a share's name may carry that are no
    UTF-8 (a name read with surrogate escapes) are replaced, never a reason to fail."""
    return name.encode("utf-8", "replace").decode("utf-8")


def _in_money(delivery: ExportRecord) -> bool:
    """Whether the file is known to be in Money S3: a report said so, or someone marked it."""
    taken = delivery.money is not None and delivery.money.outcome.taken
    return taken or delivery.imported_at is not None


def _outcome(entry: ImportEntry) -> ImportOutcome:
    return ImportOutcome(entry.result.value)


def _log(name: str, read: ReadReport, unknown: int) -> None:
    if read.problem:
        log.warning("Money S3 report %s says nothing usable: %s", name, read.problem)
    else:
        log.info("Money S3 report %s: %d order(s), %d unknown", name, len(read.entries), unknown)
