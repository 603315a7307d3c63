"""File names: safe on every file system, and never the same for two cases or files."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook.delivery.naming import file_name, file_stem

SAFE = re.compile(r"^[A-Z0-9_~-]+(\+[0-9]+)?\.xml$")
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10))}


def decoded(name: str) -> tuple[str, int]:
    """The inverse of ``file_name``: proves that no two (code, generation) share a name."""
    stem, _, generation = name.removesuffix(".xml").partition("+")
    raw, position = bytearray(), 0
    while stem != "~" and position < len(stem):
        if stem[position] == "~":
            raw.append(int(stem[position + 1 : position + 3], 16))
            position += 3
        else:
            raw.extend(stem[position].encode())
            position += 1
    return raw.decode(), int(generation or 1)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("OP-24-057", "OP-24-057.xml"), ("SP-26-001", "SP-26-001.xml"), ("OP_1", "OP_1.xml")],
)
def test_ordinary_codes_are_kept(code: str, expected: str) -> None:
    assert file_name(code) == expected


def test_reexports_are_numbered() -> None:
    assert [file_name("OP-1", n) for n in (1, 2, 3)] == ["OP-1.xml", "OP-1+2.xml", "OP-1+3.xml"]
    with pytest.raises(ValueError, match="generation"):
        file_name("OP-1", 0)


def test_a_case_never_takes_the_name_of_another_case_s_reexport() -> None:
    """Case OP-24-057-2 and the second file of OP-24-057 used to share a name."""
    assert file_name("OP-24-057-2") != file_name("OP-24-057", 2)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("OP/24/057", "OP~2F24~2F057.xml"),
        ("op-1", "~6F~70-1.xml"),  # lower case is escaped: shares may ignore case
        ("NUL", "~4EUL.xml"),  # a device name on Windows
        ("com1", "~63~6F~6D1.xml"),
        ("ČR", "~C4~8CR.xml"),
    ],
)
def test_other_characters_are_escaped_readably(code: str, expected: str) -> None:
    assert file_name(code) == expected


@pytest.mark.parametrize(
    "code",
    ["../../etc/passwd", "..", ".hidden", "a\\b", "OP 24 057", "", "/", "a" * 500, "x\r\ny"],
)
def test_unsafe_codes_become_safe_names(code: str) -> None:
    name = file_name(code)
    assert SAFE.match(name), name
    assert ".." not in name


@given(st.text(), st.integers(1, 10**6))
def test_any_code_gives_a_safe_name_that_reads_back(code: str, generation: int) -> None:
    name = file_name(code, generation)
    assert SAFE.match(name), name
    assert name.removesuffix(".xml").split("+")[0].upper() not in WINDOWS_DEVICES
    assert decoded(name) == (code, generation)


@given(st.lists(st.tuples(st.text(max_size=12), st.integers(1, 5)), unique=True, max_size=30))
def test_no_two_files_share_a_name_even_ignoring_case(files: list[tuple[str, int]]) -> None:
    names = [file_name(code, generation).casefold() for code, generation in files]
    assert len(set(names)) == len(names)
    assert file_stem("OP/1") != file_stem("OP_1")
