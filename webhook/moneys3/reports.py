"""Reading the import reports Money S3 writes (``MoneyReport``, ``_Report.xsd``).

After each XML import Money S3 writes a report into ``XMLDE/Documents/Report``
(field-findings.md, Money S3 import 11). It is the only word the bridge gets on whether an
order it exported went in, went in without some items, was refused, or was skipped because
the agenda already had its ``Doklad``. ``read_report`` turns one report file into one
``ImportEntry`` per received order (``SeznamObjPrij/ObjPrij``), in the report's order.

A report is outside input (a share or a bucket anyone with access can write to): any bytes
give a ``ReadReport``, never an exception. The file is parsed without a DTD, entities, the
network or lxml's huge-tree mode, and a file that declares a DTD is refused outright:
Money's reports have none, and a billion-laughs or external-entity file must not be read.

No public sample of a real report exists (research notes, Q1): the shapes read here are the
XSD's, and where the XSD leaves a choice, those of the stand-in (``standin.py``). Where
Money may well differ, the reader is strict in the direction that cannot lose an order:
an outcome it does not recognise is ``REFUSED`` with Money's own words, never a success.
"""

from __future__ import annotations

import copy
import enum
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from lxml import etree

from webhook.i18n import N_
from webhook.moneys3.builder import CASE_HEADING
from webhook.moneys3.validation import ReportValidator
from webhook.order import Reason
from webhook.wording import one_line

__all__ = ["ImportEntry", "ImportResult", "MoneyMessage", "ReadReport", "read_report"]

OK = "Ok"
WARNING = "WarningError"
FATAL = "FatalError"
STATUSES = frozenset({OK, WARNING, FATAL})  # messageType/Status in _Report.xsd
# Money's default import definition for a received order (_KonfigZpracImport.xml, Key
# "Číslo dokladu" = field Doklad) has existingValue="NoAction": an order whose Doklad the
# agenda has is left alone. _Import.xsd names two variants of the mode (NoActionSpec,
# NoActionVazba); all three mean "Money had the record and did nothing with it".
NO_ACTION_CODES = frozenset({"NoAction", "NoActionSpec", "NoActionVazba"})
ENTRY_PARTS = frozenset({"Status", "Reference", "ErrorInfo", "Data"})  # messageType's own
REPEATING = frozenset({"Polozka", "Osoba", "Komponenta"})  # maxOccurs="unbounded" below ObjPrij
CUT_SLACK = 16  # bytes between a cut-off file's end and where libxml2 reports it
QUOTE_LIMIT = 500  # characters of the file (or a parser's words on it) a problem quotes


class ImportResult(enum.StrEnum):
    """What became of one order in Money S3."""

    IMPORTED = "imported"  # Status Ok, no ErrorInfo on the entry
    WARNINGS = "imported_with_warnings"  # the order is in; a nested record (item, card) failed
    REFUSED = "refused"  # FatalError, or an ErrorInfo on the entry other than no action
    ALREADY_THERE = "already_there"  # the agenda had the Doklad: no action (default definition)


@dataclass(frozen=True)
class MoneyMessage:
    """One ``ErrorInfo`` of an entry or of a record below it, as Money wrote it."""

    where: str  # "ObjPrij" for the order itself, else the path below it: "Polozka 1 / Sklad"
    kind: str  # ErrorTypeCoded verbatim ("" when absent)
    code: str  # ErrorCode verbatim
    description: str  # ErrorDescription verbatim (Money's own Czech text)
    key: str  # that element's Reference as "keyName=value, ..." ("" if none)


@dataclass(frozen=True)
class ImportEntry:
    """One received order in the report: which one, and what became of it."""

    doklad: str | None  # the number Money knows the order by
    partner_document: str | None  # Data/ObjPrij/PrimDoklad ("Doklad došlý")
    case_code: str | None  # the RAYNET case named in the first line of Data/ObjPrij/Poznamka
    result: ImportResult
    messages: tuple[MoneyMessage, ...]  # every ErrorInfo of the entry and below, in order
    # The order as imported (Data), as a MoneyData document: to tell which file it was.
    order: bytes | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ReadReport:
    """A report file as read: our orders' entries, or why there is nothing to read."""

    entries: tuple[ImportEntry, ...]  # the SeznamObjPrij/ObjPrij entries, in order
    other_entries: int  # entries of other agendas (SeznamFaktVyd, ...): not ours, counted
    problem: Reason | None  # why the file as a whole says nothing usable; None when read


