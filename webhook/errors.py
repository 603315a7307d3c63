"""Errors the pipeline can end in, split by what a retry would achieve.

The worker needs one question answered about any failure: will trying again help?
``TransientError`` says yes (optionally when), ``PermanentError`` says no: a human has to
change something in RAYNET or in our configuration first.
"""

from __future__ import annotations

from webhook.order import Reason


class BridgeError(Exception):
    """Base of every failure the bridge reports with a message meant for people.

    ``message`` is an English catalogue text, its ``%(name)s`` placeholders filled from
    ``values``: ``str()`` is the English (logs, the JSON API), ``reason`` the same to be
    shown in the reader's language (the dashboard, e-mails, the button)."""

    case_code: str | None = None  # the RAYNET case it happened to, once the pipeline knows

    def __init__(self, message: str = "", **values: str | int) -> None:
        super().__init__(message % values if values else message)
        self.message = message
        self.values = values

    @property
    def reason(self) -> Reason:
        return Reason(type(self).__name__, self.message, self.values)


class PermanentError(BridgeError):
    """Retrying the same input cannot succeed."""


class TransientError(BridgeError):
    """May succeed later; ``retry_after`` is the earliest sensible retry in seconds."""

    def __init__(
        self, message: str = "", retry_after: float | None = None, **values: str | int
    ) -> None:
        super().__init__(message, **values)
        self.retry_after = retry_after


class ConfigError(BridgeError):
    """The configuration is missing or wrong; the message names the variable."""


class InvalidOrder(PermanentError):
    """The deal cannot become a correct Money S3 order as it stands in RAYNET."""


class QueueUnavailable(TransientError):
    """The queue cannot take an event right now; the receiver answers 503 and RAYNET retries."""
