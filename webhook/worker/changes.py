"""Changed after export: a won deal edited once its order went to Money S3.

A webhook about an exported case (not one the bridge caused by writing back) asks for a
change check, a follow-up done at most once per ``CHANGE_CHECK_EVERY`` per case: the case is
read again, made into the order it would be now, and compared with the order delivered
(``OrderDigest``, kept with the file). A difference, or a deal no longer won, is kept on the
case (the dashboard lists it line by line) and, the first time it is seen, told: a post in
RAYNET, an e-mail to the accountant. Nothing is sent again by itself: Money S3 skips an
order whose number it has, so the accountant decides (edit the order there, or delete it
and re-export from the case's page).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass

from webhook.observability import CHANGED_CASES
from webhook.pipeline import Exporter
from webhook.state.model import CaseChanges, Clock, FollowUp, OutboxItem
from webhook.state.ports import CaseRecords, Outbox

log = logging.getLogger(__name__)
AFTER_CHANGE = (FollowUp.CHANGED_POST, FollowUp.CHANGED_EMAIL)


@dataclass
class ChangeCheck:
    exporter: Exporter
    records: CaseRecords
    outbox: Outbox
    follow_ups: Collection[FollowUp]  # the posts and e-mails this instance sends
    clock: Clock = time.time
    instance: str = ""

    def check(self, item: OutboxItem) -> None:
        """The ``change_check`` follow-up of a case (generation 0: the case's, not a
        file's): compared with its latest file that has a digest."""
        latest = max(
            (export for export in self.records.exports_of(item.case_id) if export.digest),
            key=lambda export: export.generation,
            default=None,
        )
        if latest is None or latest.digest is None:
            return  # a file known only from RAYNET: nothing to compare with
        changes = self.exporter.changes_since(item.case_id, latest.digest)
        found = CaseChanges(latest.generation, self.clock(), changes)
        if not self.records.record_changes(item.case_id, found):
            return
        CHANGED_CASES.labels(instance=self.instance).inc()
        log.warning(
            "case %s changed since %s was delivered: %d difference(s)",
            item.case_id,
            latest.file_name,
            len(changes),
        )
        for kind in AFTER_CHANGE:  # told again when it changed otherwise since
            if kind in self.follow_ups:
                self.outbox.rearm(kind, item.case_id, latest.generation, 0.0)
