"""Follow-ups of delivered files and the daily report, from the outbox.

Each is recorded in the same transaction as the file it follows (or, for the report, once
a day), done after it by whichever worker claims it, retried on its own with backoff, and
never holds up an export: the e-mail to the accountant, the external id, post and lock in
RAYNET. One that cannot succeed (a permanent error) gives up at once; any other error is
retried until the last attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from webhook.errors import BridgeError, PermanentError
from webhook.observability import FOLLOW_UPS, log_context
from webhook.state.model import Clock, FollowUp, OutboxItem
from webhook.state.ports import Outbox

log = logging.getLogger(__name__)
Handler = Callable[[OutboxItem], None]
MAX_WAIT_DOUBLINGS = 6  # a minute, two, four ... an hour at most between attempts


@dataclass
class FollowUps:
    outbox: Outbox
    handlers: Mapping[FollowUp, Handler]
    clock: Clock = time.time
    retry_base: float = 60.0
    instance: str = ""

    @property
    def after_export(self) -> tuple[FollowUp, ...]:
        """What every delivered file is followed by."""
        return tuple(kind for kind in self.handlers if kind is not FollowUp.REPORT)

    def run_due(self, worker: str, kinds: Collection[FollowUp]) -> bool:
        """Do one due follow-up of ``kinds``; False when none is due."""
        item = self.outbox.claim(worker, [kind for kind in kinds if kind in self.handlers])
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
