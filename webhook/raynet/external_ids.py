"""The external id the bridge puts on a case in RAYNET for each file it delivered.

``moneys3:OP-24-057.xml``: it names Money S3 and the file. RAYNET sends a record's
external ids in every webhook about it (``data.extIds``), so a case that carries one is
known to be exported even when the bridge's state file is new: it costs no API request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PREFIX = "moneys3:"
_FILE = re.compile(r"^[A-Z0-9_~+-]{1,200}\.xml$")  # what delivery.naming makes


def for_file(file_name: str) -> str:
    return f"{PREFIX}{file_name}"


def files_in(external_ids: Iterable[str]) -> tuple[str, ...]:
    """The file names of the bridge's external ids among a record's."""
    return tuple(
        name
        for value in external_ids
        if value.startswith(PREFIX) and _FILE.match(name := value.removeprefix(PREFIX))
    )


def ours(external_ids: Iterable[str]) -> tuple[str, ...]:
    """The bridge's external ids among a record's (the others are never touched)."""
    return tuple(value for value in external_ids if files_in((value,)))
