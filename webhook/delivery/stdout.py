"""``--output -``: the document goes to standard output instead of a file."""

from __future__ import annotations

import sys
from typing import BinaryIO

from webhook.delivery.target import Publication


class StdoutTarget:
    description = "standard output"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream or sys.stdout.buffer

    def publish(self, name: str, document: bytes, metadata: dict[str, str]) -> Publication:
        self._stream.write(document)
        self._stream.flush()
        return Publication(location="-", created=True)

    def read(self, name: str) -> bytes:
        raise FileNotFoundError(name)

    def link(self, name: str, seconds: int) -> str | None:
        return None

    def check(self) -> None:
        """Standard output is always writable."""
