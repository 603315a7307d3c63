"""What a worker does beside exports, each when it is due.

- a heartbeat in the state every 10 s (``/readyz`` and the banners know a worker is alive);
- what the dashboard's banners show, written as flags only when it changes: RAYNET's quota
  left for the day (from every answer's ``X-Ratelimit-*``), whether RAYNET still has an
  active webhook calling this bridge (asked hourly with ``PUBLIC_URL``: 24 requests a day),
  why the export target takes no files, if it does not;
- the target watch: every 30 s, every 5 s while it takes no files (exports wait meanwhile);
- an hourly probe while RAYNET refuses the credentials (``gate.py``);
- housekeeping once an hour (forgotten event ids and history, stale temporary files);
- the sweep for lost webhooks (``reconcile.py``), with ``RECONCILE_INTERVAL``;
- Money S3's import reports (``money_reports.py``), with ``MONEY_S3_REPORTS``: one worker
  at a time reads the new ones every ``MONEY_S3_REPORTS_EVERY`` seconds; why the folder or
  bucket cannot be read, if it cannot, is a flag the dashboard shows.

The pages never call RAYNET or wait on the target for a banner: they read these flags.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from webhook.delivery.target import Target
from webhook.errors import BridgeError
from webhook.raynet.client import DAILY_LIMIT, RaynetClient
from webhook.raynet.webhooks import webhook_problem
from webhook.state.model import Clock, reason_json
from webhook.state.ports import CaseRecords, JobQueue
from webhook.worker.gate import ExportGate
from webhook.worker.money_reports import MoneyReports
from webhook.worker.reconcile import Reconciler

log = logging.getLogger(__name__)
HEARTBEAT_FLAG = "worker_heartbeat"
HEARTBEAT_SECONDS = 10.0
HEARTBEAT_SILENCE = 60.0  # no heartbeat for this long: no worker is alive
HOUSEKEEPING_SECONDS = 3600.0
TARGET_CHECK_SECONDS = (30.0, 5.0)  # while it takes files, and while it does not
WEBHOOK_CHECK_SECONDS = 3600.0
QUOTA_FLAG = "raynet_requests_left"  # "<remaining>/<limit>"
WEBHOOK_FLAG = "raynet_webhook_problem"
TARGET_FLAG = "target_problem"
REPORTS_FLAG = "money_reports_problem"
REPORTS_TURN = "money_reports_turn"


@dataclass
class Chores:
    queue: JobQueue
    records: CaseRecords
    gate: ExportGate
    raynet: RaynetClient
    target: Target
    housekeeping: Callable[[float], object] | None = None  # e.g. stale temporary files
    reconciler: Reconciler | None = None
    webhook_url: str | None = None  # PUBLIC_URL's webhook: RAYNET must still call it
    webhook_token: str | None = None
    money_reports: MoneyReports | None = None  # with MONEY_S3_REPORTS
    money_reports_every: float = 60.0
    clock: Clock = time.time
    _next: dict[str, float] = field(default_factory=dict, init=False)
    _published: dict[str, str | None] = field(default_factory=dict, init=False)

    def run_due(self) -> None:
        if self._every("heartbeat", HEARTBEAT_SECONDS):
            self.records.set_flag(HEARTBEAT_FLAG, repr(self.clock()))
            self._publish_quota()
        if self.webhook_url and self._every("webhook", WEBHOOK_CHECK_SECONDS):
            self._check_webhook(self.webhook_url)
        if self._every("housekeeping", HOUSEKEEPING_SECONDS):
            self.queue.maintain()
            self.records.maintain()
            if self.housekeeping is not None:
                self.housekeeping(self.clock())
        if self._every("target", TARGET_CHECK_SECONDS[self.gate.target_problem is not None]):
            self.watch_target()
        self._probe_credentials()
        self._reconcile()
        self._read_money_reports()

    def _read_money_reports(self) -> None:
        reports, every = self.money_reports, self.money_reports_every
        if reports is None or not self._every("money_reports", every):
            return
        if not self.records.take_turn(REPORTS_TURN, every * 0.9):  # another worker's turn
            return
        try:
            reports.poll()
        except BridgeError as error:
            log.warning("Money S3's reports cannot be read: %s", error)
            self.publish(REPORTS_FLAG, reason_json(error.reason))
        else:
            self.publish(REPORTS_FLAG, None)

    def watch_target(self) -> None:
        """Close the gate while the target takes no files; open it once it does."""
        self.gate.look_at_target = False
        try:
            self.target.check()
        except BridgeError as error:
            if self.gate.target_problem is None:
                log.error("exports paused: %s", error)
            self.gate.target_found(error.reason)
        else:
            if self.gate.target_problem is not None:
                log.info("the export target takes files again; exports resume")
            self.gate.target_found(None)
        self.publish(TARGET_FLAG, reason_json(self.gate.target_problem))

    def publish(self, name: str, value: str | None) -> None:
        """Write a flag when its value changed since this worker last wrote it."""
        if name in self._published and self._published[name] == value:
            return
        self.records.set_flag(name, value)
        self._published[name] = value

    def _publish_quota(self) -> None:
        status = self.raynet.rate_limit
        if status.remaining is not None:
            self.publish(QUOTA_FLAG, f"{status.remaining}/{status.limit or DAILY_LIMIT}")

    def _check_webhook(self, url: str) -> None:
        try:
            webhook_problem(self.raynet.webhooks(), url, self.webhook_token)
        except BridgeError as error:
            self.publish(WEBHOOK_FLAG, str(error))
        else:
            self.publish(WEBHOOK_FLAG, None)

    def _probe_credentials(self) -> None:
        credentials = self.gate.credentials
        if credentials is not None and credentials.probe_due():
            try:
                good = self.raynet.probe_credentials()
            except BridgeError as error:
                log.warning("could not ask RAYNET whether it takes the credentials: %s", error)
                return
            log.info("RAYNET %s the credentials", "takes" if good else "still refuses")

    def _reconcile(self) -> None:
        """A sweep for lost webhooks, when it is this worker's turn and exports may run."""
        if self.reconciler is None or self.gate.closed_because() is not None:
            return
        if self.reconciler.due():
            try:
                self.reconciler.sweep()
            except BridgeError as error:
                log.warning("reconciliation failed: %s", error)

    def _every(self, task: str, seconds: float) -> bool:
        """True when ``task`` is due, and then not again for ``seconds``."""
        now = self.clock()
        if now < self._next.get(task, 0.0):
            return False
        self._next[task] = now + seconds
        return True


def silence(records: CaseRecords, now: float) -> float | None:
    """Seconds since a worker last beat its heart in these records; None if none ever did."""
    beat = records.flag(HEARTBEAT_FLAG)
    return None if beat is None else max(0.0, now - float(beat))


def requests_left(records: CaseRecords) -> tuple[int, int] | None:
    """RAYNET's requests left today and its daily limit, as the worker last saw them."""
    value = records.flag(QUOTA_FLAG)
    if value is None:
        return None
    remaining, _, limit = value.partition("/")
    return int(remaining), int(limit or DAILY_LIMIT)
