"""Money S3 XML for a received order: ``MoneyData/SeznamObjPrij/ObjPrij``.

The order header is an ``xs:sequence`` in ``__Objedn.xsd``, so the code below writes its
children in exactly that order. Items and the customer blocks are ``xs:all``; they are
written in the schema's order too, since the XSD is the contract. ``Doklad`` is what Money
matches a re-imported order by (``numbering.py``).

Lines follow Seyfor's own order templates: the unit price after discount in ``Cena`` with
``CenaPoSleve`` 1 and ``Sleva`` 0, so no discount can be applied twice; the discount itself is
spelled out in the line's note. A line without a stock card carries
``NesklPolozka/TypZarDoby`` ``N``, as Seyfor's e-shop sample does: Money's import needs at
least that to take a non-stock line. A new stock card gets what Seyfor's import template
writes for one: ``TypKarty`` ``jednoducha`` and the line's VAT rate for sale and purchase.

Every text goes through ``text.storable`` (windows-1250): what had to change is returned as
caveats, one per field, so that the case says what the accountant will see differently.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from lxml import etree

from webhook.errors import InvalidOrder
from webhook.i18n import N_
from webhook.moneys3.numbering import DEFAULT_PREFIX, OrderNumbering, document_number
from webhook.moneys3.review import VatRates
from webhook.moneys3.text import clip_line, clip_lines, fits, identifier, storable
from webhook.moneys3.totals import LineFigures, check_totals, document_figures
from webhook.order import Address, Bookkeeping, Caveat, Customer, Order, OrderLine

DESCRIPTION = "Objednávky přijaté z RAYNET CRM"
TRANSFER_DEFINITION = "_O+P+N"
PRICE_WITHOUT_VAT = "0"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
CASE_HEADING = "Obchodní případ RAYNET "  # the first line of Poznamka: which deal this is
NO_WARRANTY = "N"  # NesklPolozka/TypZarDoby: "N = není uvedeno"
SIMPLE_CARD = "jednoducha"  # KmKarta/TypKarty of a card without components

# Limits from the XSD (maxLength); identifiers are refused past them, texts are clipped.
POPIS = 50
VYSTAVIL = 50
PRIM_DOKLAD = 20
ICO = 10
DIC = 20
KATALOG = 60
BAR_CODE = 20
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
NAME = 255
NOTE = 10_000
BOOKKEEPING_CODES = (  # header element, limit, what it is (for a refusal)
    ("DRada", 5, N_("number series (MONEY_S3_NUMBER_SERIES)")),
    ("Stredisko", 10, N_("cost centre (MONEY_S3_COST_CENTRE)")),
    ("Zakazka", 10, N_("job (MONEY_S3_JOB)")),
    ("Cinnost", 10, N_("activity (MONEY_S3_ACTIVITY)")),
)
FOUR_PLACES = Decimal("0.0001")
SMALL_RATE = Decimal("0.1")  # below it, Kurs is given for 100 or 1,000 units

_SPACED_INTERNATIONAL = re.compile(r"^(?:\+|00)(\d{1,3})[\s./-]+(.+)$")
_COMPACT_CZ_SK = re.compile(r"^(?:\+|00)(42[01])(\d{9})$")
_COUNTRY_CODE = re.compile(r"^[A-Za-z]{2}$")


@dataclass(frozen=True)
class Warehouse:
    """The Money S3 warehouse stock items are taken from (stock variant)."""

    code: str
    name: str


class StockKey(enum.Enum):
    """How Money S3 is to find a stock card. Its default import definition matches cards by
    ``BarCode``; matching by ``Katalog`` needs the definition changed (XML DE Profi)."""

    CATALOGUE = "katalog"  # RAYNET's product code as Katalog (the key set to Katalog)
    BARCODE = "barcode"  # ... and as BarCode too: cards whose barcode is RAYNET's code


@dataclass(frozen=True)
class ExportOptions:
    stock: bool = False  # the stock-linked variant ("Money S3 – sklad")
    warehouse: Warehouse | None = None  # stock items' warehouse; None: the import definition's
    stock_key: StockKey = StockKey.CATALOGUE
    home_currency: str = "CZK"
    agenda_ico: str | None = None  # our own IČO, written as MoneyData/@ICAgendy
    numbering: OrderNumbering = OrderNumbering.CASE
    number_prefix: str = DEFAULT_PREFIX
    vat_rates: VatRates = field(default_factory=VatRates)
    strict_vat: bool = False  # MONEY_S3_STRICT_VAT: a further VAT rate makes the case wait
    strict_ids: bool = False  # MONEY_S3_STRICT_IDS: a doubtful IČO or DIČ makes it wait


@dataclass(frozen=True)
class Document:
    """A built order: the file's bytes and what the accountant should know about it."""

    xml: bytes
    caveats: tuple[Caveat, ...] = ()


