"""The Money S3 document: structure, both variants, and every refusal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

from webhook.errors import InvalidOrder
from webhook.moneys3.builder import (
    ExportOptions,
    Warehouse,
    build_order_document,
    carries_case,
)
from webhook.moneys3.numbering import OrderNumbering
from webhook.moneys3.totals import TotalsMismatch
from webhook.moneys3.validation import DocumentValidator, InvalidDocument
from webhook.order import Order
from webhook.raynet.schemas import BusinessCase, BusinessCaseSchema, CaseCurrency, CompanySchema

NOW = dt.datetime(2024, 5, 14, 10, 30, 5)
STOCK = ExportOptions(stock=True, warehouse=Warehouse(code="HL", name="Hlavní sklad"))


def make_order(
    case: dict[str, Any],
    company: dict[str, Any],
    currency: str = "CZK",
    rate_base: str | None = "CZK",
) -> Order:
    loaded: BusinessCase = BusinessCaseSchema().load(case)
    return loaded.to_order(
        CompanySchema().load(company), CaseCurrency(currency, rate_base), today=NOW.date()
    )


PLAIN = ExportOptions()


def xml(order: Order, options: ExportOptions = PLAIN) -> bytes:
    return build_order_document(order, options, NOW).xml


def build(order: Order, options: ExportOptions = PLAIN) -> etree._Element:
    document = xml(order, options)
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    return etree.fromstring(document)


def header_tags(root: etree._Element) -> list[str]:
    return [str(child.tag) for child in root.find("SeznamObjPrij/ObjPrij")]  # type: ignore[union-attr]


def test_plain_variant(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    order = make_order(won_case, company)
    document = xml(order)
    validator.validate(document)
    root = etree.fromstring(document)
    obj = root.find("SeznamObjPrij/ObjPrij")
    assert obj is not None
    assert header_tags(root) == [
        "Doklad",
        "Popis",
        "Poznamka",
        "Vystaveno",
        "DodOdb",
        "KonecPrij",  # the company's contact address: where the goods go
        "Vystavil",
        "PrimDoklad",
        "SazbaDPH1",
        "SazbaDPH2",
        "Polozka",
        "Polozka",
    ]
    assert obj.findtext("Doklad") == "OP-24-057"  # Money recognises a re-import by it
    assert obj.findtext("PrimDoklad") == "OP-24-057"
    assert obj.findtext("Vystaveno") == "2024-05-14"  # validTill: the day the deal closed
    assert obj.findtext("DodOdb/ICO") == "27182819"
    assert obj.findtext("DodOdb/DIC") == "CZ27182819"
    assert obj.findtext("DodOdb/Tel/Pred") == "+420"
    assert obj.findtext("DodOdb/Tel/Cislo") == "541 000 111"
    assert obj.findtext("DodOdb/PlatceDPH") == "1"
    assert obj.findtext("DodOdb/FaktAdresa/KodStatu") == "CZ"
    monitor, install = obj.findall("Polozka")
    assert monitor.findtext("Cena") == "4050"  # 4500 less 10 %
    assert monitor.findtext("CenaPoSleve") == "1"  # Seyfor's encoding: the price is final
    assert monitor.findtext("Sleva") == "0"
    assert monitor.findtext("Poznamka") == "Sleva 10 %"
    assert (install.findtext("Sleva"), install.findtext("CenaPoSleve")) == ("0", "1")
    assert monitor.findtext("NesklPolozka/Katalog") == "MON-24"
    assert monitor.findtext("NesklPolozka/MJ") == "ks"
    assert monitor.find("Sklad") is None
    assert install.findtext("NesklPolozka/MJ") == "hod"
    assert install.find("NesklPolozka/Katalog") is None
    assert install.findtext("NesklPolozka/TypZarDoby") == "N"  # Seyfor's non-stock lines
    assert root.find("SeznamObjPrij/ObjPrij/Valuty") is None  # home currency
    assert carries_case(document, "OP-24-057")
    assert not carries_case(document, "OP-24-05")


def test_stock_variant_links_product_items_to_the_warehouse(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    document = xml(make_order(won_case, company), STOCK)
    validator.validate(document)
    monitor, install = etree.fromstring(document).findall("SeznamObjPrij/ObjPrij/Polozka")
    assert [str(e.tag) for e in monitor.find("Sklad")] == ["Nazev", "KodSkladu", "CenikSklad"]  # type: ignore[union-attr]
    assert monitor.findtext("Sklad/KodSkladu") == "HL"
    assert monitor.findtext("Sklad/CenikSklad") == "0"
    assert monitor.findtext("KmKarta/Katalog") == "MON-24"
    assert monitor.find("NesklPolozka") is None
    assert install.find("Sklad") is None  # no product: stays a non-stock item
    assert install.findtext("NesklPolozka/MJ") == "hod"


def test_stock_variant_without_a_warehouse_leaves_it_to_the_import_definition(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    options = ExportOptions(stock=True)
    document = xml(make_order(won_case, company), options)
    validator.validate(document)
    monitor, install = etree.fromstring(document).findall("SeznamObjPrij/ObjPrij/Polozka")
    assert monitor.find("Sklad") is None
    assert monitor.findtext("KmKarta/Katalog") == "MON-24"
    assert monitor.find("NesklPolozka") is None
    assert install.findtext("NesklPolozka/MJ") == "hod"


def test_foreign_currency_uses_valuty(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    won_case["exchangeRate"] = Decimal("24.725")
    document = xml(make_order(won_case, company, "EUR"), ExportOptions())
    validator.validate(document)
    obj = etree.fromstring(document).find("SeznamObjPrij/ObjPrij")
    assert obj is not None
    assert header_tags(etree.fromstring(document))[-5:-2] == ["Valuty", "SazbaDPH1", "SazbaDPH2"]
    assert obj.findtext("Valuty/Mena/Kod") == "EUR"
    assert obj.findtext("Valuty/Mena/Kurs") == "24.725"
    assert obj.findtext("Valuty/Celkem") == "12886.5"
    item = obj.find("Polozka")
    assert item is not None
    assert item.findtext("Valuty") == "4050"
    assert item.find("Cena") is None


def test_long_name_is_clipped_with_full_text_in_the_note(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    long_name = "Dodávka " + "velmi dlouhého zboží " * 10
    won_case["name"] = long_name
    won_case["items"][0]["name"] = long_name
    document = xml(make_order(won_case, company), ExportOptions())
    validator.validate(document)
    obj = etree.fromstring(document).find("SeznamObjPrij/ObjPrij")
    assert obj is not None
    popis = obj.findtext("Popis") or ""
    assert len(popis) == 50
    assert popis.endswith("…")
    assert long_name.strip() in (obj.findtext("Poznamka") or "")
    item = obj.find("Polozka")
    assert item is not None
    assert len(item.findtext("Popis") or "") <= 50
    assert (item.findtext("Poznamka") or "").startswith(long_name.strip())


def test_control_characters_are_removed(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    won_case["name"] = "Zakázka\x00 s\x07 řídicími\x1b znaky\ufffe"
    company["name"] = "Firma\x0b a.s."
    document = xml(make_order(won_case, company), ExportOptions())
    validator.validate(document)
    obj = etree.fromstring(document).find("SeznamObjPrij/ObjPrij")
    assert obj is not None
    assert obj.findtext("Popis") == "Zakázka s řídicími znaky"
    assert obj.findtext("DodOdb/ObchNazev") == "Firma a.s."


def test_customer_without_ico_or_contacts(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    for key in ("regNumber", "taxNumber", "taxPayer", "primaryAddress"):
        company[key] = None
    document = xml(make_order(won_case, company), ExportOptions())
    validator.validate(document)
    customer = etree.fromstring(document).find("SeznamObjPrij/ObjPrij/DodOdb")
    assert customer is not None
    assert [str(e.tag) for e in customer] == ["ObchNazev", "FaktNazev", "FyzOsoba"]


def test_ico_with_spaces_is_normalised(won_case: dict[str, Any], company: dict[str, Any]) -> None:
    company["regNumber"] = "271 82 819"
    assert build(make_order(won_case, company)).findtext(".//DodOdb/ICO") == "27182819"


@pytest.mark.parametrize(
    ("where", "key", "value", "named"),
    [
        ("company", "regNumber", "12345678901", "IČO"),
        ("company", "taxNumber", "CZ" + "9" * 19, "DIČ"),
    ],
)
def test_overlong_identifiers_are_refused_not_cut(
    won_case: dict[str, Any],
    company: dict[str, Any],
    where: str,
    key: str,
    value: str,
    named: str,
) -> None:
    (company if where == "company" else won_case)[key] = value
    with pytest.raises(InvalidOrder, match=named) as caught:
        xml(make_order(won_case, company), ExportOptions())
    assert value in str(caught.value)


def test_overlong_catalogue_number_is_refused(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    won_case["items"][0]["priceListItem"]["product"]["code"] = "K" * 61
    for options in (ExportOptions(), STOCK):
        with pytest.raises(InvalidOrder, match="product code"):
            xml(make_order(won_case, company), options)


def test_totals_mismatch_is_refused(won_case: dict[str, Any], company: dict[str, Any]) -> None:
    won_case["totalAmount"] = Decimal("11650")  # RAYNET's total disagrees with its items
    expected = r"items make 10650\.00 CZK without VAT, its total says 11650"
    with pytest.raises(TotalsMismatch, match=expected):
        xml(make_order(won_case, company), ExportOptions())


def test_totals_off_by_a_cent_of_rounding_pass(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    won_case["totalAmountWithTax"] = Decimal("12886.51")
    xml(make_order(won_case, company), ExportOptions())
    won_case["totalAmountWithTax"] = Decimal("12886.52")
    with pytest.raises(TotalsMismatch, match="with VAT"):
        xml(make_order(won_case, company), ExportOptions())


def test_price_that_needs_more_than_four_decimals_is_refused_with_the_reason(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    item = won_case["items"][0]
    item.update(price=Decimal("0.07"), discountPercent=Decimal("33.33"), count=Decimal("5000"))
    exact = Decimal("0.07") * Decimal("0.6667") * 5000 + 3 * 850
    won_case["totalAmount"] = exact.quantize(Decimal("0.01"))
    won_case["totalAmountWithTax"] = (exact * Decimal("1.21")).quantize(Decimal("0.01"))
    with pytest.raises(TotalsMismatch, match="more than 4 decimals"):
        xml(make_order(won_case, company), ExportOptions())


def test_quantity_with_five_decimals_is_refused(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    won_case["items"][1]["count"] = Decimal("3.00001")
    with pytest.raises(InvalidOrder, match="quantity"):
        xml(make_order(won_case, company), ExportOptions())


@pytest.mark.parametrize(
    ("raw", "pred", "cislo"),
    [
        ("+420 541 000 111", "+420", "541 000 111"),
        ("+420541000111", "+420", "541000111"),
        ("00421 903 123 456", "+421", "903 123 456"),
        ("541 000 111", None, "541 000 111"),
        ("+49 30 1234567", "+49", "30 1234567"),
    ],
)
def test_phone_numbers(
    won_case: dict[str, Any], company: dict[str, Any], raw: str, pred: str | None, cislo: str
) -> None:
    company["primaryAddress"]["contactInfo"]["tel1"] = raw
    tel = build(make_order(won_case, company)).find(".//DodOdb/Tel")
    assert tel is not None
    assert tel.findtext("Pred") == pred
    assert tel.findtext("Cislo") == cislo


def test_contact_details_that_do_not_fit_are_left_out(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    company["primaryAddress"]["contactInfo"]["tel1"] = "1" * 30
    company["primaryAddress"]["contactInfo"]["email"] = "a" * 45 + "@example.cz"
    root = build(make_order(won_case, company))
    assert root.find(".//DodOdb/Tel") is None
    assert root.find(".//DodOdb/EMail") is None


def test_validator_reports_schema_problems(validator: DocumentValidator) -> None:
    with pytest.raises(InvalidDocument, match="Celkem"):
        validator.validate(
            b"<MoneyData><SeznamObjPrij><ObjPrij><Celkem>1</Celkem></ObjPrij>"
            b"</SeznamObjPrij></MoneyData>"
        )
    with pytest.raises(InvalidDocument, match="well-formed"):
        validator.validate(b"<MoneyData>")


@pytest.mark.parametrize(
    ("rate", "base", "home", "kurs"),
    [
        (Decimal("24.725"), "CZK", "CZK", "24.725"),  # RAYNET converts into Money's currency
        (Decimal(1), "CZK", "CZK", None),  # 1 for EUR is a placeholder, not a rate
        (Decimal("24.725"), "EUR", "CZK", None),  # a rate into another currency
        (Decimal("24.725"), None, "CZK", None),  # RAYNET did not say what it converts into
        (None, "CZK", "CZK", None),
        (Decimal(0), "CZK", "CZK", None),
    ],
)
def test_exchange_rate_is_written_only_when_it_converts_into_the_home_currency(
    won_case: dict[str, Any],
    company: dict[str, Any],
    validator: DocumentValidator,
    rate: Decimal | None,
    base: str | None,
    home: str,
    kurs: str | None,
) -> None:
    won_case["exchangeRate"] = rate
    order = make_order(won_case, company, "EUR", rate_base=base)
    document = xml(order, ExportOptions(home_currency=home))
    validator.validate(document)
    mena = etree.fromstring(document).find("SeznamObjPrij/ObjPrij/Valuty/Mena")
    assert mena is not None
    assert mena.findtext("Kod") == "EUR"
    assert mena.findtext("Kurs") == kurs


@pytest.mark.parametrize(
    ("code", "case_id", "prefix", "doklad"),
    [
        ("OP-24-057", 1234, "R", "OP-24-057"),
        ("OP-2024-00057", 48213, "R", "R#48213"),  # over 10 characters
        ("OP#57", 57, "R", "R#57"),  # '#' marks the fallback, never a code used as it is
        ("OP-2024-00057", 48213, "AB", "AB#48213"),  # each instance its own prefix
    ],
)
def test_document_number_is_the_code_or_a_stable_fallback(
    won_case: dict[str, Any],
    company: dict[str, Any],
    validator: DocumentValidator,
    code: str,
    case_id: int,
    prefix: str,
    doklad: str,
) -> None:
    won_case.update(code=code, id=case_id)
    options = ExportOptions(number_prefix=prefix)
    document = xml(make_order(won_case, company), options)
    validator.validate(document)
    obj = etree.fromstring(document).find("SeznamObjPrij/ObjPrij")
    assert obj is not None
    assert obj.findtext("Doklad") == doklad
    assert obj.findtext("PrimDoklad") == code  # the full code, always


def test_money_numbering_leaves_the_document_number_out(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    options = ExportOptions(numbering=OrderNumbering.MONEY)
    document = xml(make_order(won_case, company), options)
    validator.validate(document)
    assert header_tags(etree.fromstring(document))[0] == "Popis"


def test_an_id_too_long_for_the_fallback_is_refused(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    won_case.update(code="OP-2024-00057", id=10**9)
    with pytest.raises(InvalidOrder, match="MONEY_S3_ORDER_PREFIX"):
        xml(make_order(won_case, company), ExportOptions(number_prefix="ABC"))


def test_a_slovak_customers_vat_id_is_dic_and_its_tax_number_dicsk(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    """__Firma.xsd: DIC is "CZ: DIČ SK: IČDPH", DICSK "Pouze SK verze: DIČ" (field findings,
    RAYNET API 6, corrected): a Czech agenda reads only DIC, which must be the VAT id."""
    company.update(regNumber="35763469", taxNumber="2020273893", taxNumber2="SK 2020273893")
    document = xml(make_order(won_case, company), ExportOptions())
    validator.validate(document)
    customer = etree.fromstring(document).find(".//DodOdb")
    assert customer is not None
    assert customer.findtext("DIC") == "SK2020273893"
    assert customer.findtext("DICSK") == "2020273893"


def test_a_slovak_customer_without_vat_id_has_only_its_tax_number(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    company.update(regNumber="35763469", taxNumber="2020273893", taxNumber2=None)
    company["primaryAddress"]["address"]["countryCode"] = "SK"
    document = xml(make_order(won_case, company), ExportOptions())
    validator.validate(document)
    customer = etree.fromstring(document).find(".//DodOdb")
    assert customer is not None
    assert customer.find("DIC") is None  # not a VAT payer: no VAT id to report
    assert customer.findtext("DICSK") == "2020273893"


@pytest.mark.parametrize("count", [Decimal(0), Decimal(-2)])
def test_a_line_without_a_positive_quantity_is_refused_naming_the_item(
    won_case: dict[str, Any], company: dict[str, Any], count: Decimal
) -> None:
    won_case["items"][1]["count"] = count
    won_case["totalAmount"] = won_case["totalAmountWithTax"] = Decimal(0)
    with pytest.raises(InvalidOrder, match=r"item 2 \(Instalace a zaškolení\): quantity"):
        xml(make_order(won_case, company), ExportOptions())


@pytest.mark.parametrize("code", ["OP-24\u2028057", "OP-24\r\n057", "OP\x85057"])
def test_a_case_code_with_a_line_break_is_refused(
    won_case: dict[str, Any], company: dict[str, Any], code: str
) -> None:
    won_case["code"] = code
    with pytest.raises(InvalidOrder, match="line breaks"):
        xml(make_order(won_case, company), ExportOptions())


def test_single_line_fields_keep_one_line(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    company["name"] = "Stavební\r\nfirma\u2028Novák"
    company["primaryAddress"]["contactInfo"]["email"] = "ucetni@firma.cz\r\nBcc: x@y.cz"
    company["primaryAddress"]["address"]["city"] = "Brno\nsever"
    document = xml(make_order(won_case, company), ExportOptions())
    validator.validate(document)
    customer = etree.fromstring(document).find("SeznamObjPrij/ObjPrij/DodOdb")
    assert customer is not None
    assert customer.findtext("ObchNazev") == "Stavební firma Novák"
    assert customer.findtext("FaktAdresa/Misto") == "Brno sever"
    assert customer.find("EMail") is None  # a broken address is left out, never guessed
