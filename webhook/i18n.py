"""Czech first, English second: one message catalogue for the pages, the button, e-mails,
the daily report and the posts in RAYNET.

Messages are written in English in the code (the msgids) and translated in
``webhook/translations/cs/LC_MESSAGES/messages.po``; ``make translations`` compiles the
``.mo`` files (``make run``, ``make test``, CI and the image do it). Pages follow the
browser's language or the switch in their header; what is written without a browser (e-mails,
reports, posts) is in ``BRIDGE_LANGUAGE``. Amounts and dates are formatted by Babel in the
language's customs (``12 886,50 Kč``, ``14. 5. 2024 10:32``), in the host's time zone (``TZ``).
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from pathlib import Path

from babel import Locale, dates, numbers, support

LANGUAGES = ("cs", "en")
DEFAULT_LANGUAGE = "cs"
TRANSLATED = ("cs",)  # English is the msgids themselves
CATALOGUES = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is written; it is translated where it is
    shown, in the reader's language."""
    return message


def compiled() -> bool:
    """Whether every language's catalogue is compiled and not older than its source."""
    for language in TRANSLATED:
        folder = CATALOGUES / language / "LC_MESSAGES"
        source, built = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
        if not built.is_file() or built.stat().st_mtime < source.stat().st_mtime:
            return False
    return True


@functools.cache
def _translations(language: str) -> support.NullTranslations:
    return support.Translations.load(str(CATALOGUES), [language], DOMAIN)


class Texts:
    """Messages, amounts and moments in one language, for text written outside a request."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self.locale = Locale.parse(self.language)
        self._translations = _translations(self.language)

    def gettext(self, message: str, **values: object) -> str:
        """``message`` translated, with ``%(name)s`` placeholders filled in."""
        text = self._translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, count: int, **values: object) -> str:
        text = self._translations.ngettext(singular, plural, count)
        return text % {"num": count, **values}

    def amount(self, value: Decimal | None, currency: str | None) -> str:
        """``12 886,50 Kč`` for an ISO currency; the number and whatever symbol RAYNET had
        otherwise; empty when unknown."""
        if value is None:
            return ""
        if currency and len(currency) == 3 and currency.isalpha() and currency.isupper():
            return numbers.format_currency(value, currency, locale=self.locale)
        number = numbers.format_decimal(value, format="#,##0.00", locale=self.locale)
        return f"{number} {currency}".strip() if currency else number

    def number(self, value: Decimal) -> str:
        """``2``, ``1,5``, ``12 345,25``: as many decimals as the value has."""
        return numbers.format_decimal(value, locale=self.locale, decimal_quantization=False)

    def moment(self, timestamp: float | None) -> str:
        """A timestamp as the host's local date and time: ``29. 11. 2026 14:31``."""
        if not timestamp:
            return ""
        local = dt.datetime.fromtimestamp(timestamp).astimezone()
        day = dates.format_date(local, "medium", locale=self.locale)
        return f"{day} {dates.format_time(local, 'short', locale=self.locale)}"

    def day(self, value: dt.date) -> str:
        return dates.format_date(value, "medium", locale=self.locale)
