"""A local stand-in for Money S3's XML import of received orders, writing its import report.

Used by the tests and the benchmarks to close the loop: the bridge writes an order file, the
accountant imports it into Money S3, Money writes an import report. The stand-in imports the
bridge's files (``MoneyData/SeznamObjPrij/ObjPrij``) into an in-memory ``Agenda`` under Money
S3's default import definition (field-findings.md, Money S3 import 1, from Seyfor's
``_KonfigZpracImport.xml``) and answers each file with one ``MoneyReport`` that is valid
against Seyfor's ``_Report.xsd`` (Money S3 import 11):

- an order is matched by ``Doklad``: a new one is added, one the agenda has is left alone
  (no action), one without ``Doklad`` is added with the next number of the series;
- the customer (``DodOdb``, and ``KonecPrij``) by ``ICO``: a new card is added, a known one
  linked; without ``ICO`` no card, the order keeps the name and address;
- a stock card (``KmKarta``) by ``BarCode``: added or linked; without ``BarCode`` the item
  cannot be imported;
- a warehouse (``Sklad``) by ``KodSkladu``: an unknown code, or none, and the item cannot
  be imported; an item without ``Sklad`` takes the definition's warehouse;
- a line at a VAT rate the agenda does not know: Money cannot store the order at all.

What real Money writes in some places is not published; the stand-in's choices:

- **An order the agenda already has** (no action): ``Status`` ``Ok``, no ``Data``, and one
  ``ErrorInfo`` of type ``CorrelationError`` (``_Report.xsd``: "chyba na základě porovnání
  klíčů a konfigurace zpracování") with ``ErrorCode`` ``NoAction``. Nobody has published
  what real Money writes here; this is an assumption.
- ``ErrorCode`` values (``NoAction``, ``MissingKey``, ``NotFound``, ``UnknownVatRate``,
  ``InvalidNumber``, ``NotWellFormed``, ``NoEntity``) are the stand-in's own, and so are
  the Czech descriptions.
- ``Reference`` of an order is an empty description ``ID`` followed by the key with its
  value, as Seyfor's own report template ``iDoklad.xslt`` reads it.
- ``Data`` is the order as imported: with the number Money gave it, without the items it
  could not take. Items that failed are listed as nested ``Polozka`` entries; those that
  went in are not.
- An item missing its quantity, price or VAT rate refuses the order (the bridge always
  writes all three; the stand-in does not guess Money's defaults).

One module on purpose, like the RAYNET stand-in: the whole fake import, rules and report,
is read side by side with the definition and ``_Report.xsd``. Not thread-safe: call it
from one thread.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from lxml import etree

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
OK = "Ok"
WARNING = "WarningError"
FATAL = "FatalError"
# ErrorTypeCoded, as _Report.xsd explains them
SYSTEM_ERROR = "SystemError"  # "chyba struktury XML dat, chyba datového typu atd."
CORRELATION_ERROR = "CorrelationError"  # "porovnání klíčů a konfigurace zpracování"
BUSINESS_ERROR = "BusinessError"  # "program z nějakého důvodu odmítne záznam uložit"
PAYLOAD_ERROR = "PayloadError"  # "odmítnutí příjmu záznamu, který je formálně v pořádku"
NUMBER_SERIES = "OP"  # orders without Doklad: OP000001, OP000002, ...
NUMBER_DIGITS = 6
DOKLAD_LABEL = "Číslo dokladu"  # the description ID before the key in an order's Reference
DEFAULT_VAT_RATES = frozenset({Decimal(0), Decimal(12), Decimal(21)})
REPORT_TIME = "%Y%m%d_%H%M%S"
# Untrusted input: no entities expanded, nothing fetched; blank text dropped so that the
# copy of an order under Data is indented with the rest of the report.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


@dataclass(frozen=True)
class ImportedLine:
    name: str
    catalogue: str | None  # Katalog of the stock card or the non-stock item
    bar_code: str | None  # the stock card's BarCode: its key in the agenda
    quantity: Decimal
    unit_price: Decimal  # Cena, or Valuty for an order in a foreign currency
    vat_rate: Decimal


@dataclass(frozen=True)
class ImportedOrder:
    doklad: str
    partner_document: str | None  # PrimDoklad, "Doklad došlý"
    customer: str
    ico: str | None
    lines: tuple[ImportedLine, ...]
    source: str  # the name of the file it came from


@dataclass
class Agenda:
    """What the Money S3 agenda knows; imports add to it as Money would."""

    orders: dict[str, ImportedOrder] = field(default_factory=dict)  # by Doklad
    firms: dict[str, str] = field(default_factory=dict)  # address cards: ICO -> name
    stock_cards: dict[str, str] = field(default_factory=dict)  # BarCode -> Katalog
    warehouses: set[str] = field(default_factory=set)  # KodSkladu
    vat_rates: set[Decimal] = field(default_factory=lambda: set(DEFAULT_VAT_RATES))
    next_number: int = 1

    def take_number(self) -> str:
        """The series' next number no order has yet (a file may have used one as Doklad)."""
        while True:
            number = f"{NUMBER_SERIES}{self.next_number:0{NUMBER_DIGITS}d}"
            self.next_number += 1
            if number not in self.orders:
                return number


