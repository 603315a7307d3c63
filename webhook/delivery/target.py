"""What every export target promises, and the one error they share.

``publish`` either creates the file under the given name, complete and at once, or reports
that the name is already taken. It never replaces an existing file. That promise, plus
deterministic names, is what makes delivery exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from webhook.errors import TransientError


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
