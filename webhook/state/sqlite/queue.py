"""The job queue on the state file: the ``cases`` table is the queue.

Events are stored with their case in one transaction; concurrent receivers in one process
share it and its fsync (group commit). A worker claims the case due longest with a lease;
a case whose worker died is claimed again once the lease runs out.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Sequence

from webhook.order import CaseSummary, Reason
from webhook.state.batching import GroupWriter
from webhook.state.model import (
    AUTH_REFUSED_FLAG,
    KNOWN_LOCATION,
    CaseEvent,
    CaseState,
    Clock,
    FollowUp,
    Happening,
    Job,
    Recorded,
    Settlement,
    WorkPolicy,
    caveats_json,
    digest_json,
    reason_json,
)
from webhook.state.ports import JobQueue
from webhook.state.sqlite.database import StateDatabase

EVENT_RETENTION = 30 * 24 * 3600.0  # RAYNET stops redelivering after 7 days
UNREADABLE_KEPT = 100
DUE = "state IN ('pending', 'failed') AND next_try_at <= :now"
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
# One statement settles every outcome. A skip or a permanent failure of a case that changed
# while it was worked on (revision moved past the claim) makes it pending: look again.
SETTLE = """
UPDATE cases SET
    state = CASE
        WHEN :state = 'exported' THEN
            CASE WHEN exports_wanted > :generation THEN 'pending' ELSE 'exported' END
        WHEN :state = 'failed' THEN
            CASE WHEN attempts + 1 >= :max_attempts THEN 'dead' ELSE 'failed' END
        WHEN revision != claimed_revision THEN 'pending'
        ELSE :state END,
    attempts = CASE WHEN :state IN ('failed', 'dead') THEN attempts + 1 ELSE 0 END,
    next_try_at = :next_try_at, reason = :reason, reason_code = :reason_code,
    code = COALESCE(:code, code),
    exports_done = CASE WHEN :state = 'exported' THEN MAX(exports_done, :generation)
                        ELSE exports_done END,
    file_name = COALESCE(:file_name, file_name), location = COALESCE(:location, location),
    sha256 = COALESCE(:sha256, sha256),
    exported_at = CASE WHEN :state = 'exported' THEN :now ELSE exported_at END,
    name = COALESCE(:name, name), customer = COALESCE(:customer, customer),
    total_with_vat = COALESCE(:total_with_vat, total_with_vat),
    currency = COALESCE(:currency, currency), doklad = COALESCE(:doklad, doklad),
    reason_detail = :reason_detail, lease_owner = NULL, lease_until = 0, updated_at = :now
WHERE case_id = :case AND lease_owner = :claim
RETURNING state
"""
# Files RAYNET says a case has (our external ids on it), for a case the state does not know
# as exported that far: recorded as delivered, so the case costs no request to RAYNET.
KNOWN_FROM_RAYNET = """
UPDATE cases SET
    exports_done = :generation, exports_wanted = MAX(exports_wanted, :generation),
    state = CASE WHEN MAX(exports_wanted, :generation) > :generation THEN state
                 ELSE 'exported' END,
    attempts = 0, reason = NULL, reason_code = NULL, file_name = :file_name,
    location = :location, exported_at = COALESCE(exported_at, :now), updated_at = :now
WHERE case_id = :case AND exports_done < :generation AND lease_owner IS NULL
RETURNING state
"""
HISTORY = "INSERT INTO history (case_id, at, what, detail) VALUES (?, ?, ?, ?)"
# A follow-up asked for again: a pending one stays as it is, a finished one is due again,
# but not sooner than ``every`` seconds after it was last done.
REARM = """
INSERT INTO outbox (kind, case_id, generation, state, next_try_at)
VALUES (:kind, :case, :generation, 'pending', :now)
ON CONFLICT DO UPDATE SET
    next_try_at = CASE WHEN state = 'pending' THEN next_try_at
                       WHEN state = 'done' THEN MAX(:now, COALESCE(done_at, 0) + :every)
                       ELSE :now END,
    attempts = CASE WHEN state = 'pending' THEN attempts ELSE 0 END,
    error = CASE WHEN state = 'pending' THEN error END,
    state = 'pending'
