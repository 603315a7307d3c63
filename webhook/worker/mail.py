"""E-mail to the accountant: each new order file, as RAYNET users send it by hand today.

Optional: ``SMTP_URL`` (``smtp://user:password@host:587?starttls=1`` or ``smtps://...``)
and ``NOTIFY_EMAIL`` (one or more addresses, comma-separated). The XML is attached when the
files go to a folder; from S3 the e-mail carries a link valid for seven days. Sending is
retried like any delivery and never holds up the file itself.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from webhook.delivery.target import Target
from webhook.errors import TransientError, os_error_text
from webhook.i18n import N_, Texts
from webhook.settings.environment import SmtpSettings
from webhook.state.model import FollowUp, OutboxItem
from webhook.wording import caveat_text, one_line, reexport_why
from webhook.worker.news import news_text

LINK_SECONDS = 7 * 24 * 3600
log = logging.getLogger(__name__)


class MailUnavailable(TransientError):
    """The SMTP server refused or could not be reached; the e-mail is retried."""


def send(settings: SmtpSettings, message: EmailMessage, timeout: float = 30.0) -> None:
    try:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if settings.implicit_tls:
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=timeout, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with client:
            if settings.starttls:
                client.starttls(context=context)
            if settings.username:
                client.login(settings.username, settings.password or "")
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        raise MailUnavailable(
            N_("e-mail to %(to)s not sent: %(error)s"),
            to=str(message["To"]),
            error=_describe(error),
        ) from None


def _describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        reply = text.decode(errors="replace") if isinstance(text, bytes) else text
        return f"{error.smtp_code} {reply}"
    return os_error_text(error) if isinstance(error, OSError) else type(error).__name__


@dataclass
class Mailer:
    """E-mail for the accountant, in ``BRIDGE_LANGUAGE``: each new order file (the
    ``email`` follow-up of a delivery)."""

    settings: SmtpSettings
    target: Target
    texts: Texts
    files_location: str | None = None  # EXPORT_LOCATION_LABEL: the share as people see it

    def send_order(self, item: OutboxItem) -> None:
        file_name, _ = item.delivered_file()
        link = self.target.link(file_name, LINK_SECONDS)
        document = None if link else self.target.read(file_name)
        send(self.settings, self.order_message(item, document, link))
        log.info("e-mail for %s sent to %s", item.code, ", ".join(self.settings.recipients))

    def order_message(
        self, item: OutboxItem, document: bytes | None, link: str | None
    ) -> EmailMessage:
        """The e-mail for one order file: attached, or linked when it lives in S3."""
        t, summary = self.texts, item.summary
        code = one_line(item.code or str(item.case_id))
        again = item.generation > 1
        message = self.message(
            t.gettext(
                "Order from RAYNET CRM again: %(code)s (file no. %(number)s)",
                code=code,
                number=item.generation,
            )
            if again
            else t.gettext("Order from RAYNET CRM: %(code)s", code=code)
        )
        where = (
            t.gettext("Download the file within 7 days here:\n%(link)s", link=link)
            if link
            else t.gettext("The file %(file)s is attached.", file=item.file_name)
        )
        about = [
            line
            for line in (
                summary.name and t.gettext("Deal: %(name)s", name=summary.name),
                summary.customer and t.gettext("Customer: %(name)s", name=summary.customer),
                summary.total_with_vat is not None
                and t.gettext(
                    "Total with VAT: %(amount)s",
                    amount=t.amount(summary.total_with_vat, summary.currency),
                ),
                summary.doklad
                and t.gettext("Order number (Doklad): %(doklad)s", doklad=summary.doklad),
            )
            if line
        ]
        opening = (
            t.gettext(
                "Hello,\n\nthe business case %(code)s was exported to Money S3 once more: this "
                "is file no. %(number)s of an order sent before, with the same order number. "
                "Money S3 skips it while it has the order; import it only if the order was "
                "deleted in Money S3 to be replaced.",
                code=code,
                number=item.generation,
            )
            + "\n"
            + reexport_why(t.gettext, item.generation, item.changes, t.number)
            if again
            else t.gettext(
                "Hello,\n\nthe business case %(code)s was won in RAYNET CRM. Import the "
                "received order into Money S3 in Objednávky přijaté → XML přenosy → Import z "
                "XML (the O+P+N definition).",
                code=code,
            )
        )
        notes = [
            t.gettext("Note: %(caveat)s", caveat=caveat_text(t.gettext, t.ngettext, caveat))
            for caveat in item.caveats
        ]
        location = self.files_location or item.location
        message.set_content(
            opening
            + "\n\n"
            + "".join(f"{line}\n" for line in about)
            + ("\n" if about else "")
            + "".join(f"{line}\n" for line in notes)
            + ("\n" if notes else "")
            + where
            + "\n"
            + t.gettext("Saved in: %(location)s", location=location)
            + "\n\n"
            + t.gettext("Import each file only once.")
            + "\n\n— RAYNET → Money S3\n"
        )
        if document is not None:
            message.add_attachment(
                document, maintype="application", subtype="xml", filename=item.file_name
            )
        return message

    def send_news(self, item: OutboxItem) -> None:
        """Money S3 refused the order, or the deal changed since it was sent: the
        accountant hears it (nothing when it is no longer so)."""
        message = self.news_message(item)
        if message is not None:
            send(self.settings, message)

    def news_message(self, item: OutboxItem) -> EmailMessage | None:
        body = news_text(self.texts, item)
        if body is None:
            return None
        t, code = self.texts, one_line(item.code or str(item.case_id))
        message = self.message(
            t.gettext("Money S3 did not import the order %(code)s", code=code)
            if item.kind is FollowUp.REFUSED_EMAIL
            else t.gettext("Changed after its export: %(code)s", code=code)
        )
        message.set_content(t.gettext("Hello,") + "\n\n" + body + "\n\n— RAYNET → Money S3\n")
        return message

    def message(self, subject: str, recipients: tuple[str, ...] | None = None) -> EmailMessage:
        """A new e-mail from us; ``EmailMessage`` refuses CR/LF in a header, which
        ``one_line`` has taken out of anything from RAYNET."""
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.settings.sender
        message["To"] = ", ".join(recipients or self.settings.recipients)
        return message
