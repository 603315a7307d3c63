"""Webhook-to-file latency: 200 won cases through ``serve`` with RAYNET answering in 50 ms.

Each webhook is posted over HTTP to the running service; the time until its file appears (in
the export folder, or in the bucket in SQS mode) is measured, ``--runs`` times per mode
(median and spread printed). Baseline, in the same run: the two RAYNET round trips every
export needs (business case, then company), the floor no implementation can go below.

In SQS mode (moto on loopback) it also prints where the time goes: AWS requests per
exported case by operation and the time waited on them (the bridge's own
``bridge_aws_requests_total`` and ``bridge_aws_request_seconds_total``), and the queue's
depth over the run; then it raises the rate (300 cases, ``--runs`` times per rate) until
the median p50 passes 1 s, and prints the highest rate it sustained.

Goals: p50 under 1 s in both modes at 10 webhooks/s, p99 under 3 s in SQS mode; SQS mode
sustaining 30 cases/s or more with p50 under 1 s.

    python -m bench.end_to_end [--cases 200] [--rate 10] [--runs 3] [--mode both]
                               [--rates 10,15,20,25,30,40] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from prometheus_client.parser import text_string_to_metric_families

from bench.processes import bridge, stop, wait_for_port
from bench.report import LoadWatch, Sampler, Spread, percentile, publish
from tests.servers import Process, create_aws_resources, free_port, moto_server
from webhook.ops.demo import sample_case, sample_company
from webhook.raynet.client import RaynetClient, RaynetCredentials
from webhook.raynet.standin import RaynetStandIn


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
    """One pass: each file's latency, and in SQS mode what AWS saw of it."""

    latencies: list[float]
    aws: dict[str, tuple[float, float]] = field(default_factory=dict)  # requests, seconds
    depth: list[int] = field(default_factory=list)  # messages in the queue, every 0.5 s


def aws_environment(folder: Path) -> tuple[dict[str, str], list[Process], Any, str]:
    """The queue, its dead-letter queue, the table and the bucket, each service on a moto
    server of its own (as AWS has an endpoint per service): one moto process is
    single-threaded in effect, and with all three it was the ceiling of the sustained rate."""
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "QUEUE_WAIT_SECONDS": "1",
    }
    servers = []
    for service in ("sqs", "dynamodb", "s3"):
        port = free_port()
        servers.append(moto_server(port, folder / f"moto-{service}.log"))
        env[f"AWS_ENDPOINT_URL_{service.upper()}"] = f"http://127.0.0.1:{port}"
    os.environ.update(env)  # boto3 in this process reaches the same endpoints
    made = create_aws_resources(boto3.Session(), max_receives=5)
    env.update(made.environment(prefix="o"))
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


def measure(mode: str, api: RaynetStandIn, cases: int, rate: float, folder: Path) -> Run:
    """Post ``cases`` webhooks at ``rate`` a second; when does each file appear?"""
    token = secrets.token_hex(16)
    exports = folder / "exports"
    exports.mkdir(parents=True)
    env = {
        **api.environment(),
        "WEBHOOK_TOKEN": token,
        "EXPORT_TARGET": str(exports),
        "STATE_DB": str(folder / "state.db"),
        "WORKER_POLL_SECONDS": "0.05",
    }
    moto: list[Process] = []
    s3: Any = None
    depth: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if mode == "sqs":
        aws_env, moto, s3, queue_url = aws_environment(folder)
        env.update(aws_env)
        depth = Sampler(queue_depth(queue_url), 0.5)

    arrivals = Arrivals(exports, s3)
    port = free_port()
    service = bridge(["serve", "--port", str(port)], env, folder / f"serve-{mode}.log")
    try:
        wait_for_port(port)
        session = requests.Session()
        with depth as watch:
            started = time.perf_counter()
            for number in range(1, cases + 1):
                due = started + (number - 1) / rate
                while (now := time.perf_counter()) < due:
                    arrivals.collect()
                    time.sleep(min(0.005, due - now))
                body = {
                    "eventId": secrets.token_hex(16),
                    "type": "record.updated",
                    "data": {"entityName": "BusinessCase", "entityId": 10_000 + number},
                }
                arrivals.posted[f"OP-26-{number:04d}.xml"] = time.perf_counter()
                session.post(
                    f"http://127.0.0.1:{port}/webhooks/raynet",
                    json=body,
                    headers={"X-RAYNETCRM-Token": token},
                    timeout=10,
                ).raise_for_status()
            deadline = time.perf_counter() + 120
            while len(arrivals.arrived) < cases and time.perf_counter() < deadline:
                arrivals.collect()
                time.sleep(0.005)
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop(service)
        for server in moto:
            server.stop()
    return Run(
        arrivals.latencies(),
        aws_figures(metrics) if mode == "sqs" else {},
        [int(n) for n in watch.samples] if isinstance(watch, Sampler) else [],
    )


