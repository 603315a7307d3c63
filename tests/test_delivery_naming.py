"""File names that are safe everywhere and never collide by accident."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhook.delivery.naming import file_name, file_stem

SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*\.xml$")


@pytest.mark.parametrize(
    ("code", "expected"),
    [("OP-24-057", "OP-24-057.xml"), ("SP-26-001", "SP-26-001.xml"), ("OP_1", "OP_1.xml")],
)
def test_ordinary_codes_are_kept(code: str, expected: str) -> None:
    assert file_name(code) == expected


def test_reexports_are_numbered() -> None:
    assert [file_name("OP-1", n) for n in (1, 2, 3)] == ["OP-1.xml", "OP-1-2.xml", "OP-1-3.xml"]
    with pytest.raises(ValueError, match="generation"):
        file_name("OP-1", 0)


@pytest.mark.parametrize(
    "code",
    [
        "../../etc/passwd",
        "OP/24/057",
        "..",
        ".hidden",
        "a\\b",
        "OP 24 057",
        "ČR-Ř",
        "",
        "/",
        "a" * 500,
    ],
)
def test_unsafe_codes_become_safe_names(code: str) -> None:
    name = file_name(code)
    assert SAFE.match(name), name
    assert ".." not in name
    assert len(name) <= 100


def test_codes_differing_only_in_unsafe_characters_do_not_collide() -> None:
    assert file_stem("OP/1") != file_stem("OP_1")
    assert file_stem("OP/1") != file_stem("OP\\1")
    assert file_stem("ČR-1") != file_stem("CR-1")


@given(st.text())
def test_any_code_gives_a_safe_name(code: str) -> None:
    name = file_name(code)
    assert SAFE.match(name), name
    assert ".." not in name