"""


class SqliteJobQueue(JobQueue):
    def __init__(self, database: StateDatabase, clock: Clock, policy: WorkPolicy) -> None:
        self._db, self._clock, self._policy = database, clock, policy
        self._committer: GroupWriter[tuple[CaseEvent, float], Recorded] | None = None
        self._committer_guard = threading.Lock()

    # --- ingest -------------------------------------------------------------------------

    def record_event(self, event: CaseEvent) -> Recorded:
        """Store a business-case event durably; the case becomes due unless exported.

        Concurrent callers in one process share a transaction and its fsync (group commit);
        each returns only once its event is on disk.
        """
        with self._committer_guard:
            if self._committer is None or not self._committer.serves_this_process():
                self._committer = GroupWriter(self.record_events)
            committer = self._committer
        return committer.submit((event, self._clock()))

    def record_events(self, events: Sequence[tuple[CaseEvent, float]]) -> list[Recorded]:
        """Store events with their arrival times in one transaction of two statements.

        However many events, the batch costs the same few calls into SQLite: that is what
        keeps a busy receiver fast while every commit waits for its fsync.
        """
        with self._db.transaction() as db:
            stored = {
                row[0]
                for row in db.execute(
                    "INSERT INTO events (event_id, case_id, type, received_at) VALUES "  # noqa: S608 - placeholders only
                    + ", ".join(["(?, ?, ?, ?)"] * len(events))
                    + " ON CONFLICT DO NOTHING RETURNING event_id",
                    [v for e, now in events for v in (e.event_id, e.case_id, e.kind, now)],
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
                    [v for e, now in fresh for v in (e.case_id, now, now, now)],
                ).fetchall()
                if fresh
                else ()
            )
            for event, now in fresh:
                if event.exported_files and states[event.case_id] != CaseState.EXPORTED:
                    states[event.case_id] = _known_from_raynet(db, event, now)
            every = self._policy.change_check_every
            checks = {
                event.case_id: now
                for event, now in fresh
                if states[event.case_id] == CaseState.EXPORTED and not event.by_bridge
            }
            if every is not None and checks:
                db.executemany(
                    REARM,
                    [
                        {"kind": FollowUp.CHANGE_CHECK.value, "case": case, "generation": 0,
                         "now": now, "every": every}
                        for case, now in checks.items()
                    ],
                )  # fmt: skip
        fresh_ids = {id(event) for event, _ in fresh}
        return [
            Recorded.DUPLICATE
            if id(event) not in fresh_ids
            else Recorded.ALREADY_EXPORTED
            if states[event.case_id] == CaseState.EXPORTED
            else Recorded.ACCEPTED
            for event, _ in events
        ]

    def record_unreadable(self, body: bytes, problem: Reason) -> None:
        """Keep an authenticated webhook the receiver could not read, for inspection (the
        latest UNREADABLE_KEPT, 30 days at most)."""
        now = self._clock()
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO unreadable (received_at, problem, body) VALUES (?, ?, ?)",
                (now, reason_json(problem), body),
            )
            db.execute(
                "DELETE FROM unreadable WHERE rowid NOT IN "
                "(SELECT rowid FROM unreadable ORDER BY received_at DESC LIMIT ?)",
                (UNREADABLE_KEPT,),
            )

    def enqueue(self, case_id: int) -> None:
        now = self._clock()
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO cases (case_id, state, next_try_at, events, created_at, updated_at) "
                "VALUES (?, 'pending', ?, 0, ?, ?)" + UPSERT_CASE,
                (case_id, now, now, now),
            ).fetchall()

    # --- work ---------------------------------------------------------------------------

    def claim(self, worker: str, case_id: int | None = None) -> Job | None:
        now = self._clock()
        token = f"{worker}#{secrets.token_hex(4)}"  # unique: a lapsed claim never matches
        with self._db.transaction() as db:
            row = db.execute(
                f"""
                UPDATE cases SET lease_owner = :claim, lease_until = :until,
                    claimed_revision = revision
                WHERE case_id = (
                    SELECT case_id FROM cases
                    WHERE {DUE} AND lease_until < :now AND (:case IS NULL OR case_id = :case)
                    ORDER BY next_try_at LIMIT 1
                )
                RETURNING case_id, exports_done, attempts
                """,  # noqa: S608 - constant clauses
                {
                    "claim": token,
                    "until": now + self._policy.lease_seconds,
                    "now": now,
                    "case": case_id,
                },
            ).fetchone()
        if row is None:
            return None
        return Job(row["case_id"], row["exports_done"] + 1, row["attempts"], token)

    def settle(self, job: Job, settlement: Settlement) -> CaseState | None:
        now = self._clock()
        delivered = settlement.file
        with self._db.transaction() as db:
            row = db.execute(
                SETTLE,
                {
                    "state": settlement.state.value,
                    "generation": job.generation,
                    "max_attempts": self._policy.max_attempts,
                    "next_try_at": settlement.retry_at or now,
                    "reason": settlement.reason,
                    "reason_code": settlement.reason_code,
                    "code": settlement.code,
                    "file_name": delivered.file_name if delivered else None,
                    "location": delivered.location if delivered else None,
                    "sha256": delivered.sha256 if delivered else None,
                    "now": now,
                    "case": job.case_id,
                    "claim": job.claim,
                    "reason_detail": reason_json(settlement.detail),
                    **_summary_values(settlement.summary),
                },
            ).fetchone()
            if delivered is not None:  # the file exists, whoever holds the lease now
                db.execute(
                    "INSERT INTO exports (case_id, generation, file_name, location, sha256, "
                    "exported_at, caveats, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (
                        job.case_id,
                        job.generation,
                        delivered.file_name,
                        delivered.location,
                        delivered.sha256,
                        now,
                        caveats_json(delivered.caveats),
                        digest_json(delivered.digest),
                    ),
                )
            if row is not None:
                self._add_follow_ups(db, job, settlement.follow_ups, now)
                detail = delivered.file_name if delivered else settlement.reason
                db.execute(HISTORY, (job.case_id, now, row["state"], detail))
        return None if row is None else CaseState(row["state"])

    @staticmethod
    def _add_follow_ups(
        db: sqlite3.Connection, job: Job, follow_ups: Sequence[FollowUp], now: float
    ) -> None:
        db.executemany(
            "INSERT INTO outbox (kind, case_id, generation, state, next_try_at) "
            "VALUES (?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
            [(kind.value, job.case_id, job.generation, now) for kind in follow_ups],
        )

    # --- operators ----------------------------------------------------------------------

    def replay(self, case_id: int | None = None) -> int:
        with self._db.transaction() as db:
            db.execute("DELETE FROM flags WHERE name = ?", (AUTH_REFUSED_FLAG,))
            if case_id is None:
                where, parameters = "state IN ('failed', 'dead')", {}
            else:
                where = "case_id = :case AND state IN ('failed', 'dead', 'skipped')"
                parameters = {"case": case_id}
            replayed = db.execute(
                f"UPDATE cases SET state = 'pending', attempts = 0, next_try_at = :now, "  # noqa: S608 - fixed clauses
                f"updated_at = :now WHERE {where} RETURNING case_id",
                {"now": self._clock(), **parameters},
            ).fetchall()
            db.executemany(
                HISTORY,
                [(row["case_id"], self._clock(), Happening.RETRY_ASKED, None) for row in replayed],
            )
            return len(replayed)

    def request_reexport(self, case_id: int) -> None:
        with self._db.transaction() as db:
            asked = db.execute(
                """
                UPDATE cases SET exports_wanted = exports_done + 1, state = 'pending',
                    attempts = 0, next_try_at = :now, updated_at = :now
                WHERE case_id = :case AND state = 'exported'
                RETURNING exports_wanted
                """,
                {"now": self._clock(), "case": case_id},
            ).fetchone()
            if asked is not None:
                db.execute(
                    HISTORY,
                    (case_id, self._clock(), Happening.REEXPORT_ASKED, str(asked[0])),
                )

    # --- watching -----------------------------------------------------------------------

    def due_count(self) -> int:
        sql = f"SELECT COUNT(*) AS n FROM cases WHERE {DUE}"  # noqa: S608 - constant clause
        return int(self._db.read(sql, {"now": self._clock()}).fetchone()["n"])

    def oldest_due(self) -> float | None:
        now = self._clock()
        sql = f"SELECT MIN(next_try_at) AS due FROM cases WHERE {DUE}"  # noqa: S608 - constant clause
        row = self._db.read(sql, {"now": now}).fetchone()
        return None if row["due"] is None else max(0.0, now - float(row["due"]))

    def probe(self) -> None:
        """A write into the tables webhooks write, undone in the same transaction (a damaged
        page there fails it), and every few minutes SQLite's own ``quick_check``."""
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO events (event_id, case_id, type, received_at) "
                "VALUES ('~probe', 0, 'probe', 0)"
            )
            db.execute(
                "INSERT INTO cases (case_id, state, next_try_at, created_at, updated_at) "
                "VALUES (0, 'skipped', 0, 0, 0)"
            )
            db.execute("DELETE FROM events WHERE event_id = '~probe'")
            db.execute("DELETE FROM cases WHERE case_id = 0")
        self._db.check_integrity()

    def maintain(self) -> None:
        """Forget event ids older than RAYNET could ever redeliver (it gives up after 7 days)."""
        with self._db.transaction() as db:
            for table in ("events", "unreadable"):
                db.execute(
                    f"DELETE FROM {table} WHERE received_at < ?",  # noqa: S608 - fixed names
                    (self._clock() - EVENT_RETENTION,),
                )


