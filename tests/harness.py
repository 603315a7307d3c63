"""A worker harness for tests: a real state file, the RAYNET stand-in, a real target."""

from __future__ import annotations

import time
from pathlib import Path

import boto3

from tests.support import TestClock, share, xsd_dir
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.environment import Settings, load_settings
from webhook.state.model import CaseEvent
from webhook.wiring import build_worker, open_state


def worker_settings(raynet: RaynetStandIn, tmp_path: Path, **extra: str) -> Settings:
    return load_settings(
        {
            **raynet.environment(),
            "STATE_DB": str(tmp_path / "state.db"),
            "EXPORT_TARGET": share(tmp_path / "exports"),
            "MONEY_S3_XSD_DIR": str(xsd_dir()),
            "WORKER_BACKOFF_BASE": "0.05",
            "WORKER_BACKOFF_MAX": "0.2",
            **extra,
        }
    )


class Harness:
    def __init__(self, raynet: RaynetStandIn, tmp_path: Path, **extra: str) -> None:
        self.raynet = raynet
        self.clock = TestClock()
        self.settings = worker_settings(raynet, tmp_path, **extra)
        self.state = open_state(self.settings, self.clock)
        self.queue, self.records = self.state.queue, self.state.records
        self.service = build_worker(self.settings, self.state, clock=self.clock)
        self.worker = self.service.worker
        self.follow_ups = self.service.follow_ups
        self.exports = tmp_path / "exports"
        self._events = 0

    def webhook(self, case_id: int = 1234, event_id: str | None = None) -> None:
        self._events += 1
        event_id = event_id or f"event-{case_id}-{self._events}"
        self.queue.record_event(CaseEvent(event_id, case_id, "record.updated"))

    def drain(
        self, until_state: str | None = None, case_id: int = 1234, timeout: float = 10.0
    ) -> str:
        """Run due jobs until none is left (or the case reaches ``until_state``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            worked = self.worker.run_once()
            state = self.state_of(case_id)
            if until_state is None and not worked:
                return state
            if state == until_state:
                return state
            if not worked:
                time.sleep(0.02)
        raise AssertionError(f"case {case_id} is {self.state_of(case_id)}, not {until_state}")

    def state_of(self, case_id: int = 1234) -> str:
        record = self.records.case(case_id)
        return record.state.value if record else "unknown"

    def outbox_counts(self) -> dict[str, int]:
        return self.state.outbox.counts()

    def files(self) -> list[str]:
        """The names of the files in the export target: the folder, or the bucket."""
        target = self.settings.export_target
        if target.startswith("s3://"):
            bucket, _, prefix = target.removeprefix("s3://").partition("/")
            prefix = f"{prefix.rstrip('/')}/" if prefix else ""
            listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
            return sorted(item["Key"][len(prefix) :] for item in listing.get("Contents", []))
        return sorted(p.name for p in self.exports.iterdir()) if self.exports.exists() else []

    def file(self, name: str) -> bytes:
        """One file as the export target holds it."""
        target = self.settings.export_target
        if target.startswith("s3://"):
            bucket, _, prefix = target.removeprefix("s3://").partition("/")
            key = f"{prefix.rstrip('/')}/{name}" if prefix else name
            return bytes(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        return (self.exports / name).read_bytes()
