"""Generated business cases: every document validates and adds up to RAYNET's totals.

The totals are recomputed from the XML itself (quantity × price per ``Polozka``), not with
the builder's own code, and compared with what RAYNET would show for the generated items.
Cases have Czech and Slovak customers, stock and non-stock lines, codes longer than Money's
fields, text outside windows-1250, weak and strong currencies, and any mix of VAT rates.
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

from tests.support import examples, xsd_dir
from webhook.moneys3.builder import ExportOptions, Warehouse, build_order_document
from webhook.moneys3.numbering import document_number
from webhook.moneys3.review import FURTHER_RATES, VatRates, review
from webhook.moneys3.text import in_charset
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
# The agenda's 0, 12 and 21 %, and further rates: historic ones, other EU states'.
VAT_RATES = [0, 12, 21, 21, 12, 0, 10, 15, 5, 19, 20, 27]


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
        "taxRate": Decimal(rnd.choice(VAT_RATES)),
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
        "taxRate": draw(st.sampled_from([Decimal(rate) for rate in VAT_RATES])),
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
        "code": draw(st.text("OP-0123456789/ČŘЖ😀", min_size=1, max_size=40)),
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
                st.integers(1, 10**5).map(lambda n: decimal_from(n, 6)),  # forint, yen...
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
    slovak = draw(st.booleans())
    if slovak:
        address["countryCode"] = "SK"
    tax_number = st.from_regex(r"[0-9]{10}" if slovak else r"CZ[0-9]{8,10}", fullmatch=True)
    return {
        "id": 881,
        "name": draw(st.text(text_alphabet, min_size=1, max_size=400).filter(str.strip)),
        "person": draw(st.booleans()),
        "regNumber": draw(st.one_of(st.none(), st.from_regex(r"[0-9]{6,8}", fullmatch=True))),
        "taxNumber": draw(st.one_of(st.none(), tax_number)),
        "taxNumber2": draw(st.one_of(st.none(), st.from_regex(r"SK[0-9]{10}", fullmatch=True)))
        if slovak
        else None,
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
) -> bytes | None:
    """The order's file; None when it must wait (more further VAT rates than it holds)."""
    loaded = BusinessCaseSchema().load(as_api_json(case))
    customer = CompanySchema().load(as_api_json(company))
    currency = CaseCurrency(WELL_KNOWN_SYMBOLS[case["currency"]["value"]], rate_base)
    order = loaded.to_order(customer, currency, today=NOW.date())
    held = review(order, VatRates(), strict_vat=False, strict_ids=False).hold
    further = {i["taxRate"] for i in case["items"]} - {Decimal(0), Decimal(12), Decimal(21)}
    assert (held is not None) == (len(further) > FURTHER_RATES)
    if held is not None:
        return None
    options = ExportOptions(stock=stock, warehouse=Warehouse("HL", "Hlavní sklad"))
    return build_order_document(order, options, NOW).xml


def expected_doklad(case: dict[str, Any]) -> str:
    """Money's document number: the code while it fits 10 characters and Money can store
    it as it is, else R#<id>."""
    code = case["code"].strip()
    fits = len(code) <= 10 and in_charset(code)
    return code if fits else f"R#{case['id']}"


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
    max_examples=examples(150),
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
    if document is None:
        return  # waits, for the reason asserted in document_for
    VALIDATOR.validate(document)
    assert in_charset(document.decode("utf-8"))  # every character survives Money's import
    net, gross = totals_in(document)
    assert abs(net - case["totalAmount"]) <= CENT
    assert abs(gross - case["totalAmountWithTax"]) <= CENT
    root = etree.fromstring(document)
    order = root.find("SeznamObjPrij/ObjPrij")
    assert order is not None
    assert order.findtext("Doklad") == expected_doklad(case)
    code = case["code"].strip()
    stays = len(code) <= 20 and in_charset(code)
    assert order.findtext("PrimDoklad") == (code if stays else None)  # never cut
    assert (order.findtext("Poznamka") or "").startswith("Obchodní případ RAYNET ")
    lines = order.findall("Polozka")
    assert len(lines) == len(case["items"])
    if case["currency"]["value"] != "Kč":
        assert Decimal(order.findtext("Valuty/Celkem") or "") == gross
        rate = case["exchangeRate"]
        usable = rate is not None and rate not in (0, 1) and rate_base == "CZK"
        kurs = order.findtext("Valuty/Mena/Kurs")
        assert (kurs is not None) == usable
        if kurs is not None:  # Kurs per Mnozstvi units keeps the rate to 4 decimals
            units = Decimal(order.findtext("Valuty/Mena/Mnozstvi") or "")
            assert abs(Decimal(kurs) - rate * units) <= Decimal("0.00005")
            assert units == 1 or rate < Decimal("0.1")
    customer = order.find("DodOdb")
    assert customer is not None
    if company.get("taxNumber2"):  # a Slovak customer: IČ DPH is the VAT id
        assert customer.findtext("DIC") == company["taxNumber2"]
    for line, item in zip(lines, case["items"], strict=True):
        assert (line.findtext("Sleva"), line.findtext("CenaPoSleve")) == ("0", "1")
        assert Decimal(line.findtext("SazbaDPH") or "") == item["taxRate"]  # kept as it is
        if item["discountPercent"]:
            assert "Sleva " in (line.findtext("Poznamka") or "")  # the accountant sees it
        product = (item["priceListItem"] or {}).get("product", {}).get("code")
        on_card = stock and product and product.strip()
        if product and product.strip():
            where = "KmKarta/Katalog" if stock else "NesklPolozka/Katalog"
            assert line.findtext(where) == product.strip()
        if not on_card:  # a non-stock line: as Seyfor's samples write one
            assert line.findtext("NesklPolozka/TypZarDoby") == "N"


@settings(max_examples=examples(300), deadline=None)
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
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=business_cases(ODD), company=companies())
def test_odd_discounts_export_correctly_or_are_refused_for_a_true_reason(
    case: dict[str, Any], company: dict[str, Any]
) -> None:
    outcome: bytes | TotalsMismatch | None
    try:
        outcome = document_for(case, company, stock=False)
    except TotalsMismatch as refusal:
        outcome = refusal
    if outcome is None:
        return
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
