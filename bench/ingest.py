"""Webhook ingest: the bridge's receiver against a bare Flask endpoint, same gunicorn settings.

Each request carries a new eventId, so every business-case event is a durable SQLite commit
(fsync). Two mixes: all business-case events (the worst case), and RAYNET's realistic
mix of 80 % other entities (answered without touching the state file). A third server, the
durable floor (``bench/durable_app.py``), is the bare endpoint plus an append and a shared
fdatasync per business-case event: what "on disk" costs on this machine with no database.
The servers run side by side; each round measures each of them in turn (the order rotating),
so that the machine's noise falls on all alike; ratios are taken per round, and the median
and spread of the rounds are printed, with the machine's load while they ran.
Goals: realistic mix at least 0.8x the bare endpoint's requests per second; business-case
events only at least 0.6x.

    python -m bench.ingest [--rounds 5] [--seconds 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.processes import free_port, gunicorn, stop
from bench.report import LoadWatch, Spread, publish

LUA = """
local counter = 0
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  prefix = string.format("%04x%08x", id, math.random(0, 0x7fffffff))
end
request = function()
  counter = counter + 1
  local entity = "BusinessCase"
  if counter % 5 ~= 0 and os.getenv("MIX") == "realistic" then entity = "Company" end
  local body = string.format(
    '{"eventId":"%s%012x","type":"record.updated","author":"a@b.cz",' ..
    '"data":{"entityName":"%s","entityId":%d,"extIds":null}}',
    prefix, counter, entity, 1 + counter % 5000)
  return wrk.format("POST", "/webhooks/raynet", {
    ["Content-Type"] = "application/json",
    ["X-RAYNETCRM-Token"] = os.getenv("TOKEN")}, body)
end
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(
    port: int, script: Path, token: str, *, mix: str, seconds: int, connections: int
) -> tuple[float, float, float, int]:
    completed = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"TOKEN": token, "MIX": mix},
    )
    output = completed.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    latency = {
        quantile: float(value) * UNITS[unit]
        for quantile, value, unit in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", output)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return rate, latency["50"], latency["99"], int(errors[1]) if errors else 0


GOALS = {"business cases only": 0.6, "realistic": 0.8}
BARE = "bare Flask"
SERVERS = {  # label: WSGI app, all under the same gunicorn settings
    BARE: "bench.bare_app:app",
    "durable floor": "bench.durable_app:app",
    "bridge": "webhook.wsgi:app",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between runs")
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    token = secrets.token_hex(16)
    rows: list[list[object]] = []
    per_round: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder, LoadWatch() as load:
        work = Path(folder)
        script = work / "post.lua"
        script.write_text(LUA)
        for mix, goal in GOALS.items():
            env = {
                "WEBHOOK_TOKEN": token,
                "STATE_DB": str(work / mix.split()[0] / "state.db"),
                "EXPORT_TARGET": str(work),
            }
            servers = {
                label: (port := free_port(), gunicorn(app, port, env, work / f"{label}.log"))
                for label, app in SERVERS.items()
            }
            options = {"mix": mix.split()[0], "connections": arguments.connections}
            rounds: dict[str, list[tuple[float, float, float, int]]] = {
                label: [] for label in servers
            }
            try:
                for port, _ in servers.values():
                    run_wrk(port, script, token, seconds=2, **options)  # warm-up
                for number in range(arguments.rounds):
                    turn = number % len(servers)
                    for label in [*servers][turn:] + [*servers][:turn]:
                        time.sleep(arguments.pause)  # the last run's disk writes settle
                        port = servers[label][0]
                        rounds[label].append(
                            run_wrk(port, script, token, seconds=arguments.seconds, **options)
                        )
            finally:
                for _, server in servers.values():
                    stop(server)
            assert all(r[3] == 0 for r in rounds["bridge"]), "the bridge answered errors"
            bare = rounds[BARE]
            per_round[f"rounds, {mix} (bare / floor / bridge req/s)"] = ", ".join(
                " / ".join(f"{rounds[label][n][0]:.0f}" for label in servers)
                for n in range(arguments.rounds)
            )
            for label, figures in rounds.items():
                ratios = Spread(
                    tuple(ours[0] / base[0] for ours, base in zip(figures, bare, strict=True))
                )
                rows.append(
                    [
                        mix,
                        label,
                        Spread(tuple(f[0] for f in figures)).text(),
                        Spread(tuple(f[2] for f in figures)).text(1),
                        ratios.text(3) if label != BARE else "1",
                        (f">= {goal}: " + ("met" if ratios.median >= goal else "NOT met"))
                        if label == "bridge"
                        else "",
                    ]
                )
    publish(
        "ingest",
        ["mix", "server", "req/s: median (spread)", "p99 ms", "ratio to bare", "goal"],
        rows,
        {
            "settings": "gunicorn gthread, 2 workers x 4 threads; wrk -t2 "
            f"-c{arguments.connections}, {arguments.rounds} rounds of {arguments.seconds} s "
            f"per server, in rotating order, {arguments.pause:g} s apart; loopback",
            "load": load.text(),
            "read": "ratios are per round, to the bare endpoint; their spread says how far "
            "one run can be trusted; the durable floor is what an fsync'd 202 costs here",
            **per_round,
        },
    )


if __name__ == "__main__":
    main()
