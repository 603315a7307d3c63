"""The Czech catalogue holds every message of the code, translated, with its placeholders."""

from __future__ import annotations

import re
from decimal import Decimal

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.support import ROOT
from webhook.i18n import CATALOGUES, Texts, compiled

PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
METHODS = [("webhook/**.py", "python"), ("webhook/web/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def code_messages() -> set[str | tuple[str, str]]:
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(ROOT, METHODS, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def catalogue() -> dict[str | tuple[str, str], str | tuple[str, ...]]:
    with (CATALOGUES / "cs" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return {
            (m.id if isinstance(m.id, str) else tuple(m.id)): m.string  # type: ignore[misc]
            for m in read_po(source)
            if m.id
        }


def test_every_message_is_in_the_czech_catalogue_and_translated() -> None:
    translated = catalogue()
    missing = code_messages() - set(translated)
    assert not missing, f"run make messages and translate: {sorted(map(str, missing))}"
    untranslated = [key for key, text in translated.items() if not text or not all(text)]
    assert not untranslated
    unused = set(translated) - code_messages()
    assert not unused, f"no longer in the code (make messages): {unused}"


def placeholders(text: str) -> set[str]:
    """``%(name)s`` and ``%%``; ``num`` is the count of a plural, written or not."""
    return set(PLACEHOLDER.findall(text)) - {"num"}


def test_translations_keep_every_placeholder() -> None:
    for key, text in catalogue().items():
        sources = [key] if isinstance(key, str) else list(key)
        wanted = set().union(*(placeholders(source) for source in sources))
        for target in [text] if isinstance(text, str) else list(text):
            assert placeholders(target) == wanted, (key, target)


def test_the_compiled_catalogue_is_current_and_used() -> None:
    assert compiled(), "make translations"
    czech = Texts("cs")
    assert czech.gettext("Order from RAYNET CRM: %(code)s", code="OP-1") == (
        "Objednávka z RAYNET CRM: OP-1"
    )
    assert czech.amount(Decimal("12886.5"), "CZK") == "12\xa0886,50\xa0Kč"
    assert Texts("en").amount(Decimal("12886.5"), "CZK") == "CZK12,886.50"
