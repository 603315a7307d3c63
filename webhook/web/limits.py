"""Rate limits for what strangers can reach: the Export button and the dashboard's login.

Flask-Limiter counts in a storage that every gunicorn process of a host shares: by default
a small SQLite file beside the state (``SqliteStorage``, a storage for the ``limits``
library), or whatever ``RATE_LIMIT_STORAGE`` names (``redis://...`` for many hosts).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flask import Flask, Response, current_app
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from limits.storage import Storage

BUTTON_PER_ADDRESS = "30/minute"
BUTTON_OVERALL = "120/minute"
LOGIN_PER_ADDRESS = "5/minute"
LOGIN_OVERALL = "30/minute"
EXTENSION = "bridge_limiter"


def init_limits(
    app: Flask, storage_uri: str, button_breach: Callable[[RequestLimit], Response]
) -> None:
    """Per address and for everyone together: the button's presses and the login's tries."""
    limiter = Limiter(get_remote_address, app=app, storage_uri=storage_uri, strategy="fixed-window")
    app.extensions[EXTENSION] = limiter
    for endpoint, methods, per_address, overall, on_breach in (
        ("button.press", ["GET", "POST"], BUTTON_PER_ADDRESS, BUTTON_OVERALL, button_breach),
        ("admin.login", ["POST"], LOGIN_PER_ADDRESS, LOGIN_OVERALL, None),
    ):
        view: Any = app.view_functions[endpoint]
        view = limiter.limit(per_address, methods=methods, on_breach=on_breach)(view)
        view = limiter.shared_limit(
            overall,
            scope=f"{endpoint}-all",
            key_func=lambda: "everyone",
            methods=methods,
            on_breach=on_breach,
        )(view)
        app.view_functions[endpoint] = view


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
    limiter: Limiter = current_app.extensions[EXTENSION]
    storage: Storage = limiter.storage
    return storage


def seen_before(key: str, seconds: int) -> bool:
    """Whether ``key`` was seen within ``seconds`` (and remember it now): a button token
    RAYNET answered once is never worth a second request, valid or not."""
    return counters().incr(key, seconds) > 1
