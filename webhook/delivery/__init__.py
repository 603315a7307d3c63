"""Where exported orders go: a shared folder or an S3 bucket.

Every target keeps one promise: ``publish`` either creates the file under the given name,
complete and at once, or reports that the name is already taken. It never replaces an
existing file. That promise, plus deterministic names, is what makes delivery exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from webhook.errors import ConfigError, TransientError


class DeliveryUnavailable(TransientError):
    """The target cannot be written right now (disk, network, permissions)."""


@dataclass(frozen=True)
class Publication:
    """Where the document is; ``created`` is False when the name was already taken."""

    location: str
    created: bool


class Target(Protocol):
    description: str

    def publish(self, name: str, document: bytes, metadata: dict[str, str]) -> Publication:
        """Create ``name`` with ``document`` unless it exists; never overwrite."""

    def read(self, name: str) -> bytes:
        """The content stored under ``name`` (``FileNotFoundError`` if none)."""

    def check(self) -> None:
        """Raise ``DeliveryUnavailable`` unless a publish could succeed now."""

    def link(self, name: str, seconds: int) -> str | None:
        """A URL that lets someone download ``name`` for ``seconds``, if the target has one."""


DEFAULT_FOLDER = "./exports"  # the one folder the bridge creates itself


def target_from_setting(
    value: str,
    *,
    s3_sse: str | None = None,
    s3_kms_key_id: str | None = None,
    create: bool | None = None,
) -> Target:
    """``EXPORT_TARGET``: ``s3://bucket/prefix``, or a folder path (``file://`` allowed).

    A folder is created only if ``create`` says so; by default only ``DEFAULT_FOLDER``.
    """
    parsed = urlparse(value)
    if parsed.scheme == "s3":
        from webhook.delivery.s3 import S3Target  # noqa: PLC0415 - boto3 is slow to import

        if not parsed.netloc:
            raise ConfigError(f"EXPORT_TARGET: no bucket in {value!r} (s3://bucket/prefix)")
        return S3Target(
            parsed.netloc, parsed.path.lstrip("/"), sse=s3_sse, kms_key_id=s3_kms_key_id
        )
    if parsed.scheme == "file":
        value = parsed.path
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise ConfigError(f"EXPORT_TARGET: unsupported scheme {parsed.scheme!r} in {value!r}")
    from webhook.delivery.folder import FolderTarget  # noqa: PLC0415 - it imports this module

    return FolderTarget(Path(value), create=value == DEFAULT_FOLDER if create is None else create)