def build_order_document(order: Order, options: ExportOptions, now: dt.datetime) -> Document:
    """The UTF-8 XML file for one order; raises ``InvalidOrder`` rather than write wrong data."""
    _single_line(order.code)
    figures = document_figures(order)
    totals = check_totals(order, figures)
    writer = _Writer()
    root = etree.Element("MoneyData", _root_attributes(options, now))
    obj = etree.SubElement(etree.SubElement(root, "SeznamObjPrij"), "ObjPrij")
    if options.numbering is OrderNumbering.CASE:
        number = document_number(order.code, order.source_id, options.number_prefix)
        _text(obj, "Doklad", number)
    name = writer.storable(order.name or order.code, N_("in the deal's name"))
    _text(obj, "Popis", clip_line(name, POPIS))
    note = writer.storable(order.bookkeeping.note, N_("in the order's note"))
    heading = writer.storable(CASE_HEADING + order.code.strip(), N_("in the order's note"))
    _text(obj, "Poznamka", clip_lines((heading, name, note), NOTE))
    _text(obj, "Vystaveno", order.issued.isoformat())
    customer = writer.customer(etree.SubElement(obj, "DodOdb"), order.customer)
    if order.customer.delivery is not None:
        writer.recipient(etree.SubElement(obj, "KonecPrij"), order.customer, customer)
    writer.bookkeeping(obj, order.bookkeeping)
    if order.salesperson:
        writer.line(obj, "Vystavil", order.salesperson, VYSTAVIL, N_("in the salesperson's name"))
    if order.bookkeeping.document_type:
        code = identifier(order.bookkeeping.document_type, 10, N_("document type"))
        _text(obj, "ZkratkaTyp", code)
    partner_document = _partner_document(order)
    if partner_document:
        _text(obj, "PrimDoklad", partner_document)
    foreign = order.currency.upper() != options.home_currency.upper()
    if foreign:
        _currency(obj, order, totals.gross, options.home_currency)
    _text(obj, "SazbaDPH1", _number(options.vat_rates.reduced))
    _text(obj, "SazbaDPH2", _number(options.vat_rates.standard))
    items = _ItemWriter(writer, "Valuty" if foreign else "Cena", options)
    for position, (line, line_figures) in enumerate(zip(order.lines, figures, strict=True), 1):
        items.write(obj, line, line_figures, position)
    xml = XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)
    return Document(xml, tuple(writer.caveats))


class _Writer:
    """Writes free texts: each is made storable first, and what changed is noted."""

    def __init__(self) -> None:
        self.caveats: list[Caveat] = []

    def storable(self, value: str | None, field_name: str, item: int | None = None) -> str:
        text, changed = storable(value or "")
        if changed:
            values: dict[str, str | int] = {"count": changed, "field": field_name}
            if item is not None:
                values["item"] = item
            self.caveats.append(Caveat("replaced_characters", values))
        return text

    def line(
        self,
        parent: etree._Element,
        tag: str,
        value: str,
        limit: int,
        field_name: str,
        *,
        item: int | None = None,
    ) -> str:
        """A one-line free text; returns what was written."""
        text = clip_line(self.storable(value, field_name, item), limit)
        _text(parent, tag, text)
        return text

    def customer(self, parent: etree._Element, customer: Customer) -> str:
        """``DodOdb``: names, business and invoice address, the numbers, contacts; returns
        the name as written."""
        name = self.line(parent, "ObchNazev", customer.name, NAME, N_("in the customer's name"))
        address = self.stored(customer.address, N_("in the customer's address"))
        if address:
            _address(etree.SubElement(parent, "ObchAdresa"), address)
        _text(parent, "FaktNazev", name)
        if address:
            _address(etree.SubElement(parent, "FaktAdresa"), address)
        if customer.reg_number:
            _text(parent, "ICO", identifier(customer.reg_number, ICO, N_("IČO"), squeeze=True))
        if customer.vat_id:  # CZ: DIČ, SK: IČ DPH (__Firma.xsd): the VAT id either way
            _text(parent, "DIC", identifier(customer.vat_id, DIC, N_("DIČ"), squeeze=True))
        if customer.tax_id:  # "Pouze SK verze: DIČ"
            _text(parent, "DICSK", identifier(customer.tax_id, DIC, N_("Slovak DIČ"), squeeze=True))
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
        return name

    def recipient(self, parent: etree._Element, customer: Customer, written_name: str) -> None:
        """``KonecPrij``: where the goods go, when the customer has a contact address
        apart from its seat (without IČO: the address stays on the order, no card)."""
        if customer.delivery_name:
            self.line(parent, "Nazev", customer.delivery_name, NAME, N_("in the delivery address"))
        else:
            _text(parent, "Nazev", written_name)
        delivery = self.stored(customer.delivery, N_("in the delivery address"))
        if delivery:
            _address(etree.SubElement(parent, "Adresa"), delivery)

    def stored(self, address: Address | None, field_name: str) -> Address | None:
        """The address as Money S3 can store it (changes noted once, for both blocks)."""
        if address is None:
            return None
        values = {
            key: self.storable(value, field_name) if value else value
            for key, value in vars(address).items()
        }
        return Address(**values)

    def bookkeeping(self, parent: etree._Element, chosen: Bookkeeping) -> None:
        """``DRada``, ``Stredisko``, ``Zakazka``, ``Cinnost``: codes Money S3 must know."""
        for (tag, limit, what), value in zip(
            BOOKKEEPING_CODES,
            (chosen.number_series, chosen.cost_centre, chosen.job, chosen.activity),
            strict=True,
        ):
            if value:
                _text(parent, tag, identifier(value, limit, what))


