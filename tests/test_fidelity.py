"""What a real Money S3 makes of the file, held to Seyfor's files and RAYNET's spec (issue K).

Each test names the finding it holds the bridge to (``../shared/reference/field-findings.md``
and Seyfor's XSDs in ``../shared/money-s3-xsd``). Through the worker, a real state file and
the RAYNET stand-in where the case's state matters (caveats, waits), else the builder.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from tests.harness import Harness
from tests.support import TOKEN, share
from webhook.errors import ConfigError, InvalidOrder
from webhook.moneys3.builder import ExportOptions, StockKey, Warehouse, build_order_document
from webhook.moneys3.preview import read_order
from webhook.moneys3.review import VatRates, review
from webhook.moneys3.text import in_charset, storable
from webhook.moneys3.validation import DocumentValidator
from webhook.ops.cli import main
from webhook.order import Caveat, Order
from webhook.raynet.mapping import BookkeepingMap, FieldSource
from webhook.raynet.schemas import BusinessCase, BusinessCaseSchema, CaseCurrency, CompanySchema
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.environment import load_settings

NOW = dt.datetime(2026, 11, 28, 9, 0)


def order_of(case: dict[str, Any], company: dict[str, Any], currency: str = "CZK") -> Order:
    loaded: BusinessCase = BusinessCaseSchema().load(case)
    return loaded.to_order(
        CompanySchema().load(company), CaseCurrency(currency, "CZK"), today=NOW.date()
    )


def document(order: Order, options: ExportOptions | None = None) -> etree._Element:
    built = build_order_document(order, options or ExportOptions(), NOW)
    return etree.fromstring(built.xml)


def header(root: etree._Element) -> etree._Element:
    found = root.find("SeznamObjPrij/ObjPrij")
    assert found is not None
    return found


# --- Money S3 import 9: non-stock lines ------------------------------------------------


def test_every_non_stock_line_carries_a_warranty_type_as_seyfors_sample(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    """A line with neither unit nor product code used to have no NesklPolozka at all."""
    won_case["items"][1]["unit"] = None
    order = order_of(won_case, company)
    built = build_order_document(order, ExportOptions(), NOW).xml
    validator.validate(built)
    bare = header(etree.fromstring(built)).findall("Polozka")[1]
    assert [(child.tag, child.text) for child in bare.find("NesklPolozka")] == [  # type: ignore[union-attr]
        ("TypZarDoby", "N")
    ]


# --- K3: long case codes ---------------------------------------------------------------


def test_a_code_longer_than_doklad_dosly_is_exported_and_stays_findable(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any], validator: DocumentValidator
) -> None:
    code = "OP-2026-ZAKAZKA-MORAVA-00057"  # 28 characters: PrimDoklad holds 20
    raynet.add_case({**won_case, "code": code})
    harness = Harness(raynet, tmp_path)
    harness.webhook()
    assert harness.drain() == "exported"
    (name,) = harness.files()
    content = (harness.exports / name).read_bytes()
    validator.validate(content)
    order = header(etree.fromstring(content))
    assert order.find("PrimDoklad") is None  # never cut: a cut number would mislead
    assert order.findtext("Doklad") == "R#1234"
    assert (order.findtext("Poznamka") or "").splitlines()[0] == f"Obchodní případ RAYNET {code}"
    record = harness.records.case(1234)
    assert record is not None
    assert record.code == code  # the dashboard and status show it, search finds it
    status = CliRunner().invoke(main, ["status"], env=harness_env(harness))
    assert code in status.output
    harness.webhook()  # delivered again after a lost state: recognised as this case's
    fresh = Harness(raynet, tmp_path, STATE_DB=str(tmp_path / "fresh.db"))
    fresh.webhook()
    assert fresh.drain() == "exported"
    assert fresh.files() == [name]


def harness_env(harness: Harness) -> dict[str, str]:
    settings = harness.settings
    raynet = settings.require_raynet()
    return {
        "STATE_DB": str(settings.state_db),
        "EXPORT_TARGET": settings.export_target,
        "RAYNET_API_URL": raynet.api_url,
        "RAYNET_USERNAME": raynet.username,
        "RAYNET_API_KEY": raynet.api_key,
        "RAYNET_INSTANCE": raynet.instance,
    }


# --- Money S3 import 12: windows-1250 ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored", "changed"),
    [
        ("Žluťoučký kůň, Łódź, Köln – 12 €", "Žluťoučký kůň, Łódź, Köln – 12 €", 0),
        ("Москва", "Moskva", 6),
        ("Ωmega 😀", "Omega ?", 2),
        ("2 m² − 10 %", "2 m2 - 10 %", 2),
        ("Ørsted ﬁ", "Orsted fi", 2),
        ("a\u200bb\u202ec", "abc", 2),  # invisible: nothing to write
    ],
)
def test_text_becomes_its_closest_windows_1250_form_and_says_so(
    text: str, stored: str, changed: int
) -> None:
    assert storable(text) == (stored, changed)
    assert in_charset(storable(text)[0])


def test_changed_characters_are_recorded_per_field_and_the_file_shows_the_result(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    won_case["name"] = "Dodávka 😀"
    won_case["items"][1]["name"] = "Монтаж и обучение"  # 15 Cyrillic letters, two spaces
    company["name"] = "Γάμμα s.r.o."
    raynet.add_case(won_case)
    raynet.add_company(company)
    harness = Harness(raynet, tmp_path)
    harness.webhook()
    assert harness.drain() == "exported"
    (export,) = harness.records.exports_of(1234)
    assert export.caveats == (  # each field once, though the deal's name is in the note too
        Caveat("replaced_characters", {"count": 1, "field": "in the deal's name"}),
        Caveat("replaced_characters", {"count": 5, "field": "in the customer's name"}),
        Caveat(
            "replaced_characters",
            {"count": 15, "field": "in the name of item %(item)s", "item": 2},
        ),
    )
    content = (harness.exports / export.file_name).read_bytes()
    assert in_charset(content.decode("utf-8"))  # every character survives the import
    preview = read_order(content)
    assert preview.lines[1].name == "Montazh i obuchenie"
    assert preview.customer == "Gamma s.r.o."


def test_identifiers_with_characters_money_cannot_store_are_refused_not_changed(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    won_case["items"][0]["priceListItem"]["product"]["code"] = "MON-24-Ж"
    with pytest.raises(InvalidOrder, match="windows-1250"):
        document(order_of(won_case, company))


# --- Money S3 import 13: VAT ------------------------------------------------------------


def test_the_header_carries_the_agendas_rates_not_the_lines(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    """A real Money export declares SazbaDPH1 12 on a document whose only line is at 21 %."""
    options = ExportOptions(vat_rates=VatRates(Decimal(10), Decimal(21)))
    built = build_order_document(order_of(won_case, company), options, NOW).xml
    validator.validate(built)
    order = header(etree.fromstring(built))
    assert (order.findtext("SazbaDPH1"), order.findtext("SazbaDPH2")) == ("10", "21")
    assert order.find("SouhrnDPH") is None  # "IMPORT: NE" (__Objedn.xsd): Money computes it


def at_rate(case: dict[str, Any], position: int, rate: int) -> dict[str, Any]:
    """The case with item ``position`` (1-based) at another VAT rate, totals to match."""
    case["items"][position - 1]["taxRate"] = Decimal(rate)
    gross = sum(
        (
            Decimal(item["price"])
            * Decimal(item["count"])
            * (100 - Decimal(item["discountPercent"]))
            / 100
            * (100 + Decimal(item["taxRate"]))
            / 100
            for item in case["items"]
        ),
        Decimal(0),
    )
    case["totalAmountWithTax"] = gross.quantize(Decimal("0.01"))
    return case


def test_a_further_vat_rate_goes_out_with_a_caveat(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any], validator: DocumentValidator
) -> None:
    raynet.add_case(at_rate(won_case, 2, 15))  # a historic rate, or another state's
    harness = Harness(raynet, tmp_path)
    harness.webhook()
    assert harness.drain() == "exported"
    (export,) = harness.records.exports_of(1234)
    assert export.caveats == (
        Caveat("vat_rate_further", {"rate": "15", "items": "2", "known": "12 %, 21 %"}),
    )
    content = (harness.exports / export.file_name).read_bytes()
    validator.validate(content)
    lines = header(etree.fromstring(content)).findall("Polozka")
    assert [line.findtext("SazbaDPH") for line in lines] == ["21", "15"]  # kept as it is


def test_with_strict_vat_such_a_case_waits_and_goes_out_once_fixed(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any]
) -> None:
    raynet.add_case(at_rate(won_case, 2, 15))
    harness = Harness(raynet, tmp_path, MONEY_S3_STRICT_VAT="1")
    harness.webhook()
    assert harness.drain() == "skipped"
    record = harness.records.case(1234)
    assert record is not None
    assert record.reason_code == "vat_rate_unknown"
    assert record.reason == (
        "item 2 (Instalace a zaškolení) has VAT 15 %, not one of the agenda's rates "
        "(12 %, 21 %); correct it in RAYNET, or let it through with MONEY_S3_STRICT_VAT=0 "
        "once Money S3 knows the rate"
    )
    assert harness.files() == []
    raynet.add_case(at_rate(won_case, 2, 21))  # corrected in RAYNET: its webhook comes
    harness.webhook()
    assert harness.drain() == "exported"


def test_more_further_rates_than_an_order_holds_always_wait(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    item = won_case["items"][1]
    won_case["items"] = [{**item, "id": 100 + n, "taxRate": Decimal(rate)} for n, rate in
                         enumerate((1, 2, 3, 5, 7))]  # fmt: skip
    won_case["totalAmount"] = Decimal(850 * 3 * 5)
    order = order_of(won_case, company)
    held = review(order, VatRates(), strict_vat=False, strict_ids=False).hold
    assert held is not None
    assert held.code == "vat_rates_too_many"
    four = review(
        order_of({**won_case, "items": won_case["items"][:4]}, company),
        VatRates(),
        strict_vat=False,
        strict_ids=False,
    )
    assert four.hold is None
    assert len(four.caveats) == 4


# --- K6: weak currencies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "units", "kurs"),
    [
        (Decimal("24.725"), "1", "24.725"),
        (Decimal("0.06341"), "100", "6.341"),  # forint: four decimals keep five digits
        (Decimal("0.004123"), "1000", "4.123"),
    ],
)
def test_a_weak_currencys_rate_is_given_for_100_or_1000_units(
    won_case: dict[str, Any],
    company: dict[str, Any],
    validator: DocumentValidator,
    rate: Decimal,
    units: str,
    kurs: str,
) -> None:
    won_case["exchangeRate"] = rate
    built = build_order_document(order_of(won_case, company, "HUF"), ExportOptions(), NOW).xml
    validator.validate(built)
    mena = header(etree.fromstring(built)).find("Valuty/Mena")
    assert mena is not None
    assert (mena.findtext("Mnozstvi"), mena.findtext("Kurs")) == (units, kurs)


# --- K7, K8: stock cards ----------------------------------------------------------------


def test_a_new_stock_card_gets_what_seyfors_template_writes_for_one(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    options = ExportOptions(stock=True, warehouse=Warehouse("HL", "Hlavní sklad"))
    built = build_order_document(order_of(won_case, company), options, NOW).xml
    validator.validate(built)
    card = header(etree.fromstring(built)).find("Polozka/KmKarta")
    assert card is not None
    assert [child.tag for child in card] == ["Popis", "MJ", "Katalog", "konfigurace", "TypKarty"]
    assert card.findtext("TypKarty") == "jednoducha"
    assert card.findtext("konfigurace/SDPH_Prod") == card.findtext("konfigurace/SDPH_Nakup") == "21"
    assert card.find("BarCode") is None  # RAYNET's products carry no barcode


def test_with_the_product_code_as_barcode_the_default_definition_finds_the_card(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    options = ExportOptions(stock=True, stock_key=StockKey.BARCODE)
    built = build_order_document(order_of(won_case, company), options, NOW).xml
    validator.validate(built)
    card = header(etree.fromstring(built)).find("Polozka/KmKarta")
    assert card is not None
    assert (card.findtext("Katalog"), card.findtext("BarCode")) == ("MON-24", "MON-24")


# --- K9: the customer's numbers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("company_values", "caveat"),
    [
        ({"regNumber": "27182818"}, ("IČO", "27182818", "its check digit does not match")),
        ({"taxNumber": "CZ2718281"}, ("VAT id", "CZ2718281", "CZ and 8 to 10 digits")),
        ({"taxNumber": "27182819"}, ("VAT id", "27182819", "it lacks its country code (CZ, SK)")),
        (
            {"taxNumber": "2020273893", "taxNumber2": "SK20202738"},
            ("VAT id", "SK20202738", "SK and 10 digits"),
        ),
    ],
)
def test_doubtful_customer_numbers_are_caveats_or_with_strict_ids_a_wait(
    raynet: RaynetStandIn,
    tmp_path: Path,
    company: dict[str, Any],
    company_values: dict[str, str],
    caveat: tuple[str, str, str],
) -> None:
    raynet.add_company({**company, **company_values})
    lenient = Harness(raynet, tmp_path / "lenient")
    lenient.webhook()
    assert lenient.drain() == "exported"
    what, value, why = caveat
    assert lenient.records.exports_of(1234)[0].caveats == (
        Caveat("customer_number", {"what": what, "value": value, "why": why}),
    )
    strict = Harness(raynet, tmp_path / "strict", MONEY_S3_STRICT_IDS="1")
    strict.webhook()
    assert strict.drain() == "skipped"
    record = strict.records.case(1234)
    assert record is not None
    assert record.reason_code == "customer_number"
    assert value in (record.reason or "")


# --- K10: the accountant's mapping ------------------------------------------------------


def test_bookkeeping_fields_come_from_constants_and_the_deals_fields(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any], validator: DocumentValidator
) -> None:
    raynet.custom_fields = [
        {"label": "Číslo zakázky", "name": "Cislo_zaka_7c1d2", "dataType": "STRING"},
        {"label": "Objednávka zákazníka", "name": "Objednavka_9e8f7", "dataType": "STRING"},
    ]
    won_case["customFields"] = {"Cislo_zaka_7c1d2": "Z-2026-7", "Objednavka_9e8f7": "PO-118"}
    raynet.add_case(won_case)
    harness = Harness(
        raynet,
        tmp_path,
        MONEY_S3_DOCUMENT_TYPE="OPR",
        MONEY_S3_NUMBER_SERIES="OP",
        MONEY_S3_COST_CENTRE="BRNO",
        MONEY_S3_JOB="{custom:Číslo zakázky}",
        MONEY_S3_ACTIVITY="PRODEJ",
        MONEY_S3_PARTNER_DOCUMENT="{custom:Objednávka zákazníka}",
    )
    harness.webhook()
    assert harness.drain() == "exported"
    content = (harness.exports / "OP-24-057.xml").read_bytes()
    validator.validate(content)  # each in its place in the header's xs:sequence
    order = header(etree.fromstring(content))
    chosen = ("ZkratkaTyp", "DRada", "Stredisko", "Zakazka", "Cinnost", "PrimDoklad")
    assert {tag: order.findtext(tag) for tag in chosen} == {
        "ZkratkaTyp": "OPR",
        "DRada": "OP",
        "Stredisko": "BRNO",
        "Zakazka": "Z-2026-7",
        "Cinnost": "PRODEJ",
        "PrimDoklad": "PO-118",  # the customer's order number: "doklad došlý"
    }
    assert (order.findtext("Poznamka") or "").splitlines() == [
        "Obchodní případ RAYNET OP-24-057",
        "Dodávka monitorů a instalace",
        "Objednávka dle nabídky NAB-24-031",  # the deal's note, as RAYNET's own export
    ]
    assert len(raynet.calls("customField/config/")) == 1
    assert harness.records.exports_of(1234)[0].caveats == ()


def test_a_custom_field_raynet_does_not_have_leaves_its_field_empty_and_says_so(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any]
) -> None:
    raynet.custom_fields = [
        {"label": "Číslo zakázky", "name": "Cislo_zaka_7c1d2", "dataType": "STRING"},
    ]
    won_case["customFields"] = {"Cislo_zaka_7c1d2": "Z-2026-7"}
    raynet.add_case(won_case)
    harness = Harness(
        raynet,
        tmp_path,
        MONEY_S3_JOB="{custom:Cislo zakazky}",  # typed without its accents
        MONEY_S3_COST_CENTRE="{custom:Cislo_zaka_7c1d2}",  # RAYNET's key: found
    )
    harness.webhook()
    assert harness.drain() == "exported"
    order = header(etree.fromstring((harness.exports / "OP-24-057.xml").read_bytes()))
    assert (order.findtext("Zakazka"), order.findtext("Stredisko")) == (None, "Z-2026-7")
    (export,) = harness.records.exports_of(1234)
    assert export.caveats == (Caveat("custom_field_unknown", {"name": "Cislo zakazky"}),)
    harness.follow_ups.run_due()
    (post,) = raynet.posts[1234]  # the salesperson is told too
    assert "RAYNET nemá vlastní pole obchodního případu Cislo zakazky" in post["comment"]


def test_a_field_too_long_for_money_refuses_the_case_naming_it(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path, MONEY_S3_ACTIVITY="{category}")  # "Obchod Morava"
    harness.webhook()
    assert harness.drain() == "dead"
    record = harness.records.case(1234)
    assert record is not None
    assert "activity (MONEY_S3_ACTIVITY)" in (record.reason or "")
    assert "'Obchod Morava' has 13 characters, Money S3 allows 10" in (record.reason or "")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MONEY_S3_JOB", "{zakazka}", "MONEY_S3_JOB: {zakazka} is not a field of a business case"),
        ("MONEY_S3_COST_CENTRE", "STREDISKO-BRNO", "longer than Money S3's 10 characters"),
        ("MONEY_S3_VAT_RATES", "21", "MONEY_S3_VAT_RATES must be"),
        ("MONEY_S3_STOCK_KEY", "ean", "MONEY_S3_STOCK_KEY must be katalog or barcode"),
        ("RAYNET_BASE_CURRENCY", "Kč", "RAYNET_BASE_CURRENCY must be an ISO code"),
    ],
)
def test_mapping_mistakes_are_found_at_start_up_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", r"\{")):
        load_settings({variable: value})


def test_check_names_a_custom_field_raynet_does_not_have(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    env = {
        **raynet.environment(),
        "WEBHOOK_TOKEN": TOKEN,
        "STATE_DB": str(tmp_path / "state.db"),
        "EXPORT_TARGET": share(tmp_path / "exports"),
        "MONEY_S3_JOB": "{custom:Číslo zakázky}",
    }
    result = CliRunner().invoke(main, ["check"], env=env)
    assert result.exit_code == 1
    assert (
        "FAIL  RAYNET custom fields: RAYNET's business cases have no custom field named "
        "Číslo zakázky (MONEY_S3_JOB)" in result.output
    )


def test_the_contact_address_is_where_the_goods_go(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    """RAYNET's own Money export carries the client's contact address beside its seat."""
    built = build_order_document(order_of(won_case, company), ExportOptions(), NOW).xml
    validator.validate(built)
    recipient = header(etree.fromstring(built)).find("KonecPrij")
    assert recipient is not None
    assert recipient.findtext("Nazev") == "Stavební firma Novák s.r.o."
    assert (recipient.findtext("Adresa/Ulice"), recipient.findtext("Adresa/Misto")) == (
        "Skladová 5",
        "Modřice",
    )
    assert recipient.find("ICO") is None  # no card: the address stays on the order
    del company["addresses"][1]
    alone = header(document(order_of(won_case, company)))
    assert alone.find("KonecPrij") is None


# --- Seyfor's own sample --------------------------------------------------------------

# Seyfor's e-shop sample of a received order (field findings, source M5; found in the
# public index as id 5288101059): what it writes where a RAYNET case has the same fact.
SEYFOR_SAMPLE = {
    "Popis": "Objednávka z e-shopu (100200143)",
    "PrimDoklad": "100200143",
    "lines": [
        {"PocetMJ": "1", "SazbaDPH": "21", "Sleva": "0", "CenaPoSleve": "1", "Poznamka": "vel. 29"},
        {"PocetMJ": "1", "SazbaDPH": "21", "Sleva": "0", "CenaPoSleve": "1", "Poznamka": "vel. 60"},
        {
            "Popis": "Doprava",
            "PocetMJ": "1",
            "SazbaDPH": "21",
            "Sleva": "0",
            "CenaPoSleve": "1",
            "NesklPolozka/TypZarDoby": "N",
        },
    ],
}
# Where the bridge writes otherwise: (path, the sample's value, ours) and why.
DIFFERENCES = {
    ("Doklad", None, "OP-24-057"): "the sample lets Money number the order; the bridge sends "
    "the case's number so that a file imported twice is skipped (Money S3 import 1)",
    ("DodOdb/ICO", None, "27182819"): "the sample links a Firma sent in the same file by "
    "GUID; a RAYNET case knows no Money GUIDs, so the bridge writes name, addresses and IČO, "
    "Money's key for the card",
    ("KPFromOdb", "1", None): "the sample takes the recipient from the card; the bridge "
    "writes KonecPrij from the company's contact address, as RAYNET's own export has it",
    ("KonecPrij/Adresa/Misto", None, "Modřice"): "likewise",
    ("PlatPodm", "dobírkou", None): "an e-shop's payment terms: no RAYNET field",
    ("Sleva", "0", None): "Seyfor's order preview: the header's discount 'se při importu "
    "ignoruje'; the lines carry theirs",
    ("SazbaDPH2", None, "21"): "the agenda's rates, which the sample leaves to Money",
    ("Polozka[1]/TypCeny", "1", "0"): "the sample's prices are with VAT; RAYNET's without",
    ("Polozka[1]/CenovaHlad", "Základní", None): "a Money price level; RAYNET has none",
    ("Polozka[1]/KmKarta/Katalog", None, "MON-24"): "the sample finds the card by GUID; the "
    "bridge by RAYNET's product code",
    ("Polozka[1]/Popis", None, 'Monitor 24" Full HD'): "the sample takes the card's name",
    ("Polozka[3]/ZbyvaMJ", "1", None): "what is left to deliver: Money sets it from PocetMJ",
}


def test_an_order_like_seyfors_sample_matches_it_where_both_mean_the_same(
    won_case: dict[str, Any], company: dict[str, Any], validator: DocumentValidator
) -> None:
    """The sample's two shoes and shipping, as a RAYNET case would carry them."""
    line = won_case["items"][0]
    shoe = {**line, "count": 1, "taxRate": 21, "discountPercent": 0}
    won_case.update(
        name="Objednávka z e-shopu (100200143)",
        customFields={"Objednavka_9e8f7": "100200143"},
        items=[
            {**shoe, "price": Decimal("9909.09"), "description": "vel. 29"},
            {**shoe, "id": 2, "price": Decimal("2661.16"), "description": "vel. 60"},
            {
                **shoe,
                "id": 3,
                "priceListItem": None,
                "name": "Doprava",
                "price": Decimal("99.17"),
                "unit": None,
            },
        ],
        totalAmount=Decimal("12669.42"),
        totalAmountWithTax=Decimal("15330"),
    )
    loaded: BusinessCase = BusinessCaseSchema().load(won_case)
    mapping = BookkeepingMap(partner_document=FieldSource(custom_label="Objednávka zákazníka"))
    order = loaded.to_order(
        CompanySchema().load(company),
        CaseCurrency("CZK"),
        today=NOW.date(),
        bookkeeping=mapping.resolve(loaded.fields, {"Objednávka zákazníka": "Objednavka_9e8f7"}),
    )
    options = ExportOptions(stock=True, warehouse=Warehouse("HL", "Hlavní sklad"))
    built = build_order_document(order, options, NOW).xml
    validator.validate(built)
    ours = header(etree.fromstring(built))
    assert ours.findtext("Popis") == SEYFOR_SAMPLE["Popis"]
    assert ours.findtext("PrimDoklad") == SEYFOR_SAMPLE["PrimDoklad"]
    for written, sample in zip(ours.findall("Polozka"), SEYFOR_SAMPLE["lines"], strict=True):
        assert isinstance(sample, dict)
        assert {path: written.findtext(path) for path in sample} == sample
    assert {path: ours.findtext(path) for path, _, _ in DIFFERENCES} == {
        path: value for path, _, value in DIFFERENCES
    }
