"""Validation against Seyfor's official Money S3 XSDs (``_Document.xsd``, ``_Report.xsd``).

The XSDs are vendor files and are not part of this repository: they are read from
``MONEY_S3_XSD_DIR`` (or, in tests, from ``../shared/money-s3-xsd``).
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree

from webhook.errors import ConfigError, PermanentError
from webhook.i18n import N_
from webhook.wording import one_line

ROOT_SCHEMA = "_Document.xsd"
REPORT_SCHEMA = "_Report.xsd"
COMPLAINT_LIMIT = 300  # characters of a schema complaint about a report: it quotes the file


class InvalidDocument(PermanentError):
    """A generated file that Money S3's schema rejects; it is never delivered."""


class DocumentValidator:
    def __init__(self, xsd_dir: Path) -> None:
        self.xsd_dir = xsd_dir
        self._schema = _load_schema(xsd_dir.resolve())

    def validate(self, document: bytes) -> None:
        """Raise ``InvalidDocument`` with the schema's first complaints."""
        try:
            tree = etree.fromstring(document)
        except etree.XMLSyntaxError as error:
            raise InvalidDocument(N_("not well-formed XML: %(error)s"), error=str(error)) from None
        if not self._schema.validate(tree):
            log: Iterable[Any] = self._schema.error_log  # type: ignore[assignment]
            problems = "; ".join(f"line {e.line}: {e.message}" for e in itertools.islice(log, 3))
            raise InvalidDocument(
                N_("the order does not match the Money S3 schema: %(problems)s"), problems=problems
            )


class ReportValidator:
    """Checks an import report Money S3 wrote (``MoneyReport``) against ``_Report.xsd``.

    It takes a tree the caller has already parsed (safely: a report is outside input), so
    that the file is parsed once and never by a parser that expands entities.
    """

    def __init__(self, xsd_dir: Path) -> None:
        self.xsd_dir = xsd_dir
        self._schema = _load_schema(xsd_dir.resolve(), REPORT_SCHEMA)

    def problem(self, report: etree._Element) -> str | None:
        """The schema's first complaint as one line (``line N: ...``); None when it is valid.

        ``_Report.xsd`` makes ``ErrorInfo/ErrorTypeOther`` required (it has no
        ``minOccurs="0"``), yet nothing says Money fills it: Seyfor's own iDoklad template
        writes it empty, and a report that leaves it out would be refused for an element
        that carries no information. So a report whose only complaints are missing
        ``ErrorTypeOther`` elements is accepted: it is checked again with an empty one
        added to each ``ErrorInfo`` lacking it (on a copy; the caller's tree is untouched).
        """
        if self._schema.validate(report):
            return None
        repaired = _with_error_type_other(report)
        if repaired is not None and self._schema.validate(repaired):
            return None
        log: Iterable[Any] = self._schema.error_log  # type: ignore[assignment]
        first = next(iter(log), None)
        if first is None:  # libxml2 always logs why; this only keeps the answer honest
            return "does not match the schema"
        complaint = one_line(f"line {first.line}: {first.message}")
        if len(complaint) > COMPLAINT_LIMIT:
            complaint = complaint[: COMPLAINT_LIMIT - 1] + "…"
        return complaint


def _with_error_type_other(report: etree._Element) -> etree._Element | None:
    """A copy of ``report`` with an empty ``ErrorTypeOther`` in each ``ErrorInfo`` lacking
    one; None when none lacks it (nothing to forgive)."""
    if all(info.find("ErrorTypeOther") is not None for info in report.iter("ErrorInfo")):
        return None
    repaired = copy.deepcopy(report)
    for info in repaired.iter("ErrorInfo"):
        if info.find("ErrorTypeOther") is None:
            etree.SubElement(info, "ErrorTypeOther")  # xs:all: any position will do
    return repaired


@functools.cache
def _load_schema(xsd_dir: Path, name: str = ROOT_SCHEMA) -> etree.XMLSchema:
    root = xsd_dir / name
    if not root.is_file():
        raise ConfigError(f"MONEY_S3_XSD_DIR: {root} does not exist")
    try:
        return etree.XMLSchema(etree.parse(str(root)))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as error:
        raise ConfigError(f"MONEY_S3_XSD_DIR: cannot load {root}: {error}") from None