def _address(parent: etree._Element, address: Address) -> None:
    for tag, value, limit in (
        ("Ulice", address.street, ULICE),
        ("Misto", address.city, MISTO),
        ("PSC", address.zip_code, PSC),
        ("Stat", address.country, STAT),
    ):
        if value and value.strip():
            etree.SubElement(parent, tag).text = clip_line(value, limit)
    if address.country_code and _COUNTRY_CODE.match(address.country_code.strip()):
        etree.SubElement(parent, "KodStatu").text = address.country_code.strip().upper()


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


def _single_line(code: str) -> None:
    """A case code names the order on a line of its own (``carries_case``): one with a line
    break or a control character cannot, and is not a code anyone meant."""
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in code.strip()):
        raise InvalidOrder(
            N_(
                "business case code %(code)s contains control characters or line breaks; fix it "
                "in RAYNET"
            ),
            code=repr(code),
        )


def _partner_document(order: Order) -> str | None:
    """*Doklad došlý*: the chosen value (the case code by default) when Money S3 can store
    it as it is; a longer or unstorable one is left out, never cut (the note has the code)."""
    value = (order.bookkeeping.partner_document or "").strip()
    if value and len(value) <= PRIM_DOKLAD and value.isprintable() and storable(value)[1] == 0:
        return value
    return None


def carries_case(document: bytes, code: str) -> bool:
    """Whether a document of ours is an order of the case with this code: its note's first
    line names the code (earlier files: ``PrimDoklad`` held the full code)."""
    try:
        root = etree.fromstring(document)
    except etree.XMLSyntaxError:
        return False
    order = root.find("SeznamObjPrij/ObjPrij")
    if order is None:
        return False
    heading = (order.findtext("Poznamka") or "").split("\n", 1)[0]
    wanted = storable(CASE_HEADING + code.strip())[0]
    return heading == wanted or order.findtext("PrimDoklad") == code


def _split_phone(raw: str) -> tuple[str | None, str] | None:
    """``+420 541 000 111`` → (``+420``, ``541 000 111``); None when it does not fit, or holds
    a character Money S3 cannot store."""
    text = clip_line(raw, 100)
    if storable(text)[1]:
        return None
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
    etree.SubElement(mena, "Kod").text = identifier(
        order.currency, CURRENCY_CODE, N_("currency code")
    )
    rate = _rate_into(order, home_currency)
    units = rate_units(rate) if rate is not None else 1
    etree.SubElement(mena, "Mnozstvi").text = str(units)
    if rate is not None:
        etree.SubElement(mena, "Kurs").text = _number((rate * units).quantize(FOUR_PLACES))
    etree.SubElement(valuty, "SouhrnDPH")  # required by the XSD; "IMPORT: NE"
    etree.SubElement(valuty, "Celkem").text = _number(gross)


