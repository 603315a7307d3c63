"""The received order as the bridge understands it.

These plain dataclasses are the only thing the RAYNET side hands to the Money S3 side, so
neither knows the other's formats. Money is always ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Address:
    street: str | None = None
    city: str | None = None
    zip_code: str | None = None
    country: str | None = None
    country_code: str | None = None  # ISO 3166-1 alpha-2 when known


@dataclass(frozen=True)
class Customer:
    """The customer as accounting needs it. ``vat_id`` is the VAT registration number
    (``CZ27182819``, a Slovak IČ DPH ``SK2020123456``); ``tax_id`` a tax number that is not
    a VAT id (a Slovak DIČ, ten digits)."""

    name: str
    address: Address | None = None
    reg_number: str | None = None  # IČO, the key Money S3 matches its address book on
    vat_id: str | None = None
    tax_id: str | None = None
    phone: str | None = None
    email: str | None = None
    vat_payer: bool | None = None
    natural_person: bool = False
    delivery: Address | None = None  # where the goods go, when it is not ``address``
    delivery_name: str | None = None


@dataclass(frozen=True)
class OrderLine:
    """One item; ``unit_price`` is before discount and without VAT."""

    name: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    discount_percent: Decimal = Decimal(0)
    unit: str | None = None
    note: str | None = None
    product_code: str | None = None

    @property
    def discounted_unit_price(self) -> Decimal:
        return self.unit_price * (HUNDRED - self.discount_percent) / HUNDRED

    @property
    def net_amount(self) -> Decimal:
        """Exact, unrounded line amount without VAT."""
        return self.quantity * self.discounted_unit_price


@dataclass(frozen=True)
class Bookkeeping:
    """What the accountant chose to fill in on every order (each a constant or a value of
    the deal's): the document type and number series, cost centre, job and activity, the
    partner's document number (*doklad došlý*) and a note. None: left to Money S3."""

    document_type: str | None = None
    number_series: str | None = None
    cost_centre: str | None = None
    job: str | None = None
    activity: str | None = None
    partner_document: str | None = None
    note: str | None = None
    # Custom fields asked for by a name the CRM has none by (a typo, a field renamed): what
    # they should fill is empty, and the accountant is told.
    unknown_custom_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Order:
    """A won deal to be entered as a received order.

    ``exchange_rate`` converts one unit of ``currency`` into ``exchange_rate_base`` (the
    currency the CRM converts into); None when either is unknown.
    """

    code: str
    source_id: int  # the deal's record id in the CRM: stable, unlike its editable code
    name: str
    issued: dt.date
    currency: str  # ISO 4217
    customer: Customer
    lines: tuple[OrderLine, ...]
    total_net: Decimal
    total_gross: Decimal
    exchange_rate: Decimal | None = None
    exchange_rate_base: str | None = None  # ISO 4217
    salesperson: str | None = None
    bookkeeping: Bookkeeping = field(default_factory=Bookkeeping)


@dataclass(frozen=True)
class Caveat:
    """Something the accountant should know about an order that was delivered all the same
    (characters Money S3 cannot store, a VAT rate the agenda may lack, a doubtful IČO).

    ``code`` is stable (metrics, tests); the text is chosen by it where it is shown, in the
    reader's language, with ``values`` filled in."""

    code: str
    values: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class Reason:
    """Why a deal is not exported now (or a Money S3 report file was not read), with what a
    reader needs to act: ``code`` is stable, ``message`` an English catalogue text with
    ``%(name)s`` placeholders filled from ``values``, translated where it is shown."""

    code: str
    message: str
    values: Mapping[str, str | int] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message % self.values if self.values else self.message


@dataclass(frozen=True)
class CaseSummary:
    """A deal as people recognise it in lists (the dashboard, reports): what was known of
    it when the bridge last read it. ``doklad`` is the order's number in Money S3, once an
    order was made."""

    name: str | None = None
    customer: str | None = None
    total_with_vat: Decimal | None = None
    currency: str | None = None  # ISO 4217 once known, else RAYNET's symbol
    doklad: str | None = None


@dataclass(frozen=True)
class DigestLine:
    """What of an order line Money S3 keeps and the accountant would have to correct."""

    name: str
    product_code: str | None
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    discount_percent: Decimal


@dataclass(frozen=True)
class OrderDigest:
    """An order as delivered, kept to tell later whether the deal changed in a way the
    order in Money S3 no longer shows: the customer, the lines, the totals."""

    customer: str
    reg_number: str | None
    currency: str
    lines: tuple[DigestLine, ...]
    total_net: Decimal
    total_gross: Decimal

    @classmethod
    def of(cls, order: Order) -> OrderDigest:
        return cls(
            customer=order.customer.name,
            reg_number=order.customer.reg_number,
            currency=order.currency,
            lines=tuple(
                DigestLine(
                    line.name,
                    line.product_code,
                    line.quantity,
                    line.unit_price,
                    line.vat_rate,
                    line.discount_percent,
                )
                for line in order.lines
            ),
            total_net=order.total_net,
            total_gross=order.total_gross,
        )


@dataclass(frozen=True)
class Change:
    """One difference between the order delivered and the deal as it is now.

    ``what`` is stable (the catalogue chooses the words): ``customer``, ``reg_number``,
    ``currency``, ``total_gross``, ``no_longer_exportable`` (``new`` holds the reason),
    ``line_added``, ``line_removed``, and per line ``quantity``, ``unit_price``,
    ``vat_rate``, ``discount``. ``line`` names the item."""

    what: str
    old: str | None = None
    new: str | None = None
    line: str | None = None


def order_changes(delivered: OrderDigest, now: OrderDigest) -> tuple[Change, ...]:
    """What differs, in the order an accountant reads an order: header, lines, total.

    Lines are paired by product code and name (an item renamed counts as one removed and
    one added: Money S3 would need both)."""
    changes = [
        Change(what, str(old) if old is not None else None, str(new) if new is not None else None)
        for what, old, new in (
            ("customer", delivered.customer, now.customer),
            ("reg_number", delivered.reg_number, now.reg_number),
            ("currency", delivered.currency, now.currency),
        )
        if old != new
    ]
    before = _by_item(delivered.lines)
    after = _by_item(now.lines)
    for key, old_line in before.items():
        new_line = after.get(key)
        if new_line is None:
            changes.append(Change("line_removed", _line_text(old_line), None, old_line.name))
            continue
        for what, old_value, new_value in (
            ("quantity", old_line.quantity, new_line.quantity),
            ("unit_price", old_line.unit_price, new_line.unit_price),
            ("discount", old_line.discount_percent, new_line.discount_percent),
            ("vat_rate", old_line.vat_rate, new_line.vat_rate),
        ):
            if old_value != new_value:
                changes.append(Change(what, _plain(old_value), _plain(new_value), old_line.name))
    changes += [
        Change("line_added", None, _line_text(line), line.name)
        for key, line in after.items()
        if key not in before
    ]
    if delivered.total_gross != now.total_gross:
        changes.append(
            Change("total_gross", _plain(delivered.total_gross), _plain(now.total_gross))
        )
    return tuple(changes)


def _by_item(lines: tuple[DigestLine, ...]) -> dict[tuple[str | None, str, int], DigestLine]:
    """Lines keyed by code and name, a repeated item numbered so that none is lost."""
    keyed: dict[tuple[str | None, str, int], DigestLine] = {}
    for line in lines:
        repeat = 0
        while (line.product_code, line.name, repeat) in keyed:
            repeat += 1
        keyed[(line.product_code, line.name, repeat)] = line
    return keyed


def _plain(value: Decimal) -> str:
    """A number without trailing zeros: 2.000 is 2, 12.50 is 12.5."""
    return format(value.normalize(), "f")


def _line_text(line: DigestLine) -> str:
    return f"{_plain(line.quantity)} × {_plain(line.unit_price)}, {_plain(line.vat_rate)} %"
