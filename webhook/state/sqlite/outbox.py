"""The follow-ups of delivered files on the state file, written in the same transaction as
the export they follow (``SqliteJobQueue.settle``), so none is lost and none is doubled."""

from __future__ import annotations

import secrets

from webhook.state.model import Clock, FollowUp, OutboxItem, WorkPolicy
from webhook.state.ports import Outbox
from webhook.state.sqlite.database import StateDatabase


class SqliteOutbox(Outbox):
    def __init__(self, database: StateDatabase, clock: Clock, policy: WorkPolicy) -> None:
        self._db, self._clock, self._policy = database, clock, policy

    def claim(self, worker: str) -> OutboxItem | None:
        now = self._clock()
        token = f"{worker}#{secrets.token_hex(4)}"
        with self._db.transaction() as db:
            row = db.execute(
                """
                UPDATE outbox SET lease_owner = :claim, lease_until = :until
                WHERE rowid = (
                    SELECT rowid FROM outbox
                    WHERE state = 'pending' AND next_try_at <= :now AND lease_until < :now
                    ORDER BY next_try_at LIMIT 1
                )
                RETURNING kind, case_id, generation, attempts
                """,
                {"claim": token, "until": now + self._policy.lease_seconds, "now": now},
            ).fetchone()
            if row is None:
                return None
            export = db.execute(
                "SELECT e.file_name, e.location, c.code FROM exports e "
                "JOIN cases c ON c.case_id = e.case_id "
                "WHERE e.case_id = ? AND e.generation = ?",
                (row["case_id"], row["generation"]),
            ).fetchone()
        return OutboxItem(
            kind=FollowUp(row["kind"]),
            case_id=row["case_id"],
            generation=row["generation"],
            attempts=row["attempts"],
            claim=token,
            code=export["code"] or str(row["case_id"]),
            file_name=export["file_name"],
            location=export["location"],
        )

    def done(self, item: OutboxItem) -> None:
        self._finish(item, "'done'", error=None, retry_at=None)

    def failed(self, item: OutboxItem, error: str, retry_at: float) -> bool:
        last = int(self._policy.max_attempts)
        state = f"CASE WHEN attempts + 1 >= {last} THEN 'dead' ELSE 'pending' END"
        return self._finish(item, state, error=error, retry_at=retry_at) == "pending"

    def counts(self) -> dict[str, int]:
        rows = self._db.read("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state").fetchall()
        return {row["state"]: row["n"] for row in rows}

    def _finish(
        self, item: OutboxItem, state_sql: str, *, error: str | None, retry_at: float | None
    ) -> str | None:
        with self._db.transaction() as db:
            row = db.execute(
                f"UPDATE outbox SET state = {state_sql}, "  # noqa: S608 - fixed SQL
                "attempts = attempts + CASE WHEN :error IS NULL THEN 0 ELSE 1 END, "
                "error = :error, done_at = CASE WHEN :error IS NULL THEN :now END, "
                "next_try_at = COALESCE(:retry_at, next_try_at), lease_owner = NULL, "
                "lease_until = 0 WHERE kind = :kind AND case_id = :case "
                "AND generation = :generation AND lease_owner = :claim RETURNING state",
                {
                    "error": error,
                    "now": self._clock(),
                    "retry_at": retry_at,
                    "kind": item.kind.value,
                    "case": item.case_id,
                    "generation": item.generation,
                    "claim": item.claim,
                },
            ).fetchone()
        return None if row is None else str(row["state"])
