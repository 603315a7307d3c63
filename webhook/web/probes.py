"""``/healthz``, ``/readyz`` and ``/metrics``: cheap, and bounded however the state behaves.

``/healthz`` answers while the process answers; it never touches the state.

``/readyz`` runs, for every instance, three checks, each with a deadline of
``PROBE_SECONDS`` on a small pool of its own, so that a probe never holds a thread a webhook
needs for long and a hung check is never started twice (the next probe waits for the one
in flight, or reports it hung):

- the state takes a write where webhooks write it (``JobQueue.probe``);
- a worker was heard from within the last 60 s; a receiver that never heard from one says
  so, since nothing would be exported;
- the export target takes files, as the worker last found it (the worker checks it every
  30 s; a probe never waits on a share or a bucket itself).

Any failure is a 503 whose JSON names the check. ``/metrics`` reports the state's
availability from the same bounded write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from functools import partial

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from webhook.observability import render_metrics
from webhook.web.registry import instances
from webhook.wiring import Instance
from webhook.worker.chores import HEARTBEAT_SILENCE, TARGET_FLAG, silence

PROBE_SECONDS = 2.0
bp = Blueprint("probes", __name__)
_pool = ThreadPoolExecutor(8, thread_name_prefix="probe")
_in_flight: dict[str, Future[None]] = {}
_guard = threading.Lock()


class NotReady(Exception):
    """A check's finding, said in one line."""


def bounded(key: str, check: Callable[[], None], seconds: float = PROBE_SECONDS) -> str:
    """ "ok", or what is wrong: the check's error, or that it did not finish in time."""
    with _guard:
        future = _in_flight.get(key)
        if future is None or future.done():
            future = _pool.submit(check)
            _in_flight[key] = future
    try:
        future.result(timeout=seconds)
    except Late:
        return f"no answer within {seconds:.0f} s"
    except Exception as error:  # noqa: BLE001 - every failure is a finding, named, never a 500
        return str(error) or type(error).__name__
    return "ok"


def _worker_heard_from(served: Instance) -> None:
    quiet = silence(served.state.records, time.time())
    if quiet is None:
        raise NotReady("no worker has ever been heard from: nothing is exported")
    if quiet > HEARTBEAT_SILENCE:
        raise NotReady(f"no worker has been alive for {quiet:.0f} s")


def _target_takes_files(served: Instance) -> None:
    problem = served.state.records.flag(TARGET_FLAG)
    if problem:
        raise NotReady(problem)


def state_check(name: str, served: Instance) -> str:
    return bounded(f"{name}:state_store", served.state.queue.probe)


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready: every instance's state takes writes, its worker is alive, its target takes
    files."""
    checks: dict[str, str] = {}
    for name, served in instances().items():
        prefix = f"{name}: " if name else ""
        checks[prefix + "state_store"] = state_check(name, served)
        for check, probe in (
            ("worker", _worker_heard_from),
            ("export_target", _target_takes_files),
        ):
            checks[prefix + check] = bounded(f"{name}:{check}", partial(probe, served))
    ready = all(result == "ok" for result in checks.values())
    status = "ready" if ready else "not ready"
    return jsonify(status=status, checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: counters of every process, case states from the state."""
    served = instances()
    states = {name: (each.state.queue, each.state.records) for name, each in served.items()}
    available = {name: state_check(name, each) == "ok" for name, each in served.items()}
    return Response(render_metrics(states, available), mimetype=CONTENT_TYPE_LATEST)
