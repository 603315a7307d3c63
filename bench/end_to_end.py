"""Webhook-to-file latency: 200 won cases through ``serve`` with RAYNET answering in 50 ms.

Each webhook is posted over HTTP to the running service; the time until its file appears (in
the export folder, or in the bucket in SQS mode) is measured. Baseline, in the same run: the
two RAYNET round trips every export needs (business case, then company), the floor no
implementation can go below.
Goal: p50 under 1 s.

    python -m bench.end_to_end [--cases 200] [--rate 10] [--latency 0.05] [--mode both]
"""

from __future__ import annotations

import argparse
import copy
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import requests

from bench.processes import bridge, stop, wait_for_port
from bench.report import percentile, publish
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


def aws_environment(folder: Path) -> tuple[dict[str, str], Process, Any]:
    """A moto server with the queue, its dead-letter queue, the table and the bucket."""
    port = free_port()
    server = moto_server(port, folder / "moto.log")
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "QUEUE_WAIT_SECONDS": "1",
    }
    os.environ.update(env)  # boto3 in this process reaches the same endpoint
    made = create_aws_resources(boto3.Session(), max_receives=5)
    env.update(made.environment(prefix="o"))
    return env, server, (boto3.client("s3"), made.bucket)


def measure(
    mode: str, api: RaynetStandIn, arguments: argparse.Namespace, folder: Path
) -> list[float]:
    """Seconds from posting each webhook to its file being there."""
    token = secrets.token_hex(16)
    exports = folder / mode / "exports"
    exports.mkdir(parents=True)
    env = {
        **api.environment(),
        "WEBHOOK_TOKEN": token,
        "EXPORT_TARGET": str(exports),
        "STATE_DB": str(folder / mode / "state.db"),
        "WORKER_POLL_SECONDS": "0.05",
    }
    moto: Process | None = None
    s3: Any = None
    if mode == "sqs":
        aws_env, moto, s3 = aws_environment(folder)
        env.update(aws_env)

    def present() -> set[str]:
        if s3 is None:
            return {p.name for p in exports.glob("*.xml")} if exports.exists() else set()
        client, bucket = s3
        listing = client.list_objects_v2(Bucket=bucket, Prefix="o/")
        return {item["Key"].removeprefix("o/") for item in listing.get("Contents", [])}

    port = free_port()
    service = bridge(["serve", "--port", str(port)], env, folder / f"serve-{mode}.log")
    posted: dict[str, float] = {}
    arrived: dict[str, float] = {}

    def collect() -> None:
        now = time.perf_counter()
        for name in present():
            arrived.setdefault(name, now)

    try:
        wait_for_port(port)
        session = requests.Session()
        started = time.perf_counter()
        for number in range(1, arguments.cases + 1):
            due = started + (number - 1) / arguments.rate
            while (now := time.perf_counter()) < due:
                collect()
                time.sleep(min(0.005, due - now))
            body = {
                "eventId": secrets.token_hex(16),
                "type": "record.updated",
                "data": {"entityName": "BusinessCase", "entityId": 10_000 + number},
            }
            posted[f"OP-26-{number:04d}.xml"] = time.perf_counter()
            session.post(
                f"http://127.0.0.1:{port}/webhooks/raynet",
                json=body,
                headers={"X-RAYNETCRM-Token": token},
                timeout=10,
            ).raise_for_status()
        deadline = time.perf_counter() + 120
        while len(arrived) < arguments.cases and time.perf_counter() < deadline:
            collect()
            time.sleep(0.005)
    finally:
        stop(service)
        if moto is not None:
            moto.stop()
    return [arrived[name] - posted[name] for name in posted if name in arrived]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="webhooks per second")
    parser.add_argument("--latency", type=float, default=0.05, help="RAYNET answer time, s")
    parser.add_argument("--mode", choices=["sqlite", "sqs", "both"], default="both")
    arguments = parser.parse_args()
    template, company = sample_case(), sample_company()
    rows = []
    with RaynetStandIn(latency=arguments.latency) as api, tempfile.TemporaryDirectory() as folder:
        api.add_company(company)
        for number in range(1, arguments.cases + 1):
            case = copy.deepcopy(template)
            case["id"], case["code"] = 10_000 + number, f"OP-26-{number:04d}"
            api.add_case(case)
        floor = raynet_floor(api)
        modes = ["sqlite", "sqs"] if arguments.mode == "both" else [arguments.mode]
        for mode in modes:
            latencies = measure(mode, api, arguments, Path(folder))
            p50 = percentile(latencies, 0.5)
            rows.append(
                [
                    mode,
                    arguments.cases,
                    len(latencies),
                    arguments.rate,
                    arguments.latency * 1000,
                    floor * 1000,
                    p50 * 1000,
                    percentile(latencies, 0.99) * 1000,
                    round(p50 / floor, 2),
                ]
            )
    publish(
        "end_to_end",
        [
            "mode",
            "cases",
            "files",
            "webhooks/s",
            "RAYNET ms",
            "floor ms",
            "p50 ms",
            "p99 ms",
            "p50 / floor",
        ],
        rows,
        {
            "floor": "two RAYNET reads (case + company), measured in this run",
            "sqs mode": "moto server on loopback for SQS, DynamoDB and S3",
            "goal": "p50 < 1000 ms in both modes",
        },
    )


if __name__ == "__main__":
    main()
