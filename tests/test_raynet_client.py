"""The RAYNET API client against a local HTTP server speaking RAYNET's JSON."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tests.harness import Harness
from webhook.raynet.client import (
    PRODUCT_CODE_SECONDS,
    RaynetAuthError,
    RaynetBadResponse,
    RaynetClient,
    RaynetCredentials,
    RaynetNotFound,
    RaynetPermissionDenied,
    RaynetRateLimited,
    RaynetRefused,
    RaynetUnavailable,
)
from webhook.raynet.schemas import BusinessCaseSchema
from webhook.raynet.standin import RaynetStandIn


def client_for(api: RaynetStandIn, **kwargs: object) -> RaynetClient:
    credentials = RaynetCredentials(
        username=api.username, api_key=api.api_key, instance=api.instance, api_url=api.url
    )
    return RaynetClient(credentials, **kwargs)  # type: ignore[arg-type]


def test_reads_case_company_and_currency_with_auth_headers(raynet: RaynetStandIn) -> None:
    client = client_for(raynet)
    case = client.business_case(1234)
    assert case.total_gross == Decimal("12886.5")  # exact, never through float
    assert client.company(881).reg_number == "27182819"
    assert client.currency(case) == "CZK"
    assert len(raynet.calls("currency/")) == 1  # the list is kept
    request = raynet.calls("businessCase/1234/")[0]
    assert request.headers["x-instance-name"] == raynet.instance
    assert request.headers["authorization"].startswith("Basic ")
    assert client.rate_limit.limit == 24_000
    assert client.rate_limit.remaining is not None


def test_wrong_api_key_makes_one_request_and_no_secret_in_the_message(
    raynet: RaynetStandIn,
) -> None:
    credentials = RaynetCredentials(
        username=raynet.username,
        api_key="wrong-key-123",
        instance=raynet.instance,
        api_url=raynet.url,
    )
    client = RaynetClient(credentials)
    with pytest.raises(RaynetAuthError) as caught:
        client.business_case(1234)
    assert "wrong-key-123" not in str(caught.value)
    assert "wrong-key-123" not in repr(credentials)
    assert len(raynet.requests) == 1


def test_refused_credentials_are_never_retried_and_stop_the_client(
    raynet: RaynetStandIn,
) -> None:
    raynet.fail("businessCase/", 401, times=5)
    client = client_for(raynet)
    with pytest.raises(RaynetAuthError):
        client.business_case(1234)
    with pytest.raises(RaynetAuthError, match="not sent"):
        client.company(881)
    assert len(raynet.requests) == 1


@pytest.mark.parametrize(
    ("body", "stops"),
    [
        ({"message": "Nemáte přístup k tomuto záznamu"}, False),  # about this record
        ({"message": "Invalid API key credentials"}, True),  # about ours
    ],
)
def test_a_403_stops_one_case_unless_it_is_about_the_credentials(
    raynet: RaynetStandIn, body: dict[str, str], stops: bool
) -> None:
    """RAYNET documents a 403 only for the button's token check: elsewhere it refuses that
    one request, and only one naming the credentials is worth stopping every export for."""
    raynet.fail("businessCase/", 403, body=body)
    client = client_for(raynet)
    with pytest.raises(RaynetAuthError if stops else RaynetPermissionDenied):
        client.business_case(1234)
    if stops:
        with pytest.raises(RaynetAuthError):
            client.company(881)
    else:
        assert client.company(881).name == "Stavební firma Novák s.r.o."


def test_short_429_is_waited_out_as_retry_after_says(raynet: RaynetStandIn) -> None:
    raynet.fail("businessCase/", 429, times=2, headers={"Retry-After": "2"})
    waits: list[float] = []
    client = client_for(raynet, sleep=waits.append)
    assert client.business_case(1234).code == "OP-24-057"
    assert waits == [2.0, 2.0]
    assert len(raynet.calls("businessCase/")) == 3


def test_429_with_quota_left_is_the_connection_limit_and_waits_seconds(
    raynet: RaynetStandIn,
) -> None:
    """RAYNET's 429 for a fifth connection carries Remaining in the thousands and the
    midnight Reset: waiting for Reset would hold an export until midnight."""
    raynet.fail("businessCase/", 429, times=2, headers={"X-Ratelimit-Reset": "2000000000"})
    waits: list[float] = []
    client = client_for(raynet, sleep=waits.append, clock=lambda: 1_999_990_000.0)
    assert client.business_case(1234).code == "OP-24-057"
    assert waits == [0.5, 1.0]  # a short backoff, not 10,000 s


def test_429_until_the_daily_reset_becomes_a_retry_later(raynet: RaynetStandIn) -> None:
    raynet.fail(
        "businessCase/",
        429,
        headers={"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "2000000000"},
    )
    waits: list[float] = []
    client = client_for(raynet, sleep=waits.append, clock=lambda: 1_999_990_000.0)
    with pytest.raises(RaynetRateLimited) as caught:
        client.business_case(1234)
    assert caught.value.retry_after == pytest.approx(10_000)
    assert waits == []  # a long wait belongs to the job scheduler, not to a thread


def test_endless_429_gives_up_after_a_few_tries(raynet: RaynetStandIn) -> None:
    raynet.fail("businessCase/", 429, times=10, headers={"Retry-After": "1"})
    client = client_for(raynet, sleep=lambda _: None)
    with pytest.raises(RaynetRateLimited):
        client.business_case(1234)
    assert len(raynet.calls("businessCase/")) == 4


def test_server_errors_and_timeouts_are_transient(raynet: RaynetStandIn) -> None:
    raynet.fail("businessCase/", 503)
    with pytest.raises(RaynetUnavailable, match="503"):
        client_for(raynet).business_case(1234)
    raynet.latency = 0.5
    with pytest.raises(RaynetUnavailable, match="in time"):
        client_for(raynet, timeout=(1.0, 0.1)).business_case(1234)


def test_unreachable_server_is_transient() -> None:
    with RaynetStandIn() as api:
        client = client_for(api)
    with pytest.raises(RaynetUnavailable, match="cannot reach"):
        client.business_case(1)


def test_missing_record_and_garbage(raynet: RaynetStandIn) -> None:
    client = client_for(raynet)
    with pytest.raises(RaynetNotFound):
        client.business_case(999)
    raynet.fail("company/", 200, body=["not", "an", "envelope"])
    with pytest.raises(RaynetBadResponse, match="not shaped as RAYNET documents"):
        client.company(881)
    raynet.fail("company/", 200, body={"success": "true", "data": {"id": 881}})
    with pytest.raises(RaynetBadResponse, match="name"):
        client.company(881)
    raynet.fail("company/", 400, body={"message": "Unsupported filter column x"})
    with pytest.raises(RaynetBadResponse, match="Unsupported filter column"):
        client.company(881)


def case_in(won_case: dict[str, Any], currency_id: int, symbol: str) -> Any:
    return BusinessCaseSchema().load({**won_case, "currency": {"id": currency_id, "value": symbol}})


def test_currency_is_found_by_id_and_odd_rows_are_tolerated(
    raynet: RaynetStandIn, won_case: dict[str, Any]
) -> None:
    """Symbols are editable and two rows may share one; a row the bridge does not need may
    be anything without breaking exports."""
    raynet.currencies += [
        {"id": 30, "code01": "€", "code02": "Euro (staré)", "strValue01": "odd"},
        {"id": "x", "code01": None},
        {"id": 31, "code01": "€", "code02": "eur"},
    ]
    client = client_for(raynet)
    assert client.currency(case_in(won_case, 20, "€")) == "EUR"
    assert client.currency(case_in(won_case, 31, "€")) == "EUR"
    with pytest.raises(RaynetBadResponse, match=r"has the code Euro \(staré\)"):
        client.currency(case_in(won_case, 30, "€"))


def test_unknown_currency_reloads_the_list_once(
    raynet: RaynetStandIn, won_case: dict[str, Any]
) -> None:
    client = client_for(raynet)
    client.currencies()
    raynet.currencies.append({"id": 40, "code01": "CHF", "code02": "CHF"})
    assert client.currency(case_in(won_case, 40, "CHF")) == "CHF"
    with pytest.raises(RaynetBadResponse, match=r"₿ \(id 41\) .* not in RAYNET's currency"):
        client.currency(case_in(won_case, 41, "₿"))
    assert len(raynet.calls("currency/")) == 3


def test_button_token_403_means_not_valid_and_never_stops_the_client(
    raynet: RaynetStandIn,
) -> None:
    client = client_for(raynet)
    token = raynet.issue_button_token(902)
    assert client.check_button_token(token, 902) is True
    assert client.check_button_token(token, 902) is False  # used once already: 403
    assert client.check_button_token("forged", 902) is False
    assert client.business_case(1234).code == "OP-24-057"  # credentials still in use


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"data": True, "success": "true"}, True),  # the 2023 spec
        ({"success": "true"}, True),  # the 2021 documentation
        ({"data": False, "success": "true"}, False),
    ],
)
def test_button_token_answers_in_either_documented_shape(
    raynet: RaynetStandIn, body: dict[str, Any], valid: bool
) -> None:
    raynet.fail("security/checktoken/", 200, body=body)
    assert client_for(raynet).check_button_token("t", 902) is valid


def test_permission_error_is_permanent_with_raynets_message(raynet: RaynetStandIn) -> None:
    raynet.fail(
        "company/",
        500,
        body={
            "message": "AttributeAccessDeniedException",
            "translatedMessage": "Nemáte dostatečná oprávnění pro čtení klienta",
        },
    )
    with pytest.raises(RaynetPermissionDenied, match="Nemáte dostatečná oprávnění"):
        client_for(raynet).company(881)
    assert len(raynet.calls("company/")) == 1


def test_a_page_that_is_not_json_is_transient(raynet: RaynetStandIn) -> None:
    raynet.fail("businessCase/", 200, body="<html><body>Probíhá údržba</body></html>".encode())
    with pytest.raises(RaynetUnavailable, match="not JSON"):
        client_for(raynet).business_case(1234)


def test_redirects_are_not_followed(raynet: RaynetStandIn) -> None:
    with RaynetStandIn(username=raynet.username, api_key=raynet.api_key) as elsewhere:
        raynet.fail("businessCase/", 302, headers={"Location": elsewhere.url + "businessCase/1/"})
        with pytest.raises(RaynetBadResponse, match="redirect"):
            client_for(raynet).business_case(1234)
        assert elsewhere.requests == []  # credentials and instance header went nowhere else


def test_a_slow_answer_is_cut_at_the_deadline(raynet: RaynetStandIn) -> None:
    """Each byte arrives well within the read timeout; the whole answer would take 4 s."""
    raynet.body_seconds = 4.0
    started = time.monotonic()
    with pytest.raises(RaynetUnavailable, match="in time"):
        client_for(raynet, deadline=1.0, timeout=(1.0, 2.0)).business_case(1234)
    assert time.monotonic() - started < 2.0


def test_at_most_three_requests_at_once(raynet: RaynetStandIn) -> None:
    raynet.latency = 0.15
    client = client_for(raynet)
    threads = [threading.Thread(target=client.business_case, args=(1234,)) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(raynet.calls("businessCase/")) == 10
    assert raynet.max_concurrent == 3


# The 500 answers RAYNET's spec documents with a body: each names an application exception.
DOCUMENTED_REFUSALS = [
    {
        "message": "TranslatedApplicationException",
        "translatedMessage": "Nelze synchronizovat, protože obchodní případ je evidován v "
        "jiné měně.",
    },
    {
        "message": "TranslatedApplicationException: exception.duplicateKey",
        "translatedMessage": "Některá z položek není unikátní.",
    },
    {
        "message": "IllegalArgumentException",
        "translatedMessage": "UserAccount#2 is ADMIN. Admin is member of all securityLevels by "
        "default, therefore this operation is not allowed",
    },
]


@pytest.mark.parametrize("body", DOCUMENTED_REFUSALS)
def test_raynets_business_errors_are_permanent_and_keep_its_words(
    raynet: RaynetStandIn, body: dict[str, str]
) -> None:
    raynet.fail("businessCase/", 500, body=body, times=5)
    client = client_for(raynet)
    with pytest.raises(RaynetRefused) as refused:
        client.business_case(1234)
    assert body["translatedMessage"] in str(refused.value)
    assert len(raynet.calls("businessCase/")) == 1  # never retried: it would be refused again
    assert client.company(881).name  # nothing else stops


def test_a_500_that_names_no_exception_is_an_outage(raynet: RaynetStandIn) -> None:
    raynet.fail("businessCase/", 500, body={"message": "Internal Server Error"})
    with pytest.raises(RaynetUnavailable):
        client_for(raynet).business_case(1234)


def test_a_product_code_missing_from_the_case_is_read_from_the_product(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any], caplog: Any
) -> None:
    """RAYNET's English spec shows an item's product without a name; its code may be left
    out too: the product's detail has it."""
    won_case["items"][0]["priceListItem"] = {
        "id": 310,
        "price": 4500,
        "product": {"id": 77, "category": None, "productLine": None},
        "priceList": {"id": 1, "code": "Default"},
    }
    raynet.add_case(won_case)
    raynet.add_product({"id": 77, "code": "MON-24", "name": 'Monitor 24"', "taxRate": 21})
    harness = Harness(raynet, tmp_path)
    harness.webhook()
    with caplog.at_level("INFO"):
        assert harness.drain() == "exported"
    content = (harness.exports / "OP-24-057.xml").read_text(encoding="utf-8")
    assert "<Katalog>MON-24</Katalog>" in content
    assert len(raynet.reads("product/77/")) == 1
    assert "product 77: code read from GET product/77/" in caplog.text


