"""The case records on the state file: what the dashboard, ``status`` and metrics read."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from webhook.order import CaseSummary
from webhook.state.model import (
    MONEY_S3,
    CaseChanges,
    CaseOrder,
    CaseQuery,
    CaseState,
    Clock,
    Delivery,
    ExportRecord,
    Happening,
    HistoryEntry,
    MoneyVerdict,
    ReportRecord,
    TrackedCase,
    UnreadableEvent,
    caveats_from,
    changes_from,
    changes_json,
    changes_seen,
    changes_to_keep,
    digest_from,
    entries_from,
    entries_json,
    newly_changed,
    problem_from,
    reason_from,
    reason_json,
    verdict_from,
    verdict_json,
)
from webhook.state.ports import CaseRecords
from webhook.state.sqlite.database import StateDatabase

CASE_COLUMNS = (
    "case_id, state, code, attempts, next_try_at, exports_wanted, exports_done, reason, "
    "reason_code, file_name, location, sha256, exported_at, events, created_at, updated_at, "
    "name, customer, total_with_vat, currency, doklad, reason_detail, changes"
)
SUMMARY_COLUMNS = ("name", "customer", "total_with_vat", "currency", "doklad")
EXPORT_COLUMNS = (
    "e.case_id, e.generation, e.file_name, e.location, e.sha256, e.exported_at, "
    "e.imported_at, e.imported_by, e.caveats, e.digest, e.money"
)
HISTORY_RETENTION = 400 * 24 * 3600.0  # a year and a bit: last year's orders stay explained
SELECT_CASES = f"SELECT {CASE_COLUMNS} FROM cases"  # noqa: S608 - constant columns
ORDERS = {
    CaseOrder.CHANGED: "updated_at DESC",
    CaseOrder.CREATED: "created_at DESC",
    CaseOrder.CODE: "code IS NULL, code COLLATE NOCASE",
}
HISTORY = "INSERT INTO history (case_id, at, what, detail) VALUES (?, ?, ?, ?)"


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
            clauses.append(
                "(code LIKE :search ESCAPE '\\' OR name LIKE :search ESCAPE '\\' "
                "OR customer LIKE :search ESCAPE '\\' OR CAST(case_id AS TEXT) = :exact)"
            )
            search = query.search
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            parameters["search"] = f"%{escaped}%"
            parameters["exact"] = search
        if query.since is not None:
            clauses.append("updated_at >= :since")
            parameters["since"] = query.since
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            f"{SELECT_CASES} {where} "
            f"ORDER BY {ORDERS[query.order]}, case_id DESC LIMIT :limit OFFSET :offset",
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
            f"SELECT {EXPORT_COLUMNS} FROM exports e WHERE case_id = ? ORDER BY generation",  # noqa: S608 - constant columns
            (case_id,),
        ).fetchall()
        return [_export(dict(row)) for row in rows]

    def history(self, case_id: int) -> list[HistoryEntry]:
        """What happened to the case, oldest first: webhooks (kept 30 days) and the rest."""
        rows = self._read(
            "SELECT at, what, detail FROM history WHERE case_id = :case "
            "UNION ALL SELECT received_at, 'webhook', type FROM events WHERE case_id = :case "
            "ORDER BY 1",
            {"case": case_id},
        ).fetchall()
        return [HistoryEntry(row[0], Happening(row[1]), row[2]) for row in rows]

    def deliveries(
        self, since: float, *, imported: bool = False, most: int = 1000
    ) -> list[Delivery]:
        """Files delivered since ``since``, newest first; without those marked imported."""
        rows = self._read(
            f"SELECT {EXPORT_COLUMNS}, c.code, c.changes, "  # noqa: S608 - constant columns
            + ", ".join(f"c.{column}" for column in SUMMARY_COLUMNS)
            + " FROM exports e JOIN cases c ON c.case_id = e.case_id "
            "WHERE e.exported_at >= :since AND (:imported OR e.imported_at IS NULL) "
            "ORDER BY e.exported_at DESC, e.case_id DESC LIMIT :most",
            {"since": since, "imported": imported, "most": most},
        ).fetchall()
        return [
            Delivery(
                _export(_without(row, CASE_ONLY)),
                row["code"],
                summary_of(row),
                changes_from(row["changes"]),
            )
            for row in rows
        ]

    def mark_imported(self, case_id: int, generation: int, by: str) -> bool:
        """Record that the accountant imported this file (once: the first mark counts)."""
        now = self._clock()
        with self._db.transaction() as db:
            marked = db.execute(
                "UPDATE exports SET imported_at = ?, imported_by = ? "
                "WHERE case_id = ? AND generation = ? AND imported_at IS NULL",
                (now, by, case_id, generation),
            ).rowcount
            if marked:
                db.execute(
                    "INSERT INTO history (case_id, at, what, detail) VALUES (?, ?, ?, ?)",
                    (case_id, now, Happening.IMPORTED, by),
                )
        return bool(marked)

    # --- what Money S3 said, and what changed since ---------------------------------------

    def files_of_order(self, doklad: str | None, code: str | None) -> list[ExportRecord]:
        for column, value in (("doklad", doklad), ("code", code)):
            if not value:
                continue
            row = self._read(
                f"SELECT case_id FROM cases WHERE {column} = ? AND exports_done > 0 "  # noqa: S608 - constant columns
                "ORDER BY case_id DESC LIMIT 1",
                (value,),
            ).fetchone()
            if row is not None:
                return self.exports_of(row["case_id"])
        return []

    def record_verdict(self, case_id: int, generation: int, verdict: MoneyVerdict) -> bool:
        now = self._clock()
        taken = verdict.outcome.taken
        with self._db.transaction() as db:
            changed = db.execute(
                "UPDATE exports SET money = :money, "
                "imported_at = CASE WHEN :taken THEN COALESCE(imported_at, :now) "
                "ELSE imported_at END, "
                "imported_by = CASE WHEN :taken THEN COALESCE(imported_by, :by) "
                "ELSE imported_by END "
                "WHERE case_id = :case AND generation = :generation AND (money IS NULL "
                "OR json_extract(money, '$.outcome') != :outcome)",
                {
                    "money": verdict_json(verdict),
                    "taken": taken,
                    "now": now,
                    "by": MONEY_S3,
                    "case": case_id,
                    "generation": generation,
                    "outcome": verdict.outcome.value,
                },
            ).rowcount
            if changed:
                db.execute(
                    HISTORY,
                    (case_id, now, Happening.MONEY_REPORT, f"{verdict.outcome}: {verdict.report}"),
                )
        return bool(changed)

    def acknowledge(self, case_id: int, generation: int, by: str) -> bool:
        now = self._clock()
        with self._db.transaction() as db:
            changed = db.execute(
                "UPDATE exports SET money = json_set(money, '$.acknowledged_by', :by, "
                "'$.acknowledged_at', :now) WHERE case_id = :case AND generation = :generation "
                "AND money IS NOT NULL AND json_extract(money, '$.acknowledged_by') IS NULL",
                {"by": by, "now": now, "case": case_id, "generation": generation},
            ).rowcount
            if changed:
                db.execute(HISTORY, (case_id, now, Happening.ACKNOWLEDGED, by))
        return bool(changed)

    def acknowledge_changes(
        self, case_id: int, generation: int, by: str, shown: str | None = None
    ) -> bool:
        now = self._clock()
        with self._db.transaction() as db:
            row = db.execute("SELECT changes FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            before = None if row is None else changes_from(row[0])
            seen = changes_seen(before, generation, by, now, shown)
            if seen is None:
                return False
            db.execute(
                "UPDATE cases SET changes = ? WHERE case_id = ?", (changes_json(seen), case_id)
            )
            db.execute(HISTORY, (case_id, now, Happening.CHANGES_SEEN, by))
        return True

    def record_changes(self, case_id: int, changes: CaseChanges) -> bool:
        with self._db.transaction() as db:
            row = db.execute("SELECT changes FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            if row is None:
                return False
            before = changes_from(row["changes"])
            db.execute(
                "UPDATE cases SET changes = ? WHERE case_id = ?",
                (changes_json(changes_to_keep(before, changes)), case_id),
            )
            news = newly_changed(before, changes)
            if news:
                db.execute(
                    HISTORY,
                    (case_id, changes.checked_at, Happening.CHANGED, str(len(changes.changes))),
                )
        return news

    def report_versions(self, names: Collection[str]) -> dict[str, str]:
        if not names:
            return {}
        rows = self._read("SELECT name, version FROM money_reports").fetchall()
        wanted = set(names)
        return {row["name"]: row["version"] for row in rows if row["name"] in wanted}

    def record_report(self, report: ReportRecord) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO money_reports (name, version, read_at, problem, entries, unknown, "
                "matched) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "version = excluded.version, read_at = excluded.read_at, "
                "problem = excluded.problem, entries = excluded.entries, "
                "unknown = excluded.unknown, matched = excluded.matched",
                (
                    report.name,
                    report.version,
                    report.read_at,
                    reason_json(report.problem),
                    report.entries,
                    entries_json(report.unknown),
                    entries_json(report.matched),
                ),
            )

    def reports(self, limit: int = 50) -> list[ReportRecord]:
        rows = self._read(
            "SELECT name, version, read_at, problem, entries, unknown, matched FROM money_reports "
            "ORDER BY read_at DESC, name LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            ReportRecord(
                **{
                    **dict(row),
                    "problem": problem_from(row["problem"]),
                    "unknown": entries_from(row["unknown"]),
                    "matched": entries_from(row["matched"]),
                }
            )
            for row in rows
        ]

    def unmark_imported(self, case_id: int, generation: int) -> bool:
        with self._db.transaction() as db:
            return bool(
                db.execute(
                    "UPDATE exports SET imported_at = NULL, imported_by = NULL "
                    "WHERE case_id = ? AND generation = ? AND imported_at IS NOT NULL "
                    "AND imported_by != ? AND (money IS NULL OR json_extract(money, "
                    "'$.outcome') NOT IN ('imported', 'imported_with_warnings'))",
                    (case_id, generation, MONEY_S3),
                ).rowcount
            )

    def maintain(self) -> None:
        """Forget history older than HISTORY_RETENTION; the cases themselves stay."""
        with self._db.transaction() as db:
            db.execute("DELETE FROM history WHERE at < ?", (self._clock() - HISTORY_RETENTION,))

    def unreadable(self, limit: int = 50) -> list[UnreadableEvent]:
        rows = self._read(
            "SELECT received_at, problem, body FROM unreadable ORDER BY received_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [UnreadableEvent(row[0], problem_from(row[1]), bytes(row[2])) for row in rows]

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


CASE_ONLY = {"code", "changes", *SUMMARY_COLUMNS}


def _without(row: sqlite3.Row, columns: Collection[str]) -> dict[str, Any]:
    return {key: value for key, value in dict(row).items() if key not in columns}


def summary_of(row: sqlite3.Row) -> CaseSummary:
    total = row["total_with_vat"]
    return CaseSummary(
        name=row["name"],
        customer=row["customer"],
        total_with_vat=None if total is None else Decimal(total),
        currency=row["currency"],
        doklad=row["doklad"],
    )


def _tracked(row: sqlite3.Row) -> TrackedCase:
    values = _without(row, (*SUMMARY_COLUMNS, "reason_detail", "state", "changes"))
    return TrackedCase(
        **values,
        state=CaseState(row["state"]),
        summary=summary_of(row),
        detail=reason_from(row["reason_detail"]),
        changes=changes_from(row["changes"]),
    )


def _export(values: dict[str, Any]) -> ExportRecord:
    return ExportRecord(
        **{
            **values,
            "caveats": caveats_from(values.get("caveats")),
            "digest": digest_from(values.get("digest")),
            "money": verdict_from(values.get("money")),
        }
    )