def rate_units(rate: Decimal) -> int:
    """How many units of a currency ``Kurs`` is given for (``Mnozstvi``): 1, or 100 or 1,000
    for a weak currency, so that ``Kurs``'s four decimals keep the rate's precision
    (0.06341 CZK per forint is 6.341 per 100)."""
    if rate >= SMALL_RATE:
        return 1
    return 100 if rate * 100 >= 1 else 1000


def _rate_into(order: Order, home_currency: str) -> Decimal | None:
    """The order's rate when Money can use it as ``Kurs``: one into the home currency.

    RAYNET's rate converts into the CRM's default currency (``RAYNET_BASE_CURRENCY``), which
    need not be Money's; a rate of 1 between two currencies is a placeholder. Without
    ``Kurs`` Money takes the rate from its own exchange rate list.
    """
    rate = order.exchange_rate
    usable = (
        rate is not None
        and rate > 0
        and rate != 1
        and (order.exchange_rate_base or "").upper() == home_currency.upper()
    )
    return rate if usable else None


class _ItemWriter:
    """Writes ``Polozka`` elements; per-document choices are settled once, not per item."""

    def __init__(self, writer: _Writer, price_element: str, options: ExportOptions) -> None:
        self.writer = writer
        self.price_element = price_element
        self.stock = options.stock
        self.bar_code = options.stock_key is StockKey.BARCODE
        warehouse = options.warehouse
        self.warehouse = (
            Warehouse(
                code=identifier(warehouse.code, KOD_SKLADU, N_("warehouse code")),
                name=clip_line(storable(warehouse.name)[0], SKLAD_NAZEV),
            )
            if options.stock and warehouse is not None
            else None
        )

    def write(
        self, parent: etree._Element, line: OrderLine, figures: LineFigures, position: int
    ) -> None:
        w = self.writer
        item = etree.SubElement(parent, "Polozka")
        stored_name = w.storable(line.name, N_("in the name of item %(item)s"), position).strip()
        name = clip_line(stored_name, POPIS)
        _text(item, "Popis", name)
        unit = None
        if line.unit and line.unit.strip():
            unit = clip_line(
                w.storable(line.unit, N_("in the unit of item %(item)s"), position), MJ
            )
        note = (
            w.storable(line.note, N_("in the note of item %(item)s"), position)
            if line.note
            else None
        )
        discount = line.discount_percent
        shown = f"Sleva {_number(discount).replace('.', ',')} %" if discount else None
        full_name = stored_name if name != stored_name else None  # clipped or spaced anew
        note_text = clip_lines((full_name, note, shown), NOTE)
        if note_text:
            _text(item, "Poznamka", note_text)
        _text(item, "PocetMJ", _number(figures.quantity))
        _text(item, self.price_element, _number(figures.unit_price))
        _text(item, "SazbaDPH", _number(line.vat_rate))
        _text(item, "TypCeny", PRICE_WITHOUT_VAT)
        _text(item, "Sleva", "0")  # the price above is already the discounted one
        _text(item, "Poradi", str(position))
        _text(item, "CenaPoSleve", "1")
        code = (
            identifier(line.product_code, KATALOG, N_("product code"))
            if line.product_code
            else None
        )
        if self.stock and code:
            self._stock(item, line, name, unit, code)
        else:
            non_stock = etree.SubElement(item, "NesklPolozka")  # xs:all, in the schema's order
            if unit:
                _text(non_stock, "MJ", unit)
            if code:
                _text(non_stock, "Katalog", code)
            _text(non_stock, "TypZarDoby", NO_WARRANTY)

    def _stock(
        self, item: etree._Element, line: OrderLine, name: str, unit: str | None, code: str
    ) -> None:
        """``Sklad`` (when set) and ``KmKarta``, with what a new card needs."""
        if self.warehouse is not None:
            sklad = etree.SubElement(item, "Sklad")  # xs:sequence: Nazev, KodSkladu, CenikSklad
            _text(sklad, "Nazev", self.warehouse.name)
            _text(sklad, "KodSkladu", self.warehouse.code)
            _text(sklad, "CenikSklad", "0")
        card = etree.SubElement(item, "KmKarta")  # xs:all, in the schema's order
        _text(card, "Popis", name)
        if unit:
            _text(card, "MJ", unit)
        _text(card, "Katalog", code)
        if self.bar_code:
            _text(card, "BarCode", identifier(code, BAR_CODE, N_("product code as barcode")))
        settings = etree.SubElement(card, "konfigurace")
        _text(settings, "SDPH_Nakup", _number(line.vat_rate))
        _text(settings, "SDPH_Prod", _number(line.vat_rate))
        _text(card, "TypKarty", SIMPLE_CARD)


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
