"""Where Money S3's import reports are read from (``MONEY_S3_REPORTS``): a folder the
accountant points Money's report output at, or ``s3://bucket/prefix`` a sync tool copies
them into.

The bridge only reads there: it never deletes, moves or renames a report (Money S3 and the
accountant own them). A share sends no change notification, so the worker lists it now
and then; a report is read again when its version changes (it grew, or was replaced).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from webhook.delivery.target import DeliveryUnavailable
from webhook.errors import os_error_text
from webhook.i18n import N_

MOST_BYTES = 10 * 1024 * 1024  # a report of hundreds of orders is far smaller


@dataclass(frozen=True)
class ReportFile:
    name: str
    version: str  # changes when the file does: size and time, or the S3 ETag
    written_at: float  # when Money wrote it (the file's time): reports are read in this order


class ReportSource(Protocol):
    description: str

    def listing(self) -> list[ReportFile]:
        """The ``.xml`` files there now (not in sub-folders), oldest first."""

    def read(self, name: str) -> bytes:
        """A report's bytes (``DeliveryUnavailable`` when it cannot be read now)."""


class FolderReports:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.description = str(folder)

    def listing(self) -> list[ReportFile]:
        try:
            found = [
                ReportFile(path.name, f"{stat.st_size}:{stat.st_mtime_ns}", stat.st_mtime)
                for path in self.folder.iterdir()
                if path.suffix.lower() == ".xml"
                and path.is_file()
                and (stat := path.stat()).st_size <= MOST_BYTES
            ]
        except OSError as error:
            raise DeliveryUnavailable(
                N_("MONEY_S3_REPORTS %(folder)s cannot be read: %(error)s"),
                folder=str(self.folder),
                error=os_error_text(error),
            ) from None
        return sorted(found, key=lambda report: (report.written_at, report.name))

    def read(self, name: str) -> bytes:
        try:
            return (self.folder / name).read_bytes()
        except OSError as error:
            raise DeliveryUnavailable(
                N_("report %(file)s in %(folder)s cannot be read: %(error)s"),
                file=name,
                folder=str(self.folder),
                error=os_error_text(error),
            ) from None