def read_report(document: bytes, validator: ReportValidator | None = None) -> ReadReport:
    """Read one report file. Never raises for bad input (any bytes): a problem instead.

    With a ``validator`` the report must match ``_Report.xsd`` (missing ``ErrorTypeOther``
    elements forgiven); without one, only what the reader needs is checked.
    """
    root = _parse(document)
    if isinstance(root, Reason):
        return _unusable(root)
    if root.tag != "MoneyReport":
        return _unusable(
            _why(
                "report_foreign",
                N_("not a Money S3 import report: the root element is %(element)s"),
                element=root.tag,
            )
        )
    if validator is not None:
        complaint = validator.problem(root)
        if complaint is not None:
            return _unusable(
                _why(
                    "report_invalid",
                    N_("the report does not match _Report.xsd: %(complaint)s"),
                    complaint=complaint,
                )
            )
    return _read(root)


def _parse(document: bytes) -> etree._Element | Reason:
    """The root element, or why the bytes are no XML document we read."""
    if not document.strip():
        return _why("report_empty", N_("the file is empty"))
    try:
        root = etree.fromstring(document, _parser())
    except etree.XMLSyntaxError as error:
        if _cut_off(document, error):
            return _why(
                "report_truncated",
                N_("the file ends before the report does (truncated?): %(error)s"),
                error=str(error),
            )
        return _why("report_not_xml", N_("not well-formed XML: %(error)s"), error=str(error))
    # Any <!DOCTYPE> gives an internal DTD object (lxml-stubs miss that it may be None).
    if cast("etree.DTD | None", root.getroottree().docinfo.internalDTD) is not None:
        return _why(
            "report_dtd",
            N_("the file declares a DTD (<!DOCTYPE>): Money's reports have none; not read"),
        )
    return root