@dataclass(frozen=True)
class ErrorInfo:
    kind: str  # ErrorTypeCoded
    code: str
    description: str


@dataclass(frozen=True)
class _Failure:
    """A record inside an item that stopped the item: ``KmKarta`` or ``Sklad``."""

    tag: str
    reference: tuple[tuple[str, str], ...]
    error: ErrorInfo


class MoneyS3StandIn:
    """``MoneyS3StandIn(Agenda(warehouses={"HL"})).import_document(name, xml)`` -> report."""

    def __init__(
        self, agenda: Agenda | None = None, clock: Callable[[], dt.datetime] = dt.datetime.now
    ) -> None:
        self.agenda = agenda if agenda is not None else Agenda()
        self.clock = clock  # local time, as on the accountant's PC: it names the reports
        self.imported: set[tuple[str, str]] = set()  # (file name, sha256 of its content)
        self.reports_written = 0

    # --- files and buckets --------------------------------------------------------------

    def import_folder(self, exports: Path, reports: Path) -> list[Path]:
        """Import each ``*.xml`` in ``exports`` not imported before, in name order; write
        each report into ``reports`` (keep it apart from ``exports``) and return them."""
        written: list[Path] = []
        for path in sorted(exports.glob("*.xml")):
            report = self._import_new(path.name, path.read_bytes())
            if report is not None:
                reports.mkdir(parents=True, exist_ok=True)
                target = reports / self._report_name(path.stem)
                target.write_bytes(report)
                written.append(target)
        return written

    def import_bucket(
        self, client: S3Client, bucket: str, exports_prefix: str, reports_prefix: str
    ) -> list[str]:
        """``import_folder`` on S3: the ``*.xml`` objects right under ``exports_prefix``;
        returns the keys of the reports written under ``reports_prefix``."""
        written: list[str] = []
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=exports_prefix, Delimiter="/"
        )
        # S3 lists keys in UTF-8 byte order: name order, as sorted() gives for a folder.
        for listed in (item for page in pages for item in page.get("Contents", [])):
            name = listed["Key"].removeprefix(exports_prefix)
            if not name.endswith(".xml"):
                continue
            document = client.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read()
            report = self._import_new(name, document)
            if report is not None:
                key = reports_prefix + self._report_name(PurePosixPath(name).stem)
                client.put_object(
                    Bucket=bucket, Key=key, Body=report, ContentType="application/xml"
                )
                written.append(key)
        return written

    def _import_new(self, name: str, document: bytes) -> bytes | None:
        """The report, or None for a file imported before with this very content (a file
        written anew under the same name is imported again, as the accountant would)."""
        seen = (name, hashlib.sha256(document).hexdigest())
        if seen in self.imported:
            return None
        self.imported.add(seen)
        return self.import_document(name, document)

    def _report_name(self, stem: str) -> str:
        """Money's own report file names are unpublished: this one sorts by time, and the
        running count keeps two reports of the same second and file apart."""
        self.reports_written += 1
        return f"{self.clock():{REPORT_TIME}}_{self.reports_written}_{stem}.xml"

    # --- one file -----------------------------------------------------------------------

    def import_document(self, name: str, document: bytes) -> bytes:
        """Import one file into the agenda; its ``MoneyReport`` (UTF-8, pretty printed)."""
        report = etree.Element("MoneyReport")
        status = etree.SubElement(report, "Status")
        orders = _orders(name, document)
        if isinstance(orders, ErrorInfo):
            status.text = FATAL
            _entry(etree.SubElement(report, "Control"), "NoEntity", FATAL, errors=[orders])
        else:
            listing = etree.SubElement(report, "SeznamObjPrij")
            status.text = _overall([self._import_order(order, name, listing) for order in orders])
        return XML_DECLARATION + etree.tostring(report, encoding="UTF-8", pretty_print=True)

    def _import_order(self, order: etree._Element, source: str, listing: etree._Element) -> str:
        """Import one ``ObjPrij``, write its entry into ``listing``; the entry's status."""
        doklad = _text(order, "Doklad")
        if doklad and doklad in self.agenda.orders:
            no_action = ErrorInfo(
                CORRELATION_ERROR,
                "NoAction",
                f"Doklad {doklad} v agendě již existuje; podle definice importu se "
                "neprovádí žádná akce.",
            )
            _entry(listing, "ObjPrij", OK, _order_reference(doklad), [no_action])
            return OK
        items = order.findall("Polozka")
        lines, refusals = self._lines(items)
        if refusals:
            reference = _order_reference(doklad) if doklad else ()
            _entry(listing, "ObjPrij", FATAL, reference, refusals)
            return FATAL
        failures = [self._item_failures(item) for item in items]
        number = doklad or self.agenda.take_number()
        status = WARNING if any(failures) else OK
        entry = _entry(listing, "ObjPrij", status, _order_reference(number))
        etree.SubElement(entry, "Data").append(_as_imported(order, number, failures))
        for tag in ("DodOdb", "KonecPrij"):
            self._firm(order.find(tag), entry, tag)
        for position, (item, item_failures) in enumerate(zip(items, failures, strict=True), 1):
            if item_failures:
                _failed_item(entry, item, position, item_failures)
            else:
                self._stock_card(item)
        customer = order.find("DodOdb")
        self.agenda.orders[number] = ImportedOrder(
            doklad=number,
            partner_document=_text(order, "PrimDoklad"),
            customer=_firm_name(customer),
            ico=_text(customer, "ICO"),
            lines=tuple(line for line, failed in zip(lines, failures, strict=True) if not failed),
            source=source,
        )
        return status

    def _lines(self, items: list[etree._Element]) -> tuple[list[ImportedLine], list[ErrorInfo]]:
        """The items as lines, or why Money cannot store the order: a number that is none,
        a VAT rate the agenda does not know (one ErrorInfo for each such item)."""
        lines: list[ImportedLine] = []
        refusals: list[ErrorInfo] = []
        for position, item in enumerate(items, 1):
            line = _line(item)
            if line is None:
                refusals.append(
                    ErrorInfo(
                        SYSTEM_ERROR,
                        "InvalidNumber",
                        f"Položka {position} ({_text(item, 'Popis') or ''}): počet, cena nebo "
                        "sazba DPH chybí nebo není číslo.",
                    )
                )
            elif line.vat_rate not in self.agenda.vat_rates:
                refusals.append(
                    ErrorInfo(
                        BUSINESS_ERROR,
                        "UnknownVatRate",
                        f"Sazba DPH {_percent(line.vat_rate)} % u položky {position} "
                        f"({line.name}) není v agendě nastavena; doklad nelze uložit.",
                    )
                )
            else:
                lines.append(line)
        return lines, refusals

    def _item_failures(self, item: etree._Element) -> list[_Failure]:
        """What stops the item under the default definition: a stock card without its key
        (``BarCode``), a warehouse without its key or with one the agenda does not know."""
        failures: list[_Failure] = []
        card = item.find("KmKarta")
        if card is not None and not _text(card, "BarCode"):
            catalogue = _text(card, "Katalog")
            failures.append(
                _Failure(
                    "KmKarta",
                    (("Katalog", catalogue),) if catalogue else (),
                    ErrorInfo(
                        CORRELATION_ERROR,
                        "MissingKey",
                        "Zásobu nelze spárovat: chybí čárový kód (BarCode).",
                    ),
                )
            )
        warehouse = item.find("Sklad")
        if warehouse is not None:
            code = _text(warehouse, "KodSkladu")
            if not code:
                missing = "Sklad nelze spárovat: chybí kód skladu (KodSkladu)."
                error = ErrorInfo(CORRELATION_ERROR, "MissingKey", missing)
                failures.append(_Failure("Sklad", (), error))
            elif code not in self.agenda.warehouses:
                error = ErrorInfo(
                    CORRELATION_ERROR, "NotFound", f"Sklad s kódem {code} neexistuje."
                )
                failures.append(_Failure("Sklad", (("KodSkladu", code),), error))
        return failures

    def _firm(self, firm: etree._Element | None, entry: etree._Element, tag: str) -> None:
        """A firm with ``ICO`` gets an address card, or is linked to the one it has (no
        change); its entry names the key. Without ``ICO``: no card, no entry."""
        ico = _text(firm, "ICO")
        if not ico:
            return
        self.agenda.firms.setdefault(ico, _firm_name(firm))
        _entry(entry, tag, OK, (("ICO", ico),))

    def _stock_card(self, item: etree._Element) -> None:
        """An imported item's stock card: added when its ``BarCode`` is new, else linked."""
        bar_code = _text(item, "KmKarta/BarCode")
        if bar_code:
            self.agenda.stock_cards.setdefault(bar_code, _text(item, "KmKarta/Katalog") or "")


