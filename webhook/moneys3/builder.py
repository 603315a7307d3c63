"""Money S3 XML for a received order: ``MoneyData/SeznamObjPrij/ObjPrij``.

The order header is an ``xs:sequence`` in ``__Objedn.xsd``, so the code below writes its
children in exactly that order (Doklad, Popis, Poznamka, Vystaveno, DodOdb, Vystavil,
PrimDoklad, Valuty, Polozka). Items are an ``xs:all``. ``Doklad`` is what Money matches a
re-imported order by (``numbering.py``); the RAYNET case code always goes to ``PrimDoklad``.

Lines follow Seyfor's own order templates: the unit price after discount in ``Cena`` with
``CenaPoSleve`` 1 and ``Sleva`` 0, so no discount can be applied twice; the discount itself is
spelled out in the line's note.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from webhook.moneys3.numbering import DEFAULT_PREFIX, OrderNumbering, document_number
from webhook.moneys3.text import clip, clip_line, clip_lines, fits, identifier
from webhook.moneys3.totals import LineFigures, check_totals, document_figures
from webhook.order import Address, Customer, Order, OrderLine

DESCRIPTION = "Objednávky přijaté z RAYNET CRM"
TRANSFER_DEFINITION = "_O+P+N"
PRICE_WITHOUT_VAT = "0"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# Limits from the XSD (maxLength); identifiers are refused past them, texts are clipped.
POPIS = 50
VYSTAVIL = 50
PRIM_DOKLAD = 20
ICO = 10
DIC = 20
KATALOG = 60
KOD_SKLADU = 20
SKLAD_NAZEV = 50
MJ = 10
EMAIL = 50
ULICE = 50
MISTO = 40
PSC = 10
STAT = 20
TEL_PRED = 10
TEL_CISLO = 20
CURRENCY_CODE = 4

_SPACED_INTERNATIONAL = re.compile(r"^(?:\+|00)(\d{1,3})[\s./-]+(.+)$")
_COMPACT_CZ_SK = re.compile(r"^(?:\+|00)(42[01])(\d{9})$")
_COUNTRY_CODE = re.compile(r"^[A-Za-z]{2}$")


@dataclass(frozen=True)
class Warehouse:
    """The Money S3 warehouse stock items are taken from (stock variant)."""

    code: str
    name: str


@dataclass(frozen=True)
class ExportOptions:
    stock: bool = False  # the stock-linked variant ("Money S3 – sklad")
    warehouse: Warehouse | None = None  # stock items' warehouse; None: the import definition's
    home_currency: str = "CZK"
    agenda_ico: str | None = None  # our own IČO, written as MoneyData/@ICAgendy
    numbering: OrderNumbering = OrderNumbering.CASE
    number_prefix: str = DEFAULT_PREFIX


def build_order_document(order: Order, options: ExportOptions, now: dt.datetime) -> bytes:
    """The UTF-8 XML file for one order; raises ``InvalidOrder`` rather than write wrong data."""
    figures = document_figures(order)
    totals = check_totals(order, figures)
    root = etree.Element("MoneyData", _root_attributes(options, now))
    obj = etree.SubElement(etree.SubElement(root, "SeznamObjPrij"), "ObjPrij")
    if options.numbering is OrderNumbering.CASE:
        _text(obj, "Doklad", document_number(order.code, order.source_id, options.number_prefix))
    _text(obj, "Popis", clip_line(order.name or order.code, POPIS))
    _text(obj, "Poznamka", clip(_note(order), 10_000))
    _text(obj, "Vystaveno", order.issued.isoformat())
    _customer(etree.SubElement(obj, "DodOdb"), order.customer)
    if order.salesperson:
        _text(obj, "Vystavil", clip_line(order.salesperson, VYSTAVIL))
    _text(obj, "PrimDoklad", identifier(order.code, PRIM_DOKLAD, "business case code"))
    foreign = order.currency.upper() != options.home_currency.upper()
    if foreign:
        _currency(obj, order, totals.gross, options.home_currency)
    items = _ItemWriter("Valuty" if foreign else "Cena", options.stock, options.warehouse)
    for position, (line, line_figures) in enumerate(zip(order.lines, figures, strict=True), 1):
        items.write(obj, line, line_figures, position)
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)


def _root_attributes(options: ExportOptions, now: dt.datetime) -> dict[str, str]:
    attributes = {
        "description": DESCRIPTION,
        "ExpZkratka": TRANSFER_DEFINITION,
        "ExpDate": now.date().isoformat(),
        "ExpTime": now.time().replace(microsecond=0, tzinfo=None).isoformat(),
    }
    if options.agenda_ico:
        attributes["ICAgendy"] = options.agenda_ico
    return attributes


def _note(order: Order) -> str:
    heading = f"Obchodní případ RAYNET {order.code}"
    return f"{heading}: {order.name}" if order.name else heading


def _customer(parent: etree._Element, customer: Customer) -> None:
    name = clip_line(customer.name, 255)
    _text(parent, "ObchNazev", name)
    if customer.address:
        _address(etree.SubElement(parent, "ObchAdresa"), customer.address)
    _text(parent, "FaktNazev", name)
    if customer.address:
        _address(etree.SubElement(parent, "FaktAdresa"), customer.address)
    if customer.reg_number:
        _text(parent, "ICO", identifier(customer.reg_number, ICO, "IČO", squeeze=True))
    if customer.tax_number:
        _text(parent, "DIC", identifier(customer.tax_number, DIC, "DIČ", squeeze=True))
    if customer.tax_number_sk:
        _text(parent, "DICSK", identifier(customer.tax_number_sk, DIC, "IČ DPH", squeeze=True))
    phone = _split_phone(customer.phone) if customer.phone else None
    if phone:
        tel = etree.SubElement(parent, "Tel")
        if phone[0]:
            _text(tel, "Pred", phone[0])
        _text(tel, "Cislo", phone[1])
    email = fits(customer.email, EMAIL)
    if email:
        _text(parent, "EMail", email)
    if customer.vat_payer is not None:
        _text(parent, "PlatceDPH", _bool(customer.vat_payer))
    _text(parent, "FyzOsoba", _bool(customer.natural_person))


def _address(parent: etree._Element, address: Address) -> None:
    for tag, value, limit in (
        ("Ulice", address.street, ULICE),
        ("Misto", address.city, MISTO),
        ("PSC", address.zip_code, PSC),
        ("Stat", address.country, STAT),
    ):
        if value and value.strip():
            _text(parent, tag, clip_line(value, limit))
    if address.country_code and _COUNTRY_CODE.match(address.country_code.strip()):
        _text(parent, "KodStatu", address.country_code.strip().upper())


def _split_phone(raw: str) -> tuple[str | None, str] | None:
    """``+420 541 000 111`` → (``+420``, ``541 000 111``); None when it does not fit."""
    text = clip_line(raw, 100)
    prefix: str | None = None
    number = text
    compact = re.sub(r"[\s./-]", "", text)
    if (match := _SPACED_INTERNATIONAL.match(text)) or (match := _COMPACT_CZ_SK.match(compact)):
        prefix, number = "+" + match[1], match[2]
    if len(number) > TEL_CISLO or (prefix and len(prefix) > TEL_PRED):
        return None
    return prefix, number


def _currency(parent: etree._Element, order: Order, gross: Decimal, home_currency: str) -> None:
    valuty = etree.SubElement(parent, "Valuty")
    mena = etree.SubElement(valuty, "Mena")
    _text(mena, "Kod", identifier(order.currency, CURRENCY_CODE, "currency code"))
    _text(mena, "Mnozstvi", "1")
    if _rate_into(order, home_currency):
        assert order.exchange_rate is not None
        _text(mena, "Kurs", _number(order.exchange_rate.quantize(Decimal("0.0001"))))
    etree.SubElement(valuty, "SouhrnDPH")  # required by the XSD, ignored on import
    _text(valuty, "Celkem", _number(gross))


def _rate_into(order: Order, home_currency: str) -> bool:
    """Whether the order's rate is one Money can use as ``Kurs``: into the home currency.

    RAYNET's rate converts into the CRM's default currency, which need not be Money's; a
    rate of 1 between two currencies is a placeholder. Without ``Kurs`` Money takes the
    rate from its own exchange rate list.
    """
    rate = order.exchange_rate
    return (
        rate is not None
        and rate > 0
        and rate != 1
        and (order.exchange_rate_base or "").upper() == home_currency.upper()
    )


class _ItemWriter:
    """Writes ``Polozka`` elements; per-document choices are settled once, not per item."""

    def __init__(self, price_element: str, stock: bool, warehouse: Warehouse | None) -> None:
        self.price_element = price_element
        self.stock = stock
        self.warehouse = (
            Warehouse(
                code=identifier(warehouse.code, KOD_SKLADU, "warehouse code"),
                name=clip_line(warehouse.name, SKLAD_NAZEV),
            )
            if stock and warehouse is not None
            else None
        )

    def write(
        self, parent: etree._Element, line: OrderLine, figures: LineFigures, position: int
    ) -> None:
        item = etree.SubElement(parent, "Polozka")
        name = clip_line(line.name, POPIS)
        _text(item, "Popis", name)
        unit = clip_line(line.unit, MJ) if line.unit and line.unit.strip() else None
        full_name = line.name if name != line.name.strip() else None
        discount = line.discount_percent
        shown = f"Sleva {_number(discount).replace('.', ',')} %" if discount else None
        note = clip_lines((full_name, line.note, shown), 10_000)
        if note:
            _text(item, "Poznamka", note)
        _text(item, "PocetMJ", _number(figures.quantity))
        _text(item, self.price_element, _number(figures.unit_price))
        _text(item, "SazbaDPH", _number(line.vat_rate))
        _text(item, "TypCeny", PRICE_WITHOUT_VAT)
        _text(item, "Sleva", "0")  # the price above is already the discounted one
        _text(item, "Poradi", str(position))
        _text(item, "CenaPoSleve", "1")
        code = identifier(line.product_code, KATALOG, "product code") if line.product_code else None
        if self.stock and code:
            if self.warehouse is not None:
                sklad = etree.SubElement(item, "Sklad")  # xs:sequence: Nazev, KodSkladu, CenikSklad
                _text(sklad, "Nazev", self.warehouse.name)
                _text(sklad, "KodSkladu", self.warehouse.code)
                _text(sklad, "CenikSklad", "0")
            card = etree.SubElement(item, "KmKarta")
            _text(card, "Popis", name)
            if unit:
                _text(card, "MJ", unit)
            _text(card, "Katalog", code)
        elif unit or code:
            non_stock = etree.SubElement(item, "NesklPolozka")
            if unit:
                _text(non_stock, "MJ", unit)
            if code:
                _text(non_stock, "Katalog", code)


def _text(parent: etree._Element, tag: str, value: str) -> None:
    etree.SubElement(parent, tag).text = value


def _number(value: Decimal) -> str:
    """Plain decimal notation without exponent or superfluous zeros: ``650.5``, ``12``."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _bool(value: bool) -> str:
    return "1" if value else "0"


def case_code_in(document: bytes) -> str | None:
    """The RAYNET case code a document of ours carries in ``PrimDoklad``, if readable."""
    try:
        root = etree.fromstring(document)
    except etree.XMLSyntaxError:
        return None
    found = root.findtext("SeznamObjPrij/ObjPrij/PrimDoklad")
    return found if found is None else str(found)
