"""The RAYNET API client against a local HTTP server speaking RAYNET's JSON."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from webhook.raynet.client import (
    RaynetAuthError,
    RaynetBadResponse,
    RaynetClient,
    RaynetCredentials,
    RaynetNotFound,
    RaynetRateLimited,
    RaynetUnavailable,
)
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
    assert client.company(881).reg_number == "27182818"
    assert client.currency_code("Kč") == "CZK"
    assert client.currency_code("€") == "EUR"
    assert len(raynet.calls("currency/")) == 1  # the list is cached
    request = raynet.calls("businessCase/1234/")[0]
    assert request.headers["x-instance-name"] == raynet.instance
    assert request.headers["authorization"].startswith("Basic ")
    assert client.rate_limit.limit == 24_000
    assert client.rate_limit.remaining is not None


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_never_retried(raynet: RaynetStandIn, status: int) -> None:
    raynet.fail("businessCase/", status, times=5)
    client = client_for(raynet)
    with pytest.raises(RaynetAuthError, match="RAYNET_USERNAME, RAYNET_API_KEY"):
        client.business_case(1234)
    with pytest.raises(RaynetAuthError):
        client.company(881)  # latched: no second bad login
    assert len(raynet.requests) == 1


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


def test_short_429_is_waited_out_as_retry_after_says(raynet: RaynetStandIn) -> None:
    raynet.fail("businessCase/", 429, times=2, headers={"Retry-After": "2"})
    waits: list[float] = []
    client = client_for(raynet, sleep=waits.append)
    assert client.business_case(1234).code == "OP-24-057"
    assert waits == [2.0, 2.0]
    assert len(raynet.calls("businessCase/")) == 3


def test_429_until_the_daily_reset_becomes_a_retry_later(raynet: RaynetStandIn) -> None:
    raynet.fail("businessCase/", 429, headers={"X-Ratelimit-Reset": "2000000000"})
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
    with pytest.raises(RaynetBadResponse, match="envelope"):
        client.company(881)
    raynet.fail("company/", 200, body={"success": "true", "data": {"id": 881}})
    with pytest.raises(RaynetBadResponse, match="name"):
        client.company(881)
    raynet.fail("company/", 400, body={"message": "Unsupported filter column x"})
    with pytest.raises(RaynetBadResponse, match="Unsupported filter column"):
        client.company(881)


def test_unknown_currency_symbol(raynet: RaynetStandIn) -> None:
    with pytest.raises(RaynetBadResponse, match="not in RAYNET's currency list"):
        client_for(raynet).currency_code("₿")


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
