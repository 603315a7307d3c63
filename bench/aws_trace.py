"""Every AWS and RAYNET request the bridge's processes make, with the case it was for.

``bench.end_to_end`` starts the bridge with ``bench/tracing`` on ``PYTHONPATH`` and
``BENCH_TRACE_DIR`` set: Python then imports ``bench/tracing/sitecustomize.py`` in every
process of the bridge (``serve``, gunicorn and its workers, the worker), which calls
``install()``. From then on each botocore API call (``BaseClient._make_api_call``, once per
call whatever its retries) and each HTTP request through ``requests`` (the RAYNET client's)
is written as a JSON line to ``trace-<pid>.jsonl`` in that folder: when it started and
ended (``time.time()``, one clock for all processes), its service and operation, the case
it was for (the bound ``case_id`` of the bridge's log context, or the cases in the
message bodies and keys it carries), and which of the bridge's modules were on the stack
(to tell the receiver, the export path, the outbox and the chores apart).

What it costs the traced processes: a stack walk and one written line per request, tens of
microseconds against the milliseconds of a request.

The rest of this module reads the lines back (``load``) and sums them (``by_operation``,
``case_paths``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import urlsplit

TRACE_DIR = "BENCH_TRACE_DIR"
HOOK_FOLDER = Path(__file__).resolve().parent / "tracing"  # holds sitecustomize.py
_PACKAGE = f"{os.sep}webhook{os.sep}"
_DIGITS = re.compile(r"\d+")
_CASE_KEY = re.compile(r"^case#(\d+)$")

# --- in the bridge's processes -------------------------------------------------------------


class _Writer:
    """One line-buffered file per process (gunicorn forks: a child opens its own)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._pid = 0
        self._role = " ".join(sys.argv)
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._file, self._pid = None, 0

    def write(self, entry: dict[str, Any]) -> None:
        entry["pid"] = os.getpid()
        entry["thread"] = threading.current_thread().name
        line = json.dumps(entry, default=str) + "\n"
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                path = self._folder / f"trace-{self._pid}.jsonl"
                self._file = path.open("a", buffering=1, encoding="utf-8")
                self._file.write(json.dumps({"process": self._role}) + "\n")
            assert self._file is not None
            self._file.write(line)


def install() -> None:
    """Trace this process's AWS and HTTP requests, when ``BENCH_TRACE_DIR`` says where."""
    folder = os.environ.get(TRACE_DIR)
    if not folder:
        return
    import botocore.client  # noqa: PLC0415 - only traced processes pay for the import
    import requests.adapters  # noqa: PLC0415

    writer = _Writer(Path(folder))
    make_call = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009
    send = requests.adapters.HTTPAdapter.send

    def traced_call(client: Any, operation: str, parameters: dict[str, Any]) -> Any:
        started, result = time.time(), None
        try:
            result = make_call(client, operation, parameters)
            return result
        finally:
            ended = time.time()
            try:
                writer.write(
                    {
                        "service": str(client.meta.service_model.service_id),
                        "op": operation,
                        "t0": started,
                        "t1": ended,
                        "ok": result is not None,
                        "cases": sorted(_aws_cases(operation, parameters, result)),
                        "stack": _stack(),
                        **_details(operation, parameters),
                    }
                )
            except Exception as error:  # noqa: BLE001 - tracing never breaks the bridge
                print(f"bench trace: {error!r}", file=sys.stderr)

    def traced_send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        started, answer = time.time(), None
        try:
            answer = send(adapter, request, *args, **kwargs)
            return answer
        finally:
            ended = time.time()
            try:
                writer.write(
                    {
                        "service": "RAYNET",
                        "op": f"{request.method} {endpoint(request.url)}",
                        "t0": started,
                        "t1": ended,
                        "ok": answer is not None,
                        "cases": sorted(_context_case()),
                        "stack": _stack(),
                    }
                )
            except Exception as error:  # noqa: BLE001
                print(f"bench trace: {error!r}", file=sys.stderr)

    setattr(botocore.client.BaseClient, "_make_api_call", traced_call)  # noqa: B010
    setattr(requests.adapters.HTTPAdapter, "send", traced_send)  # noqa: B010


