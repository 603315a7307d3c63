"""The pages' language: Czech first, English second (Flask-Babel).

The switch in the header (``?lang=en``) is remembered in a cookie for a year
(``remember_switch``, after the dashboard's pages only); without it
the browser's ``Accept-Language`` decides, and without that ``BRIDGE_LANGUAGE``. The
button's answer follows the same rule. Templates format amounts and moments with the
filters ``amount``, ``when`` and ``day`` in the page's language.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import flask_babel
from flask import Flask, Response, request
from flask_babel import Babel, get_locale
from markupsafe import Markup

from webhook.i18n import CATALOGUES, LANGUAGES, Texts, compiled
from webhook.wording import escaped

COOKIE = "bridge_lang"
SWITCH = "lang"
COOKIE_SECONDS = 365 * 24 * 3600


def init_language(app: Flask, default_language: str) -> None:
    if not compiled():
        app.logger.warning(
            "the Czech message catalogue is not compiled (make translations): pages in English"
        )

    def select() -> str:
        chosen = request.args.get(SWITCH) or request.cookies.get(COOKIE)
        if chosen in LANGUAGES:
            return chosen
        return request.accept_languages.best_match(LANGUAGES) or default_language

    Babel(
        app,
        locale_selector=select,
        default_locale=default_language,
        default_translation_directories=str(CATALOGUES),
    )
    app.jinja_env.finalize = _visible
    app.jinja_env.filters["amount"] = _amount
    app.jinja_env.filters["when"] = _when
    app.jinja_env.filters["day"] = _day
    app.jinja_env.filters["number"] = _number
    app.jinja_env.globals["language"] = lambda: str(get_locale() or default_language)
    app.jinja_env.globals["language_url"] = language_url


def gettext(message: str, **values: object) -> str:
    """``message`` in the request's language (Flask-Babel's, typed)."""
    return str(flask_babel.gettext(message, **values))


def ngettext(singular: str, plural: str, count: int, **values: object) -> str:
    return str(flask_babel.ngettext(singular, plural, count, **values))


def language_url(language: str) -> str:
    """This page in another language (the switch in the header)."""
    arguments = request.args.to_dict()
    arguments[SWITCH] = language
    return f"{request.path}?{urlencode(arguments)}"


def texts() -> Texts:
    """Formatting in the current request's language."""
    return Texts(str(get_locale()))


def remember_switch(response: Response) -> Response:
    """The dashboard's language switch, kept in a cookie (an ``after_request`` of its pages)."""
    chosen = request.args.get(SWITCH)
    if chosen in LANGUAGES:
        response.set_cookie(COOKIE, chosen, max_age=COOKIE_SECONDS, httponly=True, samesite="Lax")
    return response


def _amount(value: Decimal | None, currency: str | None = None) -> str:
    return texts().amount(value, currency)


def _number(value: Decimal) -> str:
    return texts().number(value)


def _when(timestamp: float | None) -> str:
    return texts().moment(timestamp)


def _day(iso_date: str) -> str:
    """A ``YYYY-MM-DD`` date as the reader writes dates (``1. 11. 2026`` in Czech)."""
    return texts().day(dt.date.fromisoformat(iso_date))


def _visible(value: Any) -> Any:
    """Every value a page prints: text (from RAYNET, from a file name) shows its invisible
    characters as escapes, so that a U+202E cannot reverse what follows it. Markup is the
    templates' own and stays as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return escaped(value, keep="\n\t")
    return value
