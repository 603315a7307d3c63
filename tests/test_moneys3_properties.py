"""Generated business cases: every document validates and adds up to RAYNET's totals.

The totals are recomputed from the XML itself (quantity × price per ``Polozka``), not with
the builder's own code, and compared with what RAYNET would show for the generated items.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.support import xsd_dir
from webhook.moneys3.builder import ExportOptions, Warehouse, build_order_document
from webhook.moneys3.numbering import document_number
from webhook.moneys3.totals import TotalsMismatch
from webhook.moneys3.validation import DocumentValidator
from webhook.raynet.saved import WELL_KNOWN_SYMBOLS
from webhook.raynet.schemas import BusinessCaseSchema, CaseCurrency, CompanySchema
from webhook.raynet.standin import dumps

CENT = Decimal("0.01")
NOW = dt.datetime(2026, 11, 28, 9, 0)
VALIDATOR = DocumentValidator(xsd_dir())

CZECH = "ěščřžýáíéúůťďňóĚŠČŘŽÝÁÍÉÚŮŤĎŇÓ"
text_alphabet = st.one_of(
    st.sampled_from(CZECH),
    st.characters(codec="utf-8"),  # includes control characters XML cannot hold
)
free_text = st.text(text_alphabet, max_size=300)
short_code = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./", min_size=1, max_size=60)


def decimal_from(units: int, places: int) -> Decimal:
    return Decimal(units).scaleb(-places)


quantity = st.one_of(
    st.integers(1, 1000).map(Decimal),
    st.integers(1, 10**6).map(lambda n: decimal_from(n, 3)),
)


@dataclass(frozen=True)
class Figures:
    """How prices and discounts look: realistic ones, or odd ones that may not fit."""

    price_places: int
    discount_places: int

    def price(self, rnd: random.Random) -> Decimal:
        return decimal_from(rnd.randrange(10**7 * 10**self.price_places), self.price_places)

    def discount(self, rnd: random.Random) -> Decimal:
        if rnd.random() < 0.5:
            return Decimal(0)
        scale = 10**self.discount_places
        return decimal_from(rnd.randrange(100 * scale + 1), self.discount_places)


REALISTIC = Figures(price_places=2, discount_places=0)
ODD = Figures(price_places=4, discount_places=2)
NAMES = [
    'Monitor 24" Full HD',
    "Instalace a zaškolení",
    "Žluťoučký kůň " * 8,
    "Příliš dlouhý název položky, který se do padesáti znaků nevejde",
    "",
    "x\x00\x1f y",
    "Köln → Łódź 😀",
    "   ",
]
CODES = [None, None, "MON-24", "REG/2000/1000", "K" * 60, "Č-1"]


def random_item(rnd: random.Random, figures: Figures) -> dict[str, Any]:
    code = rnd.choice(CODES)
    places = rnd.choice([0, 0, 1, 3])
    return {
        "id": rnd.randrange(1, 10**9),
        "priceListItem": None
        if code is None
        else {"id": 1, "product": {"id": 2, "code": code, "name": "produkt"}},
        "name": rnd.choice(NAMES),
        "description": rnd.choice([None, "na místě u zákazníka", "řádek 1\nřádek 2"]),
        "price": figures.price(rnd),
        "taxRate": Decimal(rnd.choice([0, 12, 21])),
        "unit": rnd.choice([None, "ks", "hod", "m²", "balení"]),
        "discountPercent": figures.discount(rnd),
        "count": decimal_from(rnd.randrange(1, 10**4 * 10**places), places),
    }


@st.composite
def items(draw: st.DrawFn, figures: Figures) -> dict[str, Any]:
    """One item with hypothesis-chosen texts and figures (shrinks well)."""
    code = draw(st.one_of(st.none(), short_code))
    scale = 10**figures.discount_places
    return {
        "id": draw(st.integers(1, 10**9)),
        "priceListItem": None
        if code is None
        else {"id": 1, "product": {"id": 2, "code": code, "name": "produkt"}},
        "name": draw(free_text),
        "description": draw(st.one_of(st.none(), free_text)),
        "price": draw(
            st.integers(0, 10**7 * 10**figures.price_places).map(
                lambda n: decimal_from(n, figures.price_places)
            )
        ),
        "taxRate": draw(st.sampled_from([Decimal(0), Decimal(12), Decimal(21)])),
        "unit": draw(st.one_of(st.none(), st.sampled_from(["ks", "hod", "m²", "balení", "kg"]))),
        "discountPercent": draw(
            st.integers(0, 100 * scale).map(lambda n: decimal_from(n, figures.discount_places))
        ),
        "count": draw(quantity),
    }


def raynet_totals(case_items: list[dict[str, Any]]) -> tuple[Decimal, Decimal]:
    """What RAYNET shows: exact item amounts summed, rounded to hundredths."""
    net = gross = Decimal(0)
    for item in case_items:
        line = item["price"] * item["count"] * (100 - item["discountPercent"]) / 100
        net += line
        gross += line * (100 + item["taxRate"]) / 100
    return net.quantize(CENT, ROUND_HALF_UP), gross.quantize(CENT, ROUND_HALF_UP)


@st.composite
def business_cases(draw: st.DrawFn, figures: Figures = REALISTIC) -> dict[str, Any]:
    """1 to 200 items: a few chosen by hypothesis, the rest from a seeded random source."""
    size = draw(st.integers(1, 200))
    case_items = draw(st.lists(items(figures), min_size=1, max_size=min(size, 6)))
    rnd = draw(st.randoms(use_true_random=False))
    case_items += [random_item(rnd, figures) for _ in range(size - len(case_items))]
    net, gross = raynet_totals(case_items)
    symbol = draw(st.sampled_from(["Kč", "Kč", "€", "$", "zł"]))
    return {
        "id": draw(st.integers(1, 10**8 - 1)),  # R#<id> fits Doklad; larger ids are refused
        "code": draw(st.text("OP-0123456789/ČŘ", min_size=1, max_size=20)),
        "name": draw(free_text),
        "status": "E_WIN",
        "company": {"id": 881, "name": "x"},
        "owner": draw(
            st.one_of(st.none(), st.builds(lambda name: {"id": 3, "fullName": name}, free_text))
        ),
        "currency": {"id": 1, "value": symbol},
        "exchangeRate": draw(
            st.one_of(
                st.none(),
                st.just(Decimal(1)),
                st.integers(1, 10**6).map(lambda n: decimal_from(n, 3)),
            )
        ),
        "validTill": draw(st.one_of(st.none(), st.dates().map(dt.date.isoformat))),
        "totalAmount": net,
        "totalAmountWithTax": gross,
        "items": case_items,
    }


optional = st.one_of(st.none(), free_text)


@st.composite
def companies(draw: st.DrawFn) -> dict[str, Any]:
    address = {
        "street": draw(optional),
        "city": draw(optional),
        "zipCode": draw(optional),
        "country": draw(optional),
        "countryCode": draw(st.sampled_from([None, "CZ", "sk"])),
    }
    phone = st.from_regex(r"\+?[0-9 ]{3,25}", fullmatch=True)
    contact = {
        "email": draw(st.one_of(st.none(), st.emails())),
        "tel1": draw(st.one_of(st.none(), phone)),
    }
    return {
        "id": 881,
        "name": draw(st.text(text_alphabet, min_size=1, max_size=400).filter(str.strip)),
        "person": draw(st.booleans()),
        "regNumber": draw(st.one_of(st.none(), st.from_regex(r"[0-9]{6,8}", fullmatch=True))),
        "taxNumber": draw(st.one_of(st.none(), st.from_regex(r"CZ[0-9]{8,10}", fullmatch=True))),
        "taxPayer": draw(st.sampled_from([None, "YES", "NO"])),
        "primaryAddress": draw(
            st.one_of(st.none(), st.just({"address": address, "contactInfo": contact}))
        ),
    }


def as_api_json(record: dict[str, Any]) -> Any:
    """Through JSON and back, as the API client reads it (numbers as Decimal)."""
    return json.loads(dumps(record), parse_float=Decimal)


def document_for(
    case: dict[str, Any], company: dict[str, Any], stock: bool, rate_base: str | None = "CZK"
) -> bytes:
    loaded = BusinessCaseSchema().load(as_api_json(case))
    customer = CompanySchema().load(as_api_json(company))
    currency = CaseCurrency(WELL_KNOWN_SYMBOLS[case["currency"]["value"]], rate_base)
    order = loaded.to_order(customer, currency, today=NOW.date())
    options = ExportOptions(stock=stock, warehouse=Warehouse("HL", "Hlavní sklad"))
    return build_order_document(order, options, NOW).xml


def expected_doklad(case: dict[str, Any]) -> str:
    """Money's document number: the code while it fits 10 characters, else R#<id>."""
    code = case["code"].strip()
    return code if len(code) <= 10 else f"R#{case['id']}"