def _summary_values(summary: CaseSummary | None) -> dict[str, str | None]:
    known = summary or CaseSummary()
    total = known.total_with_vat
    return {
        "name": known.name,
        "customer": known.customer,
        "total_with_vat": None if total is None else str(total),
        "currency": known.currency,
        "doklad": known.doklad,
    }


def _known_from_raynet(db: sqlite3.Connection, event: CaseEvent, now: float) -> str:
    """Record the latest of the files RAYNET names on the case; the case's state after."""
    latest = max(event.exported_files, key=lambda known: known.generation)
    generation, name = latest.generation, latest.name
    row = db.execute(
        KNOWN_FROM_RAYNET,
        {
            "case": event.case_id,
            "generation": generation,
            "file_name": name,
            "location": KNOWN_LOCATION,
            "now": now,
        },
    ).fetchone()
    if row is None:
        state = db.execute("SELECT state FROM cases WHERE case_id = ?", (event.case_id,))
        return str(state.fetchone()[0])
    db.executemany(
        "INSERT INTO exports (case_id, generation, file_name, location, sha256, exported_at) "
        "VALUES (?, ?, ?, ?, '', ?) ON CONFLICT DO NOTHING",
        [
            (event.case_id, known.generation, known.name, KNOWN_LOCATION, now)
            for known in event.exported_files
        ],
    )
    db.execute(HISTORY, (event.case_id, now, Happening.KNOWN_FROM_RAYNET, name))
    return str(row["state"])
