"""What a case's state and reason mean to people, and what to do about them.

The state keeps reasons as the bridge wrote them (English, technical, for the log); these
functions put them in the reader's language, by the stable ``reason_code``, and add what
the accountant or an operator can do. Both the pages (Flask-Babel's ``gettext``) and the
worker's e-mails (``Texts.gettext``) call them with their own ``gettext``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal

from webhook.i18n import N_
from webhook.order import Caveat, Change, Reason
from webhook.state.model import CaseChanges, ImportOutcome, MoneyMessage, MoneyVerdict

Gettext = Callable[..., str]
Ngettext = Callable[..., str]
BREAKS = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # Unicode categories: controls, breaks
STATUS = re.compile(r"status (\S+?)\)")
# RAYNET's status groups of a business case (the spec's filter on ``status``), by name.
STATUS_NAMES = {
    "B_ACTIVE": N_("open"),
    "E_WIN": N_("won"),
    "F_LOST": N_("lost"),
    "G_STORNO": N_("cancelled"),
}


def status_name(gettext: Gettext, status: str) -> str:
    """RAYNET's status as people call it; an unknown one as RAYNET wrote it."""
    known = STATUS_NAMES.get(status)
    return gettext(known) if known else status


def reason_text(
    gettext: Gettext, reason_code: str | None, reason: str | None, detail: Reason | None = None
) -> str:
    """The reason in the reader's language: its catalogue message when it has one (every
    reason the bridge records now does), else as recorded (an older state file)."""
    if detail is not None:
        return described(gettext, detail)
    if reason_code == "not_won":
        found = STATUS.search(reason or "")
        status = status_name(gettext, found[1]) if found else "?"
        return gettext("the deal is not won (status %(status)s)", status=status)
    if reason_code == "no_products":
        return gettext("the deal has no products")
    return reason or ""


def described(gettext: Gettext, reason: Reason) -> str:
    """A catalogue message with its values, each value that is itself a catalogue term
    (\"IČO\", \"with VAT\") or a RAYNET status in the reader's language too."""
    values = {
        key: status_name(gettext, value)
        if key == "status" and isinstance(value, str)
        else gettext(value)
        if isinstance(value, str) and value
        else value
        for key, value in reason.values.items()
    }
    return gettext(reason.message, **values) if values else gettext(reason.message)


def advice(gettext: Gettext, reason_code: str | None) -> str:
    """What to do about a failed or dead case."""
    by_code = {
        "raynet_auth": gettext(
            "RAYNET refused the API credentials: correct RAYNET_USERNAME, RAYNET_API_KEY and "
            "RAYNET_INSTANCE, then press Retry."
        ),
        "RaynetPermissionDenied": gettext(
            "The API user lacks a right in RAYNET: grant it, then press Retry."
        ),
        "InvalidOrder": gettext(
            "The deal cannot become a correct order: correct it in RAYNET; the next change "
            "brings it back by itself."
        ),
        "InvalidDocument": gettext(
            "The order did not pass Money S3's schema: correct the deal in RAYNET, or report "
            "it to the bridge's administrator."
        ),
        "DeliveryConflict": gettext(
            "Another case's file already has this name: tell the bridge's administrator."
        ),
        "DeliveryUnavailable": gettext(
            "The export folder or bucket cannot take files: check the share or the bucket; "
            "exports go on by themselves when it can."
        ),
        "RaynetNotFound": gettext("The case no longer exists in RAYNET: nothing to do."),
    }
    return by_code.get(
        reason_code or "",
        gettext("Retried by itself; if it stays, look at the reason and press Retry."),
    )


def one_line(text: str) -> str:
    """Text from RAYNET fit for a header: control characters and line or paragraph breaks
    become spaces, and runs of spaces one."""
    spaced = "".join(
        " " if unicodedata.category(char) in BREAKS or char.isspace() else char for char in text
    )
    return " ".join(spaced.split())


def escaped(text: str, keep: str = "") -> str:
    """Text with every control, line break and invisible format character (a direction
    override such as U+202E) written as its escape, except those in ``keep``: what RAYNET
    sent can then neither drive a terminal nor reverse what a page shows."""
    if text.isprintable():
        return text
    return "".join(
        repr(char)[1:-1] if unicodedata.category(char) in BREAKS and char not in keep else char
        for char in text
    )


def caveat_text(gettext: Gettext, ngettext: Ngettext, caveat: Caveat) -> str:
    """What an order's caveat means, in the reader's language."""
    values = dict(caveat.values)
    if caveat.code == "replaced_characters":
        field = gettext(str(values["field"]), item=values.get("item", ""))
        count = int(values["count"])
        return ngettext(
            "%(num)s character Money S3 cannot store was replaced %(field)s",
            "%(num)s characters Money S3 cannot store were replaced %(field)s",
            count,
            field=field,
        )
    if caveat.code == "vat_rate_further":
        return gettext(
            "Items %(items)s have VAT %(rate)s %%, not one of the agenda's rates (%(known)s): "
            "Money S3 takes them only if it knows the rate among its further VAT rates.",
            **values,
        )
    if caveat.code == "customer_number":
        return gettext(
            "The customer's %(what)s %(value)s looks wrong (%(why)s): Money S3 may make a "
            "second address card for it.",
            what=gettext(str(values["what"])),
            value=values["value"],
            why=gettext(str(values["why"])),
        )
    if caveat.code == "custom_field_unknown":
        return gettext(
            "RAYNET has no business-case custom field %(name)s, which the bridge's settings "
            "name: the Money S3 field it should fill is left empty.",
            **values,
        )
    return caveat.code


