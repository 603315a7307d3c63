"""Starting real processes for integration tests: moto's S3, Redis, the bridge's serve and
worker."""

from __future__ import annotations

import email
import email.policy
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import IO, Any

import boto3
import requests
from aiosmtpd.controller import Controller

from tests.support import TOKEN

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Process:
    """A child process whose output goes to a log file, shown when a test fails."""

    def __init__(
        self, args: list[str], env: Mapping[str, str], log: Path, cwd: Path = ROOT
    ) -> None:
        self.log = log
        self._log_file: IO[bytes] = log.open("ab")
        environment = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.popen = subprocess.Popen(
            args, env=environment, cwd=cwd, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; its exit code."""
        code = self.popen.wait(timeout=timeout)
        self._log_file.close()
        return code

    def kill(self) -> None:
        """SIGKILL: no clean-up, no finally blocks: a crash."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._log_file.close()

    def stop(self, timeout: float = 20) -> int:
        if self._log_file.closed:
            return self.popen.returncode
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()
        return self.popen.returncode

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")


def bridge(command: list[str], env: Mapping[str, str], log: Path) -> Process:
    """``python -m webhook <command>`` as a child process."""
    return Process([sys.executable, "-m", "webhook", *command], env, log)


# A test that acts on the service right after its first answer runs one gunicorn worker:
# that answer then means the only worker has booted. With two, the second may still be
# booting: it refuses a state file damaged meanwhile (gunicorn stops, and the last SQLite
# connection's checkpoint writes the WAL's first page back over the damage), or it loses a
# SIGTERM sent between its fork and its signal handlers (gunicorn waits graceful_timeout).
ONE_HTTP_WORKER = ("--workers", "1")


def run_bridge(command: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m webhook <command>`` run to its end, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "webhook", *command],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class Service:
    def __init__(self, env: dict[str, str], tmp_path: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = bridge(
            ["serve", "--port", str(self.port), *extra], env, tmp_path / f"serve-{self.port}.log"
        )
        wait_until(lambda: listening(self.port) or not self.process.alive(), 30, "gunicorn")
        assert self.process.alive(), self.process.output()

    def post(self, body: dict[str, Any] | bytes, token: str = TOKEN) -> requests.Response:
        headers = {"X-RAYNETCRM-Token": token}
        if isinstance(body, bytes):
            return requests.post(
                f"{self.url}/webhooks/raynet", data=body, headers=headers, timeout=10
            )
        return requests.post(f"{self.url}/webhooks/raynet", json=body, headers=headers, timeout=10)


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)
        return "250 OK"


def start_smtp(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


def moto_server(port: int, log: Path) -> Process:
    server = Process(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], {}, log
    )
    wait_until(lambda: listening(port), 20, "moto server")
    return server


def redis_server(port: int, log: Path) -> Process:
    """A throw-away redis-server on 127.0.0.1 only, without persistence (no RDB, no AOF;
    its working folder is the log's, so nothing lands in the repository)."""
    server = Process(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(log.parent),
        ],
        {},
        log,
    )
    wait_until(lambda: listening(port) or not server.alive(), 20, "redis-server")
    assert server.alive(), server.output()
    return server


@dataclass(frozen=True)
class AwsResources:
    """An SQS FIFO queue with its dead-letter queue, a DynamoDB table and a bucket."""

    queue_url: str
    dead_letter_url: str
    table: str
    bucket: str
    max_receives: int

    def environment(self, prefix: str = "orders") -> dict[str, str]:
        """The bridge's variables for SQS mode on these resources."""
        return {
            "QUEUE_URL": self.queue_url,
            "STATE_TABLE": self.table,
            "EXPORT_TARGET": f"s3://{self.bucket}/{prefix}",
        }


def create_aws_resources(
    session: boto3.Session, *, max_receives: int = 25, suffix: str | None = None
) -> AwsResources:
    """What SQS mode needs, created on whatever endpoint ``session``'s clients reach: the
    queue (a dead-letter queue for messages no worker settles, ``max_receives`` well above
    the attempts), and the table with the outbox's index ``due`` and TTL."""
    suffix = suffix or secrets.token_hex(4)
    sqs = session.client("sqs")
    dead = sqs.create_queue(
        QueueName=f"orders-dead-{suffix}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": max_receives}
    queue = sqs.create_queue(
        QueueName=f"orders-{suffix}.fifo",
        Attributes={"FifoQueue": "true", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    table = f"bridge-{suffix}"
    dynamodb = session.client("dynamodb")
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "due", "AttributeType": "S"},
            {"AttributeName": "next_try_at", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "due",
                "KeySchema": [
                    {"AttributeName": "due", "KeyType": "HASH"},
                    {"AttributeName": "next_try_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    dynamodb.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    bucket = f"orders-{suffix}"
    session.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    return AwsResources(queue, dead, table, bucket, max_receives)
