"""Webhook ingest: the bridge's receiver against a bare Flask endpoint, same gunicorn settings.

Each request carries a new eventId, so every business-case event is a durable SQLite commit
(fsync). Two mixes: all business-case events (the worst case), and RAYNET's realistic
mix of 80 % other entities (answered without touching the state file).
Goal: at least 0.8x the bare endpoint's requests per second.

    python -m bench.ingest [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.processes import free_port, gunicorn, stop
from bench.report import publish

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    token = secrets.token_hex(16)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        script = work / "post.lua"
        script.write_text(LUA)
        env = {
            "WEBHOOK_TOKEN": token,
            "STATE_DB": str(work / "state.db"),
            "EXPORT_TARGET": str(work),
        }
        for mix in ("business cases only", "realistic"):
            figures = {}
            for label, app in (
                ("bare Flask", "bench.bare_app:app"),
                ("bridge", "webhook.wsgi:app"),
            ):
                port = free_port()
                server = gunicorn(app, port, env, work / "gunicorn.log")
                try:
                    options = {"mix": mix.split()[0], "connections": arguments.connections}
                    run_wrk(port, script, token, seconds=2, **options)  # warm-up
                    figures[label] = run_wrk(
                        port, script, token, seconds=arguments.seconds, **options
                    )
                finally:
                    stop(server)
            bare, ours = figures["bare Flask"], figures["bridge"]
            for label, (rate, p50, p99, errors) in figures.items():
                rows.append([mix, label, round(rate), p50, p99, errors, round(rate / bare[0], 2)])
            assert ours[3] == 0, "the bridge answered errors under load"
    publish(
        "ingest",
        ["mix", "server", "req/s", "p50 ms", "p99 ms", "non-2xx", "ratio to bare"],
        rows,
        {
            "settings": "gunicorn gthread, 2 workers x 4 threads; wrk -t2 "
            f"-c{arguments.connections} -d{arguments.seconds}s, loopback",
            "goal": "bridge >= 0.8x bare Flask req/s",
        },
    )


if __name__ == "__main__":
    main()
