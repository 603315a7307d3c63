"""The worker: claims due cases, exports each with the ``Exporter``, settles it.

``Worker.process`` is the whole path of one job: ``exporter.export`` (``pipeline.py``) gives
the outcome, or an error sorted by whether a retry can help; ``queue.settle`` records it.
Transient failures are retried with exponential backoff and full jitter; permanent ones
stop at once with their reason.

``run_worker`` runs one instance's worker: exports on a pool of threads, and beside them
on a thread of their own the chores (``chores.py``) and the follow-ups of delivered files
(``follow_ups.py``), so that neither ever delays an export. No error ends a thread: an
export, a follow-up or a round of the loop that fails is recorded or logged, and the loop
goes on. Should a thread die all the same, ``run_workers`` starts it again and counts it.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from webhook.delivery.target import DeliveryUnavailable
from webhook.errors import BridgeError, PermanentError, TransientError
from webhook.observability import (
    EXPORT_SECONDS,
    EXPORTS,
    FAILURES,
    SKIPS,
    WORKER_RESTARTS,
    log_context,
)
from webhook.pipeline import Exported, Exporter
from webhook.raynet.client import RaynetAuthError
from webhook.settings.environment import WorkerSettings
from webhook.state.model import CaseState, Clock, DeliveredFile, FollowUp, Job, Settlement
from webhook.state.ports import JobQueue
from webhook.worker.chores import Chores
from webhook.worker.follow_ups import FollowUps
from webhook.worker.gate import ExportGate

log = logging.getLogger(__name__)
RESTART_SECONDS = 5.0
BESIDE_REST_SECONDS = 1.0  # a follow-up added meanwhile waits at most this long
_RANDOM = random.SystemRandom()  # jitter that two hosts never share


def backoff(attempt: int, base: float, ceiling: float, rng: random.Random = _RANDOM) -> float:
    """Full jitter: a random wait up to ``base * 2**(attempt-1)``, capped, never below base/2."""
    cap = min(ceiling, base * 2 ** max(0, attempt - 1))
    return max(base / 2, rng.uniform(0, cap))


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Worker:
    """Exports due cases of one RAYNET instance."""

    queue: JobQueue
    exporter: Exporter
    gate: ExportGate
    settings: WorkerSettings
    after_export: tuple[FollowUp, ...] = ()  # recorded with every delivered file
    clock: Clock = time.time
    name: str = field(default_factory=_worker_name)
    instance: str = ""  # the RAYNET instance, as labelled in the metrics

    def run_once(self, slot: int = 0, case_id: int | None = None) -> bool:
        """Claim and process one due case (or ``case_id``); False when none (or closed)."""
        if self.gate.closed_because() is not None:
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
            outcome = self.exporter.export(job.case_id, job.generation)
        except RaynetAuthError as error:  # the latch is on: retried as soon as it lifts
            return Settlement.failed(
                str(error), "raynet_auth", self.clock(), _code(error), error.reason
            )
        except PermanentError as error:
            return Settlement.dead(str(error), type(error).__name__, _code(error), error.reason)
        except TransientError as error:
            if isinstance(error, DeliveryUnavailable):
                self.gate.look_at_target = True  # the chores check it before the next claim
            return self._retry(job, error, type(error).__name__, error.retry_after)
        except Exception as error:  # a bug must not kill the worker; retry, then give up
            log.exception("unexpected error exporting case %s", job.case_id)
            return self._retry(job, error, "unexpected", None)
        if isinstance(outcome, Exported):
            if outcome.created:
                EXPORTS.labels(instance=self.instance).inc()  # files, not re-deliveries
            file = DeliveredFile(
                outcome.file_name, outcome.location, outcome.sha256, outcome.caveats, outcome.digest
            )
            return Settlement.exported(
                outcome.case_code, file, self._follow_ups(job, outcome), outcome.summary
            )
        return Settlement.skipped(outcome.case_code, outcome.reason, outcome.summary)

    def _follow_ups(self, job: Job, outcome: Exported) -> tuple[FollowUp, ...]:
        """What follows this file: nothing for one that was there and announced before (a
        lost state file must not post every order again); no unlock for a first file."""
        if outcome.announced:
            return ()
        return tuple(
            kind for kind in self.after_export if kind is not FollowUp.UNLOCK or job.generation > 1
        )

    def _retry(
        self, job: Job, error: Exception, reason_code: str, retry_after: float | None
    ) -> Settlement:
        wait = backoff(job.attempts + 1, self.settings.backoff_base, self.settings.backoff_max)
        retry_at = self.clock() + max(wait, retry_after or 0.0)
        return Settlement.failed(
            str(error) or type(error).__name__,
            reason_code,
            retry_at,
            _code(error),
            error.reason if isinstance(error, BridgeError) else None,
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

    def claim_into(
        self, pool: ThreadPoolExecutor, idle_slots: list[int], running: dict[Future[None], int]
    ) -> bool:
        """A claim for every idle slot while exports may run; True if any."""
        for future in [f for f in running if f.done()]:
            idle_slots.append(running.pop(future))
            if future.exception() is not None:
                log.error("an export thread failed", exc_info=future.exception())
        claimed = False
        while idle_slots and self.gate.closed_lately() is None:
            slot = idle_slots.pop()
            job = self.queue.claim(f"{self.name}/{slot}")
            if job is None:
                idle_slots.append(slot)
                break
            claimed = True
            running[pool.submit(self.process, job)] = slot
        return claimed


@dataclass(frozen=True)
class InstanceWorker:
    """What runs for one RAYNET instance: its exports, chores and follow-ups."""

    worker: Worker
    chores: Chores
    follow_ups: FollowUps

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set, up to ``settings.threads`` cases at a time."""
        threads = self.worker.settings.threads
        idle_slots = list(range(threads))
        running: dict[Future[None], int] = {}
        self.chores.watch_target()  # before the first claim: no case spends an attempt on it
        with (
            ThreadPoolExecutor(threads, thread_name_prefix="export") as pool,
            ThreadPoolExecutor(1, thread_name_prefix="beside") as beside,
        ):
            besides: Future[bool] | None = None
            rest_until = 0.0  # after a round beside that found nothing to do
            while not stop.is_set():
                if self.worker.gate.look_at_target:
                    self.chores.watch_target()
                try:
                    claimed = self.worker.claim_into(pool, idle_slots, running)
                except Exception:
                    log.exception("a worker round failed; the worker goes on")
                    claimed = False
                if besides is not None and besides.done():
                    idle = not besides.result()
                    rest_until = time.monotonic() + BESIDE_REST_SECONDS if idle else 0.0
                    besides = None
                if besides is None and time.monotonic() >= rest_until:
                    besides = beside.submit(self._beside)  # never in the exports' way
                if not claimed:
                    stop.wait(self.worker.settings.poll_seconds)
            for future in running:
                future.result()

    def _beside(self) -> bool:
        """A round of chores and follow-ups; True when a follow-up was done (more may be
        due at once), False when none was due (the next round rests a moment: while
        exports keep the loop busy, back-to-back rounds would ask the outbox in vain)."""
        try:
            self.chores.run_due()
        except Exception:
            log.exception("a round of chores failed; the worker goes on")
        try:
            return self.follow_ups.run_due() > 0
        except Exception:
            log.exception("a follow-up round failed; the worker goes on")
            return False


def run_workers(workers: Sequence[InstanceWorker], stop: threading.Event) -> None:
    """Run each instance's worker in a thread of its own until ``stop``; a thread that dies
    all the same is started again (and counted in ``bridge_worker_restarts_total``)."""

    def start(running: InstanceWorker) -> threading.Thread:
        name = f"worker-{running.worker.instance}"
        thread = threading.Thread(target=running.run, args=(stop,), name=name)
        thread.start()
        return thread

    threads = [start(running) for running in workers]
    while not stop.wait(1.0):
        for number, running in enumerate(workers):
            if not threads[number].is_alive() and not stop.wait(RESTART_SECONDS):
                instance = running.worker.instance
                WORKER_RESTARTS.labels(instance=instance).inc()
                log.error("the worker of instance %r died; starting it again", instance)
                threads[number] = start(running)
    for thread in threads:
        thread.join()


def _code(error: Exception) -> str | None:
    """The RAYNET case code the pipeline attached to an error, if it got that far."""
    return error.case_code if isinstance(error, BridgeError) else None
