"""Where exported orders go: a shared folder or an S3 bucket (``target.py`` says what each
promises), and the files' names (``naming.py``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from webhook.delivery.folder import FolderTarget
from webhook.delivery.target import Target
from webhook.errors import ConfigError

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
        # Only the S3 target needs boto3, which takes a moment to import: not a cycle.
        from webhook.delivery.s3 import S3Target  # noqa: PLC0415

        if not parsed.netloc:
            raise ConfigError(f"EXPORT_TARGET: no bucket in {value!r} (s3://bucket/prefix)")
        return S3Target(
            parsed.netloc, parsed.path.lstrip("/"), sse=s3_sse, kms_key_id=s3_kms_key_id
        )
    if parsed.scheme == "file":
        value = parsed.path
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise ConfigError(f"EXPORT_TARGET: unsupported scheme {parsed.scheme!r} in {value!r}")
    return FolderTarget(Path(value), create=value == DEFAULT_FOLDER if create is None else create)
