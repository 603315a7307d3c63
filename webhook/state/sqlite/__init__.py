"""All three ports on one SQLite state file (the embedded default)."""

from __future__ import annotations

from pathlib import Path

from webhook.state.model import Clock, WorkPolicy
from webhook.state.ports import State
from webhook.state.sqlite.database import StateDatabase
from webhook.state.sqlite.outbox import SqliteOutbox
from webhook.state.sqlite.queue import SqliteJobQueue
from webhook.state.sqlite.records import SqliteCaseRecords


def open_state(
    path: Path, clock: Clock, policy: WorkPolicy | None = None, write_wait: float = 10.0
) -> State:
    """The state file at ``path``, created or brought up to date; a write waits for the
    file at most ``write_wait`` seconds (twice: the host's writer lock, then SQLite's)."""
    database = StateDatabase(path, write_wait=write_wait)
    policy = policy or WorkPolicy()
    return State(
        queue=SqliteJobQueue(database, clock, policy),
        records=SqliteCaseRecords(database, clock),
        outbox=SqliteOutbox(database, clock, policy),
    )
