"""Case records in a DynamoDB table (``STATE_TABLE``) shared by every host.

One table, partition key ``pk``, holds:

- ``case#<id>``: one item per case (state, reason, files);
- ``flag#<name>``: the shared switches;
- ``event#<eventId>``: RAYNET's event ids, for 30 days (the receiver's ``duplicate``);
- ``unreadable#<time>#<n>``: authenticated webhooks that could not be read, for 30 days;
- ``followup#<case>#<generation>#<kind>``: the outbox (``outbox.py``);
- ``report#<name>``: Money S3's import reports read, with what they said.

Matching a report's order to its case is a scan (reports come a few a day; the SQLite
state has an index).

Why DynamoDB rather than an S3 object per case: the dashboard and ``status`` count, list
and search cases, and operators and sweeps update them conditionally; a table does that in
a few requests, while S3 would need one per case. Expired items go by DynamoDB's TTL on
``expires_at`` (turned on by the operator, see the README).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from webhook.errors import QueueUnavailable
from webhook.order import CaseSummary, Reason
from webhook.state.model import (
    DUE_STATES,
    MONEY_S3,
    CaseChanges,
    CaseEvent,
    CaseOrder,
    CaseQuery,
    CaseState,
    Clock,
    Delivery,
    ExportRecord,
    MoneyVerdict,
    Recorded,
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

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

EVENT_DAYS = 30  # RAYNET stops redelivering after 7
DAY = 24 * 3600
CONDITION_FAILED = "ConditionalCheckFailed"
SWAP_TRIES = 5  # conditional writes racing another writer, before giving up for now


def condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def cancellations(error: ClientError) -> list[str] | None:
    """Why each item of a cancelled transaction failed (``ConditionalCheckFailed``, ``None``);
    None when the error is no transaction's cancellation."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons: Any = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code")) for reason in reasons]