def _orders(name: str, document: bytes) -> list[etree._Element] | ErrorInfo:
    """The file's orders, or why there is nothing to import (``Control/NoEntity``)."""
    try:
        root = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as error:
        return ErrorInfo(
            SYSTEM_ERROR, "NotWellFormed", f"Soubor {name} není platný XML dokument: {error}"
        )
    orders = root.findall("SeznamObjPrij/ObjPrij") if root.tag == "MoneyData" else []
    if not orders:
        return ErrorInfo(
            PAYLOAD_ERROR,
            "NoEntity",
            f"Soubor {name} neobsahuje žádnou objednávku přijatou (MoneyData/SeznamObjPrij/"
            "ObjPrij); nebyl importován žádný záznam.",
        )
    return orders


def _overall(statuses: list[str]) -> str:
    """The file's status: Ok when every order is, FatalError when none went in."""
    if all(status == OK for status in statuses):
        return OK
    if all(status == FATAL for status in statuses):
        return FATAL
    return WARNING


def _entry(
    parent: etree._Element,
    tag: str,
    status: str,
    reference: tuple[tuple[str, str], ...] = (),
    errors: Iterable[ErrorInfo] = (),
) -> etree._Element:
    """An entry of ``messageType``: Status, Reference (each key and its value; an empty
    value makes an empty ID), ErrorInfo; the caller adds Data and nested entries after."""
    entry = etree.SubElement(parent, tag)
    etree.SubElement(entry, "Status").text = status
    if reference:
        ids = etree.SubElement(entry, "Reference")
        for key, value in reference:
            etree.SubElement(ids, "ID", keyName=key).text = value or None
    for error in errors:
        info = etree.SubElement(entry, "ErrorInfo")
        etree.SubElement(info, "ErrorTypeCoded").text = error.kind
        etree.SubElement(info, "ErrorTypeOther")  # required by the XSD, even when empty
        etree.SubElement(info, "ErrorCode").text = error.code
        etree.SubElement(info, "ErrorDescription").text = error.description
    return entry


