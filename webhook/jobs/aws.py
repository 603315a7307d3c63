"""The queue and the case records on AWS, for receivers and workers on many hosts.

``SqsJobQueue`` (``QUEUE_URL``, an SQS FIFO queue): each accepted event is one message with
``MessageGroupId`` = the business case id, so one case is with one worker at a time, and
``MessageDeduplicationId`` = RAYNET's ``eventId``. Workers long-poll, extend the visibility
while they work, delete the message when the case is settled, and leave a message that keeps
failing to the queue's redrive policy: it goes to the dead-letter queue after
``maxReceiveCount`` receives, and its case is recorded as dead on the last one.

``DynamoCaseRecords`` (``STATE_TABLE``, a DynamoDB table with the string partition key
``pk``) holds one item per case (state, reason, files) and the shared switches. The
exactly-once ledger is the export target itself (S3 conditional writes), so no host keeps a
local file. Why DynamoDB rather than an S3 object per case: the dashboard and ``status``
count, list and search cases, and operators and sweeps update them conditionally; DynamoDB
does that in one table, while S3 would need a request per case for every count.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from webhook.errors import ConfigError, QueueUnavailable
from webhook.jobs.store import CaseRecord, ExportRecord, Job, Recorded
from webhook.raynet.schemas import WebhookEvent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)
MAX_VISIBILITY = 43_200  # SQS allows 12 hours at most
STATES = ("pending", "exported", "skipped", "failed", "dead")
RETRYABLE = ("failed", "dead", "skipped")


class DynamoCaseRecords:
    """Case states and switches in a DynamoDB table shared by every host."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self.queue: SqsJobQueue | None = None  # set by the queue; replays send it messages

    def _requeue(self, case_id: int) -> None:
        assert self.queue is not None, "DynamoCaseRecords works with an SqsJobQueue"
        self.queue.enqueue(case_id)

    # --- cases --------------------------------------------------------------------------

    def case(self, case_id: int) -> CaseRecord | None:
        item = self._table.get_item(Key={"pk": _case_key(case_id)}, ConsistentRead=True)
        found = item.get("Item")
        return None if found is None else _record(found)

    def cases(
        self,
        *,
        state: str | None = None,
        search: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[CaseRecord]:
        """Most recently changed first (a scan: fine for the thousands of cases a year)."""
        records = [_record(item) for item in self._scan("case#")]
        if state:
            records = [r for r in records if r.state == state]
        if search:
            records = [
                r
                for r in records
                if search.casefold() in (r.code or "").casefold() or str(r.case_id) == search
            ]
        records.sort(key=lambda r: (r.updated_at, r.case_id), reverse=True)
        return records[offset : offset + limit]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for item in self._scan("case#", projection="#s", names={"#s": "state"}):
            counts[str(item["state"])] += 1
        return counts

    def exports_of(self, case_id: int) -> list[ExportRecord]:
        item = self._table.get_item(Key={"pk": _case_key(case_id)}, ConsistentRead=True)
        exports: list[Any] = item.get("Item", {}).get("exports") or []  # type: ignore[assignment]
        return [
            ExportRecord(
                case_id=case_id,
                generation=int(e["generation"]),
                file_name=str(e["file_name"]),
                location=str(e["location"]),
                sha256=str(e["sha256"]),
                exported_at=float(e["exported_at"]),
            )
            for e in exports
        ]

    def due_count(self, now: float | None = None) -> int:
        return self.queue.depth() if self.queue else 0

    def oldest_due(self, now: float | None = None) -> float | None:
        now = time.time() if now is None else now
        due = [r.updated_at for r in self.cases(state="pending", limit=10**9)]
        return max(0.0, now - min(due)) if due else None

    def replay(self, case_id: int | None = None, *, now: float | None = None) -> int:
        self.set_flag("raynet_auth_refused", None)
        chosen = (
            [self.case(case_id)]
            if case_id is not None
            else [r for r in self.cases(limit=10**9) if r.state in ("failed", "dead")]
        )
        replayed = 0
        for record in chosen:
            if record is not None and record.state in RETRYABLE:
                self.update(record.case_id, now=now, state="pending", attempts=0)
                self._requeue(record.case_id)
                replayed += 1
        return replayed

    def request_reexport(self, case_id: int, *, now: float | None = None) -> None:
        record = self.case(case_id)
        if record is not None and record.state == "exported":
            self.update(
                case_id,
                now=now,
                state="pending",
                attempts=0,
                exports_wanted=record.exports_done + 1,
            )
            self._requeue(case_id)

    def update(
        self,
        case_id: int,
        *,
        now: float | None = None,
        new_export: dict[str, Any] | None = None,
        **values: Any,
    ) -> None:
        """Set the given attributes of a case, creating it if need be."""
        now = time.time() if now is None else now
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
        expression = ", ".join(assignments)
        self._table.update_item(
            Key={"pk": _case_key(case_id)},
            UpdateExpression="SET " + expression,
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

    def take_turn(self, name: str, now: float, every: float) -> bool:
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

    def sync_enabled(self) -> bool:
        return self.flag("sync_enabled") != "0"

    def set_sync_enabled(self, enabled: bool) -> None:
        self.set_flag("sync_enabled", "1" if enabled else "0")

    def ping(self) -> None:
        self.set_flag("last_ping", repr(time.time()))

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


class SqsJobQueue:
    """Work items on an SQS FIFO queue; the case records say what became of them."""

    def __init__(
        self, sqs: SQSClient, queue_url: str, records: DynamoCaseRecords, wait_seconds: int = 2
    ) -> None:
        self._sqs = sqs
        self._url = queue_url
        self.records = records
        records.queue = self
        self._wait = wait_seconds
        self._heartbeats: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.max_receives = self._max_receives()

    def _max_receives(self) -> int:
        """The redrive policy's maxReceiveCount: the last attempt before the DLQ."""
        attributes = self._call(
            self._sqs.get_queue_attributes,
            QueueUrl=self._url,
            AttributeNames=["RedrivePolicy", "FifoQueue"],
        )["Attributes"]
        if attributes.get("FifoQueue") != "true":
            raise ConfigError(f"QUEUE_URL {self._url} is not a FIFO queue")
        policy = attributes.get("RedrivePolicy")
        if not policy:
            raise ConfigError(f"QUEUE_URL {self._url} has no redrive policy (dead-letter queue)")
        return int(json.loads(policy)["maxReceiveCount"])

    def depth(self) -> int:
        attributes = self._call(
            self._sqs.get_queue_attributes,
            QueueUrl=self._url,
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    # --- receivers ----------------------------------------------------------------------

    def record_event(self, event: WebhookEvent, now: float | None = None) -> Recorded:
        """One message per event; SQS drops a repeated eventId within five minutes."""
        self._send(event.entity_id, event.event_id, event.type)
        return Recorded.ACCEPTED

    def enqueue(self, case_id: int, *, now: float | None = None) -> None:
        self._send(case_id, f"enqueue-{case_id}-{uuid.uuid4().hex}", "enqueue")

    def _send(self, case_id: int, deduplication: str, kind: str) -> None:
        self._call(
            self._sqs.send_message,
            QueueUrl=self._url,
            MessageBody=json.dumps({"case": case_id, "type": kind}),
            MessageGroupId=str(case_id),
            MessageDeduplicationId=deduplication[:128],
        )

    # --- workers ------------------------------------------------------------------------

    def claim(
        self, owner: str, lease_seconds: float, now: float | None = None, case_id: int | None = None
    ) -> Job | None:
        """The next message, unless it is for a case already exported (then it is done)."""
        if case_id is not None:
            return None  # SQS cannot hand out one chosen case; the message will come
        for _ in range(10):
            answer = self._call(
                self._sqs.receive_message,
                QueueUrl=self._url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=self._wait,
                VisibilityTimeout=int(lease_seconds),
                AttributeNames=["ApproximateReceiveCount"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                return None
            message = messages[0]
            receipt = message["ReceiptHandle"]
            claimed = int(json.loads(message["Body"])["case"])
            record = self.records.case(claimed)
            if (
                record is not None
                and record.state == "exported"
                and record.exports_wanted <= record.exports_done
            ):
                self._delete(receipt)  # an exported case costs no RAYNET call
                continue
            self._keep_alive(receipt, lease_seconds)
            receives = int(message["Attributes"]["ApproximateReceiveCount"])
            done = record.exports_done if record else 0
            return Job(claimed, 0, done + 1, receives - 1, owner, receipt)
        return None

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
        now = time.time() if now is None else now
        record = self.records.case(job.case_id)
        wanted = record.exports_wanted if record else 1
        self.records.update(
            job.case_id,
            now=now,
            state="exported" if wanted <= job.generation else "pending",
            code=code,
            file_name=file_name,
            location=location,
            sha256=sha256,
            exported_at=now,
            exports_done=job.generation,
            reason=None,
            reason_code=None,
            attempts=0,
            new_export={
                "generation": job.generation,
                "file_name": file_name,
                "location": location,
                "sha256": sha256,
                "exported_at": now,
            },
        )
        return self._settled(job)

    def skipped(
        self, job: Job, *, code: str, reason: str, reason_code: str, now: float | None = None
    ) -> bool:
        self.records.update(
            job.case_id,
            now=now,
            state="skipped",
            code=code,
            reason=reason,
            reason_code=reason_code,
            attempts=0,
        )
        return self._settled(job)

    def failed_permanently(
        self,
        job: Job,
        *,
        reason: str,
        reason_code: str,
        code: str | None = None,
        now: float | None = None,
    ) -> bool:
        """Nothing to retry: recorded dead; a new event for the case brings it back."""
        values: dict[str, Any] = {"code": code} if code else {}
        self.records.update(
            job.case_id,
            now=now,
            state="dead",
            reason=reason,
            reason_code=reason_code,
            attempts=job.attempts + 1,
            **values,
        )
        return self._settled(job)

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
        """The message comes back at ``retry_at``; after its last receive, the DLQ takes it."""
        now = time.time() if now is None else now
        attempts = job.attempts + 1
        state = "dead" if attempts >= self.max_receives else "failed"
        values: dict[str, Any] = {"code": code} if code else {}
        self.records.update(
            job.case_id,
            now=now,
            state=state,
            reason=reason,
            reason_code=reason_code,
            attempts=attempts,
            next_try_at=retry_at,
            **values,
        )
        self._stop_heartbeat(job)
        delay = 0 if state == "dead" else int(min(MAX_VISIBILITY, max(0.0, retry_at - now)))
        self._call(
            self._sqs.change_message_visibility,
            QueueUrl=self._url,
            ReceiptHandle=job.receipt or "",
            VisibilityTimeout=delay,
        )
        return state

    def maintain(self, now: float) -> None:
        """SQS forgets by itself."""

    def _settled(self, job: Job) -> bool:
        self._stop_heartbeat(job)
        self._delete(job.receipt or "")
        return True

    def _delete(self, receipt: str) -> None:
        self._call(self._sqs.delete_message, QueueUrl=self._url, ReceiptHandle=receipt)

    def _keep_alive(self, receipt: str, lease_seconds: float) -> None:
        """Extend the message's visibility every half lease until the case is settled."""
        stop = threading.Event()
        with self._lock:
            self._heartbeats[receipt] = stop

        def beat() -> None:
            while not stop.wait(lease_seconds / 2):
                try:
                    self._sqs.change_message_visibility(
                        QueueUrl=self._url,
                        ReceiptHandle=receipt,
                        VisibilityTimeout=int(lease_seconds),
                    )
                except (BotoCoreError, ClientError) as error:
                    log.warning("cannot extend a message's visibility: %s", error)

        threading.Thread(target=beat, name="sqs-heartbeat", daemon=True).start()

    def _stop_heartbeat(self, job: Job) -> None:
        with self._lock:
            stop = self._heartbeats.pop(job.receipt or "", None)
        if stop is not None:
            stop.set()

    @staticmethod
    def _call(operation: Callable[..., Any], **arguments: Any) -> Any:
        try:
            return operation(**arguments)
        except (BotoCoreError, ClientError) as error:
            raise QueueUnavailable(f"SQS: {error}") from None


def _case_key(case_id: int) -> str:
    return f"case#{case_id}"


def _dynamo(value: Any) -> Any:
    """DynamoDB takes numbers as Decimal."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _record(item: dict[str, Any]) -> CaseRecord:
    def number(key: str, default: float = 0) -> float:
        value = item.get(key)
        return float(value) if value is not None else default

    def text(key: str) -> str | None:
        value = item.get(key)
        return None if value is None else str(value)

    return CaseRecord(
        case_id=int(item["case_id"]),
        state=str(item["state"]),
        code=text("code"),
        revision=0,
        attempts=int(number("attempts")),
        next_try_at=number("next_try_at"),
        lease_owner=None,
        lease_until=0.0,
        exports_wanted=int(number("exports_wanted", 1)),
        exports_done=int(number("exports_done")),
        reason=text("reason"),
        reason_code=text("reason_code"),
        file_name=text("file_name"),
        location=text("location"),
        sha256=text("sha256"),
        exported_at=float(item["exported_at"]) if item.get("exported_at") else None,
        events=0,
        created_at=number("created_at"),
        updated_at=number("updated_at"),
    )
