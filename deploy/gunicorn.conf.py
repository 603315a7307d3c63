"""gunicorn settings for the receiver; ``python -m webhook serve`` runs gunicorn with them.

``--bind`` and ``--workers`` come from the ``serve`` command line.
"""

import os
from typing import Any

from prometheus_client import multiprocess

wsgi_app = "webhook.wsgi:app"
worker_class = "gthread"
threads = 4
reuse_port = True  # the kernel spreads connections over the workers
timeout = 30  # RAYNET waits 10 s for an answer; a request stuck 30 s is restarted
graceful_timeout = 20  # on SIGTERM, finish the requests in hand
keepalive = 5
control_socket_disable = True  # serve supervises gunicorn; no socket in $HOME to collide on
limit_request_line = 8190
accesslog = "-"
access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "bytes": %(B)s, "duration_ms": %(M)s}'
)


def child_exit(server: Any, worker: Any) -> None:
    """A gunicorn worker ended: its live gauges must not be reported any more."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
