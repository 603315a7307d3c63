"""Write-back to RAYNET: the salesperson sees in the case that its order reached accounting.

After each delivered file (``RAYNET_WRITE_BACK=1``, the default) the case gets, as separate
follow-ups retried on their own:

- an external id naming the file (``moneys3:OP-24-057.xml``): RAYNET sends it back in every
  webhook about the case, so the case costs no API request even with a new state file. A
  record holds at most 10 external ids, so a re-export replaces the bridge's earlier one
  (``DELETE …/extId/{extId}``); ids that are not the bridge's are never touched;
- a post in the case's discussion, in ``BRIDGE_LANGUAGE``: which file, where, when, its
  ``Doklad``, and what the accountant should know about it (its caveats); a re-export
  posts again;
- with ``RAYNET_LOCK_EXPORTED=1``, a lock against edits, the last write, once the external
  id and the post are done, so that the order in Money S3 and the deal in RAYNET cannot
  drift apart. A re-export opens the case it locked before, writes, and locks it again.

RAYNET answers each write with a ``record.updated`` webhook; the case is exported by then,
so those webhooks cost nothing. A write retried after an answer that never came would be
made twice: before a second attempt the external id and the post are looked for first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from webhook.errors import TransientError
from webhook.i18n import Texts
from webhook.raynet import external_ids
from webhook.raynet.client import RaynetAuthError, RaynetClient
from webhook.state.model import FollowUp, OutboxItem
from webhook.wording import caveat_text, reexport_why
from webhook.worker.follow_ups import Handler
from webhook.worker.news import news_text

log = logging.getLogger(__name__)


class WriteBackPaused(TransientError):
    """RAYNET refused the credentials; write-back waits, like exports, until it takes them."""


@dataclass
class WriteBack:
    raynet: RaynetClient
    texts: Texts
    lock: bool = False
    files_location: str | None = None  # EXPORT_LOCATION_LABEL: the share as people see it

    def handlers(self) -> dict[FollowUp, Handler]:
        chosen: dict[FollowUp, Handler] = {
            FollowUp.EXTERNAL_ID: self.add_external_id,
            FollowUp.POST: self.add_post,
            FollowUp.IMPORTED_POST: self.add_news,
            FollowUp.REFUSED_POST: self.add_news,
            FollowUp.CHANGED_POST: self.add_news,
        }
        if self.lock:
            chosen[FollowUp.UNLOCK] = self.unlock_case
            chosen[FollowUp.LOCK] = self.lock_case
        return {kind: paused_while_refused(handler) for kind, handler in chosen.items()}

    def add_external_id(self, item: OutboxItem) -> None:
        file_name, _ = item.delivered_file()
        wanted = external_ids.for_file(file_name)
        if item.generation == 1 and not item.attempts:
            self.raynet.add_external_id(item.case_id, wanted)  # nothing of ours there yet
            return
        present = self.raynet.business_case(item.case_id).external_ids
        for earlier in external_ids.ours(present):
            if earlier != wanted:
                self.raynet.remove_external_id(item.case_id, earlier)
        if wanted not in present:
            self.raynet.add_external_id(item.case_id, wanted)

    def add_post(self, item: OutboxItem) -> None:
        file_name, _ = item.delivered_file()
        if item.attempts and any(file_name in post for post in self.raynet.posts(item.case_id)):
            return  # the last attempt's answer was lost, not its write
        self.raynet.add_post(item.case_id, self.post_text(item))

    def add_news(self, item: OutboxItem) -> None:
        """What Money S3 did with the order, or that the deal changed since: one post each
        (none when the news is no longer true: the outcome changed meanwhile)."""
        text = news_text(self.texts, item)
        if text is None:
            return
        first_line = text.split("\n", 1)[0]
        if item.attempts and any(first_line in post for post in self.raynet.posts(item.case_id)):
            return  # the last attempt's answer was lost, not its write
        self.raynet.add_post(item.case_id, text)

    def unlock_case(self, item: OutboxItem) -> None:
        self.raynet.unlock_business_case(item.case_id)

    def lock_case(self, item: OutboxItem) -> None:
        self.raynet.lock_business_case(item.case_id)

    def post_text(self, item: OutboxItem) -> str:
        t = self.texts
        file_name, location = item.delivered_file()
        doklad = item.summary.doklad
        values = {
            "file": file_name,
            "location": self.files_location or location,
            "when": t.moment(item.exported_at),
            "doklad": doklad,
            "number": item.generation,
        }
        first = (
            t.gettext(
                "The order for Money S3 is ready: file %(file)s (Doklad %(doklad)s), "
                "saved in %(location)s on %(when)s.",
                **values,
            )
            if item.generation == 1 and doklad
            else t.gettext(
                "The order for Money S3 is ready: file %(file)s (numbered by Money S3), "
                "saved in %(location)s on %(when)s.",
                **values,
            )
            if item.generation == 1
            else t.gettext(
                "Exported to Money S3 again (file no. %(number)s): %(file)s, saved in "
                "%(location)s on %(when)s. It is the same order as before (Doklad "
                "%(doklad)s): the accountant imports only one of the files.",
                **values,
            )
        )
        lines = [
            first
            + " "
            + t.gettext(
                "The accountant imports it in Money S3: Objednávky přijaté → XML přenosy → "
                "Import z XML."
            )
        ]
        if item.generation > 1:
            lines.append(reexport_why(t.gettext, item.generation, item.changes, t.number))
        lines += [
            t.gettext("Note: %(caveat)s", caveat=caveat_text(t.gettext, t.ngettext, caveat))
            for caveat in item.caveats
        ]
        return "\n".join(lines)


def paused_while_refused(handler: Handler) -> Handler:
    """A follow-up that met refused credentials is tried again once they are taken (the
    client's latch stops every process meanwhile), instead of giving up."""

    def run(item: OutboxItem) -> None:
        try:
            handler(item)
        except RaynetAuthError as error:
            raise WriteBackPaused(error.message, None, **error.values) from None

    return run
