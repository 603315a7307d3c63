"""The one path every export takes: case → eligibility → order → review → XML → delivery.

``Exporter.export`` reads top to bottom. The worker, the Export button, the manual
``export`` and ``render`` commands all call it; only where the case comes from (the RAYNET
API or saved responses) and where the file goes (a folder, S3, standard output) differ.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import quote

from webhook.delivery.naming import file_name
from webhook.delivery.target import Target
from webhook.errors import BridgeError, InvalidOrder, PermanentError
from webhook.i18n import N_
from webhook.moneys3.builder import Document, ExportOptions, build_order_document, carries_case
from webhook.moneys3.numbering import OrderNumbering, document_number
from webhook.moneys3.review import Review, review
from webhook.moneys3.validation import DocumentValidator
from webhook.order import (
    CaseSummary,
    Caveat,
    Change,
    Customer,
    Order,
    OrderDigest,
    Reason,
    order_changes,
)
from webhook.raynet import external_ids
from webhook.raynet.eligibility import skip_reason
from webhook.raynet.mapping import BookkeepingMap
from webhook.raynet.schemas import BusinessCase, CaseCurrency


class CaseSource(Protocol):
    """Where business cases come from: the RAYNET API, or saved responses."""

    def business_case(self, case_id: int) -> BusinessCase: ...

    def company(self, company_id: int) -> Customer: ...

    def currency(self, case: BusinessCase) -> str:
        """The ISO code of a case's currency (which it has)."""

    def product_code(self, product_id: int) -> str | None:
        """The code of a product an item names without one."""

    def custom_field_keys(self) -> dict[str, str]:
        """Business-case custom fields: the name users see → RAYNET's key."""


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
    caveats: tuple[Caveat, ...] = ()
    written_back: bool = False  # RAYNET carries this file's external id: it was announced
    digest: OrderDigest | None = None  # the order delivered, to tell a later change

    @property
    def announced(self) -> bool:
        """Whether what follows a file (e-mail, posts) happened for this one before: it was
        there already and RAYNET knows it. A file written before a crash is not."""
        return not self.created and self.written_back


@dataclass(frozen=True)
class Skipped:
    case_code: str
    reason: Reason
    summary: CaseSummary = field(default_factory=CaseSummary)


Outcome = Exported | Skipped


@dataclass(frozen=True)
class Renderer:
    """Turns a won case into a checked Money S3 document."""

    options: ExportOptions
    bookkeeping: BookkeepingMap = field(default_factory=BookkeepingMap)
    raynet_base_currency: str | None = None  # RAYNET_BASE_CURRENCY: what rates convert into
    validator: DocumentValidator | None = None
    now: Callable[[], dt.datetime] = dt.datetime.now

    def order(self, case: BusinessCase, source: CaseSource) -> Order:
        if case.company_id is None:
            raise InvalidOrder(
                N_("business case %(case)s has no client; set one in RAYNET"), case=case.code
            )
        customer = source.company(case.company_id)
        code = self.options.home_currency
        if case.currency_id is not None:
            code = source.currency(case)
        custom_keys = source.custom_field_keys() if self.bookkeeping.custom_labels() else {}
        product_codes = {
            product_id: found
            for _, product_id in case.products_without_code
            if (found := source.product_code(product_id))
        }
        return case.to_order(
            customer,
            CaseCurrency(code, self.raynet_base_currency),
            today=self.now().date(),
            bookkeeping=self.bookkeeping.resolve(case.fields, custom_keys),
            product_codes=product_codes,
        )

    def review(self, order: Order) -> Review:
        options = self.options
        return review(
            order, options.vat_rates, strict_vat=options.strict_vat, strict_ids=options.strict_ids
        )

    def document(self, order: Order) -> Document:
        document = build_order_document(order, self.options, self.now())
        if self.validator is not None:
            self.validator.validate(document.xml)
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


@dataclass(frozen=True)
class Exporter:
    """Where cases come from, how they become documents, and where the files go."""

    source: CaseSource
    renderer: Renderer
    target: Target

    def export(self, case_id: int, generation: int | None = 1) -> Outcome:
        """Export one business case.

        ``generation`` n delivers the n-th file of the case exactly once (``<code>.xml``,
        ``<code>+2.xml``, ...); None takes the first free name, for a deliberate manual
        export.
        """
        case = self.source.business_case(case_id)
        reason = skip_reason(case)
        if reason is not None:
            return Skipped(case.code, reason, case.summary())
        try:
            order = self.renderer.order(case, self.source)
            summary = self.renderer.summary(order)
            checked = self.renderer.review(order)
            if checked.hold is not None:
                return Skipped(case.code, checked.hold, summary)
            document = self.renderer.document(order)
            exported = deliver(case, document.xml, self.target, generation)
        except BridgeError as error:
            error.case_code = case.code  # the dashboard shows which case, not just its id
            raise
        return replace(
            exported,
            summary=summary,
            caveats=checked.caveats + document.caveats,
            written_back=external_ids.for_file(exported.file_name) in case.external_ids,
            digest=OrderDigest.of(order),
        )

    def changes_since(self, case_id: int, delivered: OrderDigest) -> tuple[Change, ...]:
        """How the deal differs now from the order delivered: read again, made into the
        order it would be now, compared; nothing is delivered."""
        case = self.source.business_case(case_id)
        reason = skip_reason(case)
        if reason is not None:  # lost, or its products removed, since
            return (Change("no_longer_exportable", reason.code, str(reason)),)
        try:
            order = self.renderer.order(case, self.source)
        except PermanentError as error:  # its client removed, its totals broken, ...
            return (Change("no_longer_exportable", error.reason.code, str(error)),)
        return order_changes(delivered, OrderDigest.of(order))


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
        if not carries_case(existing, case.code):
            raise DeliveryConflict(
                N_(
                    "%(location)s already holds an order of another case; %(case)s was not exported"
                ),
                location=publication.location,
                case=case.code,
            )
        if generation is not None:
            existing_digest = hashlib.sha256(existing).hexdigest()
            return Exported(case.code, name, publication.location, existing_digest, False)
    raise AssertionError("unreachable")  # pragma: no cover
