"""``/healthz``, ``/readyz`` and ``/metrics``: cheap, and bounded however the state behaves.

``/healthz`` answers while the process answers; it never touches the state.

``/readyz`` runs, for every instance, three checks at once on a small pool of its own, each
with a deadline of ``PROBE_SECONDS`` from the moment it started, so that a probe never holds
a thread a webhook needs for long and a hung check is never started twice: the next probe
waits for the one in flight until that deadline, and once it is past reports it hung at
once; a check that ended less than PROBE_SECONDS ago is not run again, its finding stands.
(20 probes at a hung DynamoDB hold threads for 1.5 s, not 20 × 1.5 s.)

- the state takes a write where webhooks write it (``JobQueue.probe``);
- a worker was heard from within the last 60 s; a receiver that never heard from one says
  so, since nothing would be exported;
- the export target takes files, as the worker last found it (the worker checks it every
  30 s; a probe never waits on a share or a bucket itself).

Any failure is a 503 whose JSON names the check. ``/metrics`` reports the state's
availability from the same bounded write, and its figures (read at most once a minute in
the SQS mode, where each read scans the table).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from dataclasses import dataclass
from functools import partial

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from webhook.observability import FiguresCache, StateFigures, render_metrics
from webhook.state.model import problem_from
from webhook.web.registry import instances
from webhook.wiring import Instance
from webhook.worker.chores import HEARTBEAT_SILENCE, TARGET_FLAG, silence

PROBE_SECONDS = 1.5
bp = Blueprint("probes", __name__)
_pool = ThreadPoolExecutor(8, thread_name_prefix="probe")
EXTENSION = "bridge_probes"  # the latest run of each check, by key, in the app
FIGURES_EXTENSION = "bridge_metrics_figures"
SCANNED_FIGURES_MAX_AGE = 60.0  # s: the SQS mode's figures, each read two table scans
_guard = threading.Lock()


class NotReady(Exception):
    """A check's finding, said in one line."""


@dataclass
class Check:
    """One run of a check on the probes' pool."""

    future: Future[None]
    began: float  # time.monotonic()
    ended: float | None = None

    def fresh(self, now: float) -> bool:
        """In flight, or its finding is less than PROBE_SECONDS old: worth no new run."""
        return self.ended is None or now - self.ended < PROBE_SECONDS


def started(key: str, check: Callable[[], None]) -> Check:
    """The check under ``key`` in flight or lately ended, or a new run of it from now."""
    with _guard:
        checks: dict[str, Check] = current_app.extensions.setdefault(EXTENSION, {})
        latest = checks.get(key)
        now = time.monotonic()
        if latest is None or not latest.fresh(now):
            latest = Check(_pool.submit(check), now)
            latest.future.add_done_callback(partial(_ended, latest))
            checks[key] = latest
    return latest


def _ended(run: Check, _: Future[None]) -> None:
    run.ended = time.monotonic()


def finding(run: Check, seconds: float = PROBE_SECONDS) -> str:
    """ "ok", or what is wrong: the check's error, or that it did not end in time."""
    try:
        run.future.result(timeout=max(0.0, run.began + seconds - time.monotonic()))
    except Late:
        return f"no answer within {seconds:g} s"
    except Exception as error:  # noqa: BLE001 - every failure is a finding, named, never a 500
        return str(error) or type(error).__name__
    return "ok"


def _state_takes_writes(served: Instance) -> None:
    served.state.queue.probe()


def _worker_heard_from(served: Instance) -> None:
    quiet = silence(served.state.records, time.time())
    if quiet is None:
        raise NotReady("no worker has ever been heard from: nothing is exported")
    if quiet > HEARTBEAT_SILENCE:
        raise NotReady(f"no worker has been alive for {quiet:.0f} s")


def _target_takes_files(served: Instance) -> None:
    problem = problem_from(served.state.records.flag(TARGET_FLAG))
    if problem:
        raise NotReady(str(problem))


def state_check(name: str, served: Instance) -> str:
    return finding(started(f"{name}:state_store", served.state.queue.probe))  # as readyz's


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready: every instance's state takes writes, its worker is alive, its target takes
    files."""
    running = {
        (f"{name}: " if name else "") + check: started(f"{name}:{check}", partial(probe, served))
        for name, served in instances().items()
        for check, probe in (
            ("state_store", _state_takes_writes),
            ("worker", _worker_heard_from),
            ("export_target", _target_takes_files),
        )
    }
    checks = {check: finding(each) for check, each in running.items()}
    ready = all(result == "ok" for result in checks.values())
    status = "ready" if ready else "not ready"
    return jsonify(status=status, checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: counters of every process, case states from the state
    (in the SQS mode read at most once a minute: each read scans the table)."""
    kept: FiguresCache = current_app.extensions.setdefault(FIGURES_EXTENSION, FiguresCache())
    figures: dict[str, StateFigures | None] = {}
    for name, served in instances().items():
        if state_check(name, served) != "ok":
            kept.forget(name)
            figures[name] = None
            continue
        max_age = SCANNED_FIGURES_MAX_AGE if served.settings.queue_url else 0.0
        figures[name] = kept.figures(name, served.state.queue, served.state.records, max_age)
    return Response(render_metrics(figures), mimetype=CONTENT_TYPE_LATEST)