def _parser() -> etree.XMLParser:
    """A parser for outside input: nothing fetched, no entity expanded, libxml2's limits on
    depth and size kept (no huge tree). One per call: parsers are not shared by threads."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _cut_off(document: bytes, error: etree.XMLSyntaxError) -> bool:
    """Whether a file that is not well-formed looks like the beginning of one: a report
    Money is still writing, or a copy cut short. Then the parser's complaint stands at the
    very end (at the unfinished token, a few bytes before the end at most), and a push
    parser fed every byte finds nothing wrong before it asks for more. (The push parser
    alone cannot tell: it stops without a word at some errors mid-file.)"""
    line, column = error.position
    last = document.rsplit(b"\n", 1)[-1]
    if line != document.count(b"\n") + 1 or len(last) - column > CUT_SLACK:
        return False
    parser = _parser()
    try:
        parser.feed(document)
    except etree.XMLSyntaxError:
        return False
    return True


def _read(root: etree._Element) -> ReadReport:
    """The entries of a parsed ``MoneyReport``."""
    status = _status(root)
    if status not in STATUSES:
        return _unusable(
            _why("report_no_status", N_("the report has no Status Ok, WarningError or FatalError"))
        )
    entries: list[ImportEntry] = []
    for position, order in enumerate(root.iterfind("SeznamObjPrij/ObjPrij"), 1):
        entry = _entry(order)
        if entry is None:
            return _unusable(
                _why(
                    "report_order_no_status",
                    N_("received order %(position)s has no Status Ok, WarningError or FatalError"),
                    position=position,
                )
            )
        entries.append(entry)
    others = sum(
        len(_elements(listing))
        for listing in _elements(root)
        if listing.tag.startswith("Seznam") and listing.tag != "SeznamObjPrij"
    )
    if entries or others:
        return ReadReport(tuple(entries), others, None)
    return _unusable(_why_nothing(root, status))


def _entry(order: etree._Element) -> ImportEntry | None:
    """One ``ObjPrij`` entry; None when it has no status the XSD knows."""
    status = _status(order)
    if status not in STATUSES:
        return None
    own = order.findall("ErrorInfo")
    if status == FATAL:
        result = ImportResult.REFUSED
    elif own and all(_no_action(info) for info in own):
        result = ImportResult.ALREADY_THERE
    elif own:
        result = ImportResult.REFUSED  # an ErrorInfo on the order itself, not a nested one
    elif status == WARNING or any(_failed(nested) for nested in _nested(order)):
        result = ImportResult.WARNINGS
    else:
        result = ImportResult.IMPORTED
    data = _data(order)
    return ImportEntry(
        doklad=_doklad(order, data),
        partner_document=_field(data, "PrimDoklad"),
        case_code=_case_code(data),
        result=result,
        messages=tuple(_messages(order, "ObjPrij")),
        order=_as_document(data),
    )


def _no_action(info: etree._Element) -> bool:
    """Whether an ``ErrorInfo`` says the agenda had the order and Money left it alone.

    Recognised by its ``ErrorCode`` alone: a no-action mode of the import definition
    (``NoAction``, as the stand-in writes it with ``ErrorTypeCoded`` ``CorrelationError``).
    Real Money's code here is unpublished; an unknown one reads as ``REFUSED`` with Money's
    description, which a person sees, rather than as an order safely in the agenda.
    """
    return _text(info.find("ErrorCode")).strip() in NO_ACTION_CODES


def _failed(entry: etree._Element) -> bool:
    """Whether a record below the order, or one below it, did not go in."""
    return _status(entry) != OK or any(_failed(nested) for nested in _nested(entry))


def _messages(entry: etree._Element, where: str) -> Iterator[MoneyMessage]:
    """Every ``ErrorInfo`` of ``entry`` and of the records below it, in document order.

    A record below the order that failed without a word (no ``ErrorInfo`` of its own nor
    below it) still gets one empty message, so that no failure goes unlisted.
    """
    key = _key(entry)
    said = False
    for info in entry.iterfind("ErrorInfo"):
        said = True
        yield MoneyMessage(
            where=where,
            kind=_text(info.find("ErrorTypeCoded")),
            code=_text(info.find("ErrorCode")),
            description=_text(info.find("ErrorDescription")),
            key=key,
        )
    for nested, label in _labelled(entry):
        path = label if where == "ObjPrij" else f"{where} / {label}"
        for message in _messages(nested, path):
            said = True
            yield message
    if not said and where != "ObjPrij" and _status(entry) != OK:
        yield MoneyMessage(where=where, kind="", code="", description="", key=key)


def _labelled(entry: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    """The records below ``entry`` with their names: ``DodOdb``, ``Polozka 2``, ``Sklad``.

    A repeating record is numbered by its ``Reference`` ``Poradi`` (the item's position in
    the order, which the stand-in copies from the file) or else by its place in the report.
    """
    nested = _nested(entry)
    counts = Counter(str(record.tag) for record in nested)
    seen: Counter[str] = Counter()
    for record in nested:
        tag = str(record.tag)
        seen[tag] += 1
        if tag in REPEATING or counts[tag] > 1:
            poradi = next(
                (
                    _text(key).strip()
                    for key in record.iterfind("Reference/ID")
                    if key.get("keyName") == "Poradi" and _text(key).strip()
                ),
                str(seen[tag]),
            )
            yield record, f"{tag} {poradi}"
        else:
            yield record, tag


def _nested(entry: etree._Element) -> list[etree._Element]:
    """The records an entry reports on below it (``DodOdb``, ``Polozka``, its ``Sklad``...):
    the children that are entries themselves (they have a ``Status``)."""
    return [
        child
        for child in _elements(entry)
        if child.tag not in ENTRY_PARTS and child.find("Status") is not None
    ]


def _doklad(order: etree._Element, data: etree._Element | None) -> str | None:
    """``Reference/ID[@keyName="Doklad"]``, else any non-empty ``ID`` (Money also writes an
    empty one named after the key, "Číslo dokladu"), else ``Data``'s ``Doklad``."""
    ids = [(key.get("keyName"), _text(key).strip()) for key in order.iterfind("Reference/ID")]
    named = next((value for name, value in ids if name == "Doklad" and value), None)
    return named or next((value for _, value in ids if value), None) or _field(data, "Doklad")


def _case_code(data: etree._Element | None) -> str | None:
    """The RAYNET case named by the note's first line, as the builder writes it
    (``Obchodní případ RAYNET <code>``); None for an order the bridge did not write."""
    lines = (_field(data, "Poznamka") or "").splitlines()
    if not lines or not lines[0].startswith(CASE_HEADING):
        return None
    return lines[0].removeprefix(CASE_HEADING).strip() or None