def totals_in(document: bytes) -> tuple[Decimal, Decimal]:
    """Net and gross computed from the document, as Money S3 would."""
    net = gross = Decimal(0)
    for item in etree.fromstring(document).iterfind("SeznamObjPrij/ObjPrij/Polozka"):
        price = item.findtext("Cena") or item.findtext("Valuty")
        line = Decimal(item.findtext("PocetMJ") or "") * Decimal(price or "")
        net += line
        gross += line * (100 + Decimal(item.findtext("SazbaDPH") or "")) / 100
    return net.quantize(CENT, ROUND_HALF_UP), gross.quantize(CENT, ROUND_HALF_UP)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    case=business_cases(),
    company=companies(),
    stock=st.booleans(),
    rate_base=st.sampled_from([None, "CZK", "EUR"]),
)
def test_every_realistic_case_exports_valid_and_adds_up(
    case: dict[str, Any], company: dict[str, Any], stock: bool, rate_base: str | None
) -> None:
    document = document_for(case, company, stock, rate_base)
    VALIDATOR.validate(document)
    net, gross = totals_in(document)
    assert abs(net - case["totalAmount"]) <= CENT
    assert abs(gross - case["totalAmountWithTax"]) <= CENT
    root = etree.fromstring(document)
    assert root.findtext("SeznamObjPrij/ObjPrij/Doklad") == expected_doklad(case)
    lines = root.findall("SeznamObjPrij/ObjPrij/Polozka")
    assert len(lines) == len(case["items"])
    if case["currency"]["value"] != "Kč":
        assert Decimal(root.findtext("SeznamObjPrij/ObjPrij/Valuty/Celkem") or "") == gross
        rate = case["exchangeRate"]
        usable = rate is not None and rate not in (0, 1) and rate_base == "CZK"
        kurs = root.findtext("SeznamObjPrij/ObjPrij/Valuty/Mena/Kurs")
        assert (kurs is not None) == usable
    for line, item in zip(lines, case["items"], strict=True):
        assert (line.findtext("Sleva"), line.findtext("CenaPoSleve")) == ("0", "1")
        if item["discountPercent"]:
            assert "Sleva " in (line.findtext("Poznamka") or "")  # the accountant sees it
        code = (item["priceListItem"] or {}).get("product", {}).get("code")
        if code and code.strip():
            where = "KmKarta/Katalog" if stock else "NesklPolozka/Katalog"
            assert line.findtext(where) == code.strip()


