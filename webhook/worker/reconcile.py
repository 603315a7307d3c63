"""The safety net: won cases that changed in RAYNET but never reached us are queued anyway.

A webhook can be lost (RAYNET deletes a webhook after 7 days of failures; a proxy may drop
one). Every ``RECONCILE_INTERVAL`` seconds one worker lists the won cases changed since the
last sweep (one API call per 1,000 cases) and queues those not exported and not looked at
since they changed. ``backfill`` does the same once, from a given date. Sweeps stop while
RAYNET reports less than a tenth of the daily request limit left, so exports keep theirs.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from webhook.raynet.client import RaynetClient
from webhook.raynet.schemas import CaseChange
from webhook.state.model import CaseState, Clock
from webhook.state.ports import CaseRecords, JobQueue

log = logging.getLogger(__name__)
TURN_FLAG = "reconcile_next_at"
WATERMARK_FLAG = "reconcile_watermark"
OVERLAP = 300.0  # clocks differ; listing a case twice costs nothing


@dataclass(frozen=True)
class Sweep:
    listed: int
    queued: int
    api_calls: int
    remaining: int | None


def queue_unexported(
    queue: JobQueue, records: CaseRecords, changes: Iterable[CaseChange]
) -> tuple[int, list[int]]:
    """Queue the won cases we have not exported and not examined since they changed.

    Returns how many were listed and which were queued. A case waiting already, or
    exported, is left alone; one skipped or dead is queued only if RAYNET changed it since.
    """
    listed = 0
    queued: list[int] = []
    for change in changes:
        listed += 1
        record = records.case(change.id)
        stale = (
            record is not None
            and record.state in (CaseState.SKIPPED, CaseState.DEAD)
            and (change.modified_at is None or change.modified_at.timestamp() > record.updated_at)
        )
        if record is None or stale:
            queue.enqueue(change.id)
            queued.append(change.id)
    return listed, queued


@dataclass
class Reconciler:
    queue: JobQueue
    records: CaseRecords
    client: RaynetClient
    interval: float
    clock: Clock = time.time

    def due(self) -> bool:
        """True for exactly one worker per interval, across all workers on the state file."""
        return self.records.take_turn(TURN_FLAG, self.interval)

    def sweep(self) -> Sweep | None:
        """List recently changed won cases and queue the missing ones; None if skipped."""
        now = self.clock()
        limits = self.client.rate_limit
        if limits.running_low():
            log.warning(
                "reconciliation skipped: RAYNET reports only %s requests left today",
                limits.remaining,
            )
            return None
        watermark = self.records.flag(WATERMARK_FLAG)
        since = (float(watermark) if watermark else now - self.interval) - OVERLAP
        calls = self.client.requests_sent
        listed, queued = queue_unexported(
            self.queue,
            self.records,
            self.client.won_cases_changed_since(dt.datetime.fromtimestamp(since, dt.UTC)),
        )
        self.records.set_flag(WATERMARK_FLAG, repr(now))
        sweep = Sweep(listed, len(queued), self.client.requests_sent - calls, limits.remaining)
        log.info(
            "reconciliation: %s won cases changed, %s queued, %s API calls, %s left today",
            sweep.listed,
            sweep.queued,
            sweep.api_calls,
            sweep.remaining,
        )
        return sweep