def endpoint(url: str) -> str:
    """``/api/v2/product/77/`` -> ``product/{id}/``: RAYNET requests by endpoint."""
    path = urlsplit(url).path
    path = path.split("/api/v2/", 1)[-1].lstrip("/")
    return _DIGITS.sub("{id}", path)


def _context_case() -> set[int]:
    """The case the bridge's log context names (receiver, export, follow-up)."""
    observability = sys.modules.get("webhook.observability")
    if observability is None:
        return set()
    case_id = observability._context.get().get("case_id")
    return {int(case_id)} if isinstance(case_id, int) else set()


def _aws_cases(operation: str, parameters: dict[str, Any], result: Any) -> set[int]:
    """The cases a request is for: the bound one, or those its messages and keys name (a
    batch received or read before any case is bound)."""
    cases = _context_case()
    bodies: list[str] = []
    if operation == "SendMessage":
        bodies.append(str(parameters.get("MessageBody", "")))
    elif operation == "ReceiveMessage" and isinstance(result, dict):
        bodies += [str(m.get("Body", "")) for m in result.get("Messages", [])]
    elif operation == "BatchGetItem":
        for request in parameters.get("RequestItems", {}).values():
            for key in request.get("Keys", []):
                pk = key.get("pk")
                text = pk.get("S") if isinstance(pk, dict) else pk
                if isinstance(text, str) and (match := _CASE_KEY.match(text)):
                    cases.add(int(match[1]))
    for body in bodies:
        try:
            case = json.loads(body).get("case")
        except (ValueError, AttributeError):
            continue
        if isinstance(case, int):
            cases.add(case)
    return cases


def _details(operation: str, parameters: dict[str, Any]) -> dict[str, Any]:
    if operation == "PutObject":
        return {"key": parameters.get("Key")}
    if operation == "TransactWriteItems":
        items = parameters.get("TransactItems", [])
        follow_ups = sum(
            1
            for item in items
            if str((item.get("Put") or {}).get("Item", {}).get("pk", "")).startswith("followup#")
        )
        return {"items": len(items), "follow_up_puts": follow_ups}
    return {}


def _stack() -> list[str]:
    """The bridge's modules on the stack, innermost first (``state/aws/outbox.py``)."""
    found: list[str] = []
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if _PACKAGE in name:
            module = name.rsplit(_PACKAGE, 1)[1]
            if module not in found:
                found.append(module)
        frame = frame.f_back
    return found


# --- in the benchmark ----------------------------------------------------------------------


_ROLES = (
    ("follow-ups", "worker/follow_ups.py"),
    ("receiver", "web/receiver.py"),
    ("export", "worker/loop.py"),
)


@dataclass(frozen=True)
class Call:
    """One request a bridge process made."""

    process: str  # its command line
    thread: str
    service: str  # SQS, DynamoDB, S3, RAYNET
    op: str
    t0: float
    t1: float
    ok: bool
    cases: tuple[int, ...]
    stack: tuple[str, ...]
    key: str | None = None
    items: int = 0
    follow_up_puts: int = 0

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    @property
    def role(self) -> str:
        """Which part of the bridge made it: ``receiver``, ``export`` (claim, pipeline,
        settle, the lease's heartbeat), ``outbox`` (``state/aws/outbox.py``: claiming and
        finishing follow-ups), ``follow-ups`` (their own work: write-back to RAYNET,
        e-mail), ``chores`` or ``other`` (start-up, /metrics, /readyz)."""
        stack = self.stack
        if "state/aws/outbox.py" in stack:
            return "outbox"
        if "worker/chores.py" in stack or "worker/gate.py" in stack:
            return "chores"
        heartbeat = self.thread.startswith("sqs-heartbeat")
        for role, module in _ROLES:
            if module in stack or (role == "export" and heartbeat):
                return role
        return "other"


