"""The state file: SQLite in WAL mode with ``synchronous=FULL``, one writer at a time.

When the receiver answers 202, the event is on disk. Workers in any number of processes on
this host share the file; writers queue on an ``flock`` beside it rather than in SQLite's
busy handler, which sleeps a millisecond or more before it tries again.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    case_id INTEGER NOT NULL,
    type TEXT NOT NULL,
    received_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS cases (
    case_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'exported', 'skipped', 'failed', 'dead')),
    code TEXT,
    revision INTEGER NOT NULL DEFAULT 1,
    claimed_revision INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    exports_wanted INTEGER NOT NULL DEFAULT 1,
    exports_done INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    reason_code TEXT,
    file_name TEXT,
    location TEXT,
    sha256 TEXT,
    exported_at REAL,
    events INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_due ON cases (state, next_try_at);
CREATE INDEX IF NOT EXISTS cases_updated ON cases (updated_at);
CREATE TABLE IF NOT EXISTS exports (
    case_id INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    location TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    exported_at REAL NOT NULL,
    PRIMARY KEY (case_id, generation)
);
CREATE TABLE IF NOT EXISTS outbox (
    kind TEXT NOT NULL,
    case_id INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    error TEXT,
    done_at REAL,
    PRIMARY KEY (kind, case_id, generation)
);
CREATE TABLE IF NOT EXISTS flags (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# Version 2 files: claims remembered the worker's name and the job carried the revision;
# e-mails had a table of their own.
MIGRATIONS = {
    "claimed_revision": (
        "ALTER TABLE cases ADD COLUMN claimed_revision INTEGER NOT NULL DEFAULT 0;"
    ),
    "notifications": """
        INSERT OR IGNORE INTO outbox (kind, case_id, generation, state, attempts, next_try_at,
                                      error, done_at)
        SELECT 'email', case_id, generation, CASE state WHEN 'sent' THEN 'done' ELSE state END,
               attempts, next_try_at, error, sent_at FROM notifications;
        DROP TABLE notifications;
    """,
}


class StateDatabase:
    """Thread-safe access to the state file; each thread keeps its own connection."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock_path = path.with_name(path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        db = self.connection()
        with self.writer_lock():
            upgrades = self._upgrades(db)
            db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} {upgrades} COMMIT;")

    def connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            self._local.pid = os.getpid()
            self._local.writer_lock = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            with self.writer_lock():  # switching a new file to WAL must not race
                connection = sqlite3.connect(
                    self.path, timeout=self._busy_timeout, isolation_level=None
                )
                connection.row_factory = sqlite3.Row
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")  # a 202 means: on disk
            self._local.connection = connection
        return connection

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time on this host, across threads and processes."""
        fcntl.flock(self._local.writer_lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._local.writer_lock, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) under the host-wide writer lock."""
        db = self.connection()
        with self.writer_lock():
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            os.close(self._local.writer_lock)
            self._local.connection = None

    @staticmethod
    def _upgrades(db: sqlite3.Connection) -> str:
        """What brings an older state file to this version, run after SCHEMA made any table
        it lacked; nothing for a new file."""
        tables = {row["name"] for row in db.execute("SELECT name FROM sqlite_master")}
        columns = {row["name"] for row in db.execute("PRAGMA table_info(cases)")}
        steps = [
            MIGRATIONS[name]
            for name, needed in (
                ("claimed_revision", "cases" in tables and "claimed_revision" not in columns),
                ("notifications", "notifications" in tables),
            )
            if needed
        ]
        return " ".join([*steps, f"PRAGMA user_version = {SCHEMA_VERSION};"])
