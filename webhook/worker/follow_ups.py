"""Follow-ups of delivered files and the daily report, from the outbox.

Each is recorded in the same transaction as the file it follows (or, for the report, once
a day), done after it by whichever worker claims it, retried on its own with backoff, and
never holds up an export: the e-mail to the accountant, the external id, post and lock in
RAYNET (``write_back.py``), the check of an exported case for changes (``changes.py``) and
the news of Money's reports and of changes (``news.py``). One that cannot succeed (a
permanent error) gives up at once; any other error is retried until the last attempt.
What asks RAYNET waits, like exports, while RAYNET refuses the credentials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from webhook.errors import BridgeError, PermanentError
from webhook.observability import FOLLOW_UPS, log_context
from webhook.state.model import NEEDS_RAYNET, Clock, FollowUp, OutboxItem
from webhook.state.ports import Outbox
from webhook.worker.daily_report import DailyReport
from webhook.worker.gate import CredentialsStop

log = logging.getLogger(__name__)
Handler = Callable[[OutboxItem], None]
MAX_WAIT_DOUBLINGS = 6  # a minute, two, four ... an hour at most between attempts
REPORT_CHECK_SECONDS = 60.0
MOST_PER_ROUND = 5  # a few at a time, so that each round ends soon


@dataclass
class FollowUps:
    outbox: Outbox
    handlers: Mapping[FollowUp, Handler]
    name: str = "follow-up"  # the worker's, in claims
    credentials: CredentialsStop | None = None  # write-back waits while RAYNET refuses them
    report: DailyReport | None = None
    clock: Clock = time.time
    retry_base: float = 60.0
    instance: str = ""
    _report_checked: float = field(default=0.0, init=False)

    def run_due(self) -> int:
        """The daily report when it is due, then a few due follow-ups; how many were done
        (or failed)."""
        now = self.clock()
        if self.report is not None and now - self._report_checked >= REPORT_CHECK_SECONDS:
            self._report_checked = now
            self.report.schedule_if_due()
        for done in range(MOST_PER_ROUND):
            refused = self.credentials is not None and self.credentials.refused_since()
            kinds = [kind for kind in self.handlers if not (refused and kind in NEEDS_RAYNET)]
            if not self.run_one(kinds):
                return done
        return MOST_PER_ROUND

    def run_one(self, kinds: Collection[FollowUp]) -> bool:
        """Do one due follow-up of ``kinds``; False when none is due."""
        item = self.outbox.claim(self.name, [kind for kind in kinds if kind in self.handlers])
        if item is None:
            return False
        with log_context(case_id=item.case_id, generation=item.generation):
            try:
                self.handlers[item.kind](item)
            except Exception as error:  # noqa: BLE001 - recorded and retried, never fatal
                self._failed(item, error)
            else:
                self.outbox.done(item)
                FOLLOW_UPS.labels(instance=self.instance, kind=item.kind, outcome="done").inc()
                log.info("%s for %s done", item.kind, item.code or item.generation)
        return True

    def _failed(self, item: OutboxItem, error: Exception) -> None:
        text = str(error) or type(error).__name__
        if isinstance(error, PermanentError):
            self.outbox.give_up(item, text)
            outcome = "dead"
        else:
            wait = self.retry_base * 2 ** min(item.attempts, MAX_WAIT_DOUBLINGS)
            outcome = "failed" if self.outbox.failed(item, text, self.clock() + wait) else "dead"
        FOLLOW_UPS.labels(instance=self.instance, kind=item.kind, outcome=outcome).inc()
        unexpected = not isinstance(error, BridgeError | OSError)  # a bug: keep its traceback
        what = item.code or item.generation
        log.warning("%s for %s %s: %s", item.kind, what, outcome, text, exc_info=unexpected)
