"""The job queue on SQS (``QUEUE_URL``, a FIFO queue), for receivers and workers on many hosts.

Each accepted event is one message with ``MessageGroupId`` = the business case id, so one
case is with one worker at a time, and ``MessageDeduplicationId`` = RAYNET's ``eventId``.
Workers long-poll, extend the visibility while they work, delete the message when the case
is settled, and leave a message that keeps failing to the queue's redrive policy: it goes
to the dead-letter queue after ``maxReceiveCount`` receives, and its case is recorded as
dead on the last one. What became of each case is in the DynamoDB records; the
exactly-once ledger is the export target itself (S3 conditional writes).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from webhook.errors import ConfigError, QueueUnavailable
from webhook.state.aws.dynamo import DynamoCaseRecords
from webhook.state.model import (
    AUTH_REFUSED_FLAG,
    CaseEvent,
    CaseQuery,
    CaseState,
    Clock,
    Job,
    Recorded,
    Settlement,
    WorkPolicy,
)
from webhook.state.ports import JobQueue

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
        wait_seconds: int = 2,
    ) -> None:
        """Claims last ``policy.lease_seconds``; the attempts are the redrive policy's."""
        self._sqs, self._url, self._records, self._clock = sqs, queue_url, records, clock
        self._lease_seconds = policy.lease_seconds
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

    # --- receivers ----------------------------------------------------------------------

    def record_event(self, event: CaseEvent) -> Recorded:
        """One message per event; SQS drops a repeated eventId within five minutes."""
        self._send(event.case_id, event.event_id, event.kind)
        return Recorded.ACCEPTED

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
        """The next message, unless it is for a case already exported (then it is done)."""
        if case_id is not None:
            return None  # SQS cannot hand out one chosen case; the message will come
        for _ in range(10):
            answer = self._call(
                self._sqs.receive_message,
                QueueUrl=self._url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=self._wait,
                VisibilityTimeout=int(self._lease_seconds),
                AttributeNames=["ApproximateReceiveCount"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                return None
            message = messages[0]
            receipt = message["ReceiptHandle"]
            claimed = int(json.loads(message["Body"])["case"])
            record = self._records.case(claimed)
            if (
                record is not None
                and record.state == CaseState.EXPORTED
                and record.exports_wanted <= record.exports_done
            ):
                self._delete(receipt)  # an exported case costs no RAYNET call
                continue
            self._keep_alive(receipt)
            receives = int(message["Attributes"]["ApproximateReceiveCount"])
            done = record.exports_done if record else 0
            return Job(claimed, done + 1, receives - 1, receipt)
        return None

    def settle(self, job: Job, settlement: Settlement) -> CaseState | None:
        """Record the outcome, then delete the message, or let it come back for a retry."""
        self._stop_heartbeat(job)
        state = self._settled_state(job, settlement)
        self._records.update(job.case_id, **_settled_values(job, settlement, state, self._clock()))
        if state == CaseState.FAILED and settlement.retry_at is not None:
            delay = int(min(MAX_VISIBILITY, max(0.0, settlement.retry_at - self._clock())))
        elif state == CaseState.DEAD and settlement.state == CaseState.FAILED:
            delay = 0  # its last receive: the next one moves it to the dead-letter queue
        else:
            return state if self._delete(job.claim) else None
        return state if self._change_visibility(job.claim, delay) else None

    def _settled_state(self, job: Job, settlement: Settlement) -> CaseState:
        if settlement.state == CaseState.FAILED and job.attempts + 1 >= self.max_receives:
            return CaseState.DEAD
        if settlement.state == CaseState.EXPORTED:
            record = self._records.case(job.case_id)
            wanted = record.exports_wanted if record else 1
            return CaseState.PENDING if wanted > job.generation else CaseState.EXPORTED
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
        self._records.update(
            case_id, state=CaseState.PENDING.value, next_try_at=self._clock(), **values
        )
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

    # --- messages -----------------------------------------------------------------------

    def _delete(self, receipt: str) -> bool:
        return self._on_message(self._sqs.delete_message, QueueUrl=self._url, ReceiptHandle=receipt)

    def _change_visibility(self, receipt: str, seconds: int) -> bool:
        return self._on_message(
            self._sqs.change_message_visibility,
            QueueUrl=self._url,
            ReceiptHandle=receipt,
            VisibilityTimeout=seconds,
        )

    def _on_message(self, operation: Callable[..., Any], **arguments: Any) -> bool:
        """False when the receipt lapsed: another worker has received the message since."""
        try:
            operation(**arguments)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in LAPSED_RECEIPT:
                return False
            raise QueueUnavailable(f"SQS: {error}") from None
        except BotoCoreError as error:
            raise QueueUnavailable(f"SQS: {error}") from None
        return True

    def _keep_alive(self, receipt: str) -> None:
        """Extend the message's visibility every half lease until the case is settled."""
        stop = threading.Event()
        with self._lock:
            self._heartbeats[receipt] = stop
        lease = self._lease_seconds

        def beat() -> None:
            while not stop.wait(lease / 2):
                try:
                    self._change_visibility(receipt, int(lease))
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


def _settled_values(
    job: Job, settlement: Settlement, state: CaseState, now: float
) -> dict[str, Any]:
    """The case's attributes after ``settlement`` (mirrors SQLite's SETTLE statement)."""
    values: dict[str, Any] = {
        "state": state.value,
        "reason": settlement.reason,
        "reason_code": settlement.reason_code,
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
            },
        }
    return values
