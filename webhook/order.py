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
    """Why a deal is not exported now, with what a reader needs to act: ``code`` is stable,
    ``message`` an English catalogue text with ``%(name)s`` placeholders filled from
    ``values``, translated where it is shown."""

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
