"""Webhook-to-file latency: 200 won cases through ``serve`` with RAYNET answering in 50 ms.

Each webhook is posted over HTTP to the running service; the time until its file appears in
the export folder is measured. Baseline, in the same run: the two RAYNET round trips every
export needs (business case, then company), the floor no implementation can go below.
Goal: p50 under 1 s.

    python -m bench.end_to_end [--cases 200] [--rate 10] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import copy
import secrets
import tempfile
import time
from pathlib import Path

import requests

from bench.processes import bridge, free_port, stop, wait_for_port
from bench.report import percentile, publish
from webhook.demo import sample_case, sample_company
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="webhooks per second")
    parser.add_argument("--latency", type=float, default=0.05, help="RAYNET answer time, s")
    arguments = parser.parse_args()
    template, company = sample_case(), sample_company()
    token = secrets.token_hex(16)
    with RaynetStandIn(latency=arguments.latency) as api, tempfile.TemporaryDirectory() as folder:
        api.add_company(company)
        for number in range(1, arguments.cases + 1):
            case = copy.deepcopy(template)
            case["id"], case["code"] = 10_000 + number, f"OP-26-{number:04d}"
            api.add_case(case)
        floor = raynet_floor(api)
        exports = Path(folder) / "exports"
        port = free_port()
        env = {
            **api.environment(),
            "WEBHOOK_TOKEN": token,
            "STATE_DB": str(Path(folder) / "state.db"),
            "EXPORT_TARGET": str(exports),
            "WORKER_POLL_SECONDS": "0.05",
        }
        service = bridge(["serve", "--port", str(port)], env, Path(folder) / "serve.log")
        try:
            wait_for_port(port)
            posted: dict[str, float] = {}
            arrived: dict[str, float] = {}
            session = requests.Session()
            started = time.perf_counter()
            for number in range(1, arguments.cases + 1):
                due = started + (number - 1) / arguments.rate
                while (now := time.perf_counter()) < due:
                    _collect(exports, arrived)
                    time.sleep(min(0.005, due - now))
                body = {
                    "eventId": secrets.token_hex(16),
                    "type": "record.updated",
                    "data": {"entityName": "BusinessCase", "entityId": 10_000 + number},
                }
                posted[f"OP-26-{number:04d}.xml"] = time.perf_counter()
                response = session.post(
                    f"http://127.0.0.1:{port}/webhooks/raynet",
                    json=body,
                    headers={"X-RAYNETCRM-Token": token},
                    timeout=10,
                )
                response.raise_for_status()
            deadline = time.perf_counter() + 120
            while len(arrived) < arguments.cases and time.perf_counter() < deadline:
                _collect(exports, arrived)
                time.sleep(0.005)
        finally:
            stop(service)
    latencies = [arrived[name] - posted[name] for name in posted if name in arrived]
    rows = [
        [
            arguments.cases,
            len(latencies),
            arguments.rate,
            arguments.latency * 1000,
            floor * 1000,
            percentile(latencies, 0.5) * 1000,
            percentile(latencies, 0.99) * 1000,
            round(percentile(latencies, 0.5) / floor, 2),
        ]
    ]
    publish(
        "end_to_end",
        [
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
            "goal": "p50 < 1000 ms",
        },
    )


def _collect(exports: Path, arrived: dict[str, float]) -> None:
    if not exports.exists():
        return
    now = time.perf_counter()
    for path in exports.glob("*.xml"):
        arrived.setdefault(path.name, now)


if __name__ == "__main__":
    main()
