"""Rate limits for what strangers can reach: the Export button and the dashboard's login.

Counted with the ``limits`` library (what Flask-Limiter is built on), fixed windows, in a
storage that every gunicorn process of a host shares: by default a small SQLite file beside
the state (``SqliteStorage``, a storage for ``limits``), or whatever ``RATE_LIMIT_STORAGE``
names (``redis://...`` for many hosts). Only the two views are wrapped: a webhook pays
nothing for limits it does not have.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue, RouteCallable
from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

BUTTON_PER_ADDRESS = "30/minute"
BUTTON_OVERALL = "120/minute"
LOGIN_PER_ADDRESS = "5/minute"
LOGIN_OVERALL = "30/minute"
EXTENSION = "bridge_limits"


@dataclass(frozen=True)
class Limit:
    """How often one address, and everyone together, may reach an endpoint."""

    endpoint: str
    methods: tuple[str, ...]
    per_address: RateLimitItem
    overall: RateLimitItem
    on_breach: Callable[[], ResponseReturnValue]


def init_limits(app: Flask, storage_uri: str, limits: list[Limit]) -> None:
    storage = storage_from_string(storage_uri)
    limiter = FixedWindowRateLimiter(storage)
    app.extensions[EXTENSION] = storage
    for limit in limits:
        app.view_functions[limit.endpoint] = _limited(
            app.view_functions[limit.endpoint], limit, limiter
        )


def limit(
    endpoint: str,
    methods: tuple[str, ...],
    per_address: str,
    overall: str,
    on_breach: Callable[[], ResponseReturnValue],
) -> Limit:
    return Limit(endpoint, methods, parse(per_address), parse(overall), on_breach)


def _limited(view: RouteCallable, limit: Limit, limiter: FixedWindowRateLimiter) -> RouteCallable:
    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if request.method in limit.methods:
            address = request.remote_addr or "unknown"
            if not (
                limiter.hit(limit.per_address, limit.endpoint, address)
                and limiter.hit(limit.overall, limit.endpoint, "everyone")
            ):
                return limit.on_breach()
        answer: ResponseReturnValue = current_app.ensure_sync(view)(*args, **kwargs)
        return answer

    return checked


class SqliteStorage(Storage):
    """Fixed-window counters in SQLite (``sqlite:///path/limits.db``), shared by processes.

    Counters are not worth an fsync: ``synchronous=OFF``; losing one at a crash only
    forgives a few requests (or ends an admin session). Expired rows are deleted once a
    minute, so the file stays as small as the last minutes' traffic.
    """

    PURGE_EVERY = 60.0

    STORAGE_SCHEME = ["sqlite"]  # noqa: RUF012 - the limits library's registry reads it

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._path = Path(urlparse(uri).path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._purged_at = 0.0
        self._db().execute(
            "CREATE TABLE IF NOT EXISTS counters "
            "(key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)"
        )

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, timeout=10, isolation_level=None)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = OFF")
            self._local.connection = connection
        return connection

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        if now - self._purged_at > self.PURGE_EVERY:
            self._purged_at = now
            self._db().execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        row = (
            self._db()
            .execute(
                """
            INSERT INTO counters (key, count, expires_at) VALUES (:key, :amount, :until)
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN expires_at <= :now THEN :amount ELSE count + :amount END,
                expires_at = CASE WHEN expires_at <= :now THEN :until ELSE expires_at END
            RETURNING count
            """,
                {"key": key, "amount": amount, "until": now + expiry, "now": now},
            )
            .fetchone()
        )
        return int(row[0])

    def get(self, key: str) -> int:
        row = (
            self._db()
            .execute(
                "SELECT count FROM counters WHERE key = ? AND expires_at > ?", (key, time.time())
            )
            .fetchone()
        )
        return 0 if row is None else int(row[0])

    def get_expiry(self, key: str) -> float:
        row = self._db().execute("SELECT expires_at FROM counters WHERE key = ?", (key,)).fetchone()
        return time.time() if row is None else float(row[0])

    def check(self) -> bool:
        try:
            self._db().execute("SELECT 1")
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return self._db().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._db().execute("DELETE FROM counters WHERE key = ?", (key,))


def counters() -> Storage:
    """The storage the limits count in: also for other short-lived facts every process of
    the host must agree on (a used button token, an admin session)."""
    storage: Storage = current_app.extensions[EXTENSION]
    return storage


def seen_before(key: str, seconds: int) -> bool:
    """Whether ``key`` was seen within ``seconds`` (and remember it now): a button token
    RAYNET answered once is never worth a second request, valid or not."""
    return counters().incr(key, seconds) > 1
