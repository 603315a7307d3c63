"""File names for exported orders: one name per case and file, safe on every file system.

``OP-24-057`` gives ``OP-24-057.xml``; its re-exports ``OP-24-057+2.xml``, ``+3``, ...
A name keeps only upper-case letters, digits, ``_`` and ``-``; every other byte of the
case code's UTF-8 is written ``~XX`` (its hex value): ``OP/24/1`` gives ``OP~2F24~2F1.xml``,
``op-1`` gives ``~6F~70-1.xml``. So the encoding can be read back, and no two cases, and
no case and another case's re-export, ever want the same name, even on a share that
ignores case. Names Windows reserves for devices (``NUL``, ``COM1``, ...) get their first
letter escaped too (``~4EUL.xml``).
"""

from __future__ import annotations

import re

EXTENSION = ".xml"
ESCAPE = "~"
GENERATION = "+"
_KEPT = re.compile(r"[A-Z0-9_-]")
_WINDOWS_DEVICES = re.compile(r"^(?:CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])$")


def file_stem(code: str) -> str:
    """The case code as a name: kept characters as they are, any other byte as ``~XX``."""
    stem = "".join(
        char if _KEPT.fullmatch(char) else "".join(f"{ESCAPE}{b:02X}" for b in char.encode())
        for char in code
    )
    if _WINDOWS_DEVICES.match(stem):
        stem = f"{ESCAPE}{ord(stem[0]):02X}{stem[1:]}"
    return stem or ESCAPE  # only the empty code is named "~"


def file_name(code: str, generation: int = 1) -> str:
    """``<code>.xml`` for the first export, ``<code>+2.xml`` for the second, and so on."""
    if generation < 1:
        raise ValueError("generation starts at 1")
    suffix = "" if generation == 1 else f"{GENERATION}{generation}"
    return f"{file_stem(code)}{suffix}{EXTENSION}"


def generation_of(name: str) -> int:
    """Which file of its case ``name`` is: 2 for ``OP-24-057+2.xml``, else 1 (codes never
    put ``+`` in a name, so the suffix is unambiguous)."""
    stem = name.removesuffix(EXTENSION)
    _, mark, number = stem.rpartition(GENERATION)
    return int(number) if mark and number.isdigit() and int(number) >= 2 else 1
