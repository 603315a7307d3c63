"""The worker: claims due cases, runs each through the export pipeline, settles it.

Transient failures are retried with exponential backoff and full jitter; permanent ones
stop at once with their reason. A 401 from RAYNET stops every worker on the same state
from calling RAYNET again with the same credentials (20 bad logins block the IP for an
hour) until the credentials change or an operator replays.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from webhook.errors import BridgeError, PermanentError, TransientError
from webhook.observability import EXPORT_SECONDS, EXPORTS, FAILURES, SKIPS, log_context
from webhook.pipeline import Exported, Outcome
from webhook.raynet.client import RaynetAuthError, RaynetCredentials
from webhook.state.model import (
    AUTH_REFUSED_FLAG,
    CaseState,
    Clock,
    DeliveredFile,
    FollowUp,
    Job,
    Settlement,
)
from webhook.state.ports import CaseRecords, JobQueue
from webhook.worker.mail import Notifier
from webhook.worker.reconcile import Reconciler

log = logging.getLogger(__name__)
RunJob = Callable[[Job], Outcome]
HOUSEKEEPING_SECONDS = 3600.0


@dataclass(frozen=True)
class WorkerSettings:
    max_attempts: int = 10
    lease_seconds: float = 120.0
    poll_seconds: float = 0.2
    threads: int = 3
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    reconcile_interval: float = 0.0  # 0: no periodic reconciliation


def credentials_fingerprint(credentials: RaynetCredentials) -> str:
    """Identifies a set of credentials without storing them."""
    material = "\0".join(
        (credentials.api_url, credentials.instance, credentials.username, credentials.api_key)
    )
    return hashlib.sha256(material.encode()).hexdigest()


def backoff(attempt: int, base: float, ceiling: float, rng: random.Random) -> float:
    """Full jitter: a random wait up to ``base * 2**(attempt-1)``, capped, never below base/2."""
    cap = min(ceiling, base * 2 ** max(0, attempt - 1))
    return max(base / 2, rng.uniform(0, cap))


@dataclass
class Worker:
    queue: JobQueue
    records: CaseRecords
    run_job: RunJob
    settings: WorkerSettings
    clock: Clock = time.time
    credentials_fingerprint: str | None = None
    sync_enabled: bool = True  # SYNC_ENABLED; the records hold the runtime switch
    rng: random.Random = field(default_factory=random.Random)
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    instance: str = ""  # the RAYNET instance, as labelled in the metrics
    housekeeping: Callable[[float], object] | None = None  # hourly, e.g. stale temporaries
    reconciler: Reconciler | None = None
    notifier: Notifier | None = None

    def paused_because(self) -> str | None:
        """Why this worker takes no jobs right now, or None."""
        if not self.sync_enabled:
            return "SYNC_ENABLED=0"
        if not self.records.sync_enabled():
            return "sync switched off by an operator"
        refused = self.records.flag(AUTH_REFUSED_FLAG)
        if refused is not None and refused == self.credentials_fingerprint:
            return "RAYNET refused the credentials; fix them or replay"
        return None

    def run_once(self, slot: int = 0, case_id: int | None = None) -> bool:
        """Claim and process one due case (or ``case_id``); False when none (or paused)."""
        if self.paused_because() is not None:
            return False
        job = self.queue.claim(f"{self.name}/{slot}", case_id=case_id)
        if job is None:
            return False
        self.process(job)
        return True

    def process(self, job: Job) -> None:
        started = time.perf_counter()
        with log_context(case_id=job.case_id, generation=job.generation):
            settlement = self._settlement(job)
            state = self.queue.settle(job, settlement)
            if state is None:
                log.warning("case %s: lease lapsed; another worker's result counts", job.case_id)
            else:
                self._count(settlement, state)
        EXPORT_SECONDS.observe(time.perf_counter() - started)

    def _settlement(self, job: Job) -> Settlement:
        """What became of the job: the pipeline's outcome, or its error sorted by whether a
        retry can help."""
        try:
            outcome = self.run_job(job)
        except RaynetAuthError as error:
            if self.credentials_fingerprint is not None:
                self.records.set_flag(AUTH_REFUSED_FLAG, self.credentials_fingerprint)
            return Settlement.failed(str(error), "raynet_auth", self.clock(), _code(error))
        except PermanentError as error:
            return Settlement.dead(str(error), type(error).__name__, _code(error))
        except TransientError as error:
            return self._retry(job, error, type(error).__name__, error.retry_after)
        except Exception as error:  # a bug must not kill the worker; retry, then give up
            log.exception("unexpected error exporting case %s", job.case_id)
            return self._retry(job, error, "unexpected", None)
        if isinstance(outcome, Exported):
            if outcome.created:
                EXPORTS.labels(instance=self.instance).inc()  # files, not re-deliveries
            file = DeliveredFile(outcome.file_name, outcome.location, outcome.sha256)
            follow_ups = (FollowUp.EMAIL,) if self.notifier is not None else ()
            return Settlement.exported(outcome.case_code, file, follow_ups)
        return Settlement.skipped(outcome.case_code, str(outcome.reason), outcome.reason.code)

    def _retry(
        self, job: Job, error: Exception, reason_code: str, retry_after: float | None
    ) -> Settlement:
        wait = backoff(
            job.attempts + 1, self.settings.backoff_base, self.settings.backoff_max, self.rng
        )
        retry_at = self.clock() + max(wait, retry_after or 0.0)
        return Settlement.failed(
            str(error) or type(error).__name__, reason_code, retry_at, _code(error)
        )

    def _count(self, settlement: Settlement, state: CaseState) -> None:
        """Metrics and one log line for the case's new state."""
        if settlement.state == CaseState.SKIPPED:
            SKIPS.labels(instance=self.instance, reason=settlement.reason_code).inc()
        elif settlement.state != CaseState.EXPORTED:
            kind = "permanent" if settlement.state == CaseState.DEAD else "transient"
            FAILURES.labels(instance=self.instance, kind=kind, error=settlement.reason_code).inc()
        detail = settlement.file.location if settlement.file else settlement.reason
        with log_context(case_code=settlement.code):
            log.log(
                logging.WARNING if state in (CaseState.FAILED, CaseState.DEAD) else logging.INFO,
                "case %s %s: %s",
                settlement.code or "?",
                state.value,
                detail,
            )

    def send_due_emails(self, most: int = 5) -> None:
        """A few due e-mails per round, so that exports are never kept waiting long."""
        for _ in range(most):
            if self.notifier is None or not self.notifier.send_due(f"{self.name}/mail"):
                return

    def reconcile_if_due(self) -> None:
        """A sweep for lost webhooks, when it is this worker's turn and exports may run."""
        if self.reconciler is None or self.paused_because() is not None:
            return
        if self.reconciler.due():
            try:
                self.reconciler.sweep()
            except BridgeError as error:
                log.warning("reconciliation failed: %s", error)

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set, up to ``settings.threads`` cases at a time."""
        threads = self.settings.threads
        idle_slots = list(range(threads))
        running: dict[Future[None], int] = {}
        next_maintenance = 0.0
        with ThreadPoolExecutor(threads, thread_name_prefix="export") as pool:
            while not stop.is_set():
                if self.clock() >= next_maintenance:
                    self.queue.maintain()
                    if self.housekeeping is not None:
                        self.housekeeping(self.clock())
                    next_maintenance = self.clock() + HOUSEKEEPING_SECONDS
                self.reconcile_if_due()
                self.send_due_emails()
                for future in [f for f in running if f.done()]:
                    idle_slots.append(running.pop(future))
                    future.result()
                claimed = False
                while idle_slots and self.paused_because() is None:
                    slot = idle_slots.pop()
                    job = self.queue.claim(f"{self.name}/{slot}")
                    if job is None:
                        idle_slots.append(slot)
                        break
                    claimed = True
                    running[pool.submit(self.process, job)] = slot
                if not claimed:
                    stop.wait(self.settings.poll_seconds)
            for future in running:
                future.result()


def _code(error: Exception) -> str | None:
    """The RAYNET case code the pipeline attached to an error, if it got that far."""
    return error.case_code if isinstance(error, BridgeError) else None
