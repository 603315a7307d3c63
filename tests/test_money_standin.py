"""The Money S3 import stand-in: the default import definition, and reports valid against
Seyfor's ``_Report.xsd``, for files the real builder writes."""

from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.support import S3Bucket, xsd_dir
from webhook.moneys3.builder import ExportOptions, StockKey, Warehouse, build_order_document
from webhook.moneys3.numbering import OrderNumbering
from webhook.moneys3.standin import Agenda, ImportedLine, ImportedOrder, MoneyS3StandIn
from webhook.order import Order
from webhook.raynet.schemas import BusinessCase, BusinessCaseSchema, CaseCurrency, CompanySchema

NOW = dt.datetime(2024, 5, 14, 10, 30, 5)
IMPORTED_AT = dt.datetime(2024, 5, 15, 8, 0, 0)
NO_ACTION = (
    "Doklad OP-24-057 v agendě již existuje; podle definice importu se neprovádí žádná akce."
)


@pytest.fixture(scope="module")
def report_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xsd_dir() / "_Report.xsd")))


def make_order(case: dict[str, Any], company: dict[str, Any]) -> Order:
    loaded: BusinessCase = BusinessCaseSchema().load(case)
    return loaded.to_order(CompanySchema().load(company), CaseCurrency("CZK"), today=NOW.date())


def order_file(
    case: dict[str, Any],
    company: dict[str, Any],
    options: ExportOptions | None = None,
    now: dt.datetime = NOW,
) -> bytes:
    return build_order_document(make_order(case, company), options or ExportOptions(), now).xml


def at_fifteen_percent(case: dict[str, Any]) -> None:
    """The monitors at a historic 15 %: 8,100 net, 9,315 with VAT; installation 3,085.50."""
    case["items"][0]["taxRate"] = 15
    case["totalAmountWithTax"] = Decimal("12400.5")


def report_of(
    standin: MoneyS3StandIn, schema: etree.XMLSchema, document: bytes, name: str = "f.xml"
) -> etree._Element:
    """Import ``document``; its report, checked against ``_Report.xsd``."""
    report = standin.import_document(name, document)
    assert report.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = etree.fromstring(report)
    schema.assertValid(root)
    return root


def the_order(report: etree._Element) -> etree._Element:
    (entry,) = report.findall("SeznamObjPrij/ObjPrij")
    return entry


def children(element: etree._Element | None) -> list[str]:
    assert element is not None
    return [str(child.tag) for child in element]


def reference(entry: etree._Element) -> list[tuple[str | None, str | None]]:
    return [(i.get("keyName"), i.text) for i in entry.findall("Reference/ID")]


def error_info(entry: etree._Element) -> list[tuple[str | None, ...]]:
    """Every ErrorInfo as (type, other, code, description); ``other`` is ``""`` when the
    required empty element is there."""
    return [
        (
            info.findtext("ErrorTypeCoded"),
            info.findtext("ErrorTypeOther"),
            info.findtext("ErrorCode"),
            info.findtext("ErrorDescription"),
        )
        for info in entry.findall("ErrorInfo")
    ]


def test_first_import_adds_the_order_and_the_customers_card(
    won_case: dict[str, Any], company: dict[str, Any], report_schema: etree.XMLSchema
) -> None:
    standin = MoneyS3StandIn()
    report = report_of(standin, report_schema, order_file(won_case, company), "OP-24-057.xml")

    assert report.findtext("Status") == "Ok"
    assert report.find("Control") is None
    entry = the_order(report)
    assert children(entry) == ["Status", "Reference", "Data", "DodOdb"]
    assert entry.findtext("Status") == "Ok"
    assert reference(entry) == [("Číslo dokladu", None), ("Doklad", "OP-24-057")]
    assert entry.findtext("Data/ObjPrij/Doklad") == "OP-24-057"
    assert len(entry.findall("Data/ObjPrij/Polozka")) == 2
    assert entry.findtext("DodOdb/Status") == "Ok"
    assert reference(entry.find("DodOdb")) == [("ICO", "27182819")]  # type: ignore[arg-type]
    # KonecPrij (the contact address) has no IČO: no card is matched, no entry written.
    assert entry.find("KonecPrij") is None

    assert standin.agenda.orders == {
        "OP-24-057": ImportedOrder(
            doklad="OP-24-057",
            partner_document="OP-24-057",
            customer="Stavební firma Novák s.r.o.",
            ico="27182819",
            lines=(
                ImportedLine(
                    'Monitor 24" Full HD', "MON-24", None, Decimal(2), Decimal(4050), Decimal(21)
                ),
                ImportedLine(
                    "Instalace a zaškolení", None, None, Decimal(3), Decimal(850), Decimal(21)
                ),
            ),
            source="OP-24-057.xml",
        )
    }
    assert standin.agenda.firms == {"27182819": "Stavební firma Novák s.r.o."}
    assert standin.agenda.stock_cards == {}


