"""Time to build and serialise a Money S3 order of 1, 100 and 1,000 items.

Baseline: a bare lxml build of the very same tree (same tags and texts, no logic), so the
ratio shows what our checks and formatting cost on top of lxml itself.
Goal: 1,000 items under 50 ms and within 1.5x of the bare build.

    python -m bench.xml_build
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from lxml import etree

from bench.report import LoadWatch, Spread, interleaved, publish
from webhook.moneys3.builder import XML_DECLARATION, ExportOptions, build_order_document
from webhook.order import Address, Customer, Order, OrderLine

NOW = dt.datetime(2026, 11, 28, 9, 0)
Tree = tuple[str, dict[str, str], str | None, list[Any]]


def order_of(size: int) -> Order:
    lines = tuple(
        OrderLine(
            name=f'Položka číslo {n} – monitor 24" Full HD s dlouhým názvem pro test',
            quantity=Decimal(n % 7 + 1),
            unit_price=Decimal("4500.50") + n,
            vat_rate=Decimal((0, 12, 21)[n % 3]),
            discount_percent=Decimal(n % 15),
            unit="ks",
            note="na místě u zákazníka" if n % 4 == 0 else None,
            product_code=f"MON-{n:05d}" if n % 2 == 0 else None,
        )
        for n in range(size)
    )
    net = sum((line.net_amount for line in lines), Decimal(0))
    gross = sum((line.net_amount * (100 + line.vat_rate) / 100 for line in lines), Decimal(0))
    return Order(
        code="OP-26-001",
        source_id=4821,
        name="Dodávka monitorů a instalace",
        issued=NOW.date(),
        currency="CZK",
        customer=Customer(
            name="Stavební firma Novák s.r.o.",
            address=Address("Dlouhá 12", "Brno", "602 00", "Česká republika", "CZ"),
            reg_number="27182819",
            vat_id="CZ27182819",
            phone="+420 541 000 111",
            email="fakturace@novak-stavby.cz",
            vat_payer=True,
        ),
        lines=lines,
        total_net=net.quantize(Decimal("0.01")),
        total_gross=gross.quantize(Decimal("0.01")),
        salesperson="Petr Svoboda",
    )


def as_tree(element: etree._Element) -> Tree:
    children = [as_tree(child) for child in element]
    attributes = {str(key): str(value) for key, value in element.attrib.items()}
    return (str(element.tag), attributes, element.text, children)


def bare_build(tree: Tree) -> bytes:
    """lxml alone: the same elements and texts, nothing computed."""

    def add(parent: etree._Element, node: Tree) -> None:
        tag, _, text, children = node
        element = etree.SubElement(parent, tag)
        element.text = text
        for child in children:
            add(element, child)

    tag, attributes, _, children = tree
    root = etree.Element(tag, attributes)
    for child in children:
        add(root, child)
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)


def main() -> None:
    rows = []
    options = ExportOptions()
    with LoadWatch() as load:
        for size in (1, 100, 1000):
            order = order_of(size)
            document = build_order_document(order, options, NOW).xml
            tree = as_tree(etree.fromstring(document, etree.XMLParser(remove_blank_text=True)))
            assert bare_build(tree) == document, "the baseline must build the identical document"
            number = max(1, 2000 // (size + 10))
            ours, bare, ratio = interleaved(
                lambda: build_order_document(order, options, NOW),  # noqa: B023
                lambda: bare_build(tree),  # noqa: B023
                15,
                number,
            )
            rows.append(
                [
                    size,
                    Spread(tuple(t * 1000 for t in ours.values)).text(2),
                    Spread(tuple(t * 1000 for t in bare.values)).text(2),
                    ratio.text(2),
                    len(document),
                ]
            )
    publish(
        "xml_build",
        ["items", "bridge ms", "bare lxml ms", "ratio", "bytes"],
        rows,
        {
            "rounds": "15, each timing the bridge then bare lxml: median (spread)",
            "load": load.text(),
            "goal": "1000 items < 50 ms and ratio <= 1.5",
        },
    )


if __name__ == "__main__":
    main()
