"""Starting the bridge's processes for benchmarks, with the settings ``serve`` uses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from tests.servers import free_port
from webhook.ops.serve import PACKAGE_ROOT, ServeOptions, gunicorn_command

__all__ = ["bridge", "environment", "free_port", "gunicorn", "stop", "wait_for_port"]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **extra, "PYTHONPATH": str(PACKAGE_ROOT)}


def gunicorn(app: str, port: int, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """gunicorn exactly as ``python -m webhook serve`` runs it, serving ``app``."""
    command = [*gunicorn_command(ServeOptions(port=port), app)]
    command[-1:-1] = ["--access-logfile", "/dev/null"]
    process = subprocess.Popen(
        command, env=environment(env), stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    wait_for_port(port)
    return process


def bridge(arguments: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "webhook", *arguments],
        env=environment(env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
