"""The order's number in Money S3 (``Doklad``): what makes importing a file twice harmless.

Money S3's default import definition matches received orders by ``Doklad``: an order whose
``Doklad`` Money already has is left alone, and one without ``Doklad`` is added again at every
import (Money's ``_KonfigZpracImport.xml``). So by default every order carries a number that
is a pure function of the deal, the same in every file made of it:

- the RAYNET case code, when it fits Money's 10 characters and Money can store it as it is
  (``OP-24-057``);
- otherwise ``<prefix>#<RAYNET id of the case>`` (``R#48213``). A code holding ``#`` is never
  used as it is, so the two forms never meet; RAYNET codes and ids are unique within an
  instance, and each instance of a deployment has its own prefix.

``MONEY_S3_ORDER_NUMBER=money`` leaves ``Doklad`` out: Money numbers the order from its own
series, and every import of a file adds an order.
"""

from __future__ import annotations

import enum

from webhook.errors import InvalidOrder
from webhook.i18n import N_
from webhook.moneys3.text import in_charset

DOKLAD_LENGTH = 10
MARK = "#"
DEFAULT_PREFIX = "R"


class OrderNumbering(enum.Enum):
    CASE = "case"  # Doklad from the RAYNET case: re-imports are recognised
    MONEY = "money"  # no Doklad: Money's number series, every import adds an order


def document_number(code: str, source_id: int, prefix: str = DEFAULT_PREFIX) -> str:
    """``Doklad`` for the deal with this RAYNET ``code`` and record id."""
    text = code.strip()
    usable = text.isprintable() and in_charset(text)
    if text and len(text) <= DOKLAD_LENGTH and MARK not in text and usable:
        return text
    number = f"{prefix}{MARK}{source_id}"
    if len(number) > DOKLAD_LENGTH:
        raise InvalidOrder(
            N_(
                "business case %(case)s cannot be numbered in Money S3: its code does not fit the "
                "%(length)s characters of Doklad and neither does %(number)s; shorten "
                "MONEY_S3_ORDER_PREFIX"
            ),
            case=repr(code),
            length=DOKLAD_LENGTH,
            number=number,
        )
    return number
