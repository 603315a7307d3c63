"""Which business cases become orders: won ones with at least one product.

The check uses ``status`` (RAYNET's status group), never the phase name, which every
instance renames.
"""

from __future__ import annotations

from dataclasses import dataclass

from webhook.raynet.schemas import WON_STATUS, BusinessCase


@dataclass(frozen=True)
class SkipReason:
    """Why a case is not exported; ``code`` is stable for metrics, ``text`` is for people."""

    code: str
    text: str

    def __str__(self) -> str:
        return self.text


def skip_reason(case: BusinessCase) -> SkipReason | None:
    """None when the case is exportable, else the reason it is not."""
    if case.status != WON_STATUS:
        return SkipReason("not_won", f"not won (status {case.status})")
    if not case.lines:
        return SkipReason("no_products", "no products")
    return None
