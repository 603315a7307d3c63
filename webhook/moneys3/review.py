"""What Money S3 would make of an order, looked at before it is written.

Two things a valid file can still get wrong in a real agenda:

- **VAT rates.** An order carries the agenda's zero, reduced and standard rates
  (``SazbaDPH1``/``SazbaDPH2``, ``MONEY_S3_VAT_RATES``) and at most four further ones (a
  historic 15 %, another EU state's rate; ``__Comtypes.xsd``, ``SeznamDalsiSazby``). A line
  at a further rate is legal, but Money S3 takes it only if the agenda knows that rate: the
  order goes out with a caveat, or waits with ``MONEY_S3_STRICT_VAT=1``. More further rates
  than a document holds always wait.
- **The customer's numbers.** Money S3 finds the customer's address card by IČO: a wrong
  check digit, or a DIČ of the wrong shape, makes it create a second card. A caveat, or a
  wait with ``MONEY_S3_STRICT_IDS=1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from webhook.i18n import N_
from webhook.order import Caveat, Customer, Order, Reason

FURTHER_RATES = 4  # "seznam dalších sazeb může standardně obsahovat max. 4 sazby"
ZERO = Decimal(0)
_ICO = re.compile(r"^\d{1,8}$")
_VAT_ID = {"CZ": re.compile(r"^CZ\d{8,10}$"), "SK": re.compile(r"^SK\d{10}$")}
_SK_TAX_ID = re.compile(r"^\d{10}$")
_PREFIXED = re.compile(r"^[A-Z]{2}")
CZECHOSLOVAK = (None, "CZ", "SK")  # where IČO has its check digit (no country: a Czech agenda)


@dataclass(frozen=True)
class VatRates:
    """The agenda's reduced and standard rates (``SazbaDPH1``, ``SazbaDPH2``)."""

    reduced: Decimal = Decimal(12)
    standard: Decimal = Decimal(21)

    def known(self) -> frozenset[Decimal]:
        return frozenset((ZERO, self.reduced, self.standard))

    def __str__(self) -> str:
        return ", ".join(f"{_percent(rate)} %" for rate in (self.reduced, self.standard))


@dataclass(frozen=True)
class Review:
    """What to tell the accountant about an order, or why it must wait. Caveat values named
    ``what`` and ``why`` are catalogue texts, translated where they are shown."""

    caveats: tuple[Caveat, ...] = ()
    hold: Reason | None = None


def review(order: Order, rates: VatRates, *, strict_vat: bool, strict_ids: bool) -> Review:
    caveats: list[Caveat] = []
    further = _further_rates(order, rates)
    if len(further) > FURTHER_RATES:
        return Review(
            hold=Reason(
                "vat_rates_too_many",
                N_(
                    "the deal has %(count)s VAT rates besides the agenda's (%(rates)s); a "
                    "Money S3 order holds at most 4 further rates: split the deal in RAYNET"
                ),
                {"count": len(further), "rates": ", ".join(f"{r} %" for r in further)},
            )
        )
    for rate, positions in further.items():
        values = {"rate": rate, "items": ", ".join(map(str, positions)), "known": str(rates)}
        if strict_vat:
            line = order.lines[positions[0] - 1]
            return Review(
                hold=Reason(
                    "vat_rate_unknown",
                    N_(
                        "item %(item)s (%(name)s) has VAT %(rate)s %%, not one of the "
                        "agenda's rates (%(known)s); correct it in RAYNET, or let it through "
                        "with MONEY_S3_STRICT_VAT=0 once Money S3 knows the rate"
                    ),
                    {**values, "item": positions[0], "name": line.name.strip() or "–"},
                )
            )
        caveats.append(Caveat("vat_rate_further", values))
    for problem in customer_number_problems(order.customer):
        if strict_ids:
            return Review(
                hold=Reason(
                    "customer_number",
                    N_(
                        "the customer's %(what)s %(value)s is not valid (%(why)s): Money S3 "
                        "would make a second address card; correct it in RAYNET"
                    ),
                    problem.values,
                )
            )
        caveats.append(problem)
    caveats += [
        Caveat("custom_field_unknown", {"name": name})
        for name in order.bookkeeping.unknown_custom_fields
    ]
    return Review(caveats=tuple(caveats))


def _further_rates(order: Order, rates: VatRates) -> dict[str, list[int]]:
    """Each VAT rate the agenda may not have, with the items (1-based) that use it."""
    known = rates.known()
    found: dict[str, list[int]] = {}
    for position, line in enumerate(order.lines, start=1):
        if line.vat_rate not in known:
            found.setdefault(_percent(line.vat_rate), []).append(position)
    return found


def customer_number_problems(customer: Customer) -> list[Caveat]:
    """The customer's IČO, DIČ / IČ DPH and Slovak DIČ that cannot be right."""
    country = (customer.address.country_code or "").strip().upper() if customer.address else ""
    problems: list[Caveat] = []

    def doubt(what: str, value: str, why: str) -> None:
        problems.append(Caveat("customer_number", {"what": what, "value": value, "why": why}))

    ico = "".join((customer.reg_number or "").split())
    if ico and (country or None) in CZECHOSLOVAK:
        if not _ICO.match(ico):
            doubt("IČO", ico, N_("an IČO has up to 8 digits"))
        elif not ico_check_digit_ok(ico):
            doubt("IČO", ico, N_("its check digit does not match"))
    vat_id = "".join((customer.vat_id or "").split()).upper()
    if vat_id:
        prefix = vat_id[:2]
        if prefix in _VAT_ID and not _VAT_ID[prefix].match(vat_id):
            shape = N_("CZ and 8 to 10 digits") if prefix == "CZ" else N_("SK and 10 digits")
            doubt(N_("VAT id"), vat_id, shape)
        elif not _PREFIXED.match(vat_id) and (country or None) in CZECHOSLOVAK:
            doubt(N_("VAT id"), vat_id, N_("it lacks its country code (CZ, SK)"))
    tax_id = "".join((customer.tax_id or "").split())
    if tax_id and not _SK_TAX_ID.match(tax_id):
        doubt(N_("Slovak DIČ"), tax_id, N_("a Slovak DIČ has 10 digits"))
    return problems


def ico_check_digit_ok(ico: str) -> bool:
    """The Czech and Slovak IČO's last digit: 11 − (weighted sum mod 11), modulo 10."""
    digits = [int(char) for char in ico.zfill(8)]
    total = sum(digit * weight for digit, weight in zip(digits[:7], range(8, 1, -1), strict=True))
    return (11 - total % 11) % 10 == digits[7]


def _percent(rate: Decimal) -> str:
    return format(rate.normalize(), "f")
