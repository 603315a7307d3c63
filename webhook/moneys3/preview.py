"""A delivered file read back as Money S3 will see it: lines, VAT and totals.

The dashboard shows the accountant the order from the file itself, not from what RAYNET
says now: the file is what gets imported. Amounts follow the file's own figures (quantity
× unit price, the price already discounted), rounded to hundredths once per VAT rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lxml import etree

from webhook.errors import PermanentError
from webhook.i18n import N_
from webhook.moneys3.totals import CENT

HUNDRED = Decimal(100)


class UnreadableOrder(PermanentError):
    """The file is not one of our received-order documents."""


@dataclass(frozen=True)
class PreviewLine:
    position: int
    name: str
    catalogue: str | None  # Katalog: RAYNET's product code
    quantity: Decimal
    unit: str | None
    unit_price: Decimal  # without VAT, after discount
    vat_rate: Decimal
    note: str | None

    @property
    def net(self) -> Decimal:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class VatRow:
    rate: Decimal
    net: Decimal
    vat: Decimal


@dataclass(frozen=True)
class OrderPreview:
    doklad: str | None
    case_code: str | None  # PrimDoklad
    issued: str | None
    customer: str | None
    ico: str | None
    currency: str | None  # None: the agenda's own currency
    lines: tuple[PreviewLine, ...]
    vat_rows: tuple[VatRow, ...]

    @property
    def net(self) -> Decimal:
        return sum((row.net for row in self.vat_rows), Decimal(0))

    @property
    def vat(self) -> Decimal:
        return sum((row.vat for row in self.vat_rows), Decimal(0))

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


def read_order(document: bytes) -> OrderPreview:
    """The first received order of a Money S3 document."""
    try:
        root = etree.fromstring(document)
    except etree.XMLSyntaxError as error:
        raise UnreadableOrder(N_("not an XML document: %(error)s"), error=str(error)) from None
    order = root.find("SeznamObjPrij/ObjPrij")
    if order is None:
        raise UnreadableOrder(N_("no received order (SeznamObjPrij/ObjPrij) in the document"))
    foreign = order.find("Valuty") is not None
    lines = tuple(
        _line(item, position, "Valuty" if foreign else "Cena")
        for position, item in enumerate(order.iterfind("Polozka"), start=1)
    )
    return OrderPreview(
        doklad=order.findtext("Doklad"),
        case_code=order.findtext("PrimDoklad"),
        issued=order.findtext("Vystaveno"),
        customer=order.findtext("DodOdb/ObchNazev"),
        ico=order.findtext("DodOdb/ICO"),
        currency=order.findtext("Valuty/Mena/Kod"),
        lines=lines,
        vat_rows=_vat_rows(lines),
    )


def _line(item: etree._Element, position: int, price_element: str) -> PreviewLine:
    return PreviewLine(
        position=int(item.findtext("Poradi") or position),
        name=item.findtext("Popis") or "",
        catalogue=item.findtext("KmKarta/Katalog") or item.findtext("NesklPolozka/Katalog"),
        quantity=_number(item, "PocetMJ"),
        unit=item.findtext("KmKarta/MJ") or item.findtext("NesklPolozka/MJ"),
        unit_price=_number(item, price_element),
        vat_rate=_number(item, "SazbaDPH"),
        note=item.findtext("Poznamka"),
    )


def _number(item: etree._Element, tag: str) -> Decimal:
    text = item.findtext(tag)
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        raise UnreadableOrder(
            N_("%(tag)s is not a number: %(text)s"), tag=tag, text=repr(text)
        ) from None


def _vat_rows(lines: tuple[PreviewLine, ...]) -> tuple[VatRow, ...]:
    rates = sorted({line.vat_rate for line in lines}, reverse=True)
    rows = []
    for rate in rates:
        net = sum((line.net for line in lines if line.vat_rate == rate), Decimal(0))
        rounded = net.quantize(CENT, rounding=ROUND_HALF_UP)
        vat = (rounded * rate / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
        rows.append(VatRow(rate, rounded, vat))
    return tuple(rows)