def test_a_product_code_is_read_once_per_ten_minutes(raynet: RaynetStandIn) -> None:
    """A busy catalogue costs a read per product, not per item; a code changed in RAYNET
    reaches orders once PRODUCT_CODE_SECONDS have passed."""
    raynet.add_product({"id": 77, "code": "MON-24", "name": 'Monitor 24"'})
    now = [1_900_000_000.0]
    client = client_for(raynet, clock=lambda: now[0])
    assert [client.product_code(77) for _ in range(3)] == ["MON-24"] * 3
    assert len(raynet.reads("product/77/")) == 1
    raynet.products[77]["code"] = "MON-24B"
    now[0] += PRODUCT_CODE_SECONDS - 1
    assert client.product_code(77) == "MON-24"
    now[0] += 1
    assert client.product_code(77) == "MON-24B"
    assert len(raynet.reads("product/77/")) == 2


@pytest.mark.parametrize(("base", "kurs"), [("CZK", "24.725"), ("EUR", None), (None, None)])
def test_kurs_only_when_raynets_default_currency_is_moneys(
    raynet: RaynetStandIn,
    tmp_path: Path,
    won_case: dict[str, Any],
    base: str | None,
    kurs: str | None,
) -> None:
    """The currency list says nothing of the CRM's default currency (field findings, RAYNET
    API 4): RAYNET_BASE_CURRENCY does."""
    raynet.add_case({**won_case, "currency": {"id": 20, "value": "€"}, "exchangeRate": 24.725})
    harness = Harness(raynet, tmp_path, **({"RAYNET_BASE_CURRENCY": base} if base else {}))
    harness.webhook()
    assert harness.drain() == "exported"
    root = etree.parse(harness.exports / "OP-24-057.xml")
    assert root.findtext("SeznamObjPrij/ObjPrij/Valuty/Mena/Kod") == "EUR"
    assert root.findtext("SeznamObjPrij/ObjPrij/Valuty/Mena/Kurs") == kurs
