"""Webhook-to-file latency: 200 won cases through ``serve`` with RAYNET answering in 50 ms.

Each webhook is posted over HTTP to the running service; the time until its file appears (in
the export folder, or in the bucket in SQS mode) is measured, ``--runs`` times per mode
(median and spread printed). Baseline, in the same run: the two RAYNET round trips every
export needs (business case, then company), the floor no implementation can go below.
Write-back to RAYNET is on (``RAYNET_WRITE_BACK=1``, the default): a run ends when every
file's external id and post are in RAYNET, so the follow-ups are inside what is counted.

In both modes it prints the CPU each process used over the run: the bridge's own (receiver
and worker) per exported case, and in SQS mode each emulator's share of a core; an
emulator at 80 % of a core or more is flagged, since the latency then measures it, not the
bridge. In SQS mode every AWS and RAYNET request of the bridge's processes is traced
(``bench/aws_trace.py``), which gives, per exported case: the requests by service and
operation, and the outbox's share of them (``state/aws/outbox.py``: claiming and finishing
the follow-ups); and each case's path from its POST to the end of its PutObject, split
into the time waited on AWS, on RAYNET, and the rest (the bridge's own code, queues and
threads). Then it raises the rate (300 cases, ``--runs`` times per rate) until the median
p50 passes 1 s, and prints the highest rate it sustained.

Goals: p50 under 1 s in both modes at 10 webhooks/s, p99 under 3 s in SQS mode; SQS mode
sustaining 30 cases/s or more with p50 under 1 s.

DynamoDB's emulator is moto, whose TransactWriteItems copies the whole table (its cost grows
with the run) and now and then fails while another request writes (``bench/README.md``);
``--dynamodb moto-serial`` serves it one request at a time, without those failures.

    python -m bench.end_to_end [--cases 200] [--rate 10] [--runs 3] [--mode both]
                               [--rates 10,15,20,25,30,40] [--latency 0.05]
                               [--dynamodb moto|moto-serial] [--no-trace]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from prometheus_client.parser import text_string_to_metric_families

from bench import aws_trace
from bench.aws_trace import Call, CasePath
from bench.processes import CpuTimeline, bridge, stop, wait_for_port
from bench.report import LoadWatch, Sampler, Spread, percentile, publish
from tests.servers import (
    Process,
    create_aws_resources,
    free_port,
    listening,
    moto_server,
    wait_until,
)
from webhook.ops.demo import sample_case, sample_company
from webhook.raynet.client import RaynetClient, RaynetCredentials
from webhook.raynet.standin import RaynetStandIn

DRAIN_SECONDS = 150.0  # for the follow-ups after the last file: a case whose outcome was
# not recorded comes back after its lease (WORKER_LEASE_SECONDS, 120 s)
SATURATED = 0.8  # of one core: an emulator this busy is what the latency measures
FIRST_CASE = 10_000  # case ids are FIRST_CASE + 1, + 2, ...


def raynet_floor(api: RaynetStandIn, samples: int = 20) -> float:
    """Seconds for the two API reads one export needs, measured against the same stand-in."""
    client = RaynetClient(RaynetCredentials(api.username, api.api_key, api.instance, api.url))
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        client.business_case(10_001)
        client.company(881)
        times.append(time.perf_counter() - started)
    return percentile(times, 0.5)


@dataclass
class Run:
    """One pass: each file's latency, the CPU each process used, and in SQS mode what the
    bridge asked of AWS and RAYNET."""

    latencies: list[float]
    aws: dict[str, tuple[float, float]] = field(default_factory=dict)  # requests, seconds
    depth: list[int] = field(default_factory=list)  # messages in the queue, every 0.5 s
    # Two windows. The load: from the first webhook to the last file, what the machine did
    # while the webhooks came (shares of a core, what bounds the latency). All the work:
    # on until every file's follow-ups were done (CPU and requests per case).
    cpu: dict[str, float] = field(default_factory=dict)  # process: CPU seconds, the load
    peaks: dict[str, float] = field(default_factory=dict)  # process: most of a core, 2 s
    wall: float = 0.0  # seconds, the load
    work: dict[str, float] = field(default_factory=dict)  # process: CPU seconds, all the work
    calls: list[Call] = field(default_factory=list)  # traced, all the work
    paths: list[CasePath] = field(default_factory=list)
    refused: int = 0  # webhooks answered 503 (the state could not take them), then re-sent
    drained: bool = True  # the follow-ups were done within DRAIN_SECONDS of the last file
    posting: float = 0.0  # seconds from the first webhook until the last was answered

    @property
    def files(self) -> int:
        return len(self.latencies)

    def share(self, process: str) -> float:
        """Of one core, while the webhooks came."""
        return self.cpu.get(process, 0.0) / self.wall if self.wall else 0.0


SERIAL_MOTO = (
    "import sys; from werkzeug.serving import run_simple; "
    "from moto.moto_server.werkzeug_app import "
    "DomainDispatcherApplication, MotoRequestHandler, create_backend_app; "
    "run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), "
    "threaded=False, request_handler=MotoRequestHandler)"
)


def emulator(service: str, port: int, folder: Path, dynamodb: str) -> Process:
    """A moto server for ``service``. ``moto-serial`` runs DynamoDB's one request at a time:
    moto's TransactWriteItems deep-copies the whole table while other threads write to it,
    and answers 500 ("dictionary changed size during iteration") now and then."""
    log = folder / f"moto-{service}.log"
    if service != "dynamodb" or dynamodb == "moto":
        return moto_server(port, log)
    server = Process([sys.executable, "-c", SERIAL_MOTO, str(port)], {"MOTO_PORT": str(port)}, log)
    wait_until(lambda: listening(port), 20, "moto server")
    return server


def aws_environment(
    folder: Path, dynamodb: str = "moto"
) -> tuple[dict[str, str], dict[str, Process], Any, str]:
    """The queue, its dead-letter queue, the table and the bucket, each service on a moto
    server of its own (as AWS has an endpoint per service): one moto process is
    single-threaded in effect, and with all three it was the ceiling of the sustained rate."""
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "QUEUE_WAIT_SECONDS": "1",
    }
    servers = {}
    for service in ("sqs", "dynamodb", "s3"):
        port = free_port()
        servers[service] = emulator(service, port, folder, dynamodb)
        env[f"AWS_ENDPOINT_URL_{service.upper()}"] = f"http://127.0.0.1:{port}"
    os.environ.update(env)  # boto3 in this process reaches the same endpoints
    made = create_aws_resources(boto3.Session(), max_receives=5)
    env.update(made.environment(prefix="o"))
    env["BENCH_TABLE"] = made.table
    return env, servers, (boto3.client("s3"), made.bucket), made.queue_url


def aws_figures(metrics: str) -> dict[str, tuple[float, float]]:
    """``service operation`` -> (requests, seconds waited), from the bridge's /metrics."""
    found: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(metrics):
        if family.name not in ("bridge_aws_requests", "bridge_aws_request_seconds"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            key = f"{sample.labels['service']} {sample.labels['operation']}"
            slot = 0 if family.name == "bridge_aws_requests" else 1
            found.setdefault(key, [0.0, 0.0])[slot] += sample.value
    return {key: (figures[0], figures[1]) for key, figures in found.items()}


def queue_depth(queue_url: str) -> Callable[[], float]:
    """The queue's messages, visible and in flight."""
    sqs = boto3.client("sqs")

    def depth() -> float:
        answer = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return float(
            int(answer["ApproximateNumberOfMessages"])
            + int(answer["ApproximateNumberOfMessagesNotVisible"])
        )

    return depth


class Arrivals:
    """When each posted file appeared. Looking costs: a folder is listed every 5 ms, the
    bucket every 100 ms (a request to the S3 moto server the bridge writes to, on the same
    two cores); arrival times are that coarse."""

    def __init__(self, exports: Path, s3: Any) -> None:
        self.posted: dict[str, float] = {}  # file name: when its webhook was posted
        self.arrived: dict[str, float] = {}
        self._exports, self._s3 = exports, s3
        self._every = 0.005 if s3 is None else 0.1
        self._looked = 0.0
        self._complete = 0  # the first this many posted files have all arrived

    def collect(self) -> None:
        now = time.perf_counter()
        if now - self._looked < self._every:
            return
        self._looked = now
        for name in self._present():
            self.arrived.setdefault(name, now)

    def wait(self, files: int, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while len(self.arrived) < files and time.perf_counter() < deadline:
            self.collect()
            time.sleep(0.005)

    def latencies(self) -> list[float]:
        return [self.arrived[n] - self.posted[n] for n in self.posted if n in self.arrived]

    def _present(self) -> set[str]:
        if self._s3 is None:
            return {p.name for p in self._exports.glob("*.xml")}
        client, bucket = self._s3
        # Names sort in the order they were posted: the listing starts after the files
        # that have all arrived (listing every file, ten times a second, loaded the S3
        # server the bridge writes to, and the more so the longer the run).
        names = list(self.posted)
        while self._complete < len(names) and names[self._complete] in self.arrived:
            self._complete += 1
        after = {"StartAfter": f"o/{names[self._complete - 1]}"} if self._complete else {}
        listing = client.list_objects_v2(Bucket=bucket, Prefix="o/", **after)
        return {item["Key"].removeprefix("o/") for item in listing.get("Contents", [])}


def written_back(api: RaynetStandIn, since: int, files: int) -> Callable[[], bool]:
    """Whether every file's external id and post are in RAYNET (requests after ``since``)."""

    def done() -> bool:
        writes = [r.path for r in api.requests[since:] if r.method == "PUT"]
        ids = sum(1 for path in writes if path.endswith("/extId/"))
        posts = sum(1 for path in writes if path.endswith("/post/"))
        return ids >= files and posts >= files

    return done


def outbox_empty(table: str) -> Callable[[], bool]:
    """Whether the table's outbox has no pending follow-up (its sparse index ``due``)."""
    dynamodb = boto3.client("dynamodb")

    def empty() -> bool:
        answer = dynamodb.query(
            TableName=table,
            IndexName="due",
            KeyConditionExpression="#due = :due",
            ExpressionAttributeNames={"#due": "due"},
            ExpressionAttributeValues={":due": {"S": "outbox"}},
            Select="COUNT",
        )
        return int(answer["Count"]) == 0

    return empty


def wait_for(conditions: Sequence[Callable[[], bool]], timeout: float) -> bool:
    """Whether all ``conditions`` came true within ``timeout`` seconds."""
    deadline = time.perf_counter() + timeout
    for condition in conditions:
        while not condition():
            if time.perf_counter() > deadline:
                return False
            time.sleep(0.05)
    return True


def summed(used: dict[int, float], labels: dict[int, str]) -> dict[str, float]:
    """CPU seconds by label."""
    found: dict[str, float] = {}
    for pid, seconds in used.items():
        found[labels[pid]] = found.get(labels[pid], 0.0) + seconds
    return found


def by_process(timeline: CpuTimeline) -> dict[int, str]:
    """Each watched process's label: its name, or the bridge's part it plays."""
    return {
        pid: name if name in timeline.named else process_label(name)
        for pid, name in timeline.names.items()
    }


def process_label(command: str) -> str:
    if "gunicorn" in command:
        return "bridge: receiver (gunicorn)"
    if "webhook worker" in command:
        return "bridge: worker"
    if "webhook serve" in command:
        return "bridge: serve"
    return "bridge: other"


class Poster:
    """Webhooks posted on schedule, each from a thread of a pool: a receiver that answers
    slowly must not slow the schedule down (nor stop the looking for files meanwhile). A
    webhook refused with 503 (the state could not take it) is sent again, as RAYNET would."""

    def __init__(self, url: str, token: str, threads: int = 16) -> None:
        self._url, self._token = url, token
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="poster")
        self._sent: list[Future[int]] = []
        self.accepted: dict[int, float] = {}  # case: time.time() its accepted POST began

    def post(self, case_id: int) -> None:
        body = {
            "eventId": secrets.token_hex(16),
            "type": "record.updated",
            "data": {"entityName": "BusinessCase", "entityId": case_id},
        }
        self._sent.append(self._pool.submit(self._deliver, body))

    def _deliver(self, body: dict[str, Any]) -> int:
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        refused = 0
        for _ in range(50):
            self.accepted[body["data"]["entityId"]] = time.time()
            answer = session.post(
                f"{self._url}/webhooks/raynet",
                json=body,
                headers={"X-RAYNETCRM-Token": self._token},
                timeout=10,
            )
            if answer.status_code != 503:
                break
            refused += 1
            time.sleep(0.1)
        answer.raise_for_status()
        return refused

    def done(self) -> bool:
        return all(sent.done() for sent in self._sent)

    def refused(self) -> int:
        """How many answers were 503; raises what a delivery raised."""
        self._pool.shutdown()
        return sum(sent.result() for sent in self._sent)


def post_all(
    poster: Poster,
    cases: int,
    rate: float,
    *,
    arrivals: Arrivals,
    posted_at: dict[int, float],
) -> float:
    """Post the cases' webhooks at ``rate`` a second; the seconds it took until the last
    was answered."""
    started = time.perf_counter()
    for number in range(1, cases + 1):
        due = started + (number - 1) / rate
        while (now := time.perf_counter()) < due:
            arrivals.collect()
            time.sleep(min(0.005, due - now))
        arrivals.posted[f"OP-26-{number:04d}.xml"] = time.perf_counter()
        posted_at[FIRST_CASE + number] = time.time()
        poster.post(FIRST_CASE + number)
    while not poster.done():
        arrivals.collect()
        time.sleep(0.005)
    return time.perf_counter() - started


def measure(
    mode: str,
    api: RaynetStandIn,
    cases: int,
    rate: float,
    folder: Path,
    *,
    trace: bool = True,
    dynamodb: str = "moto",
    drain: float = DRAIN_SECONDS,
) -> Run:
    """Post ``cases`` webhooks at ``rate`` a second; when does each file appear, and what
    did it cost?"""
    token = secrets.token_hex(16)
    exports = folder / "exports"
    exports.mkdir(parents=True)
    env = {
        **api.environment(),
        "WEBHOOK_TOKEN": token,
        "EXPORT_TARGET": str(exports),
        "STATE_DB": str(folder / "state.db"),
        "WORKER_POLL_SECONDS": "0.05",
        "RAYNET_WRITE_BACK": "1",
    }
    moto: dict[str, Process] = {}
    s3: Any = None
    depth: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    traces = folder / "trace"
    if mode == "sqs":
        aws_env, moto, s3, queue_url = aws_environment(folder, dynamodb)
        env.update(aws_env)
        depth = Sampler(queue_depth(queue_url), 0.5)
        traces.mkdir()
        if trace:
            env |= {aws_trace.TRACE_DIR: str(traces), "PYTHONPATH": str(aws_trace.HOOK_FOLDER)}

    arrivals = Arrivals(exports, s3)
    posted_at: dict[int, float] = {}  # case: time.time() of its first POST
    port = free_port()
    service = bridge(["serve", "--port", str(port)], env, folder / f"serve-{mode}.log")
    named = {f"emulator: moto {name}": server.popen.pid for name, server in moto.items()}
    named["benchmark (poster, RAYNET stand-in)"] = os.getpid()
    timeline = CpuTimeline(named, trees=[service.pid])
    try:
        wait_for_port(port)
        since = len(api.requests)
        with depth as watch, timeline:
            started_at, offset = time.time(), time.time() - time.perf_counter()
            poster = Poster(f"http://127.0.0.1:{port}", token)
            posting = post_all(poster, cases, rate, arrivals=arrivals, posted_at=posted_at)
            arrivals.wait(cases, 120)
            # The window: the first webhook to the last file, and on until the follow-ups
            # are done (when they are, within DRAIN_SECONDS).
            loaded_at = max(arrivals.arrived.values(), default=time.perf_counter()) + offset
            done = [written_back(api, since, len(arrivals.arrived))]
            if mode == "sqs":
                done.append(outbox_empty(env["BENCH_TABLE"]))
            drained = wait_for(done, drain)
            ended_at = time.time()
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop(service)
        for server in moto.values():
            server.stop()
    calls = aws_trace.within(aws_trace.load(traces), started_at, ended_at) if mode == "sqs" else []
    labels = by_process(timeline)
    pids: dict[str, list[int]] = {}
    for pid, label in labels.items():
        pids.setdefault(label, []).append(pid)
    load, wall = timeline.window(started_at, loaded_at)
    work, _ = timeline.window(started_at, ended_at)
    return Run(
        arrivals.latencies(),
        aws_figures(metrics) if mode == "sqs" else {},
        [int(n) for n in watch.samples] if isinstance(watch, Sampler) else [],
        cpu=summed(load, labels),
        peaks={label: timeline.peak(mine, started_at, loaded_at) for label, mine in pids.items()},
        wall=wall,
        work=summed(work, labels),
        calls=calls,
        paths=aws_trace.case_paths(calls, posted_at, poster.accepted) if calls else [],
        refused=poster.refused(),
        drained=drained,
        posting=posting,
    )


def with_cases(api: RaynetStandIn, template: dict[str, Any], cases: int) -> None:
    for number in range(1, cases + 1):
        case = copy.deepcopy(template)
        case["id"], case["code"] = FIRST_CASE + number, f"OP-26-{number:04d}"
        api.add_case(case)


def busiest_emulator(runs: Sequence[Run]) -> tuple[str, Spread] | None:
    """The emulator with the highest median share of a core over ``runs``."""
    names = {name for run in runs for name in run.cpu if name.startswith("emulator")}
    if not names:
        return None
    shares = {name: Spread(tuple(run.share(name) * 100 for run in runs)) for name in names}
    name = max(shares, key=lambda n: shares[n].median)
    return name.removeprefix("emulator: "), shares[name]


def sustained_rate(
    api: RaynetStandIn,
    rates: list[float],
    cases: int,
    runs: int,
    folder: Path,
    *,
    dynamodb: str = "moto",
) -> list[list[object]]:
    """Raise the rate until the median p50 of ``runs`` runs passes 1 s (or a file is
    missing): the last rate below it is what the SQS mode keeps up with."""
    rows: list[list[object]] = []
    for number, rate in enumerate(rates):
        measured = [
            measure(
                "sqs", api, cases, rate, folder / f"rate-{number}-{n}", dynamodb=dynamodb, drain=5
            )
            for n in range(runs)
        ]
        p50 = Spread(tuple(_percentile_ms(run, 0.5) for run in measured))
        kept_up = p50.median < 1000 and all(len(run.latencies) == cases for run in measured)
        busiest = busiest_emulator(measured)
        rows.append(
            [
                rate,
                Spread(tuple(float(len(run.latencies)) for run in measured)).text(),
                p50.text(),
                Spread(tuple(_percentile_ms(run, 0.99) for run in measured)).text(),
                f"{busiest[0]} {busiest[1].text()} %" if busiest else "-",
                kept_up,
            ]
        )
        if not kept_up:
            break
    return rows


def _percentile_ms(run: Run, fraction: float) -> float:
    """A latency percentile of a run, infinite when files were missing at the end."""
    return percentile(run.latencies, fraction) * 1000 if run.latencies else float("inf")


def bridge_cpu_ms(run: Run) -> float:
    """The bridge's processes' CPU per exported case, in ms."""
    used = sum(seconds for name, seconds in run.work.items() if name.startswith("bridge"))
    return used * 1000 / max(run.files, 1)


def cpu_rows(mode: str, runs: Sequence[Run]) -> tuple[list[list[object]], list[str]]:
    """Per process: CPU ms per exported case and share of a core; the flags."""
    rows: list[list[object]] = []
    flags: list[str] = []
    for name in sorted({name for run in runs for name in run.cpu}):
        per_case = Spread(tuple(run.work.get(name, 0.0) * 1000 / max(run.files, 1) for run in runs))
        share = Spread(tuple(run.share(name) * 100 for run in runs))
        peak = Spread(tuple(run.peaks.get(name, 0.0) * 100 for run in runs))
        rows.append([mode, name, per_case.text(1), share.text(), peak.text()])
        if not name.startswith("emulator"):
            continue
        emulator = name.removeprefix("emulator: ")
        if share.median >= SATURATED * 100:
            flags.append(
                f"{emulator} at {share.median:.0f} % of a core: the figure measures the emulator"
            )
        elif peak.median >= SATURATED * 100:
            flags.append(
                f"{emulator} at {share.median:.0f} % of a core, {peak.median:.0f} % in its "
                "busiest 2 s: saturated at times, the tail measures the emulator"
            )
    rows.append(
        [mode, "bridge: all", Spread(tuple(bridge_cpu_ms(r) for r in runs)).text(1), "-", "-"]
    )
    return rows, flags


def path_rows(runs: Sequence[Run]) -> list[list[object]]:
    """Each case's path, POST to PutObject: medians per run, then their spread."""
    parts: list[tuple[str, Callable[[CasePath], float]]] = [
        ("POST to PutObject (traced latency)", lambda p: p.latency),
        ("refused with 503 until sent again", lambda p: p.refused),
        ("in the receiver (POST to SendMessage)", lambda p: p.receiver),
        ("  of which waiting on AWS", lambda p: p.receiver_aws),
        ("in the queue, for a free export thread", lambda p: p.queued),
        ("in the worker (ReceiveMessage to PutObject)", lambda p: p.worker),
        ("  of which waiting on AWS", lambda p: p.worker_aws),
        ("  of which waiting on RAYNET", lambda p: p.worker_raynet),
        ("receiver + worker outside AWS calls", lambda p: p.outside_aws),
        ("  and outside RAYNET calls: the bridge's own", lambda p: p.own),
    ]
    rows: list[list[object]] = []
    for name, part in parts:
        medians = Spread(tuple(statistics.median(map(part, r.paths)) * 1000 for r in runs))
        means = Spread(tuple(statistics.fmean(map(part, r.paths)) * 1000 for r in runs))
        rows.append([name, medians.text(), means.text()])
    return rows


def per_case(runs: Sequence[Run]) -> tuple[list[list[object]], dict[str, Any]]:
    """AWS requests per exported case by operation (with the outbox's), from the traces;
    and the notes that go with them."""
    exported = sum(run.files for run in runs) or 1
    totals: dict[str, list[float]] = {}  # op: requests, seconds, of them the outbox's
    roles: dict[str, float] = {}
    transactions = [c for run in runs for c in run.calls if c.op == "TransactWriteItems"]
    for run in runs:
        for call in run.calls:
            if call.service == "RAYNET":
                continue
            slot = totals.setdefault(f"{call.service} {call.op}", [0.0, 0.0, 0.0])
            slot[0] += 1
            slot[1] += call.seconds
            slot[2] += call.role == "outbox"
            roles[call.role] = roles.get(call.role, 0.0) + 1
    rows: list[list[object]] = [
        [
            operation,
            f"{made / exported:.2f}",
            f"{seconds * 1000 / made:.1f}",
            f"{seconds * 1000 / exported:.1f}",
            f"{outbox / exported:.2f}",
        ]
        for operation, (made, seconds, outbox) in sorted(totals.items())
    ]
    made = sum(t[0] for t in totals.values())
    outbox = sum(t[2] for t in totals.values())
    waited = sum(t[1] for t in totals.values())
    rows.append(
        [
            "all",
            f"{made / exported:.2f}",
            f"{waited * 1000 / max(made, 1):.1f}",
            f"{waited * 1000 / exported:.1f}",
            f"{outbox / exported:.2f}",
        ]
    )
    settles = [c for c in transactions if c.follow_up_puts]
    followed = sum(
        1
        for run in runs
        for c in run.calls
        if c.service == "RAYNET" and c.role == "follow-ups" and c.op.startswith("PUT")
    )
    notes: dict[str, Any] = {
        "by part of the bridge (requests per case)": ", ".join(
            f"{role} {count / exported:.2f}" for role, count in sorted(roles.items())
        ),
        "the outbox's share": f"{outbox / exported:.2f} of {made / exported:.2f} requests per "
        f"case ({outbox / max(made, 1):.0%}; {outbox / max(followed, 1):.2f} per write-back "
        f"follow-up done, {followed / exported:.2f} done per case), and "
        f"{_mean(c.follow_up_puts for c in settles):.1f} follow-up Puts inside each settling "
        f"TransactWriteItems ({_mean(c.items for c in settles):.1f} items)",
    }
    if transactions:
        notes["TransactWriteItems ms, first / last quarter of each run"] = ", ".join(
            _quarters([c for c in run.calls if c.op == "TransactWriteItems"]) for run in runs
        )
    bridge_counted = sum(made for run in runs for made, _ in run.aws.values())
    notes["the bridge's own counter (bridge_aws_requests_total, whole process life)"] = (
        f"{bridge_counted / exported:.2f} per case"
    )
    raynet = [c for run in runs for c in run.calls if c.service == "RAYNET"]
    by_endpoint: dict[str, int] = {}
    for call in raynet:
        by_endpoint[call.op] = by_endpoint.get(call.op, 0) + 1
    notes["RAYNET requests per case"] = ", ".join(
        f"{op} {count / exported:.2f}" for op, count in sorted(by_endpoint.items())
    )
    return rows, notes


def failed_ops(runs: Sequence[Run]) -> str:
    """`` (TransactWriteItems 80, ...)``: which requests failed, over all runs."""
    found: dict[str, int] = {}
    for run in runs:
        for call in run.calls:
            if not call.ok:
                found[call.op] = found.get(call.op, 0) + 1
    listed = ", ".join(f"{op} {count}" for op, count in sorted(found.items()))
    return f" ({listed})" if listed else ""


def _mean(values: Any) -> float:
    found = list(values)
    return statistics.fmean(found) if found else 0.0


def _quarters(calls: list[Call]) -> str:
    if len(calls) < 4:
        return "-"
    calls = sorted(calls, key=lambda c: c.t0)
    quarter = len(calls) // 4
    first = _mean(c.seconds for c in calls[:quarter]) * 1000
    last = _mean(c.seconds for c in calls[-quarter:]) * 1000
    return f"{first:.0f} / {last:.0f}"


def options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="webhooks per second")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05, help="RAYNET answer time, s")
    parser.add_argument("--mode", choices=["sqlite", "sqs", "both"], default="both")
    parser.add_argument(
        "--rates", default="10,15,20,25,30,40", help="for the sustained rate; '' skips"
    )
    parser.add_argument(
        "--trace",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="trace the bridge's AWS and RAYNET requests in SQS mode (--no-trace: to see "
        "what tracing costs the bridge's CPU)",
    )
    parser.add_argument(
        "--dynamodb",
        choices=["moto", "moto-serial"],
        default="moto",
        help="DynamoDB's emulator: moto's threaded server, or moto one request at a time "
        "(no 500s from its transactions racing each other)",
    )
    return parser