def _order_reference(doklad: str) -> tuple[tuple[str, str], ...]:
    return ((DOKLAD_LABEL, ""), ("Doklad", doklad))


def _failed_item(
    entry: etree._Element, item: etree._Element, position: int, failures: list[_Failure]
) -> None:
    """The item Money left out, with an entry for each record that stopped it (in
    ``msgPolozType``'s order: ``KmKarta``, then ``Sklad``)."""
    poradi = _text(item, "Poradi") or str(position)
    nested = _entry(entry, "Polozka", FATAL, (("Poradi", poradi),))
    for failure in failures:
        _entry(nested, failure.tag, FATAL, failure.reference, [failure.error])


def _as_imported(
    order: etree._Element, number: str, failures: list[list[_Failure]]
) -> etree._Element:
    """A copy of the order as it went in: numbered, without the items that failed."""
    imported = copy.deepcopy(order)
    doklad = imported.find("Doklad")  # absent or blank when Money numbered the order
    if doklad is None:
        doklad = etree.Element("Doklad")
        imported.insert(0, doklad)  # first in objednavkaType
    doklad.text = number
    for item, failed in zip(imported.findall("Polozka"), failures, strict=True):
        if failed:
            imported.remove(item)
    return imported


def _line(item: etree._Element) -> ImportedLine | None:
    """The item as a line; None when its quantity, price or VAT rate is missing or no number."""
    quantity = _decimal(_text(item, "PocetMJ"))
    price = _decimal(_text(item, "Cena") or _text(item, "Valuty"))  # Valuty: foreign currency
    rate = _decimal(_text(item, "SazbaDPH"))
    if quantity is None or price is None or rate is None:
        return None
    return ImportedLine(
        name=_text(item, "Popis") or "",
        catalogue=_text(item, "KmKarta/Katalog") or _text(item, "NesklPolozka/Katalog"),
        bar_code=_text(item, "KmKarta/BarCode"),
        quantity=quantity,
        unit_price=price,
        vat_rate=rate,
    )


def _firm_name(firm: etree._Element | None) -> str:
    return _text(firm, "ObchNazev") or _text(firm, "FaktNazev") or _text(firm, "Nazev") or ""


def _text(parent: etree._Element | None, path: str) -> str | None:
    """The stripped text at ``path``; None when absent or blank."""
    text = (parent.findtext(path) or "").strip() if parent is not None else ""
    return text or None


def _decimal(text: str | None) -> Decimal | None:
    try:
        value = Decimal(text) if text else None
    except InvalidOperation:
        return None
    return value if value is not None and value.is_finite() else None


def _percent(rate: Decimal) -> str:
    """``15``, ``10,5``: a rate as a Czech text writes it."""
    return format(rate.normalize(), "f").replace(".", ",")
