"""The outbox on the DynamoDB table: follow-ups of delivered files, and the daily report.

Each follow-up is an item ``followup#<case>#<generation>#<kind>``, written in the same
transaction as the settlement of the file it follows (``SqsJobQueue.settle``), so none is
lost and none is doubled, as in the SQLite state. While it is pending it carries
``due = "outbox"``: the table's sparse index ``due`` (partition ``due``, sort
``next_try_at``) then lists exactly the pending ones, oldest first, in one Query. A claim is
a conditional write (only a pending item whose lease has run out), and it moves
``next_try_at`` to the end of the lease, so nobody else sees it as due meanwhile. A finished
item loses ``due`` and expires by TTL after a year (the dashboard shows it until then).

Why not a second SQS queue: the dashboard must show each follow-up's state, attempts and
last error anyway, and the follow-ups must be written atomically with the settlement; a
queue would need this table beside it, and a relay between the two.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from typing import Any

from botocore.exceptions import ClientError

from webhook.state.aws.dynamo import (
    DAY,
    DynamoCaseRecords,
    as_dynamo,
    condition_failed,
    exports_in,
    summary_in,
    text,
)
from webhook.state.model import (
    Clock,
    FollowUp,
    FollowUpState,
    OutboxItem,
    WorkPolicy,
    changes_from,
)
from webhook.state.ports import Outbox

DUE_INDEX = "due"
DUE = "outbox"
DONE_DAYS = 400  # as long as the SQLite state keeps a case's history
LOOK_AHEAD = 25  # due items read per claim


def follow_up_key(kind: FollowUp, case_id: int, generation: int) -> str:
    return f"followup#{case_id}#{generation}#{kind.value}"


def new_follow_up(kind: FollowUp, case_id: int, generation: int, now: float) -> dict[str, Any]:
    """The item of a follow-up just asked for (its Put, in a settlement's transaction)."""
    return {
        "pk": follow_up_key(kind, case_id, generation),
        "kind": kind.value,
        "case_id": case_id,
        "generation": generation,
        "state": "pending",
        "attempts": 0,
        "next_try_at": as_dynamo(now),
        "lease_until": 0,
        "due": DUE,
    }


class DynamoOutbox(Outbox):
    def __init__(self, records: DynamoCaseRecords, clock: Clock, policy: WorkPolicy) -> None:
        self._records, self._clock, self._policy = records, clock, policy
        self._client, self._table = records.client, records.name

    def claim(self, worker: str, kinds: Collection[FollowUp]) -> OutboxItem | None:
        wanted = {kind.value for kind in kinds}
        if not wanted:
            return None
        now = self._clock()
        due = self._client.query(
            TableName=self._table,
            IndexName=DUE_INDEX,
            KeyConditionExpression="#due = :due AND next_try_at <= :now",
            ExpressionAttributeNames={"#due": "due"},
            ExpressionAttributeValues={":due": DUE, ":now": as_dynamo(now)},
            Limit=LOOK_AHEAD,
        ).get("Items", [])
        for item in due:
            kind = FollowUp(str(item["kind"]))
            if kind.value not in wanted or self._waiting(kind, item):
                continue
            token = f"{worker}#{secrets.token_hex(4)}"
            attempts = self._lease(item, token, now)
            if attempts is not None:
                return self._outbox_item(kind, {**item, "attempts": attempts}, token)
        return None

    def _waiting(self, kind: FollowUp, item: dict[str, Any]) -> bool:
        """Whether one of ``kind.after`` of the same file is still pending."""
        if not kind.after:
            return False
        case_id, generation = int(item["case_id"]), int(item["generation"])
        keys = [follow_up_key(first, case_id, generation) for first in kind.after]
        return any(found.get("state") == "pending" for found in self._records.items(keys))

    def _lease(self, item: dict[str, Any], token: str, now: float) -> int | None:
        """Take the item for ``token``: its attempts so far, None if another worker took it
        first. A lease that ran out before (its worker died) counts as an attempt, so that
        the next handler looks before it writes again."""
        until = now + self._policy.lease_seconds
        lapsed = 1 if float(item.get("lease_until", 0)) > 0 else 0
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": item["pk"]},
                UpdateExpression="SET lease_owner = :token, lease_until = :until, "
                "next_try_at = :until, attempts = attempts + :lapsed",
                ConditionExpression="#state = :pending AND lease_until < :now",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":token": token,
                    ":until": as_dynamo(until),
                    ":pending": "pending",
                    ":now": as_dynamo(now),
                    ":lapsed": lapsed,
                },
            )
        except ClientError as error:
            if condition_failed(error):
                return None  # another worker took it first
            raise
        return int(item.get("attempts", 0)) + lapsed

    def _outbox_item(self, kind: FollowUp, item: dict[str, Any], token: str) -> OutboxItem:
        case_id, generation = int(item["case_id"]), int(item["generation"])
        found = self._records.items([f"case#{case_id}"]) if case_id else []
        case = found[0] if found else {"case_id": case_id}
        export = next((e for e in exports_in(case) if e.generation == generation), None)
        return OutboxItem(
            kind=kind,
            case_id=case_id,
            generation=generation,
            attempts=int(item.get("attempts", 0)),
            claim=token,
            code=str(case.get("code") or case_id),
            file_name=export.file_name if export else None,
            location=export.location if export else None,
            exported_at=export.exported_at if export else None,
            summary=summary_in(case),
            caveats=export.caveats if export else (),
            money=export.money if export else None,
            changes=changes_from(text(case, "changes")),
        )

    def add(self, kind: FollowUp, case_id: int, generation: int) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=new_follow_up(kind, case_id, generation, self._clock()),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def rearm(self, kind: FollowUp, case_id: int, generation: int, every: float) -> None:
        """Read, then write on the condition that nobody changed the item meanwhile (if
        somebody did, it is pending or freshly done: asked for either way)."""
        key = follow_up_key(kind, case_id, generation)
        now = self._clock()
        found = self._records.items([key])
        if not found:
            self.add(kind, case_id, generation)
            return
        item = found[0]
        if item.get("state") == "pending":
            return
        due = now
        if item.get("state") == "done" and item.get("done_at") is not None:
            due = max(now, float(item["done_at"]) + every)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": key},
                UpdateExpression="SET #state = :pending, #due = :due, next_try_at = :at, "
                "attempts = :zero REMOVE #error, expires_at",
                ConditionExpression="#state = :before",
                ExpressionAttributeNames={"#state": "state", "#due": "due", "#error": "error"},
                ExpressionAttributeValues={
                    ":pending": "pending",
                    ":due": DUE,
                    ":at": as_dynamo(due),
                    ":zero": 0,
                    ":before": item["state"],
                },
            )
        except ClientError as error:
            if not condition_failed(error):
                raise

    def of_case(self, case_id: int) -> list[FollowUpState]:
        """Every follow-up there may be of the case's files, in one batch read (the change
        check is the case's, generation 0)."""
        done = max((e.generation for e in self._records.exports_of(case_id)), default=0)
        keys = [
            follow_up_key(kind, case_id, generation)
            for generation in range(1, done + 1)
            for kind in FollowUp
            if kind not in (FollowUp.REPORT, FollowUp.CHANGE_CHECK)
        ] + [follow_up_key(FollowUp.CHANGE_CHECK, case_id, 0)]
        states = [
            FollowUpState(
                kind=FollowUp(str(item["kind"])),
                generation=int(item["generation"]),
                state=str(item["state"]),
                attempts=int(item.get("attempts", 0)),
                error=str(item["error"]) if item.get("error") else None,
                done_at=float(item["done_at"]) if item.get("done_at") else None,
            )
            for item in self._records.items(keys)
        ]
        return sorted(states, key=lambda state: (state.generation, state.kind.value))

    def done(self, item: OutboxItem) -> None:
        self._finish(item, "done", error=None, retry_at=None)

    def failed(self, item: OutboxItem, error: str, retry_at: float) -> bool:
        last = item.attempts + 1 >= self._policy.max_attempts
        self._finish(item, "dead" if last else "pending", error=error, retry_at=retry_at)
        return not last

    def give_up(self, item: OutboxItem, error: str) -> None:
        self._finish(item, "dead", error=error, retry_at=None)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for found in self._records.scan("followup#", projection="#s", names={"#s": "state"}):
            state = str(found["state"])
            counts[state] = counts.get(state, 0) + 1
        return counts

    def _finish(
        self, item: OutboxItem, state: str, *, error: str | None, retry_at: float | None
    ) -> None:
        now = self._clock()
        values: dict[str, Any] = {":state": state, ":claim": item.claim, ":zero": 0}
        assignments = ["#state = :state", "lease_until = :zero"]
        removals = ["lease_owner"]
        if error is not None:
            assignments += ["attempts = attempts + :one", "#error = :error"]
            values |= {":one": 1, ":error": error[:1000]}
        if state == "pending":
            assignments.append("next_try_at = :retry_at")
            values[":retry_at"] = as_dynamo(retry_at if retry_at is not None else now)
        else:
            removals.append("#due")
            assignments.append("expires_at = :expires")
            values[":expires"] = int(now) + DONE_DAYS * DAY
        if state == "done":
            assignments.append("done_at = :now")
            values[":now"] = as_dynamo(now)
        names = {"#state": "state"}
        if error is not None:
            names["#error"] = "error"
        if "#due" in removals:
            names["#due"] = "due"
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": follow_up_key(item.kind, item.case_id, item.generation)},
                UpdateExpression="SET " + ", ".join(assignments) + " REMOVE " + ", ".join(removals),
                ConditionExpression="lease_owner = :claim",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error_:
            if not condition_failed(error_):
                raise
            # The lease lapsed and another worker has it now: its result counts.
