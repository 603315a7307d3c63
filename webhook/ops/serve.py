"""``python -m webhook serve``: gunicorn for the receiver plus the job worker, supervised.

Two child processes share the state file: gunicorn answers webhooks, the worker exports.
If the worker dies it is restarted; if gunicorn exits, everything stops. SIGTERM and SIGINT
are passed on, so both finish what they are doing.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from webhook.ops.console import say
from webhook.settings.environment import Settings

log = logging.getLogger(__name__)
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the checkout: webhook/ and deploy/
GUNICORN_CONFIG = PACKAGE_ROOT / "deploy" / "gunicorn.conf.py"
RESTART_DELAY = 5.0
DEV_WEBHOOK_FILE = "dev-webhook-token"  # serve --dev's tokens, in the state folder
DEV_ADMIN_FILE = "dev-admin-token"


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    http_workers: int = 2
    run_worker: bool = True
    dev: bool = False


def port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None. Only one service per port: with
    SO_REUSEADDR (as gunicorn binds) a port in TIME_WAIT is free, a listening one is not."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or type(error).__name__
    return None


def dev_token(state_dir: Path, name: str = DEV_WEBHOOK_FILE) -> str:
    """A random token for local trials (the webhook's, the dashboard's), kept in the state
    folder across restarts."""
    path = state_dir / name
    if path.is_file():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token + "\n")
    return token


def metrics_folder(settings: Settings) -> Path:
    """A fresh folder where every child process keeps its Prometheus figures."""
    folder = settings.state_db.parent / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def url(host: str, port: int, path: str) -> str:
    """Where ``serve`` answers ``path``: ``http://host:port/path``, IPv6 in brackets."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


def child_environment(settings: Settings, options: ServeOptions) -> dict[str, str]:
    """The children's environment; with ``--dev``, the tokens it generates. Says where the
    dashboard is and how it opens (never printing a token that was configured)."""
    environment = dict(os.environ)
    environment["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_folder(settings))
    python_path = [str(PACKAGE_ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    environment["PYTHONPATH"] = os.pathsep.join(python_path)
    folder = settings.state_db.parent
    if options.dev and settings.webhook_token is None:
        environment["WEBHOOK_TOKEN"] = token = dev_token(folder)
        say(
            f"--dev: webhook token {token} (kept in {folder}/{DEV_WEBHOOK_FILE})",
            "      enter it as the webhook's security token in RAYNET",
            err=True,
        )
    dashboard = url(options.host, options.port, "/admin/")
    if settings.admin_token is not None:
        say(f"dashboard {dashboard}: log in with ADMIN_TOKEN", err=True)
    elif options.dev:
        environment["ADMIN_TOKEN"] = token = dev_token(folder, DEV_ADMIN_FILE)
        say(
            f"--dev: dashboard {dashboard}, admin token {token} (kept in {folder}/"
            f"{DEV_ADMIN_FILE})",
            "      log in there with it",
            err=True,
        )
    else:
        say(
            f"dashboard {dashboard}: off until ADMIN_TOKEN (16+ characters) is set and the "
            "service restarted",
            err=True,
        )
    return environment


def gunicorn_command(options: ServeOptions, app: str = "webhook.wsgi:app") -> list[str]:
    """How ``serve`` runs gunicorn (benchmarks run other apps with the same settings)."""
    return [
        sys.executable, "-m", "gunicorn",
        "--config", str(GUNICORN_CONFIG),
        "--bind", f"{options.host}:{options.port}",
        "--workers", str(options.http_workers),
        app,
    ]  # fmt: skip


def worker_command() -> list[str]:
    return [sys.executable, "-m", "webhook", "worker"]


def serve(instances: Mapping[str, Settings], options: ServeOptions) -> int:
    """Run until stopped; returns the exit code of gunicorn."""
    settings = instances.get("") or next(iter(instances.values()))  # the metrics' home
    environment = child_environment(settings, options)
    run_worker = options.run_worker and any(s.raynet for s in instances.values())
    if options.run_worker and not run_worker:
        say(
            "no RAYNET credentials: webhooks are stored, nothing is exported until "
            "RAYNET_USERNAME, RAYNET_API_KEY and RAYNET_INSTANCE are set",
            err=True,
        )
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in (web, worker):
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)

    web = subprocess.Popen(gunicorn_command(options), env=environment)
    worker = subprocess.Popen(worker_command(), env=environment) if run_worker else None
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while web.poll() is None:
            if worker is not None and worker.poll() is not None and not stopping:
                log.error("the worker exited with %s; restarting it", worker.returncode)
                time.sleep(RESTART_DELAY)
                worker = subprocess.Popen(worker_command(), env=environment)
            time.sleep(0.5)
    finally:
        stop(signal.SIGTERM, None)
        for child in (web, worker):
            if child is not None:
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return web.returncode or 0