def _as_document(data: etree._Element | None) -> bytes | None:
    """The imported order as an order file has it (``MoneyData/SeznamObjPrij/ObjPrij``),
    so that it can be read and compared like one: which of a case's files was imported."""
    if data is None:
        return None
    document = etree.Element("MoneyData")
    listed = etree.SubElement(document, "SeznamObjPrij")
    order = etree.SubElement(listed, "ObjPrij")
    order.extend(copy.deepcopy(child) for child in data if isinstance(child.tag, str))
    return etree.tostring(document, encoding="utf-8")


def _data(order: etree._Element) -> etree._Element | None:
    """The order as imported: ``Data/ObjPrij`` (the stand-in's shape), or ``Data`` itself
    should Money write the order's fields right under it."""
    data = order.find("Data")
    if data is None:
        return None
    inner = data.find("ObjPrij")
    return inner if inner is not None else data


def _why_nothing(root: etree._Element, status: str) -> Reason:
    """Why a report lists no record: a failed control (``NoEntity`` first: an empty file or
    no entity the definition imports), else the report's own ``ErrorInfo``."""
    for check in ("NoEntity", "KodAgendy", "HospRok", "CisloDavky"):
        control = root.find(f"Control/{check}")
        if control is not None and (
            _status(control) != OK or control.find("ErrorInfo") is not None
        ):
            return _why(
                "report_control",
                N_("Control/%(check)s (%(money_status)s): %(explained)s"),
                check=check,
                money_status=_status(control),
                explained=_explained(control),
            )
    if root.find("ErrorInfo") is not None:
        return _why(
            "report_error",
            N_("MoneyReport (%(money_status)s): %(explained)s"),
            money_status=status,
            explained=_explained(root),
        )
    return _why(
        "report_nothing",
        N_("the report lists no imported record (Status %(money_status)s)"),
        money_status=status,
    )


def _explained(entry: etree._Element) -> str:
    """What an entry's first ``ErrorInfo`` says: its description, else its code (the two
    fallbacks are catalogue terms: shown, they are translated as a reason's values are)."""
    info = entry.find("ErrorInfo")
    if info is None:
        return N_("no ErrorInfo")
    return (
        _text(info.find("ErrorDescription")).strip()
        or _text(info.find("ErrorCode")).strip()
        or _text(info.find("ErrorTypeCoded")).strip()
        or N_("no description")
    )


def _why(code: str, message: str, **quoted: str | int) -> Reason:
    """Why a file says nothing usable, translated where it is shown; what it quotes of the
    file is on one line and of bounded length (the file may hold anything)."""
    return Reason(code, message, {key: _bounded(value) for key, value in quoted.items()})


def _bounded(value: str | int) -> str | int:
    if isinstance(value, int):
        return value
    line = one_line(value)
    return line if len(line) <= QUOTE_LIMIT else line[: QUOTE_LIMIT - 1] + "…"


def _unusable(problem: Reason) -> ReadReport:
    return ReadReport(entries=(), other_entries=0, problem=problem)


def _key(entry: etree._Element) -> str:
    """An entry's ``Reference`` as ``keyName=value, ...``; empty IDs are left out, as
    Seyfor's own report preview (``_Report.xslt``) leaves them out."""
    pairs = []
    for key in entry.iterfind("Reference/ID"):
        value = _text(key).strip()
        if value:
            name = key.get("keyName")
            pairs.append(f"{name}={value}" if name else value)
    return ", ".join(pairs)


def _status(entry: etree._Element) -> str:
    return _text(entry.find("Status")).strip()


def _field(parent: etree._Element | None, tag: str) -> str | None:
    """The stripped text of ``parent``'s child ``tag``; None when absent or blank."""
    text = _text(parent.find(tag) if parent is not None else None).strip()
    return text or None


def _text(element: etree._Element | None) -> str:
    """All the text inside an element (verbatim); ``""`` for none."""
    if element is None:
        return ""
    return etree.tostring(element, method="text", encoding="unicode", with_tail=False)


def _elements(parent: etree._Element) -> list[etree._Element]:
    """Element children only (comments and processing instructions are dropped at parse
    time; this also keeps anything else out)."""
    return [child for child in parent if isinstance(child.tag, str)]
