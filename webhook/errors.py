"""Errors the pipeline can end in, split by what a retry would achieve.

The worker needs one question answered about any failure: will trying again help?
``TransientError`` says yes (optionally when), ``PermanentError`` says no: a human has to
change something in RAYNET or in our configuration first.
"""

from __future__ import annotations

import errno
import socket
import ssl

from webhook.i18n import N_
from webhook.order import Reason

# What the operating system says went wrong with a share, a disk or a connection, as
# catalogue terms: a reason's ``%(error)s`` is then shown in the reader's language, not in
# the C library's English (whose wording also differs between glibc and musl).
OS_ERRORS = {
    errno.ENOENT: N_("no such file or folder"),
    errno.EACCES: N_("permission denied"),
    errno.EPERM: N_("operation not permitted"),
    errno.EROFS: N_("the file system is read-only"),
    errno.ENOSPC: N_("no space left on the device"),
    errno.EDQUOT: N_("disk quota exceeded"),
    errno.EIO: N_("input/output error"),
    errno.ENOTDIR: N_("not a folder"),
    errno.EISDIR: N_("is a folder"),
    errno.EEXIST: N_("the file exists already"),
    errno.ENAMETOOLONG: N_("the file name is too long"),
    errno.EMFILE: N_("too many open files"),
    errno.ENFILE: N_("too many open files"),
    errno.EBUSY: N_("the device or resource is busy"),
    errno.ESTALE: N_("stale file handle (the share was mounted again)"),
    errno.EAGAIN: N_("temporarily unavailable"),
    errno.ETIMEDOUT: N_("timed out"),
    errno.ECONNREFUSED: N_("connection refused"),
    errno.ECONNRESET: N_("connection reset by the other side"),
    errno.ECONNABORTED: N_("connection aborted"),
    errno.EHOSTUNREACH: N_("the host is unreachable"),
    errno.ENETUNREACH: N_("the network is unreachable"),
    errno.EHOSTDOWN: N_("the host is down"),
}


def os_error_text(error: OSError) -> str:
    """What went wrong, as a catalogue term where there is one (translated where it is
    shown); else the operating system's own text."""
    if isinstance(error, socket.gaierror):
        return N_("the server's name cannot be resolved")
    if isinstance(error, ssl.SSLError | socket.herror):  # their own codes, no errno values
        return error.strerror or str(error) or type(error).__name__
    if isinstance(error, TimeoutError) and error.errno is None:  # a socket's own timeout
        return OS_ERRORS[errno.ETIMEDOUT]
    known = OS_ERRORS.get(error.errno) if error.errno is not None else None
    return known or error.strerror or str(error) or type(error).__name__


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