class DynamoCaseRecords(CaseRecords):
    def __init__(self, table: Table, clock: Clock) -> None:
        self._table = table
        self._clock = clock
        self.client: Any = table.meta.client  # the resource's: it speaks Python values
        self.name = table.name

    # --- the receiver -------------------------------------------------------------------

    def record_event(self, event: CaseEvent) -> Recorded:
        """One transaction: the event id (new, or a duplicate) and the case (created, or
        found exported). A canceled item says which: an event seen before is a duplicate;
        a case exported (and no file wanted) means no work, and the event is not kept."""
        now = self._clock()
        case_update = self._event_update(event, now)
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.name,
                            "Item": {
                                "pk": f"event#{event.event_id}",
                                "case_id": event.case_id,
                                "expires_at": int(now) + EVENT_DAYS * DAY,
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Update": case_update},
                ]
            )
        except ClientError as error:
            reasons = cancellations(error)
            if reasons is None:
                raise
            return (
                Recorded.DUPLICATE if reasons[0] == CONDITION_FAILED else Recorded.ALREADY_EXPORTED
            )
        return Recorded.ALREADY_EXPORTED if event.exported_files else Recorded.ACCEPTED

    def _event_update(self, event: CaseEvent, now: float) -> dict[str, Any]:
        """The case's side of an event: counted, created if new; with files RAYNET names
        (our external ids), recorded as exported. Fails when there is no work."""
        values: dict[str, Any] = {":now": as_dynamo(now), ":one": 1, ":zero": 0}
        assignments = [
            "updated_at = :now",
            "case_id = if_not_exists(case_id, :id)",
            "created_at = if_not_exists(created_at, :now)",
            "attempts = if_not_exists(attempts, :zero)",
            "exports_wanted = if_not_exists(exports_wanted, :one)",
        ]
        values[":id"] = event.case_id
        if event.exported_files:
            latest = max(event.exported_files, key=lambda known: known.generation)
            values |= {
                ":exported": "exported",
                ":generation": latest.generation,
                ":file": latest.name,
                ":raynet": "RAYNET",
                ":known": [
                    {
                        "generation": known.generation,
                        "file_name": known.name,
                        "location": "RAYNET",
                        "sha256": "",
                        "exported_at": as_dynamo(now),
                    }
                    for known in sorted(event.exported_files, key=lambda k: k.generation)
                ],
            }
            assignments += [
                "#state = :exported",
                "exports_done = :generation",
                "file_name = :file",
                "#location = :raynet",
                "exported_at = if_not_exists(exported_at, :now)",
                "next_try_at = :now",
                "exports = if_not_exists(exports, :known)",
            ]
            condition = "attribute_not_exists(exports_done) OR exports_done < :generation"
        else:
            assignments += [
                "#state = if_not_exists(#state, :pending)",
                "exports_done = if_not_exists(exports_done, :zero)",
                "next_try_at = if_not_exists(next_try_at, :now)",
            ]
            values |= {":exported": "exported", ":pending": "pending"}
            condition = (
                "attribute_not_exists(#state) OR #state <> :exported "
                "OR exports_wanted > exports_done"
            )
        names = {"#state": "state"}
        if event.exported_files:
            names["#location"] = "location"
        return {
            "TableName": self.name,
            "Key": {"pk": _case_key(event.case_id)},
            "UpdateExpression": "SET " + ", ".join(assignments) + " ADD events :one",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def record_unreadable(self, body: bytes, problem: Reason) -> None:
        now = self._clock()
        self._table.put_item(
            Item={
                "pk": f"unreadable#{now:017.6f}#{secrets.token_hex(3)}",
                "received_at": as_dynamo(now),
                "problem": reason_json(problem),
                "body": body,
                "expires_at": int(now) + EVENT_DAYS * DAY,
            }
        )

    # --- cases --------------------------------------------------------------------------

    def case(self, case_id: int) -> TrackedCase | None:
        found = self._item(case_id)
        return None if found is None else _tracked(found)

    def cases_by_id(self, case_ids: Sequence[int]) -> dict[int, TrackedCase]:
        """Several cases in one BatchGetItem (a hundred at a time), strongly consistent."""
        return {
            int(item["case_id"]): _tracked(item)
            for item in self.items([_case_key(case_id) for case_id in case_ids])
            if "state" in item
        }

    def items(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """Items by key, a hundred per BatchGetItem, strongly consistent."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            chunk = [{"pk": key} for key in keys[start : start + 100]]
            request: Any = {self.name: {"Keys": chunk, "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                found += answer.get("Responses", {}).get(self.name, [])
                request = answer.get("UnprocessedKeys") or None
        return found

    def cases(self, query: CaseQuery) -> list[TrackedCase]:
        """A scan: fine for the thousands of cases a year."""
        records = [_tracked(item) for item in self.scan("case#") if "state" in item]
        if query.state:
            records = [r for r in records if r.state == query.state]
        if search := query.search:
            records = [
                r
                for r in records
                if any(
                    search.casefold() in (value or "").casefold()
                    for value in (r.code, r.summary.name, r.summary.customer)
                )
                or str(r.case_id) == search
            ]
        if query.since is not None:
            records = [r for r in records if r.updated_at >= query.since]
        records.sort(key=lambda r: r.case_id, reverse=True)  # ties: the newest case first
        if query.order is CaseOrder.CODE:
            records.sort(key=lambda r: (r.code is None, (r.code or "").casefold()))
        else:
            changed = query.order is CaseOrder.CHANGED
            records.sort(key=lambda r: r.updated_at if changed else r.created_at, reverse=True)
        return records[query.offset : query.offset + query.limit]

    def counts(self) -> dict[CaseState, int]:
        counts = dict.fromkeys(CaseState, 0)
        for item in self.scan("case#", projection="#s", names={"#s": "state"}):
            if "state" in item:
                counts[CaseState(str(item["state"]))] += 1
        return counts

    def exports_of(self, case_id: int) -> list[ExportRecord]:
        return exports_in(self._item(case_id) or {"case_id": case_id})

    def deliveries(
        self, since: float, *, imported: bool = False, most: int = 1000
    ) -> list[Delivery]:
        """A scan, like ``cases``."""
        found = [
            Delivery(
                export, text(item, "code"), summary_in(item), changes_from(text(item, "changes"))
            )
            for item in self.scan("case#")
            for export in exports_in(item)
            if export.exported_at >= since and (imported or export.imported_at is None)
        ]
        found.sort(key=lambda d: (d.export.exported_at, d.export.case_id), reverse=True)
        return found[:most]

    def mark_imported(self, case_id: int, generation: int, by: str) -> bool:
        return self._on_file(
            case_id,
            generation,
            "SET exports[{i}].imported_at = :at, exports[{i}].imported_by = :by",
            "attribute_not_exists(exports[{i}].imported_at)",
            values={":at": as_dynamo(self._clock()), ":by": by},
        )

    def unmark_imported(self, case_id: int, generation: int) -> bool:
        return self._on_file(
            case_id,
            generation,
            "REMOVE exports[{i}].imported_at, exports[{i}].imported_by",
            "attribute_exists(exports[{i}].imported_at) AND exports[{i}].imported_by <> :money "
            "AND (attribute_not_exists(exports[{i}].money) "
            "OR NOT contains(exports[{i}].money, :taken))",  # Money's report says it is in
            values={":money": MONEY_S3, ":taken": '"outcome": "imported'},
        )

    def _on_file(
        self,
        case_id: int,
        generation: int,
        update: str,
        condition: str,
        *,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> bool:
        """A conditional update of one file of the case (``{i}`` in the expressions is its
        place in the list); False when there is no such file or the condition fails."""
        exports = self.exports_of(case_id)
        index = next((n for n, e in enumerate(exports) if e.generation == generation), None)
        if index is None:
            return False
        request: dict[str, Any] = {
            "Key": {"pk": _case_key(case_id)},
            "UpdateExpression": update.format(i=index),
            "ConditionExpression": condition.format(i=index),
            "ExpressionAttributeValues": values,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._table.update_item(**request)
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def unreadable(self, limit: int = 50) -> list[UnreadableEvent]:
        found = [
            UnreadableEvent(
                float(item["received_at"]), problem_from(text(item, "problem")), bytes(item["body"])
            )
            for item in self.scan("unreadable#")
        ]
        found.sort(key=lambda event: event.received_at, reverse=True)
        return found[:limit]

    # --- what Money S3 said, and what changed since ---------------------------------------

    def files_of_order(self, doklad: str | None, code: str | None) -> list[ExportRecord]:
        for attribute, value in (("doklad", doklad), ("code", code)):
            if not value:
                continue
            found = [
                exports
                for item in self.scan("case#", matching=(attribute, value))
                if (exports := exports_in(item))
            ]
            if found:
                return max(found, key=lambda exports: exports[0].case_id)
        return []

    def record_verdict(self, case_id: int, generation: int, verdict: MoneyVerdict) -> bool:
        def verdict_on(export: dict[str, Any]) -> dict[str, Any] | None:
            before = verdict_from(text(export, "money"))
            if before is not None and before.outcome == verdict.outcome:
                return None  # the same word again (a report read twice, or renamed)
            changed = {"money": verdict_json(verdict)}
            if verdict.outcome.taken and not export.get("imported_at"):
                changed |= {"imported_at": as_dynamo(self._clock()), "imported_by": MONEY_S3}
            return changed

        return self._change_export(case_id, generation, verdict_on)

    def acknowledge(self, case_id: int, generation: int, by: str) -> bool:
        def seen(export: dict[str, Any]) -> dict[str, Any] | None:
            verdict = verdict_from(text(export, "money"))
            if verdict is None or verdict.acknowledged_by is not None:
                return None
            seen_now = replace(verdict, acknowledged_by=by, acknowledged_at=self._clock())
            return {"money": verdict_json(seen_now)}

        return self._change_export(case_id, generation, seen)

    def _change_export(
        self,
        case_id: int,
        generation: int,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
    ) -> bool:
        """Set what ``change`` says on one file of the case, unless the file's verdict
        changed since it was read (then False, as when ``change`` has nothing to set)."""
        exported = next(
            (
                export
                for export in (self._item(case_id) or {}).get("exports") or []
                if int(export["generation"]) == generation
            ),
            None,
        )
        values = None if exported is None else change(exported)
        if exported is None or values is None:
            return False
        return self._on_file(
            case_id,
            generation,
            "SET " + ", ".join(f"exports[{{i}}].#{key} = :{key}" for key in values),
            "attribute_not_exists(exports[{i}].money) OR exports[{i}].money = :before",
            values={
                **{f":{key}": value for key, value in values.items()},
                ":before": exported.get("money") or "",
            },
            names={f"#{key}": key for key in values},
        )

    def acknowledge_changes(
        self, case_id: int, generation: int, by: str, shown: str | None = None
    ) -> bool:
        now = self._clock()
        seen = self._swap_changes(
            case_id, lambda kept: changes_seen(kept, generation, by, now, shown)
        )
        return seen is not None

    def record_changes(self, case_id: int, changes: CaseChanges) -> bool:
        swapped = self._swap_changes(case_id, lambda kept: changes_to_keep(kept, changes))
        return swapped is not None and newly_changed(swapped[0], changes)

    def _swap_changes(
        self, case_id: int, change: Callable[[CaseChanges | None], CaseChanges | None]
    ) -> tuple[CaseChanges | None, CaseChanges] | None:
        """Write what ``change`` makes of the case's changes, unless another writer changed
        them meanwhile (then read again: a check and a "seen" never undo each other); what
        was there and what was written, None when the case is unknown or ``change`` had
        nothing to write."""
        for _ in range(SWAP_TRIES):
            item = self._item(case_id)
            if item is None:
                return None
            stored = item.get("changes")
            before = changes_from(text(item, "changes"))
            written = change(before)
            if written is None:
                return None
            unchanged = (
                "changes = :before"
                if stored is not None
                else "attribute_not_exists(changes) OR attribute_type(changes, :null)"
            )
            try:
                self._table.update_item(
                    Key={"pk": _case_key(case_id)},
                    UpdateExpression="SET changes = :changes",
                    ConditionExpression=f"attribute_exists(pk) AND ({unchanged})",
                    ExpressionAttributeValues={
                        ":changes": changes_json(written),
                        **({":before": stored} if stored is not None else {":null": "NULL"}),
                    },
                )
            except ClientError as error:
                if not condition_failed(error):
                    raise
                continue
            return before, written
        raise QueueUnavailable(f"DynamoDB: the changes of case {case_id} kept changing")

    def report_versions(self, names: Collection[str]) -> dict[str, str]:
        """By key (a hundred per BatchGetItem): a poll asks only about the files it lists,
        never scans the table."""
        return {
            str(item["name"]): str(item["version"])
            for item in self.items([f"report#{name}" for name in names])
        }

    def record_report(self, report: ReportRecord) -> None:
        self._table.put_item(
            Item={
                "pk": f"report#{report.name}",
                "name": report.name,
                "version": report.version,
                "read_at": as_dynamo(report.read_at),
                "problem": reason_json(report.problem),
                "entries": report.entries,
                "unknown": entries_json(report.unknown),
                "matched": entries_json(report.matched),
            }
        )

    def reports(self, limit: int = 50) -> list[ReportRecord]:
        found = [
            ReportRecord(
                name=str(item["name"]),
                version=str(item["version"]),
                read_at=float(item["read_at"]),
                problem=problem_from(text(item, "problem")),
                entries=int(item["entries"]),
                unknown=entries_from(text(item, "unknown")),
                matched=entries_from(text(item, "matched")),
            )
            for item in self.scan("report#")
        ]
        found.sort(key=lambda report: (-report.read_at, report.name))
        return found[:limit]

    def maintain(self) -> None:
        """Nothing to do: DynamoDB's TTL removes expired event ids and unreadable webhooks."""

    def events_stored(self) -> None:
        """Event ids are items that expire by TTL; counting them would mean a scan."""

    def oldest_due(self) -> float | None:
        """Seconds since the earliest ``next_try_at`` of a case waiting for a worker."""
        now = self._clock()
        due = [
            case.next_try_at
            for case in (_tracked(item) for item in self.scan("case#") if "state" in item)
            if case.state in DUE_STATES and case.next_try_at <= now
        ]
        return max(0.0, now - min(due)) if due else None

    def update(
        self, case_id: int, *, new_export: dict[str, Any] | None = None, **values: Any
    ) -> dict[str, Any]:
        """Set the given attributes of a case, creating it if need be: the UpdateItem
        request, made now (or, by ``settle_with``, in a transaction)."""
        now = self._clock()
        values = {**values, "updated_at": now}
        defaults = {"exports_done": 0, "exports_wanted": 1, "created_at": now, "case_id": case_id}
        defaults = {key: value for key, value in defaults.items() if key not in values}
        names = {f"#{key}": key for key in [*values, *defaults]}
        data: dict[str, Any] = {f":{key}": as_dynamo(value) for key, value in values.items()}
        data.update({f":default_{key}": as_dynamo(value) for key, value in defaults.items()})
        assignments = [f"#{key} = :{key}" for key in values]
        assignments += [f"#{key} = if_not_exists(#{key}, :default_{key})" for key in defaults]
        if new_export is not None:
            names["#exports"] = "exports"
            data[":no_exports"] = []
            data[":export"] = [{k: as_dynamo(v) for k, v in new_export.items() if v is not None}]
            assignments.append(
                "#exports = list_append(if_not_exists(#exports, :no_exports), :export)"
            )
        return {
            "TableName": self.name,
            "Key": {"pk": _case_key(case_id)},
            "UpdateExpression": "SET " + ", ".join(assignments),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": data,
        }

    def write(self, update: dict[str, Any]) -> None:
        self.client.update_item(**update)

    # --- switches -----------------------------------------------------------------------

    def flag(self, name: str) -> str | None:
        item = self._table.get_item(Key={"pk": f"flag#{name}"}, ConsistentRead=True)
        found = item.get("Item")
        return None if found is None else str(found["value"])

    def set_flag(self, name: str, value: str | None) -> None:
        if value is None:
            self._table.delete_item(Key={"pk": f"flag#{name}"})
        else:
            self._table.put_item(Item={"pk": f"flag#{name}", "value": value})

    def take_turn(self, name: str, every: float) -> bool:
        now = self._clock()
        try:
            self._table.put_item(
                Item={
                    "pk": f"flag#{name}",
                    "value": repr(now + every),
                    "next_at": as_dynamo(now + every),
                },
                ConditionExpression="attribute_not_exists(pk) OR next_at <= :now",
                ExpressionAttributeValues={":now": as_dynamo(now)},
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def _item(self, case_id: int) -> dict[str, Any] | None:
        found = self._table.get_item(Key={"pk": _case_key(case_id)}, ConsistentRead=True)
        item = found.get("Item")
        return item if item is not None and "state" in item else None

    def scan(
        self,
        prefix: str,
        projection: str | None = None,
        names: dict[str, str] | None = None,
        matching: tuple[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The items whose key starts with ``prefix`` (and whose ``matching`` attribute has
        the value given)."""
        options: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :prefix)",
            "ExpressionAttributeValues": {":prefix": prefix},
        }
        names = dict(names or {})
        if matching is not None:
            options["FilterExpression"] += " AND #matching = :matching"
            names["#matching"] = matching[0]
            options["ExpressionAttributeValues"][":matching"] = matching[1]
        if projection:
            options["ProjectionExpression"] = projection
        if names:
            options["ExpressionAttributeNames"] = names
        while True:
            page = self._table.scan(**options)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            options["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _case_key(case_id: int) -> str:
    return f"case#{case_id}"


def as_dynamo(value: Any) -> Any:
    """DynamoDB takes numbers as Decimal."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    return None if value is None else str(value)


def _number(item: dict[str, Any], key: str, default: float = 0) -> float:
    value = item.get(key)
    return float(value) if value is not None else default


def summary_in(item: dict[str, Any]) -> CaseSummary:
    total = item.get("total_with_vat")
    return CaseSummary(
        name=text(item, "name"),
        customer=text(item, "customer"),
        total_with_vat=None if total is None else Decimal(str(total)),
        currency=text(item, "currency"),
        doklad=text(item, "doklad"),
    )


def exports_in(item: dict[str, Any]) -> list[ExportRecord]:
    return [
        ExportRecord(
            case_id=int(item["case_id"]),
            generation=int(e["generation"]),
            file_name=str(e["file_name"]),
            location=str(e["location"]),
            sha256=str(e["sha256"]),
            exported_at=float(e["exported_at"]),
            imported_at=float(e["imported_at"]) if e.get("imported_at") else None,
            imported_by=text(e, "imported_by"),
            caveats=caveats_from(text(e, "caveats")),
            digest=digest_from(text(e, "digest")),
            money=verdict_from(text(e, "money")),
        )
        for e in item.get("exports") or []
    ]


def _tracked(item: dict[str, Any]) -> TrackedCase:
    return TrackedCase(
        case_id=int(item["case_id"]),
        state=CaseState(str(item["state"])),
        code=text(item, "code"),
        attempts=int(_number(item, "attempts")),
        next_try_at=_number(item, "next_try_at"),
        exports_wanted=int(_number(item, "exports_wanted", 1)),
        exports_done=int(_number(item, "exports_done")),
        reason=text(item, "reason"),
        reason_code=text(item, "reason_code"),
        file_name=text(item, "file_name"),
        location=text(item, "location"),
        sha256=text(item, "sha256"),
        exported_at=float(item["exported_at"]) if item.get("exported_at") else None,
        events=int(item["events"]) if item.get("events") is not None else None,
        created_at=_number(item, "created_at"),
        updated_at=_number(item, "updated_at"),
        summary=summary_in(item),
        detail=reason_from(text(item, "reason_detail")),
        changes=changes_from(text(item, "changes")),
    )
