"""The case records on the state file: what the dashboard, ``status`` and metrics read."""

from __future__ import annotations

import sqlite3
from typing import Any

from webhook.state.model import (
    CaseQuery,
    CaseState,
    Clock,
    ExportRecord,
    TrackedCase,
)
from webhook.state.ports import CaseRecords
from webhook.state.sqlite.database import StateDatabase

CASE_COLUMNS = (
    "case_id, state, code, attempts, next_try_at, exports_wanted, exports_done, reason, "
    "reason_code, file_name, location, sha256, exported_at, events, created_at, updated_at"
)
SELECT_CASES = f"SELECT {CASE_COLUMNS} FROM cases"  # noqa: S608 - constant columns


class SqliteCaseRecords(CaseRecords):
    def __init__(self, database: StateDatabase, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    # --- cases --------------------------------------------------------------------------

    def case(self, case_id: int) -> TrackedCase | None:
        row = self._read(SELECT_CASES + " WHERE case_id = ?", (case_id,)).fetchone()
        return None if row is None else _tracked(row)

    def cases(self, query: CaseQuery) -> list[TrackedCase]:
        clauses: list[str] = []
        parameters: dict[str, object] = {"limit": query.limit, "offset": query.offset}
        if query.state:
            clauses.append("state = :state")
            parameters["state"] = query.state.value
        if query.search:
            clauses.append("(code LIKE :search ESCAPE '\\' OR CAST(case_id AS TEXT) = :exact)")
            search = query.search
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parameters["search"] = f"%{escaped}%"
            parameters["exact"] = search
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            f"{SELECT_CASES} {where} "
            "ORDER BY updated_at DESC, case_id DESC LIMIT :limit OFFSET :offset",
            parameters,
        ).fetchall()
        return [_tracked(row) for row in rows]

    def counts(self) -> dict[CaseState, int]:
        counts = dict.fromkeys(CaseState, 0)
        for row in self._read("SELECT state, COUNT(*) AS n FROM cases GROUP BY state"):
            counts[CaseState(row["state"])] = row["n"]
        return counts

    def exports_of(self, case_id: int) -> list[ExportRecord]:
        rows = self._read(
            "SELECT case_id, generation, file_name, location, sha256, exported_at "
            "FROM exports WHERE case_id = ? ORDER BY generation",
            (case_id,),
        ).fetchall()
        return [ExportRecord(**dict(row)) for row in rows]

    def events_stored(self) -> int:
        """Distinct webhook events on record (kept 30 days)."""
        return int(self._read("SELECT COUNT(*) AS n FROM events").fetchone()["n"])

    # --- switches -----------------------------------------------------------------------

    def flag(self, name: str) -> str | None:
        row = self._read("SELECT value FROM flags WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row["value"])

    def set_flag(self, name: str, value: str | None) -> None:
        with self._db.transaction() as db:
            if value is None:
                db.execute("DELETE FROM flags WHERE name = ?", (name,))
            else:
                _put_flag(db, name, value)

    def take_turn(self, name: str, every: float) -> bool:
        now = self._clock()
        with self._db.transaction() as db:
            row = db.execute("SELECT value FROM flags WHERE name = ?", (name,)).fetchone()
            if row is not None and float(row["value"]) > now:
                return False
            _put_flag(db, name, repr(now + every))
        return True

    def _read(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self._db.read(sql, parameters)


def _put_flag(db: sqlite3.Connection, name: str, value: str) -> None:
    db.execute(
        "INSERT INTO flags (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def _tracked(row: sqlite3.Row) -> TrackedCase:
    values = dict(row)
    return TrackedCase(**{**values, "state": CaseState(values["state"])})
