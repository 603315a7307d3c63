"""Text rules of the Money S3 schema: length limits, and characters XML 1.0 cannot hold.

Free texts are clipped (an ellipsis shows the cut); identifiers are never cut, because a
shortened IČO or catalogue number would match the wrong record in Money S3.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from webhook.errors import InvalidOrder

# Everything outside the XML 1.0 ``Char`` production (control characters, surrogates,
# U+FFFE/U+FFFF) would make lxml refuse the text or the file unreadable.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_WHITESPACE = re.compile(r"\s+")
ELLIPSIS = "…"


def xml_safe(value: str) -> str:
    """The text without the characters an XML document cannot contain."""
    # Printable text never holds them (no controls, surrogates or U+FFFE/U+FFFF): skip
    # the regular expression for the usual, clean case.
    return value if value.isprintable() else _NOT_XML_CHAR.sub("", value)


def clip(value: str, limit: int) -> str:
    """Free text fitted to ``limit`` characters; a cut is marked with an ellipsis."""
    return _fit(xml_safe(value).strip(), limit)


def clip_lines(values: Iterable[str | None], limit: int) -> str:
    """Free texts one under another, fitted to ``limit`` characters together."""
    texts = (clip(value, limit) for value in values if value)
    return _fit("\n".join(text for text in texts if text), limit)


def clip_line(value: str, limit: int) -> str:
    """Like ``clip`` for one-line fields: runs of whitespace become one space."""
    if value.isprintable() and "  " not in value:  # the only whitespace is single spaces
        return _fit(value.strip(), limit)
    return _fit(_WHITESPACE.sub(" ", xml_safe(value)).strip(), limit)


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def identifier(value: str, limit: int, what: str, *, squeeze: bool = False) -> str:
    """An identifier as it must appear in Money S3, or a clear refusal.

    ``squeeze`` removes inner whitespace (``"271 82 818"`` is the IČO ``27182818``).
    """
    text = _WHITESPACE.sub("", value) if squeeze else value.strip()
    if not text.isprintable():  # control characters, line or paragraph breaks
        raise InvalidOrder(
            f"{what} {text!r} contains control characters or line breaks; fix it in RAYNET"
        )
    if len(text) > limit:
        raise InvalidOrder(
            f"{what} {text!r} has {len(text)} characters, Money S3 allows {limit}; "
            "fix it in RAYNET (identifiers are never shortened)"
        )
    return text


def fits(value: str | None, limit: int) -> str | None:
    """A contact detail (an e-mail address) as it is, else None: one that needs cutting,
    or holds a space, a line break or a control character, would only be wrong."""
    if value is None:
        return None
    text = value.strip()
    usable = text and len(text) <= limit and text.isprintable() and " " not in text
    return text if usable else None
