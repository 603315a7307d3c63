"""gunicorn settings for the receiver; ``python -m webhook serve`` runs gunicorn with them.

``--bind`` and ``--workers`` come from the ``serve`` command line. One service per port:
``reuse_port`` stays off, so a second copy cannot quietly share the port and its webhooks.
"""

import os
from typing import Any

from prometheus_client import multiprocess

wsgi_app = "webhook.wsgi:app"
worker_class = (
    "webhook.web.gunicorn_worker.BufferingWorker"  # gthread that slow clients cannot starve
)
threads = 4
timeout = 30  # RAYNET waits 10 s for an answer; a request stuck 30 s is restarted
graceful_timeout = 20  # on SIGTERM, finish the requests in hand
keepalive = 5
control_socket_disable = True  # serve supervises gunicorn; no socket in $HOME to collide on
limit_request_line = 8190
accesslog = "-"
logger_class = "webhook.web.gunicorn_worker.JsonAccessLogger"  # one valid JSON object a line


def child_exit(server: Any, worker: Any) -> None:
    """A gunicorn worker ended: its live gauges must not be reported any more."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
