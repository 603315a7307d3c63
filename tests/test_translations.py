"""The Czech catalogue holds every message of the code, translated, with its placeholders."""

from __future__ import annotations

import ast
import errno
import importlib
import re
import socket
import ssl
from collections.abc import Iterator
from decimal import Decimal

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.support import ROOT
from webhook.errors import (
    ConfigError,
    PermanentError,
    QueueUnavailable,
    TransientError,
    os_error_text,
)
from webhook.i18n import CATALOGUES, N_, Texts, compiled
from webhook.order import Reason
from webhook.raynet.client import RaynetNotFound
from webhook.wording import STATUS_NAMES, described, reason_text, status_name

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


def failures_raised() -> Iterator[tuple[str, int, str, ast.expr | None]]:
    """Every failure a case can end in, made anywhere in the code: the module, line, class,
    and the expression of its message (the first argument)."""
    shown_to_people = (PermanentError, TransientError)
    said_elsewhere = (QueueUnavailable, ConfigError)  # a 503's JSON; an operator's CLI
    for path in sorted((ROOT / "webhook").rglob("*.py")):
        if path.stem in ("__main__", "wsgi"):  # these run the bridge when imported
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(name)
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            made = getattr(module, node.func.id, None)
            if (
                isinstance(made, type)
                and issubclass(made, shown_to_people)
                and not issubclass(made, said_elsewhere)
            ):
                yield name, node.lineno, made.__name__, node.args[0] if node.args else None


def test_every_reason_a_case_can_end_in_is_a_translated_catalogue_message() -> None:
    """A reason shown to people (the dashboard, e-mails, the button, the daily report) is
    an N_("...") message with its values, translated (or another failure's message passed
    on); never an f-string of English."""
    translated = catalogue()
    wrong = []
    for module, line, kind, message in failures_raised():
        if isinstance(message, ast.Attribute) and message.attr == "message":
            continue  # passed on from the failure it wraps
        literal = (
            message.args[0].value
            if isinstance(message, ast.Call)
            and isinstance(message.func, ast.Name)
            and message.func.id == "N_"
            and isinstance(message.args[0], ast.Constant)
            else None
        )
        if not isinstance(literal, str) or not translated.get(literal):
            wrong.append(f"{module}:{line} {kind}")
    assert wrong == []
    assert len(list(failures_raised())) > 40  # the walk sees them


def test_raynet_statuses_have_czech_names_and_reasons_read_as_czech() -> None:
    czech = Texts("cs")
    assert {status: status_name(czech.gettext, status) for status in STATUS_NAMES} == {
        "B_ACTIVE": "otevřený",
        "E_WIN": "vyhraný",
        "F_LOST": "prohraný",
        "G_STORNO": "stornovaný",
    }
    assert status_name(czech.gettext, "Z_NEW") == "Z_NEW"  # as RAYNET wrote it
    lost = Reason("not_won", "the deal is not won (status %(status)s)", {"status": "F_LOST"})
    assert reason_text(czech.gettext, "not_won", str(lost), lost) == (
        "obchodní případ není vyhraný (stav prohraný)"
    )
    missing = RaynetNotFound(N_("%(request)s: not found in RAYNET"), request="GET company/9/")
    assert described(czech.gettext, missing.reason) == "GET company/9/: v RAYNETu nenalezeno"


def test_what_the_operating_system_says_is_shown_in_the_readers_language() -> None:
    """A share, a disk or a connection failing: the reason's ``%(error)s`` is a catalogue
    term, so the Czech sentence does not end in the C library's English."""
    czech = Texts("cs")
    cases = [
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory"),
            "soubor ani složka neexistuje",
        ),
        (PermissionError(errno.EACCES, "Permission denied"), "přístup odepřen"),
        (OSError(errno.EROFS, "Read-only file system"), "systém souborů je jen pro čtení"),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "název serveru nelze přeložit (DNS)",
        ),
        (TimeoutError("timed out"), "vypršel časový limit"),
        (OSError(errno.ENOTSUP, "Operation not supported"), "Operation not supported"),  # kept
        (  # an SSL error's code is OpenSSL's, no errno: its own words
            ssl.SSLCertVerificationError(
                1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
            ),
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
        ),
    ]
    for error, said in cases:
        failure = TransientError(
            N_("cannot write %(file)s: %(error)s"), file="a.xml", error=os_error_text(error)
        )
        assert described(czech.gettext, failure.reason) == f"nelze zapsat a.xml: {said}"
