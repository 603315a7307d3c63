"""The job queue on SQS (``QUEUE_URL``, a FIFO queue), for receivers and workers on many hosts.

The receiver first writes the event to the DynamoDB table in one transaction, which also
says whether it is a duplicate or the case is exported already; only an event that means
work becomes a message, with ``MessageGroupId`` = the business case id (one case is with
one worker at a time) and ``MessageDeduplicationId`` = RAYNET's ``eventId``. Workers
long-poll, extend the visibility while they work, and delete the messages once the case is
settled. A failed attempt is counted in the case's item, and its messages come back after
the back-off (their visibility timeout), as in the SQLite state: the case is dead after
``WORKER_MAX_ATTEMPTS``. The dead-letter queue only takes messages no worker can read or
ever settles (``maxReceiveCount``, set well above the attempts). What became of each case
is in the table; the exactly-once ledger is the export target itself (S3 conditional
writes).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from webhook.errors import ConfigError, QueueUnavailable
from webhook.order import Reason
from webhook.state.aws.dynamo import DynamoCaseRecords, cancellations
from webhook.state.aws.outbox import new_follow_up
from webhook.state.batching import GroupWriter
from webhook.state.model import (
    AUTH_REFUSED_FLAG,
    CaseEvent,
    CaseQuery,
    CaseState,
    Clock,
    FollowUp,
    Job,
    Recorded,
    Settlement,
    WorkPolicy,
    caveats_json,
    digest_json,
    reason_json,
)
from webhook.state.ports import JobQueue, Outbox

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)
MAX_VISIBILITY = 43_200  # SQS allows 12 hours at most
LAPSED_RECEIPT = ("ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight")


class SqsJobQueue(JobQueue):
    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        records: DynamoCaseRecords,
        clock: Clock,
        *,
        policy: WorkPolicy,
        outbox: Outbox,
        wait_seconds: int = 2,
        prefetch: int = 10,
    ) -> None:
        """Claims last ``policy.lease_seconds``; a case is dead after ``policy.max_attempts``.
        ``prefetch`` (1 to 10): messages received at once, as many as a worker has threads."""
        self._sqs, self._url, self._records, self._clock = sqs, queue_url, records, clock
        self._lease_seconds = policy.lease_seconds
        self._max_attempts = policy.max_attempts
        self._change_check_every = policy.change_check_every
        self._outbox = outbox  # where change checks are asked for
        self._wait = wait_seconds
        self._prefetch = max(1, min(10, prefetch))
        self._heartbeats: dict[str, threading.Event] = {}
        self._ready: deque[_Ready] = deque()  # received, waiting for a thread
        self._claims: dict[str, _Ready] = {}  # handed out, not settled yet
        self._deleter: GroupWriter[str, bool] | None = None
        self._lock = threading.Lock()
        self.max_receives = self._max_receives()

    def _max_receives(self) -> int:
        """The redrive policy's maxReceiveCount: when a message no worker settles goes to
        the dead-letter queue."""
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

    # --- receivers ----------------------------------------------------------------------

    def record_event(self, event: CaseEvent) -> Recorded:
        """The event in the table (one transaction: a duplicate, or a case with no work,
        is known there), then a message for the work; SQS drops a repeated eventId within
        five minutes, should the message be sent twice."""
        try:
            recorded = self._records.record_event(event)
        except (BotoCoreError, ClientError) as error:
            raise QueueUnavailable(f"DynamoDB: {error}") from None
        if recorded is Recorded.ACCEPTED:
            self._send(event.case_id, event.event_id, event.kind)
        elif recorded is Recorded.ALREADY_EXPORTED and not event.by_bridge:
            self._check_for_changes(event.case_id)
        return recorded

    def _check_for_changes(self, case_id: int) -> None:
        """An exported case changed in RAYNET: read it again, at most once per
        ``change_check_every`` (a follow-up: the outbox holds it, with its own retries)."""
        every = self._change_check_every
        if every is None:
            return
        try:
            self._outbox.rearm(FollowUp.CHANGE_CHECK, case_id, 0, every)
        except (BotoCoreError, ClientError) as error:
            raise QueueUnavailable(f"DynamoDB: {error}") from None

    def record_unreadable(self, body: bytes, problem: Reason) -> None:
        try:
            self._records.record_unreadable(body, problem)
        except (BotoCoreError, ClientError) as error:
            raise QueueUnavailable(f"DynamoDB: {error}") from None

    def enqueue(self, case_id: int) -> None:
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

    def claim(self, worker: str, case_id: int | None = None) -> Job | None:
        """The next case to work on, from a batch received for the workers' threads.

        One ReceiveMessage brings up to ``prefetch`` messages, one BatchGetItem the records
        of their cases: a case already exported is done without a RAYNET call, messages of
        the same case in one batch are one job (the export reads the case as it is by
        then, after every change those messages announced), and the rest wait here for
        the next idle thread.
        """
        if case_id is not None:
            return None  # SQS cannot hand out one chosen case; the message will come
        for _ in range(10):
            with self._lock:
                ready = self._ready.popleft() if self._ready else None
            if ready is None:
                if not self._receive():
                    return None
                continue
            token = f"{worker}#{uuid.uuid4().hex[:8]}"
            with self._lock:
                self._claims[token] = ready
            self._keep_alive(token, ready.receipts)
            return Job(ready.case_id, ready.exports_done + 1, ready.attempts, token)
        return None

    def _receive(self) -> bool:
        """Receive a batch into ``_ready``; False when the queue had nothing."""
        answer = self._call(
            self._sqs.receive_message,
            QueueUrl=self._url,
            MaxNumberOfMessages=self._prefetch,
            WaitTimeSeconds=self._wait,
            VisibilityTimeout=int(self._lease_seconds),
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return False
        by_case: dict[int, list[Any]] = {}
        unreadable: list[str] = []
        for message in messages:
            case_id = _case_of(message)
            if case_id is None:
                log.error("SQS message %s is not a case of this bridge", message["MessageId"])
                unreadable.append(message["ReceiptHandle"])
                continue
            by_case.setdefault(case_id, []).append(message)
        if unreadable:  # back at once: the redrive policy moves it to the dead-letter queue
            self._change_visibility(unreadable, 0)
        records = self._records.cases_by_id(list(by_case))
        done: list[str] = []
        ready: list[_Ready] = []
        for claimed, group in by_case.items():
            receipts = tuple(message["ReceiptHandle"] for message in group)
            record = records.get(claimed)
            if (
                record is not None
                and record.state == CaseState.EXPORTED
                and record.exports_wanted <= record.exports_done
            ):
                done.extend(receipts)  # an exported case costs no RAYNET call
                continue
            ready.append(
                _Ready(
                    case_id=claimed,
                    receipts=receipts,
                    attempts=record.attempts if record else 0,
                    exports_done=record.exports_done if record else 0,
                    exports_wanted=record.exports_wanted if record else 1,
                )
            )
        if done:
            self._delete(done)
        with self._lock:
            self._ready.extend(ready)
        return True

    def settle(self, job: Job, settlement: Settlement) -> CaseState | None:
        """Record the outcome (with a file's follow-ups, in one transaction), then delete the
        messages, or let them come back after the back-off for another attempt."""
        with self._lock:
            ready = self._claims.pop(job.claim, None)
        self._stop_heartbeat(job)
        if ready is None:
            return None
        state = self._settled_state(job, settlement, ready)
        values = _settled_values(job, settlement, state, self._clock())
        try:
            self._record(job, settlement, self._records.update(job.case_id, **values))
        except (BotoCoreError, ClientError) as error:
            raise QueueUnavailable(f"DynamoDB: {error}") from None
        if state == CaseState.FAILED and settlement.retry_at is not None:
            delay = int(min(MAX_VISIBILITY, max(0.0, settlement.retry_at - self._clock())))
            return state if self._change_visibility(ready.receipts, delay) else None
        return state if self._delete(ready.receipts) else None

    def _record(self, job: Job, settlement: Settlement, update: dict[str, Any]) -> None:
        """The case's new values, with the follow-ups of a delivered file: all or nothing.
        Follow-ups there already (this file was settled before, by a worker whose lease
        ran out) are left as they are."""
        if settlement.file is None or not settlement.follow_ups:
            self._records.write(update)
            return
        now = self._clock()
        puts = [
            {
                "Put": {
                    "TableName": self._records.name,
                    "Item": new_follow_up(kind, job.case_id, job.generation, now),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for kind in settlement.follow_ups
        ]
        try:
            self._records.client.transact_write_items(TransactItems=[{"Update": update}, *puts])
        except ClientError as error:
            reasons = cancellations(error)
            if reasons is None or reasons[0] not in ("None", "", None):
                raise
            self._records.write(update)  # only follow-ups that exist failed their condition

    def _settled_state(self, job: Job, settlement: Settlement, ready: _Ready) -> CaseState:
        if settlement.state == CaseState.FAILED and job.attempts + 1 >= self._max_attempts:
            return CaseState.DEAD
        if settlement.state == CaseState.EXPORTED:
            # A re-export asked for meanwhile sent a message of its own: it comes next.
            return (
                CaseState.PENDING if ready.exports_wanted > job.generation else CaseState.EXPORTED
            )
        return settlement.state

    # --- operators ----------------------------------------------------------------------

    def replay(self, case_id: int | None = None) -> int:
        self._records.set_flag(AUTH_REFUSED_FLAG, None)
        chosen = (
            [self._records.case(case_id)]
            if case_id is not None
            else [
                record
                for state in (CaseState.FAILED, CaseState.DEAD)
                for record in self._records.cases(CaseQuery(state=state, limit=10**9))
            ]
        )
        replayed = 0
        for record in chosen:
            if record is not None and record.state in (
                CaseState.FAILED,
                CaseState.DEAD,
                CaseState.SKIPPED,
            ):
                self._requeue(record.case_id, attempts=0)
                replayed += 1
        return replayed

    def request_reexport(self, case_id: int) -> None:
        record = self._records.case(case_id)
        if record is not None and record.state == CaseState.EXPORTED:
            self._requeue(case_id, attempts=0, exports_wanted=record.exports_done + 1)

    def _requeue(self, case_id: int, **values: Any) -> None:
        """Pending again, and a message for it. A failing case's own message comes back when
        its back-off ends (a FIFO queue hands out one message of a case at a time)."""
        values = {"state": CaseState.PENDING.value, "next_try_at": self._clock(), **values}
        self._records.write(self._records.update(case_id, **values))
        self.enqueue(case_id)

    # --- watching -----------------------------------------------------------------------

    def due_count(self) -> int:
        attributes = self._call(
            self._sqs.get_queue_attributes,
            QueueUrl=self._url,
            AttributeNames=["ApproximateNumberOfMessages"],
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def oldest_due(self) -> float | None:
        """From the records: a case enters them when a worker first settles it."""
        return self._records.oldest_due()

    def maintain(self) -> None:
        """SQS forgets by itself."""

    def probe(self) -> None:
        """The table takes a write and the queue answers."""
        try:
            self._records.ping()
        except (BotoCoreError, ClientError) as error:
            raise QueueUnavailable(f"DynamoDB: {error}") from None
        self.due_count()

    # --- messages -----------------------------------------------------------------------

    def _delete(self, receipts: Sequence[str]) -> bool:
        """Delete settled messages; the threads that settle meanwhile share one request."""
        with self._lock:
            if self._deleter is None or not self._deleter.serves_this_process():
                self._deleter = GroupWriter(self._delete_batch, most=10)
            deleter = self._deleter
        return all(deleter.submit_all(receipts))

    def _delete_batch(self, receipts: Sequence[str]) -> list[bool]:
        """One DeleteMessageBatch; False for a receipt that lapsed (another worker has
        received that message since)."""
        return self._batch(self._sqs.delete_message_batch, receipts)

    def _change_visibility(self, receipts: Sequence[str], seconds: int) -> bool:
        results: list[bool] = []
        for start in range(0, len(receipts), 10):
            results += self._batch(
                self._sqs.change_message_visibility_batch,
                receipts[start : start + 10],
                VisibilityTimeout=seconds,
            )
        return all(results)

    def _batch(
        self, operation: Callable[..., Any], receipts: Sequence[str], **extra: Any
    ) -> list[bool]:
        """One batch request for up to ten messages: which receipts were still valid."""
        entries = [
            {"Id": str(number), "ReceiptHandle": receipt, **extra}
            for number, receipt in enumerate(receipts)
        ]
        answer = self._call(operation, QueueUrl=self._url, Entries=entries)
        lapsed: set[str] = set()
        for failure in answer.get("Failed", []):
            if failure.get("Code") not in LAPSED_RECEIPT:
                raise QueueUnavailable(f"SQS: {failure.get('Code')}: {failure.get('Message')}")
            lapsed.add(str(failure.get("Id")))
        return [entry["Id"] not in lapsed for entry in entries]

    def _keep_alive(self, token: str, receipts: Sequence[str]) -> None:
        """Extend the messages' visibility every half lease until the case is settled."""
        stop = threading.Event()
        with self._lock:
            self._heartbeats[token] = stop
        lease = self._lease_seconds

        def beat() -> None:
            while not stop.wait(lease / 2):
                try:
                    self._change_visibility(receipts, int(lease))
                except QueueUnavailable as error:
                    log.warning("cannot extend a message's visibility: %s", error)

        threading.Thread(target=beat, name="sqs-heartbeat", daemon=True).start()

    def _stop_heartbeat(self, job: Job) -> None:
        with self._lock:
            stop = self._heartbeats.pop(job.claim, None)
        if stop is not None:
            stop.set()

    @staticmethod
    def _call(operation: Callable[..., Any], **arguments: Any) -> Any:
        try:
            return operation(**arguments)
        except (BotoCoreError, ClientError) as error:
            raise QueueUnavailable(f"SQS: {error}") from None


@dataclass(frozen=True)
class _Ready:
    """The messages of one case from one batch, with its record as the batch found it."""

    case_id: int
    receipts: tuple[str, ...]
    attempts: int  # failed attempts so far, as the case's item counts them
    exports_done: int
    exports_wanted: int


def _case_of(message: dict[str, Any]) -> int | None:
    """The case a message is about; None for one this bridge did not send."""
    try:
        body = json.loads(message["Body"])
        case_id = body["case"]
    except (ValueError, TypeError, KeyError):
        return None
    return case_id if type(case_id) is int and case_id > 0 else None


def _settled_values(
    job: Job, settlement: Settlement, state: CaseState, now: float
) -> dict[str, Any]:
    """The case's attributes after ``settlement`` (mirrors SQLite's SETTLE statement)."""
    values: dict[str, Any] = {
        "state": state.value,
        "reason": settlement.reason,
        "reason_code": settlement.reason_code,
        "reason_detail": reason_json(settlement.detail),
        "next_try_at": settlement.retry_at or now,
        "attempts": job.attempts + 1
        if settlement.state in (CaseState.FAILED, CaseState.DEAD)
        else 0,
    }
    if settlement.code:
        values["code"] = settlement.code
    summary = settlement.summary
    if summary is not None:
        values |= {
            key: str(value)
            for key, value in asdict(summary).items()  # name, customer, total_with_vat, ...
            if value is not None
        }
    delivered = settlement.file
    if delivered is not None:
        values |= {
            "file_name": delivered.file_name,
            "location": delivered.location,
            "sha256": delivered.sha256,
            "exported_at": now,
            "exports_done": job.generation,
            "new_export": {
                "generation": job.generation,
                "file_name": delivered.file_name,
                "location": delivered.location,
                "sha256": delivered.sha256,
                "exported_at": now,
                "caveats": caveats_json(delivered.caveats),
                "digest": digest_json(delivered.digest),
            },
        }
    return values
