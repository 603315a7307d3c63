"""The received order as the bridge understands it.

These plain dataclasses are the only thing the RAYNET side hands to the Money S3 side, so
neither knows the other's formats. Money is always ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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
    name: str
    address: Address | None = None
    reg_number: str | None = None  # IČO, the key Money S3 matches its address book on
    tax_number: str | None = None  # DIČ
    tax_number_sk: str | None = None  # IČ DPH of a Slovak customer
    phone: str | None = None
    email: str | None = None
    vat_payer: bool | None = None
    natural_person: bool = False


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
