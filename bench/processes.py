"""Starting the bridge's processes for benchmarks, with the settings ``serve`` uses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.servers import free_port
from webhook.ops.serve import PACKAGE_ROOT, ServeOptions, gunicorn_command

__all__ = [
    "CpuTimeline",
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


class CpuTimeline:
    """The CPU seconds each watched process has used, every ``every`` seconds while the
    ``with`` block runs (in a thread): named processes, and every process under each of
    ``trees`` (looked for again now and then: one born meanwhile counts from zero). A
    window is chosen afterwards (``window``): from the first webhook to the last file, say,
    whenever that turned out to be."""

    def __init__(
        self, named: Mapping[str, int], trees: Sequence[int] = (), every: float = 0.5
    ) -> None:
        self.named = dict(named)  # name: pid
        self.names: dict[int, str] = {pid: name for name, pid in self.named.items()}
        self.samples: list[tuple[float, dict[int, float]]] = []  # time.time(), pid: CPU s
        self._trees, self._every = list(trees), every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> CpuTimeline:
        self._sample(look=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(look=False)

    def _watch(self) -> None:
        count = 0
        while not self._stop.wait(self._every):
            count += 1
            self._sample(look=count % 4 == 0)

    def _sample(self, look: bool) -> None:
        if look:
            for root in self._trees:
                for pid in descendants(root):
                    if pid not in self.names:
                        self.names[pid] = command_line(pid)
        used = {pid: cpu for pid in list(self.names) if (cpu := cpu_seconds(pid)) is not None}
        self.samples.append((time.time(), used))

    def window(self, start: float, end: float) -> tuple[dict[int, float], float]:
        """CPU seconds per process between the samples nearest ``start`` and ``end``
        (``time.time()``), and the seconds between those samples."""
        first = min(self.samples, key=lambda sample: abs(sample[0] - start))
        last = min(self.samples, key=lambda sample: abs(sample[0] - end))
        used = {pid: cpu - first[1].get(pid, 0.0) for pid, cpu in last[1].items()}
        return used, last[0] - first[0]

    def peak(self, pids: Sequence[int], start: float, end: float, span: float = 2.0) -> float:
        """The highest share of a core ``pids`` kept together over ``span`` seconds within
        the window."""
        inside = [sample for sample in self.samples if start <= sample[0] <= end]
        best = 0.0
        for index, (at, used) in enumerate(inside):
            later = next((s for s in inside[index + 1 :] if s[0] - at >= span), None)
            if later is None:
                break
            spent = sum(later[1].get(pid, 0.0) - used.get(pid, 0.0) for pid in pids)
            best = max(best, spent / (later[0] - at))
        return best
