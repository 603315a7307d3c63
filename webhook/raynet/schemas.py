"""marshmallow schemas for what RAYNET sends us: webhook events and API responses.

Lenient where RAYNET is loose (unknown keys, ``success`` as ``"true"`` or ``true``, nulls
for empty values), strict where a wrong reading would put wrong figures into accounting:
amounts must be JSON numbers, ids must be integers. Every shape RAYNET sends is here, in
one module, so that what the bridge reads of RAYNET can be checked in one place.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from webhook.errors import InvalidOrder
from webhook.i18n import N_
from webhook.order import Address, Bookkeeping, CaseSummary, Customer, Order, OrderLine
from webhook.raynet.mapping import BookkeepingMap, CaseFields


class Amount(fields.Decimal):
    """A JSON number read exactly as ``Decimal``; strings, booleans, NaN are refused."""

    def _validated(self, value: Any) -> Decimal:
        if isinstance(value, str):
            raise self.make_error("invalid")
        return super()._validated(value)


MAX_ID = 2**63 - 1  # RAYNET's ids are int64, and so are SQLite's integers


class Id(fields.Integer):
    """A RAYNET record id: a positive JSON integer that fits 64 bits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


# --- webhook events -------------------------------------------------------------------

EVENT_TYPES = ("record.created", "record.updated", "record.deleted")
WON_STATUS = "E_WIN"  # the status group of won cases; phase names differ per instance


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    type: str
    entity_name: str
    entity_id: int
    external_ids: tuple[str, ...] = ()
    author: str | None = None  # the user whose action it was (an e-mail)
    source: str | None = None  # user, api or system

    @property
    def is_business_case(self) -> bool:
        return self.entity_name.casefold() == "businesscase"

    def made_by_api_user(self, username: str) -> bool:
        """Whether this change came through the API as ``username`` (the bridge writing
        back): nothing to look at again."""
        return (
            self.source == "api"
            and self.author is not None
            and self.author.casefold() == username.casefold()
        )


