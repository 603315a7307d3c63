"""File names for exported orders, safe on every file system and as S3 keys.

A name keeps only ASCII letters, digits, ``.``, ``_`` and ``-``; it never holds ``..``
and never starts with a dot. When the case code had to be changed to get there, a short
hash of the original is appended, so two codes that differ only in unsafe characters
(``OP/1`` and ``OP_1``) never share a file.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")
MAX_STEM = 80
EXTENSION = ".xml"


def file_stem(code: str) -> str:
    """``OP-24-057`` stays as it is; ``../../etc/passwd`` becomes ``etc_passwd-<hash>``."""
    ascii_text = unicodedata.normalize("NFKD", code).encode("ascii", "ignore").decode()
    stem = _DOTS.sub(".", _UNSAFE.sub("_", ascii_text)).strip("._-")[:MAX_STEM]
    if stem != code or not stem:
        digest = hashlib.sha256(code.encode("utf-8")).hexdigest()[:8]
        stem = f"{stem}-{digest}" if stem else f"case-{digest}"
    return stem


def file_name(code: str, generation: int = 1) -> str:
    """``<code>.xml`` for the first export, ``<code>-2.xml`` for the second, and so on."""
    if generation < 1:
        raise ValueError("generation starts at 1")
    suffix = "" if generation == 1 else f"-{generation}"
    return f"{file_stem(code)}{suffix}{EXTENSION}"
