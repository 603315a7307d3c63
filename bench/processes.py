"""Starting the bridge's processes for benchmarks, with the settings ``serve`` uses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.servers import free_port
from webhook.ops.serve import PACKAGE_ROOT, ServeOptions, gunicorn_command

__all__ = [
    "CpuWindow",
    "bridge",
    "command_line",
    "cpu_seconds",
    "descendants",
    "environment",
    "free_port",
    "gunicorn",
    "stop",
    "wait_for_port",
]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The bridge's environment: ``extra``'s ``PYTHONPATH`` (a benchmark's hooks) comes
    before the package's root."""
    path = [*filter(None, [extra.get("PYTHONPATH")]), str(PACKAGE_ROOT)]
    return {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(path)}


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


# --- CPU of processes, from /proc (Linux) ------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (all its threads); None when it
    is gone or there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (``serve``: gunicorn, its workers, the worker)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


class CpuWindow:
    """CPU each process used between ``start()`` and ``stop()``, and the wall time between:
    ``share(pid)`` is the fraction of one core it kept busy. Processes under a root are
    looked up at both ends (one born meanwhile counts from zero)."""

    def __init__(self, pids: Mapping[str, int] | None = None, trees: Sequence[int] = ()) -> None:
        self.named = dict(pids or {})  # name: pid
        self._trees = list(trees)
        self._before: dict[int, float] = {}
        self.used: dict[int, float] = {}  # pid: CPU seconds in the window
        self.names: dict[int, str] = {}
        self.wall = 0.0
        self._started = 0.0

    def _pids(self) -> dict[int, str]:
        found = {pid: name for name, pid in self.named.items()}
        for root in self._trees:
            for pid in descendants(root):
                found.setdefault(pid, command_line(pid))
        return found

    def start(self) -> None:
        self.names = self._pids()
        self._before = {pid: cpu_seconds(pid) or 0.0 for pid in self.names}
        self._started = time.perf_counter()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._started
        self.names |= self._pids()
        for pid in self.names:
            now = cpu_seconds(pid)
            if now is not None:
                self.used[pid] = now - self._before.get(pid, 0.0)

    def share(self, pid: int) -> float:
        return self.used.get(pid, 0.0) / self.wall if self.wall else 0.0
