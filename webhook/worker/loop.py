"""The worker: claims due cases, runs each through the export pipeline, settles it.

Transient failures are retried with exponential backoff and full jitter; permanent ones
stop at once with their reason. A 401 from RAYNET stops every worker on the same state
from calling RAYNET again with the same credentials (20 bad logins block the IP for an
hour) until the credentials change or an operator replays; an export target that cannot
take a file pauses exports until it can, so that cases do not spend their attempts on it.

No error ends a worker thread: an export, a follow-up or a round of the loop that fails is
recorded or logged, and the loop goes on. Should a thread die all the same, ``run_workers``
starts it again and counts it; a heartbeat in the state tells ``/readyz`` whether a worker
is alive.
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

from webhook.delivery import DeliveryUnavailable
from webhook.errors import BridgeError, PermanentError, TransientError
from webhook.i18n import N_
from webhook.observability import (
    EXPORT_SECONDS,
    EXPORTS,
    FAILURES,
    SKIPS,
    WORKER_RESTARTS,
    log_context,
)
from webhook.pipeline import Exported, Outcome
from webhook.raynet.client import RaynetAuthError, RaynetCredentials
from webhook.state.model import (
    AUTH_REFUSED_FLAG,
    WRITE_BACK,
    CaseState,
    Clock,
    DeliveredFile,
    Job,
    Settlement,
)
from webhook.state.ports import CaseRecords, JobQueue
from webhook.worker.follow_ups import FollowUps
from webhook.worker.reconcile import Reconciler
from webhook.worker.report import DailyReport
from webhook.worker.upkeep import TARGET_FLAG, WEBHOOK_CHECK_SECONDS, Upkeep

log = logging.getLogger(__name__)
RunJob = Callable[[Job], Outcome]
HOUSEKEEPING_SECONDS = 3600.0
TARGET_CHECK_SECONDS = (30.0, 5.0)  # while it takes files, and while it does not
REPORT_CHECK_SECONDS = 60.0
PAUSE_CHECK_SECONDS = 1.0
HEARTBEAT_FLAG = "worker_heartbeat"
HEARTBEAT_SECONDS = 10.0
HEARTBEAT_SILENCE = 60.0  # no heartbeat for this long: no worker is alive
RESTART_SECONDS = 5.0


@dataclass(frozen=True)
class WorkerSettings:
    max_attempts: int = 10
    lease_seconds: float = 120.0
    poll_seconds: float = 0.2
    threads: int = 8  # RAYNET requests stay at 3 at a time (RaynetClient); AWS waits overlap
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
    follow_ups: FollowUps | None = None  # e-mail, write-back, the report
    report: DailyReport | None = None
    upkeep: Upkeep | None = None  # what the dashboard's banners show
    target_check: Callable[[], None] | None = None  # raises while no file can be written
    _target_problem: str | None = field(default=None, init=False)
    _paused: str | None = field(default=None, init=False)
    _paused_until: float = field(default=0.0, init=False)
    _next: dict[str, float] = field(default_factory=dict, init=False)

    def paused_because(self) -> str | None:
        """Why this worker takes no jobs right now, or None."""
        if not self.sync_enabled:
            return "SYNC_ENABLED=0"  # a variable's name: the same in every language
        if self._target_problem is not None:
            return f"the export target cannot take files: {self._target_problem}"
        if not self.records.sync_enabled():
            return N_("sync switched off by an operator")
        if self._credentials_refused():
            return N_("RAYNET refused the credentials; fix them or replay")
        return None

    def _paused_lately(self) -> str | None:
        """``paused_because`` as of at most a second ago: the loop asks before every claim,
        and each answer reads two shared switches (DynamoDB requests in the SQS mode)."""
        now = self.clock()
        if now >= self._paused_until:
            self._paused = self.paused_because()
            self._paused_until = now + PAUSE_CHECK_SECONDS
        return self._paused

    def _credentials_refused(self) -> bool:
        refused = self.records.flag(AUTH_REFUSED_FLAG)
        return refused is not None and refused == self.credentials_fingerprint

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
            try:
                state = self.queue.settle(job, settlement)
            except BridgeError as error:  # the state cannot take it: the lease will run out
                log.error(
                    "case %s: outcome not recorded (%s); it is taken again", job.case_id, error
                )
                return
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
            if isinstance(error, DeliveryUnavailable):
                self._next["target"] = 0.0  # look at the target before the next claim
            return self._retry(job, error, type(error).__name__, error.retry_after)
        except Exception as error:  # a bug must not kill the worker; retry, then give up
            log.exception("unexpected error exporting case %s", job.case_id)
            return self._retry(job, error, "unexpected", None)
        if isinstance(outcome, Exported):
            if outcome.created:
                EXPORTS.labels(instance=self.instance).inc()  # files, not re-deliveries
            file = DeliveredFile(outcome.file_name, outcome.location, outcome.sha256)
            follow_ups = self.follow_ups.after_export if self.follow_ups is not None else ()
            return Settlement.exported(outcome.case_code, file, follow_ups, outcome.summary)
        return Settlement.skipped(
            outcome.case_code, str(outcome.reason), outcome.reason.code, outcome.summary
        )

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

    def run_due_follow_ups(self, most: int = 5) -> None:
        """A few due follow-ups per round, so that exports are never kept waiting long;
        none to RAYNET while it refuses the credentials."""
        if self.follow_ups is None:
            return
        for _ in range(most):
            refused = self._credentials_refused()
            kinds = [k for k in self.follow_ups.handlers if not (refused and k in WRITE_BACK)]
            if not self.follow_ups.run_due(f"{self.name}/follow-up", kinds):
                return

    def _follow_up_round(self) -> None:
        """The report when it is due, then due follow-ups: on a thread of their own, so
        that a slow SMTP server or RAYNET's answers to write-backs never delay an export."""
        try:
            if self.report is not None and self._every("report", REPORT_CHECK_SECONDS):
                self.report.schedule_if_due()
            self.run_due_follow_ups()
        except Exception:
            log.exception("a follow-up round failed; the worker goes on")

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
        idle_slots = list(range(self.settings.threads))
        running: dict[Future[None], int] = {}
        with (
            ThreadPoolExecutor(self.settings.threads, thread_name_prefix="export") as pool,
            ThreadPoolExecutor(1, thread_name_prefix="follow-up") as follow_ups,
        ):
            following: Future[None] | None = None
            while not stop.is_set():
                try:
                    claimed = self._round(pool, idle_slots, running)
                except Exception:
                    log.exception("a worker round failed; the worker goes on")
                    claimed = False
                if following is None or following.done():  # never in the exports' way
                    following = follow_ups.submit(self._follow_up_round)
                if not claimed:
                    stop.wait(self.settings.poll_seconds)
            for future in running:
                future.result()

    def _round(
        self, pool: ThreadPoolExecutor, idle_slots: list[int], running: dict[Future[None], int]
    ) -> bool:
        """Side jobs when they are due, then claims for every idle slot; True if any."""
        if self._every("heartbeat", HEARTBEAT_SECONDS):
            self.records.set_flag(HEARTBEAT_FLAG, repr(self.clock()))
            if self.upkeep is not None:
                self.upkeep.publish_quota()
                self.upkeep.publish(TARGET_FLAG, self._target_problem)
        if self.upkeep is not None and self._every("webhook", WEBHOOK_CHECK_SECONDS):
            self.upkeep.check_webhook()
        if self._every("housekeeping", HOUSEKEEPING_SECONDS):
            self.queue.maintain()
            self.records.maintain()
            if self.housekeeping is not None:
                self.housekeeping(self.clock())
        every = TARGET_CHECK_SECONDS[self._target_problem is not None]
        if self.target_check is not None and self._every("target", every):
            self._watch_target(self.target_check)
        self.reconcile_if_due()
        for future in [f for f in running if f.done()]:
            idle_slots.append(running.pop(future))
            if future.exception() is not None:
                log.error("an export thread failed", exc_info=future.exception())
        claimed = False
        while idle_slots and self._paused_lately() is None:
            slot = idle_slots.pop()
            job = self.queue.claim(f"{self.name}/{slot}")
            if job is None:
                idle_slots.append(slot)
                break
            claimed = True
            running[pool.submit(self.process, job)] = slot
        return claimed

    def _every(self, task: str, seconds: float) -> bool:
        """True when ``task`` is due, and then not again for ``seconds``."""
        now = self.clock()
        if now < self._next.get(task, 0.0):
            return False
        self._next[task] = now + seconds
        return True

    def _watch_target(self, check: Callable[[], None]) -> None:
        try:
            check()
        except BridgeError as error:
            if self._target_problem is None:
                log.error("exports paused: %s", error)
            self._target_problem = str(error)
        else:
            if self._target_problem is not None:
                log.info("the export target takes files again; exports resume")
            self._target_problem = None


def silence(records: CaseRecords, now: float) -> float | None:
    """Seconds since a worker last beat its heart in these records; None if none ever did."""
    beat = records.flag(HEARTBEAT_FLAG)
    return None if beat is None else max(0.0, now - float(beat))


def run_workers(workers: list[Worker], stop: threading.Event) -> None:
    """Run each worker in a thread of its own until ``stop``; a thread that dies all the same
    is started again (and counted in ``bridge_worker_restarts_total``)."""

    def start(worker: Worker) -> threading.Thread:
        thread = threading.Thread(target=worker.run, args=(stop,), name=f"worker-{worker.instance}")
        thread.start()
        return thread

    threads = [start(worker) for worker in workers]
    while not stop.wait(1.0):
        for number, worker in enumerate(workers):
            if not threads[number].is_alive() and not stop.wait(RESTART_SECONDS):
                WORKER_RESTARTS.labels(instance=worker.instance).inc()
                log.error("the worker of instance %r died; starting it again", worker.instance)
                threads[number] = start(worker)
    for thread in threads:
        thread.join()


def _code(error: Exception) -> str | None:
    """The RAYNET case code the pipeline attached to an error, if it got that far."""
    return error.case_code if isinstance(error, BridgeError) else None
