"""Rate limits for what strangers can reach: the Export button and the dashboard's login.

Counted with the ``limits`` library (what Flask-Limiter is built on), fixed windows, in a
storage that every gunicorn process of a host shares: by default a small SQLite file beside
the state (``SqliteStorage``, a storage for ``limits``), or whatever ``RATE_LIMIT_STORAGE``
names (``redis://...`` for many hosts). Only the two views are wrapped: a webhook pays
nothing for limits it does not have. ``Refusals`` turns away an address that was refused
too often (wrong webhook tokens, button tokens RAYNET rejected) until its window ends.

A storage that cannot be reached (Redis down) is ``SharedStoreUnavailable``: a 503 with a
reason, or the button's own message, never a 500.
"""

from __future__ import annotations

import functools
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue, RouteCallable
from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger(__name__)
BUTTON_PER_ADDRESS = "30/minute"
LOGIN_PER_ADDRESS = "5/minute"
LOGIN_OVERALL = "30/minute"
EXTENSION = "bridge_limits"


class SharedStoreUnavailable(Exception):
    """The storage of limits and sessions (RATE_LIMIT_STORAGE) cannot be reached."""


@dataclass(frozen=True)
class Limit:
    """How often one address, and (if given) everyone together, may reach an endpoint.

    An overall limit lets strangers lock everyone out: the button has none (its presses
    are bounded per process, and the day's last API requests are kept for exports)."""

    endpoint: str
    methods: tuple[str, ...]
    per_address: RateLimitItem
    overall: RateLimitItem | None
    on_breach: Callable[[], ResponseReturnValue]


class Counters:
    """The shared storage's counters, its failures said as ``SharedStoreUnavailable``."""

    REMEMBERED = 10_000  # keys turned away; beyond, the ones whose time is over are forgotten

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.turned_away: dict[str, float] = {}  # key: until when (time.time())
        errors = storage.base_exceptions
        self.errors: tuple[type[BaseException], ...] = (
            errors if isinstance(errors, tuple) else (errors,)
        )

    @contextmanager
    def reached(self) -> Iterator[None]:
        try:
            yield
        except self.errors as error:
            log.error("RATE_LIMIT_STORAGE cannot be reached: %s", type(error).__name__)
            raise SharedStoreUnavailable(type(error).__name__) from None

    def incr(self, key: str, expiry: int) -> int:
        with self.reached():
            return self.storage.incr(key, expiry)

    def get(self, key: str) -> int:
        with self.reached():
            return self.storage.get(key)

    def expires_at(self, key: str) -> float:
        with self.reached():
            return self.storage.get_expiry(key)

    def clear(self, key: str) -> None:
        with self.reached():
            self.storage.clear(key)

    def turn_away(self, key: str) -> float:
        """Remember in this process that ``key`` is turned away until its counter expires."""
        if len(self.turned_away) >= self.REMEMBERED:
            now = time.time()
            self.turned_away = {known: at for known, at in self.turned_away.items() if at > now}
        until = self.expires_at(key)
        self.turned_away[key] = until
        return until


def init_limits(app: Flask, storage_uri: str, limits: list[Limit]) -> None:
    storage = storage_from_string(storage_uri)
    assert isinstance(storage, Storage)
    limiter = FixedWindowRateLimiter(storage)
    app.extensions[EXTENSION] = Counters(storage)
    for limit in limits:
        app.view_functions[limit.endpoint] = _limited(
            app.view_functions[limit.endpoint], limit, limiter
        )


def limit(
    endpoint: str,
    methods: tuple[str, ...],
    per_address: str,
    overall: str | None,
    on_breach: Callable[[], ResponseReturnValue],
) -> Limit:
    everyone = None if overall is None else parse(overall)
    return Limit(endpoint, methods, parse(per_address), everyone, on_breach)


def _limited(view: RouteCallable, limit: Limit, limiter: FixedWindowRateLimiter) -> RouteCallable:
    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if request.method in limit.methods:
            address = request.remote_addr or "unknown"
            with counters().reached():
                allowed = limiter.hit(limit.per_address, limit.endpoint, address) and (
                    limit.overall is None or limiter.hit(limit.overall, limit.endpoint, "everyone")
                )
            if not allowed:
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


def counters() -> Counters:
    """The storage the limits count in: also for other short-lived facts every process of
    the host must agree on (a used button token, an admin session)."""
    found: Counters = current_app.extensions[EXTENSION]
    return found


def seen_before(key: str, seconds: int) -> bool:
    """Whether ``key`` was seen within ``seconds`` (and remember it now): a button token
    RAYNET answered once is never worth a second request, valid or not."""
    return counters().incr(key, seconds) > 1


class Refusals:
    """Refusals of one kind counted per address in the shared storage: after ``most``
    within ``seconds`` (from the first), the address is turned away unheard until then.

    Each process also remembers the addresses it turned away (``Counters.turned_away``),
    so that an address that is not turned away (RAYNET's, on a webhook's hot path) costs
    a dict lookup, not a read of the storage; ``wait(..., shared=True)`` also reads what
    other processes counted.
    """

    def __init__(self, name: str, most: int, seconds: int) -> None:
        self.name, self.most, self.seconds = name, most, seconds

    def wait(self, address: str, *, shared: bool = False) -> int | None:
        """Seconds until ``address`` is heard again, or None if it is heard now."""
        key = f"{self.name}:{address}"
        shared_counters = counters()
        until = shared_counters.turned_away.get(key)
        if until is None and shared and shared_counters.get(key) >= self.most:
            until = shared_counters.turn_away(key)
        if until is None:
            return None
        left = until - time.time()
        if left <= 0:
            shared_counters.turned_away.pop(key, None)
            return None
        return math.ceil(left)

    def count(self, address: str) -> None:
        """One more refusal of ``address``; at ``most`` it is turned away from now on."""
        key = f"{self.name}:{address}"
        if counters().incr(key, self.seconds) >= self.most:
            counters().turn_away(key)
