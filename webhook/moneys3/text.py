"""Text rules of Money S3: what it can store, and the schema's length limits.

Money S3 keeps text in windows-1250 (field findings, Money S3 import 12). A character
outside it (an emoji, Greek, Cyrillic, typographic signs windows-1250 lacks) would not
survive an import as it is, so ``storable`` replaces it by its closest windows-1250 form
(``ė`` → ``e``, ``Ж`` → ``Zh``, ``−`` → ``-``, ``½`` → ``1/2``), or by ``?`` where none
exists, and says how many characters it changed: the case records that, nothing changes
unseen. Characters XML 1.0 cannot hold and invisible format characters (zero-width
spaces, direction overrides) are left out and counted the same way.

Free texts are then clipped (an ellipsis shows the cut); identifiers are never cut nor
changed, because a shortened or altered IČO or catalogue number would match the wrong
record in Money S3.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from anyascii import anyascii

from webhook.errors import InvalidOrder
from webhook.i18n import N_

CHARSET = "cp1250"
NO_FORM = "?"
ELLIPSIS = "…"  # in windows-1250 (0x85)
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # the controls windows-1250 has
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}  # controls, format, surrogates, unassigned
_TRANSLITERATED = ("L", "N", "P", "Sm", "Sc", "Sk", "Z")  # letters, numbers, punctuation...


def in_charset(text: str) -> bool:
    try:
        text.encode(CHARSET)
    except UnicodeEncodeError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _form(char: str) -> str:
    """The character as Money S3 can store it: itself, its closest windows-1250 form, ``?``
    for a picture, nothing for an invisible or control character (tab and line breaks
    stay)."""
    if char in "\t\n\r" or (in_charset(char) and not _CONTROL.match(char)):
        return char
    category = unicodedata.category(char)
    if category in _INVISIBLE:
        return ""
    for form in (
        unicodedata.normalize("NFKC", char),  # ligatures, full-width and super/subscripts
        "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)),
    ):
        if form and form != char and form.isprintable() and in_charset(form):
            return form
    if category.startswith(_TRANSLITERATED):
        ascii_form = anyascii(char)
        if ascii_form and ascii_form.isprintable():
            return ascii_form
    return NO_FORM  # emoji and other pictures have no written form


def storable(value: str) -> tuple[str, int]:
    """``value`` as Money S3 can store it, and how many of its characters had to change."""
    if value.isprintable() if value.isascii() else in_charset(value):
        if value.isascii() or not _CONTROL.search(value):
            return value, 0
    elif value.isascii() and not _CONTROL.search(value):  # tabs and line breaks only
        return value, 0
    forms = [_form(char) for char in value]
    changed = sum(form != char for form, char in zip(forms, value, strict=True))
    return "".join(forms), changed


def clip(value: str, limit: int) -> str:
    """Free text (already storable) fitted to ``limit`` characters; a cut is marked with an
    ellipsis."""
    return _fit(value.strip(), limit)


def clip_lines(values: Iterable[str | None], limit: int) -> str:
    """Free texts one under another, fitted to ``limit`` characters together."""
    texts = (clip(value, limit) for value in values if value)
    return _fit("\n".join(text for text in texts if text), limit)


def clip_line(value: str, limit: int) -> str:
    """Like ``clip`` for one-line fields: runs of whitespace become one space."""
    if value.isprintable() and "  " not in value:  # the only whitespace is single spaces
        return _fit(value.strip(), limit)
    return _fit(_WHITESPACE.sub(" ", value).strip(), limit)


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def identifier(value: str, limit: int, what: str, *, squeeze: bool = False) -> str:
    """An identifier as it must appear in Money S3, or a clear refusal.

    ``squeeze`` removes inner whitespace (``"271 82 819"`` is the IČO ``27182819``).
    """
    text = _WHITESPACE.sub("", value) if squeeze else value.strip()
    if not text.isprintable():  # control characters, line or paragraph breaks
        raise InvalidOrder(
            N_("%(what)s %(text)s contains control characters or line breaks; fix it in RAYNET"),
            what=what,
            text=repr(text),
        )
    if not in_charset(text):
        raise InvalidOrder(
            N_(
                "%(what)s %(text)s contains characters Money S3 cannot store (it keeps text in "
                "windows-1250); fix it in RAYNET (identifiers are never changed)"
            ),
            what=what,
            text=repr(text),
        )
    if len(text) > limit:
        raise InvalidOrder(
            N_(
                "%(what)s %(text)s has %(length)s characters, Money S3 allows %(limit)s; fix it in "
                "RAYNET (identifiers are never shortened)"
            ),
            what=what,
            text=repr(text),
            length=len(text),
            limit=limit,
        )
    return text


def fits(value: str | None, limit: int) -> str | None:
    """A contact detail (an e-mail address) as it is, else None: one that needs cutting or
    changing, or holds a space, a line break or a control character, would only be wrong."""
    if value is None:
        return None
    text = value.strip()
    usable = (
        text and len(text) <= limit and text.isprintable() and " " not in text and in_charset(text)
    )
    return text if usable else None
