"""A local stand-in for the RAYNET CRM API v2, speaking its documented JSON over HTTP.

Used by the tests, the benchmarks and ``python -m webhook demo``: it checks the Basic
credentials and ``X-Instance-Name`` like RAYNET, sends ``X-Ratelimit-*`` headers, and can
be told to fail (429 with ``Retry-After``, 5xx, slow answers) to exercise the client.
It binds to 127.0.0.1 only.

Every answer follows RAYNET's published OpenAPI spec (``../shared/raynet-openapi``;
``tests/test_standin_contract.py`` checks it with openapi-core). Where the spec is silent,
a comment says so and names the source of what the stand-in does instead. One module on
purpose: the whole fake RAYNET, routes and data, is read side by side with the spec.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

DAILY_LIMIT = 24_000
_DECIMAL_MARK = "\u0000decimal:"

# GET currency/ rows as the spec's example shows them (id, code01, code02, strValue01). No
# row says which currency is the CRM's default (field findings, RAYNET API 4, corrected).
DEFAULT_CURRENCIES = [
    {"id": 15, "code01": "Kč", "code02": "CZK", "strValue01": "Česká koruna"},
    {"id": 20, "code01": "€", "code02": "EUR", "strValue01": "Euro"},
    {"id": 17, "code01": "$", "code02": "USD", "strValue01": "Americký dolar"},
    {"id": 21, "code01": "zł", "code02": "PLN", "strValue01": "Polský zlotý"},
    {"id": 22, "code01": "Ft", "code02": "HUF", "strValue01": "Maďarský forint"},
]
# Query parameters of the lists the bridge reads: paging and the date format are every
# list's (the spec's introduction); GET businessCase/ documents its filters. Anything else
# RAYNET answers 400 "Unsupported filter column" (the spec's example for every list).
LIST_PARAMETERS = ("offset", "limit", "dateFormat")
CASE_LIST_FILTERS = (
    "sortColumn", "sortDirection", "fulltext", "code", "name", "company", "project",
    "category", "owner", "validFrom", "validTill", "scheduledEnd", "status",
    "businessCasePhase", "businessCaseType", "containsProduct", "productCategory",
    "productLine", "rowInfo.createdAt", "rowInfo.updatedAt", "rowInfo.lastModifiedAt",
    "rowInfo.rowAccess", "view",
)  # fmt: skip
FILTER_OPERATORS = (
    "EQ", "EQ_OR_NULL", "NE", "NE_OR_NULL", "LT", "LE", "GT", "GE", "LIKE", "LIKE_NOCASE",
    "IN", "NOT_IN", "CUSTOM",
)  # fmt: skip
_FILTER = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<operator>[A-Z_]+)\])?$")
TOKEN_NOT_FOUND = {"message": "AccessTokenNotFoundException: Access token not found"}
RATE_LIMITED = {  # the spec's "Limity API" section
    "type": "RequestLimitReached",
    "message": "API request limit reached. See the X-RateLimit-* headers and check out the "
    "API documentation for more details.",
}
# The spec documents no body for 401 and 404; these follow RAYNET's error shape
# ({"message": ...}, as in its 400, 403 and 500 examples).
UNAUTHORIZED = {"message": "Unauthorized"}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Exchange:
    """One request and the answer it got, as they crossed the wire (for contract tests)."""

    method: str
    target: str  # path and query string
    headers: dict[str, str]
    body: bytes
    status: int
    answer_headers: dict[str, str]
    answer: bytes


@dataclass
class Fault:
    """Answer ``status`` instead of the real response, ``times`` times, on matching paths."""

    path_pattern: str
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON; ``bytes`` are sent as they are, as an HTML page
    after_doing_it: bool = False  # the request is carried out, only its answer is lost
    stall: float = 0.0  # seconds before the answer (a client may give up, or die, meanwhile)


class RaynetStandIn:
    """``with RaynetStandIn() as api: api.url ...``; add cases and companies as JSON dicts."""

    def __init__(
        self,
        *,
        username: str = "api@example.cz",
        api_key: str | None = None,
        instance: str = "standin",
        latency: float = 0.0,
        body_seconds: float = 0.0,
    ) -> None:
        self.username = username
        self.api_key = api_key or secrets.token_hex(12)
        self.instance = instance
        self.latency = latency
        self.body_seconds = body_seconds  # > 0: the body trickles out over this long
        self.cases: dict[int, dict[str, Any]] = {}
        self.companies: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.custom_fields: list[dict[str, Any]] = []  # BusinessCase's, as customField/config/
        self.currencies: list[dict[str, Any]] = list(DEFAULT_CURRENCIES)
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.technical_contacts: list[str] = []
        self.button_tokens: dict[tuple[str, int], float] = {}
        self.posts: dict[int, list[dict[str, Any]]] = {}  # business case id -> its discussion
        self.locked: set[int] = set()
        self.sent_webhooks: list[dict[str, Any]] = []  # what RAYNET would post after writes
        self.requests: list[RecordedRequest] = []
        self.exchanges: list[Exchange] = []
        self.remaining = DAILY_LIMIT
        self.max_concurrent = 0
        self._concurrent = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> RaynetStandIn:
        handler = type("Handler", (_Handler,), {"api": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RaynetStandIn:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/v2/"

    def environment(self) -> dict[str, str]:
        """The variables that point the bridge at this stand-in."""
        return {
            "RAYNET_API_URL": self.url,
            "RAYNET_USERNAME": self.username,
            "RAYNET_API_KEY": self.api_key,
            "RAYNET_INSTANCE": self.instance,
        }

    # --- data and behaviour -------------------------------------------------------------

    def add_case(self, case: dict[str, Any]) -> None:
        with self._lock:
            self.cases[int(case["id"])] = case

    def add_company(self, company: dict[str, Any]) -> None:
        with self._lock:
            self.companies[int(company["id"])] = company

    def add_product(self, product: dict[str, Any]) -> None:
        with self._lock:
            self.products[int(product["id"])] = product

    def fail(
        self,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        after_doing_it: bool = False,
        stall: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests whose path matches with ``status``; with
        ``after_doing_it``, once each was carried out (a write whose answer was lost); with
        ``stall``, that many seconds late."""
        with self._lock:
            self._faults.append(
                Fault(path_pattern, status, times, headers or {}, body, after_doing_it, stall)
            )

    def issue_button_token(self, person_id: int) -> str:
        """A one-time token as RAYNET puts into a custom button URL (valid 60 s, once)."""
        token = secrets.token_hex(16)
        with self._lock:
            self.button_tokens[(token, person_id)] = time.time() + 60
        return token

    def reads(self, path: str) -> list[RecordedRequest]:
        """The GET requests of exactly ``path`` (a record's detail, not its sub-resources)."""
        with self._lock:
            return [r for r in self.requests if r.method == "GET" and r.path == path]

    def calls(self, path_prefix: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    # --- request handling ---------------------------------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if re.search(fault.path_pattern, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _authorised(self, headers: dict[str, str]) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.api_key}".encode()).decode()
        return (
            headers.get("authorization") == f"Basic {expected}"
            and headers.get("x-instance-name") == self.instance
        )

    def _rate_headers(self) -> dict[str, str]:
        tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        reset = dt.datetime.combine(tomorrow, dt.time(), tzinfo=dt.UTC)
        return {
            "X-Ratelimit-Limit": str(DAILY_LIMIT),
            "X-Ratelimit-Remaining": str(self.remaining),
            "X-Ratelimit-Reset": str(int(reset.timestamp())),
        }

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(target)
        path = parts.path.removeprefix("/api/v2/")
        query = dict(parse_qsl(parts.query))
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, headers, body))
            self.remaining = max(0, self.remaining - 1)
        if not self._authorised(headers):
            return 401, {}, UNAUTHORIZED
        fault = self._take_fault(path)
        if fault is None:
            return self._route(method, path, query, body)
        if fault.after_doing_it:
            self._route(method, path, query, body)
        time.sleep(fault.stall)
        default = RATE_LIMITED if fault.status == 429 else {"message": f"fault {fault.status}"}
        return fault.status, fault.headers, default if fault.body is None else fault.body

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"businessCase/(\d+)/", lambda m: self._detail(self.cases, m)),
            ("GET", r"company/(\d+)/", lambda m: self._detail(self.companies, m)),
            ("GET", r"product/(\d+)/", lambda m: self._detail(self.products, m)),
            ("GET", r"customField/config/", lambda m: self._custom_field_config()),
            ("GET", r"currency/", lambda m: self._list(self.currencies, query)),
            ("GET", r"businessCase/", lambda m: self._case_list(query)),
            ("GET", r"webhook/", lambda m: self._webhook_list()),
            ("PUT", r"webhook/", lambda m: self._webhook_create(body)),
            ("DELETE", r"webhook/([0-9a-f]+)/", lambda m: self._webhook_delete(m[1])),
            ("POST", r"webhook/technicalContact/", lambda m: self._technical_contact(body)),
            ("GET", r"security/checktoken/([^/]+)/(\d+)/", self._check_token),
            ("PUT", r"businessCase/(\d+)/extId/", lambda m: self._add_external_id(m, body)),
            ("DELETE", r"businessCase/(\d+)/extId/(.+)", self._remove_external_id),
            ("PUT", r"businessCase/(\d+)/post/", lambda m: self._add_post(m, body)),
            ("GET", r"businessCase/(\d+)/post/", self._post_list),
            ("POST", r"businessCase/(\d+)/lock", lambda m: self._set_locked(m, locked=True)),
            ("POST", r"businessCase/(\d+)/unlock", lambda m: self._set_locked(m, locked=False)),
        ]
        for route_method, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                result: tuple[int, dict[str, str], Any] = action(match)
                return result
        return 404, {}, {"message": f"No route for {method} {path}"}

    def _detail(
        self, table: dict[int, dict[str, Any]], match: re.Match[str]
    ) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            record = table.get(int(match[1]))
        if record is None:
            return 404, {}, {"message": "EntityNotFoundException"}  # spec: no 404 body
        return 200, {}, {"success": "true", "data": record}

    def _custom_field_config(self) -> tuple[int, dict[str, str], Any]:
        """``GET customField/config/``: every entity's custom fields (only BusinessCase's
        are kept here), as the spec's example shows them."""
        entities = ("Company", "Person", "BusinessCase", "Offer", "SalesOrder", "Product")
        with self._lock:
            data = {
                name: list(self.custom_fields) if name == "BusinessCase" else []
                for name in entities
            }
        return 200, {}, {"success": True, "data": data}

    def _list(
        self,
        rows: list[dict[str, Any]],
        query: dict[str, str],
        filters: tuple[str, ...] = (),
    ) -> tuple[int, dict[str, str], Any]:
        for key in query:
            match = _FILTER.match(key)
            name = match["name"] if match else key
            operator = match["operator"] if match else None
            known = name in LIST_PARAMETERS or name in filters
            if not known or (operator is not None and operator not in FILTER_OPERATORS):
                return 400, {}, {"message": f"Unsupported filter column {key}"}
        offset = int(query.get("offset", 0))
        limit = min(int(query.get("limit", 100)), 1000)
        page = rows[offset : offset + limit]
        return 200, {}, {"success": "true", "totalCount": len(rows), "data": page}

    def _case_list(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """``GET businessCase/``: filters ``status`` and ``rowInfo.lastModifiedAt[GT|GE]``
        (the last creation or change); rows carry the list's columns, not the detail's."""
        with self._lock:
            rows = sorted(self.cases.values(), key=lambda case: int(case["id"]))
        status = query.get("status") or query.get("status[EQ]")
        if status:
            rows = [row for row in rows if row.get("status") == status]
        for operator in ("GT", "GE"):
            since = query.get(f"rowInfo.lastModifiedAt[{operator}]")
            if since:
                after = dt.datetime.fromisoformat(since)
                rows = [
                    row
                    for row in rows
                    if (changed := _last_modified(row)) is not None
                    and (changed > after if operator == "GT" else changed >= after)
                ]
        iso = query.get("dateFormat") == "ISO8601"
        return self._list([_list_row(row, iso) for row in rows], query, CASE_LIST_FILTERS)

    def _webhook_list(self) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            hooks = list(self.webhooks.values())
            contacts = list(self.technical_contacts)
        return (
            200,
            {},
            {
                "success": "true",
                "data": {"technicalContacts": contacts, "webhooks": hooks},
            },
        )

    def _technical_contact(self, body: Any) -> tuple[int, dict[str, str], Any]:
        contacts = body.get("technicalContacts") if isinstance(body, dict) else None
        if not isinstance(contacts, list) or not all(isinstance(c, str) for c in contacts):
            # The spec documents only 200 and 500 here; RAYNET's 400 shape for bad input.
            return 400, {}, {"message": "technicalContacts must be a list of e-mails"}
        with self._lock:
            self.technical_contacts = list(contacts)
        return 200, {}, {"success": True}

    def _webhook_create(self, body: Any) -> tuple[int, dict[str, str], Any]:
        if not isinstance(body, dict) or not body.get("url") or not body.get("events"):
            return 400, {}, {"message": "url and events are required"}
        uuid = secrets.token_hex(16)
        with self._lock:
            self.webhooks[uuid] = {
                "webhookId": uuid,
                "url": body["url"],
                "secretToken": body.get("secretToken"),
                "eventsFilter": list(body["events"]),
            }
        return 201, {}, {"success": True, "data": {"uuid": uuid}}

    def _webhook_delete(self, uuid: str) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            removed = self.webhooks.pop(uuid, None)
        if removed is None:
            return 404, {}, {"message": "EntityNotFoundException"}
        return 200, {}, {"success": True}

    def _check_token(self, match: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        """200 ``{"data": true}`` once for a token RAYNET issued to this person within 60 s;
        403 ``AccessTokenNotFoundException`` for any other (unknown, expired, used)."""
        key = (match[1], int(match[2]))
        with self._lock:
            expires = self.button_tokens.pop(key, None)  # valid once
        if expires is None or expires < time.time():
            return 403, {}, TOKEN_NOT_FOUND
        return 200, {}, {"data": True, "success": "true"}

    # --- write-back -------------------------------------------------------------------

    def _add_external_id(self, match: re.Match[str], body: Any) -> tuple[int, dict[str, str], Any]:
        """Adds to the case's ``extIds`` (up to 10 a record: RAYNET's documented limit)."""
        external_id = body.get("extId") if isinstance(body, dict) else None
        if not isinstance(external_id, str) or not external_id:
            return 400, {}, {"message": "extId is required"}
        with self._lock:
            case = self.cases.get(int(match[1]))
            if case is None:
                return 404, {}, {"message": "EntityNotFoundException"}
            ids = list(case.get("extIds") or [])
            if external_id not in ids:
                if len(ids) >= 10:
                    return 400, {}, {"message": "a record holds at most 10 external ids"}
                case["extIds"] = [*ids, external_id]
        self._written(int(match[1]))
        return 200, {}, {"success": "true"}

    def _remove_external_id(self, match: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        """``DELETE {entity}/{id}/extId/{extId}``: 200 ``{"success": "true"}`` (the spec's
        only documented answer; it documents none for an id the record lacks)."""
        external_id = unquote(match[2])
        with self._lock:
            case = self.cases.get(int(match[1]))
            if case is None:
                return 404, {}, {"message": "EntityNotFoundException"}
            case["extIds"] = [i for i in case.get("extIds") or [] if i != external_id] or None
        self._written(int(match[1]))
        return 200, {}, {"success": "true"}

    def _add_post(self, match: re.Match[str], body: Any) -> tuple[int, dict[str, str], Any]:
        comment = body.get("comment") if isinstance(body, dict) else None
        if not isinstance(comment, str) or not comment:
            return 400, {}, {"message": "comment is required"}
        case_id = int(match[1])
        with self._lock:
            if case_id not in self.cases:
                return 404, {}, {"message": "EntityNotFoundException"}
            feed = self.posts.setdefault(case_id, [])
            post_id = 1 + sum(len(posts) for posts in self.posts.values())
            feed.append(
                {
                    "id": post_id,
                    "parent": post_id,
                    "date": dt.datetime.now(dt.UTC).strftime(RAYNET_DATE_TIME),
                    "comment": comment,
                    "owner": {"id": 1, "fullName": self.username},
                    "_version": 0,
                }
            )
        self._written(case_id)
        return 201, {}, {"success": True, "data": {"id": post_id}}

    def _post_list(self, match: re.Match[str]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            feed = list(self.posts.get(int(match[1]), []))
        return 200, {}, {"success": "true", "totalCount": len(feed), "data": feed}

    def _set_locked(self, match: re.Match[str], *, locked: bool) -> tuple[int, dict[str, str], Any]:
        """200 with no body, as the spec documents (``content: {}``)."""
        case_id = int(match[1])
        with self._lock:
            if case_id not in self.cases:
                return 404, {}, {"message": "EntityNotFoundException"}
            (self.locked.add if locked else self.locked.discard)(case_id)
        self._written(case_id)
        return 200, {}, None

    def _written(self, case_id: int) -> None:
        """What RAYNET posts to webhooks after a write with the API key: ``record.updated``
        with ``source.name`` ``api`` and the record's external ids (field-findings.md,
        RAYNET API 7). Kept for tests and benchmarks to deliver."""
        with self._lock:
            self.sent_webhooks.append(
                {
                    "eventId": secrets.token_hex(16),
                    "createdAt": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                    "type": "record.updated",
                    "author": self.username,
                    "source": {"name": "api", "description": "bridge"},
                    "data": {
                        "entityName": "BusinessCase",
                        "entityId": case_id,
                        "extIds": list(self.cases[case_id].get("extIds") or []) or None,
                    },
                }
            )


# The columns of a business-case list row, as the spec's GET businessCase/ example has them.
CASE_LIST_COLUMNS = (
    "id", "code", "name", "company", "person", "owner", "currency", "validFrom", "validTill",
    "scheduledEnd", "totalAmount", "estimatedValue", "tradingProfit", "status", "probability",
    "exchangeRate", "businessCasePhase", "businessCaseType", "category", "project", "source",
    "businessCaseClassification1", "businessCaseClassification2",
    "businessCaseClassification3", "losingReason", "losingCategory", "rowInfo.createdAt",
    "rowInfo.createdBy", "rowInfo.updatedAt", "rowInfo.updatedBy", "rowInfo.rowAccess",
    "rowInfo.rowState", "securityLevel", "description", "tags",
)  # fmt: skip
# RAYNET writes dates as "yyyy-MM-dd HH:mm" in the API user's time zone, ISO 8601 with
# dateFormat=ISO8601 (the spec's introduction). The stand-in's API user lives in UTC.
RAYNET_DATE_TIME = "%Y-%m-%d %H:%M"


def _parse_date_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return dt.datetime.strptime(value, RAYNET_DATE_TIME).replace(tzinfo=dt.UTC)


def _last_modified(row: dict[str, Any]) -> dt.datetime | None:
    return _parse_date_time(row.get("rowInfo.updatedAt") or row.get("rowInfo.createdAt"))


def _list_row(record: dict[str, Any], iso: bool) -> dict[str, Any]:
    row = {key: record[key] for key in CASE_LIST_COLUMNS if key in record}
    if iso:
        for key in ("rowInfo.createdAt", "rowInfo.updatedAt"):
            moment = _parse_date_time(row.get(key))
            if moment is not None:
                row[key] = moment.isoformat(timespec="milliseconds")
    return row


class _Handler(BaseHTTPRequestHandler):
    api: RaynetStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``api.requests`` instead."""

    def _serve(self) -> None:
        api = self.api
        with api._lock:
            api._concurrent += 1
            api.max_concurrent = max(api.max_concurrent, api._concurrent)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if api.latency:
                time.sleep(api.latency)
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, extra, payload = api.handle(self.command, self.path, headers, body)
        finally:
            with api._lock:
                api._concurrent -= 1
        page = isinstance(payload, bytes)
        data = payload if page else b"" if payload is None else dumps(payload).encode()
        answer_headers = {
            "Content-Type": f"{'text/html' if page else 'application/json'}; charset=utf-8",
            "Content-Length": str(len(data)),
            **api._rate_headers(),
            **extra,
        }
        with api._lock:
            api.exchanges.append(
                Exchange(self.command, self.path, headers, raw, status, answer_headers, data)
            )
        self.send_response(status)
        for key, value in answer_headers.items():
            self.send_header(key, value)
        self.end_headers()
        if api.body_seconds <= 0:
            self.wfile.write(data)
            return
        for start in range(len(data)):  # a byte at a time: each wait is short, the whole long
            self.wfile.write(data[start : start + 1])
            self.wfile.flush()
            time.sleep(api.body_seconds / max(1, len(data)))

    do_GET = do_PUT = do_POST = do_DELETE = _serve


def dumps(payload: Any) -> str:
    """JSON with ``Decimal`` written as an exact number (the standard library cannot)."""

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{_DECIMAL_MARK}{value}"
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    text = json.dumps(payload, ensure_ascii=False, default=mark)
    return re.sub(r'"\\u0000decimal:([-+0-9.Ee]+)"', r"\1", text)
