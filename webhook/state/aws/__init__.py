"""All three ports on AWS: an SQS FIFO queue, and one DynamoDB table for the case records
and the outbox, shared by receivers and workers on many hosts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from webhook.state.aws.dynamo import DynamoCaseRecords
from webhook.state.aws.outbox import DynamoOutbox
from webhook.state.aws.sqs import SqsJobQueue
from webhook.state.model import Clock, WorkPolicy
from webhook.state.ports import State

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sqs import SQSClient


def open_state(
    sqs: SQSClient,
    queue_url: str,
    table: Table,
    clock: Clock,
    policy: WorkPolicy,
    *,
    wait_seconds: int,
    prefetch: int,
) -> State:
    records = DynamoCaseRecords(table, clock)
    outbox = DynamoOutbox(records, clock, policy)
    queue = SqsJobQueue(
        sqs,
        queue_url,
        records,
        clock,
        policy=policy,
        outbox=outbox,
        wait_seconds=wait_seconds,
        prefetch=prefetch,
    )
    return State(queue, records, outbox)