def load(folder: Path) -> list[Call]:
    calls: list[Call] = []
    for path in sorted(folder.glob("trace-*.jsonl")):
        process = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a stop
            if "process" in entry:
                process = entry["process"]
                continue
            calls.append(
                Call(
                    process=process,
                    thread=entry["thread"],
                    service=entry["service"],
                    op=entry["op"],
                    t0=entry["t0"],
                    t1=entry["t1"],
                    ok=entry["ok"],
                    cases=tuple(entry["cases"]),
                    stack=tuple(entry["stack"]),
                    key=entry.get("key"),
                    items=entry.get("items", 0),
                    follow_up_puts=entry.get("follow_up_puts", 0),
                )
            )
    return calls


def covered(intervals: Iterable[tuple[float, float]], low: float, high: float) -> float:
    """Seconds of [low, high] inside at least one of ``intervals`` (overlaps count once:
    threads wait on several requests at a time)."""
    clipped = sorted((max(a, low), min(b, high)) for a, b in intervals if b > low and a < high)
    total, end = 0.0, low
    for start, stop in clipped:
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


@dataclass(frozen=True)
class CasePath:
    """One case, from the webhook's first POST to the end of its PutObject, in stretches
    (seconds): refused with 503 until the POST the receiver took began; in the receiver
    until its SendMessage ended; in the queue until the
    ReceiveMessage that brought it ended (waiting for an export thread to be free: they
    take a batch only when idle); in the worker until its PutObject ended."""

    case_id: int
    latency: float
    refused: float  # until the POST the receiver took began (503s: RAYNET sends again)
    receiver: float
    receiver_aws: float
    queued: float
    worker: float
    worker_aws: float
    worker_raynet: float

    @property
    def aws(self) -> float:
        """Waiting on AWS, in the receiver and the worker."""
        return self.receiver_aws + self.worker_aws

    @property
    def outside_aws(self) -> float:
        """In the receiver and the worker, outside AWS calls (RAYNET's included)."""
        return self.receiver + self.worker - self.aws

    @property
    def own(self) -> float:
        """In the receiver and the worker, outside AWS and RAYNET calls: the bridge's own
        code, and its hand-overs between threads."""
        return self.outside_aws - self.worker_raynet


def case_paths(
    calls: Sequence[Call], posted: dict[int, float], accepted: dict[int, float]
) -> list[CasePath]:
    """Each posted case's path, from the traced requests: ``posted`` is when each case's
    webhook was first posted, ``accepted`` when the POST that was not refused began
    (``time.time()``); the receiver's stretch starts there."""
    delivered: dict[int, float] = {}
    sent: dict[int, float] = {}
    received: dict[int, list[float]] = {}
    mine: dict[int, list[Call]] = {}
    for call in calls:
        if call.role not in ("receiver", "export"):
            continue
        for case in call.cases:
            mine.setdefault(case, []).append(call)  # a failed request was waited on too
            if not call.ok:
                continue
            if call.op == "PutObject":
                delivered[case] = min(delivered.get(case, call.t1), call.t1)
            elif call.op == "SendMessage":
                sent[case] = min(sent.get(case, call.t1), call.t1)
            elif call.op == "ReceiveMessage":
                received.setdefault(case, []).append(call.t1)
    paths = []
    for case, start in posted.items():
        end, queued_at = delivered.get(case), sent.get(case)
        if end is None or queued_at is None:
            continue
        taken = min((t for t in received.get(case, []) if queued_at <= t <= end), default=None)
        if taken is None:
            continue
        aws = [(c.t0, c.t1) for c in mine[case] if c.service != "RAYNET"]
        raynet = [(c.t0, c.t1) for c in mine[case] if c.service == "RAYNET"]
        worker_aws = covered(aws, taken, end)
        began = max(start, accepted.get(case, start))
        paths.append(
            CasePath(
                case_id=case,
                latency=end - start,
                refused=began - start,
                receiver=queued_at - began,
                receiver_aws=covered(aws, began, queued_at),
                queued=taken - queued_at,
                worker=end - taken,
                worker_aws=worker_aws,
                worker_raynet=covered(aws + raynet, taken, end) - worker_aws,
            )
        )
    return paths


def within(calls: Sequence[Call], start: float, end: float) -> list[Call]:
    """The requests that started in the window (the benchmark's own scrapes excluded)."""
    return [c for c in calls if start <= c.t0 <= end and c.role != "other"]
