"""The follow-ups of delivered files on the state file, written in the same transaction as
the export they follow (``SqliteJobQueue.settle``), so none is lost and none is doubled.

A claim whose lease ran out (its worker died mid-way) counts as an attempt: the next
worker's handler then looks whether the write was made before it makes it again."""

from __future__ import annotations

import secrets
from collections.abc import Collection

from webhook.order import CaseSummary
from webhook.state.model import (
    Clock,
    FollowUp,
    FollowUpState,
    Happening,
    OutboxItem,
    WorkPolicy,
    caveats_from,
    changes_from,
    verdict_from,
)
from webhook.state.ports import Outbox
from webhook.state.sqlite.database import StateDatabase
from webhook.state.sqlite.queue import REARM
from webhook.state.sqlite.records import summary_of

# A follow-up waits while one of its ``after`` of the same file is still pending.
WAITING_FOR = (
    "first.case_id = item.case_id AND first.generation = item.generation "
    "AND first.state = 'pending' AND ("
    + " OR ".join(
        f"(item.kind = '{kind.value}' AND first.kind IN "
        f"({', '.join(repr(before.value) for before in kind.after)}))"
        for kind in FollowUp
        if kind.after
    )
    + ")"
)


class SqliteOutbox(Outbox):
    def __init__(self, database: StateDatabase, clock: Clock, policy: WorkPolicy) -> None:
        self._db, self._clock, self._policy = database, clock, policy

    def claim(self, worker: str, kinds: Collection[FollowUp]) -> OutboxItem | None:
        if not kinds:
            return None
        now = self._clock()
        token = f"{worker}#{secrets.token_hex(4)}"
        chosen = {f"kind{n}": kind.value for n, kind in enumerate(kinds)}
        with self._db.transaction() as db:
            row = db.execute(
                f"""
                UPDATE outbox SET lease_owner = :claim, lease_until = :until,
                    attempts = attempts + (lease_until > 0)
                WHERE rowid = (
                    SELECT rowid FROM outbox AS item
                    WHERE state = 'pending' AND next_try_at <= :now AND lease_until < :now
                        AND kind IN ({", ".join(f":{name}" for name in chosen)})
                        AND NOT EXISTS (SELECT 1 FROM outbox AS first WHERE {WAITING_FOR})
                    ORDER BY next_try_at LIMIT 1
                )
                RETURNING kind, case_id, generation, attempts
                """,  # noqa: S608 - placeholders and constant clauses
                {
                    "claim": token,
                    "until": now + self._policy.lease_seconds,
                    "now": now,
                    **chosen,
                },
            ).fetchone()
            if row is None:
                return None
            export = db.execute(
                "SELECT e.file_name, e.location, e.exported_at AS delivered_at, e.caveats, "
                "e.money, c.* "
                "FROM cases c "
                "LEFT JOIN exports e ON e.case_id = c.case_id AND e.generation = ? "
                "WHERE c.case_id = ?",
                (row["generation"], row["case_id"]),
            ).fetchone()
        return OutboxItem(
            kind=FollowUp(row["kind"]),
            case_id=row["case_id"],
            generation=row["generation"],
            attempts=row["attempts"],
            claim=token,
            code=None if export is None else export["code"] or str(row["case_id"]),
            file_name=None if export is None else export["file_name"],
            location=None if export is None else export["location"],
            exported_at=None if export is None else export["delivered_at"],
            summary=CaseSummary() if export is None else summary_of(export),
            caveats=() if export is None else caveats_from(export["caveats"]),
            money=None if export is None else verdict_from(export["money"]),
            changes=None if export is None else changes_from(export["changes"]),
        )

    def add(self, kind: FollowUp, case_id: int, generation: int) -> bool:
        with self._db.transaction() as db:
            return bool(
                db.execute(
                    "INSERT INTO outbox (kind, case_id, generation, state, next_try_at) "
                    "VALUES (?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                    (kind.value, case_id, generation, self._clock()),
                ).rowcount
            )

    def rearm(self, kind: FollowUp, case_id: int, generation: int, every: float) -> None:
        with self._db.transaction() as db:
            db.execute(
                REARM,
                {
                    "kind": kind.value,
                    "case": case_id,
                    "generation": generation,
                    "now": self._clock(),
                    "every": every,
                },
            )

    def of_case(self, case_id: int) -> list[FollowUpState]:
        rows = self._db.read(
            "SELECT kind, generation, state, attempts, error, done_at FROM outbox "
            "WHERE case_id = ? ORDER BY generation, kind",
            (case_id,),
        ).fetchall()
        return [FollowUpState(**{**dict(row), "kind": FollowUp(row["kind"])}) for row in rows]

    def done(self, item: OutboxItem) -> None:
        self._finish(item, "'done'", error=None, retry_at=None)

    def failed(self, item: OutboxItem, error: str, retry_at: float) -> bool:
        last = int(self._policy.max_attempts)
        state = f"CASE WHEN attempts + 1 >= {last} THEN 'dead' ELSE 'pending' END"
        return self._finish(item, state, error=error, retry_at=retry_at) == "pending"

    def give_up(self, item: OutboxItem, error: str) -> None:
        self._finish(item, "'dead'", error=error, retry_at=None)

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
                "AND generation = :generation AND lease_owner = :claim RETURNING state, case_id",
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
            if row is not None and item.kind is not FollowUp.REPORT:
                db.execute(
                    "INSERT INTO history (case_id, at, what, detail) VALUES (?, ?, ?, ?)",
                    (
                        item.case_id,
                        self._clock(),
                        Happening.FOLLOW_UP_FAILED if error else Happening.FOLLOW_UP_DONE,
                        f"{item.kind.value}: {error}" if error else item.kind.value,
                    ),
                )
        return None if row is None else str(row["state"])
