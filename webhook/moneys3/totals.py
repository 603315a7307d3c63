"""The figures Money S3 will compute from our file, checked against RAYNET's totals.

Money S3 stores amounts with at most 4 decimals and computes each line as quantity × unit
price. We write the discounted unit price, so the line amounts come out exactly as in
RAYNET whenever that price fits in 4 decimals (always so for whole-percent discounts on
prices in hundredths). When it does not, or RAYNET's figures disagree with its own items,
the order is refused rather than sent to accounting with other totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from webhook.errors import InvalidOrder
from webhook.i18n import N_
from webhook.order import HUNDRED, Order

FOUR_PLACES = Decimal("0.0001")
CENT = Decimal("0.01")
TOLERANCE = CENT
MAX_AMOUNT = Decimal(10) ** 11  # castkaType: 15 digits, 4 of them decimals


class TotalsMismatch(InvalidOrder):
    """The lines do not add up to RAYNET's totals."""


@dataclass(frozen=True)
class LineFigures:
    """A line as the file states it: quantity and unit price after discount."""

    quantity: Decimal
    unit_price: Decimal

    @property
    def net(self) -> Decimal:
        return self.quantity * self.unit_price


def document_figures(order: Order) -> tuple[LineFigures, ...]:
    """Each line's figures as written to the file (at most 4 decimals, as Money stores)."""
    figures = []
    for position, line in enumerate(order.lines, start=1):
        if line.quantity <= 0:
            raise InvalidOrder(
                N_(
                    "item %(position)s (%(item)s): quantity %(quantity)s; an order line needs a "
                    "quantity above zero (a discount belongs in the item's discount); fix it in "
                    "RAYNET"
                ),
                position=position,
                item=line.name,
                quantity=str(line.quantity),
            )
        if line.quantity != line.quantity.quantize(FOUR_PLACES):
            raise InvalidOrder(
                N_(
                    "item %(position)s (%(item)s): quantity %(quantity)s has more than 4 decimals, "
                    "which Money S3 cannot store"
                ),
                position=position,
                item=line.name,
                quantity=str(line.quantity),
            )
        price = line.discounted_unit_price.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)
        if abs(line.quantity * price) >= MAX_AMOUNT or abs(line.unit_price) >= MAX_AMOUNT:
            raise InvalidOrder(
                N_("item %(position)s (%(item)s): amount too large for Money S3"),
                position=position,
                item=line.name,
            )
        figures.append(LineFigures(line.quantity, price))
    return tuple(figures)


@dataclass(frozen=True)
class DocumentTotals:
    net: Decimal
    gross: Decimal


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _rounded_at_end(amounts: list[Decimal]) -> Decimal:
    return _round(sum(amounts, Decimal(0)))


def _rounded_per_line(amounts: list[Decimal]) -> Decimal:
    return sum((_round(amount) for amount in amounts), Decimal(0))


# RAYNET does not document whether its totals round once or line by line; either is a
# correct total, as long as our document is compared under the same one.
CONVENTIONS = (_rounded_at_end, _rounded_per_line)


def check_totals(order: Order, figures: tuple[LineFigures, ...]) -> DocumentTotals:
    """The totals Money S3 will compute, or ``TotalsMismatch`` if they differ from RAYNET's.

    Two checks per total. RAYNET's figure must follow from its own items (under either
    rounding convention; it does not say which it uses). And our document must give the
    same figure as RAYNET's exact items under every convention, since Money S3 does not
    document its convention either.
    """
    exact_nets = [line.net_amount for line in order.lines]
    document_nets = [line.net for line in figures]
    rates = [(HUNDRED + line.vat_rate) / HUNDRED for line in order.lines]
    exact_grosses = [net * rate for net, rate in zip(exact_nets, rates, strict=True)]
    document_grosses = [net * rate for net, rate in zip(document_nets, rates, strict=True)]
    for label, theirs, exact, ours in (
        (N_("without VAT"), order.total_net, exact_nets, document_nets),
        (N_("with VAT"), order.total_gross, exact_grosses, document_grosses),
    ):
        if not any(abs(c(exact) - theirs) <= TOLERANCE for c in CONVENTIONS):
            raise TotalsMismatch(
                N_(
                    "totals do not match for %(case)s: RAYNET's items make %(items)s %(currency)s "
                    "%(label)s, its total says %(theirs)s; nothing was exported"
                ),
                case=order.code,
                items=str(_rounded_at_end(exact)),
                currency=order.currency,
                label=label,
                theirs=str(theirs),
            )
        if ours != exact and any(abs(c(ours) - c(exact)) > TOLERANCE for c in CONVENTIONS):
            raise TotalsMismatch(
                N_(
                    "totals do not match for %(case)s: in Money S3 the items would make %(ours)s "
                    "%(currency)s %(label)s instead of %(exact)s%(hint)s; nothing was exported"
                ),
                case=order.code,
                ours=str(_rounded_at_end(ours)),
                currency=order.currency,
                label=label,
                exact=str(_rounded_at_end(exact)),
                hint=_rounding_hint(order),
            )
    return DocumentTotals(
        net=_rounded_at_end(document_nets), gross=_rounded_at_end(document_grosses)
    )


def _rounding_hint(order: Order) -> str:
    for position, line in enumerate(order.lines, start=1):
        price = line.discounted_unit_price
        if price != price.quantize(FOUR_PLACES):
            return (
                f" (item {position}: the discounted unit price {line.discounted_unit_price} "
                "has more than 4 decimals)"
            )
    return ""
