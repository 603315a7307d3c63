"""Business cases from saved RAYNET API responses, for exporting without network access.

Takes the JSON RAYNET returns for ``GET businessCase/{id}/`` and ``GET company/{id}/``
(the whole answer with ``success``/``data``, or just ``data``).
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError

from webhook.errors import PermanentError, os_error_text
from webhook.i18n import N_
from webhook.order import Customer
from webhook.raynet.schemas import BusinessCase, BusinessCaseSchema, CompanySchema

log = logging.getLogger(__name__)
# Symbols RAYNET shows for common currencies, for when its currency list is not at hand.
WELL_KNOWN_SYMBOLS = {"Kč": "CZK", "€": "EUR", "$": "USD", "£": "GBP", "zł": "PLN", "Ft": "HUF"}


class UnreadableFile(PermanentError):
    """A saved response that is not RAYNET's JSON."""


class SavedResponses:
    def __init__(self, case_file: Path, company_file: Path, currency: str | None = None) -> None:
        try:
            self._case: BusinessCase = _load(BusinessCaseSchema(), case_file)
        except UnreadableFile:
            if _reads_as(CompanySchema(), case_file) and _reads_as(
                BusinessCaseSchema(), company_file
            ):
                raise UnreadableFile(
                    N_(
                        "%(first)s is a company and %(second)s a business case: give the "
                        "business case first, then its company"
                    ),
                    first=str(case_file),
                    second=str(company_file),
                ) from None
            raise
        self._customer: Customer = _load(CompanySchema(), company_file)
        self._currency = currency

    def business_case(self, case_id: int) -> BusinessCase:
        return self._case

    def company(self, company_id: int) -> Customer:
        return self._customer

    def currency(self, case: BusinessCase) -> str:
        """``--currency``, else the ISO code of a well-known symbol."""
        if self._currency:
            return self._currency.upper()
        text = (case.currency_symbol or "").strip()
        if text in WELL_KNOWN_SYMBOLS:
            return WELL_KNOWN_SYMBOLS[text]
        if len(text) == 3 and text.isalpha():
            return text.upper()
        raise PermanentError(
            N_("unknown currency symbol %(symbol)s: pass --currency with its ISO code"),
            symbol=repr(text),
        )

    def product_code(self, product_id: int) -> None:
        """Saved responses hold no product list: an item without its code stays without."""
        log.info("product %s: no code in the saved case, and no API to ask", product_id)

    def custom_field_keys(self) -> dict[str, str]:
        """No configuration at hand: a mapping names the saved ``customFields`` keys."""
        return {}

    @property
    def case_id(self) -> int:
        return self._case.id


def _load(schema: Schema, path: Path) -> Any:
    try:
        raw = json.loads(path.read_bytes(), parse_float=Decimal)
    except OSError as error:
        raise UnreadableFile(
            N_("%(file)s: %(error)s"), file=str(path), error=os_error_text(error)
        ) from None
    except ValueError as error:
        raise UnreadableFile(
            N_("%(file)s: not JSON (%(error)s)"), file=str(path), error=str(error)
        ) from None
    data = raw.get("data", raw) if isinstance(raw, dict) else raw
    try:
        return schema.load(data)
    except ValidationError as error:
        raise UnreadableFile(
            N_("%(file)s: %(error)s"), file=str(path), error=str(error.messages)
        ) from None


def _reads_as(schema: Schema, path: Path) -> bool:
    try:
        _load(schema, path)
    except UnreadableFile:
        return False
    return True
