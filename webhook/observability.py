"""Structured logs and Prometheus metrics.

Logs are JSON lines carrying whatever context is bound (event id, case id, case code).
Metrics are counted in every process; ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
folder beside the state file so that ``/metrics`` shows the receiver's and the worker's
figures together. Queue depth and case states are read from the state file when scraped.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from webhook.errors import BridgeError
from webhook.raynet.client import RateLimitStatus
from webhook.state.model import CaseState
from webhook.state.ports import CaseRecords, JobQueue

log = logging.getLogger(__name__)
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context", default={})  # noqa: B039 - never mutated

# --- logs -------------------------------------------------------------------------------


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Attach ``values`` (event_id, case_id, case_code, ...) to every log line inside."""
    token = _context.set({**_context.get(), **values})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_context.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "INFO", json_lines: bool = True, stream: TextIO | None = None
) -> None:
    """Log to ``stream`` (standard error) as JSON lines, or as plain text for people."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # What no line of these processes shows is not collected for each record (the logging
    # docs' "Optimization"): the caller's file and line, thread ids and names, process names.
    # The process id stays: gunicorn's own handlers, in the same processes, format
    # "[%(process)d]", and a record without it fails with "--- Logging error ---".
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = True
    logging.logMultiprocessing = False


# --- metrics ----------------------------------------------------------------------------


_aws_instrumented = False


def instrument_aws() -> None:
    """Count every AWS request and the time waited on it, by operation, for every boto3
    client made after this call (they come from boto3's default session): where the SQS
    mode's time goes is then in ``/metrics`` and in ``bench.end_to_end``."""
    global _aws_instrumented  # noqa: PLW0603 - once per process
    if _aws_instrumented:
        return
    import boto3  # noqa: PLC0415 - only the AWS mode needs it

    session = boto3.session.Session()
    boto3.DEFAULT_SESSION = session  # what boto3.client() and boto3.resource() use
    events = session.events
    events.register("before-call", _aws_request_starts)
    events.register("after-call", _aws_request_ends)
    events.register("after-call-error", _aws_request_ends)
    _aws_instrumented = True


def _aws_request_starts(model: Any, context: dict[str, Any], **_: Any) -> None:
    labels = {"service": str(model.service_model.service_id), "operation": model.name}
    context["bridge_request"] = (labels, time.perf_counter())
    AWS_REQUESTS.labels(**labels).inc()


def _aws_request_ends(context: dict[str, Any], **_: Any) -> None:
    """After an answer, or an error (which brings no ``model``): what the start noted."""
    started = context.get("bridge_request")
    if started is not None:
        labels, at = started
        AWS_SECONDS.labels(**labels).inc(time.perf_counter() - at)


WEBHOOKS = Counter(
    "bridge_webhooks_total", "Webhooks received, by instance and outcome", ["instance", "outcome"]
)
WEBHOOK_SECONDS = Histogram(
    "bridge_webhook_seconds", "Time to answer a webhook",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)  # fmt: skip
EXPORTS = Counter("bridge_exports_total", "Files delivered (new files only)", ["instance"])
MONEY_IMPORTS = Counter(
    "bridge_money_imports_total",
    "Delivered files Money S3's import reports gave a new outcome, by outcome",
    ["instance", "result"],
)
CHANGED_CASES = Counter(
    "bridge_changed_cases_total",
    "Exported cases found changed since their order was delivered",
    ["instance"],
)
SKIPS = Counter(
    "bridge_skips_total", "Cases examined and not exported, by reason", ["instance", "reason"]
)
FAILURES = Counter(
    "bridge_failures_total",
    "Export attempts that failed, by kind and error",
    ["instance", "kind", "error"],
)
EXPORT_SECONDS = Histogram(
    "bridge_export_seconds", "Time from claiming a case to its outcome",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)  # fmt: skip
RAYNET_REQUESTS = Counter(
    "bridge_raynet_requests_total", "Requests to the RAYNET API, by status", ["status"]
)
RAYNET_SECONDS = Histogram(
    "bridge_raynet_request_seconds", "RAYNET API response time",
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip
RAYNET_REMAINING = Gauge(
    "bridge_raynet_rate_limit_remaining",
    "Requests left today as RAYNET last reported (X-Ratelimit-Remaining)",
    multiprocess_mode="livemostrecent",
)
WORKER_RESTARTS = Counter(
    "bridge_worker_restarts_total", "Worker threads that died and were started again", ["instance"]
)
AWS_REQUESTS = Counter(
    "bridge_aws_requests_total",
    "Requests to AWS (SQS, DynamoDB, S3) by this bridge, by service and operation",
    ["service", "operation"],
)
AWS_SECONDS = Counter(
    "bridge_aws_request_seconds_total",
    "Time spent waiting on AWS answers, by service and operation",
    ["service", "operation"],
)
FOLLOW_UPS = Counter(
    "bridge_follow_ups_total",
    "Follow-ups of delivered files (e-mail, write-back to RAYNET) and reports, by outcome",
    ["instance", "kind", "outcome"],
)


def record_raynet_request(status: int | None, seconds: float, limits: RateLimitStatus) -> None:
    """The RAYNET client's per-request hook."""
    RAYNET_REQUESTS.labels(status=str(status) if status is not None else "error").inc()
    RAYNET_SECONDS.observe(seconds)
    if limits.remaining is not None:
        RAYNET_REMAINING.set(limits.remaining)


@dataclass(frozen=True)
class StateFigures:
    """What ``/metrics`` shows of one instance's state, read at scrape time (or, where
    reading it scans a table, kept a while: ``FiguresCache``)."""

    counts: Mapping[CaseState, int]
    due: int
    oldest_due: float
    sync_enabled: bool

    @classmethod
    def read(cls, queue: JobQueue, records: CaseRecords) -> StateFigures:
        return cls(
            records.counts(), queue.due_count(), queue.oldest_due() or 0.0, records.sync_enabled()
        )


class FiguresCache:
    """Each instance's figures read at most once per ``max_age`` seconds: in the SQS mode
    a read is two scans of the DynamoDB table, which a scrape every 15 s would repeat
    5,760 times a day. Figures that could not be read are never kept."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._kept: dict[str, tuple[float, StateFigures]] = {}

    def figures(
        self, name: str, queue: JobQueue, records: CaseRecords, max_age: float
    ) -> StateFigures | None:
        """The figures, or None when the state cannot be read (logged)."""
        now = self._clock()
        kept = self._kept.get(name)
        if kept is not None and now - kept[0] < max_age:
            return kept[1]
        try:
            read = StateFigures.read(queue, records)
        except BridgeError as error:  # a deleted or damaged state file: say so, go on
            log.warning("state of instance %r unavailable for metrics: %s", name, error)
            self._kept.pop(name, None)
            return None
        self._kept[name] = (now, read)
        return read

    def forget(self, name: str) -> None:
        """The state did not take a write: once it does again, read its figures anew."""
        self._kept.pop(name, None)


class StateCollector(Collector):
    """The state's figures per instance; None for a state that did not take the probe's
    write, or could not be read."""

    def __init__(self, figures: Mapping[str, StateFigures | None]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        label = ["instance"]
        cases = GaugeMetricFamily(
            "bridge_cases", "Business cases by state", labels=[*label, "state"]
        )
        depth = GaugeMetricFamily("bridge_queue_depth", "Cases due for export now", labels=label)
        oldest = GaugeMetricFamily(
            "bridge_oldest_pending_seconds",
            "How long the longest-waiting due case has waited",
            labels=label,
        )
        sync = GaugeMetricFamily(
            "bridge_sync_enabled", "1 while exports run, 0 when paused", labels=label
        )
        available = GaugeMetricFamily(
            "bridge_state_available", "1 while the state can be read, 0 when not", labels=label
        )
        for name, found in self.figures.items():
            if found is None:
                available.add_metric([name], 0.0)
                continue
            available.add_metric([name], 1.0)
            for state, count in found.counts.items():
                cases.add_metric([name, state.value], count)
            depth.add_metric([name], found.due)
            oldest.add_metric([name], found.oldest_due)
            sync.add_metric([name], 1.0 if found.sync_enabled else 0.0)
        yield from (cases, depth, oldest, sync, available)


def render_metrics(figures: Mapping[str, StateFigures | None]) -> bytes:
    """The Prometheus text exposition: all processes' counters plus every instance's state."""
    registry = CollectorRegistry()
    registry.register(StateCollector(figures))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(registry)
