"""Starting real processes for integration tests: moto's S3, the bridge's serve and worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Process:
    """A child process whose output goes to a log file, shown when a test fails."""

    def __init__(
        self, args: list[str], env: Mapping[str, str], log: Path, cwd: Path = ROOT
    ) -> None:
        self.log = log
        self._log_file: IO[bytes] = log.open("ab")
        environment = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.popen = subprocess.Popen(
            args, env=environment, cwd=cwd, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; its exit code."""
        code = self.popen.wait(timeout=timeout)
        self._log_file.close()
        return code

    def kill(self) -> None:
        """SIGKILL: no clean-up, no finally blocks: a crash."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._log_file.close()

    def stop(self, timeout: float = 20) -> int:
        if self._log_file.closed:
            return self.popen.returncode
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()
        return self.popen.returncode

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")


def bridge(command: list[str], env: Mapping[str, str], log: Path) -> Process:
    """``python -m webhook <command>`` as a child process."""
    return Process([sys.executable, "-m", "webhook", *command], env, log)


def moto_server(port: int, log: Path) -> Process:
    server = Process(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], {}, log
    )
    wait_until(lambda: listening(port), 20, "moto server")
    return server
