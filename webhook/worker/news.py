"""What the salesperson and the accountant are told after a delivery: Money S3 imported
the order, refused it, or the deal changed since. The same words go into the post in RAYNET
and the e-mail, in ``BRIDGE_LANGUAGE``."""

from __future__ import annotations

from webhook.i18n import Texts
from webhook.state.model import FollowUp, ImportOutcome, OutboxItem
from webhook.wording import change_text, money_message_text, outcome_text, verdict_advice


def news_text(t: Texts, item: OutboxItem) -> str | None:
    """The post (or e-mail body) of a follow-up about Money's verdict or a change; None
    when what it would say is no longer so."""
    file_name = item.file_name or "?"
    doklad = item.summary.doklad or "?"
    verdict, found = item.money, item.changes
    if item.kind is FollowUp.IMPORTED_POST:
        if verdict is None or not verdict.outcome.taken:
            return None
        lines = [
            t.gettext(
                "The order is in Money S3: %(file)s (Doklad %(doklad)s) was imported, says "
                "Money's report %(report)s.",
                file=file_name,
                doklad=doklad,
                report=verdict.report,
            )
        ]
        if verdict.outcome is ImportOutcome.WARNINGS:
            lines.append(t.gettext("Money S3 reported problems with parts of it:"))
            lines += [f"– {money_message_text(message)}" for message in verdict.messages]
        return "\n".join(lines)
    if item.kind in (FollowUp.REFUSED_POST, FollowUp.REFUSED_EMAIL):
        if verdict is None or verdict.outcome.taken:
            return None
        lines = [
            t.gettext(
                "Money S3 did not import the order %(file)s (Doklad %(doklad)s): %(outcome)s.",
                file=file_name,
                doklad=doklad,
                outcome=outcome_text(t.gettext, verdict.outcome),
            )
        ]
        lines += [f"– {money_message_text(message)}" for message in verdict.messages]
        advice = verdict_advice(t.gettext, verdict, item.summary.doklad)
        if advice:
            lines.append(advice)
        return "\n".join(lines)
    if found is None or not found.changes or found.generation != item.generation:
        return None
    lines = [
        t.gettext(
            "The deal changed after its order %(file)s went to Money S3; the order in Money "
            "S3 is still the one sent. Changes:",
            file=file_name,
        )
    ]
    lines += [f"– {change_text(t.gettext, change, t.number)}" for change in found.changes]
    lines.append(
        t.gettext(
            "Nothing was sent again: the accountant decides (edit the order in Money S3, or "
            "delete it there and export the case again)."
        )
    )
    return "\n".join(lines)
