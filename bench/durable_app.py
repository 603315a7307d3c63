"""The ingest floor: the bare endpoint plus the least a durable 202 needs, and nothing else.

Each request's body is appended to a file and fdatasync'd before the answer; requests that
arrive while a sync runs share the next one (group commit, as the bridge's receiver does),
so this is the cost of "on disk" on this machine with no database, no parsing, no state.
The bridge cannot be cheaper than this; the gap between the two is the bridge's own.
"""

from __future__ import annotations

import os
import tempfile
import threading

from flask import Flask, Response, jsonify, request

app = Flask(__name__)
_appended = threading.Lock()  # one append at a time, numbered
_syncing = threading.Lock()  # one fdatasync at a time; it covers every append before it
_counts = {"written": 0, "synced": 0}
_journal: dict[str, int] = {}


def _descriptor() -> int:
    """This process's journal (gunicorn forks after import: one file per worker)."""
    pid = str(os.getpid())
    if pid not in _journal:
        folder = os.environ.get("EXPORT_TARGET") or tempfile.gettempdir()
        path = os.path.join(folder, f"durable-floor-{pid}.log")
        _journal[pid] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return _journal[pid]


@app.post("/webhooks/raynet")
def receive() -> tuple[Response, int]:
    body = request.get_data()
    if b'"BusinessCase"' not in body:  # the bridge stores nothing of other entities either
        return jsonify(status="ignored"), 200
    with _appended:
        descriptor = _descriptor()
        os.write(descriptor, body + b"\n")
        _counts["written"] += 1
        mine = _counts["written"]
    with _syncing:
        if _counts["synced"] < mine:
            covered = _counts["written"]
            os.fdatasync(descriptor)
            _counts["synced"] = covered
    return jsonify(status="accepted"), 202