def with_cases(api: RaynetStandIn, template: dict[str, Any], cases: int) -> None:
    for number in range(1, cases + 1):
        case = copy.deepcopy(template)
        case["id"], case["code"] = 10_000 + number, f"OP-26-{number:04d}"
        api.add_case(case)


def sustained_rate(
    api: RaynetStandIn, rates: list[float], cases: int, runs: int, folder: Path
) -> list[list[object]]:
    """Raise the rate until the median p50 of ``runs`` runs passes 1 s (or a file is
    missing): the last rate below it is what the SQS mode keeps up with."""
    rows: list[list[object]] = []
    for number, rate in enumerate(rates):
        measured = [
            measure("sqs", api, cases, rate, folder / f"rate-{number}-{n}") for n in range(runs)
        ]
        p50 = Spread(tuple(_percentile_ms(run, 0.5) for run in measured))
        kept_up = p50.median < 1000 and all(len(run.latencies) == cases for run in measured)
        rows.append(
            [
                rate,
                Spread(tuple(float(len(run.latencies)) for run in measured)).text(),
                p50.text(),
                Spread(tuple(_percentile_ms(run, 0.99) for run in measured)).text(),
                kept_up,
            ]
        )
        if not kept_up:
            break
    return rows


def _percentile_ms(run: Run, fraction: float) -> float:
    """A latency percentile of a run, infinite when files were missing at the end."""
    return percentile(run.latencies, fraction) * 1000 if run.latencies else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="webhooks per second")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05, help="RAYNET answer time, s")
    parser.add_argument("--mode", choices=["sqlite", "sqs", "both"], default="both")
    parser.add_argument(
        "--rates", default="10,15,20,25,30,40", help="for the sustained rate; '' skips"
    )
    arguments = parser.parse_args()
    rows: list[list[object]] = []
    aws_rows: list[list[object]] = []
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
                measure(mode, api, arguments.cases, arguments.rate, Path(folder) / f"{mode}-{n}")
                for n in range(arguments.runs)
            ]
            p50 = Spread(tuple(percentile(r.latencies, 0.5) * 1000 for r in runs))
            p99 = Spread(tuple(percentile(r.latencies, 0.99) * 1000 for r in runs))
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
                ]
            )
            if mode == "sqs":
                aws_rows = per_case(runs, arguments.cases)
                depths = [max(r.depth, default=0) for r in runs]
                notes["queue depth (max per run)"] = ", ".join(map(str, depths))
        if arguments.mode != "sqlite" and arguments.rates:
            rates = [float(r) for r in arguments.rates.split(",")]
            sustained = sustained_rate(api, rates, 300, arguments.runs, Path(folder) / "sustained")
    publish(
        "end_to_end",
        ["mode", "cases", "files", "webhooks/s", "floor ms", "p50 ms", "p99 ms", "p50 / floor"],
        rows,
        {
            "floor": "two RAYNET reads (case + company) at "
            f"{arguments.latency * 1000:g} ms each, measured in this run",
            "sqs mode": "a moto server per service (SQS, DynamoDB, S3) on loopback",
            "load": load.text(),
            "goal": "p50 < 1000 ms in both modes; SQS p99 < 3000 ms",
            **notes,
        },
    )
    if aws_rows:
        publish(
            "end_to_end_aws",
            ["AWS operation", "requests per case", "ms waited per case"],
            aws_rows,
            {"from": "the bridge's bridge_aws_requests_total and _seconds_total, all runs"},
        )
    if sustained:
        kept = [float(str(row[0])) for row in sustained if row[4]]
        publish(
            "end_to_end_sustained",
            ["webhooks/s", "files", "p50 ms", "p99 ms", "p50 < 1 s"],
            sustained,
            {
                "sustained": f"{max(kept) if kept else 0:g} cases/s with p50 under 1 s (SQS mode)",
                "goal": ">= 30 cases/s",
            },
        )


def per_case(runs: list[Run], cases: int) -> list[list[object]]:
    totals: dict[str, list[float]] = {}
    for run in runs:
        for operation, (requests_made, seconds) in run.aws.items():
            slot = totals.setdefault(operation, [0.0, 0.0])
            slot[0] += requests_made
            slot[1] += seconds
    exported = cases * len(runs)
    rows: list[list[object]] = [
        [operation, round(made / exported, 2), round(seconds * 1000 / exported, 1)]
        for operation, (made, seconds) in sorted(totals.items())
    ]
    rows.append(
        [
            "all",
            round(sum(t[0] for t in totals.values()) / exported, 2),
            round(sum(t[1] for t in totals.values()) * 1000 / exported, 1),
        ]
    )
    return rows


if __name__ == "__main__":
    main()
