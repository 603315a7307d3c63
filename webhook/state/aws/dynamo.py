"""Case records in a DynamoDB table (``STATE_TABLE``) shared by every host.

One item per case (partition key ``case#<id>``: state, reason, files) and one per switch
(``flag#<name>``). Why DynamoDB rather than an S3 object per case: the dashboard and
``status`` count, list and search cases, and operators and sweeps update them
conditionally; a table does that in a few requests, while S3 would need one per case.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from webhook.order import CaseSummary
from webhook.state.model import (
    DUE_STATES,
    CaseQuery,
    CaseState,
    Clock,
    Delivery,
    ExportRecord,
    TrackedCase,
)
from webhook.state.ports import CaseRecords

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class DynamoCaseRecords(CaseRecords):
    def __init__(self, table: Table, clock: Clock) -> None:
        self._table = table
        self._clock = clock

    # --- cases --------------------------------------------------------------------------

    def case(self, case_id: int) -> TrackedCase | None:
        found = self._item(case_id)
        return None if found is None else _tracked(found)

    def cases_by_id(self, case_ids: Sequence[int]) -> dict[int, TrackedCase]:
        """Several cases in one BatchGetItem (a hundred at a time), strongly consistent."""
        found: dict[int, TrackedCase] = {}
        client = self._table.meta.client  # the resource's: it speaks Python values
        for start in range(0, len(case_ids), 100):
            keys = [{"pk": _case_key(case_id)} for case_id in case_ids[start : start + 100]]
            request: Any = {self._table.name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table.name, []):
                    record = _tracked(item)
                    found[record.case_id] = record
                request = answer.get("UnprocessedKeys") or None
        return found

    def cases(self, query: CaseQuery) -> list[TrackedCase]:
        """A scan: fine for the thousands of cases a year."""
        records = [_tracked(item) for item in self._scan("case#")]
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
        records.sort(key=lambda r: (r.updated_at, r.case_id), reverse=True)
        return records[query.offset : query.offset + query.limit]

    def counts(self) -> dict[CaseState, int]:
        counts = dict.fromkeys(CaseState, 0)
        for item in self._scan("case#", projection="#s", names={"#s": "state"}):
            counts[CaseState(str(item["state"]))] += 1
        return counts

    def exports_of(self, case_id: int) -> list[ExportRecord]:
        return _exports(self._item(case_id) or {"case_id": case_id})

    def deliveries(self, since: float, *, imported: bool = False) -> list[Delivery]:
        """A scan, like ``cases``."""
        found = [
            Delivery(export, text(item, "code"), _summary(item))
            for item in self._scan("case#")
            for export in _exports(item)
            if export.exported_at >= since and (imported or export.imported_at is None)
        ]
        found.sort(key=lambda d: (d.export.exported_at, d.export.case_id), reverse=True)
        return found[:1000]

    def mark_imported(self, case_id: int, generation: int, by: str) -> bool:
        exports = self.exports_of(case_id)
        index = next((n for n, e in enumerate(exports) if e.generation == generation), None)
        if index is None:
            return False
        try:
            self._table.update_item(
                Key={"pk": _case_key(case_id)},
                UpdateExpression=f"SET exports[{index}].imported_at = :at, "
                f"exports[{index}].imported_by = :by",
                ConditionExpression=f"attribute_not_exists(exports[{index}].imported_at)",
                ExpressionAttributeValues={":at": _dynamo(self._clock()), ":by": by},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def maintain(self) -> None:
        """No history is kept in the table; a case's item is all there is."""

    def events_stored(self) -> None:
        """SQS de-duplicates event ids itself (for five minutes); none are kept here."""

    def oldest_due(self) -> float | None:
        """Seconds since the earliest ``next_try_at`` of a case waiting for a worker."""
        now = self._clock()
        due = [
            case.next_try_at
            for case in (_tracked(item) for item in self._scan("case#"))
            if case.state in DUE_STATES and case.next_try_at <= now
        ]
        return max(0.0, now - min(due)) if due else None

    def update(
        self, case_id: int, *, new_export: dict[str, Any] | None = None, **values: Any
    ) -> None:
        """Set the given attributes of a case, creating it if need be."""
        now = self._clock()
        values = {**values, "updated_at": now}
        defaults = {"exports_done": 0, "exports_wanted": 1, "created_at": now, "case_id": case_id}
        defaults = {key: value for key, value in defaults.items() if key not in values}
        names = {f"#{key}": key for key in [*values, *defaults, "exports"]}
        data: dict[str, Any] = {f":{key}": _dynamo(value) for key, value in values.items()}
        data.update({f":default_{key}": _dynamo(value) for key, value in defaults.items()})
        data[":no_exports"] = []
        assignments = [f"#{key} = :{key}" for key in values]
        assignments += [f"#{key} = if_not_exists(#{key}, :default_{key})" for key in defaults]
        if new_export is None:
            assignments.append("#exports = if_not_exists(#exports, :no_exports)")
        else:
            data[":export"] = [{k: _dynamo(v) for k, v in new_export.items()}]
            assignments.append(
                "#exports = list_append(if_not_exists(#exports, :no_exports), :export)"
            )
        self._table.update_item(
            Key={"pk": _case_key(case_id)},
            UpdateExpression="SET " + ", ".join(assignments),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=data,
        )

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
                    "next_at": _dynamo(now + every),
                },
                ConditionExpression="attribute_not_exists(pk) OR next_at <= :now",
                ExpressionAttributeValues={":now": _dynamo(now)},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _item(self, case_id: int) -> dict[str, Any] | None:
        found = self._table.get_item(Key={"pk": _case_key(case_id)}, ConsistentRead=True)
        return found.get("Item")

    def _scan(
        self, prefix: str, projection: str | None = None, names: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        options: dict[str, Any] = {
            "FilterExpression": "begins_with(pk, :prefix)",
            "ExpressionAttributeValues": {":prefix": prefix},
        }
        if projection:
            options["ProjectionExpression"] = projection
            options["ExpressionAttributeNames"] = names or {}
        while True:
            page = self._table.scan(**options)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            options["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _case_key(case_id: int) -> str:
    return f"case#{case_id}"


def _dynamo(value: Any) -> Any:
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


def _summary(item: dict[str, Any]) -> CaseSummary:
    total = item.get("total_with_vat")
    return CaseSummary(
        name=text(item, "name"),
        customer=text(item, "customer"),
        total_with_vat=None if total is None else Decimal(str(total)),
        currency=text(item, "currency"),
        doklad=text(item, "doklad"),
    )


def _exports(item: dict[str, Any]) -> list[ExportRecord]:
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
        events=None,
        created_at=_number(item, "created_at"),
        updated_at=_number(item, "updated_at"),
        summary=_summary(item),
    )
