"""What strangers can cost: RAYNET requests per 1,000 unauthenticated button presses, and
the webhook's latency while 10 sockets stall mid-request. The bridge runs under gunicorn
exactly as ``serve`` runs it; RAYNET is the stand-in on loopback.

Presses come as fast as one client can send them, in four kinds: without ``BUTTON_KEY``
(when it is set); malformed tokens; well-formed tokens RAYNET never issued from one
address; the same from 100 addresses (``X-Forwarded-For`` through a trusted proxy).
Goal: 0 RAYNET requests for the first two; a handful for the others.

Webhooks: ``--webhooks`` sequential webhooks, each on a new connection, first with nothing
else open (the baseline), then with 5 sockets stalled in their headers and 5 in their
bodies, ``--repeat`` rounds each. Goal: p99 under 1 s with the stalled sockets.

    python -m bench.attack [--presses 1000] [--webhooks 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import secrets
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

from bench.processes import free_port, gunicorn, stop
from bench.report import LoadWatch, percentile, publish
from tests.support import share, webhook_body
from webhook.ops.demo import sample_case, sample_company
from webhook.raynet.standin import RaynetStandIn

TOKEN = "bench-token-0123456789"
KEY = "bench-button-key-0123456789"
Press = Callable[[requests.Session, str, int], requests.Response]


def _press(key: str | None, token: Callable[[int], str], addresses: int = 1) -> Press:
    def send(session: requests.Session, url: str, n: int) -> requests.Response:
        query = {"token": token(n), "entityId": "1234", "personId": "12"}
        if key is not None:
            query["key"] = key
        forwarded = {"X-Forwarded-For": f"198.51.100.{n % addresses}"}
        return session.get(f"{url}/raynet/button", params=query, headers=forwarded, timeout=15)

    return send


PRESSES: dict[str, tuple[dict[str, str], Press]] = {
    "no BUTTON_KEY in the URL": ({"BUTTON_KEY": KEY}, _press(None, lambda n: f"{n:043d}")),
    "malformed tokens": ({}, _press(None, lambda n: f"bogus{n}")),
    "forged tokens, one address": ({}, _press(None, lambda n: secrets.token_urlsafe(32))),
    "forged tokens, 100 addresses": ({}, _press(None, lambda n: secrets.token_urlsafe(32), 100)),
}


@contextmanager
def running_bridge(raynet: RaynetStandIn, **extra: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = {
            **raynet.environment(),
            "WEBHOOK_TOKEN": TOKEN,
            "STATE_DB": str(work / "state.db"),
            "EXPORT_TARGET": share(work / "exports"),
            "TRUSTED_PROXIES": "1",
            **extra,
        }
        port = free_port()
        server = gunicorn("webhook.wsgi:app", port, env, work / "gunicorn.log")
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(server)


def raynet_requests_per_presses(raynet: RaynetStandIn, presses: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for kind, (extra, send) in PRESSES.items():
        with running_bridge(raynet, **extra) as url, requests.Session() as session:
            before = len(raynet.calls())
            statuses: dict[int, int] = {}
            started = time.perf_counter()
            for n in range(presses):
                status = send(session, url, n).status_code
                statuses[status] = statuses.get(status, 0) + 1
            seconds = time.perf_counter() - started
            caused = len(raynet.calls()) - before
        answers = ", ".join(f"{count} × {status}" for status, count in sorted(statuses.items()))
        rows.append([kind, presses, caused, f"{caused * 1000 / presses:.1f}", answers, seconds])
    return rows


@contextmanager
def stalled_sockets(port: int) -> Iterator[None]:
    head = f"POST /webhooks/raynet HTTP/1.1\r\nHost: bridge\r\nX-RAYNETCRM-Token: {TOKEN}"
    payloads = [head.encode() + b"\r\nContent-Type: application/json\r\n"] * 5 + [
        head.encode() + b"\r\nContent-Length: 500\r\n\r\n" + b'{"eventId": "x'
    ] * 5
    with ExitStack() as stack:
        for payload in payloads:
            stalled = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            stalled.sendall(payload)
        time.sleep(0.3)  # every socket has been accepted by a worker
        yield


def webhook_latencies(url: str, count: int) -> list[float]:
    seconds = []
    for n in range(count):
        body = webhook_body(event_id=f"bench-{secrets.token_hex(6)}-{n}", case_id=1 + n % 50)
        started = time.perf_counter()
        answer = requests.post(
            f"{url}/webhooks/raynet",
            json=body,
            headers={"X-RAYNETCRM-Token": TOKEN, "Connection": "close"},
            timeout=15,
        )
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 202, answer.text
    return seconds


def webhooks_beside_stalled_sockets(
    raynet: RaynetStandIn, webhooks: int, repeat: int
) -> list[list[object]]:
    rounds: dict[str, list[tuple[float, float]]] = {"nothing else open": [], "10 stalled": []}
    with running_bridge(raynet) as url:
        port = int(url.rsplit(":", 1)[1])
        webhook_latencies(url, 20)  # warm-up
        for _ in range(repeat):
            for condition, figures in rounds.items():
                with ExitStack() as stack:
                    if condition == "10 stalled":
                        stack.enter_context(stalled_sockets(port))
                    seconds = webhook_latencies(url, webhooks)
                figures.append((percentile(seconds, 0.5), percentile(seconds, 0.99)))
    rows: list[list[object]] = []
    for condition, figures in rounds.items():
        p50s = [p50 * 1000 for p50, _ in figures]
        p99s = [p99 * 1000 for _, p99 in figures]
        rows.append(
            [
                condition,
                statistics.median(p50s),
                statistics.median(p99s),
                f"{min(p99s):.1f}–{max(p99s):.1f}",
                max(p99s) < 1000,
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument("--webhooks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    with RaynetStandIn() as raynet, LoadWatch() as load:
        raynet.add_case(sample_case())
        raynet.add_company(sample_company())
        presses = raynet_requests_per_presses(raynet, arguments.presses)
        publish(
            "attack-button",
            ["presses", "sent", "RAYNET requests", "per 1,000", "answers", "seconds"],
            presses,
            {"goal": "0 RAYNET requests without the key or with malformed tokens"},
        )
        webhooks = webhooks_beside_stalled_sockets(raynet, arguments.webhooks, arguments.repeat)
    publish(
        "attack-slow-sockets",
        ["while", "p50 ms (median)", "p99 ms (median)", "p99 spread ms", "p99 < 1 s"],
        webhooks,
        {
            "settings": f"{arguments.repeat} rounds × {arguments.webhooks} sequential webhooks, "
            "a new connection each; gunicorn as serve runs it, 2 workers × 4 threads",
            "goal": "p99 under 1 s with 10 stalled sockets",
            "load": load.text(),
        },
    )


if __name__ == "__main__":
    main()