def test_an_order_the_agenda_has_is_left_alone(
    won_case: dict[str, Any], company: dict[str, Any], report_schema: etree.XMLSchema
) -> None:
    standin = MoneyS3StandIn()
    document = order_file(won_case, company)
    report_of(standin, report_schema, document, "OP-24-057.xml")
    before = copy.deepcopy(standin.agenda)
    won_case["name"] = "Dodávka monitorů"  # the re-export differs, its Doklad does not
    re_export = order_file(won_case, company, now=NOW + dt.timedelta(days=1))

    for name, again in (("OP-24-057.xml", document), ("OP-24-057+2.xml", re_export)):
        report = report_of(standin, report_schema, again, name)
        assert report.findtext("Status") == "Ok"  # no action counts as Ok
        entry = the_order(report)
        assert children(entry) == ["Status", "Reference", "ErrorInfo"]  # no Data
        assert entry.findtext("Status") == "Ok"
        assert reference(entry) == [("Číslo dokladu", None), ("Doklad", "OP-24-057")]
        assert error_info(entry) == [("CorrelationError", "", "NoAction", NO_ACTION)]
        assert standin.agenda == before


def test_an_unknown_warehouse_leaves_the_item_out(
    won_case: dict[str, Any], company: dict[str, Any], report_schema: etree.XMLSchema
) -> None:
    options = ExportOptions(
        stock=True, warehouse=Warehouse("XX", "Sklad"), stock_key=StockKey.BARCODE
    )
    standin = MoneyS3StandIn(Agenda(warehouses={"HL"}))
    report = report_of(standin, report_schema, order_file(won_case, company, options))

    assert report.findtext("Status") == "WarningError"
    entry = the_order(report)
    assert entry.findtext("Status") == "WarningError"
    assert children(entry) == ["Status", "Reference", "Data", "DodOdb", "Polozka"]
    assert entry.findtext("Data/ObjPrij/Polozka/Popis") == "Instalace a zaškolení"  # only it
    assert len(entry.findall("Data/ObjPrij/Polozka")) == 1
    item = entry.find("Polozka")
    assert item is not None
    assert children(item) == ["Status", "Reference", "Sklad"]  # the card had its BarCode
    assert item.findtext("Status") == "FatalError"
    assert reference(item) == [("Poradi", "1")]
    sklad = item.find("Sklad")
    assert sklad is not None
    assert sklad.findtext("Status") == "FatalError"
    assert reference(sklad) == [("KodSkladu", "XX")]
    assert error_info(sklad) == [
        ("CorrelationError", "", "NotFound", "Sklad s kódem XX neexistuje.")
    ]
    imported = standin.agenda.orders["OP-24-057"]
    assert [line.name for line in imported.lines] == ["Instalace a zaškolení"]
    assert standin.agenda.stock_cards == {}  # the card of an item left out is not added


def test_a_known_warehouse_links_and_a_new_barcode_adds_a_stock_card(
    won_case: dict[str, Any], company: dict[str, Any], report_schema: etree.XMLSchema
) -> None:
    options = ExportOptions(
        stock=True, warehouse=Warehouse("HL", "Hlavní sklad"), stock_key=StockKey.BARCODE
    )
    standin = MoneyS3StandIn(Agenda(warehouses={"HL"}))
    report = report_of(standin, report_schema, order_file(won_case, company, options))

    assert report.findtext("Status") == "Ok"
    assert the_order(report).find("Polozka") is None
    assert standin.agenda.stock_cards == {"MON-24": "MON-24"}
    monitor = standin.agenda.orders["OP-24-057"].lines[0]
    assert (monitor.catalogue, monitor.bar_code) == ("MON-24", "MON-24")


