"""A local stand-in for the RAYNET CRM API v2, speaking its documented JSON over HTTP.

Used by the tests, the benchmarks and ``python -m webhook demo``: it checks the Basic
credentials and ``X-Instance-Name`` like RAYNET, sends ``X-Ratelimit-*`` headers, and can
be told to fail (429 with ``Retry-After``, 5xx, slow answers) to exercise the client.
It binds to 127.0.0.1 only.
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
from urllib.parse import parse_qsl, urlsplit

DAILY_LIMIT = 24_000
_DECIMAL_MARK = "\u0000decimal:"

DEFAULT_CURRENCIES = [
    {"id": 19, "code01": "Kč", "code02": "CZK", "strValue01": "Česká koruna"},
    {"id": 20, "code01": "€", "code02": "EUR", "strValue01": "Euro"},
    {"id": 17, "code01": "$", "code02": "USD", "strValue01": "Americký dolar"},
    {"id": 21, "code01": "zł", "code02": "PLN", "strValue01": "Polský zlotý"},
]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Fault:
    """Answer ``status`` instead of the real response, ``times`` times, on matching paths."""

    path_pattern: str
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


class RaynetStandIn:
    """``with RaynetStandIn() as api: api.url ...``; add cases and companies as JSON dicts."""

    def __init__(
        self,
        *,
        username: str = "api@example.cz",
        api_key: str | None = None,
        instance: str = "standin",
        latency: float = 0.0,
    ) -> None:
        self.username = username
        self.api_key = api_key or secrets.token_hex(12)
        self.instance = instance
        self.latency = latency
        self.cases: dict[int, dict[str, Any]] = {}
        self.companies: dict[int, dict[str, Any]] = {}
        self.currencies: list[dict[str, Any]] = list(DEFAULT_CURRENCIES)
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.button_tokens: dict[tuple[str, int], float] = {}
        self.requests: list[RecordedRequest] = []
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

    def fail(
        self,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``times`` requests whose path matches with ``status``."""
        with self._lock:
            self._faults.append(Fault(path_pattern, status, times, headers or {}, body))

    def issue_button_token(self, person_id: int) -> str:
        """A one-time token as RAYNET puts into a custom button URL (valid 60 s, once)."""
        token = secrets.token_hex(16)
        with self._lock:
            self.button_tokens[(token, person_id)] = time.time() + 60
        return token

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
            return 401, {}, {"message": "Unauthorized"}
        fault = self._take_fault(path)
        if fault is not None:
            return fault.status, fault.headers, fault.body or {"message": f"fault {fault.status}"}
        return self._route(method, path, query, body)

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"businessCase/(\d+)/", lambda m: self._detail(self.cases, m)),
            ("GET", r"company/(\d+)/", lambda m: self._detail(self.companies, m)),
            ("GET", r"currency/", lambda m: self._list(self.currencies, query)),
            ("GET", r"businessCase/", lambda m: self._list(self._won_filter(query), query)),
            ("GET", r"webhook/", lambda m: self._webhook_list()),
            ("PUT", r"webhook/", lambda m: self._webhook_create(body)),
            ("DELETE", r"webhook/([0-9a-f]+)/", lambda m: self._webhook_delete(m[1])),
            ("GET", r"security/checktoken/([^/]+)/(\d+)/", self._check_token),
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
            return 404, {}, {"message": "EntityNotFoundException"}
        return 200, {}, {"success": "true", "data": record}

    def _list(
        self, rows: list[dict[str, Any]], query: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        offset = int(query.get("offset", 0))
        limit = min(int(query.get("limit", 100)), 1000)
        page = rows[offset : offset + limit]
        return 200, {}, {"success": "true", "totalCount": len(rows), "data": page}

    def _won_filter(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """The list filters ``status`` and ``rowInfo.lastModifiedAt[GT|GE]``."""
        with self._lock:
            rows = sorted(self.cases.values(), key=lambda case: int(case["id"]))
        status = query.get("status") or query.get("status[EQ]")
        if status:
            rows = [row for row in rows if row.get("status") == status]
        for operator in ("GT", "GE"):
            since = query.get(f"rowInfo.lastModifiedAt[{operator}]")
            if since:

                def modified(row: dict[str, Any]) -> str:
                    value = row.get("rowInfo.lastModifiedAt") or row.get("rowInfo.updatedAt")
                    return str(value or "")

                rows = [
                    row
                    for row in rows
                    if (modified(row) > since if operator == "GT" else modified(row) >= since)
                ]
        return rows

    def _webhook_list(self) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            hooks = list(self.webhooks.values())
        return 200, {}, {"success": "true", "data": {"technicalContacts": [], "webhooks": hooks}}

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
        key = (match[1], int(match[2]))
        with self._lock:
            expires = self.button_tokens.pop(key, None)  # valid once
        valid = expires is not None and expires >= time.time()
        return 200, {}, {"success": "true", "data": valid}


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
        data = dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in {**api._rate_headers(), **extra}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _serve


def dumps(payload: Any) -> str:
    """JSON with ``Decimal`` written as an exact number (the standard library cannot)."""

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{_DECIMAL_MARK}{value}"
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    text = json.dumps(payload, ensure_ascii=False, default=mark)
    return re.sub(r'"\\u0000decimal:([-+0-9.Ee]+)"', r"\1", text)
