"""The durable state: every accepted webhook event and every business case's export state.

SQLite in WAL mode with ``synchronous=FULL``: when the receiver answers 202, the event is
on disk. The unit of work is the *case*, not the event: any number of events for one case
become one job, and a case already exported costs nothing more. Workers in any number of
processes claim cases with a lease; a case whose worker died is claimed again once its
lease runs out.

Case states::

    pending  --export-->    exported   (a re-export request makes it pending again)
             --not won-->   skipped    (a new event makes it pending again)
             --transient--> failed     (retried at next_try_at; dead after max attempts)
             --permanent--> dead       (waits for a replay, or for a new event)
"""

from __future__ import annotations

import enum
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from webhook.errors import QueueUnavailable
from webhook.raynet.schemas import WebhookEvent

SCHEMA_VERSION = 2
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
CREATE TABLE IF NOT EXISTS notifications (
    case_id INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    error TEXT,
    sent_at REAL,
    PRIMARY KEY (case_id, generation)
);
CREATE TABLE IF NOT EXISTS flags (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

CASE_COLUMNS = (
    "case_id, state, code, revision, attempts, next_try_at, lease_owner, lease_until, "
    "exports_wanted, exports_done, reason, reason_code, file_name, location, sha256, "
    "exported_at, events, created_at, updated_at"
)
EVENT_RETENTION = 30 * 24 * 3600.0  # RAYNET stops redelivering after 7 days
SELECT_CASES = f"SELECT {CASE_COLUMNS} FROM cases"  # noqa: S608 - constant columns
# A new event (or an enqueue) makes a skipped or dead case due again; an exported one
# stays exported. ``excluded.events`` is 1 for a webhook event, 0 for an enqueue.
UPSERT_CASE = """
    ON CONFLICT (case_id) DO UPDATE SET
        events = events + excluded.events,
        revision = revision + 1,
        state = CASE WHEN state IN ('skipped', 'dead') THEN 'pending' ELSE state END,
        attempts = CASE WHEN state IN ('skipped', 'dead') THEN 0 ELSE attempts END,
        next_try_at = CASE WHEN state IN ('skipped', 'dead') THEN excluded.next_try_at
                           ELSE next_try_at END,
        updated_at = excluded.updated_at
    RETURNING case_id, state
"""
SYNC_FLAG = "sync_enabled"
AUTH_REFUSED_FLAG = "raynet_auth_refused"


class Recorded(enum.Enum):
    """What became of an incoming event."""

    ACCEPTED = "accepted"  # stored; the case will be (re)examined
    DUPLICATE = "duplicate"  # this eventId was seen before; nothing new
    ALREADY_EXPORTED = "already_exported"  # stored, but the case's file exists: no work


@dataclass(frozen=True)
class Job:
    """A claimed case: export ``generation`` (1 = ``<code>.xml``) of ``case_id``."""

    case_id: int
    revision: int
    generation: int
    attempts: int
    owner: str
    receipt: str | None = None  # the SQS receipt handle, in SQS mode


@dataclass(frozen=True)
class Notification:
    """A claimed e-mail announcing export ``generation`` of ``case_id``."""

    case_id: int
    generation: int
    attempts: int
    owner: str
    code: str
    file_name: str
    location: str


@dataclass(frozen=True)
class CaseRecord:
    case_id: int
    state: str
    code: str | None
    revision: int
    attempts: int
    next_try_at: float
    lease_owner: str | None
    lease_until: float
    exports_wanted: int
    exports_done: int
    reason: str | None
    reason_code: str | None
    file_name: str | None
    location: str | None
    sha256: str | None
    exported_at: float | None
    events: int
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ExportRecord:
    case_id: int
    generation: int
    file_name: str
    location: str
    sha256: str
    exported_at: float


class StateStore:
    """Thread-safe access to the state file; each thread keeps its own connection."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock_path = path.with_name(path.name + ".lock")
        self._committer: _GroupCommitter | None = None
        self._committer_guard = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connection()
        with self._writer_lock():
            db.executescript(
                f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            )

    # --- connections --------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            self._local.pid = os.getpid()
            self._local.writer_lock = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            with self._writer_lock():  # switching a new file to WAL must not race
                connection = sqlite3.connect(
                    self.path, timeout=self._busy_timeout, isolation_level=None
                )
                connection.row_factory = sqlite3.Row
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")  # a 202 means: on disk
            self._local.connection = connection
        return connection

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        """One writer at a time on this host, across threads and processes.

        Writers queue on an ``flock`` next to the database instead of meeting in SQLite's
        busy handler, which sleeps a millisecond or more before it tries again.
        """
        fcntl.flock(self._local.writer_lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._local.writer_lock, fcntl.LOCK_UN)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) under the host-wide writer lock."""
        db = self._connection()
        with self._writer_lock():
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

    # --- ingest -------------------------------------------------------------------------

    def record_event(self, event: WebhookEvent, now: float | None = None) -> Recorded:
        """Store a business-case event durably; the case becomes due unless exported.

        Concurrent callers in one process share a transaction and its fsync (group commit);
        each returns only once its event is on disk.
        """
        with self._committer_guard:
            if self._committer is None or not self._committer.serves_this_process():
                self._committer = _GroupCommitter(self.record_events)
            committer = self._committer
        try:
            return committer.submit(event, time.time() if now is None else now)
        except sqlite3.Error as error:
            raise QueueUnavailable(f"the state file cannot take the event: {error}") from error

    def record_events(self, events: Sequence[tuple[WebhookEvent, float]]) -> list[Recorded]:
        """Store events with their arrival times in one transaction of two statements.

        However many events, the batch costs the same few calls into SQLite: that is what
        keeps a busy receiver fast while every commit waits for its fsync.
        """
        with self._transaction() as db:
            stored = {
                row[0]
                for row in db.execute(
                    "INSERT INTO events (event_id, case_id, type, received_at) VALUES "  # noqa: S608 - placeholders only
                    + ", ".join(["(?, ?, ?, ?)"] * len(events))
                    + " ON CONFLICT DO NOTHING RETURNING event_id",
                    [v for e, now in events for v in (e.event_id, e.entity_id, e.type, now)],
                ).fetchall()
            }
            fresh = []  # the first arrival of each stored event id, in order
            for event, now in events:
                if event.event_id in stored:
                    stored.discard(event.event_id)
                    fresh.append((event, now))
            states = dict(
                db.execute(
                    "INSERT INTO cases (case_id, state, next_try_at, events, created_at, "  # noqa: S608 - placeholders only
                    "updated_at) VALUES "
                    + ", ".join(["(?, 'pending', ?, 1, ?, ?)"] * len(fresh))
                    + UPSERT_CASE,
                    [v for e, now in fresh for v in (e.entity_id, now, now, now)],
                ).fetchall()
                if fresh
                else ()
            )
        fresh_ids = {id(event) for event, _ in fresh}
        return [
            Recorded.DUPLICATE
            if id(event) not in fresh_ids
            else Recorded.ALREADY_EXPORTED
            if states[event.entity_id] == "exported"
            else Recorded.ACCEPTED
            for event, _ in events
        ]

    # --- work ---------------------------------------------------------------------------

    def claim(
        self, owner: str, lease_seconds: float, now: float | None = None, case_id: int | None = None
    ) -> Job | None:
        """Lease the case that is due longest (or ``case_id`` if due), None when none is."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            row = db.execute(
                """
                UPDATE cases SET lease_owner = :owner, lease_until = :until
                WHERE case_id = (
                    SELECT case_id FROM cases
                    WHERE state IN ('pending', 'failed') AND next_try_at <= :now
                      AND lease_until < :now AND (:case IS NULL OR case_id = :case)
                    ORDER BY next_try_at LIMIT 1
                )
                RETURNING case_id, revision, exports_done, attempts
                """,
                {"owner": owner, "until": now + lease_seconds, "now": now, "case": case_id},
            ).fetchone()
        if row is None:
            return None
        return Job(row["case_id"], row["revision"], row["exports_done"] + 1, row["attempts"], owner)

    def exported(
        self,
        job: Job,
        *,
        code: str,
        file_name: str,
        location: str,
        sha256: str,
        notify: bool = False,
        now: float | None = None,
    ) -> bool:
        """Record the file of ``job`` (and queue its e-mail); False if the lease was lost."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            updated = db.execute(
                """
                UPDATE cases SET
                    state = CASE WHEN exports_wanted > :generation THEN 'pending'
                                 ELSE 'exported' END,
                    exports_done = MAX(exports_done, :generation),
                    code = :code, file_name = :file_name, location = :location,
                    sha256 = :sha256, exported_at = :now, reason = NULL, reason_code = NULL,
                    attempts = 0, next_try_at = :now, lease_owner = NULL, lease_until = 0,
                    updated_at = :now
                WHERE case_id = :case AND lease_owner = :owner
                """,
                {
                    "generation": job.generation,
                    "code": code,
                    "file_name": file_name,
                    "location": location,
                    "sha256": sha256,
                    "now": now,
                    "case": job.case_id,
                    "owner": job.owner,
                },
            ).rowcount
            db.execute(
                "INSERT INTO exports (case_id, generation, file_name, location, sha256, "
                "exported_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (job.case_id, job.generation, file_name, location, sha256, now),
            )
            if updated and notify:
                db.execute(
                    "INSERT INTO notifications (case_id, generation, state, next_try_at) "
                    "VALUES (?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                    (job.case_id, job.generation, now),
                )
        return bool(updated)

    def skipped(
        self, job: Job, *, code: str, reason: str, reason_code: str, now: float | None = None
    ) -> bool:
        """Not exportable now; if the case changed while we looked, look again."""
        return self._settle(
            job,
            code=code,
            reason=reason,
            reason_code=reason_code,
            settled_state="skipped",
            count_attempt=False,
            now=now,
        )

    def failed_permanently(
        self,
        job: Job,
        *,
        reason: str,
        reason_code: str,
        code: str | None = None,
        now: float | None = None,
    ) -> bool:
        """Retrying cannot help: dead until replayed, or until the case changes."""
        return self._settle(
            job,
            code=code,
            reason=reason,
            reason_code=reason_code,
            settled_state="dead",
            count_attempt=True,
            now=now,
        )

    def failed_transiently(
        self,
        job: Job,
        *,
        reason: str,
        reason_code: str,
        retry_at: float,
        max_attempts: int,
        code: str | None = None,
        now: float | None = None,
    ) -> str:
        """Retry at ``retry_at``; after ``max_attempts`` the case is dead. Returns the state."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            row = db.execute(
                """
                UPDATE cases SET
                    attempts = attempts + 1,
                    state = CASE WHEN attempts + 1 >= :max THEN 'dead' ELSE 'failed' END,
                    next_try_at = :retry_at, reason = :reason, reason_code = :reason_code,
                    code = COALESCE(:code, code), lease_owner = NULL, lease_until = 0,
                    updated_at = :now
                WHERE case_id = :case AND lease_owner = :owner
                RETURNING state
                """,
                {
                    "max": max_attempts,
                    "retry_at": retry_at,
                    "reason": reason,
                    "reason_code": reason_code,
                    "code": code,
                    "now": now,
                    "case": job.case_id,
                    "owner": job.owner,
                },
            ).fetchone()
        return str(row["state"]) if row else "lease lost"

    def _settle(
        self,
        job: Job,
        *,
        code: str | None,
        reason: str,
        reason_code: str,
        settled_state: str,
        count_attempt: bool,
        now: float | None,
    ) -> bool:
        now = time.time() if now is None else now
        with self._transaction() as db:
            updated = db.execute(
                """
                UPDATE cases SET
                    state = CASE WHEN revision != :revision THEN 'pending' ELSE :settled END,
                    attempts = CASE WHEN :count THEN attempts + 1 ELSE 0 END,
                    next_try_at = :now, reason = :reason, reason_code = :reason_code,
                    code = COALESCE(:code, code), lease_owner = NULL, lease_until = 0,
                    updated_at = :now
                WHERE case_id = :case AND lease_owner = :owner
                """,
                {
                    "revision": job.revision,
                    "settled": settled_state,
                    "count": count_attempt,
                    "now": now,
                    "reason": reason,
                    "reason_code": reason_code,
                    "code": code,
                    "case": job.case_id,
                    "owner": job.owner,
                },
            ).rowcount
        return bool(updated)

    # --- e-mail notifications ---------------------------------------------------------

    def claim_notification(
        self, owner: str, lease_seconds: float, now: float | None = None
    ) -> Notification | None:
        """Lease the e-mail that is due longest, with the export it announces."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            row = db.execute(
                """
                UPDATE notifications SET lease_owner = :owner, lease_until = :until
                WHERE rowid = (
                    SELECT rowid FROM notifications
                    WHERE state = 'pending' AND next_try_at <= :now AND lease_until < :now
                    ORDER BY next_try_at LIMIT 1
                )
                RETURNING case_id, generation, attempts
                """,
                {"owner": owner, "until": now + lease_seconds, "now": now},
            ).fetchone()
            if row is None:
                return None
            export = db.execute(
                "SELECT e.file_name, e.location, c.code FROM exports e "
                "JOIN cases c ON c.case_id = e.case_id "
                "WHERE e.case_id = ? AND e.generation = ?",
                (row["case_id"], row["generation"]),
            ).fetchone()
        return Notification(
            row["case_id"],
            row["generation"],
            row["attempts"],
            owner,
            export["code"] or str(row["case_id"]),
            export["file_name"],
            export["location"],
        )

    def notification_sent(self, notification: Notification, now: float | None = None) -> None:
        self._notification_done(notification, "'sent'", None, now, None)

    def notification_failed(
        self,
        notification: Notification,
        *,
        error: str,
        retry_at: float,
        max_attempts: int,
        now: float | None = None,
    ) -> None:
        """Try again at ``retry_at``; after ``max_attempts`` the e-mail is given up."""
        state = f"CASE WHEN attempts + 1 >= {int(max_attempts)} THEN 'dead' ELSE 'pending' END"
        self._notification_done(notification, state, error, now, retry_at)

    def _notification_done(
        self,
        notification: Notification,
        state_sql: str,
        error: str | None,
        now: float | None,
        retry_at: float | None,
    ) -> None:
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.execute(
                f"UPDATE notifications SET state = {state_sql}, "  # noqa: S608 - fixed SQL
                "attempts = attempts + CASE WHEN :error IS NULL THEN 0 ELSE 1 END, "
                "error = :error, sent_at = CASE WHEN :error IS NULL THEN :now END, "
                "next_try_at = COALESCE(:retry_at, next_try_at), lease_owner = NULL, "
                "lease_until = 0 WHERE case_id = :case AND generation = :generation "
                "AND lease_owner = :owner",
                {
                    "error": error,
                    "now": now,
                    "retry_at": retry_at,
                    "case": notification.case_id,
                    "generation": notification.generation,
                    "owner": notification.owner,
                },
            )

    def notifications_by_state(self) -> dict[str, int]:
        rows = (
            self._connection()
            .execute("SELECT state, COUNT(*) AS n FROM notifications GROUP BY state")
            .fetchall()
        )
        return {row["state"]: row["n"] for row in rows}

    # --- operator actions ---------------------------------------------------------------

    def replay(self, case_id: int | None = None, *, now: float | None = None) -> int:
        """Queue failed, dead or skipped cases again (one, or all failed and dead ones)."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.execute("DELETE FROM flags WHERE name = ?", (AUTH_REFUSED_FLAG,))
            if case_id is None:
                where, parameters = "state IN ('failed', 'dead')", {}
            else:
                where = "case_id = :case AND state IN ('failed', 'dead', 'skipped')"
                parameters = {"case": case_id}
            return db.execute(
                f"UPDATE cases SET state = 'pending', attempts = 0, next_try_at = :now, "  # noqa: S608 - fixed clauses
                f"updated_at = :now WHERE {where}",
                {"now": now, **parameters},
            ).rowcount

    def request_reexport(self, case_id: int, *, now: float | None = None) -> None:
        """Ask for one more file of an exported case (``<code>-2.xml``, ...)."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.execute(
                """
                UPDATE cases SET exports_wanted = exports_done + 1, state = 'pending',
                    attempts = 0, next_try_at = :now, updated_at = :now
                WHERE case_id = :case AND state = 'exported'
                """,
                {"now": now, "case": case_id},
            )

    def enqueue(self, case_id: int, *, now: float | None = None) -> None:
        """Queue a case found without a webhook (backfill, reconciliation, a button)."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.execute(
                "INSERT INTO cases (case_id, state, next_try_at, events, created_at, updated_at) "
                "VALUES (?, 'pending', ?, 0, ?, ?)" + UPSERT_CASE,
                (case_id, now, now, now),
            ).fetchall()

    # --- flags --------------------------------------------------------------------------

    def flag(self, name: str) -> str | None:
        row = (
            self._connection().execute("SELECT value FROM flags WHERE name = ?", (name,)).fetchone()
        )
        return None if row is None else str(row["value"])

    def set_flag(self, name: str, value: str | None) -> None:
        with self._transaction() as db:
            if value is None:
                db.execute("DELETE FROM flags WHERE name = ?", (name,))
            else:
                db.execute(
                    "INSERT INTO flags (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, value),
                )

    def take_turn(self, name: str, now: float, every: float) -> bool:
        """True once per ``every`` seconds for all processes sharing the state file."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM flags WHERE name = ?", (name,)).fetchone()
            if row is not None and float(row["value"]) > now:
                return False
            db.execute(
                "INSERT INTO flags (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, repr(now + every)),
            )
        return True

    def sync_enabled(self) -> bool:
        """The operator's runtime switch (the dashboard); on unless turned off."""
        return self.flag(SYNC_FLAG) != "0"

    def set_sync_enabled(self, enabled: bool) -> None:
        self.set_flag(SYNC_FLAG, "1" if enabled else "0")

    # --- reading ------------------------------------------------------------------------

    def case(self, case_id: int) -> CaseRecord | None:
        row = (
            self._connection()
            .execute(
                SELECT_CASES + " WHERE case_id = ?",
                (case_id,),
            )
            .fetchone()
        )
        return None if row is None else CaseRecord(**dict(row))

    def cases(
        self,
        *,
        state: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[CaseRecord]:
        """Most recently changed first; ``search`` matches the case code or id."""
        clauses: list[str] = []
        parameters: dict[str, object] = {"limit": limit, "offset": offset}
        if state:
            clauses.append("state = :state")
            parameters["state"] = state
        if search:
            clauses.append("(code LIKE :search ESCAPE '\\' OR CAST(case_id AS TEXT) = :exact)")
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parameters["search"] = f"%{escaped}%"
            parameters["exact"] = search
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = (
            self._connection()
            .execute(
                f"{SELECT_CASES} {where} "
                "ORDER BY updated_at DESC, case_id DESC LIMIT :limit OFFSET :offset",
                parameters,
            )
            .fetchall()
        )
        return [CaseRecord(**dict(row)) for row in rows]

    def exports_of(self, case_id: int) -> list[ExportRecord]:
        rows = (
            self._connection()
            .execute(
                "SELECT case_id, generation, file_name, location, sha256, exported_at "
                "FROM exports WHERE case_id = ? ORDER BY generation",
                (case_id,),
            )
            .fetchall()
        )
        return [ExportRecord(**dict(row)) for row in rows]

    def counts(self) -> dict[str, int]:
        rows = (
            self._connection()
            .execute("SELECT state, COUNT(*) AS n FROM cases GROUP BY state")
            .fetchall()
        )
        counts = dict.fromkeys(("pending", "exported", "skipped", "failed", "dead"), 0)
        counts.update({row["state"]: row["n"] for row in rows})
        return counts

    def due_count(self, now: float | None = None) -> int:
        """Cases waiting for a worker right now (pending or failed, and due)."""
        now = time.time() if now is None else now
        row = (
            self._connection()
            .execute(
                "SELECT COUNT(*) AS n FROM cases "
                "WHERE state IN ('pending', 'failed') AND next_try_at <= ?",
                (now,),
            )
            .fetchone()
        )
        return int(row["n"])

    def oldest_due(self, now: float | None = None) -> float | None:
        """Seconds the longest-waiting due case has waited, or None if none is due."""
        now = time.time() if now is None else now
        row = (
            self._connection()
            .execute(
                "SELECT MIN(next_try_at) AS due FROM cases "
                "WHERE state IN ('pending', 'failed') AND next_try_at <= ?",
                (now,),
            )
            .fetchone()
        )
        return None if row["due"] is None else max(0.0, now - float(row["due"]))

    def events_stored(self) -> int:
        """How many distinct webhook events are on record (within the retention period)."""
        row = self._connection().execute("SELECT COUNT(*) AS n FROM events").fetchone()
        return int(row["n"])

    def ping(self) -> None:
        """Raise unless the state file can be read and written."""
        self.set_flag("last_ping", str(time.time()))

    def maintain(self, now: float) -> None:
        self.prune_events(now - EVENT_RETENTION)

    def prune_events(self, older_than: float) -> int:
        """Forget event ids older than RAYNET could ever redeliver (it gives up after 7 days)."""
        with self._transaction() as db:
            return db.execute("DELETE FROM events WHERE received_at < ?", (older_than,)).rowcount


class _Waiting:
    """One caller's event in the group-commit queue."""

    __slots__ = ("done", "error", "event", "now", "result")

    def __init__(self, event: WebhookEvent, now: float) -> None:
        self.event = event
        self.now = now
        self.done = threading.Event()
        self.result: Recorded | None = None
        self.error: BaseException | None = None


class _GroupCommitter:
    """A thread that writes whatever events have queued up in one transaction.

    While one commit waits for its fsync, the next events gather; they go out together in
    the next commit. Under load this turns many fsyncs into few, without ever answering
    before the event is on disk.
    """

    def __init__(
        self, write: Callable[[Sequence[tuple[WebhookEvent, float]]], list[Recorded]]
    ) -> None:
        self._write = write
        self._queue: list[_Waiting] = []
        self._wake = threading.Condition()
        self._pid = os.getpid()
        threading.Thread(target=self._run, name="group-commit", daemon=True).start()

    def serves_this_process(self) -> bool:
        return self._pid == os.getpid()  # a forked child needs a thread of its own

    def submit(self, event: WebhookEvent, now: float) -> Recorded:
        waiting = _Waiting(event, now)
        with self._wake:
            self._queue.append(waiting)
            self._wake.notify()
        waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                batch, self._queue = self._queue, []
            try:
                results = self._write([(waiting.event, waiting.now) for waiting in batch])
            except Exception as error:  # noqa: BLE001 - re-raised in every waiting caller
                for waiting in batch:
                    waiting.error = error
            else:
                for waiting, result in zip(batch, results, strict=True):
                    waiting.result = result
            for waiting in batch:
                waiting.done.set()