@settings(max_examples=300, deadline=None)
@given(
    cases=st.lists(
        st.tuples(
            st.integers(1, 10**6 - 1), st.text("OP-0123456789/#ČŘ ", min_size=1, max_size=20)
        ),
        min_size=2,
        max_size=40,
        unique_by=(lambda case: case[0], lambda case: case[1].strip()),
    ).filter(lambda cases: all(code.strip() for _, code in cases)),
    prefixes=st.lists(
        st.sampled_from(["R", "A", "B7", "XYZ"]), min_size=2, max_size=2, unique=True
    ),
)
def test_no_two_cases_of_a_deployment_share_a_document_number(
    cases: list[tuple[int, str]], prefixes: list[str]
) -> None:
    """RAYNET codes and ids are unique within an instance; two instances may even share ids
    (worst case: the same cases), yet their generated numbers differ by prefix."""
    first, second = (
        [document_number(code, case_id, prefix) for case_id, code in cases] for prefix in prefixes
    )
    for numbers in (first, second):
        assert all(len(number) <= 10 for number in numbers)
        assert len(set(numbers)) == len(numbers)
    generated = [{number for number in numbers if "#" in number} for numbers in (first, second)]
    assert not generated[0] & generated[1]


def four_decimals(value: Decimal) -> bool:
    return value == value.quantize(Decimal("0.0001"))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=business_cases(ODD), company=companies())
def test_odd_discounts_export_correctly_or_are_refused_for_a_true_reason(
    case: dict[str, Any], company: dict[str, Any]
) -> None:
    outcome: bytes | TotalsMismatch
    try:
        outcome = document_for(case, company, stock=False)
    except TotalsMismatch as refusal:
        outcome = refusal
    if isinstance(outcome, TotalsMismatch):
        unrepresentable = [
            item
            for item in case["items"]
            if not four_decimals(item["price"] * (100 - item["discountPercent"]) / 100)
        ]
        assert unrepresentable, f"refused although every price fits: {outcome}"
        assert "more than 4 decimals" in str(outcome)
        return
    document = outcome
    VALIDATOR.validate(document)
    net, gross = totals_in(document)
    assert abs(net - case["totalAmount"]) <= CENT
    assert abs(gross - case["totalAmountWithTax"]) <= CENT