def test_a_stock_card_without_barcode_cannot_be_matched(
    won_case: dict[str, Any], company: dict[str, Any], report_schema: etree.XMLSchema
) -> None:
    standin = MoneyS3StandIn()  # no warehouse in the file: the definition's is taken
    report = report_of(standin, report_schema, order_file(won_case, company, ExportOptions(True)))

    assert report.findtext("Status") == "WarningError"
    item = the_order(report).find("Polozka")
    assert item is not None
    assert children(item) == ["Status", "Reference", "KmKarta"]
    card = item.find("KmKarta")
    assert card is not None
    assert card.findtext("Status") == "FatalError"
    assert reference(card) == [("Katalog", "MON-24")]
    assert error_info(card) == [
        (
            "CorrelationError",
            "",
            "MissingKey",
            "Zásobu nelze spárovat: chybí čárový kód (BarCode).",
        )
    ]
    assert len(standin.agenda.orders["OP-24-057"].lines) == 1


def test_a_line_at_a_rate_the_agenda_lacks_refuses_the_order(
    won_case: dict[str, Any], company: dict[str, Any], report_schema: etree.XMLSchema
) -> None:
    at_fifteen_percent(won_case)
    standin = MoneyS3StandIn()
    report = report_of(standin, report_schema, order_file(won_case, company))

    assert report.findtext("Status") == "FatalError"
    entry = the_order(report)
    assert children(entry) == ["Status", "Reference", "ErrorInfo"]
    assert entry.findtext("Status") == "FatalError"
    assert error_info(entry) == [
        (
            "BusinessError",
            "",
            "UnknownVatRate",
            'Sazba DPH 15 % u položky 1 (Monitor 24" Full HD) není v agendě nastavena; '
            "doklad nelze uložit.",
        )
    ]
    assert standin.agenda == Agenda()

    knowing = MoneyS3StandIn(Agenda(vat_rates={Decimal(0), Decimal(15), Decimal(21)}))
    accepted = report_of(knowing, report_schema, order_file(won_case, company))
    assert accepted.findtext("Status") == "Ok"


def test_a_file_with_one_good_and_one_refused_order_is_a_warning(
    won_case: dict[str, Any], company: dict[str, Any], report_schema: etree.XMLSchema
) -> None:
    good = etree.fromstring(order_file(won_case, company))
    won_case["code"] = "OP-24-058"
    at_fifteen_percent(won_case)
    refused = etree.fromstring(order_file(won_case, company)).find("SeznamObjPrij/ObjPrij")
    good.find("SeznamObjPrij").append(refused)  # type: ignore[union-attr,arg-type]
    standin = MoneyS3StandIn()
    report = report_of(standin, report_schema, etree.tostring(good))

    assert report.findtext("Status") == "WarningError"
    entries = report.findall("SeznamObjPrij/ObjPrij")
    assert [e.findtext("Status") for e in entries] == ["Ok", "FatalError"]  # file order
    assert [reference(e)[1][1] for e in entries] == ["OP-24-057", "OP-24-058"]
    assert list(standin.agenda.orders) == ["OP-24-057"]


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        (b"", "SystemError"),
        (b"PK\x03\x04 not xml at all", "SystemError"),
        (b"<MoneyData><SeznamObjPrij>", "SystemError"),
        (b"<MoneyData/>", "PayloadError"),
        (b"<MoneyData><SeznamObjPrij/></MoneyData>", "PayloadError"),
        (b"<Objednavka><SeznamObjPrij><ObjPrij/></SeznamObjPrij></Objednavka>", "PayloadError"),
    ],
)
def test_a_file_without_orders_is_no_entity(
    document: bytes, kind: str, report_schema: etree.XMLSchema
) -> None:
    standin = MoneyS3StandIn()
    report = report_of(standin, report_schema, document, "broken.xml")

    assert children(report) == ["Status", "Control"]
    assert report.findtext("Status") == "FatalError"
    assert report.findtext("Control/NoEntity/Status") == "FatalError"
    no_entity = report.find("Control/NoEntity")
    assert no_entity is not None
    ((coded, other, _, description),) = error_info(no_entity)
    assert (coded, other) == (kind, "")
    assert description is not None
    assert description.startswith("Soubor broken.xml ")
    assert standin.agenda == Agenda()


