"""A small, careful client for the RAYNET CRM REST API v2.

RAYNET's limits shape it: 24,000 requests a day, 4 concurrent connections per client (we
take at most 3), and 20 bad logins block our IP for an hour, so a 401 is never retried and
latches the client shut. JSON numbers are read as ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
from marshmallow import Schema, ValidationError
from requests.adapters import HTTPAdapter

from webhook.errors import PermanentError, TransientError
from webhook.order import Customer
from webhook.raynet.schemas import (
    WON_STATUS,
    BusinessCase,
    BusinessCaseSchema,
    CaseChange,
    CaseChangeSchema,
    CompanySchema,
    CurrencySchema,
    EnvelopeSchema,
    WebhookSchema,
)

DEFAULT_API_URL = "https://app.raynet.cz/api/v2/"
PAGE_SIZE = 1000  # RAYNET's largest page
CREDENTIAL_VARIABLES = "RAYNET_USERNAME, RAYNET_API_KEY and RAYNET_INSTANCE"


class RaynetAuthError(PermanentError):
    """401/403: wrong credentials or missing rights. Never retried (IP block risk)."""


class RaynetNotFound(PermanentError):
    """The record does not exist (deleted, or an id from another instance)."""


class RaynetBadResponse(PermanentError):
    """RAYNET answered with something we cannot read as documented."""


class RaynetUnavailable(TransientError):
    """5xx, timeout or connection failure: try again later."""


class RaynetRateLimited(TransientError):
    """429 that would need a longer wait than is sensible inside one job."""


@dataclass(frozen=True)
class RaynetCredentials:
    username: str
    api_key: str = field(repr=False)
    instance: str
    api_url: str = DEFAULT_API_URL


@dataclass
class RateLimitStatus:
    """The latest ``X-Ratelimit-*`` figures RAYNET sent, for metrics and ``check``."""

    limit: int | None = None
    remaining: int | None = None


class RaynetClient:
    """Reads business cases, companies and currencies; thread-safe."""

    def __init__(
        self,
        credentials: RaynetCredentials,
        *,
        max_concurrency: int = 3,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_inline_wait: float = 10.0,
        max_rate_limit_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        on_request: Callable[[int | None, float, RateLimitStatus], None] | None = None,
    ) -> None:
        self._credentials = credentials
        self._base = credentials.api_url.rstrip("/") + "/"
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._timeout = timeout
        self._max_inline_wait = max_inline_wait
        self._max_rate_limit_retries = max_rate_limit_retries
        self._sleep = sleep
        self._clock = clock
        self._on_request = on_request
        self._session = requests.Session()
        self._session.auth = (credentials.username, credentials.api_key)
        self._session.headers.update(
            {"X-Instance-Name": credentials.instance, "Accept": "application/json"}
        )
        adapter = HTTPAdapter(pool_maxsize=max_concurrency, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._auth_failure: RaynetAuthError | None = None
        self._currencies: dict[str, str] | None = None
        self._lock = threading.Lock()
        self.rate_limit = RateLimitStatus()
        self.requests_sent = 0  # counted against RAYNET's daily limit

    # --- public reads -------------------------------------------------------------------

    def business_case(self, case_id: int) -> BusinessCase:
        data = self._get_data(f"businessCase/{case_id}/")
        case: BusinessCase = self._load(BusinessCaseSchema(), data, f"business case {case_id}")
        return case

    def company(self, company_id: int) -> Customer:
        data = self._get_data(f"company/{company_id}/")
        customer: Customer = self._load(CompanySchema(), data, f"company {company_id}")
        return customer

    def check_button_token(self, token: str, person_id: int) -> bool:
        """Whether RAYNET issued this custom-button token to this person (valid once, 60 s)."""
        data = self._get_data(f"security/checktoken/{quote(token, safe='')}/{person_id}/")
        return data is True

    def won_cases_changed_since(self, since: dt.datetime) -> Iterator[CaseChange]:
        """Won business cases modified after ``since``, page by page (1,000 a request)."""
        offset = 0
        while True:
            rows = self._get_data(
                "businessCase/",
                params={
                    "status": WON_STATUS,
                    "rowInfo.lastModifiedAt[GT]": since.astimezone(dt.UTC).isoformat(
                        timespec="seconds"
                    ),
                    "dateFormat": "ISO8601",
                    "sortColumn": "id",
                    "sortDirection": "ASC",
                    "offset": offset,
                    "limit": PAGE_SIZE,
                },
            )
            page: list[CaseChange] = self._load(
                CaseChangeSchema(many=True), rows, "business case list"
            )
            yield from page
            if len(page) < PAGE_SIZE:
                return
            offset += PAGE_SIZE

    def webhooks(self) -> list[dict[str, Any]]:
        """The instance's webhooks (``GET webhook/``)."""
        data = self._get_data("webhook/")
        rows = data.get("webhooks", []) if isinstance(data, dict) else []
        loaded: list[dict[str, Any]] = self._load(WebhookSchema(many=True), rows, "webhooks")
        return loaded

    def create_webhook(self, url: str, secret_token: str, events: list[str]) -> str:
        """``PUT webhook/``; returns the new webhook's uuid."""
        data = self._data(
            "PUT", "webhook/", {"url": url, "secretToken": secret_token, "events": events}
        )
        if not isinstance(data, dict) or not data.get("uuid"):
            raise RaynetBadResponse("PUT webhook/: no uuid in the answer")
        return str(data["uuid"])

    def delete_webhook(self, uuid: str) -> None:
        self._data("DELETE", f"webhook/{quote(uuid, safe='')}/")

    def currencies(self) -> dict[str, str]:
        """RAYNET's currency list, symbol → ISO code (one request, then cached)."""
        with self._lock:
            currencies = self._currencies
        if currencies is None:
            rows = self._get_data("currency/", params={"limit": PAGE_SIZE})
            loaded = self._load(CurrencySchema(many=True), rows, "currency list")
            currencies = {row["code01"].strip(): row["code02"].upper() for row in loaded}
            with self._lock:
                self._currencies = currencies
        return currencies

    def currency_code(self, symbol: str) -> str:
        """ISO code for a currency symbol as RAYNET shows it (``Kč`` → ``CZK``)."""
        try:
            return self.currencies()[symbol.strip()]
        except KeyError:
            raise RaynetBadResponse(
                f"currency {symbol!r} of the business case is not in RAYNET's currency list"
            ) from None

    # --- transport ----------------------------------------------------------------------

    def _get_data(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._data("GET", path, params=params)

    def _data(
        self, method: str, path: str, json_body: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        """The ``data`` of RAYNET's ``{"success": ..., "data": ...}`` answer."""
        body = self._request(method, path, params=params, json=json_body)
        try:
            envelope = EnvelopeSchema().load(body)
        except ValidationError as error:
            raise RaynetBadResponse(
                f"{method} {path}: unexpected envelope {error.messages}"
            ) from None
        if not envelope["success"]:
            raise RaynetBadResponse(f"{method} {path}: RAYNET answered success=false")
        return envelope["data"]

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One logical call: waits out short 429s, maps failures to our error types."""
        if self._auth_failure is not None:
            raise self._auth_failure
        url = self._base + path
        for attempt in range(self._max_rate_limit_retries + 1):
            response = self._send(method, url, path, **kwargs)
            if response.status_code != 429:
                return self._decode(method, path, response)
            wait = self._rate_limit_wait(response)
            if wait > self._max_inline_wait or attempt == self._max_rate_limit_retries:
                raise RaynetRateLimited(
                    f"RAYNET rate limit reached (429 on {method} {path}); retry in {wait:.0f} s",
                    retry_after=wait,
                )
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, url: str, path: str, **kwargs: Any) -> requests.Response:
        started = time.perf_counter()
        status: int | None = None
        with self._lock:
            self.requests_sent += 1
        try:
            with self._slots:
                response = self._session.request(method, url, timeout=self._timeout, **kwargs)
            status = response.status_code
            self._remember_rate_limit(response)
        except requests.Timeout:
            raise RaynetUnavailable(f"RAYNET did not answer {method} {path} in time") from None
        except requests.RequestException as error:
            reason = type(error).__name__
            raise RaynetUnavailable(f"cannot reach RAYNET for {method} {path}: {reason}") from None
        finally:
            if self._on_request is not None:
                self._on_request(status, time.perf_counter() - started, self.rate_limit)
        return response

    def _decode(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        if status in (401, 403):
            error = RaynetAuthError(
                f"RAYNET refused the credentials ({status} on {method} {path}): check "
                f"{CREDENTIAL_VARIABLES}; no further requests are sent until they change"
            )
            self._auth_failure = error
            raise error
        if status == 404:
            raise RaynetNotFound(f"{method} {path}: not found in RAYNET")
        if status >= 500:
            raise RaynetUnavailable(f"RAYNET answered {status} to {method} {path}")
        if not 200 <= status < 300:
            raise RaynetBadResponse(
                f"RAYNET answered {status} to {method} {path}: {_error_text(response)}"
            )
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise RaynetBadResponse(
                f"{method} {path}: the answer is not JSON; is RAYNET_API_URL right?"
            ) from None

    def _rate_limit_wait(self, response: requests.Response) -> float:
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            if retry_after.strip().isdigit():
                return float(retry_after)
            when = email.utils.parsedate_to_datetime(retry_after)
            return max(0.0, when.timestamp() - self._clock())
        reset = response.headers.get("X-Ratelimit-Reset")
        if reset and reset.strip().isdigit():
            return max(1.0, int(reset) - self._clock())
        return 1.0  # the 4-connection limit: a moment is enough

    def _remember_rate_limit(self, response: requests.Response) -> None:
        headers = response.headers
        for attribute, header in (
            ("limit", "X-Ratelimit-Limit"),
            ("remaining", "X-Ratelimit-Remaining"),
        ):
            value = headers.get(header, "").strip()
            if value.isdigit():
                setattr(self.rate_limit, attribute, int(value))

    @staticmethod
    def _load(schema: Schema, data: Any, what: str) -> Any:
        try:
            return schema.load(data)
        except ValidationError as error:
            raise RaynetBadResponse(f"{what}: unexpected data {error.messages}") from None


def _error_text(response: requests.Response) -> str:
    """RAYNET's own error message, if it sent one in its documented shape."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or "no details"
    if isinstance(body, dict):
        return str(body.get("translatedMessage") or body.get("message") or body)[:200]
    return str(body)[:200]
