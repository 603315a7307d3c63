"""The worker: claims due cases and runs them through the export pipeline.

Transient failures are retried with exponential backoff and full jitter; permanent ones
stop at once with their reason. A 401/403 from RAYNET stops every worker on the same state
file from calling RAYNET again with the same credentials (20 bad logins block the IP for an
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

from webhook.config import WorkerSettings
from webhook.errors import BridgeError, PermanentError, TransientError
from webhook.jobs.interfaces import CaseRecords, JobQueue
from webhook.jobs.reconcile import Reconciler
from webhook.jobs.store import AUTH_REFUSED_FLAG, Job
from webhook.notify import Notifier
from webhook.observability import EXPORT_SECONDS, EXPORTS, FAILURES, SKIPS, log_context
from webhook.pipeline import Exported, Outcome
from webhook.raynet.client import RaynetAuthError, RaynetCredentials

log = logging.getLogger(__name__)
RunJob = Callable[[Job], Outcome]


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
    credentials_fingerprint: str | None = None
    sync_enabled: bool = True  # SYNC_ENABLED; the store holds the runtime switch
    clock: Callable[[], float] = time.time
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
        job = self.queue.claim(
            f"{self.name}/{slot}", self.settings.lease_seconds, self.clock(), case_id=case_id
        )
        if job is None:
            return False
        self.process(job)
        return True

    def process(self, job: Job) -> None:
        started = time.perf_counter()
        with log_context(case_id=job.case_id, generation=job.generation):
            self._process(job)
        EXPORT_SECONDS.observe(time.perf_counter() - started)

    def _process(self, job: Job) -> None:
        try:
            outcome = self.run_job(job)
        except RaynetAuthError as error:
            if self.credentials_fingerprint is not None:
                self.records.set_flag(AUTH_REFUSED_FLAG, self.credentials_fingerprint)
            self._transient(job, error, retry_at=self.clock(), reason_code="raynet_auth")
        except PermanentError as error:
            self.queue.failed_permanently(
                job, reason=str(error), reason_code=type(error).__name__, now=self.clock()
            )
            FAILURES.labels(
                instance=self.instance, kind="permanent", error=type(error).__name__
            ).inc()
            self._report(job, "dead", str(error))
        except TransientError as error:
            self._transient(job, error)
        except Exception as error:  # a bug must not kill the worker; retry, then give up
            log.exception("unexpected error exporting case %s", job.case_id)
            self._transient(job, error, reason_code="unexpected")
        else:
            self._settle(job, outcome)

    def _settle(self, job: Job, outcome: Outcome) -> None:
        now = self.clock()
        if isinstance(outcome, Exported):
            if outcome.created:
                EXPORTS.labels(instance=self.instance).inc()
            self.queue.exported(
                job,
                code=outcome.case_code,
                file_name=outcome.file_name,
                location=outcome.location,
                sha256=outcome.sha256,
                notify=self.notifier is not None,
                now=now,
            )
            with log_context(case_code=outcome.case_code):
                self._report(job, "exported", outcome.location)
        else:
            SKIPS.labels(instance=self.instance, reason=outcome.reason.code).inc()
            self.queue.skipped(
                job,
                code=outcome.case_code,
                reason=str(outcome.reason),
                reason_code=outcome.reason.code,
                now=now,
            )
            self._report(job, "skipped", str(outcome.reason))

    def _transient(
        self,
        job: Job,
        error: Exception,
        *,
        retry_at: float | None = None,
        reason_code: str | None = None,
    ) -> None:
        now = self.clock()
        if retry_at is None:
            wait = backoff(
                job.attempts + 1, self.settings.backoff_base, self.settings.backoff_max, self.rng
            )
            if isinstance(error, TransientError) and error.retry_after:
                wait = max(wait, error.retry_after)
            retry_at = now + wait
        FAILURES.labels(
            instance=self.instance, kind="transient", error=reason_code or type(error).__name__
        ).inc()
        state = self.queue.failed_transiently(
            job,
            reason=str(error) or type(error).__name__,
            reason_code=reason_code or type(error).__name__,
            retry_at=retry_at,
            max_attempts=self.settings.max_attempts,
            now=now,
        )
        self._report(job, state, str(error))

    def _report(self, job: Job, state: str, detail: str | None) -> None:
        log.log(
            logging.WARNING if state in ("failed", "dead") else logging.INFO,
            "case %s %s: %s",
            job.case_id,
            state,
            detail,
        )

    def send_due_emails(self, most: int = 5) -> None:
        """A few due e-mails per round, so that exports are never kept waiting long."""
        for _ in range(most):
            if self.notifier is None or not self.notifier.send_due(
                f"{self.name}/mail", self.settings.lease_seconds, self.clock()
            ):
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
                    self.queue.maintain(self.clock())
                    if self.housekeeping is not None:
                        self.housekeeping(self.clock())
                    next_maintenance = self.clock() + 3600
                self.reconcile_if_due()
                self.send_due_emails()
                for future in [f for f in running if f.done()]:
                    idle_slots.append(running.pop(future))
                    future.result()
                claimed = False
                while idle_slots and self.paused_because() is None:
                    slot = idle_slots.pop()
                    job = self.queue.claim(
                        f"{self.name}/{slot}", self.settings.lease_seconds, self.clock()
                    )
                    if job is None:
                        idle_slots.append(slot)
                        break
                    claimed = True
                    running[pool.submit(self.process, job)] = slot
                if not claimed:
                    stop.wait(self.settings.poll_seconds)
            for future in running:
                future.result()
