"""The one path every export takes: case → eligibility → order → XML → delivery.

The webhook worker, the manual ``export`` and ``render`` commands all call
``export_case``; only where the case comes from and where the file goes differ.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import quote

from webhook.delivery import Target
from webhook.delivery.naming import file_name
from webhook.errors import BridgeError, InvalidOrder, PermanentError
from webhook.moneys3.builder import ExportOptions, build_order_document, case_code_in
from webhook.moneys3.numbering import OrderNumbering, document_number
from webhook.moneys3.validation import DocumentValidator
from webhook.order import CaseSummary, Customer, Order
from webhook.raynet.eligibility import SkipReason, skip_reason
from webhook.raynet.schemas import BusinessCase, CaseCurrency


class CaseSource(Protocol):
    """Where business cases come from: the RAYNET API, or saved responses."""

    def business_case(self, case_id: int) -> BusinessCase: ...

    def company(self, company_id: int) -> Customer: ...

    def currency(self, case: BusinessCase) -> CaseCurrency:
        """The ISO code of a case's currency (which it has), and what its rate converts into."""


class DeliveryConflict(PermanentError):
    """The file name is taken by another case's order."""


@dataclass(frozen=True)
class Exported:
    case_code: str
    file_name: str
    location: str
    sha256: str
    created: bool  # False: this very order had been delivered before (a retry after a crash)
    summary: CaseSummary = field(default_factory=CaseSummary)


@dataclass(frozen=True)
class Skipped:
    case_code: str
    reason: SkipReason
    summary: CaseSummary = field(default_factory=CaseSummary)


Outcome = Exported | Skipped


@dataclass(frozen=True)
class Renderer:
    """Turns a won case into a checked Money S3 document."""

    options: ExportOptions
    validator: DocumentValidator | None = None
    now: Callable[[], dt.datetime] = dt.datetime.now

    def order(self, case: BusinessCase, source: CaseSource) -> Order:
        if case.company_id is None:
            raise InvalidOrder(f"business case {case.code} has no client; set one in RAYNET")
        customer = source.company(case.company_id)
        currency = (
            source.currency(case)
            if case.currency_id is not None
            else CaseCurrency(self.options.home_currency)
        )
        return case.to_order(customer, currency, today=self.now().date())

    def document(self, order: Order) -> bytes:
        document = build_order_document(order, self.options, self.now())
        if self.validator is not None:
            self.validator.validate(document)
        return document

    def summary(self, order: Order) -> CaseSummary:
        """The order as the dashboard lists it, with its number in Money S3."""
        numbered = self.options.numbering is OrderNumbering.CASE
        return CaseSummary(
            name=order.name,
            customer=order.customer.name,
            total_with_vat=order.total_gross,
            currency=order.currency,
            doklad=document_number(order.code, order.source_id, self.options.number_prefix)
            if numbered
            else None,
        )


def export_case(
    case_id: int,
    source: CaseSource,
    renderer: Renderer,
    target: Target,
    generation: int | None = 1,
) -> Outcome:
    """Export one business case.

    ``generation`` n delivers the n-th file of the case exactly once (``<code>.xml``,
    ``<code>+2.xml``, ...); None takes the first free name, for a deliberate manual export.
    """
    case = source.business_case(case_id)
    reason = skip_reason(case)
    if reason is not None:
        return Skipped(case.code, reason, case.summary())
    try:
        order = renderer.order(case, source)
        document = renderer.document(order)
        exported = deliver(case, document, target, generation)
        return replace(exported, summary=renderer.summary(order))
    except BridgeError as error:
        error.case_code = case.code  # the dashboard shows which case, not just its id
        raise


def deliver(
    case: BusinessCase, document: bytes, target: Target, generation: int | None
) -> Exported:
    """Publish under the case's file name; a file already there must be this case's."""
    digest = hashlib.sha256(document).hexdigest()
    metadata = {
        "raynet-case-id": str(case.id),
        "raynet-case-code": quote(case.code, safe=""),
        "sha256": digest,
    }
    for number in itertools.count(1) if generation is None else (generation,):
        name = file_name(case.code, number)
        publication = target.publish(name, document, metadata)
        if publication.created:
            return Exported(case.code, name, publication.location, digest, created=True)
        existing = target.read(name)
        if case_code_in(existing) != case.code:
            raise DeliveryConflict(
                f"{publication.location} already holds an order of another case; "
                f"{case.code} was not exported"
            )
        if generation is not None:
            existing_digest = hashlib.sha256(existing).hexdigest()
            return Exported(case.code, name, publication.location, existing_digest, False)
    raise AssertionError("unreachable")  # pragma: no cover
