"""A delivered file read back as Money S3 will see it (the dashboard's case page)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.test_moneys3_builder import NOW, make_order
from webhook.moneys3.builder import ExportOptions, build_order_document
from webhook.moneys3.preview import UnreadableOrder, read_order


def test_the_file_reads_back_with_raynets_totals(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    order = make_order(won_case, company)
    preview = read_order(build_order_document(order, ExportOptions(), NOW).xml)
    assert (preview.doklad, preview.case_code, preview.customer, preview.ico) == (
        "OP-24-057",
        "OP-24-057",
        "Stavební firma Novák s.r.o.",
        "27182819",
    )
    assert preview.currency is None  # the agenda's own currency
    first, second = preview.lines
    assert (first.name, first.catalogue, first.quantity, first.unit_price, first.unit) == (
        'Monitor 24" Full HD',
        "MON-24",
        Decimal(2),
        Decimal(4050),  # discounted by 10 %, as the file says it
        "ks",
    )
    assert (second.catalogue, second.net) == (None, Decimal(2550))
    assert [(row.rate, row.net, row.vat) for row in preview.vat_rows] == [
        (Decimal(21), Decimal("10650.00"), Decimal("2236.50"))
    ]
    assert (preview.net, preview.gross) == (order.total_net, order.total_gross)


def test_a_foreign_currency_order_reads_its_prices_in_that_currency(
    won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    order = make_order(won_case, company, currency="EUR", rate_base="CZK")
    preview = read_order(build_order_document(order, ExportOptions(), NOW).xml)
    assert preview.currency == "EUR"
    assert preview.gross == order.total_gross


@pytest.mark.parametrize(
    "document",
    [
        b"not xml",
        b"<MoneyData/>",
        b"<MoneyData><SeznamObjPrij><ObjPrij><Polozka>"
        b"<PocetMJ>many</PocetMJ></Polozka></ObjPrij></SeznamObjPrij></MoneyData>",
    ],
)
def test_what_is_not_our_order_is_said_so(document: bytes) -> None:
    with pytest.raises(UnreadableOrder):
        read_order(document)
