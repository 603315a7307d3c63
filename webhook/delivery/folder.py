"""Delivery to a folder the accountant can reach (local disk or a mounted share).

The document is written to a hidden temporary file in the same folder and fsynced, then
hard-linked to its final name. ``link`` fails when the name exists, so an existing file is
never replaced, and the final name appears only once the content is complete. The folder
is fsynced so the new name survives a power cut.

Only the bridge's own default folder is created. A configured folder that is missing is
most likely a share that is not mounted: files written there would pile up on the local
disk where the accountant never looks, so the target reports it instead.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import time
from pathlib import Path

from webhook.delivery.target import DeliveryUnavailable, Publication
from webhook.errors import os_error_text
from webhook.i18n import N_

TEMP_SUFFIX = ".tmp"
STALE_TEMP_AGE = 3600.0
MIN_FREE_BYTES = 16 * 1024 * 1024  # room for the largest orders, many times over


class FolderTarget:
    def __init__(self, directory: Path, *, create: bool = False) -> None:
        self.directory = directory
        self.description = f"folder {directory}"
        self._create = create  # only the bridge's own default folder

    def publish(self, name: str, document: bytes, metadata: dict[str, str]) -> Publication:
        final = self._path(name)
        self._require_folder()
        try:
            temporary = self._write_temporary(name, document)
            try:
                os.link(temporary, final)
            except FileExistsError:
                return Publication(location=str(final), created=False)
            finally:
                temporary.unlink(missing_ok=True)
            _fsync_directory(self.directory)
        except OSError as error:
            raise DeliveryUnavailable(
                N_("cannot write %(file)s: %(error)s"), file=str(final), error=os_error_text(error)
            ) from None
        return Publication(location=str(final), created=True)

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def link(self, name: str, seconds: int) -> str | None:
        """A shared folder has no download links; e-mails attach the file instead."""
        return None

    def check(self) -> None:
        """Prove that the folder takes a file the way ``publish`` writes one, with room."""
        self._require_folder()
        probe = f".probe-{secrets.token_hex(4)}"
        try:
            free = shutil.disk_usage(self.directory).free
            if free < MIN_FREE_BYTES:
                raise DeliveryUnavailable(
                    N_("export folder %(folder)s has only %(free)s KB free"),
                    folder=str(self.directory),
                    free=free // 1024,
                )
            temporary = self._write_temporary(probe, b"")
            linked = self.directory / probe
            try:
                os.link(temporary, linked)
                linked.unlink()
            finally:
                temporary.unlink(missing_ok=True)
        except OSError as error:
            raise DeliveryUnavailable(
                N_("export folder %(folder)s is not usable: %(error)s"),
                folder=str(self.directory),
                error=os_error_text(error),
            ) from None

    def remove_stale_temporaries(self, now: float | None = None) -> int:
        """Delete temporary files a killed writer left behind; returns how many.

        A writer links its temporary file within moments; one older than an hour was
        abandoned. Such files are hidden and never end in ``.xml``, so no reader takes them
        for an order meanwhile.
        """
        cutoff = (now or time.time()) - STALE_TEMP_AGE
        removed = 0
        for path in self.directory.glob(f".*{TEMP_SUFFIX}"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def _require_folder(self) -> None:
        if self._create:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DeliveryUnavailable(
                    N_("cannot create %(folder)s: %(error)s"),
                    folder=str(self.directory),
                    error=os_error_text(error),
                ) from None
        elif not self.directory.is_dir():
            raise DeliveryUnavailable(
                N_(
                    "EXPORT_TARGET %(folder)s does not exist (is the share mounted?); the bridge "
                    "creates only its own default ./exports"
                ),
                folder=str(self.directory),
            )

    def _path(self, name: str) -> Path:
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise ValueError(f"not a plain file name: {name!r}")
        return self.directory / name

    def _write_temporary(self, name: str, document: bytes) -> Path:
        temporary = self.directory / f".{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(document)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            os.fsync(descriptor)
        except BaseException:
            os.close(descriptor)
            temporary.unlink(missing_ok=True)
            raise
        os.close(descriptor)
        return temporary


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.EBADF):  # some shares cannot sync dirs
            raise
    finally:
        os.close(descriptor)
