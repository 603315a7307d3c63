"""Reading RAYNET's JSON: lenient where RAYNET is, strict on numbers and ids."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from marshmallow import ValidationError

from webhook.raynet.eligibility import skip_reason
from webhook.raynet.schemas import (
    BusinessCaseSchema,
    CompanySchema,
    EnvelopeSchema,
    InvalidWebhook,
    parse_webhook,
)


def test_business_case_becomes_lines_with_exact_amounts(won_case: dict[str, Any]) -> None:
    case = BusinessCaseSchema().load(won_case)
    assert (case.id, case.code, case.status, case.company_id) == (1234, "OP-24-057", "E_WIN", 881)
    assert case.currency_symbol == "Kč"
    monitor, install = case.lines
    assert monitor.product_code == "MON-24"
    assert monitor.discounted_unit_price == Decimal("4050")
    assert install.product_code is None  # an uncategorised item has no priceListItem
    assert install.note == "na místě u zákazníka"
    assert case.total_net == Decimal("10650")
    assert case.total_gross == Decimal("12886.5")


def test_unknown_fields_and_nulls_are_accepted(won_case: dict[str, Any]) -> None:
    won_case["somethingNew"] = {"nested": [1, 2]}
    won_case["items"][0]["sequenceNumber"] = 3
    won_case["items"][0]["discountPercent"] = None
    won_case["owner"] = None
    won_case["currency"] = None
    case = BusinessCaseSchema().load(won_case)
    assert case.lines[0].discount_percent == 0
    assert case.owner_name is None
    assert case.currency_symbol is None


@pytest.mark.parametrize("bad_price", ["4500", True, None, "NaN", float("inf")])
def test_amounts_must_be_json_numbers(won_case: dict[str, Any], bad_price: object) -> None:
    won_case["items"][0]["price"] = bad_price
    with pytest.raises(ValidationError) as caught:
        BusinessCaseSchema().load(won_case)
    messages: Any = caught.value.messages
    assert "price" in messages["items"][0]


@pytest.mark.parametrize("bad_id", ["1234", 12.5, True, 0, -3])
def test_ids_must_be_positive_integers(won_case: dict[str, Any], bad_id: object) -> None:
    won_case["id"] = bad_id
    with pytest.raises(ValidationError):
        BusinessCaseSchema().load(won_case)


def test_discount_outside_0_to_100_is_refused(won_case: dict[str, Any]) -> None:
    won_case["items"][0]["discountPercent"] = 120
    with pytest.raises(ValidationError):
        BusinessCaseSchema().load(won_case)


@pytest.mark.parametrize("success", ["true", True])
def test_envelope_success_as_string_or_bool(success: object) -> None:
    assert EnvelopeSchema().load({"success": success, "data": {}})["success"] is True


def test_company_becomes_customer(company: dict[str, Any]) -> None:
    customer = CompanySchema().load(company)
    assert customer.name == "Stavební firma Novák s.r.o."
    assert (customer.reg_number, customer.vat_id, customer.tax_id) == (
        "27182819",
        "CZ27182819",
        None,
    )
    assert customer.vat_payer is True
    assert customer.natural_person is False
    assert customer.phone == "+420 541 000 111"
    assert customer.address is not None
    assert customer.address.country_code == "CZ"


def test_company_with_only_a_name(company: dict[str, Any]) -> None:
    minimal = {
        "id": company["id"],
        "name": "Jan Novák",
        "person": True,
        "taxPayer": None,
        "regNumber": "  ",
        "primaryAddress": None,
    }
    customer = CompanySchema().load(minimal)
    assert customer.reg_number is None
    assert customer.address is None
    assert customer.vat_payer is None
    assert customer.natural_person is True


def test_eligibility_uses_status_not_phase_name(won_case: dict[str, Any]) -> None:
    won_case["businessCasePhase"] = {"id": 1, "value": "Vyhráno!"}  # renamed phase
    assert skip_reason(BusinessCaseSchema().load(won_case)) is None
    won_case["status"] = "B_ACTIVE"
    won_case["businessCasePhase"] = {"id": 45, "value": "Výhra"}
    reason = skip_reason(BusinessCaseSchema().load(won_case))
    assert reason is not None
    assert (reason.code, str(reason)) == ("not_won", "the deal is not won (status B_ACTIVE)")


def test_won_case_without_items_is_not_exportable(won_case: dict[str, Any]) -> None:
    won_case["items"] = []
    reason = skip_reason(BusinessCaseSchema().load(won_case))
    assert reason is not None
    assert str(reason) == "the deal has no products"


def test_webhook_event_shape() -> None:
    event = parse_webhook(
        {
            "eventId": "5f0c2a9e8d4b4e7a9c1d2e3f4a5b6c7d",
            "createdAt": "2024-05-14T10:32:05.417+02:00",
            "type": "record.updated",
            "author": "petr.svoboda@dodavatel.cz",
            "source": {"name": "user", "description": "browser"},
            "data": {"entityName": "BUSINESSCASE", "entityId": 1234, "extIds": None},
        }
    )
    assert event.is_business_case
    assert (event.event_id, event.entity_id) == ("5f0c2a9e8d4b4e7a9c1d2e3f4a5b6c7d", 1234)


@pytest.mark.parametrize(
    "body",
    [
        {"type": "record.updated", "data": {"entityName": "BusinessCase", "entityId": 1}},
        {
            "eventId": "e1",
            "type": "record.moved",
            "data": {"entityName": "BusinessCase", "entityId": 1},
        },
        {"eventId": "e1", "type": "record.updated", "data": {"entityName": "BusinessCase"}},
        {
            "eventId": "e1",
            "type": "record.updated",
            "data": {"entityName": "BusinessCase", "entityId": "1"},
        },
        {
            "eventId": "../x",
            "type": "record.updated",
            "data": {"entityName": "BusinessCase", "entityId": 1},
        },
        {"eventId": "e1", "type": "record.updated", "data": None},
    ],
)
def test_webhook_event_refusals(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidWebhook):
        parse_webhook(body)