class InvalidWebhook(ValueError):
    """Not RAYNET's event shape; ``fields`` says what is wrong where (as a schema would)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.fields = fields


_EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_ENTITY_NAME = re.compile(r".{1,100}", re.DOTALL)


def parse_webhook(body: Any) -> WebhookEvent:
    """The thin notification RAYNET posts: ``{eventId, type, data{entityName, entityId}}``.

    Read by hand rather than by a schema: every webhook passes here while RAYNET waits,
    and this is a fraction of the work. Only what the bridge uses is checked;
    ``author`` and ``source.name`` are kept when they are short strings (they tell the
    bridge's own write-back), ``createdAt`` and any key RAYNET may add are ignored.
    ``data.extIds`` (a list of strings, or null) tells which files a case already has;
    anything else there is ignored, never a 400.
    """
    if not isinstance(body, dict):
        raise InvalidWebhook({"_schema": ["An object required."]})
    problems: dict[str, Any] = {}
    event_id = _text(body.get("eventId"), _EVENT_ID)
    if event_id is None:
        problems["eventId"] = ["1 to 64 letters, digits or -_.: required."]
    kind = body.get("type")
    if kind not in EVENT_TYPES:
        problems["type"] = [f"One of {', '.join(EVENT_TYPES)} required."]
    data = body.get("data")
    if not isinstance(data, dict):
        problems["data"] = ["An object with entityName and entityId required."]
        raise InvalidWebhook(problems)
    name = _text(data.get("entityName"), _ENTITY_NAME)
    entity_id = data.get("entityId")
    data_problems: dict[str, list[str]] = {}
    if name is None:
        data_problems["entityName"] = ["1 to 100 characters required."]
    if type(entity_id) is not int or not 1 <= entity_id <= MAX_ID:
        data_problems["entityId"] = [f"An integer from 1 to {MAX_ID} required."]
        entity_id = None
    if data_problems:
        problems["data"] = data_problems
    if problems or event_id is None or name is None or entity_id is None:
        raise InvalidWebhook(problems)
    source = body.get("source")
    return WebhookEvent(
        event_id,
        str(kind),
        name,
        entity_id,
        _strings(data.get("extIds")),
        author=_short(body.get("author")),
        source=_short(source.get("name")) if isinstance(source, dict) else None,
    )


def _short(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 255 else None


def _text(value: Any, shape: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and shape.fullmatch(value) else None


def _strings(value: Any, most: int = 50, longest: int = 255) -> tuple[str, ...]:
    """The short strings of a list (RAYNET allows 10 external ids a record)."""
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value[:most] if isinstance(v, str) and 0 < len(v) <= longest)


# --- API envelope -----------------------------------------------------------------------


class EnvelopeSchema(_Lenient):
    """``{"success": "true"|true, "data": ...}``; lists add ``totalCount``; deletions send
    ``{"success": true}`` alone."""

    success = fields.Boolean(required=True)
    data = fields.Raw(load_default=None, allow_none=True)
    totalCount = fields.Integer(load_default=None, allow_none=True)


# --- business case ----------------------------------------------------------------------


class _Ref(_Lenient):
    id = Id(required=True)


class _NamedRef(_Ref):
    name = fields.String(load_default=None, allow_none=True)


class _ValueRef(_Ref):
    value = fields.String(load_default=None, allow_none=True)


class _PersonRef(_Ref):
    fullName = fields.String(load_default=None, allow_none=True)


class _ProductRef(_Ref):
    code = fields.String(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True)


class _PriceListItemSchema(_Lenient):
    product = fields.Nested(_ProductRef, load_default=None, allow_none=True)


@dataclass(frozen=True)
class CaseItem:
    """An item of a deal: the order line, and the product it names when the case does not
    say the product's code (``GET product/{id}/`` does)."""

    line: OrderLine
    product_id_without_code: int | None = None


class ItemSchema(_Lenient):
    id = Id(load_default=None, allow_none=True)
    name = fields.String(load_default="", allow_none=True)
    description = fields.String(load_default=None, allow_none=True)
    price = Amount(required=True)
    count = Amount(required=True)
    taxRate = Amount(load_default=Decimal(0), allow_none=True)
    discountPercent = Amount(
        load_default=Decimal(0), allow_none=True, validate=validate.Range(min=0, max=100)
    )
    unit = fields.String(load_default=None, allow_none=True)
    priceListItem = fields.Nested(_PriceListItemSchema, load_default=None, allow_none=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> CaseItem:
        product = (data["priceListItem"] or {}).get("product") or {}
        code = (product.get("code") or "").strip() or None
        line = OrderLine(
            name=data["name"] or product.get("name") or "",
            quantity=data["count"],
            unit_price=data["price"],
            vat_rate=data["taxRate"] if data["taxRate"] is not None else Decimal(0),
            discount_percent=data["discountPercent"] or Decimal(0),
            unit=data["unit"],
            note=data["description"],
            product_code=code,
        )
        return CaseItem(line, None if code else product.get("id"))


@dataclass(frozen=True)
class CaseCurrency:
    """A case's currency as ISO codes: its own, and the one its exchange rate converts into
    (the CRM's default currency, ``RAYNET_BASE_CURRENCY``; None when not configured: the API
    does not say which currency is the default)."""

    code: str
    rate_base: str | None = None


@dataclass(frozen=True)
class BusinessCase:
    """RAYNET's view of a deal: what eligibility needs, plus the makings of an order."""

    id: int
    code: str
    name: str
    status: str
    company_id: int | None
    currency_id: int | None  # the row of RAYNET's currency list; its symbol is editable
    currency_symbol: str | None
    lines: tuple[OrderLine, ...]
    total_net: Decimal | None
    total_gross: Decimal | None
    closed_on: dt.date | None
    exchange_rate: Decimal | None
    owner_id: int | None  # the owner's person id, as RAYNET's button sends the presser's
    owner_name: str | None
    company_name: str | None = None
    external_ids: tuple[str, ...] = ()
    fields: CaseFields = field(default_factory=lambda: CaseFields({}))  # for the mapping
    products_without_code: tuple[tuple[int, int], ...] = ()  # (item index, product id)

    def summary(self) -> CaseSummary:
        """What is known of the deal without reading more of RAYNET (a skipped case)."""
        return CaseSummary(
            name=self.name or None,
            customer=self.company_name,
            total_with_vat=self.total_gross,
            currency=self.currency_symbol,
        )

    def to_order(
        self,
        customer: Customer,
        currency: CaseCurrency,
        today: dt.date,
        bookkeeping: Bookkeeping | None = None,
        product_codes: Mapping[int, str] | None = None,
    ) -> Order:
        """The order this won case becomes; the issue date is the day the deal closed.
        ``bookkeeping`` defaults to the default mapping's (the code as the partner's
        document number, the deal's note); ``product_codes`` are the codes of the products
        the items name without one."""
        if self.total_net is None or self.total_gross is None:
            raise InvalidOrder(
                N_("business case %(case)s has no totals (totalAmount, totalAmountWithTax)"),
                case=self.code,
            )
        lines = list(self.lines)
        for index, product_id in self.products_without_code:
            code = (product_codes or {}).get(product_id)
            if code:
                lines[index] = replace(lines[index], product_code=code)
        return Order(
            code=self.code,
            source_id=self.id,
            name=self.name,
            issued=self.closed_on or today,
            currency=currency.code,
            customer=customer,
            lines=tuple(lines),
            total_net=self.total_net,
            total_gross=self.total_gross,
            exchange_rate=self.exchange_rate,
            exchange_rate_base=currency.rate_base,
            salesperson=self.owner_name,
            bookkeeping=bookkeeping or BookkeepingMap().resolve(self.fields, {}),
        )


class BusinessCaseSchema(_Lenient):
    """``GET /businessCase/{id}/`` → ``data``."""

    id = Id(required=True)
    code = fields.String(required=True, validate=validate.Length(min=1))
    name = fields.String(load_default="", allow_none=True)
    status = fields.String(required=True)
    company = fields.Nested(_NamedRef, load_default=None, allow_none=True)
    currency = fields.Nested(_ValueRef, load_default=None, allow_none=True)
    owner = fields.Nested(_PersonRef, load_default=None, allow_none=True)
    validTill = fields.Date(load_default=None, allow_none=True)
    totalAmount = Amount(load_default=None, allow_none=True)
    totalAmountWithTax = Amount(load_default=None, allow_none=True)
    exchangeRate = Amount(load_default=None, allow_none=True)
    items = fields.List(fields.Nested(ItemSchema), load_default=list, allow_none=True)
    extIds = fields.List(fields.String(), load_default=None, allow_none=True)
    description = fields.String(load_default=None, allow_none=True)  # "[Poznámka]"
    category = fields.Nested(_ValueRef, load_default=None, allow_none=True)
    businessCaseType = fields.Nested(_ValueRef, load_default=None, allow_none=True)
    customFields = fields.Dict(keys=fields.String(), load_default=dict, allow_none=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> BusinessCase:
        items: list[CaseItem] = list(data["items"] or ())
        return BusinessCase(
            id=data["id"],
            code=data["code"].strip(),
            name=data["name"] or "",
            status=data["status"],
            company_id=data["company"]["id"] if data["company"] else None,
            currency_id=data["currency"]["id"] if data["currency"] else None,
            currency_symbol=data["currency"]["value"] if data["currency"] else None,
            lines=tuple(item.line for item in items),
            total_net=data["totalAmount"],
            total_gross=data["totalAmountWithTax"],
            closed_on=data["validTill"],
            exchange_rate=data["exchangeRate"],
            owner_id=data["owner"]["id"] if data["owner"] else None,
            owner_name=data["owner"]["fullName"] if data["owner"] else None,
            company_name=data["company"]["name"] if data["company"] else None,
            external_ids=tuple(data["extIds"] or ()),
            fields=CaseFields(
                {
                    "code": data["code"].strip(),
                    "name": data["name"] or None,
                    "description": data["description"],
                    "category": _value_of(data["category"]),
                    "type": _value_of(data["businessCaseType"]),
                    "owner": data["owner"]["fullName"] if data["owner"] else None,
                },
                {
                    key: _field_text(value)
                    for key, value in (data["customFields"] or {}).items()
                    if value not in (None, "")
                },
            ),
            products_without_code=tuple(
                (index, item.product_id_without_code)
                for index, item in enumerate(items)
                if item.product_id_without_code is not None
            ),
        )


def _value_of(reference: dict[str, Any] | None) -> str | None:
    return reference.get("value") if reference else None


def _field_text(value: Any) -> str:
    """A custom field's value as text: RAYNET sends strings, numbers, booleans and dates."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


# --- company ----------------------------------------------------------------------------


class _AddressSchema(_Lenient):
    street = fields.String(load_default=None, allow_none=True)
    city = fields.String(load_default=None, allow_none=True)
    zipCode = fields.String(load_default=None, allow_none=True)
    country = fields.String(load_default=None, allow_none=True)
    countryCode = fields.String(load_default=None, allow_none=True)


class _ContactInfoSchema(_Lenient):
    email = fields.String(load_default=None, allow_none=True)
    tel1 = fields.String(load_default=None, allow_none=True)
    tel2 = fields.String(load_default=None, allow_none=True)


class _AddressBlockSchema(_Lenient):
    id = Id(load_default=None, allow_none=True)
    contactAddress = fields.Boolean(load_default=False, allow_none=True)
    address = fields.Nested(_AddressSchema, load_default=None, allow_none=True)
    contactInfo = fields.Nested(_ContactInfoSchema, load_default=None, allow_none=True)


class CompanySchema(_Lenient):
    """``GET /company/{id}/`` → ``data``: the customer with IČO, DIČ and address."""

    id = Id(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1))
    person = fields.Boolean(load_default=False, allow_none=True)
    regNumber = fields.String(load_default=None, allow_none=True)
    taxNumber = fields.String(load_default=None, allow_none=True)
    taxNumber2 = fields.String(load_default=None, allow_none=True)  # IČ DPH (Slovakia)
    taxPayer = fields.String(load_default=None, allow_none=True)
    primaryAddress = fields.Nested(_AddressBlockSchema, load_default=None, allow_none=True)
    addresses = fields.List(fields.Nested(_AddressBlockSchema), load_default=list, allow_none=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Customer:
        block = data["primaryAddress"] or {}
        contact = block.get("contactInfo") or {}
        address = _address(block)
        tax_payer = (data["taxPayer"] or "").upper()
        vat_id, tax_id = _tax_numbers(data, address)
        delivery = next(
            (
                _address(other)
                for other in data["addresses"] or ()
                if other.get("contactAddress") and other.get("id") != block.get("id")
            ),
            None,
        )
        return Customer(
            name=data["name"],
            address=address,
            reg_number=_blank_to_none(data["regNumber"]),
            vat_id=vat_id,
            tax_id=tax_id,
            phone=_blank_to_none(contact.get("tel1")) or _blank_to_none(contact.get("tel2")),
            email=_blank_to_none(contact.get("email")),
            vat_payer={"YES": True, "NO": False}.get(tax_payer),
            natural_person=bool(data["person"]),
            delivery=delivery,
        )


def _address(block: dict[str, Any]) -> Address | None:
    raw = block.get("address") or {}
    address = Address(
        street=raw.get("street"),
        city=raw.get("city"),
        zip_code=raw.get("zipCode"),
        country=raw.get("country"),
        country_code=raw.get("countryCode"),
    )
    return address if any(vars(address).values()) else None


def _tax_numbers(data: dict[str, Any], address: Address | None) -> tuple[str | None, str | None]:
    """The VAT id and the (Slovak) tax number: ``taxNumber`` is the DIČ, ``taxNumber2`` the
    Slovak IČ DPH (RAYNET's spec). A Slovak customer's VAT id is its IČ DPH and its DIČ is
    ten digits; a Czech DIČ is the VAT id itself (field findings, RAYNET API 6)."""
    dic, ic_dph = _blank_to_none(data["taxNumber"]), _blank_to_none(data["taxNumber2"])
    if ic_dph:
        return ic_dph, dic
    slovak = address is not None and (address.country_code or "").strip().upper() == "SK"
    if dic and slovak and dic.replace(" ", "").isdigit():
        return None, dic  # a Slovak DIČ without IČ DPH: not a VAT payer
    return dic, None


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if value else None


# --- currencies -------------------------------------------------------------------------


ISO_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


@dataclass(frozen=True)
class Currency:
    """A row of RAYNET's currency list: ``code01`` is the symbol people see and edit,
    ``code02`` should be the ISO 4217 code (free text in RAYNET). Nothing in the list says
    which currency is the CRM's default (``RAYNET_BASE_CURRENCY`` does)."""

    id: int
    symbol: str
    code: str

    @property
    def iso_code(self) -> str | None:
        code = self.code.strip().upper()
        return code if ISO_CURRENCY.match(code) else None


class CurrencySchema(_Lenient):
    """One row of ``GET /currency/``: ``id``, ``code01``, ``code02`` (and ``strValue01``)."""

    id = Id(required=True)
    code01 = fields.String(load_default="", allow_none=True)
    code02 = fields.String(load_default="", allow_none=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Currency:
        return Currency(
            id=data["id"], symbol=(data["code01"] or "").strip(), code=data["code02"] or ""
        )


# --- products and custom fields ----------------------------------------------------------


class ProductSchema(_Lenient):
    """``GET /product/{id}/`` → ``data``: only its code is read."""

    id = Id(required=True)
    code = fields.String(load_default=None, allow_none=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"id": data["id"], "code": (data["code"] or "").strip() or None}


class CustomFieldSchema(_Lenient):
    """A row of ``GET /customField/config/``: the name users see and the generated key."""

    label = fields.String(required=True)
    name = fields.String(required=True)


# --- lists and webhooks -----------------------------------------------------------------


@dataclass(frozen=True)
class CaseChange:
    """A row of ``GET businessCase/?...``: which case changed, and when."""

    id: int
    code: str | None
    modified_at: dt.datetime | None


class CaseChangeSchema(_Lenient):
    """A list row: last changed at ``rowInfo.updatedAt``, or created at ``rowInfo.createdAt``
    if never changed since (with ``dateFormat=ISO8601``)."""

    id = Id(required=True)
    code = fields.String(load_default=None, allow_none=True)
    created = fields.AwareDateTime(
        data_key="rowInfo.createdAt",
        load_default=None,
        allow_none=True,
        default_timezone=dt.UTC,
    )
    updated = fields.AwareDateTime(
        data_key="rowInfo.updatedAt",
        load_default=None,
        allow_none=True,
        default_timezone=dt.UTC,
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> CaseChange:
        return CaseChange(data["id"], data["code"], data["updated"] or data["created"])


@dataclass(frozen=True)
class Webhook:
    """A webhook RAYNET calls. The published spec gives it no state: RAYNET deletes a webhook
    after 7 days of failed deliveries instead of marking it."""

    id: str
    url: str
    secret_token: str | None
    events: tuple[str, ...]


@dataclass(frozen=True)
class Webhooks:
    """``GET webhook/``: the instance's webhooks and who RAYNET e-mails when they fail."""

    hooks: tuple[Webhook, ...]
    technical_contacts: tuple[str, ...]


class _WebhookSchema(_Lenient):
    webhookId = fields.String(required=True)
    url = fields.String(required=True)
    secretToken = fields.String(load_default=None, allow_none=True)
    eventsFilter = fields.List(fields.String(), load_default=list, allow_none=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Webhook:
        return Webhook(
            id=data["webhookId"],
            url=data["url"],
            secret_token=data["secretToken"],
            events=tuple(data["eventsFilter"] or ()),
        )


class WebhookListSchema(_Lenient):
    webhooks = fields.List(fields.Nested(_WebhookSchema), load_default=list, allow_none=True)
    technicalContacts = fields.List(fields.String(), load_default=list, allow_none=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Webhooks:
        return Webhooks(tuple(data["webhooks"] or ()), tuple(data["technicalContacts"] or ()))
