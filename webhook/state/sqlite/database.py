"""The state file: SQLite in WAL mode with ``synchronous=FULL``, one writer at a time.

When the receiver answers 202, the event is on disk. Workers in any number of processes on
this host share the file; writers queue on an ``flock`` beside it rather than in SQLite's
busy handler, which sleeps a millisecond or more before it tries again. Both waits end
after ``write_wait`` seconds: the receiver's are short, so that a file someone else holds
(a backup, an ``sqlite3`` shell) makes webhooks 503 in time rather than late.

Before every write the file is checked to be the one that was opened, and still a SQLite
file: deleted, replaced or overwritten, SQLite would go on writing into a file nobody will
read again, and a 202 would promise what a restart loses. ``StateUnavailable`` then makes
the receiver answer 503 (RAYNET retries) and ``/readyz`` fail.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from webhook.errors import QueueUnavailable

log = logging.getLogger(__name__)
SQLITE_HEADER = b"SQLite format 3\x00"
CREATED = b"created\n"  # in the lock file, once this folder has held a state file
INTEGRITY_SECONDS = 300.0
# The host's writer lock is polled (a blocking flock cannot end at a deadline in a thread):
# first after 0.1 ms, then twice as long each time, at most 1 ms, so that the next writer
# takes it within a millisecond of its release (a commit holds it for about one fsync).
LOCK_POLL_FIRST = 0.0001
LOCK_POLL_MOST = 0.001

SCHEMA_VERSION = 6
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
    updated_at REAL NOT NULL,
    name TEXT,
    customer TEXT,
    total_with_vat TEXT,
    currency TEXT,
    doklad TEXT,
    reason_detail TEXT,
    changes TEXT
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
    imported_at REAL,
    imported_by TEXT,
    caveats TEXT,
    digest TEXT,
    money TEXT,
    PRIMARY KEY (case_id, generation)
);
CREATE INDEX IF NOT EXISTS exports_exported ON exports (exported_at);
CREATE TABLE IF NOT EXISTS history (
    case_id INTEGER NOT NULL,
    at REAL NOT NULL,
    what TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS history_case ON history (case_id, at);
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
CREATE TABLE IF NOT EXISTS unreadable (
    received_at REAL NOT NULL,
    problem TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS unreadable_received ON unreadable (received_at);
CREATE TABLE IF NOT EXISTS money_reports (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    read_at REAL NOT NULL,
    problem TEXT,
    entries INTEGER NOT NULL,
    unknown TEXT,
    matched TEXT
);
"""
# Indexes on columns an older file gains by MIGRATIONS: made after them.
INDEXES = """
CREATE INDEX IF NOT EXISTS cases_doklad ON cases (doklad);
CREATE INDEX IF NOT EXISTS cases_code ON cases (code);
"""
# Version 2 files: claims remembered the worker's name and the job carried the revision;
# e-mails had a table of their own. Version 3: cases without what the dashboard shows of
# them, files without the accountant's "imported". Version 4: no caveats on files, reasons
# only in English. Version 5: no order digests, no Money S3 verdicts, no change checks.
MIGRATIONS = {
    "matched": "ALTER TABLE money_reports ADD COLUMN matched TEXT;",
    "money": (
        "ALTER TABLE exports ADD COLUMN digest TEXT; "
        "ALTER TABLE exports ADD COLUMN money TEXT; "
        "ALTER TABLE cases ADD COLUMN changes TEXT;"
    ),
    "caveats": (
        "ALTER TABLE exports ADD COLUMN caveats TEXT; "
        "ALTER TABLE cases ADD COLUMN reason_detail TEXT;"
    ),
    "summary": " ".join(
        f"ALTER TABLE cases ADD COLUMN {column} TEXT;"
        for column in ("name", "customer", "total_with_vat", "currency", "doklad")
    ),
    "imports": (
        "ALTER TABLE exports ADD COLUMN imported_at REAL; "
        "ALTER TABLE exports ADD COLUMN imported_by TEXT;"
    ),
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


_readers: dict[tuple[int, int], int] = {}
_readers_lock = threading.Lock()


def _reader(stat: os.stat_result, path: Path) -> int:
    """A descriptor of the state file for reading its header, opened once per file and
    process and never closed: closing any descriptor of a file drops every POSIX lock this
    process holds on it, SQLite's too (https://sqlite.org/howtocorrupt.html#_posix_advisory_locks_canceled_by_a_separate_thread_doing_close_),
    and its connections then read stale pages or corrupt the file. Held open, the inode
    cannot be reused by another file either."""
    key = (stat.st_dev, stat.st_ino)
    with _readers_lock:
        if key not in _readers:
            descriptor = os.open(path, os.O_RDONLY)
            opened = os.fstat(descriptor)
            if (opened.st_dev, opened.st_ino) != key:  # replaced between stat and open
                os.close(descriptor)  # not the file SQLite has open: closing it is harmless
                raise FileNotFoundError(path)
            _readers[key] = descriptor
        return _readers[key]


class StateUnavailable(QueueUnavailable):
    """The state file is gone, replaced, damaged or cannot take a write right now."""


class StateBusy(StateUnavailable):
    """Someone else holds the state file longer than this process may wait."""


class StateDatabase:
    """Thread-safe access to the state file; each thread keeps its own connection.

    The lock file beside it says ``created`` once a state file was made: a missing state
    file is then one that was deleted, and is never quietly made anew (a process started
    later, a gunicorn worker restarted, would otherwise answer 202 into an empty file).
    """

    def __init__(self, path: Path, *, write_wait: float = 10.0) -> None:
        self.path = path
        self._write_wait = write_wait
        self._local = threading.local()
        self._lock_path = path.with_name(path.name + ".lock")
        self._identity: tuple[int, int] | None = None  # then it must stay that very file
        self._integrity_checked = float("-inf")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._prepare()
        except StateBusy as busy:  # a backup holds it: start anyway, answer 503 meanwhile
            log.warning("%s; it is made ready on its first write", busy)

    def _prepare(self) -> None:
        """Create the tables, or bring an older file up to this version; then hold on to
        the file's identity. A file someone else holds is ``StateBusy``: a process that
        starts meanwhile (a gunicorn worker restarted) must not die of it."""
        try:
            with self.writer_lock():  # one process at a time decides, and creates
                self._refuse_a_deleted_or_damaged_file()
                db = self._connect()
                upgrades = self._upgrades(db)
                db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} {upgrades} {INDEXES} COMMIT;")
                os.pwrite(self._lock_fd(), CREATED, 0)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise StateBusy(f"the state file {self.path} is busy: {error}") from None
            raise self._unusable(error) from None
        except sqlite3.DatabaseError as error:
            raise self._unusable(error) from None
        self._local.connection = db
        stat = self.path.stat()
        self._identity = (stat.st_dev, stat.st_ino)

    def _unusable(self, error: sqlite3.DatabaseError) -> StateUnavailable:
        return StateUnavailable(
            f"STATE_DB {self.path} is not a state file the bridge can use ({error}); "
            "restore it from a backup, or move it away to start afresh"
        )

    def _refuse_a_deleted_or_damaged_file(self) -> None:
        if self.path.exists() and self.path.stat().st_size:
            self.verify()  # before SQLite: it would checkpoint the WAL's page 1 over damage
        elif not self.path.exists() and os.pread(self._lock_fd(), len(CREATED), 0) == CREATED:
            raise StateUnavailable(
                f"STATE_DB {self.path} is missing, but the bridge kept its state there before "
                f"({self._lock_path.name} says so): restore it from a backup, or delete "
                f"{self._lock_path} to start afresh"
            )

    def verify(self) -> None:
        """Raise ``StateUnavailable`` unless the file is still the one opened, and SQLite's."""
        try:
            stat = self.path.stat()
            header = os.pread(_reader(stat, self.path), len(SQLITE_HEADER), 0)
        except FileNotFoundError:
            raise StateUnavailable(
                f"the state file {self.path} was deleted while the bridge ran; "
                "restore it from a backup and restart"
            ) from None
        if self._identity is not None and (stat.st_dev, stat.st_ino) != self._identity:
            raise StateUnavailable(
                f"the state file {self.path} was replaced while the bridge ran; restart it"
            )
        if header != SQLITE_HEADER:
            raise StateUnavailable(
                f"the state file {self.path} is damaged: not a SQLite file any more; "
                "restore it from a backup and restart"
            )

    def connection(self) -> sqlite3.Connection:
        if self._identity is None:  # it was busy when this process started
            self._prepare()
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            with self.writer_lock():  # switching a new file to WAL must not race
                self.verify()  # connecting to a deleted file would create an empty one
                connection = self._connect()
            self._local.connection = connection
        return connection

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=self._write_wait, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")  # a 202 means: on disk
        self._local.pid = os.getpid()
        return connection

    def _lock_fd(self) -> int:
        """This thread's descriptor of the lock file (flock locks belong to descriptors)."""
        if getattr(self._local, "lock_pid", None) != os.getpid():
            self._local.lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._local.lock_pid = os.getpid()
        descriptor: int = self._local.lock_fd
        return descriptor

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer at a time on this host, across threads and processes; after
        ``write_wait`` seconds of waiting, ``StateUnavailable`` (the receiver's 503 must
        reach RAYNET well inside its 10 s, however long someone else holds the file)."""
        descriptor = self._lock_fd()
        deadline = time.monotonic() + self._write_wait
        pause = LOCK_POLL_FIRST
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StateBusy(
                        f"the state file {self.path} is busy: another writer has held "
                        f"{self._lock_path.name} for over {self._write_wait:g} s"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, LOCK_POLL_MOST)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)

    def check_integrity(self) -> None:
        """SQLite's ``quick_check`` of every page, at most every INTEGRITY_SECONDS per
        process (it reads the whole file): ``StateUnavailable`` naming what it found."""
        now = time.monotonic()
        if now < self._integrity_checked + INTEGRITY_SECONDS:
            return
        try:
            found = [row[0] for row in self.connection().execute("PRAGMA quick_check(3)")]
        except sqlite3.DatabaseError as error:
            raise StateUnavailable(f"the state file {self.path}: {error}") from error
        if found != ["ok"]:
            raise StateUnavailable(
                f"the state file {self.path} is damaged ({'; '.join(found)}): restore it "
                "from a backup and restart"
            )
        self._integrity_checked = now

    def read(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        """A query on a state file that is verified still to be the one opened (a connection
        made before it was deleted would go on reading the deleted one)."""
        try:
            self.verify()
            return self.connection().execute(sql, parameters)
        except sqlite3.DatabaseError as error:
            raise StateUnavailable(f"the state file {self.path}: {error}") from error

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) under the host-wide writer lock, on a
        state file that is verified still to be the one opened."""
        try:
            db = self.connection()
            with self.writer_lock():
                self.verify()
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            raise StateUnavailable(f"the state file {self.path}: {error}") from error

    @staticmethod
    def _upgrades(db: sqlite3.Connection) -> str:
        """What brings an older state file to this version, run after SCHEMA made any table
        it lacked; nothing for a new file."""
        tables = {row["name"] for row in db.execute("SELECT name FROM sqlite_master")}
        columns = {row["name"] for row in db.execute("PRAGMA table_info(cases)")}
        export_columns = {row["name"] for row in db.execute("PRAGMA table_info(exports)")}
        report_columns = {row["name"] for row in db.execute("PRAGMA table_info(money_reports)")}
        steps = [
            MIGRATIONS[name]
            for name, needed in (
                ("claimed_revision", "cases" in tables and "claimed_revision" not in columns),
                ("notifications", "notifications" in tables),
                ("summary", "cases" in tables and "doklad" not in columns),
                ("imports", "exports" in tables and "imported_at" not in export_columns),
                ("caveats", "exports" in tables and "caveats" not in export_columns),
                ("money", "exports" in tables and "money" not in export_columns),
                ("matched", "money_reports" in tables and "matched" not in report_columns),
            )
            if needed
        ]
        return " ".join([*steps, f"PRAGMA user_version = {SCHEMA_VERSION};"])
