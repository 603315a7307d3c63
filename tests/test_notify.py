"""E-mail to the accountant, against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.harness import Harness
from tests.servers import Inbox, free_port, start_smtp
from tests.support import S3Bucket
from webhook.errors import ConfigError
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.environment import load_settings
from webhook.state.model import FollowUp


def mail_harness(raynet: RaynetStandIn, tmp_path: Path, port: int, **extra: str) -> Harness:
    """E-mail of each order; the daily report is ``test_report``'s."""
    return Harness(
        raynet,
        tmp_path,
        SMTP_URL=f"smtp://127.0.0.1:{port}",
        NOTIFY_EMAIL="ucetni@firma.cz, sef@firma.cz",
        NOTIFY_FROM="raynet@firma.cz",
        **{"REPORT_HOUR": "off", **extra},
    )


def exported_and_followed(harness: Harness) -> Harness:
    """Case 1234 exported, and what follows its file (the e-mail) done."""
    harness.webhook()
    harness.drain()
    harness.follow_ups.run_due()
    return harness


def test_each_new_order_is_mailed_with_the_xml_attached(
    raynet: RaynetStandIn, tmp_path: Path, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    harness = exported_and_followed(mail_harness(raynet, tmp_path, port))
    (message,) = inbox.messages
    assert message["Subject"] == "Objednávka z RAYNET CRM: OP-24-057"
    assert message["To"] == "ucetni@firma.cz, sef@firma.cz"
    assert message["From"] == "raynet@firma.cz"
    body = message.get_body(("plain",))
    assert body is not None
    assert "Import z XML" in body.get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "OP-24-057.xml"
    assert attachment.get_content() == (harness.exports / "OP-24-057.xml").read_bytes()
    harness.follow_ups.run_due()
    assert len(inbox.messages) == 1  # sent once


def test_a_reexport_is_mailed_as_another_file_of_the_same_order_and_says_why(
    raynet: RaynetStandIn, tmp_path: Path, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    harness = exported_and_followed(mail_harness(raynet, tmp_path, port))
    raynet.cases[1234]["items"][0]["count"] = 3  # the salesperson corrects the quantity
    raynet.cases[1234]["totalAmount"] = 14700
    raynet.cases[1234]["totalAmountWithTax"] = 17787
    harness.webhook()
    harness.follow_ups.run_due()  # the change check finds it
    harness.queue.request_reexport(1234)
    harness.drain()
    harness.follow_ups.run_due()
    again = inbox.messages[-1]
    assert again["Subject"] == "Objednávka z RAYNET CRM znovu: OP-24-057 (soubor č. 2)"
    body = again.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "toto je soubor č. 2 k objednávce odeslané dříve" in text
    assert "Proč: obchodní případ se v RAYNETu od souboru č. 1 změnil (" in text
    assert "množství 2 → 3" in text
    harness.queue.request_reexport(1234)  # no change since file no. 2 is known
    harness.drain()
    harness.follow_ups.run_due()
    third = inbox.messages[-1].get_body(("plain",))
    assert third is not None
    assert "Proč: byl vyžádán znovu" in third.get_content()


def test_from_s3_the_mail_carries_a_link_that_works(
    raynet: RaynetStandIn, tmp_path: Path, smtp: tuple[int, Inbox], bucket: S3Bucket
) -> None:
    port, inbox = smtp
    harness = mail_harness(raynet, tmp_path, port, EXPORT_TARGET=f"s3://{bucket.name}/orders")
    harness.webhook()
    harness.drain()
    harness.follow_ups.run_due()
    (message,) = inbox.messages
    assert list(message.iter_attachments()) == []
    body = message.get_body(("plain",))
    assert body is not None
    link = next(line for line in body.get_content().splitlines() if line.startswith("http"))
    downloaded = requests.get(link, timeout=10)
    assert downloaded.status_code == 200
    stored = bucket.client.get_object(Bucket=bucket.name, Key="orders/OP-24-057.xml")
    assert downloaded.content == stored["Body"].read()


def test_mail_server_down_never_holds_the_file_and_is_retried(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    port = free_port()
    harness = mail_harness(raynet, tmp_path, port)
    harness.webhook()
    assert harness.drain() == "exported"  # the file does not wait for the e-mail
    assert harness.files() == ["OP-24-057.xml"]
    harness.follow_ups.run_due()
    assert email_states(harness) == [("pending", 1)]
    controller, inbox = start_smtp(port)
    try:
        harness.clock.advance(3600)  # long after the retry time
        harness.follow_ups.run_due()
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    assert email_states(harness) == [("done", 1)]


def email_states(harness: Harness) -> list[tuple[str, int]]:
    assert harness.state.outbox is not None
    return [
        (item.state, item.attempts)
        for item in harness.state.outbox.of_case(1234)
        if item.kind is FollowUp.EMAIL
    ]


def test_smtp_configuration_is_checked_and_masked() -> None:
    settings = load_settings(
        {
            "SMTP_URL": "smtp://user:p%40ss-word@mail.firma.cz:587?starttls=1",
            "NOTIFY_EMAIL": "ucetni@firma.cz",
        }
    )
    assert settings.smtp is not None
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.starttls) == (
        "mail.firma.cz",
        587,
        True,
    )
    assert settings.smtp.password == "p@ss-word"
    assert "p@ss" not in repr(settings)
    assert "p@ss" not in str(settings.summary())
    with pytest.raises(ConfigError, match="NOTIFY_EMAIL"):
        load_settings({"SMTP_URL": "smtp://mail.firma.cz"})
    with pytest.raises(ConfigError, match="SMTP_URL must look like"):
        load_settings({"SMTP_URL": "http://mail", "NOTIFY_EMAIL": "a@b.cz"})
