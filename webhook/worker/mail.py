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
import time
import unicodedata
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlparse

from webhook.delivery import Target
from webhook.errors import ConfigError, TransientError
from webhook.observability import NOTIFICATIONS
from webhook.state.model import Clock
from webhook.state.ports import Outbox

LINK_SECONDS = 7 * 24 * 3600
BREAKS = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # Unicode categories: controls, breaks
log = logging.getLogger(__name__)


class MailUnavailable(TransientError):
    """The SMTP server refused or could not be reached; the e-mail is retried."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, recipients: str, sender: str | None) -> SmtpSettings:
        """From ``SMTP_URL``, ``NOTIFY_EMAIL`` and ``NOTIFY_FROM``; secrets stay out of errors."""
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise ConfigError(
                "SMTP_URL must look like smtp://user:password@host:587?starttls=1 "
                "or smtps://user:password@host:465"
            )
        addresses = tuple(a.strip() for a in recipients.split(",") if a.strip())
        if not addresses or any("@" not in a for a in addresses):
            raise ConfigError("NOTIFY_EMAIL must be one or more e-mail addresses, comma-separated")
        implicit = parsed.scheme == "smtps"
        options = parse_qs(parsed.query)
        return cls(
            host=parsed.hostname,
            port=parsed.port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=options.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            sender=sender or f"raynet-bridge@{parsed.hostname}",
            recipients=addresses,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
        )


def order_message(
    settings: SmtpSettings,
    *,
    code: str,
    file_name: str,
    location: str,
    document: bytes | None,
    link: str | None,
) -> EmailMessage:
    """The e-mail for one order file: attached, or linked when it lives in S3."""
    message = EmailMessage()  # refuses CR/LF in a header, which one_line has taken out
    message["Subject"] = f"Objednávka z RAYNET CRM: {one_line(code)}"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    where = (
        f"Soubor si stáhněte do 7 dní zde:\n{link}\n"
        if link
        else f"Soubor {file_name} je v příloze.\n"
    )
    message.set_content(
        "Dobrý den,\n\n"
        f"v RAYNET CRM byl vyhrán obchodní případ {code}. Přijatou objednávku pro Money S3 "
        "importujte v Objednávky přijaté → XML přenosy → Import z XML (definice O+P+N).\n\n"
        f"{where}\nUloženo: {location}\n\n"
        "Každý soubor importujte jen jednou.\n\n— RAYNET → Money S3\n"
    )
    if document is not None:
        message.add_attachment(document, maintype="application", subtype="xml", filename=file_name)
    return message


def one_line(text: str) -> str:
    """Text from RAYNET fit for a header: control characters and line or paragraph breaks
    become spaces, and runs of spaces one."""
    spaced = "".join(
        " " if unicodedata.category(char) in BREAKS or char.isspace() else char for char in text
    )
    return " ".join(spaced.split())


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
        raise MailUnavailable(f"e-mail to {message['To']} not sent: {_describe(error)}") from None


def _describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        reply = text.decode(errors="replace") if isinstance(text, bytes) else text
        return f"{error.smtp_code} {reply}"
    return type(error).__name__ + (
        f": {error.strerror}" if isinstance(error, OSError) and error.strerror else ""
    )


@dataclass
class Notifier:
    """Sends the due e-mails from the outbox; called by the worker between exports."""

    settings: SmtpSettings
    outbox: Outbox
    target: Target
    clock: Clock = time.time
    retry_base: float = 60.0

    def send_due(self, worker: str) -> bool:
        """Send one due e-mail; False when none is due."""
        item = self.outbox.claim(worker)
        if item is None:
            return False
        try:
            link = self.target.link(item.file_name, LINK_SECONDS)
            document = None if link else self.target.read(item.file_name)
            send(
                self.settings,
                order_message(
                    self.settings,
                    code=item.code,
                    file_name=item.file_name,
                    location=item.location,
                    document=document,
                    link=link,
                ),
            )
        except Exception as error:
            unexpected = not isinstance(error, TransientError | OSError)
            wait = self.retry_base * 2 ** min(item.attempts, 6)
            self.outbox.failed(item, str(error) or type(error).__name__, self.clock() + wait)
            NOTIFICATIONS.labels(outcome="failed").inc()
            log.warning("e-mail for %s not sent: %s", item.code, error, exc_info=unexpected)
        else:
            self.outbox.done(item)
            NOTIFICATIONS.labels(outcome="sent").inc()
            log.info("e-mail for %s sent to %s", item.code, ", ".join(self.settings.recipients))
        return True