def test_orders_without_doklad_are_numbered_from_the_series_at_every_import(
    won_case: dict[str, Any], company: dict[str, Any], report_schema: etree.XMLSchema
) -> None:
    document = order_file(won_case, company, ExportOptions(numbering=OrderNumbering.MONEY))
    assert etree.fromstring(document).find("SeznamObjPrij/ObjPrij/Doklad") is None
    standin = MoneyS3StandIn(Agenda(next_number=41))

    numbers = []
    for _ in range(2):
        entry = the_order(report_of(standin, report_schema, document))
        assert entry.findtext("Status") == "Ok"
        numbers.append(reference(entry)[1][1])
        data = entry.find("Data/ObjPrij")
        assert data is not None
        assert data[0].tag == "Doklad"  # first, as objednavkaType has it
        assert data[0].text == numbers[-1]

    assert numbers == ["OP000041", "OP000042"]
    assert list(standin.agenda.orders) == numbers
    assert standin.agenda.next_number == 43


def test_import_folder_imports_each_file_once_and_a_replaced_file_again(
    won_case: dict[str, Any],
    company: dict[str, Any],
    report_schema: etree.XMLSchema,
    tmp_path: Path,
) -> None:
    exports, reports = tmp_path / "exports", tmp_path / "reports"
    exports.mkdir()
    (exports / "OP-24-057.xml").write_bytes(order_file(won_case, company))
    (exports / ".OP-24-058.xml.tmp").write_bytes(b"half written")  # the bridge's temp file
    standin = MoneyS3StandIn(clock=lambda: IMPORTED_AT)

    first = standin.import_folder(exports, reports)
    assert [path.name for path in first] == ["20240515_080000_1_OP-24-057.xml"]
    report = etree.parse(str(first[0])).getroot()
    report_schema.assertValid(report)
    assert report.findtext("Status") == "Ok"
    assert standin.import_folder(exports, reports) == []

    later = order_file(won_case, company, now=NOW + dt.timedelta(hours=1))
    (exports / "OP-24-057.xml").write_bytes(later)  # replaced: another file, same name
    won_case["code"] = "OP-24-058"
    (exports / "OP-24-058.xml").write_bytes(order_file(won_case, company))
    second = standin.import_folder(exports, reports)
    assert [path.name for path in second] == [
        "20240515_080000_2_OP-24-057.xml",
        "20240515_080000_3_OP-24-058.xml",
    ]
    statuses = []
    for path in second:
        root = etree.parse(str(path)).getroot()
        report_schema.assertValid(root)
        statuses.append(error_info(the_order(root)))
    assert statuses == [[("CorrelationError", "", "NoAction", NO_ACTION)], []]
    assert sorted(path.name for path in reports.iterdir()) == sorted(
        path.name for path in first + second
    )
    assert list(standin.agenda.orders) == ["OP-24-057", "OP-24-058"]


def test_import_bucket_reads_exports_and_writes_reports(
    won_case: dict[str, Any],
    company: dict[str, Any],
    report_schema: etree.XMLSchema,
    bucket: S3Bucket,
) -> None:
    s3 = bucket.client
    s3.put_object(
        Bucket=bucket.name, Key="exports/OP-24-057.xml", Body=order_file(won_case, company)
    )
    s3.put_object(Bucket=bucket.name, Key="exports/old/OP-24-001.xml", Body=b"<MoneyData/>")
    s3.put_object(Bucket=bucket.name, Key="exports/notes.txt", Body=b"not an order")
    standin = MoneyS3StandIn(clock=lambda: IMPORTED_AT)

    keys = standin.import_bucket(s3, bucket.name, "exports/", "reports/")
    assert keys == ["reports/20240515_080000_1_OP-24-057.xml"]
    body = s3.get_object(Bucket=bucket.name, Key=keys[0])["Body"].read()
    report = etree.fromstring(body)
    report_schema.assertValid(report)
    assert report.findtext("Status") == "Ok"
    assert standin.import_bucket(s3, bucket.name, "exports/", "reports/") == []
    listed = s3.list_objects_v2(Bucket=bucket.name, Prefix="reports/")["Contents"]
    assert [item["Key"] for item in listed] == keys
    assert re.fullmatch(r"reports/\d{8}_\d{6}_1_OP-24-057\.xml", keys[0])
