"""SQS mode against moto server: a FIFO queue with a dead-letter queue, DynamoDB, S3."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from click.testing import CliRunner

from tests.harness import Harness
from tests.servers import bridge, create_aws_resources, free_port, listening, wait_until
from tests.support import TOKEN, AwsQueue, webhook_body, xsd_dir
from webhook.moneys3.validation import DocumentValidator
from webhook.ops.cli import main
from webhook.raynet.standin import RaynetStandIn
from webhook.state.model import CaseState


def sqs_harness(raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue, **extra: str) -> Harness:
    return Harness(raynet, tmp_path, **aws.env, WORKER_LEASE_SECONDS="30", **extra)


def objects(aws: AwsQueue) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=aws.bucket, Prefix="orders/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_a_won_case_goes_through_the_queue_to_the_bucket(
    raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue, validator: DocumentValidator
) -> None:
    harness = sqs_harness(raynet, tmp_path, aws)
    harness.webhook(event_id="evt-1")
    harness.webhook(event_id="evt-1")  # RAYNET delivered it twice: SQS drops the repeat
    harness.webhook(event_id="evt-2")  # another change of the same case
    assert harness.drain() == "exported"
    assert objects(aws) == ["orders/OP-24-057.xml"]
    body = boto3.client("s3").get_object(Bucket=aws.bucket, Key="orders/OP-24-057.xml")
    validator.validate(body["Body"].read())
    assert len(raynet.calls("businessCase/")) == 1  # the second event: already exported
    record = harness.records.case(1234)
    assert record is not None
    assert (record.state, record.file_name) == ("exported", "OP-24-057.xml")
    assert harness.records.counts()[CaseState.EXPORTED] == 1
    assert [e.file_name for e in harness.records.exports_of(1234)] == ["OP-24-057.xml"]
    assert harness.queue.due_count() == 0


def test_not_won_is_skipped_and_a_reexport_writes_the_next_file(
    raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue, won_case: dict[str, Any]
) -> None:
    harness = sqs_harness(raynet, tmp_path, aws)
    raynet.add_case({**won_case, "status": "B_ACTIVE"})
    harness.webhook()
    assert harness.drain() == "skipped"
    raynet.add_case(won_case)
    harness.webhook()
    assert harness.drain(until_state="exported") == "exported"
    harness.queue.request_reexport(1234)
    assert harness.drain(until_state="exported") == "exported"
    assert objects(aws) == ["orders/OP-24-057+2.xml", "orders/OP-24-057.xml"]


def test_a_case_that_keeps_failing_is_dead_after_its_attempts_and_leaves_the_queue(
    raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue
) -> None:
    """Retries follow WORKER_MAX_ATTEMPTS and the back-off, counted in the table as in the
    SQLite state; the dead-letter queue is for messages no worker can settle."""
    harness = sqs_harness(
        raynet,
        tmp_path,
        aws,
        WORKER_MAX_ATTEMPTS="3",
        WORKER_BACKOFF_BASE="0.01",
        WORKER_BACKOFF_MAX="0.01",
    )
    raynet.fail("businessCase/", 500, times=3)
    harness.webhook()
    assert harness.drain(until_state="dead") == "dead"
    record = harness.records.case(1234)
    assert record is not None
    assert record.attempts == 3
    assert "500" in (record.reason or "")
    assert len(raynet.calls("businessCase/")) == 3
    assert not harness.worker.run_once()  # its message is gone, not bound for the DLQ
    sqs = boto3.client("sqs")
    assert "Messages" not in sqs.receive_message(QueueUrl=aws.dead_letter_url, WaitTimeSeconds=0)
    status = CliRunner().invoke(main, ["status"], env={**aws.env, **raynet.environment()})
    assert status.exit_code == 0, status.output
    assert "dead 1" in status.output
    assert "RAYNET answered 500" in status.output
    harness.webhook()  # the case changed in RAYNET: looked at again, as in the SQLite state
    assert harness.drain(until_state="exported") == "exported"


def test_a_message_no_worker_can_read_goes_to_the_dead_letter_queue(
    raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue
) -> None:
    poison = create_aws_resources(boto3.Session(), max_receives=2)
    env = {**aws.env, **poison.environment()}
    harness = Harness(raynet, tmp_path, **env, WORKER_LEASE_SECONDS="30")
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=poison.queue_url,
        MessageBody="not a case of ours",
        MessageGroupId="x",
        MessageDeduplicationId="x",
    )
    for _ in range(3):  # each receive gives it back at once; SQS moves it on the third
        assert not harness.worker.run_once()
    moved = sqs.receive_message(QueueUrl=poison.dead_letter_url, WaitTimeSeconds=1)["Messages"]
    assert [message["Body"] for message in moved] == ["not a case of ours"]


def test_replay_sends_a_new_message(raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue) -> None:
    harness = sqs_harness(raynet, tmp_path, aws)
    raynet.fail("businessCase/", 404)  # deleted, then restored in RAYNET
    harness.webhook()
    assert harness.drain() == "dead"
    assert harness.queue.replay(1234) == 1
    assert harness.drain(until_state="exported") == "exported"


@pytest.mark.slow
def test_two_receivers_three_workers_one_killed_exactly_one_file_per_case(
    raynet: RaynetStandIn,
    tmp_path: Path,
    aws: AwsQueue,
    won_case: dict[str, Any],
    validator: DocumentValidator,
) -> None:
    for number in range(1, 101):
        raynet.add_case({**won_case, "id": 10_000 + number, "code": f"OP-26-{number:04d}"})
    raynet.latency = 0.01
    env = {
        **raynet.environment(),
        **aws.env,
        "WEBHOOK_TOKEN": TOKEN,
        "MONEY_S3_XSD_DIR": str(xsd_dir()),
        "WORKER_LEASE_SECONDS": "5",
        "WORKER_POLL_SECONDS": "0.05",
        "WORKER_THREADS": "2",  # slow enough that the kill comes mid-run
        "STATE_DB": str(tmp_path / "unused.db"),
    }
    ports = [free_port(), free_port()]
    receivers = [
        bridge(
            ["serve", "--no-worker", "--port", str(port)], env, tmp_path / f"receiver-{port}.log"
        )
        for port in ports
    ]
    workers = [bridge(["worker"], env, tmp_path / f"worker-{n}.log") for n in range(3)]
    try:
        for port in ports:
            wait_until(lambda port=port: listening(port), 30, "a receiver")  # type: ignore[misc]
        session = requests.Session()
        for round_ in range(5):  # 500 events: every case five times, two of them repeats
            for number in range(1, 101):
                event = f"evt-{number}-{min(round_, 2)}"
                port = ports[(number + round_) % 2]
                answer = post_as_raynet(
                    session,
                    f"http://127.0.0.1:{port}/webhooks/raynet",
                    webhook_body(10_000 + number, event_id=event),
                )
                # 202: new work; 200 duplicate: a repeat; 202 already_exported: no work
                assert answer.status_code in (200, 202), answer.text
                if round_ == 0 and number == 30:
                    wait_until(lambda: len(objects(aws)) >= 10, 60, "the first files")
                    workers[0].kill()  # SIGKILL while it holds messages
                    assert len(objects(aws)) < 100, "the crash must come mid-run"
        wait_until(lambda: len(objects(aws)) >= 100, 120, "100 files", interval=0.5)
        time.sleep(6)  # longer than a lease: a late duplicate would show up now
    finally:
        for process in [*receivers, *workers]:
            process.stop()
    keys = objects(aws)
    assert keys == [f"orders/OP-26-{n:04d}.xml" for n in range(1, 101)]
    s3 = boto3.client("s3")
    for key in keys:
        validator.validate(s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())


def post_as_raynet(session: requests.Session, url: str, body: dict[str, Any]) -> requests.Response:
    """A webhook delivered as RAYNET delivers it: a 503 is tried again (RAYNET retries for
    days). moto's DynamoDB now and then answers a transaction 500 under concurrent writes
    (a deepcopy of the table while another thread changes it), which the receiver passes
    on as 503 after its retry."""
    for _ in range(5):
        answer = session.post(url, json=body, headers={"X-RAYNETCRM-Token": TOKEN}, timeout=10)
        if answer.status_code != 503:
            return answer
        time.sleep(0.2)
    return answer


def test_one_batch_one_read_of_the_records_and_one_job_per_case(
    raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue, won_case: dict[str, Any]
) -> None:
    """Messages of the same case in one receive are one job; the records of the batch are
    read in one request; settled messages are deleted in batches."""
    raynet.add_case({**won_case, "id": 77, "code": "OP-24-077"})
    harness = sqs_harness(raynet, tmp_path, aws)
    for event in ("a", "b", "c"):
        harness.webhook(1234, event_id=f"evt-{event}")
    harness.webhook(77, event_id="evt-d")
    first = harness.queue.claim("w/0")
    second = harness.queue.claim("w/1")
    assert first is not None
    assert second is not None
    assert {first.case_id, second.case_id} == {1234, 77}
    assert harness.queue.claim("w/2") is None  # the three messages of 1234 are one job
    for job in (first, second):
        harness.worker.process(job)
    assert objects(aws) == ["orders/OP-24-057.xml", "orders/OP-24-077.xml"]
    assert len(raynet.reads("businessCase/1234/")) == 1
    wait_until(lambda: harness.queue.due_count() == 0, 10, "every message deleted")