def main() -> None:
    arguments = options().parse_args()
    rows: list[list[object]] = []
    aws_rows: list[list[object]] = []
    aws_notes: dict[str, Any] = {}
    cpu: list[list[object]] = []
    paths: list[list[object]] = []
    flags: list[str] = []
    sustained: list[list[object]] = []
    notes: dict[str, Any] = {}
    with (
        RaynetStandIn(latency=arguments.latency) as api,
        tempfile.TemporaryDirectory() as folder,
        LoadWatch() as load,
    ):
        api.add_company(sample_company())
        with_cases(api, sample_case(), max(arguments.cases, 600))
        floor = raynet_floor(api)
        modes = ["sqlite", "sqs"] if arguments.mode == "both" else [arguments.mode]
        for mode in modes:
            runs = [
                measure(
                    mode,
                    api,
                    arguments.cases,
                    arguments.rate,
                    Path(folder) / f"{mode}-{n}",
                    trace=arguments.trace,
                    dynamodb=arguments.dynamodb,
                )
                for n in range(arguments.runs)
            ]
            p50 = Spread(tuple(_percentile_ms(r, 0.5) for r in runs))
            p99 = Spread(tuple(_percentile_ms(r, 0.99) for r in runs))
            rows.append(
                [
                    mode,
                    arguments.cases,
                    Spread(tuple(float(len(r.latencies)) for r in runs)).text(),
                    arguments.rate,
                    floor * 1000,
                    p50.text(),
                    p99.text(),
                    round(p50.median / (floor * 1000), 2),
                    Spread(tuple(bridge_cpu_ms(r) for r in runs)).text(1),
                ]
            )
            more, flagged = cpu_rows(mode, runs)
            cpu += more
            flags += [f"{mode}: {flag}" for flag in flagged]
            if mode == "sqs" and arguments.trace:
                aws_rows, aws_notes = per_case(runs)
                paths = path_rows([r for r in runs if r.paths])
            if mode == "sqs":
                depths = [max(r.depth, default=0) for r in runs]
                notes["queue depth (max per run)"] = ", ".join(map(str, depths))
                notes["webhooks refused with 503 and sent again (per run)"] = ", ".join(
                    str(r.refused) for r in runs
                )
                notes["webhooks answered per second (per run)"] = ", ".join(
                    f"{arguments.cases / r.posting:.1f}" for r in runs
                )
                notes["AWS requests that failed (per run)"] = ", ".join(
                    str(sum(1 for c in r.calls if not c.ok)) for r in runs
                ) + failed_ops(runs)
                notes["every file's follow-ups done (per run)"] = ", ".join(
                    "yes" if r.drained else f"NO, not within {DRAIN_SECONDS:g} s" for r in runs
                )
        if arguments.mode != "sqlite" and arguments.rates:
            rates = [float(r) for r in arguments.rates.split(",")]
            sustained = sustained_rate(
                api,
                rates,
                300,
                arguments.runs,
                Path(folder) / "sustained",
                dynamodb=arguments.dynamodb,
            )
        load_text = load.text()
    publish(
        "end_to_end",
        [
            "mode",
            "cases",
            "files",
            "webhooks/s",
            "floor ms",
            "p50 ms",
            "p99 ms",
            "p50 / floor",
            "bridge CPU ms/case",
        ],
        rows,
        {
            "floor": "two RAYNET reads (case + company) at "
            f"{arguments.latency * 1000:g} ms each, measured in this run",
            **(
                {
                    "sqs mode": "a moto server per service (SQS, DynamoDB, S3) on loopback; "
                    f"DynamoDB: {arguments.dynamodb}"
                }
                if arguments.mode != "sqlite"
                else {}
            ),
            "write-back": "on (RAYNET_WRITE_BACK=1): each run ends when every file's external "
            "id and post are in RAYNET",
            "load": load_text,
            "goal": "p50 < 1000 ms in both modes; SQS p99 < 3000 ms",
            "what bounds it": "; ".join(flags) or f"no emulator at {SATURATED:.0%} of a core",
            **notes,
        },
    )
    publish(
        "end_to_end_cpu",
        ["mode", "process", "CPU ms per case", "% of a core", "peak % (2 s)"],
        cpu,
        {
            "windows": "CPU ms per case: from the first webhook until every file's follow-ups "
            "were done; % of a core: from the first webhook to the last file (peak: the "
            "busiest 2 s of it)",
            "flagged": "; ".join(flags) or "none",
            "load": load_text,
        },
    )
    if paths:
        publish(
            "end_to_end_path",
            ["per exported case (SQS mode)", "median ms", "mean ms"],
            paths,
            {
                "from": "every AWS and RAYNET request of the bridge's processes, traced "
                "(bench/aws_trace.py): a case's requests between its POST and the end of its "
                "PutObject, overlaps counted once",
                "load": load_text,
            },
        )
    if aws_rows:
        publish(
            "end_to_end_aws",
            ["AWS operation", "requests per case", "ms per request", "ms per case", "outbox's"],
            aws_rows,
            {
                "from": "every AWS request of the bridge's processes in the runs, traced; "
                "outbox's: made by state/aws/outbox.py (claiming and finishing follow-ups); "
                "ReceiveMessage's wait includes the long poll (QUEUE_WAIT_SECONDS=1) of an "
                "empty queue",
                **aws_notes,
                "load": load_text,
            },
        )
    if sustained:
        kept = [float(str(row[0])) for row in sustained if row[-1]]
        publish(
            "end_to_end_sustained",
            ["webhooks/s", "files", "p50 ms", "p99 ms", "busiest emulator", "p50 < 1 s"],
            sustained,
            {
                "sustained": f"{max(kept) if kept else 0:g} cases/s with p50 under 1 s (SQS mode)",
                "goal": ">= 30 cases/s",
                "load": load_text,
            },
        )


if __name__ == "__main__":
    main()
