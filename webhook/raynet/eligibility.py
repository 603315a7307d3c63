"""Which business cases become orders: won ones with at least one product.

The check uses ``status`` (RAYNET's status group), never the phase name, which every
instance renames.
"""

from __future__ import annotations

from webhook.i18n import N_
from webhook.order import Reason
from webhook.raynet.schemas import WON_STATUS, BusinessCase


def skip_reason(case: BusinessCase) -> Reason | None:
    """None when the case is exportable, else the reason it is not."""
    if case.status != WON_STATUS:
        return Reason(
            "not_won", N_("the deal is not won (status %(status)s)"), {"status": case.status}
        )
    if not case.lines:
        return Reason("no_products", N_("the deal has no products"))
    return None
