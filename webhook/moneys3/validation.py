"""Validation against Seyfor's official Money S3 XSDs (``_Document.xsd``).

The XSDs are vendor files and are not part of this repository: they are read from
``MONEY_S3_XSD_DIR`` (or, in tests, from ``../shared/money-s3-xsd``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree

from webhook.errors import ConfigError, PermanentError

ROOT_SCHEMA = "_Document.xsd"


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
            raise InvalidDocument(f"not well-formed XML: {error}") from None
        if not self._schema.validate(tree):
            log: Iterable[Any] = self._schema.error_log  # type: ignore[assignment]
            problems = "; ".join(f"line {e.line}: {e.message}" for e in itertools.islice(log, 3))
            raise InvalidDocument(f"the order does not match the Money S3 schema: {problems}")


@functools.cache
def _load_schema(xsd_dir: Path) -> etree.XMLSchema:
    root = xsd_dir / ROOT_SCHEMA
    if not root.is_file():
        raise ConfigError(f"MONEY_S3_XSD_DIR: {root} does not exist")
    try:
        return etree.XMLSchema(etree.parse(str(root)))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as error:
        raise ConfigError(f"MONEY_S3_XSD_DIR: cannot load {root}: {error}") from None
