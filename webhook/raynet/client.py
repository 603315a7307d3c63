"""A small, careful client for the RAYNET CRM REST API v2.

RAYNET's limits shape it: 24,000 requests a day, 4 concurrent connections per client (we
take at most 3), and 20 bad logins block our IP for an hour, so a 401 is never retried and
sets the ``CredentialsLatch`` every process shares: nothing more is sent with those
credentials until it is lifted. JSON numbers are read as ``Decimal``.

What a status means depends on the endpoint (RAYNET's OpenAPI spec, field findings R1/R2):
a 403 from ``security/checktoken`` says the button token is unknown, expired or used, never
that our credentials are wrong; a 403 elsewhere stops that request's case, and only one
that names the credentials stops the client; a 429 is the connection limit while the day's
quota lasts and the quota itself only when ``X-Ratelimit-Remaining`` is 0; a 500 naming one
of RAYNET's application exceptions (``AttributeAccessDeniedException``,
``TranslatedApplicationException``, ``IllegalArgumentException``) is RAYNET refusing this
request for a business reason, which no retry fixes: its ``translatedMessage`` says why.

Longer than our usual module on purpose: RAYNET's meaning of each status, endpoint by
endpoint, reads best next to the transport that receives it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import requests
import urllib3
from marshmallow import Schema, ValidationError
from requests.adapters import HTTPAdapter

from webhook.errors import PermanentError, TransientError
from webhook.i18n import N_
from webhook.order import Customer
from webhook.raynet.schemas import (
    WON_STATUS,
    BusinessCase,
    BusinessCaseSchema,
    CaseChange,
    CaseChangeSchema,
    CompanySchema,
    Currency,
    CurrencySchema,
    CustomFieldSchema,
    EnvelopeSchema,
    ProductSchema,
    WebhookListSchema,
    Webhooks,
)

DEFAULT_API_URL = "https://app.raynet.cz/api/v2/"
PAGE_SIZE = 1000  # RAYNET's largest page
DAILY_LIMIT = 24_000  # requests a day, unless RAYNET's headers say otherwise
CREDENTIAL_VARIABLES = "RAYNET_USERNAME, RAYNET_API_KEY and RAYNET_INSTANCE"
PERMISSION_DENIED = "AttributeAccessDeniedException"
# The application exceptions RAYNET documents as 500 answers (the spec's examples): each is
# a refusal of this very request, not an outage.
BUSINESS_ERRORS = ("TranslatedApplicationException", "IllegalArgumentException")
CREDENTIAL_WORDS = ("credential", "api key", "apikey", "authenticat", "unauthori", "login")
MAX_BODY = 32 * 1024 * 1024  # a business case with thousands of items is far below this
CURRENCY_LIST_SECONDS = 3600.0  # currencies are rarely added; a miss reloads at once
CUSTOM_FIELDS_SECONDS = 3600.0  # the custom field configuration, likewise
# A product's code (Money S3's Katalog) is read for each case that names the product without
# it; kept 10 minutes, so that a busy catalogue costs a read per product, not per item, and
# a code changed in RAYNET reaches orders within that time.
PRODUCT_CODE_SECONDS = 600.0
log = logging.getLogger(__name__)


class RaynetAuthError(PermanentError):
    """401 (or 403 outside the button check): wrong credentials. Never retried (IP block)."""


class RaynetPermissionDenied(PermanentError):
    """RAYNET's own words for a right the API user lacks (500 AttributeAccessDeniedException),
    or a 403 about one record."""


class RaynetRefused(PermanentError):
    """RAYNET refused this request for a reason of its own (a 500 naming
    ``TranslatedApplicationException`` or ``IllegalArgumentException``): its
    ``translatedMessage`` says why; a retry would be refused the same way."""


class RaynetNotFound(PermanentError):
    """The record does not exist (deleted, or an id from another instance)."""


class RaynetBadResponse(PermanentError):
    """RAYNET answered with something we cannot read as documented."""


class RaynetUnavailable(TransientError):
    """5xx, timeout, connection failure or a page that is not JSON: try again later."""


class RaynetRateLimited(TransientError):
    """429 that would need a longer wait than is sensible inside one job."""


class CredentialsLatch(Protocol):
    """Shared by every process that uses the same credentials (``worker/gate.py``)."""

    def refused_since(self) -> float | None:
        """When RAYNET refused the credentials, while that stop is on."""

    def refuse(self) -> None: ...

    def lift(self) -> None:
        """RAYNET answered a probe: the credentials are good again."""


class _ProcessLatch:
    """The latch of a client that shares no state (``export``, ``check``): this process."""

    def __init__(self) -> None:
        self._since: float | None = None

    def refused_since(self) -> float | None:
        return self._since

    def refuse(self) -> None:
        self._since = time.time()

    def lift(self) -> None:
        self._since = None


@dataclass(frozen=True)
class RaynetCredentials:
    username: str
    api_key: str = field(repr=False)
    instance: str
    api_url: str = DEFAULT_API_URL

    def case_url(self, case_id: int) -> str:
        """The case's page in RAYNET's web app (the API's host, the instance's path)."""
        parts = urlsplit(self.api_url)
        query = urlencode({"view": "DetailView", "en": "BusinessCase", "ei": case_id})
        return f"{parts.scheme}://{parts.netloc}/{quote(self.instance, safe='')}/?{query}"


@dataclass
class RateLimitStatus:
    """The latest ``X-Ratelimit-*`` figures RAYNET sent, for metrics and ``check``."""

    limit: int | None = None
    remaining: int | None = None

    def running_low(self, reserve: float = 0.1) -> bool:
        """Whether less than ``reserve`` of the day's requests is left: what is left is kept
        for exports (sweeps and button checks stop)."""
        return self.remaining is not None and self.remaining < (self.limit or DAILY_LIMIT) * reserve


@dataclass(frozen=True)
class _Answer:
    """An HTTP answer already read in full: status, headers, JSON body (None if not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any
    text: str


class RaynetClient:
    """Reads business cases, companies and currencies, writes back what became of a case;
    thread-safe.

    ``deadline`` bounds a whole request, however slowly RAYNET sends its answer; ``timeout``
    (connect, read) bounds each wait for the network within it.
    """

    def __init__(
        self,
        credentials: RaynetCredentials,
        *,
        max_concurrency: int = 3,
        timeout: tuple[float, float] = (5.0, 20.0),
        deadline: float = 30.0,
        max_inline_wait: float = 10.0,
        max_rate_limit_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        on_request: Callable[[int | None, float, RateLimitStatus], None] | None = None,
        latch: CredentialsLatch | None = None,
    ) -> None:
        self._credentials = credentials
        self._base = credentials.api_url.rstrip("/") + "/"
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._timeout = timeout
        self._deadline = deadline
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
        self._latch: CredentialsLatch = latch or _ProcessLatch()
        self._currencies: dict[int, Currency] | None = None
        self._currencies_until = 0.0
        self._custom_fields: dict[str, str] | None = None
        self._custom_fields_until = 0.0
        self._product_codes: dict[int, tuple[str | None, float]] = {}  # id → (code, until)
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
        """Whether RAYNET issued this custom-button token to this person (valid once, 60 s).

        200 ``{"data": true}`` (or, as documented in 2021, ``{"success": "true"}`` alone)
        confirms it; 403 ``AccessTokenNotFoundException`` and ``data: false`` deny it.
        """
        path = f"security/checktoken/{quote(token, safe='')}/{person_id}/"
        answer = self._exchange("GET", path, latching=False)
        if answer.status == 403:
            return False
        if answer.status == 401:  # about the request, not worth stopping every export for
            raise RaynetAuthError(N_("RAYNET refused GET %(path)s (401)"), path=path)
        envelope = self._envelope("GET", path, self._success(answer, "GET", path))
        data = envelope["data"]
        return data is True or (data is None and envelope["success"])

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

    def webhooks(self) -> Webhooks:
        """The instance's webhooks and technical contacts (``GET webhook/``)."""
        data = self._get_data("webhook/")
        hooks: Webhooks = self._load(WebhookListSchema(), data or {}, "webhooks")
        return hooks

    def create_webhook(self, url: str, secret_token: str, events: list[str]) -> str:
        """``PUT webhook/``; returns the new webhook's uuid."""
        data = self._data(
            "PUT", "webhook/", {"url": url, "secretToken": secret_token, "events": events}
        )
        if not isinstance(data, dict) or not data.get("uuid"):
            raise RaynetBadResponse(N_("PUT webhook/: RAYNET's answer has no uuid"))
        return str(data["uuid"])

    def delete_webhook(self, uuid: str) -> None:
        self._data("DELETE", f"webhook/{quote(uuid, safe='')}/")

    def set_technical_contacts(self, emails: list[str]) -> None:
        """Who RAYNET e-mails after a day of failed webhook deliveries (it deletes the
        webhook after seven)."""
        self._data("POST", "webhook/technicalContact/", {"technicalContacts": emails})

    def probe_credentials(self) -> bool:
        """Ask RAYNET once whether it takes the credentials again (one cheap request, made
        while the latch is on); lifts the latch if it does."""
        answer = self._exchange("GET", "currency/", params={"limit": 1}, probing=True)
        if answer.status == 401:
            self._latch.refuse()
            return False
        self._latch.lift()
        return True

    def currencies(self) -> dict[int, Currency]:
        """RAYNET's currency list by row id (one request, then kept for an hour)."""
        with self._lock:
            if self._currencies is not None and self._clock() < self._currencies_until:
                return self._currencies
        rows = self._get_data("currency/", params={"limit": PAGE_SIZE})
        loaded = {row.id: row for row in _lenient_rows(CurrencySchema(), rows)}
        with self._lock:
            self._currencies = loaded
            self._currencies_until = self._clock() + CURRENCY_LIST_SECONDS
        return loaded

    def currency(self, case: BusinessCase) -> str:
        """The case's currency as an ISO code, found by the row id (symbols are editable and
        two rows may share one). A miss reloads the list once: a currency may be new."""
        assert case.currency_id is not None
        row = self.currencies().get(case.currency_id)
        if row is None:
            with self._lock:
                self._currencies_until = 0.0
            row = self.currencies().get(case.currency_id)
        if row is None:
            raise RaynetBadResponse(
                N_(
                    "the currency %(symbol)s (id %(id)s) of business case %(case)s is not in "
                    "RAYNET's currency list"
                ),
                symbol=case.currency_symbol or "?",
                id=case.currency_id,
                case=case.code,
            )
        code = row.iso_code
        if code is None:
            raise RaynetBadResponse(
                N_(
                    "RAYNET's currency %(symbol)s (id %(id)s) has the code %(code)s, not an ISO "
                    "4217 code like EUR; correct it in RAYNET's currency list"
                ),
                symbol=row.symbol or "?",
                id=row.id,
                code=row.code or "?",
            )
        return code

    def product_code(self, product_id: int) -> str | None:
        """A product's code (``GET product/{id}/``), for an item whose price-list item names
        the product without its code. Kept PRODUCT_CODE_SECONDS."""
        with self._lock:
            kept, until = self._product_codes.get(product_id, (None, 0.0))
            if self._clock() < until:
                return kept
        data = self._get_data(f"product/{product_id}/")
        product: dict[str, Any] = self._load(ProductSchema(), data, f"product {product_id}")
        log.info("product %s: code read from GET product/%s/", product_id, product_id)
        code: str | None = product["code"]
        with self._lock:
            self._product_codes[product_id] = (code, self._clock() + PRODUCT_CODE_SECONDS)
        return code

    def custom_field_keys(self) -> dict[str, str]:
        """Business-case custom fields, the name users see → RAYNET's generated key
        (``GET customField/config/``; one request, then kept for an hour)."""
        with self._lock:
            if self._custom_fields is not None and self._clock() < self._custom_fields_until:
                return self._custom_fields
        data = self._get_data("customField/config/")
        rows = (data or {}).get("BusinessCase") if isinstance(data, dict) else None
        keys = {row["label"]: row["name"] for row in _lenient_rows(CustomFieldSchema(), rows or [])}
        with self._lock:
            self._custom_fields = keys
            self._custom_fields_until = self._clock() + CUSTOM_FIELDS_SECONDS
        return keys

    # --- write-back ---------------------------------------------------------------------

    def add_external_id(self, case_id: int, external_id: str) -> None:
        """``PUT businessCase/{id}/extId/``: the case carries ``external_id`` from now on
        (in its detail and in every webhook about it, as ``extIds``)."""
        self._write("PUT", f"businessCase/{case_id}/extId/", {"extId": external_id})

    def remove_external_id(self, case_id: int, external_id: str) -> None:
        """``DELETE businessCase/{id}/extId/{extId}``: a record holds at most 10 external ids,
        so a re-export replaces the bridge's earlier one instead of adding another."""
        self._write("DELETE", f"businessCase/{case_id}/extId/{quote(external_id, safe='')}")

    def add_post(self, case_id: int, comment: str) -> None:
        """``PUT businessCase/{id}/post/``: a post in the case's discussion (201)."""
        self._write("PUT", f"businessCase/{case_id}/post/", {"comment": comment})

    def posts(self, case_id: int) -> list[str]:
        """The comments of the case's discussion (``GET businessCase/{id}/post/``)."""
        rows = self._get_data(f"businessCase/{case_id}/post/")
        return [str(row.get("comment") or "") for row in rows or () if isinstance(row, dict)]

    def lock_business_case(self, case_id: int) -> None:
        """``POST businessCase/{id}/lock``: nobody edits the case until it is unlocked."""
        self._write("POST", f"businessCase/{case_id}/lock")

    def unlock_business_case(self, case_id: int) -> None:
        """``POST businessCase/{id}/unlock``: before a re-export writes to a locked case."""
        self._write("POST", f"businessCase/{case_id}/unlock")

    # --- transport ----------------------------------------------------------------------

    def _write(self, method: str, path: str, json_body: Any = None) -> Any:
        """A write: a 2xx answer with RAYNET's envelope, or with no body at all (``lock``
        documents none); the envelope's data, if any."""
        answer = self._exchange(method, path, json=json_body)
        body = self._success(answer, method, path)
        return None if body is None else self._envelope(method, path, body)["data"]

    def _get_data(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._data("GET", path, params=params)

    def _data(
        self, method: str, path: str, json_body: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        """The ``data`` of RAYNET's ``{"success": ..., "data": ...}`` answer."""
        answer = self._exchange(method, path, params=params, json=json_body)
        return self._envelope(method, path, self._success(answer, method, path))["data"]

    def _success(self, answer: _Answer, method: str, path: str) -> Any:
        """The body of a 2xx answer; what any other status means on a data endpoint."""
        status = answer.status
        if status == 403:  # undocumented outside checktoken: about this record, unless...
            text = _error_text(answer)
            if any(word in text.casefold() for word in CREDENTIAL_WORDS):
                raise self._refused(status, method, path)
            raise RaynetPermissionDenied(
                N_("RAYNET refused %(request)s (403): %(text)s"),
                request=f"{method} {path}",
                text=text,
            )
        if status == 404:
            raise RaynetNotFound(N_("%(request)s: not found in RAYNET"), request=f"{method} {path}")
        if not 200 <= status < 300:
            raise RaynetBadResponse(
                N_("RAYNET answered %(status)s to %(request)s: %(text)s"),
                status=status,
                request=f"{method} {path}",
                text=_error_text(answer),
            )
        return answer.body

    @staticmethod
    def _envelope(method: str, path: str, body: Any) -> dict[str, Any]:
        try:
            envelope: dict[str, Any] = EnvelopeSchema().load(body)
        except ValidationError as error:
            raise RaynetBadResponse(
                N_("%(request)s: an answer not shaped as RAYNET documents it (%(problem)s)"),
                request=f"{method} {path}",
                problem=str(error.messages),
            ) from None
        if not envelope["success"]:
            raise RaynetBadResponse(
                N_("%(request)s: RAYNET answered success=false"), request=f"{method} {path}"
            )
        return envelope

    def _exchange(
        self, method: str, path: str, *, latching: bool = True, probing: bool = False, **kwargs: Any
    ) -> _Answer:
        """One logical call: waits out short 429s; maps what means the same on every
        endpoint (401, redirects, 5xx, an answer that is not JSON) to our errors. Nothing
        is sent while the credentials latch is on, but a probe."""
        if not probing and self._latch.refused_since() is not None:
            raise RaynetAuthError(
                N_(
                    "RAYNET refused the credentials (%(request)s not sent): check "
                    "%(variables)s; no requests are sent until they change, a replay, or RAYNET "
                    "takes them again"
                ),
                request=f"{method} {path}",
                variables=CREDENTIAL_VARIABLES,
            )
        url = self._base + path
        for attempt in range(self._max_rate_limit_retries + 1):
            answer = self._send(method, url, path, **kwargs)
            if answer.status != 429:
                break
            wait, quota_spent = self._rate_limit_wait(answer.headers, attempt)
            last = attempt == self._max_rate_limit_retries
            if quota_spent or last or wait > self._max_inline_wait:
                why = "the day's API quota is spent" if quota_spent else "too many connections"
                raise RaynetRateLimited(
                    N_("RAYNET's rate limit (%(why)s; 429 on %(request)s); retry in %(wait)s s"),
                    retry_after=wait,
                    why=why,
                    request=f"{method} {path}",
                    wait=f"{wait:.0f}",
                )
            self._sleep(wait)
        status = answer.status
        if 300 <= status < 400:
            raise RaynetBadResponse(
                N_(
                    "RAYNET answered %(status)s to %(request)s (a redirect to %(location)s); is "
                    "RAYNET_API_URL right?"
                ),
                status=status,
                request=f"{method} {path}",
                location=answer.headers.get("Location", "?"),
            )
        if status == 401 and probing:
            return answer
        if status == 401:
            if not latching:
                return answer
            raise self._refused(status, method, path)
        if status >= 500:
            exception, message = _application_exception(answer.body)
            if exception == PERMISSION_DENIED:
                raise RaynetPermissionDenied(
                    N_(
                        "RAYNET refused %(request)s: %(said)s (a right the API user %(user)s "
                        "lacks; grant it in RAYNET)"
                    ),
                    request=f"{method} {path}",
                    said=message,
                    user=self._credentials.username,
                )
            if exception is not None:
                raise RaynetRefused(
                    N_("RAYNET refused %(request)s: %(said)s (%(exception)s)"),
                    request=f"{method} {path}",
                    said=message,
                    exception=exception,
                )
            raise RaynetUnavailable(
                N_("RAYNET answered %(status)s to %(request)s"),
                status=status,
                request=f"{method} {path}",
            )
        if 200 <= status < 300 and answer.body is None and answer.text.strip():
            raise RaynetUnavailable(
                N_(
                    "RAYNET answered %(request)s with a page that is not JSON (maintenance?); is "
                    "RAYNET_API_URL right?"
                ),
                request=f"{method} {path}",
            )
        return answer

    def _refused(self, status: int, method: str, path: str) -> RaynetAuthError:
        """Wrong credentials: the latch goes on, so that nothing more is sent with them."""
        self._latch.refuse()
        return RaynetAuthError(
            N_(
                "RAYNET refused the credentials (%(status)s on %(request)s): check %(variables)s; "
                "no further requests are sent until they change"
            ),
            status=status,
            request=f"{method} {path}",
            variables=CREDENTIAL_VARIABLES,
        )

    def _send(self, method: str, url: str, path: str, **kwargs: Any) -> _Answer:
        started = time.perf_counter()
        status: int | None = None
        with self._lock:
            self.requests_sent += 1
        try:
            with self._slots:
                deadline = time.monotonic() + self._deadline
                response = self._session.request(
                    method,
                    url,
                    timeout=(self._timeout[0], min(self._timeout[1], self._deadline)),
                    allow_redirects=False,
                    stream=True,
                    **kwargs,
                )
                try:
                    content = _read_body(response, deadline, self._timeout[1])
                finally:
                    response.close()
            status = response.status_code
            self._remember_rate_limit(response.headers)
        except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
            raise RaynetUnavailable(
                N_("RAYNET did not answer %(request)s in time"), request=f"{method} {path}"
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            reason = type(error).__name__
            raise RaynetUnavailable(
                N_("cannot reach RAYNET for %(request)s: %(reason)s"),
                request=f"{method} {path}",
                reason=reason,
            ) from None
        finally:
            if self._on_request is not None:
                self._on_request(status, time.perf_counter() - started, self.rate_limit)
        try:
            body = json.loads(content, parse_float=Decimal) if content else None
        except ValueError:
            body = None
        text = content[:500].decode("utf-8", "replace")
        return _Answer(status, response.headers, body, text)

    def _rate_limit_wait(self, headers: Mapping[str, str], attempt: int) -> tuple[float, bool]:
        """How long to wait after a 429, and whether the day's quota is what ran out.

        RAYNET answers 429 for more than 4 connections as well as for the daily quota; only
        ``X-Ratelimit-Remaining: 0`` means the quota, which resets at ``X-Ratelimit-Reset``.
        """
        remaining = _integer(headers.get("X-Ratelimit-Remaining"))
        if remaining is not None and remaining <= 0:
            reset = _integer(headers.get("X-Ratelimit-Reset"))
            return (max(1.0, reset - self._clock()) if reset else 3600.0), True
        retry_after = (headers.get("Retry-After") or "").strip()
        if retry_after.isdigit():
            return float(retry_after), False
        if retry_after:
            try:
                when = email.utils.parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                pass
            else:
                return max(0.0, when.timestamp() - self._clock()), False
        return min(8.0, 0.5 * 2**attempt), False  # a connection frees up in moments

    def _remember_rate_limit(self, headers: Mapping[str, str]) -> None:
        for attribute, header in (
            ("limit", "X-Ratelimit-Limit"),
            ("remaining", "X-Ratelimit-Remaining"),
        ):
            value = _integer(headers.get(header))
            if value is not None:
                setattr(self.rate_limit, attribute, value)

    @staticmethod
    def _load(schema: Schema, data: Any, what: str) -> Any:
        try:
            return schema.load(data)
        except ValidationError as error:
            raise RaynetBadResponse(
                N_("%(what)s: data not shaped as RAYNET documents it (%(problem)s)"),
                what=what,
                problem=str(error.messages),
            ) from None


def _read_body(response: requests.Response, deadline: float, read_timeout: float) -> bytes:
    """The whole body by ``deadline``: every wait for data is cut to the time that is left,
    so a RAYNET that sends slowly cannot hold a worker past its deadline."""
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        connection = raw.connection
        if connection is not None and connection.sock is not None:
            connection.sock.settimeout(min(read_timeout, left))
        chunk = raw.read1(64 * 1024, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise RaynetBadResponse(
                N_("RAYNET's answer is larger than %(most)s bytes"), most=MAX_BODY
            )
        chunks.append(chunk)


def _lenient_rows(schema: Schema, rows: Any) -> Iterator[Any]:
    """Each row the schema can read; a row the bridge cannot read never spoils the others."""
    if not isinstance(rows, list):
        raise RaynetBadResponse(
            N_("RAYNET answered %(kind)s where a list was expected"), kind=type(rows).__name__
        )
    for row in rows:
        try:
            yield schema.load(row)
        except ValidationError:
            continue


def _application_exception(body: Any) -> tuple[str | None, str]:
    """The application exception a 500 names (``message``: ``TranslatedApplicationException:
    exception.duplicateKey``), and RAYNET's words for it (``translatedMessage``)."""
    if not isinstance(body, dict):
        return None, ""
    message = str(body.get("message") or "")
    named = next((name for name in (PERMISSION_DENIED, *BUSINESS_ERRORS) if name in message), None)
    if named is None:
        return None, ""
    return named, str(body.get("translatedMessage") or message)[:300]


def _integer(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


def _error_text(answer: _Answer) -> str:
    """RAYNET's own error message, if it sent one in its documented shape."""
    body = answer.body
    if isinstance(body, dict):
        return str(body.get("translatedMessage") or body.get("message") or body)[:200]
    if body is not None:
        return str(body)[:200]
    return answer.text[:200] or "no details"