def outcome_text(gettext: Gettext, outcome: ImportOutcome) -> str:
    """An import's outcome as the dashboard and ``status`` name it."""
    return {
        ImportOutcome.IMPORTED: gettext("imported into Money S3"),
        ImportOutcome.WARNINGS: gettext("imported into Money S3 with warnings"),
        ImportOutcome.REFUSED: gettext("refused by Money S3"),
        ImportOutcome.ALREADY_THERE: gettext("not imported: Money S3 already had the number"),
    }[outcome]


def money_message_text(message: MoneyMessage) -> str:
    """One of Money's errors as Money wrote it: where, type and code, text, key."""
    head = " ".join(part for part in (message.where, message.kind, message.code) if part)
    key = f" ({message.key})" if message.key else ""
    return f"{head}: {message.description}{key}" if head else message.description + key


def verdict_advice(gettext: Gettext, verdict: MoneyVerdict, doklad: str | None) -> str | None:
    """One sentence on what to do, for the common causes; None when all went well."""
    if verdict.outcome is ImportOutcome.IMPORTED:
        return None
    if verdict.outcome is ImportOutcome.ALREADY_THERE:
        return gettext(
            "Money S3 already has an order numbered %(doklad)s, and its import definition "
            "leaves existing orders alone. If that order is another one, renumber it in "
            "Money S3 (or set MONEY_S3_ORDER_PREFIX); if it is this one, delete it in Money "
            "S3 to replace it, then export the case again.",
            doklad=doklad or "?",
        )
    places = {message.where.rsplit(" / ", 1)[-1].split(" ")[0] for message in verdict.messages}
    by_place = (
        (
            {"Sklad"},
            N_(
                "Money S3 does not know the warehouse: create it in Money S3 with the code "
                "the order names (MONEY_S3_WAREHOUSE), then import the file again."
            ),
        ),
        (
            {"KmKarta", "SklPolozka"},
            N_(
                "Money S3 found no stock card for an item: create the card with the "
                "product's code as its catalogue number, or match stock by bar code "
                "(MONEY_S3_STOCK_KEY), then import the file again."
            ),
        ),
        (
            {"DodOdb", "KonecPrij"},
            N_(
                "Money S3 could not take the customer's address card: check the customer's "
                "IČO and VAT number in RAYNET and in Money's address book."
            ),
        ),
    )
    for where, message in by_place:
        if where & places:
            return gettext(message)
    if verdict.outcome is ImportOutcome.WARNINGS:
        return gettext("The order is in Money S3; check the parts listed before using it.")
    return gettext(
        "Correct the cause in Money S3 or in RAYNET, then import the file again, or export "
        "the case again from its page."
    )


NUMERIC_CHANGES = {"quantity", "unit_price", "discount", "vat_rate", "total_gross"}


def reexport_why(
    gettext: Gettext,
    generation: int,
    changes: CaseChanges | None,
    number: Callable[[Decimal], str] | None = None,
) -> str:
    """Why file no. ``generation`` of a case was written: the deal's changes found since the
    file before it, or, none being known, that someone asked for it again."""
    if changes is not None and changes.generation == generation - 1 and changes.changes:
        return gettext(
            "Why: the deal changed in RAYNET since file no. %(number)s (%(changes)s).",
            number=generation - 1,
            changes="; ".join(change_text(gettext, change, number) for change in changes.changes),
        )
    return gettext(
        "Why: it was asked for again (on the dashboard, with the button in RAYNET or with "
        "replay --again); no change of the deal since file no. %(number)s is known.",
        number=generation - 1,
    )


def change_text(
    gettext: Gettext, change: Change, number: Callable[[Decimal], str] | None = None
) -> str:
    """One difference between the order delivered and the deal now: old → new, numbers
    written as the reader writes them (``12 886,5``) when ``number`` is given."""

    def shown(value: str | None) -> str:
        if value is None:
            return "–"
        if number is not None and change.what in NUMERIC_CHANGES:
            try:
                return number(Decimal(value))
            except ArithmeticError:
                return value
        return value

    values = {"old": shown(change.old), "new": shown(change.new), "item": change.line or "?"}
    texts = {
        "customer": gettext("Customer: %(old)s → %(new)s", **values),
        "reg_number": gettext("Customer's IČO: %(old)s → %(new)s", **values),
        "currency": gettext("Currency: %(old)s → %(new)s", **values),
        "total_gross": gettext("Total with VAT: %(old)s → %(new)s", **values),
        "line_added": gettext("Item added: %(item)s (%(new)s)", **values),
        "line_removed": gettext("Item removed: %(item)s (%(old)s)", **values),
        "quantity": gettext("%(item)s: quantity %(old)s → %(new)s", **values),
        "unit_price": gettext("%(item)s: unit price %(old)s → %(new)s", **values),
        "discount": gettext("%(item)s: discount %(old)s %% → %(new)s %%", **values),
        "vat_rate": gettext("%(item)s: VAT %(old)s %% → %(new)s %%", **values),
    }
    if change.what == "no_longer_exportable":
        return gettext(
            "The deal cannot be exported any more: %(reason)s",
            reason=reason_text(gettext, change.old, change.new),
        )
    return texts.get(change.what, f"{change.what}: {values['old']} → {values['new']}")
