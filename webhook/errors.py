"""Errors the pipeline can end in, split by what a retry would achieve.

The worker needs one question answered about any failure: will trying again help?
``TransientError`` says yes (optionally when), ``PermanentError`` says no: a human has to
change something in RAYNET or in our configuration first.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every failure the bridge reports with a message meant for people."""

    case_code: str | None = None  # the RAYNET case it happened to, once the pipeline knows


class PermanentError(BridgeError):
    """Retrying the same input cannot succeed."""


class TransientError(BridgeError):
    """May succeed later; ``retry_after`` is the earliest sensible retry in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigError(BridgeError):
    """The configuration is missing or wrong; the message names the variable."""


class InvalidOrder(PermanentError):
    """The deal cannot become a correct Money S3 order as it stands in RAYNET."""


class QueueUnavailable(TransientError):
    """The queue cannot take an event right now; the receiver answers 503 and RAYNET retries."""
